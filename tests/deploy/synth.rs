//! `synth::deploy`: one test per field and evidence case, PSS restricted where the evidence
//! allows and not where it must not, refine never loosening, and a golden manifest + patch.

use kubeguard::guard::deploy::{PssLevel, apply_strategic_patch, workload_pss};
use kubeguard::model::{RuntimeObservation, Severity, Task};
use kubeguard::synth::deploy::{self, DeployOptions};
use serde_json::{Value, json};

use super::support::{Snap, deployment, findings, series, target};

fn nginx_spec() -> Value {
    json!({
        "containers": [{
            "name": "nginx", "image": "nginxinc/nginx-unprivileged:1.25",
            "ports": [{"containerPort": 80}],
            "volumeMounts": [{"name": "conf", "mountPath": "/etc/nginx/conf.d", "readOnly": true}]
        }],
        "volumes": [{"name": "conf", "configMap": {"name": "web-conf"}}]
    })
}

/// Full evidence for a well-behaved nginx: uid 101, writes only under /var/cache/nginx and /tmp,
/// binds 80 with NET_BIND_SERVICE, no API calls, metrics for 4 h.
fn good_web() -> Snap {
    Snap::new(vec![deployment("web", nginx_spec())])
        .process("web", "nginx", "/usr/sbin/nginx", 101)
        .write("web", "nginx", "/var/cache/nginx/client_temp/0001")
        .write("web", "nginx", "/tmp/nginx.pid")
        .write("web", "nginx", "/dev/stdout")
        .read("web", "nginx", "/etc/nginx/conf.d/default.conf")
        .observe("web", "nginx", RuntimeObservation::Listen { port: 80, protocol: "TCP".into() }, 3)
        .observe("web", "nginx", RuntimeObservation::Capability { name: "NET_BIND_SERVICE".into(), allowed: true }, 3)
        .audit("default", 0)
        .metrics("web", "nginx", series(240, 60, 7))
}

fn spec(rec: &kubeguard::model::Recommendation) -> &Value {
    rec.manifests[0].pointer("/spec/template/spec").unwrap()
}

fn sc(rec: &kubeguard::model::Recommendation) -> &Value {
    &spec(rec)["containers"][0]["securityContext"]
}

fn cited(rec: &kubeguard::model::Recommendation, path: &str) -> bool {
    rec.evidence.iter().any(|e| e.path == path && e.evidence.count > 0 && e.what.contains("confidence"))
}

fn restricted(obj: &Value) -> Vec<String> {
    workload_pss(obj).into_iter().filter(|v| v.level == PssLevel::Restricted).map(|v| v.message).collect()
}

const C0: &str = "spec.template.spec.containers[0]";

#[test]
fn create_hardens_every_field_with_evidence_and_passes_restricted() {
    let snap = good_web();
    assert_eq!(deploy::targets(&snap.snapshot, Task::Create), vec![target("web", Task::Create)]);
    assert!(deploy::targets(&snap.snapshot, Task::Refine).is_empty());
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    let sc = sc(&rec);
    assert_eq!(sc["runAsNonRoot"], json!(true));
    assert_eq!(sc["runAsUser"], json!(101));
    assert_eq!(sc["runAsGroup"], json!(101));
    assert_eq!(sc["readOnlyRootFilesystem"], json!(true));
    assert_eq!(sc["allowPrivilegeEscalation"], json!(false));
    assert_eq!(sc["capabilities"], json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}));
    assert_eq!(sc["seccompProfile"], json!({"type": "RuntimeDefault"}));
    assert_eq!(spec(&rec)["automountServiceAccountToken"], json!(false));
    let mounts: Vec<&str> = spec(&rec)["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, vec!["/etc/nginx/conf.d", "/tmp", "/var/cache/nginx"]);
    for f in [
        "securityContext.runAsNonRoot",
        "securityContext.runAsUser",
        "securityContext.readOnlyRootFilesystem",
        "securityContext.allowPrivilegeEscalation",
        "securityContext.capabilities.drop",
        "securityContext.capabilities.add",
        "securityContext.seccompProfile",
        "volumeMounts[1]",
        "volumeMounts[2]",
    ] {
        assert!(cited(&rec, &format!("{C0}.{f}")), "no evidence for {f}: {:#?}", rec.evidence);
    }
    assert!(cited(&rec, "spec.template.spec.automountServiceAccountToken"));
    assert!(rec.evidence.iter().any(|e| e.path == format!("{C0}.resources.requests.cpu")));
    assert!(restricted(&rec.manifests[0]).is_empty(), "{:?}", restricted(&rec.manifests[0]));
    assert!(rec.verdict.is_complete_coverage(), "{:?}", rec.verdict);
    assert!(rec.verdict.risks.is_empty());
    assert!(!rec.verdict.risks_removed.is_empty(), "the original failed restricted");
    // the patch turns the original into the full manifest, and carries nothing else
    let patch = &rec.manifests[1];
    assert_eq!(apply_strategic_patch(&rec.original[0], patch), rec.manifests[0]);
    assert!(patch.pointer("/spec/replicas").is_none() && patch.pointer("/spec/selector").is_none());
    assert_eq!(patch["metadata"], json!({"name": "web", "namespace": "shop"}));
}

