//! Audit ingest on the real shared logs (exact counts) and property tests: profiles of two logs
//! processed apart and merged equal the profile of one log; chunking and thread scheduling are
//! invisible; random and mutated input never panics.

use std::path::PathBuf;

use kubeguard::model::{ApiRequest, Inventory, Subject, SubjectClass};
use kubeguard::profile::ApiProfileSet;
use kubeguard::sources::audit::{self, IngestOptions, ingest_bytes};
use kubeguard::sources::{IngestStats, InputError};
use kubeguard::testsupport::shared_data;
use proptest::prelude::*;
use serde_json::{Value, json};

fn ingest_file(rel: &str) -> Option<(ApiProfileSet, IngestStats)> {
    let path = shared_data(rel)?;
    Some(audit::ingest(&[path], &Inventory::default(), true, &|_| {}).expect("real log ingests in strict mode"))
}

fn user(name: &str) -> Subject {
    Subject::User { name: name.to_string() }
}

#[test]
fn microk8s_log_parses_with_zero_errors() {
    let Some((set, stats)) = ingest_file("audit/microk8s-v1.25.log") else { return };
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    // 2,971 events: 1,484 RequestReceived, 111 ResponseStarted, 1,376 ResponseComplete, 1,484 auditIDs.
    assert_eq!((stats.lines, stats.records, stats.skipped), (2971, 2971, 0));
    assert_eq!(stats.records - stats.duplicates, 1484, "one request per auditID");
    assert_eq!(set.subjects.len(), 18);
    let classes = |c| set.of_class(c).count();
    assert_eq!(classes(SubjectClass::ControlPlane), 16, "12 controller SAs + 4 system users");
    assert_eq!(classes(SubjectClass::Node), 1);
    assert_eq!(classes(SubjectClass::Human), 1);
    assert_eq!(classes(SubjectClass::WorkloadServiceAccount), 0);
    // Nothing in this log was denied; 108 watches never completed but had ResponseStarted.
    let s = audit::summary(&set);
    assert_eq!((s.denied_tuples, s.admission_rejected_tuples, s.unresolved_tuples), (0, 0, 0));
    let admin = set.get(&user("admin")).expect("kubectl user");
    assert!(admin.groups.contains("system:masters"));
    assert!(admin.allowed.contains_key(&ApiRequest::non_resource("get", "/api")), "query string stripped");
    let rs = Subject::ServiceAccount { namespace: "kube-system".into(), name: "replicaset-controller".into() };
    let rs = set.get(&rs).expect("replicaset controller");
    assert!(
        rs.allowed
            .keys()
            .any(|r| r.verb == "update" && r.api_group == "apps" && r.combined_resource() == "replicasets/status")
    );
    // A subresource create keeps the object name (the authorizer sees it in the URL).
    let kcm = set.get(&user("system:kube-controller-manager")).expect("controller manager");
    assert!(kcm.allowed.contains_key(&ApiRequest::resource(
        "create",
        "",
        "serviceaccounts",
        "token",
        "kube-system",
        "replicaset-controller"
    )));
}

#[test]
fn audit2rbac_demo_parses_with_zero_errors() {
    let Some((set, stats)) = ingest_file("audit/audit2rbac-demo.log") else { return };
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    assert_eq!((stats.records, stats.duplicates), (37, 0));
    let subjects: Vec<String> = set.subjects.keys().map(|s| s.to_string()).collect();
    assert_eq!(subjects, vec!["ServiceAccount ns1/sa1", "User alice", "User bob", "User system:admin"]);
    let total_denied: u64 = set.subjects.values().flat_map(|p| p.denied.values()).map(|e| e.count).sum();
    assert_eq!(total_denied, 11, "the eleven 403s");
    let bob = set.get(&user("bob")).expect("bob");
    assert!(bob.denied.contains_key(&ApiRequest::resource("list", "", "pods", "", "default", "")));
    assert!(bob.allowed.contains_key(&ApiRequest::resource("list", "", "pods", "", "default", "")));
    // Every request was impersonated by system:admin, which needs impersonate on each target.
    let admin = set.get(&user("system:admin")).expect("impersonator");
    let targets: Vec<String> =
        admin.allowed.keys().map(|r| format!("{}/{}/{}", r.resource, r.namespace, r.name)).collect();
    assert_eq!(targets, vec!["serviceaccounts/ns1/sa1", "users//alice", "users//bob"]);
    assert_eq!(admin.allowed.values().map(|e| e.count).sum::<u64>(), 37);
}

