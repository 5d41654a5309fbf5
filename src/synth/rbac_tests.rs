//! Tests of the deterministic RBAC engine, named after the rbac.md §5 corner case they cover,
//! plus the property tests (create is exact with expansion off; refine never widens).

use super::*;
use crate::guard::rbac::tests::{cluster_role, crb, rb, req, role, sa, sa_subj, snapshot, target, url};
use crate::guard::rbac::{Policy, parse_objects};
use proptest::prelude::*;
use serde_json::json;

fn create_with(snap: &Snapshot, s: &Subject, opts: &RbacOptions) -> Recommendation {
    recommend_with(snap, &target(s, Task::Create), opts).expect("recommendation")
}

/// *create* with verb expansion and name widening off, from allowed requests only.
fn create_exact(s: &Subject, allowed: &[ApiRequest]) -> Recommendation {
    create_with(&snapshot(s, allowed, &[], &[]), s, &RbacOptions::exact())
}

fn kinds(rec: &Recommendation) -> Vec<(String, String, String)> {
    rec.manifests
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or("").to_string(),
                m["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
                m["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn policy_of(rec: &Recommendation) -> Policy {
    let p = parse_objects(&rec.manifests, false);
    assert!(p.problems.is_empty(), "generated output must validate: {:?}", p.problems);
    p.policy()
}

fn rules_of(rec: &Recommendation, kind: &str, ns: &str) -> Vec<Value> {
    rec.manifests
        .iter()
        .filter(|m| m["kind"] == kind && m["metadata"]["namespace"].as_str().unwrap_or("") == ns)
        .flat_map(|m| m["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn create_namespaced_requests_give_a_role_and_rolebinding_to_the_service_account() {
    let s = sa("shop", "cart");
    let rec = create_exact(
        &s,
        &[req("get", "", "configmaps", "", "shop", "cart-config"), req("list", "", "pods", "", "shop", "")],
    );
    assert_eq!(
        kinds(&rec),
        vec![
            ("Role".into(), "shop".into(), "kubeguard:sa-shop-cart".into()),
            ("RoleBinding".into(), "shop".into(), "kubeguard:sa-shop-cart".into())
        ]
    );
    let b = &rec.manifests[1];
    assert_eq!(b["subjects"], json!([{"kind": "ServiceAccount", "name": "cart", "namespace": "shop"}]));
    assert_eq!(
        b["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeguard:sa-shop-cart"})
    );
    assert_eq!(rec.manifests[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kubeguard");
    assert!(rec.verdict.is_complete_coverage());
    assert!(rec.verdict.excess.is_empty(), "{:?}", rec.verdict.excess);
    assert_eq!(
        rules_of(&rec, "Role", "shop"),
        vec![
            json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cart-config"], "verbs": ["get"]}),
            json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}),
        ]
    );
}

#[test]
fn cluster_scoped_resources_cross_namespace_lists_and_non_resource_urls_go_to_a_clusterrole() {
    let s = sa("mon", "agent");
    let rec = create_exact(
        &s,
        &[req("list", "", "nodes", "", "", ""), req("watch", "", "pods", "", "", ""), url("get", "/metrics")],
    );
    assert_eq!(
        kinds(&rec),
        vec![
            ("ClusterRole".into(), "".into(), "kubeguard:sa-mon-agent".into()),
            ("ClusterRoleBinding".into(), "".into(), "kubeguard:sa-mon-agent".into())
        ]
    );
    let rules = rules_of(&rec, "ClusterRole", "");
    assert!(rules.contains(&json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]})));
    assert!(rec.verdict.is_complete_coverage());
}

#[test]
fn same_operation_in_several_namespaces_is_one_clusterrole_bound_by_rolebindings_in_exactly_those() {
    let s = sa("ops", "bot");
    let rec = create_exact(
        &s,
        &[
            req("list", "", "pods", "", "a", ""),
            req("list", "", "pods", "", "b", ""),
            req("get", "", "secrets", "", "a", "tls"),
        ],
    );
    let k = kinds(&rec);
    assert_eq!(k.iter().filter(|(kind, _, _)| kind == "ClusterRole").count(), 1, "{k:?}");
    assert!(!k.iter().any(|(kind, _, _)| kind == "ClusterRoleBinding"), "{k:?}");
    let rbs: Vec<&str> = k.iter().filter(|(kind, _, _)| kind == "RoleBinding").map(|(_, ns, _)| ns.as_str()).collect();
    assert_eq!(rbs, vec!["a", "a", "b"]);
    let p = policy_of(&rec);
    let u = UserInfo::for_subject(&s);
    assert!(p.allows(&u, &req("list", "", "pods", "", "b", "")));
    assert!(!p.allows(&u, &req("list", "", "pods", "", "c", "")));
    assert!(!p.allows(&u, &req("get", "", "secrets", "", "b", "tls")));
}