#[test]
fn output_is_deterministic() {
    let a = deploy::recommend(&good_web().snapshot, &target("web", Task::Create)).unwrap();
    let b = deploy::recommend(&good_web().snapshot, &target("web", Task::Create)).unwrap();
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
}

#[test]
fn observed_root_process_blocks_run_as_non_root_and_restricted() {
    let snap = good_web().process("web", "nginx", "/docker-entrypoint.sh", 0);
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(sc(&rec).get("runAsNonRoot").is_none());
    assert!(sc(&rec).get("runAsUser").is_none());
    assert!(findings(&rec)["KG-DEPLOY-ROOT-OBSERVED"][0].contains("/docker-entrypoint.sh"));
    let r = restricted(&rec.manifests[0]);
    assert!(r.iter().any(|m| m.contains("runAsNonRoot")), "{r:?}");
    // root without a capability trace: capabilities left as they are
    let snap = Snap::new(vec![deployment("web", nginx_spec())])
        .process("web", "nginx", "/docker-entrypoint.sh", 0)
        .write("web", "nginx", "/tmp/x");
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(sc(&rec).get("capabilities").is_none());
    assert!(findings(&rec)["KG-DEPLOY-UNOBSERVED"].iter().any(|m| m.contains("capability use was not traced")));
}

#[test]
fn root_with_capability_trace_drops_all_but_used() {
    let snap = good_web().process("web", "nginx", "/docker-entrypoint.sh", 0).observe(
        "web",
        "nginx",
        RuntimeObservation::Capability { name: "CHOWN".into(), allowed: true },
        2,
    );
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert_eq!(sc(&rec)["capabilities"], json!({"drop": ["ALL"], "add": ["CHOWN", "NET_BIND_SERVICE"]}));
    assert!(restricted(&rec.manifests[0]).iter().any(|m| m.contains("adds CHOWN")));
}

#[test]
fn rootfs_write_outside_mountable_dirs_keeps_root_writable() {
    let snap = good_web().write("web", "nginx", "/usr/share/nginx/html/index.html");
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(sc(&rec).get("readOnlyRootFilesystem").is_none());
    assert!(findings(&rec)["KG-DEPLOY-ROOTFS-WRITES"][0].contains("/usr/share/nginx/html/index.html"));
    // no emptyDir added when the root stays writable
    assert_eq!(spec(&rec)["volumes"].as_array().unwrap().len(), 1);
}

#[test]
fn writes_to_a_mounted_volume_allow_read_only_root() {
    let mut s = nginx_spec();
    s["containers"][0]["volumeMounts"].as_array_mut().unwrap().push(json!({"name": "data", "mountPath": "/data"}));
    s["volumes"].as_array_mut().unwrap().push(json!({"name": "data", "persistentVolumeClaim": {"claimName": "d"}}));
    let snap = Snap::new(vec![deployment("web", s)]).process("web", "nginx", "/app", 1000).write(
        "web",
        "nginx",
        "/data/db/file",
    );
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert_eq!(sc(&rec)["readOnlyRootFilesystem"], json!(true));
    assert_eq!(spec(&rec)["volumes"].as_array().unwrap().len(), 2, "no emptyDir needed");
}

