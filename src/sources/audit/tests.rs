//! Ingestion corner cases of rbac.md §5 (items 1–5, 8, 11, 12, 14, 17, 23, 25, 26).

use std::io::Write;

use serde_json::{Value, json};

use super::*;
use crate::model::{SubjectClass, Timestamp};

/// A complete (ResponseComplete, 200, allow) v1 event; `patch` overrides fields.
fn event(id: &str, user: &str, patch: Value) -> Value {
    let mut e = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": id,
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/shop/pods",
        "verb": "list",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "objectRef": {"resource": "pods", "namespace": "shop", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2024-05-01T10:00:00.000001Z",
        "stageTimestamp": "2024-05-01T10:00:00.000900Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    });
    merge(&mut e, patch);
    e
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(&k);
                } else {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn lines(events: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(e.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

fn run(data: &[u8]) -> (ApiProfileSet, IngestStats) {
    ingest_bytes("test.log", data, false, &IngestOptions::default()).expect("ingest")
}

fn user(name: &str) -> Subject {
    Subject::User { name: name.to_string() }
}

fn sa(ns: &str, name: &str) -> Subject {
    Subject::ServiceAccount { namespace: ns.to_string(), name: name.to_string() }
}

fn res(verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> ApiRequest {
    ApiRequest::resource(verb, group, resource, sub, ns, name)
}

fn allowed(set: &ApiProfileSet, who: &Subject) -> Vec<ApiRequest> {
    set.get(who).map(|p| p.allowed.keys().cloned().collect()).unwrap_or_default()
}

// --- item 1: versions and containers -------------------------------------------------------

#[test]
fn accepts_all_audit_versions() {
    let v1beta1 = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1beta1", "auditID": "b1", "stage": "ResponseComplete",
        "timestamp": "2019-01-01T00:00:01Z", "requestURI": "/apis/apps/v1/namespaces/a/deployments",
        "verb": "list", "user": {"username": "alice"},
        "objectRef": {"resource": "deployments", "namespace": "a", "apiGroup": "apps", "apiVersion": "v1"},
        "responseStatus": {"code": 200}
    });
    // v1alpha1 has no objectRef.apiGroup: the group comes from apiVersion `group/version`.
    let v1alpha1 = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1alpha1", "auditID": "a1",
        "timestamp": "2017-06-01T00:00:01Z", "requestURI": "/apis/batch/v1/namespaces/a/jobs/j",
        "verb": "get", "user": {"username": "alice"},
        "objectRef": {"resource": "jobs", "namespace": "a", "name": "j", "apiVersion": "batch/v1"},
        "responseStatus": {"code": 200}
    });
    let (set, stats) = run(&lines(&[v1beta1, v1alpha1]));
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    assert_eq!(
        allowed(&set, &user("alice")),
        vec![res("get", "batch", "jobs", "", "a", "j"), res("list", "apps", "deployments", "", "a", "")]
    );
    let p = set.get(&user("alice")).expect("alice");
    let e = &p.allowed[&res("get", "batch", "jobs", "", "a", "j")];
    assert_eq!(e.first_seen, Timestamp::parse_rfc3339("2017-06-01T00:00:01Z").expect("ts"));
}

#[test]
fn event_list_pretty_list_and_yaml_give_the_same_profile() {
    let a = event("1", "alice", json!({}));
    let b = event("2", "bob", json!({"verb": "get", "objectRef": {"name": "p1"}}));
    let (expected, _) = run(&lines(&[a.clone(), b.clone()]));

    let one_line = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [a.clone(), b.clone()]});
    let (set, stats) = run(&lines(&[one_line]));
    assert_eq!((stats.records, stats.malformed), (2, 0));
    assert_eq!(set, expected);

    let pretty =
        serde_json::to_vec_pretty(&json!({"kind": "List", "apiVersion": "v1", "items": [a.clone(), b.clone()]}))
            .expect("json");
    let (set, stats) = run(&pretty);
    assert_eq!((stats.records, stats.malformed), (2, 0), "{:?}", stats.errors);
    assert_eq!(set, expected);

    let single = serde_json::to_vec_pretty(&a).expect("json");
    let (set, stats) = run(&single);
    assert_eq!((stats.records, stats.malformed), (1, 0), "{:?}", stats.errors);
    assert!(set.get(&user("alice")).is_some());

    let yaml = format!(
        "---\n{}\n---\n{}\n",
        serde_saphyr::to_string(&a).expect("yaml"),
        serde_saphyr::to_string(&json!({"kind": "EventList", "items": [b]})).expect("yaml")
    );
    let (set, stats) = run(yaml.as_bytes());
    assert_eq!((stats.records, stats.malformed), (2, 0), "{:?}", stats.errors);
    assert_eq!(set, expected);
}