#[test]
fn never_resource_names_on_top_level_create_or_deletecollection() {
    let s = sa("a", "w");
    let rec = create_exact(
        &s,
        &[req("create", "", "configmaps", "", "a", "cm1"), req("deletecollection", "", "pods", "", "a", "")],
    );
    for r in rules_of(&rec, "Role", "a") {
        assert!(r.get("resourceNames").is_none(), "{r}");
    }
    assert!(rec.verdict.is_complete_coverage());
}

#[test]
fn resource_names_on_subresource_create_when_one_name_observed() {
    let s = sa("a", "w");
    let snap = snapshot(
        &s,
        &[
            req("create", "", "pods", "exec", "a", "web-0"),
            req("create", "", "serviceaccounts", "token", "a", "builder"),
        ],
        &[],
        &[],
    );
    let rec = create_with(&snap, &s, &RbacOptions::default());
    let rules = rules_of(&rec, "Role", "a");
    assert!(
        rules.contains(
            &json!({"apiGroups": [""], "resources": ["pods/exec"], "resourceNames": ["web-0"], "verbs": ["create"]})
        ),
        "{rules:?}"
    );
    assert!(rules.contains(&json!({"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": ["builder"], "verbs": ["create"]})));
}

#[test]
fn list_watch_with_a_name_field_selector_get_no_resource_names() {
    let s = sa("a", "w");
    let rec = create_exact(
        &s,
        &[req("list", "", "configmaps", "", "a", "one"), req("watch", "", "configmaps", "", "a", "one")],
    );
    assert_eq!(
        rules_of(&rec, "Role", "a"),
        vec![json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]})]
    );
}

#[test]
fn name_widening_is_a_tunable_threshold() {
    let s = sa("a", "w");
    let reqs: Vec<ApiRequest> = ["x", "y", "z"].iter().map(|n| req("get", "", "configmaps", "", "a", n)).collect();
    let snap = snapshot(&s, &reqs, &[], &[]);
    let keep = create_with(&snap, &s, &RbacOptions { name_widen_threshold: 4, verb_expansion: BTreeMap::new() });
    assert_eq!(rules_of(&keep, "Role", "a")[0]["resourceNames"], json!(["x", "y", "z"]));
    let widen = create_with(&snap, &s, &RbacOptions { name_widen_threshold: 3, verb_expansion: BTreeMap::new() });
    assert!(rules_of(&widen, "Role", "a")[0].get("resourceNames").is_none());
}

#[test]
fn verb_expansion_is_configurable_and_defaults_to_audit2rbac() {
    let s = sa("a", "w");
    let snap = snapshot(&s, &[req("list", "", "pods", "", "a", "")], &[], &[]);
    let default = create_with(&snap, &s, &RbacOptions::default());
    assert_eq!(rules_of(&default, "Role", "a")[0]["verbs"], json!(["get", "list", "watch"]));
    let off = create_with(&snap, &s, &RbacOptions::exact());
    assert_eq!(rules_of(&off, "Role", "a")[0]["verbs"], json!(["list"]));
    let custom = RbacOptions {
        verb_expansion: BTreeMap::from([("list".to_string(), vec!["watch".to_string()])]),
        name_widen_threshold: 0,
    };
    assert_eq!(rules_of(&create_with(&snap, &s, &custom), "Role", "a")[0]["verbs"], json!(["list", "watch"]));
}

#[test]
fn core_group_stays_empty_and_crd_groups_pass_through_unchanged() {
    let s = sa("a", "w");
    let rec = create_exact(
        &s,
        &[
            req("get", "", "pods", "", "a", "p"),
            req("list", "extensions", "ingresses", "", "a", ""),
            req("list", "example.com", "widgets", "", "a", ""),
        ],
    );
    let groups: Vec<Value> = rules_of(&rec, "Role", "a").iter().map(|r| r["apiGroups"].clone()).collect();
    assert_eq!(groups, vec![json!([""]), json!(["example.com"]), json!(["extensions"])]);
}