// ---------------------------------------------------------------------------------------------
// Property tests

#[derive(Debug, Clone)]
struct Req {
    user: usize,
    verb: usize,
    resource: usize,
    ns: usize,
    name: usize,
    code: usize,
    stages: usize,
    impersonated: bool,
}

const USERS: &[&str] = &["alice", "system:serviceaccount:shop:cart", "system:node:n1", "system:serviceaccount:ops:bot"];
const VERBS: &[&str] = &["get", "list", "watch", "create", "patch", "update", "delete"];
const RESOURCES: &[(&str, &str, &str)] =
    &[("", "pods", ""), ("apps", "deployments", ""), ("", "pods", "exec"), ("", "", ""), ("", "namespaces", "")];
const CODES: &[(i64, &str)] =
    &[(200, "allow"), (201, "allow"), (403, "forbid"), (403, "allow"), (404, "allow"), (429, "")];

fn req_strategy() -> impl Strategy<Value = Req> {
    (0..USERS.len(), 0..VERBS.len(), 0..RESOURCES.len(), 0..3usize, 0..3usize, 0..CODES.len(), 0..5usize, any::<bool>())
        .prop_map(|(user, verb, resource, ns, name, code, stages, impersonated)| Req {
            user,
            verb,
            resource,
            ns,
            name,
            code,
            stages,
            impersonated,
        })
}

/// The events of one request, in stage order.
fn events(id: usize, r: &Req) -> Vec<Value> {
    let (group, resource, sub) = RESOURCES[r.resource];
    let (code, decision) = CODES[r.code];
    let mut base = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": format!("id-{id}"),
        "verb": VERBS[r.verb], "user": {"username": USERS[r.user], "groups": ["system:authenticated", format!("g{}", r.ns)]},
        "requestReceivedTimestamp": format!("2024-01-01T00:{:02}:{:02}.{:06}Z", id / 60 % 60, id % 60, id),
        "requestURI": format!("/apis/x?watch=1&n={id}"),
    });
    if !resource.is_empty() {
        let name = ["", "a", "b"][r.name];
        base["objectRef"] = json!({"apiGroup": group, "resource": resource, "subresource": sub, "namespace": format!("ns{}", r.ns),
                   "name": name});
    }
    if r.impersonated {
        base["impersonatedUser"] = base["user"].clone();
        base["user"] = json!({"username": "system:admin", "groups": ["system:masters"]});
    }
    let with = |stage: &str, done: bool| {
        let mut e = base.clone();
        e["stage"] = json!(stage);
        if done {
            e["responseStatus"] = json!({"code": code});
            if !decision.is_empty() {
                e["annotations"] = json!({"authorization.k8s.io/decision": decision,
                    "authorization.k8s.io/reason": format!("RBAC: allowed by ClusterRoleBinding \"crb{}\" of ClusterRole \"x\" to User \"u\"", r.name)});
            }
        }
        e
    };
    match r.stages {
        0 => vec![with("ResponseComplete", true)],
        1 => vec![with("RequestReceived", false), with("ResponseComplete", true)],
        2 => vec![with("RequestReceived", false), with("ResponseStarted", true), with("ResponseComplete", true)],
        3 => vec![with("RequestReceived", false)],
        _ => vec![with("RequestReceived", false), with("ResponseStarted", true)],
    }
}

/// Interleave per-request event sequences (order inside each request kept) by `picks`.
fn interleave(mut seqs: Vec<Vec<Value>>, picks: &[usize]) -> Vec<u8> {
    for s in &mut seqs {
        s.reverse();
    }
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let live: Vec<usize> = (0..seqs.len()).filter(|&k| !seqs[k].is_empty()).collect();
        if live.is_empty() {
            return out;
        }
        let k = live[picks.get(i).copied().unwrap_or(0) % live.len()];
        i += 1;
        if let Some(e) = seqs[k].pop() {
            out.extend_from_slice(e.to_string().as_bytes());
            out.push(b'\n');
        }
    }
}

