//! Unit tests of the RBAC authorizer semantics (rbac.md §3), validation and `check`, named after
//! the corner case they pin down. Also test fixtures shared with `synth::rbac`'s tests.

use super::*;
use crate::model::{Evidence, Inventory, ResourceKind, Subject, Target, TargetScope, Task, Timestamp};
use crate::profile::ApiProfile;
use serde_json::json;

// ---------------------------------------------------------------- fixtures (shared)

pub(crate) fn sa(ns: &str, name: &str) -> Subject {
    Subject::ServiceAccount { namespace: ns.into(), name: name.into() }
}

pub(crate) fn req(verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> ApiRequest {
    ApiRequest::resource(verb, group, resource, sub, ns, name)
}

pub(crate) fn url(verb: &str, path: &str) -> ApiRequest {
    ApiRequest::non_resource(verb, path)
}

pub(crate) fn role(ns: &str, name: &str, rules: Value) -> Value {
    json!({"apiVersion": RBAC_API_VERSION, "kind": "Role", "metadata": {"name": name, "namespace": ns}, "rules": rules})
}

pub(crate) fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
}

pub(crate) fn rb(ns: &str, name: &str, role_kind: &str, role: &str, subjects: Value) -> Value {
    json!({"apiVersion": RBAC_API_VERSION, "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role}, "subjects": subjects})
}

pub(crate) fn crb(name: &str, role: &str, subjects: Value) -> Value {
    json!({"apiVersion": RBAC_API_VERSION, "kind": "ClusterRoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role}, "subjects": subjects})
}

pub(crate) fn sa_subj(ns: &str, name: &str) -> Value {
    json!([{"kind": "ServiceAccount", "name": name, "namespace": ns}])
}

pub(crate) fn policy(values: &[Value]) -> Policy {
    let p = parse_objects(values, false);
    assert!(p.problems.is_empty(), "fixture problems: {:?}", p.problems);
    p.policy()
}

/// A snapshot whose audit profile has `allowed` / `denied` for `subject` and whose inventory
/// holds the given RBAC objects.
pub(crate) fn snapshot(subject: &Subject, allowed: &[ApiRequest], denied: &[ApiRequest], rbac: &[Value]) -> Snapshot {
    let mut profile = ApiProfile::default();
    for (i, r) in allowed.iter().enumerate() {
        profile.allowed.insert(r.clone(), Evidence::one(Timestamp(1_000 + i as i64), Some(&format!("id-{i}"))));
    }
    for r in denied {
        profile.denied.insert(r.clone(), Evidence::one(Timestamp(5), None));
    }
    let mut snap = Snapshot { label: "test".into(), inventory: inventory(rbac), ..Snapshot::default() };
    snap.observed.api.subjects.insert(subject.clone(), profile);
    snap
}

pub(crate) fn inventory(rbac: &[Value]) -> Inventory {
    use crate::model::inventory::Sourced;
    fn src<T: serde::de::DeserializeOwned>(v: &Value) -> Sourced<T> {
        Sourced {
            object: serde_json::from_value(v.clone()).expect("typed"),
            origin: Default::default(),
            raw: v.clone(),
        }
    }
    let mut inv = Inventory::default();
    for v in rbac {
        match v["kind"].as_str() {
            Some("Role") => inv.roles.push(src(v)),
            Some("ClusterRole") => inv.cluster_roles.push(src(v)),
            Some("RoleBinding") => inv.role_bindings.push(src(v)),
            Some("ClusterRoleBinding") => inv.cluster_role_bindings.push(src(v)),
            _ => {}
        }
    }
    inv
}

pub(crate) fn target(subject: &Subject, task: Task) -> Target {
    Target { scope: TargetScope::Subject(subject.clone()), kind: ResourceKind::Role, task }
}

fn user(s: &Subject) -> UserInfo {
    UserInfo::for_subject(s)
}

fn pods_reader() -> Value {
    json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])
}

// ---------------------------------------------------------------- §3.1 which bindings apply

#[test]
fn rolebinding_applies_only_in_its_own_namespace() {
    let p = policy(&[role("a", "r", pods_reader()), rb("a", "b", "Role", "r", sa_subj("a", "app"))]);
    let u = user(&sa("a", "app"));
    assert!(p.allows(&u, &req("get", "", "pods", "", "a", "x")));
    assert!(!p.allows(&u, &req("get", "", "pods", "", "b", "x")));
    assert!(!p.allows(&u, &req("list", "", "pods", "", "", "")), "cross-namespace list needs a ClusterRoleBinding");
}

#[test]
fn rolebinding_to_a_role_in_another_namespace_grants_nothing() {
    let p = policy(&[role("other", "r", pods_reader()), rb("a", "b", "Role", "r", sa_subj("a", "app"))]);
    assert!(!p.allows(&user(&sa("a", "app")), &req("get", "", "pods", "", "a", "x")));
}

#[test]
fn rolebinding_to_clusterrole_is_scoped_to_the_binding_namespace() {
    let p = policy(&[cluster_role("cr", pods_reader()), rb("a", "b", "ClusterRole", "cr", sa_subj("a", "app"))]);
    let u = user(&sa("a", "app"));
    assert!(p.allows(&u, &req("list", "", "pods", "", "a", "")));
    assert!(!p.allows(&u, &req("list", "", "pods", "", "b", "")));
    assert!(!p.allows(&u, &req("list", "", "pods", "", "", "")));
}

#[test]
fn clusterrolebinding_applies_in_every_namespace_and_cluster_wide() {
    let p = policy(&[cluster_role("cr", pods_reader()), crb("b", "cr", sa_subj("a", "app"))]);
    let u = user(&sa("a", "app"));
    for ns in ["a", "b", ""] {
        assert!(p.allows(&u, &req("list", "", "pods", "", ns, "")), "ns {ns:?}");
    }
    let d = p.authorize(&u, &req("get", "", "pods", "", "z", "p")).expect("allowed");
    assert_eq!(d.binding, "ClusterRoleBinding/b");
    assert_eq!(d.role, "ClusterRole/cr");
    assert_eq!(d.rule_index, 0);
}

#[test]
fn rbac_has_no_deny_any_matching_rule_allows() {
    let p = policy(&[
        role("a", "r1", json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])),
        role("a", "r2", pods_reader()),
        rb("a", "b1", "Role", "r1", sa_subj("a", "app")),
        rb("a", "b2", "Role", "r2", sa_subj("a", "app")),
    ]);
    let u = user(&sa("a", "app"));
    assert!(p.allows(&u, &req("get", "", "configmaps", "", "a", "x")));
    assert!(p.allows(&u, &req("get", "", "pods", "", "a", "x")));
}