#[test]
fn reads_gzip_files_and_directories() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = lines(&[event("1", "alice", json!({}))]);
    let b = lines(&[event("2", "bob", json!({}))]);
    std::fs::write(dir.path().join("audit-1.log"), &a).expect("write");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("audit-2.log.gz")).expect("create"),
        flate2::Compression::fast(),
    );
    gz.write_all(&b).expect("gz");
    gz.finish().expect("gz");
    let seen = std::sync::atomic::AtomicU64::new(0);
    let progress = |b: u64| {
        seen.fetch_max(b, std::sync::atomic::Ordering::Relaxed);
    };
    let (set, stats) = ingest(&[dir.path().to_path_buf()], &Inventory::default(), false, &progress).expect("ingest");
    assert_eq!((stats.files, stats.records, stats.malformed), (2, 2, 0));
    assert_eq!(seen.into_inner(), stats.bytes, "progress reaches the bytes consumed");
    assert_eq!(set.subjects.keys().cloned().collect::<Vec<_>>(), vec![user("alice"), user("bob")]);
    assert_eq!(stats.bytes, (a.len() + b.len()) as u64);
}

#[test]
fn missing_file_is_a_clear_error() {
    let err =
        ingest(&[PathBuf::from("/nonexistent/audit.log")], &Inventory::default(), false, &|_| {}).expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/audit.log"), "{err}");
}

#[test]
fn over_long_line_is_reported_and_the_next_line_still_read() {
    let mut data = lines(&[event("1", "alice", json!({}))]);
    data.extend(std::iter::repeat_n(b'x', input::MAX_LINE_BYTES + 10));
    data.push(b'\n');
    data.extend(lines(&[event("2", "bob", json!({}))]));
    let (set, stats) = run(&data);
    assert_eq!(stats.malformed, 1);
    assert_eq!(stats.errors[0].line, 2, "{:?}", stats.errors);
    assert!(set.get(&user("bob")).is_some());
    // bob's line number is right: a bad line after it is line 4.
    data.extend_from_slice(b"{oops\n");
    let (_, stats) = run(&data);
    assert_eq!(stats.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 4]);
}

// --- item 2: one decision per auditID ------------------------------------------------------

#[test]
fn stages_of_one_request_fold_into_one_with_the_final_outcome() {
    let received = event(
        "w1",
        "alice",
        json!({"stage": "RequestReceived", "verb": "watch", "responseStatus": null, "annotations": null}),
    );
    let started = event("w1", "alice", json!({"stage": "ResponseStarted", "verb": "watch"}));
    let complete = event("w1", "alice", json!({"verb": "watch"}));
    let (set, stats) = run(&lines(&[received.clone(), started.clone(), complete]));
    assert_eq!((stats.records, stats.duplicates), (3, 2));
    let p = set.get(&user("alice")).expect("alice");
    assert_eq!(p.total_requests(), 1);
    assert_eq!(p.allowed[&res("watch", "", "pods", "", "shop", "")].count, 1);
    assert_eq!(p.allowed[&res("watch", "", "pods", "", "shop", "")].example.as_deref(), Some("w1"));

    // A watch still open at the end of the log counts with what ResponseStarted shows.
    let (set, _) = run(&lines(&[received.clone(), started]));
    assert_eq!(allowed(&set, &user("alice")), vec![res("watch", "", "pods", "", "shop", "")]);
    // RequestReceived alone has no decision: unresolved, never allowed.
    let (set, _) = run(&lines(&[received]));
    let p = set.get(&user("alice")).expect("alice");
    assert!(p.allowed.is_empty());
    assert_eq!(p.unresolved.len(), 1);
}

