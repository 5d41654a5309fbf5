//! Roles created from the real audit logs in `../shared/data/audit/` cover every allowed
//! request, checked with the RBAC guard independently of the engine's own verdict.

use std::path::PathBuf;

use kubeguard::guard::rbac::{UserInfo, bootstrap_policy, parse_objects};
use kubeguard::model::{Inventory, TargetScope, Task};
use kubeguard::snapshot::Snapshot;
use kubeguard::synth::rbac::{is_reserved_identity, recommend, targets};

struct Counts {
    subjects: usize,
    targets: usize,
    reserved: usize,
    allowed_tuples: usize,
    covered_tuples: usize,
    denied_tuples: usize,
    denied_never_allowed: usize,
    by_default_grants: usize,
    manifests: usize,
}

fn run(rel: &str) -> Option<Counts> {
    let path: PathBuf = kubeguard::testsupport::shared_data(rel)?;
    let (api, stats) =
        kubeguard::sources::audit::ingest(&[path], &Inventory::default(), false, &|_| {}).expect("ingest");
    assert_eq!(stats.malformed, 0, "{rel}: {:?}", stats.errors);
    let mut snap = Snapshot { label: rel.to_string(), ..Snapshot::default() };
    snap.observed.api = api;
    let ts = targets(&snap, Task::Create);
    let mut c = Counts {
        subjects: snap.observed.api.subjects.len(),
        targets: ts.len(),
        reserved: snap.observed.api.subjects.keys().filter(|s| is_reserved_identity(s)).count(),
        allowed_tuples: 0,
        covered_tuples: 0,
        denied_tuples: 0,
        denied_never_allowed: 0,
        by_default_grants: 0,
        manifests: 0,
    };
    for t in &ts {
        let TargetScope::Subject(subject) = &t.scope else { panic!("RBAC targets are subjects") };
        let rec = recommend(&snap, t).expect("recommendation");
        assert!(rec.verdict.is_complete_coverage(), "{subject}: {:?}", rec.verdict.uncovered);
        // Independent check: generated objects + default grants allow every allowed request.
        let parsed = parse_objects(&rec.manifests, false);
        assert!(parsed.problems.is_empty(), "{subject}: {:?}", parsed.problems);
        let mut policy = bootstrap_policy();
        policy.extend(parsed.policy());
        let user = UserInfo::for_subject(subject);
        let profile = snap.observed.api.get(subject).expect("profile");
        for r in profile.allowed.keys() {
            c.allowed_tuples += 1;
            if bootstrap_policy().allows(&user, r) {
                c.by_default_grants += 1;
            }
            if policy.allows(&user, r) {
                c.covered_tuples += 1;
            } else {
                panic!("{subject}: {r} not allowed by the generated roles");
            }
        }
        for r in profile.denied.keys() {
            c.denied_tuples += 1;
            // A request denied at one time and allowed later (the demo grants access between
            // runs), or implied by an allowed cross-namespace request, is evidence of use; one
            // that was never allowed must stay denied.
            let mut cluster_wide = r.clone();
            cluster_wide.namespace = String::new();
            if !profile.allowed.contains_key(r) && !profile.allowed.contains_key(&cluster_wide) {
                c.denied_never_allowed += 1;
                assert!(!parsed.policy().allows(&user, r), "{subject}: denied {r} was granted");
            }
        }
        c.manifests += rec.manifests.len();
        // Deterministic: a second run is byte-identical.
        let again = recommend(&snap, t).expect("recommendation");
        assert_eq!(serde_json::to_string(&rec.manifests).ok(), serde_json::to_string(&again.manifests).ok());
    }
    eprintln!(
        "{rel}: {} subjects ({} reserved, not generated), {} create targets, {} manifests; allowed tuples of targets {} \
         covered {} ({} by the default grants); denied tuples {} ({} never allowed, none of them granted)",
        c.subjects,
        c.reserved,
        c.targets,
        c.manifests,
        c.allowed_tuples,
        c.covered_tuples,
        c.by_default_grants,
        c.denied_tuples,
        c.denied_never_allowed
    );
    Some(c)
}

#[test]
fn roles_created_from_microk8s_log_cover_every_allowed_request() {
    let Some(c) = run("audit/microk8s-v1.25.log") else { return };
    assert!(c.targets > 5, "controllers and users expected");
    assert_eq!(c.allowed_tuples, c.covered_tuples);
}

#[test]
fn roles_created_from_audit2rbac_demo_cover_every_allowed_request() {
    let Some(c) = run("audit/audit2rbac-demo.log") else { return };
    assert!(c.targets >= 3, "bob, alice and ns1:sa1 expected");
    assert_eq!(c.allowed_tuples, c.covered_tuples);
    assert!(c.denied_tuples > 0, "the demo has 403s");
}