#[test]
fn default_public_endpoints_and_self_subject_reviews_are_not_granted_again() {
    let s = Subject::User { name: "alice".into() };
    let rec = create_exact(
        &s,
        &[
            url("get", "/version"),
            url("get", "/apis/apps/v1"),
            req("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""),
            req("get", "", "pods", "", "a", "p"),
        ],
    );
    assert_eq!(kinds(&rec).iter().filter(|k| k.0 == "ClusterRole").count(), 0, "{:?}", kinds(&rec));
    assert_eq!(rec.verdict.observed, 1);
    assert_eq!(
        rec.manifests[1]["subjects"],
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}])
    );
    assert!(rec.findings.iter().any(|f| f.rule_id == "KG-RBAC-DEFAULT-GRANTS"));
}

#[test]
fn denied_requests_are_not_granted_but_reported() {
    let s = sa("a", "w");
    let snap = snapshot(&s, &[req("get", "", "pods", "", "a", "p")], &[req("list", "", "secrets", "", "a", "")], &[]);
    let rec = create_with(&snap, &s, &RbacOptions::exact());
    assert!(!policy_of(&rec).allows(&UserInfo::for_subject(&s), &req("list", "", "secrets", "", "a", "")));
    assert!(rec.findings.iter().any(|f| f.rule_id == "KG-RBAC-DENIED-REQUEST" && f.message.contains("secrets")));
}

#[test]
fn output_is_deterministic_and_every_rule_has_evidence() {
    let s = sa("a", "w");
    let reqs = [
        req("get", "", "pods", "", "a", "p"),
        req("list", "", "pods", "", "b", ""),
        req("list", "", "pods", "", "a", ""),
        req("list", "", "nodes", "", "", ""),
    ];
    let snap = snapshot(&s, &reqs, &[], &[]);
    let one = create_with(&snap, &s, &RbacOptions::default());
    let two = create_with(&snap, &s, &RbacOptions::default());
    assert_eq!(serde_json::to_string(&one).ok(), serde_json::to_string(&two).ok());
    let mut rule_count = 0;
    for (i, m) in one.manifests.iter().enumerate() {
        for (j, _) in m["rules"].as_array().into_iter().flatten().enumerate() {
            rule_count += 1;
            let ev =
                one.evidence.iter().find(|e| e.manifest == i && e.path == format!("rules[{j}]")).expect("evidence");
            assert!(ev.evidence.count >= 1, "{ev:?}");
        }
    }
    assert_eq!(rule_count, one.evidence.len());
}

#[test]
fn credited_bindings_from_the_reason_annotation_are_reported() {
    let s = sa("a", "w");
    let mut snap = snapshot(&s, &[req("get", "", "pods", "", "a", "p")], &[], &[]);
    if let Some(p) = snap.observed.api.subjects.get_mut(&s) {
        p.credited_bindings.insert("RoleBinding/a/legacy".into(), Evidence::one(crate::model::Timestamp(1), None));
    }
    let rec = create_with(&snap, &s, &RbacOptions::exact());
    let f = rec.findings.iter().find(|f| f.rule_id == "KG-RBAC-CREDITED-BINDINGS").expect("finding");
    assert!(f.message.contains("RoleBinding/a/legacy (1x)"), "{}", f.message);
}

#[test]
fn reserved_identities_are_not_create_targets() {
    let node = Subject::User { name: "system:node:n1".into() };
    let snap = snapshot(&node, &[req("get", "", "pods", "", "a", "p")], &[], &[]);
    assert!(targets(&snap, Task::Create).is_empty());
    let s = sa("a", "w");
    let snap = snapshot(&s, &[req("get", "", "pods", "", "a", "p")], &[], &[]);
    assert_eq!(targets(&snap, Task::Create), vec![target(&s, Task::Create)]);
}

// ---------------------------------------------------------------- refine

fn wide_original() -> Vec<Value> {
    let mut r = role(
        "shop",
        "cart",
        json!([
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg", "other"], "verbs": ["get", "update"]}
        ]),
    );
    r["metadata"]["labels"] = json!({"team": "cart"});
    r["metadata"]["annotations"] = json!({"owner": "cart-team"});
    r["metadata"]["resourceVersion"] = json!("123");
    vec![r, rb("shop", "cart", "Role", "cart", sa_subj("shop", "cart"))]
}