#[test]
fn dedupe_does_not_depend_on_chunking_or_interleaving() {
    let mut events = Vec::new();
    for i in 0..40 {
        let id = format!("id-{i}");
        events.push(event(
            &id,
            "alice",
            json!({"stage": "RequestReceived", "responseStatus": null, "annotations": null}),
        ));
    }
    for i in 0..40 {
        let code = if i % 3 == 0 { 403 } else { 200 };
        let decision = if code == 403 { "forbid" } else { "allow" };
        events.push(event(
            &format!("id-{i}"),
            "alice",
            json!({"verb": if i % 2 == 0 { "get" } else { "list" }, "objectRef": {"name": if i % 2 == 0 { "p" } else { "" }},
                   "responseStatus": {"code": code}, "annotations": {"authorization.k8s.io/decision": decision}}),
        ));
    }
    let data = lines(&events);
    let (whole, stats) = run(&data);
    assert_eq!((stats.records, stats.duplicates), (80, 40));
    for chunk_bytes in [1, 100, 700, 5000] {
        for window in [1, 3] {
            let opts = IngestOptions { chunk_bytes, window, ..IngestOptions::default() };
            let (set, s) = ingest_bytes("t", &data, false, &opts).expect("ingest");
            assert_eq!(set, whole, "chunk {chunk_bytes} window {window}");
            assert_eq!((s.records, s.duplicates), (80, 40));
        }
    }
    assert_eq!(whole.get(&user("alice")).expect("alice").total_requests(), 40);
}

// --- item 4: identities ----------------------------------------------------------------------

#[test]
fn service_accounts_users_and_system_identities() {
    let events = [
        event("1", "system:serviceaccount:shop:cart", json!({})),
        event("2", "system:serviceaccount:shop:", json!({})),
        event("3", "system:node:worker-1", json!({})),
        event("4", "system:kube-scheduler", json!({})),
        event("5", "system:anonymous", json!({"user": {"groups": ["system:unauthenticated"]}})),
        event("6", "", json!({"responseStatus": {"code": 401}, "annotations": null})),
    ];
    let (set, stats) = run(&lines(&events));
    assert_eq!((stats.records, stats.skipped, stats.malformed), (5, 1, 0));
    let classes: Vec<(Subject, SubjectClass)> = set.subjects.keys().map(|s| (s.clone(), s.class())).collect();
    assert_eq!(
        classes,
        vec![
            (sa("shop", "cart"), SubjectClass::WorkloadServiceAccount),
            (user("system:anonymous"), SubjectClass::Anonymous),
            (user("system:kube-scheduler"), SubjectClass::ControlPlane),
            (user("system:node:worker-1"), SubjectClass::Node),
            (user("system:serviceaccount:shop:"), SubjectClass::ControlPlane),
        ]
    );
    assert!(set.get(&user("system:anonymous")).expect("anon").groups.contains("system:unauthenticated"));
}

// --- item 5: impersonation -------------------------------------------------------------------