// ---------------------------------------------------------------- §3.2 subjects

#[test]
fn service_account_subject_matches_only_its_username() {
    let p = policy(&[role("a", "r", pods_reader()), rb("a", "b", "Role", "r", sa_subj("a", "app"))]);
    assert!(!p.allows(&user(&sa("b", "app")), &req("get", "", "pods", "", "a", "x")));
    assert!(!p.allows(&user(&Subject::User { name: "app".into() }), &req("get", "", "pods", "", "a", "x")));
}

#[test]
fn service_account_subject_without_namespace_defaults_to_the_rolebinding_namespace() {
    let b = rb("a", "b", "Role", "r", json!([{"kind": "ServiceAccount", "name": "app"}]));
    let p = policy(&[role("a", "r", pods_reader()), b]);
    assert!(p.allows(&user(&sa("a", "app")), &req("get", "", "pods", "", "a", "x")));
    // ... but a ClusterRoleBinding needs it explicitly
    let parsed = parse_objects(&[crb("c", "r", json!([{"kind": "ServiceAccount", "name": "app"}]))], false);
    assert!(parsed.problems.iter().any(|p| p.message.contains("needs a namespace")));
}

#[test]
fn implicit_service_account_groups_match() {
    for group in ["system:serviceaccounts", "system:serviceaccounts:a", "system:authenticated"] {
        let p = policy(&[
            role("a", "r", pods_reader()),
            rb("a", "b", "Role", "r", json!([{"kind": "Group", "name": group, "apiGroup": RBAC_GROUP}])),
        ]);
        assert!(p.allows(&user(&sa("a", "app")), &req("get", "", "pods", "", "a", "x")), "{group}");
    }
    let p = policy(&[
        role("a", "r", pods_reader()),
        rb("a", "b", "Role", "r", json!([{"kind": "Group", "name": "system:serviceaccounts:other"}])),
    ]);
    assert!(!p.allows(&user(&sa("a", "app")), &req("get", "", "pods", "", "a", "x")));
}