#[test]
fn refine_replaces_wildcards_with_what_was_used_and_keeps_names_labels_annotations() {
    let s = sa("shop", "cart");
    let used = [req("get", "", "configmaps", "", "shop", "cfg"), req("watch", "", "pods", "", "shop", "")];
    let snap = snapshot(&s, &used, &[], &wide_original());
    let rec = recommend_with(&snap, &target(&s, Task::Refine), &RbacOptions::exact()).expect("refine");
    assert_eq!(kinds(&rec)[0], ("Role".into(), "shop".into(), "cart".into()));
    let meta = &rec.manifests[0]["metadata"];
    assert_eq!(meta["labels"], json!({"team": "cart"}));
    assert_eq!(meta["annotations"], json!({"owner": "cart-team"}));
    assert!(meta.get("resourceVersion").is_none());
    assert_eq!(
        rec.manifests[0]["rules"],
        json!([
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]}
        ])
    );
    assert!(rec.removed.iter().any(|(l, sev)| l.contains("* */*") && *sev == Severity::Critical), "{:?}", rec.removed);
    assert!(rec.removed.iter().any(|(l, _)| l.contains("update core/configmaps names=cfg,other")));
    assert!(rec.verdict.is_complete_coverage());
    assert!(rec.verdict.risks_removed.iter().any(|f| f.rule_id == "KG-RBAC-WILDCARD-ALL"));
}

#[test]
fn refine_never_adds_a_permission_even_with_verb_expansion_and_reports_denied() {
    let s = sa("shop", "cart");
    let original = vec![
        role("shop", "cart", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])),
        rb("shop", "cart", "Role", "cart", sa_subj("shop", "cart")),
    ];
    let snap = snapshot(
        &s,
        &[req("list", "", "pods", "", "shop", "")],
        &[req("watch", "", "pods", "", "shop", "")],
        &original,
    );
    let rec = recommend(&snap, &target(&s, Task::Refine)).expect("refine");
    assert_eq!(rec.manifests[0]["rules"], json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]));
    assert!(rec.findings.iter().any(|f| f.rule_id == "KG-RBAC-DENIED-REQUEST"));
    assert!(rec.removed.is_empty(), "{:?}", rec.removed);
}

#[test]
fn refine_splits_a_shared_clusterrole_instead_of_shrinking_it() {
    let s = sa("shop", "cart");
    let original = vec![
        cluster_role(
            "reader",
            json!([{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "list"]}]),
        ),
        crb(
            "reader",
            "reader",
            json!([{"kind": "ServiceAccount", "name": "cart", "namespace": "shop"},
                                       {"kind": "ServiceAccount", "name": "web", "namespace": "shop"}]),
        ),
    ];
    let snap = snapshot(&s, &[req("list", "", "pods", "", "shop", "")], &[], &original);
    let rec = recommend_with(&snap, &target(&s, Task::Refine), &RbacOptions::exact()).expect("refine");
    let k = kinds(&rec);
    assert!(!k.iter().any(|(kind, _, n)| kind == "ClusterRole" && n == "reader"), "shared role untouched: {k:?}");
    let binding = rec.manifests.iter().find(|m| m["metadata"]["name"] == "reader").expect("original binding kept");
    let copy_binding = rec
        .manifests
        .iter()
        .find(|m| m["kind"] == "RoleBinding" && m["metadata"]["name"] == "kubeguard:sa-shop-cart:reader")
        .expect("cluster-wide binding narrowed to the namespace used");
    assert_eq!(copy_binding["metadata"]["namespace"], "shop");
    assert_eq!(binding["subjects"], json!([{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}]));
    let copy = rec.manifests.iter().find(|m| m["metadata"]["name"] == "kubeguard:sa-shop-cart:reader").expect("copy");
    assert_eq!(copy["rules"], json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]));
    assert!(rec.findings.iter().any(|f| f.rule_id == "KG-RBAC-SHARED-ROLE-SPLIT"));
    assert!(rec.verdict.is_complete_coverage(), "{:?}", rec.verdict);
    assert!(
        rec.removed.iter().any(|(l, s)| l.contains("get,list core/secrets") && *s >= Severity::High),
        "{:?}",
        rec.removed
    );
}