#[test]
fn impersonated_requests_belong_to_the_target_and_the_impersonator_needs_impersonate() {
    let to_user = event(
        "1",
        "system:admin",
        json!({"user": {"groups": ["system:masters", "system:authenticated"]},
               "impersonatedUser": {"username": "bob", "uid": "u-7", "groups": ["devs", "system:authenticated"],
                                    "extra": {"scopes.example.com": ["view", "edit"]}}}),
    );
    let to_sa = event(
        "2",
        "system:admin",
        json!({"impersonatedUser": {"username": "system:serviceaccount:ns1:sa1",
               "groups": ["system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"]}}),
    );
    let (set, _) = run(&lines(&[to_user, to_sa]));
    assert_eq!(allowed(&set, &user("bob")), vec![res("list", "", "pods", "", "shop", "")]);
    assert_eq!(allowed(&set, &sa("ns1", "sa1")), vec![res("list", "", "pods", "", "shop", "")]);
    assert!(set.get(&user("bob")).expect("bob").groups.contains("devs"));
    let admin = set.get(&user("system:admin")).expect("impersonator");
    assert_eq!(
        admin.allowed.keys().cloned().collect::<Vec<_>>(),
        vec![
            res("impersonate", "", "groups", "", "", "devs"),
            res("impersonate", "", "serviceaccounts", "", "ns1", "sa1"),
            res("impersonate", "", "users", "", "", "bob"),
            res("impersonate", "authentication.k8s.io", "uids", "", "", "u-7"),
            res("impersonate", "authentication.k8s.io", "userextras", "scopes.example.com", "", "edit"),
            res("impersonate", "authentication.k8s.io", "userextras", "scopes.example.com", "", "view"),
        ]
    );
    // The impersonator's own groups are not the target's.
    assert!(!set.get(&user("bob")).expect("bob").groups.contains("system:masters"));
}

// --- item 8, 23: verbs and non-resource URLs ------------------------------------------------

#[test]
fn non_resource_urls_lose_their_query_string_and_verbs_are_lower_case() {
    let events = [
        event("1", "alice", json!({"requestURI": "/version?timeout=32s", "verb": "get", "objectRef": null})),
        event("2", "alice", json!({"requestURI": "/healthz", "verb": "GET", "objectRef": null})),
        event("3", "alice", json!({"requestURI": "/logs/kube.log#frag", "verb": "post", "objectRef": null})),
    ];
    let (set, _) = run(&lines(&events));
    assert_eq!(
        allowed(&set, &user("alice")),
        vec![
            ApiRequest::non_resource("get", "/healthz"),
            ApiRequest::non_resource("get", "/version"),
            ApiRequest::non_resource("post", "/logs/kube.log"),
        ]
    );
    assert_eq!(strip_query("/apis?x=1?y"), "/apis");
}

// --- core group, subresources, names ---------------------------------------------------------

#[test]
fn core_group_subresources_and_create_names() {
    let events = [
        event("1", "alice", json!({"verb": "get", "objectRef": {"name": "p1", "subresource": "log"}})),
        event(
            "2",
            "alice",
            json!({"verb": "create", "objectRef": {"resource": "deployments", "apiGroup": "apps", "name": "web"}}),
        ),
        event("3", "alice", json!({"verb": "create", "objectRef": {"name": "p1", "subresource": "eviction"}})),
    ];
    let (set, _) = run(&lines(&events));
    assert_eq!(
        allowed(&set, &user("alice")),
        vec![
            res("create", "", "pods", "eviction", "shop", "p1"),
            res("create", "apps", "deployments", "", "shop", ""),
            res("get", "", "pods", "log", "shop", "p1"),
        ]
    );
}

// --- item 11, 12: derived checks ---------------------------------------------------------------

#[test]
fn apply_that_creates_also_needs_create() {
    let created = event(
        "1",
        "alice",
        json!({"verb": "patch", "objectRef": {"resource": "configmaps", "name": "cfg"}, "responseStatus": {"code": 201}}),
    );
    let updated = event("2", "bob", json!({"verb": "update", "objectRef": {"resource": "configmaps", "name": "cfg"}}));
    let (set, _) = run(&lines(&[created, updated]));
    assert_eq!(
        allowed(&set, &user("alice")),
        vec![res("create", "", "configmaps", "", "shop", ""), res("patch", "", "configmaps", "", "shop", "cfg")]
    );
    assert_eq!(allowed(&set, &user("bob")), vec![res("update", "", "configmaps", "", "shop", "cfg")]);
}