#[test]
fn anonymous_is_unauthenticated_and_not_authenticated() {
    let anon = Subject::User { name: "system:anonymous".into() };
    let to =
        |g: &str| policy(&[cluster_role("cr", pods_reader()), crb("b", "cr", json!([{"kind": "Group", "name": g}]))]);
    assert!(to("system:unauthenticated").allows(&user(&anon), &req("get", "", "pods", "", "a", "x")));
    assert!(!to("system:authenticated").allows(&user(&anon), &req("get", "", "pods", "", "a", "x")));
    let alice = Subject::User { name: "alice".into() };
    assert!(!to("system:unauthenticated").allows(&user(&alice), &req("get", "", "pods", "", "a", "x")));
}

#[test]
fn system_masters_bypasses_rbac() {
    let u = UserInfo { name: "admin".into(), groups: vec!["system:masters".into(), "system:authenticated".into()] };
    let d = Policy::default().authorize(&u, &req("delete", "", "nodes", "", "", "n1")).expect("superuser");
    assert!(d.binding.contains("system:masters"));
}

// ---------------------------------------------------------------- §3.3 rule matching

fn one_rule(rule: Value) -> (Policy, UserInfo) {
    (policy(&[cluster_role("cr", json!([rule])), crb("b", "cr", sa_subj("a", "app"))]), user(&sa("a", "app")))
}

#[test]
fn verb_wildcard_matches_every_verb_including_special_ones() {
    let (p, u) = one_rule(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}));
    for v in ["get", "deletecollection", "escalate", "proxy"] {
        assert!(p.allows(&u, &req(v, "", "pods", "", "a", "")), "{v}");
    }
}

