//! Golden tests on the bundled demo snapshot: every hardened workload, restricted PSS where the
//! evidence allows it, and a test for each case where it must not. The snapshot is built from
//! the exported demo folder with each source's `ingest` (what `snapshot::load` composes).

use kubeguard::guard::deploy::{PssLevel, workload_pss};
use kubeguard::model::{Recommendation, Task};
use kubeguard::snapshot::{IngestReport, Snapshot};
use kubeguard::sources::{audit, manifests, metrics, provenance};
use kubeguard::synth::deploy;
use serde_json::{Value, json};

fn demo() -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    kubeguard::demo::export(dir.path(), false).unwrap();
    let p = |s: &str| vec![dir.path().join(s)];
    let (inventory, m) = manifests::load(&p("manifests"), false).unwrap();
    let (api, a) = audit::ingest(&p("audit"), &inventory, false, &|_| {}).unwrap();
    let (runtime, pr) = provenance::ingest(&p("provenance"), &inventory, false, &|_| {}).unwrap();
    let (metrics, me) = metrics::ingest(&p("metrics"), &inventory, false, &|_| {}).unwrap();
    let mut s = Snapshot { label: "demo".into(), inventory, ..Default::default() };
    s.observed.api = api;
    s.observed.runtime = runtime;
    s.observed.metrics = metrics;
    s.report = IngestReport { manifests: m, audit: a, provenance: pr, metrics: me, ..Default::default() };
    s
}

fn recommend_all(snapshot: &Snapshot) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for task in [Task::Create, Task::Refine] {
        for t in deploy::targets(snapshot, task) {
            out.push(deploy::recommend(snapshot, &t).unwrap());
        }
    }
    out
}

fn by_name<'a>(recs: &'a [Recommendation], name: &str) -> &'a Recommendation {
    recs.iter().find(|r| r.manifests[0].pointer("/metadata/name") == Some(&json!(name))).unwrap()
}

fn restricted(r: &Recommendation) -> Vec<String> {
    workload_pss(&r.manifests[0]).into_iter().filter(|v| v.level == PssLevel::Restricted).map(|v| v.message).collect()
}

fn rule_ids(r: &Recommendation) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule_id.as_str()).collect()
}

#[test]
fn demo_evidence_parses_cleanly() {
    let s = demo();
    assert_eq!(s.report.provenance.malformed, 0, "{:?}", s.report.provenance.errors);
    assert_eq!(s.report.metrics.malformed, 0, "{:?}", s.report.metrics.errors);
    assert!(s.report.provenance.records > 50 && s.report.metrics.records > 1000);
    // every Tetragon event is attributed to an inventory workload
    for c in s.observed.runtime.containers.keys() {
        assert!(s.inventory.workload(&c.workload).is_some(), "{c:?} not in the inventory");
    }
}

#[test]
fn demo_workloads_pass_restricted_where_the_evidence_allows() {
    let recs = recommend_all(&demo());
    // non-root workloads with traced writes: restricted passes after hardening
    for name in ["frontend", "cart", "catalog"] {
        let r = by_name(&recs, name);
        assert!(restricted(r).is_empty(), "{name}: {:?}", restricted(r));
        assert!(r.verdict.is_complete_coverage(), "{name}: {:?}", r.verdict.uncovered);
        let c = &r.manifests[0].pointer("/spec/template/spec/containers/0/securityContext").unwrap();
        assert_eq!(c["readOnlyRootFilesystem"], json!(true), "{name}");
        assert_eq!(c["allowPrivilegeEscalation"], json!(false), "{name}");
    }
    let fe = by_name(&recs, "frontend");
    assert_eq!(
        fe.manifests[0].pointer("/spec/template/spec/containers/0/securityContext/capabilities").unwrap(),
        &json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
        "nginx binds :80"
    );
    let mounts: Vec<&Value> = fe.manifests[0]
        .pointer("/spec/template/spec/containers/0/volumeMounts")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|m| &m["mountPath"])
        .collect();
    assert!(mounts.contains(&&json!("/run")) && mounts.contains(&&json!("/var/cache/nginx")), "{mounts:?}");
}

#[test]
fn demo_root_workloads_do_not_pass_restricted() {
    let recs = recommend_all(&demo());
    for name in ["payments", "redis"] {
        let r = by_name(&recs, name);
        assert!(restricted(r).iter().any(|m| m.contains("runAsNonRoot")), "{name}: {:?}", restricted(r));
        assert!(rule_ids(r).contains(&"KG-DEPLOY-ROOT-OBSERVED"), "{name}: {:?}", r.findings);
    }
    // the node agent has no runtime evidence: its host access is kept and reported, never guessed away
    let agent = by_name(&recs, "node-agent");
    assert!(workload_pss(&agent.manifests[0]).iter().any(|v| v.level == PssLevel::Baseline));
    assert!(rule_ids(agent).contains(&"KG-DEPLOY-UNOBSERVED"));
}

#[test]
fn demo_golden() {
    let recs = recommend_all(&demo());
    let golden: Vec<Value> = recs
        .iter()
        .map(|r| {
            json!({
                "target": r.target.to_string(),
                "patch": r.manifests[1],
                "evidence": r.evidence.iter().map(|e| format!("{}: {}", e.path, e.what)).collect::<Vec<_>>(),
                "findings": r.findings.iter().map(|f| format!("{} {} {}", f.severity, f.rule_id, f.message)).collect::<Vec<_>>(),
                "removed": r.removed,
                "restricted_violations": restricted(r),
            })
        })
        .collect();
    insta::assert_yaml_snapshot!("demo_deployments", golden);
}