#[test]
fn websocket_exec_get_also_needs_create() {
    let events: Vec<Value> = ["exec", "attach", "portforward", "log"]
        .iter()
        .enumerate()
        .map(|(i, sub)| {
            event(&i.to_string(), "alice", json!({"verb": "get", "objectRef": {"name": "p1", "subresource": sub}}))
        })
        .collect();
    let (set, _) = run(&lines(&events));
    let got = allowed(&set, &user("alice"));
    for sub in ["exec", "attach", "portforward"] {
        assert!(got.contains(&res("create", "", "pods", sub, "shop", "p1")), "{sub}");
        assert!(got.contains(&res("get", "", "pods", sub, "shop", "p1")), "{sub}");
    }
    assert!(!got.contains(&res("create", "", "pods", "log", "shop", "p1")));
    assert_eq!(got.len(), 7);
}

// --- item 14, 17: proxy and namespaces --------------------------------------------------------

#[test]
fn proxy_verb_and_proxy_subresource_stay_distinct() {
    let events = [
        event("1", "alice", json!({"verb": "proxy", "objectRef": {"resource": "services", "name": "web"}})),
        event(
            "2",
            "alice",
            json!({"verb": "get", "objectRef": {"resource": "services", "name": "web", "subresource": "proxy"}}),
        ),
    ];
    let (set, _) = run(&lines(&events));
    assert_eq!(
        allowed(&set, &user("alice")),
        vec![res("get", "", "services", "proxy", "shop", "web"), res("proxy", "", "services", "", "shop", "web")]
    );
}

#[test]
fn a_namespace_is_its_own_namespace() {
    let events = [
        event(
            "1",
            "alice",
            json!({"verb": "get", "objectRef": {"resource": "namespaces", "namespace": "dev", "name": "dev"}}),
        ),
        event(
            "2",
            "alice",
            json!({"verb": "delete", "objectRef": {"resource": "namespaces", "namespace": null, "name": "old"}}),
        ),
        event("3", "alice", json!({"verb": "list", "objectRef": {"resource": "namespaces", "namespace": null}})),
    ];
    let (set, _) = run(&lines(&events));
    assert_eq!(
        allowed(&set, &user("alice")),
        vec![
            res("delete", "", "namespaces", "", "old", "old"),
            res("get", "", "namespaces", "", "dev", "dev"),
            res("list", "", "namespaces", "", "", ""),
        ]
    );
}

// --- item 25, 26: outcomes and credited bindings ----------------------------------------------

#[test]
fn outcome_classes() {
    use RequestOutcome::*;
    assert_eq!(outcome(Some(200), Some("allow")), Allowed);
    assert_eq!(outcome(Some(404), Some("allow")), Allowed);
    assert_eq!(outcome(Some(409), None), Allowed);
    assert_eq!(outcome(Some(422), None), Allowed);
    assert_eq!(outcome(Some(403), Some("forbid")), Denied);
    assert_eq!(outcome(Some(403), None), Denied);
    assert_eq!(outcome(None, Some("forbid")), Denied);
    assert_eq!(outcome(Some(403), Some("allow")), AdmissionRejected);
    assert_eq!(outcome(Some(401), None), Unknown);
    assert_eq!(outcome(Some(429), None), Unknown);
    assert_eq!(outcome(None, None), Unknown);
}