#[test]
fn core_group_is_empty_string_and_same_resource_in_two_groups_is_two_grants() {
    let (p, u) = one_rule(json!({"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}));
    assert!(p.allows(&u, &req("create", "", "events", "", "a", "")));
    assert!(!p.allows(&u, &req("create", "events.k8s.io", "events", "", "a", "")));
    let (p, u) = (
        parse_objects(
            &[
                cluster_role("cr", json!([{"apiGroups": ["core"], "resources": ["events"], "verbs": ["create"]}])),
                crb("b", "cr", sa_subj("a", "app")),
            ],
            false,
        ),
        user(&sa("a", "app")),
    );
    assert!(p.problems.iter().any(|x| x.message.contains("the core group is")), "{:?}", p.problems);
    assert!(!p.policy().allows(&u, &req("create", "", "events", "", "a", "")), "\"core\" is not the core group");
}

#[test]
fn plain_pods_does_not_cover_pods_log() {
    let (p, u) = one_rule(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}));
    assert!(!p.allows(&u, &req("get", "", "pods", "log", "a", "x")));
    let (p, u) = one_rule(json!({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}));
    assert!(p.allows(&u, &req("get", "", "pods", "log", "a", "x")));
    assert!(!p.allows(&u, &req("get", "", "pods", "", "a", "x")));
}

#[test]
fn star_resource_covers_resources_and_subresources() {
    let (p, u) = one_rule(json!({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}));
    assert!(p.allows(&u, &req("get", "", "pods", "log", "a", "x")));
    assert!(p.allows(&u, &req("get", "", "secrets", "", "a", "x")));
}

#[test]
fn star_slash_scale_covers_any_resources_scale_only() {
    let (p, u) = one_rule(json!({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}));
    assert!(p.allows(&u, &req("update", "apps", "deployments", "scale", "a", "d")));
    assert!(p.allows(&u, &req("update", "apps", "statefulsets", "scale", "a", "s")));
    assert!(!p.allows(&u, &req("update", "apps", "deployments", "", "a", "d")));
    assert!(!p.allows(&u, &req("update", "apps", "deployments", "status", "a", "d")));
}

#[test]
fn pods_slash_star_is_not_an_rbac_wildcard() {
    let rule = Rule {
        verbs: vec!["get".into()],
        api_groups: vec!["".into()],
        resources: vec!["pods/*".into()],
        ..Rule::default()
    };
    assert!(!rule_allows(&rule, &req("get", "", "pods", "log", "a", "x")));
    let parsed = parse_objects(
        &[role("a", "r", json!([{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}]))],
        false,
    );
    assert!(parsed.problems.iter().any(|p| p.message.contains("pods/*")), "{:?}", parsed.problems);
    assert!(parsed.roles[0].1.rules.is_empty());
}

#[test]
fn nameless_requests_never_match_name_restricted_rules() {
    let (p, u) = one_rule(
        json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"], "verbs": ["get", "update"]}),
    );
    assert!(p.allows(&u, &req("get", "", "configmaps", "", "a", "cfg")));
    assert!(!p.allows(&u, &req("get", "", "configmaps", "", "a", "other")));
    assert!(!p.allows(&u, &req("get", "", "configmaps", "", "a", "")));
}

#[test]
fn list_with_name_field_selector_matches_name_restricted_rule() {
    let rule = Rule {
        verbs: vec!["list".into()],
        api_groups: vec!["".into()],
        resources: vec!["configmaps".into()],
        resource_names: vec!["cfg".into()],
        ..Rule::default()
    };
    assert!(rule_allows(&rule, &req("list", "", "configmaps", "", "a", "cfg")));
    assert!(!rule_allows(&rule, &req("list", "", "configmaps", "", "a", "")));
}

#[test]
fn name_restriction_on_subresource_create_is_valid() {
    let v = role(
        "a",
        "r",
        json!([{"apiGroups": [""], "resources": ["pods/exec", "serviceaccounts/token"], "resourceNames": ["x"], "verbs": ["create"]}]),
    );
    let parsed = parse_objects(std::slice::from_ref(&v), false);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let rule = &parsed.roles[0].1.rules[0];
    assert!(rule_allows(rule, &req("create", "", "pods", "exec", "a", "x")));
    assert!(!rule_allows(rule, &req("create", "", "pods", "exec", "a", "y")));
}

#[test]
fn names_on_top_level_create_list_watch_deletecollection_are_rejected() {
    let v = role(
        "a",
        "r",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["x"], "verbs": ["create", "get", "list", "watch", "deletecollection"]}]),
    );
    let parsed = parse_objects(&[v], false);
    assert_eq!(parsed.problems.len(), 1, "{:?}", parsed.problems);
    assert_eq!(parsed.roles[0].1.rules[0].verbs, vec!["get".to_string()]);
}

#[test]
fn namespace_objects_have_namespace_equal_to_name() {
    // GET /api/v1/namespaces/foo is namespace foo, name foo: a RoleBinding in foo can allow it.
    let p = policy(&[
        role("foo", "r", json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}])),
        rb("foo", "b", "Role", "r", sa_subj("a", "app")),
    ]);
    assert!(p.allows(&user(&sa("a", "app")), &req("get", "", "namespaces", "", "foo", "foo")));
}

// ---------------------------------------------------------------- §3.4 non-resource URLs

#[test]
fn non_resource_urls_trailing_star_is_a_prefix_match() {
    let (p, u) = one_rule(json!({"nonResourceURLs": ["/api*", "/healthz"], "verbs": ["get"]}));
    for path in ["/api", "/apis", "/api/v1", "/apis/apps/v1", "/healthz"] {
        assert!(p.allows(&u, &url("get", path)), "{path}");
    }
    assert!(!p.allows(&u, &url("get", "/healthz/etcd")));
    assert!(!p.allows(&u, &url("post", "/api")));
    let (p, u) = one_rule(json!({"nonResourceURLs": ["*"], "verbs": ["get"]}));
    assert!(p.allows(&u, &url("get", "/metrics")));
}