#[test]
fn no_file_trace_leaves_read_only_root_unobserved() {
    let snap =
        Snap::new(vec![deployment("web", nginx_spec())]).process("web", "nginx", "/app", 1000).audit("default", 0);
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(sc(&rec).get("readOnlyRootFilesystem").is_none());
    assert!(spec(&rec).get("automountServiceAccountToken").is_none(), "token reads unknown");
    let un = &findings(&rec)["KG-DEPLOY-UNOBSERVED"];
    assert!(un.iter().any(|m| m.contains("readOnlyRootFilesystem")));
    assert!(un.iter().any(|m| m.contains("token reads unknown")));
    // non-root processes: capabilities can drop ALL even without a capability trace
    assert_eq!(sc(&rec)["capabilities"], json!({"drop": ["ALL"]}));
}

#[test]
fn setuid_blocks_allow_privilege_escalation_false() {
    let snap = good_web().observe(
        "web",
        "nginx",
        RuntimeObservation::PrivilegeChange { from_uid: Some(101), to_uid: Some(0) },
        1,
    );
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(sc(&rec).get("allowPrivilegeEscalation").is_none());
    assert!(findings(&rec).contains_key("KG-DEPLOY-PRIVILEGE-CHANGE"));
    assert!(restricted(&rec.manifests[0]).iter().any(|m| m.contains("allowPrivilegeEscalation")));
}

#[test]
fn service_account_calls_or_token_reads_keep_the_token() {
    let snap = good_web().audit("default", 5);
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(spec(&rec).get("automountServiceAccountToken").is_none());
    assert!(findings(&rec)["KG-DEPLOY-TOKEN-USED"][0].contains("API requests"));

    let snap = good_web().read("web", "nginx", "/var/run/secrets/kubernetes.io/serviceaccount/token");
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(spec(&rec).get("automountServiceAccountToken").is_none());

    // a write-only file policy cannot see token reads
    let snap = Snap::new(vec![deployment("web", nginx_spec())])
        .process("web", "nginx", "/usr/sbin/nginx", 101)
        .write("web", "nginx", "/tmp/x")
        .audit("default", 0);
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(spec(&rec).get("automountServiceAccountToken").is_none());
    assert!(findings(&rec)["KG-DEPLOY-UNOBSERVED"].iter().any(|m| m.contains("token reads unknown")));

    let mut snap = good_web();
    snap.snapshot.observed.api = Default::default();
    snap.snapshot.report.audit.records = 0;
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(spec(&rec).get("automountServiceAccountToken").is_none(), "no audit log: unobserved");
}

#[test]
fn seccomp_is_left_when_refused_syscalls_are_observed() {
    let snap = good_web().observe("web", "nginx", RuntimeObservation::Syscall { name: "unshare".into() }, 1);
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert!(sc(&rec).get("seccompProfile").is_none());
    assert!(findings(&rec)["KG-DEPLOY-SECCOMP-SYSCALLS"][0].contains("unshare"));
}

#[test]
fn no_evidence_changes_nothing_and_says_so() {
    let snap = Snap::new(vec![deployment("web", nginx_spec())]);
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Create)).unwrap();
    assert_eq!(rec.manifests[0], rec.original[0]);
    assert_eq!(rec.manifests[1]["spec"], json!({}));
    let f = findings(&rec);
    assert!(f["KG-DEPLOY-UNOBSERVED"].iter().any(|m| m.contains("no runtime evidence")));
    assert!(f["KG-DEPLOY-UNOBSERVED"].iter().any(|m| m.contains("no metrics")));
}