#[test]
fn outcomes_land_in_their_own_maps() {
    let forbid = json!({"responseStatus": {"code": 403}, "annotations": {"authorization.k8s.io/decision": "forbid"}});
    let admission = json!({"verb": "create", "objectRef": {"resource": "roles", "apiGroup": "rbac.authorization.k8s.io"},
        "responseStatus": {"code": 403}, "annotations": {"authorization.k8s.io/decision": "allow"}});
    let not_found = json!({"verb": "get", "objectRef": {"name": "gone"}, "responseStatus": {"code": 404}});
    let (set, _) = run(&lines(&[event("1", "a", forbid), event("2", "a", admission), event("3", "a", not_found)]));
    let p = set.get(&user("a")).expect("a");
    assert_eq!(p.denied.keys().cloned().collect::<Vec<_>>(), vec![res("list", "", "pods", "", "shop", "")]);
    assert_eq!(
        p.admission_rejected.keys().cloned().collect::<Vec<_>>(),
        vec![res("create", "rbac.authorization.k8s.io", "roles", "", "shop", "")]
    );
    assert_eq!(p.allowed.keys().cloned().collect::<Vec<_>>(), vec![res("get", "", "pods", "", "shop", "gone")]);
}

#[test]
fn reasons_credit_bindings() {
    assert_eq!(
        credited_binding(
            r#"RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated""#
        )
        .as_deref(),
        Some("ClusterRoleBinding/system:discovery")
    );
    assert_eq!(
        credited_binding(
            r#"RBAC: allowed by RoleBinding "cart-reader/shop" of Role "reader" to ServiceAccount "cart/shop""#
        )
        .as_deref(),
        Some("RoleBinding/shop/cart-reader")
    );
    assert_eq!(credited_binding(""), None);
    assert_eq!(credited_binding("allowed by node authorizer"), None);
    assert_eq!(credited_binding(r#"RBAC: allowed by RoleBinding "noslash" of Role "r" to User "u""#), None);

    let reason = r#"RBAC: allowed by RoleBinding "cart-reader/shop" of Role "reader" to ServiceAccount "cart/shop""#;
    let ok = json!({"annotations": {"authorization.k8s.io/reason": reason}});
    let denied = json!({"responseStatus": {"code": 403},
        "annotations": {"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": reason}});
    let who = "system:serviceaccount:shop:cart";
    let (set, _) = run(&lines(&[event("1", who, ok.clone()), event("2", who, ok), event("3", who, denied)]));
    let p = set.get(&sa("shop", "cart")).expect("cart");
    assert_eq!(p.credited_bindings.keys().cloned().collect::<Vec<_>>(), vec!["RoleBinding/shop/cart-reader"]);
    assert_eq!(p.credited_bindings["RoleBinding/shop/cart-reader"].count, 2);
}

// --- malformed input ----------------------------------------------------------------------------

#[test]
fn malformed_lines_are_counted_with_file_and_line_and_strict_stops() {
    let mut data = lines(&[event("1", "alice", json!({}))]);
    data.extend_from_slice(b"not json\n\n{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}\n");
    data.extend(lines(&[event("2", "bob", json!({"verb": null}))]));
    data.extend(lines(&[event("3", "carol", json!({"stage": "Finished"}))]));
    data.extend(lines(&[event("4", "dave", json!({"verb": 7}))]));
    data.extend(lines(&[event("5", "erin", json!({}))]));
    let (set, stats) = run(&data);
    assert_eq!(stats.records, 2);
    assert_eq!(stats.malformed, 5);
    let at: Vec<String> = stats.errors.iter().map(|e| format!("{}:{}", e.path, e.line)).collect();
    assert_eq!(at, vec!["test.log:2", "test.log:4", "test.log:5", "test.log:6", "test.log:7"]);
    assert!(stats.errors[1].message.contains("Pod"), "{}", stats.errors[1].message);
    assert_eq!(set.subjects.keys().cloned().collect::<Vec<_>>(), vec![user("alice"), user("erin")]);

    match ingest_bytes("test.log", &data, true, &IngestOptions::default()) {
        Err(InputError::Malformed(e)) => assert_eq!((e.path.as_str(), e.line), ("test.log", 2)),
        other => panic!("expected strict failure, got {other:?}"),
    }
}

#[test]
fn layout_is_sniffed_from_the_first_line() {
    assert_eq!(sniff(b"{\"kind\":\"Event\"}\n{}"), Layout::Lines);
    assert_eq!(sniff(b"  {\n  \"kind\": \"List\","), Layout::Json);
    assert_eq!(sniff(b"[{}]"), Layout::Json);
    assert_eq!(sniff(b"apiVersion: audit.k8s.io/v1\nkind: Event"), Layout::Yaml);
    assert_eq!(sniff(b"---\nkind: EventList"), Layout::Yaml);
    assert_eq!(sniff(b"ser\":{\"username\":\"a\"}}\n{\"kind\":\"Event\"}"), Layout::Lines);
    assert_eq!(sniff(b"not json\n"), Layout::Lines);
    // A log whose first line was cut off loses that line only.
    let mut data = b"ame\":\"x\"}}\n".to_vec();
    data.extend(lines(&[event("1", "alice", json!({}))]));
    let (set, stats) = run(&data);
    assert_eq!((stats.records, stats.malformed), (1, 1));
    assert!(set.get(&user("alice")).is_some());
}

#[test]
fn aks_envelope_carries_the_event_as_a_string() {
    let inner = event("1", "system:serviceaccount:shop:cart", json!({}));
    let envelope =
        json!({"category": "kube-audit", "properties": {"log": inner.to_string(), "pod": "kube-apiserver-x"}});
    let (set, stats) = run(&lines(&[envelope]));
    assert_eq!((stats.records, stats.malformed), (1, 0), "{:?}", stats.errors);
    assert_eq!(allowed(&set, &sa("shop", "cart")), vec![res("list", "", "pods", "", "shop", "")]);
}

#[test]
fn escaped_strings_are_decoded() {
    let line = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a\u0031","stage":"ResponseComplete","verb":"get","requestURI":"/x","user":{"username":"al\u0069ce"},"objectRef":{"resource":"pods","namespace":"n","name":"p\"q"},"responseStatus":{"code":200}}"#;
    let (set, stats) = run(line);
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    assert_eq!(allowed(&set, &user("alice")), vec![res("get", "", "pods", "", "n", "p\"q")]);
}