#[test]
fn non_resource_urls_only_work_through_a_clusterrolebinding() {
    let cr = cluster_role("cr", json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]));
    let via_rb = policy(&[cr.clone(), rb("a", "b", "ClusterRole", "cr", sa_subj("a", "app"))]);
    assert!(!via_rb.allows(&user(&sa("a", "app")), &url("get", "/metrics")));
    let via_crb = policy(&[cr, crb("b", "cr", sa_subj("a", "app"))]);
    assert!(via_crb.allows(&user(&sa("a", "app")), &url("get", "/metrics")));
}

#[test]
fn non_resource_urls_in_a_role_are_invalid() {
    let parsed = parse_objects(&[role("a", "r", json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]))], false);
    assert!(parsed.problems.iter().any(|p| p.message.contains("not allowed in a Role")));
    assert!(parsed.roles[0].1.rules.is_empty());
}

#[test]
fn non_resource_star_only_as_final_character() {
    let parsed =
        parse_objects(&[cluster_role("c", json!([{"nonResourceURLs": ["/a*/b", "/ok*"], "verbs": ["get"]}]))], false);
    assert_eq!(parsed.roles[0].1.rules[0].non_resource_urls, vec!["/ok*".to_string()]);
}

// ---------------------------------------------------------------- §3.5 aggregation and defaults