#[test]
fn refine_drops_an_unused_role_and_its_binding() {
    let s = sa("shop", "cart");
    let mut original = wide_original();
    original.push(role("shop", "unused", json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])));
    original.push(rb("shop", "unused", "Role", "unused", sa_subj("shop", "cart")));
    let snap = snapshot(&s, &[req("watch", "", "pods", "", "shop", "")], &[], &original);
    let rec = recommend(&snap, &target(&s, Task::Refine)).expect("refine");
    assert!(!kinds(&rec).iter().any(|(_, _, n)| n == "unused"));
    assert!(rec.findings.iter().any(|f| f.rule_id == "KG-RBAC-UNUSED-ROLE" && f.subject == "Role/shop/unused"));
    assert!(rec.original.iter().any(|o| o["metadata"]["name"] == "unused"));
}

#[test]
fn refine_narrows_a_clusterrolebinding_used_only_in_one_namespace() {
    let s = sa("shop", "cart");
    let mut binding = crb("cart-reads", "cart", sa_subj("shop", "cart"));
    binding["metadata"]["labels"] = json!({"team": "cart"});
    let original = vec![
        cluster_role("cart", json!([{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list"]}])),
        binding,
    ];
    let snap = snapshot(&s, &[req("list", "", "pods", "", "shop", "")], &[], &original);
    let rec = recommend_with(&snap, &target(&s, Task::Refine), &RbacOptions::exact()).expect("refine");
    assert_eq!(
        kinds(&rec),
        vec![
            ("ClusterRole".into(), "".into(), "cart".into()),
            ("RoleBinding".into(), "shop".into(), "cart-reads".into())
        ]
    );
    assert_eq!(rec.manifests[1]["metadata"]["labels"], json!({"team": "cart"}));
    assert!(rec.removed.iter().any(|(l, _)| l.contains("cluster-wide scope removed")), "{:?}", rec.removed);
    let p = policy_of(&rec);
    let u = UserInfo::for_subject(&s);
    assert!(p.allows(&u, &req("list", "", "pods", "", "shop", "")));
    assert!(!p.allows(&u, &req("list", "", "pods", "", "other", "")));
    assert!(rec.verdict.is_complete_coverage());
}

// ---------------------------------------------------------------- properties

const VERBS: &[&str] = &["get", "list", "watch", "create", "update", "delete"];
const RESOURCES: &[(&str, &str, &str)] = &[
    ("", "pods", ""),
    ("", "pods", "log"),
    ("", "configmaps", ""),
    ("apps", "deployments", ""),
    ("apps", "deployments", "scale"),
];
const NAMESPACES: &[&str] = &["", "a", "b"];
const NAMES: &[&str] = &["x", "y"];

/// A realistic request: verbs that take names carry one, list/watch/top-level create do not.
fn make_req(v: usize, r: usize, ns: usize, n: usize) -> ApiRequest {
    let verb = VERBS[v % VERBS.len()];
    let (group, res, sub) = RESOURCES[r % RESOURCES.len()];
    let combined = if sub.is_empty() { res.to_string() } else { format!("{res}/{sub}") };
    let name = if crate::guard::rbac::verb_takes_names(verb, &combined) { NAMES[n % NAMES.len()] } else { "" };
    req(verb, group, res, sub, NAMESPACES[ns % NAMESPACES.len()], name)
}

fn universe() -> Vec<ApiRequest> {
    let mut out = Vec::new();
    for v in VERBS {
        for (g, r, s) in RESOURCES {
            for ns in NAMESPACES {
                for n in NAMES.iter().chain([""].iter()) {
                    out.push(req(v, g, r, s, ns, n));
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn create_covers_every_observed_request_and_allows_nothing_else(
        picks in proptest::collection::vec((0usize..6, 0usize..5, 0usize..3, 0usize..2), 1..12)
    ) {
        let s = sa("a", "app");
        let observed: BTreeSet<ApiRequest> = picks.iter().map(|(v, r, ns, n)| make_req(*v, *r, *ns, *n)).collect();
        let list: Vec<ApiRequest> = observed.iter().cloned().collect();
        let snap = snapshot(&s, &list, &[], &[]);
        let rec = create_with(&snap, &s, &RbacOptions::exact());
        let p = policy_of(&rec);
        let u = UserInfo::for_subject(&s);
        for r in &observed {
            prop_assert!(p.allows(&u, r), "observed {} not allowed", r);
        }
        for r in universe() {
            if p.allows(&u, &r) {
                // Implied, not extra: an observed cluster-wide request covers the same request in
                // each namespace, and an observed nameless list/watch covers the same request
                // narrowed by a metadata.name field selector.
                let mut cluster_wide = r.clone();
                cluster_wide.namespace = String::new();
                let mut nameless = r.clone();
                nameless.name = String::new();
                let mut both = nameless.clone();
                both.namespace = String::new();
                prop_assert!(
                    [&r, &cluster_wide, &nameless, &both].iter().any(|x| observed.contains(*x)),
                    "{} allowed but never observed", r
                );
            }
        }
    }

    #[test]
    fn refine_never_widens_and_keeps_every_observed_request(
        rules in proptest::collection::vec(
            (proptest::sample::subsequence(vec!["get", "list", "watch", "update", "*"], 1..3),
             proptest::sample::subsequence(vec!["", "apps", "*"], 1..2),
             proptest::sample::subsequence(vec!["pods", "pods/log", "configmaps", "deployments", "*/scale", "*"], 1..3),
             proptest::sample::subsequence(vec!["x", "y"], 0..2)),
            1..4),
        cluster in any::<bool>(),
        picks in proptest::collection::vec((0usize..6, 0usize..5, 0usize..3, 0usize..2), 0..12)
    ) {
        let s = sa("a", "app");
        let rule_values: Vec<Value> = rules.iter().map(|(v, g, r, n)| {
            let mut o = json!({"apiGroups": g, "resources": r, "verbs": v});
            let names_ok = v.iter().all(|v| !matches!(*v, "list" | "watch" | "*"));
            if !n.is_empty() && names_ok {
                o["resourceNames"] = json!(n);
            }
            o
        }).collect();
        let original = if cluster {
            vec![cluster_role("orig", json!(rule_values)), crb("orig", "orig", sa_subj("a", "app"))]
        } else {
            vec![role("a", "orig", json!(rule_values)), rb("a", "orig", "Role", "orig", sa_subj("a", "app"))]
        };
        let orig_policy = policy_of_values(&original);
        let u = UserInfo::for_subject(&s);
        let reqs: BTreeSet<ApiRequest> = picks.iter().map(|(v, r, ns, n)| make_req(*v, *r, *ns, *n)).collect();
        let (allowed, denied): (Vec<ApiRequest>, Vec<ApiRequest>) = reqs.into_iter().partition(|r| orig_policy.allows(&u, r));
        let snap = snapshot(&s, &allowed, &denied, &original);
        let rec = recommend(&snap, &target(&s, Task::Refine)).expect("refine");
        let p = policy_of(&rec);
        for r in universe() {
            if p.allows(&u, &r) {
                prop_assert!(orig_policy.allows(&u, &r), "refine widened: {}", r);
            }
        }
        for r in &allowed {
            prop_assert!(p.allows(&u, r), "refine lost observed {}", r);
        }
        prop_assert!(rec.verdict.is_complete_coverage());
    }
}

fn policy_of_values(values: &[Value]) -> Policy {
    parse_objects(values, false).policy()
}

#[test]
fn system_masters_members_get_roles_and_a_high_finding_that_rbac_does_not_bind_them() {
    let admin = Subject::User { name: "kubernetes-admin".into() };
    let observed = [req("list", "", "pods", "", "shop", "")];
    let mut snap = snapshot(&admin, &observed, &[], &[]);
    let plain = create_with(&snap, &admin, &RbacOptions::exact());
    assert!(plain.findings.iter().all(|f| f.rule_id != "KG-RBAC-SYSTEM-MASTERS"), "{:?}", plain.findings);
    if let Some(p) = snap.observed.api.subjects.get_mut(&admin) {
        p.groups.insert("system:masters".into());
    }
    let rec = create_with(&snap, &admin, &RbacOptions::exact());
    let f = rec.findings.iter().find(|f| f.rule_id == "KG-RBAC-SYSTEM-MASTERS").expect("masters finding");
    assert_eq!(f.severity, Severity::High);
    // The roles are still proposed: they are what the identity needs once it leaves the group.
    assert_eq!(rec.manifests, plain.manifests);
}