#[test]
fn fast_timestamps_agree_with_the_full_parser() {
    for t in ["2023-03-10T22:38:26.382098Z", "2017-09-11T19:55:05Z", "2000-02-29T23:59:59.5Z", "1970-01-01T00:00:00Z"] {
        assert_eq!(parse_time(t), Timestamp::parse_rfc3339(t), "{t}");
    }
    assert_eq!(parse_time("2023-03-10T22:38:26+02:00"), Timestamp::parse_rfc3339("2023-03-10T22:38:26+02:00"));
    assert_eq!(parse_time("2023-13-10T22:38:26Z"), None);
}

#[test]
fn eks_cloudwatch_records_carry_the_event_as_a_string() {
    let a = event("1", "system:serviceaccount:shop:cart", json!({}));
    let b = event("2", "bob", json!({"verb": "get", "objectRef": {"name": "p1"}}));
    // Subscription-filter record (Firehose / Lambda), `aws logs filter-log-events`, Logs Insights.
    let subscription = json!({"messageType": "DATA_MESSAGE", "logGroup": "/aws/eks/prod/cluster",
        "logEvents": [{"id": "1", "timestamp": 1, "message": a.to_string()}]});
    let filter = json!({"events": [{"logStreamName": "kube-apiserver-audit-1", "message": b.to_string()}]});
    let insights = json!({"@timestamp": "2024-05-01 10:00:00.000", "@message": a.to_string()});
    let (set, stats) = run(&lines(&[subscription, filter, insights]));
    assert_eq!((stats.records, stats.malformed), (3, 0), "{:?}", stats.errors);
    assert_eq!(allowed(&set, &sa("shop", "cart")), vec![res("list", "", "pods", "", "shop", "")]);
    assert_eq!(allowed(&set, &user("bob")), vec![res("get", "", "pods", "", "shop", "p1")]);
    // A message that is not an audit event is reported with its line, the rest goes on.
    let bad = json!({"logEvents": [{"message": "kube-apiserver started"}, {"message": a.to_string()}]});
    let (_, stats) = run(&lines(&[bad]));
    assert_eq!((stats.records, stats.malformed), (1, 1), "{:?}", stats.errors);
    assert!(stats.errors[0].message.contains("message is not audit JSON"), "{:?}", stats.errors);
}