#[test]
fn aggregated_clusterrole_with_null_rules_is_resolved_from_labels() {
    let agg = json!({"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole", "metadata": {"name": "monitoring"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate-to-monitoring": "true"}}]},
        "rules": null});
    let part = json!({"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole",
        "metadata": {"name": "part", "labels": {"example.com/aggregate-to-monitoring": "true"}},
        "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}]});
    let other = cluster_role("other", json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]));
    let p = policy(&[agg, part, other, crb("b", "monitoring", sa_subj("a", "app"))]);
    let u = user(&sa("a", "app"));
    assert!(p.allows(&u, &req("list", "", "services", "", "a", "")));
    assert!(!p.allows(&u, &req("get", "", "secrets", "", "a", "s")));
}

#[test]
fn aggregation_selector_expressions() {
    let s = Selector {
        match_labels: BTreeMap::new(),
        match_expressions: vec![
            ("tier".into(), "In".into(), vec!["a".into()]),
            ("x".into(), "DoesNotExist".into(), vec![]),
        ],
    };
    assert!(s.matches(&BTreeMap::from([("tier".into(), "a".into())])));
    assert!(!s.matches(&BTreeMap::from([("tier".into(), "a".into()), ("x".into(), "1".into())])));
}

#[test]
fn default_bootstrap_grants_cover_discovery_and_self_reviews_only() {
    let boot = bootstrap_policy();
    let u = user(&sa("a", "app"));
    for path in ["/api", "/apis/apps/v1", "/version", "/healthz", "/openapi/v2", "/livez", "/readyz"] {
        assert!(boot.allows(&u, &url("get", path)), "{path}");
    }
    assert!(boot.allows(&u, &req("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "")));
    assert!(!boot.allows(&u, &url("get", "/metrics")));
    assert!(!boot.allows(&u, &req("get", "", "pods", "", "a", "x")));
    let anon = user(&Subject::User { name: "system:anonymous".into() });
    assert!(boot.allows(&anon, &url("get", "/version")));
    assert!(!boot.allows(&anon, &url("get", "/api")), "system:discovery is for authenticated users only");
}

// ---------------------------------------------------------------- compaction, perms

#[test]
fn compaction_is_exact_merges_verbs_and_resources_keeps_subresources() {
    let perms: BTreeSet<Perm> = [
        Perm::resource("get", "", "pods", None),
        Perm::resource("list", "", "pods", None),
        Perm::resource("get", "", "services", None),
        Perm::resource("list", "", "services", None),
        Perm::resource("get", "", "pods/log", None),
        Perm::resource("get", "", "configmaps", Some("a")),
        Perm::resource("update", "", "configmaps", Some("a")),
        Perm::resource("get", "", "secrets", Some("a")),
        Perm::resource("update", "", "secrets", Some("a")),
        Perm::url("get", "/metrics"),
    ]
    .into_iter()
    .collect();
    let rules = compact(&perms);
    let back: BTreeSet<Perm> = rules.iter().flat_map(|r| rule_perms(r).0).collect();
    assert_eq!(back, perms);
    assert_eq!(rules.len(), 4, "{rules:?}");
    assert!(rules.iter().any(|r| r.resources == vec!["pods".to_string(), "services".to_string()]));
    assert!(rules.iter().any(|r| r.resources == vec!["pods/log".to_string()]));
}

#[test]
fn wildcard_perm_covers_concrete_perms() {
    assert!(perm_covers(&Perm::resource("*", "*", "*", None), &Perm::resource("get", "", "pods/log", Some("x"))));
    assert!(perm_covers(
        &Perm::resource("get", "apps", "*/scale", None),
        &Perm::resource("get", "apps", "deployments/scale", None)
    ));
    assert!(!perm_covers(&Perm::resource("get", "", "pods", Some("x")), &Perm::resource("get", "", "pods", None)));
    assert!(perm_covers(&Perm::url("get", "/api*"), &Perm::url("get", "/apis/x")));
}

#[test]
fn evidence_perms_widen_names_at_threshold_and_drop_names_for_nameless_verbs() {
    let reqs = [
        req("get", "", "configmaps", "", "a", "one"),
        req("get", "", "configmaps", "", "a", "two"),
        req("list", "", "configmaps", "", "a", "one"),
        req("create", "", "configmaps", "", "a", ""),
    ];
    let exact = evidence_perms(reqs.iter(), &RbacOptions::exact());
    assert!(
        exact.contains(&ScopedPerm { scope: "a".into(), perm: Perm::resource("get", "", "configmaps", Some("two")) })
    );
    assert!(exact.contains(&ScopedPerm { scope: "a".into(), perm: Perm::resource("list", "", "configmaps", None) }));
    let widened =
        evidence_perms(reqs.iter(), &RbacOptions { name_widen_threshold: 2, verb_expansion: BTreeMap::new() });
    assert!(widened.contains(&ScopedPerm { scope: "a".into(), perm: Perm::resource("get", "", "configmaps", None) }));
    assert!(!widened.iter().any(|p| p.perm.name.is_some()));
}

// ---------------------------------------------------------------- check

fn observed_app() -> (Subject, Vec<ApiRequest>) {
    let s = sa("shop", "app");
    let r = vec![
        req("get", "", "configmaps", "", "shop", "settings"),
        req("list", "", "pods", "", "shop", ""),
        req("watch", "", "pods", "", "shop", ""),
    ];
    (s, r)
}

#[test]
fn check_repairs_an_over_broad_proposal_down_to_the_evidence() {
    let (s, reqs) = observed_app();
    let snap = snapshot(&s, &reqs, &[], &[]);
    let proposal = vec![
        role("shop", "llm", json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
        rb(
            "shop",
            "llm",
            "Role",
            "llm",
            json!([{"kind": "ServiceAccount", "name": "app", "namespace": "shop"},
                                                {"kind": "Group", "name": "system:authenticated"}]),
        ),
    ];
    let unrepaired = check(&snap, &target(&s, Task::Create), &proposal, &[], false);
    assert!(unrepaired.verdict.is_complete_coverage());
    assert!(
        unrepaired.verdict.excess.iter().any(|e| e.contains("[wildcard; serves 3 observed")),
        "{:?}",
        unrepaired.verdict.excess
    );
    assert!(unrepaired.verdict.risks.iter().any(|f| f.rule_id == "KG-RBAC-WILDCARD-ALL"));
    let out = check(&snap, &target(&s, Task::Create), &proposal, &[], true);
    assert!(out.verdict.is_complete_coverage(), "{:?}", out.verdict.uncovered);
    assert!(out.verdict.excess.iter().all(|e| !e.contains("[wildcard")), "{:?}", out.verdict.excess);
    assert!(out.verdict.risks.is_empty(), "{:?}", out.verdict.risks);
    assert!(out.verdict.repairs.iter().any(|r| r.contains("system:authenticated")));
    let p = parse_objects(&out.manifests, false).policy();
    let u = user(&s);
    assert!(!p.allows(&u, &req("get", "", "secrets", "", "shop", "x")));
    assert!(!p.allows(&u, &req("get", "", "configmaps", "", "shop", "other")));
    for r in &reqs {
        assert!(p.allows(&u, r), "{r}");
    }
}

#[test]
fn check_reports_invalid_llm_output_without_panicking() {
    let (s, reqs) = observed_app();
    let snap = snapshot(&s, &reqs, &[], &[]);
    let proposal = vec![
        json!("not an object"),
        json!({"kind": "Role", "metadata": {"name": "x"}, "rules": "everything"}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        json!({"apiVersion": RBAC_API_VERSION, "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
               "roleRef": {"kind": "Role", "name": "x"}, "subjects": [{"kind": "ServiceAccount", "name": "app"}]}),
        json!({"apiVersion": RBAC_API_VERSION, "kind": "Role", "metadata": {"name": "r", "namespace": "shop"},
               "rules": [{"apiGroups": "", "resources": ["pods"], "verbs": ["list", "watch"]}, {"verbs": []}, 7]}),
    ];
    let out = check(&snap, &target(&s, Task::Create), &proposal, &[], false);
    assert!(
        out.verdict.risks.iter().filter(|f| f.rule_id == "KG-RBAC-INVALID").count() >= 5,
        "{:?}",
        out.verdict.risks
    );
    let out = check(&snap, &target(&s, Task::Create), &proposal, &[], true);
    assert_eq!(out.manifests.len(), 1, "only the usable Role survives: {:?}", out.manifests);
    assert_eq!(out.verdict.covered, 0, "the Role is not bound");
    assert_eq!(out.verdict.uncovered.len(), 3);
}

#[test]
fn repaired_bindings_drop_unusable_subjects_from_the_written_object() {
    let (s, reqs) = observed_app();
    let snap = snapshot(&s, &reqs, &[], &[]);
    let proposal = vec![
        role("shop", "r", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}])),
        rb(
            "shop",
            "r",
            "Role",
            "r",
            json!([{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}, {"kind": "Robot", "name": "x"}, 5]),
        ),
    ];
    let out = check(&snap, &target(&s, Task::Create), &proposal, &[], true);
    assert_eq!(out.manifests[1]["subjects"], json!([{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}]));
    assert!(parse_objects(&out.manifests, false).problems.is_empty());
}

#[test]
fn check_restores_observed_requests_the_original_allowed() {
    let (s, reqs) = observed_app();
    let original = vec![
        role(
            "shop",
            "app",
            json!([{"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["get", "list", "watch"]}]),
        ),
        rb("shop", "app", "Role", "app", sa_subj("shop", "app")),
    ];
    let snap = snapshot(&s, &reqs, &[], &original);
    let proposal = vec![
        role("shop", "app", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}])),
        rb("shop", "app", "Role", "app", sa_subj("shop", "app")),
    ];
    let out = check(&snap, &target(&s, Task::Refine), &proposal, &original, true);
    assert!(out.verdict.is_complete_coverage(), "{:?}", out.verdict.uncovered);
    assert!(
        out.verdict.repairs.iter().any(|r| r.starts_with("restored get core/configmaps name=settings")),
        "{:?}",
        out.verdict.repairs
    );
}

#[test]
fn check_keeps_what_the_original_granted_but_flags_it_as_excess() {
    let (s, reqs) = observed_app();
    let original = vec![
        role(
            "shop",
            "app",
            json!([{"apiGroups": [""], "resources": ["configmaps", "pods", "services"], "verbs": ["get", "list", "watch"]}]),
        ),
        rb("shop", "app", "Role", "app", sa_subj("shop", "app")),
    ];
    let snap = snapshot(&s, &reqs, &[], &original);
    let out = check(&snap, &target(&s, Task::Refine), &original, &original, true);
    assert!(out.verdict.repairs.is_empty(), "{:?}", out.verdict.repairs);
    assert!(out.verdict.excess.iter().any(|e| e == "get core/services in shop"), "{:?}", out.verdict.excess);
    assert!(!out.verdict.excess.iter().any(|e| e.starts_with("list core/pods")));
}

#[test]
fn check_drops_a_binding_to_an_existing_broad_role_outside_the_proposal() {
    let (s, reqs) = observed_app();
    let inventory_objects =
        vec![cluster_role("edit", json!([{"apiGroups": ["", "apps"], "resources": ["*"], "verbs": ["*"]}]))];
    let snap = snapshot(&s, &reqs, &[], &inventory_objects);
    let proposal = vec![rb("shop", "lazy", "ClusterRole", "edit", sa_subj("shop", "app"))];
    let unrepaired = check(&snap, &target(&s, Task::Create), &proposal, &[], false);
    assert!(
        unrepaired.verdict.risks.iter().any(|f| f.subject.contains("ClusterRole/edit")),
        "{:?}",
        unrepaired.verdict.risks
    );
    assert!(unrepaired.verdict.excess.iter().any(|e| e.contains("[wildcard")));
    let out = check(&snap, &target(&s, Task::Create), &proposal, &[], true);
    assert!(out.manifests.is_empty());
    assert!(out.verdict.repairs.iter().any(|r| r.contains("binding dropped")), "{:?}", out.verdict.repairs);
    let missing = vec![rb("shop", "ghost", "Role", "nope", sa_subj("shop", "app"))];
    let out = check(&snap, &target(&s, Task::Create), &missing, &[], true);
    assert!(out.manifests.is_empty());
}

#[test]
fn proxy_verb_and_proxy_subresources_are_distinct_grants() {
    // Legacy `/api/v1/proxy/...` paths authorize verb `proxy` on the resource; the modern form is
    // the `services/proxy` (`pods/proxy`, `nodes/proxy`) subresource with the HTTP verb.
    let (p, u) = one_rule(json!({"apiGroups": [""], "resources": ["services"], "verbs": ["proxy"]}));
    assert!(p.allows(&u, &req("proxy", "", "services", "", "a", "web")));
    assert!(!p.allows(&u, &req("get", "", "services", "proxy", "a", "web")));
    let (p, u) = one_rule(json!({"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]}));
    assert!(p.allows(&u, &req("get", "", "services", "proxy", "a", "web")));
    assert!(!p.allows(&u, &req("proxy", "", "services", "", "a", "web")));
}

// ---------------------------------------------------------------- robustness

fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let words = prop_oneof![
        Just("*".to_string()),
        Just("".to_string()),
        Just("pods/*".to_string()),
        Just("/api*".to_string()),
        Just("Role".to_string()),
        Just("ClusterRole".to_string()),
        Just("RoleBinding".to_string()),
        Just("ClusterRoleBinding".to_string()),
        Just("ServiceAccount".to_string()),
        Just("get".to_string()),
        Just("a".to_string()),
        "[a-z/*]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        words.prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("kind"),
        Just("apiVersion"),
        Just("metadata"),
        Just("name"),
        Just("namespace"),
        Just("rules"),
        Just("verbs"),
        Just("apiGroups"),
        Just("resources"),
        Just("resourceNames"),
        Just("nonResourceURLs"),
        Just("roleRef"),
        Just("subjects"),
        Just("aggregationRule"),
        Just("clusterRoleSelectors"),
        Just("matchLabels"),
        Just("labels"),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| { Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()) }),
        ]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

    #[test]
    fn check_never_panics_on_arbitrary_json(values in proptest::collection::vec(arb_json(), 0..6)) {
        let (s, reqs) = observed_app();
        let snap = snapshot(&s, &reqs, &[], &[]);
        for task in [Task::Create, Task::Refine] {
            let out = check(&snap, &target(&s, task), &values, &values, true);
            // whatever survives repair parses cleanly
            let again = parse_objects(&out.manifests, false);
            proptest::prop_assert!(again.problems.iter().all(|p| !p.message.contains("dropped")), "{:?}", again.problems);
            let _ = check(&snap, &target(&s, task), &values, &[], false);
        }
    }
}