#[test]
fn refine_tightens_but_never_loosens() {
    let s = json!({
        "hostNetwork": true,
        "securityContext": {"runAsNonRoot": true},
        "containers": [{
            "name": "nginx", "image": "x",
            "securityContext": {"readOnlyRootFilesystem": true, "privileged": true,
                                "capabilities": {"add": ["SYS_ADMIN", "NET_BIND_SERVICE"]}},
            "volumeMounts": [{"name": "host", "mountPath": "/host"}, {"name": "logs", "mountPath": "/var/log/host"}]
        }],
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}, {"name": "logs", "hostPath": {"path": "/var/log"}}]
    });
    let snap = Snap::new(vec![deployment("web", s)])
        .process("web", "nginx", "/usr/sbin/nginx", 0)
        .write("web", "nginx", "/var/lib/state")
        .read("web", "nginx", "/var/log/host/syslog")
        .observe("web", "nginx", RuntimeObservation::Listen { port: 80, protocol: "TCP".into() }, 3)
        .observe("web", "nginx", RuntimeObservation::Capability { name: "NET_BIND_SERVICE".into(), allowed: true }, 3);
    assert_eq!(deploy::targets(&snap.snapshot, Task::Refine), vec![target("web", Task::Refine)]);
    let rec = deploy::recommend(&snap.snapshot, &target("web", Task::Refine)).unwrap();
    let sp = spec(&rec);
    let sc = sc(&rec);
    // the user's tight settings stay, even though root and a rootfs write were observed
    assert_eq!(sp["securityContext"]["runAsNonRoot"], json!(true));
    assert_eq!(sc["readOnlyRootFilesystem"], json!(true));
    // unused grants are removed
    assert_eq!(sc["privileged"], json!(false));
    assert_eq!(sc["capabilities"], json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}));
    assert!(sp.get("hostNetwork").is_none());
    let vols: Vec<&str> = sp["volumes"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(vols, vec!["logs"], "unused hostPath / removed, the read one kept");
    assert_eq!(
        sp["containers"][0]["volumeMounts"],
        json!([{"name": "logs", "mountPath": "/var/log/host", "readOnly": true}])
    );
    let removed: Vec<(&str, Severity)> = rec.removed.iter().map(|(s, v)| (s.as_str(), *v)).collect();
    assert!(removed.contains(&("container nginx: capabilities.add SYS_ADMIN", Severity::Critical)));
    assert!(removed.contains(&("container nginx: privileged: true", Severity::Critical)));
    assert!(removed.iter().any(|(s, _)| s.starts_with("hostPath volume host")));
    assert!(removed.contains(&("hostNetwork: true", Severity::High)));
    // the evidence contradicts the user's settings: reported, not loosened
    let f = findings(&rec);
    assert!(f["KG-DEPLOY-ROOT-OBSERVED"][0].contains("contradicts"));
    // hostPath /var/log stays: baseline still fails, and restricted cannot pass with a root process
    assert!(workload_pss(&rec.manifests[0]).iter().any(|v| v.check == "hostPathVolumes"));
}

#[test]
fn resources_follow_the_strategy_and_refuse_short_windows() {
    let rec = deploy::recommend(&good_web().snapshot, &target("web", Task::Create)).unwrap();
    let r = &spec(&rec)["containers"][0]["resources"];
    assert!(r["requests"]["cpu"].as_str().unwrap().ends_with('m'));
    assert!(r.pointer("/limits/cpu").is_none(), "krr-simple sets no CPU limit");
    assert_eq!(r["requests"]["memory"], r["limits"]["memory"]);

    let short = good_web().metrics("web", "nginx", series(50, 60, 3));
    let rec = deploy::recommend(&short.snapshot, &target("web", Task::Create)).unwrap();
    assert!(spec(&rec)["containers"][0].get("resources").is_none());
    let msg = &findings(&rec)["KG-DEPLOY-METRICS-INSUFFICIENT"];
    assert!(msg[0].contains("50 CPU") && msg[0].contains("need ≥ 100"), "{msg:?}");

    let opts = DeployOptions { min_samples: 10, min_window_secs: 600, ..DeployOptions::default() };
    let rec = deploy::recommend_with(&short.snapshot, &target("web", Task::Create), &opts).unwrap();
    assert!(spec(&rec)["containers"][0]["resources"]["requests"]["cpu"].is_string());
}

#[test]
fn golden_hardened_web() {
    let rec = deploy::recommend(&good_web().snapshot, &target("web", Task::Create)).unwrap();
    insta::assert_yaml_snapshot!("hardened_web", json!({"manifest": rec.manifests[0], "patch": rec.manifests[1]}));
}