fn run(data: &[u8], options: &IngestOptions) -> (ApiProfileSet, IngestStats) {
    ingest_bytes("prop.log", data, false, options).expect("in-memory ingest")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Two logs processed apart and merged give the profile of one log holding both.
    #[test]
    fn halves_merged_equal_the_whole(
        reqs in prop::collection::vec(req_strategy(), 0..40),
        side in prop::collection::vec(any::<bool>(), 40),
        picks in prop::collection::vec(0usize..64, 200),
    ) {
        let seqs: Vec<Vec<Value>> = reqs.iter().enumerate().map(|(i, r)| events(i, r)).collect();
        let whole = interleave(seqs.clone(), &picks);
        let (left, right): (Vec<_>, Vec<_>) = seqs.into_iter().enumerate().partition(|(i, _)| side[*i]);
        let left = interleave(left.into_iter().map(|(_, s)| s).collect(), &picks);
        let right = interleave(right.into_iter().map(|(_, s)| s).collect(), &picks);
        let options = IngestOptions::default();
        let (expected, all) = run(&whole, &options);
        let (mut merged, a) = run(&left, &options);
        let (other, b) = run(&right, &options);
        merged.merge(other);
        prop_assert_eq!(&merged, &expected);
        prop_assert_eq!(a.records + b.records, all.records);
        prop_assert_eq!(a.duplicates + b.duplicates, all.duplicates);
        // And merge order does not matter.
        let (mut reversed, _) = run(&right, &options);
        reversed.merge(run(&left, &options).0);
        prop_assert_eq!(&reversed, &expected);
        // One request per auditID (impersonate observations are extra, on system:admin).
        let requests: u64 = expected.subjects.iter().filter(|(s, _)| s.to_string() != "User system:admin")
            .map(|(_, p)| p.total_requests()).sum();
        let derived = reqs.iter().filter(|r| {
            let (group, resource, sub) = RESOURCES[r.resource];
            let patch_create = (VERBS[r.verb] == "patch" || VERBS[r.verb] == "update") && CODES[r.code] == (201, "allow")
                && !resource.is_empty() && r.stages != 3;
            let exec = VERBS[r.verb] == "get" && group.is_empty() && resource == "pods" && sub == "exec";
            patch_create || exec
        }).count() as u64;
        prop_assert_eq!(requests, reqs.len() as u64 + derived);
    }

    /// Chunk size and parallel window never change the result.
    #[test]
    fn chunking_is_invisible(
        reqs in prop::collection::vec(req_strategy(), 0..30),
        picks in prop::collection::vec(0usize..64, 150),
        chunk_bytes in 1usize..4000,
        window in 1usize..5,
    ) {
        let data = interleave(reqs.iter().enumerate().map(|(i, r)| events(i, r)).collect(), &picks);
        let (expected, s1) = run(&data, &IngestOptions::default());
        let (got, s2) = run(&data, &IngestOptions { chunk_bytes, window, ..IngestOptions::default() });
        prop_assert_eq!(got, expected);
        prop_assert_eq!((s1.records, s1.duplicates, s1.lines), (s2.records, s2.duplicates, s2.lines));
    }

    /// Random bytes never panic; lenient never fails; strict fails exactly when lenient counted errors.
    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
        check_no_panic(&data, chunk)?;
    }

    /// Real lines with random byte edits and truncations never panic.
    #[test]
    fn mutated_real_lines_never_panic(
        line in 0usize..2971,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        chunk in 1usize..512,
    ) {
        let Some(lines) = real_lines() else { return Ok(()) };
        let mut data = lines[line % lines.len()].clone().into_bytes();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        data.truncate(cut.index(data.len() + 1));
        data.push(b'\n');
        data.extend_from_slice(lines[(line + 1) % lines.len()].as_bytes());
        check_no_panic(&data, chunk)?;
    }
}

fn check_no_panic(data: &[u8], chunk: usize) -> Result<(), TestCaseError> {
    let options = IngestOptions { chunk_bytes: chunk, window: 2, max_in_flight: 3, ..IngestOptions::default() };
    let (_, stats) = run(data, &options);
    let strict = ingest_bytes("prop.log", data, true, &options);
    prop_assert_eq!(stats.malformed == 0, strict.is_ok());
    if let Err(e) = strict {
        prop_assert!(matches!(e, InputError::Malformed(_)), "{e}");
    }
    Ok(())
}

fn real_lines() -> Option<&'static Vec<String>> {
    static LINES: std::sync::OnceLock<Option<Vec<String>>> = std::sync::OnceLock::new();
    LINES
        .get_or_init(|| {
            let p: PathBuf = shared_data("audit/microk8s-v1.25.log")?;
            let text = std::fs::read_to_string(p).ok()?;
            Some(text.lines().map(str::to_string).collect())
        })
        .as_ref()
}