#[test]
fn gke_cloud_audit_entries_map_to_the_authorizer_tuple() {
    let entry = |method: &str, resource: &str, code: Option<i64>, granted: bool| {
        let mut p = json!({
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": "k8s.io",
            "methodName": method,
            "resourceName": resource,
            "authenticationInfo": {"principalEmail": "system:serviceaccount:shop:cart"},
            "authorizationInfo": [{"granted": granted, "permission": method, "resource": resource}],
        });
        if let Some(c) = code {
            p["status"] = json!({"code": c});
        }
        json!({"protoPayload": p, "timestamp": "2024-05-01T10:00:00.5Z", "insertId": "x",
            "resource": {"type": "k8s_cluster"}})
    };
    let entries = vec![
        entry("io.k8s.core.v1.pods.exec.create", "core/v1/namespaces/shop/pods/web-0/exec", None, true),
        entry("io.k8s.apps.v1.deployments.patch", "apps/v1/namespaces/shop/deployments/web", Some(0), true),
        entry("io.k8s.core.v1.namespaces.get", "core/v1/namespaces/shop", None, true),
        entry("io.k8s.core.v1.namespaces.status.update", "core/v1/namespaces/shop/status", None, true),
        entry(
            "io.k8s.rbac.authorization.v1.clusterroles.list",
            "rbac.authorization.k8s.io/v1/clusterroles",
            None,
            true,
        ),
        entry("io.k8s.core.v1.secrets.list", "core/v1/namespaces/shop/secrets", Some(7), false),
        entry("io.k8s.core.v1.configmaps.get", "core/v1/namespaces/shop/configmaps/missing", Some(5), true),
    ];
    // `gcloud logging read --format=json` writes one pretty JSON array.
    let doc = serde_json::to_vec_pretty(&Value::Array(entries)).expect("json");
    let (set, stats) = run(&doc);
    assert_eq!((stats.records, stats.malformed), (7, 0), "{:?}", stats.errors);
    let cart = sa("shop", "cart");
    let mut got = allowed(&set, &cart);
    got.sort();
    let mut want = vec![
        res("create", "", "pods", "exec", "shop", "web-0"),
        res("patch", "apps", "deployments", "", "shop", "web"),
        res("get", "", "namespaces", "", "shop", "shop"),
        res("update", "", "namespaces", "status", "shop", "shop"),
        res("list", "rbac.authorization.k8s.io", "clusterroles", "", "", ""),
        // NOT_FOUND comes from the handler, after authorization: the get was allowed.
        res("get", "", "configmaps", "", "shop", "missing"),
    ];
    want.sort();
    assert_eq!(got, want);
    let profile = set.get(&cart).expect("cart profile");
    assert!(profile.denied.contains_key(&res("list", "", "secrets", "", "shop", "")), "{profile:?}");
    // Entries of other Google services are not Kubernetes requests.
    let other =
        json!({"protoPayload": {"serviceName": "compute.googleapis.com", "methodName": "v1.compute.instances.get"}});
    let (set, stats) = run(&lines(&[other]));
    assert_eq!((stats.skipped, stats.malformed, set.subjects.len()), (1, 0, 0));
}
