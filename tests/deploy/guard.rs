//! `guard::deploy::check`: PSS checks per rule, and proposals (as an LLM might write them) that
//! break observed behaviour or grant beyond evidence are flagged and repaired.

use kubeguard::guard::deploy::{PssLevel, check, pss_violations, strategic_patch};
use kubeguard::model::{RuntimeObservation, Task};
use serde_json::{Value, json};

use super::support::{Snap, deployment, target};

fn checks(spec: Value) -> Vec<(PssLevel, &'static str)> {
    pss_violations(&spec, None).into_iter().map(|v| (v.level, v.check)).collect()
}

fn restricted_ok() -> Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "a", "image": "x", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}],
        "volumes": [{"name": "t", "emptyDir": {}}, {"name": "c", "configMap": {"name": "c"}}]
    })
}

#[test]
fn pss_restricted_pod_passes_and_each_rule_fires() {
    assert!(checks(restricted_ok()).is_empty(), "{:?}", checks(restricted_ok()));
    let cases: Vec<(&str, Value, PssLevel, &str)> = vec![
        ("/hostNetwork", json!(true), PssLevel::Baseline, "hostNamespaces"),
        ("/hostPID", json!(true), PssLevel::Baseline, "hostNamespaces"),
        ("/containers/0/securityContext/privileged", json!(true), PssLevel::Baseline, "privileged"),
        (
            "/containers/0/securityContext/capabilities/add",
            json!(["SYS_ADMIN"]),
            PssLevel::Baseline,
            "capabilities_baseline",
        ),
        (
            "/containers/0/securityContext/capabilities/add",
            json!(["CHOWN"]),
            PssLevel::Restricted,
            "capabilities_restricted",
        ),
        (
            "/containers/0/securityContext/capabilities/drop",
            json!(["NET_RAW"]),
            PssLevel::Restricted,
            "capabilities_restricted",
        ),
        ("/containers/0/ports", json!([{"containerPort": 80, "hostPort": 80}]), PssLevel::Baseline, "hostPorts"),
        ("/volumes/0", json!({"name": "h", "hostPath": {"path": "/"}}), PssLevel::Baseline, "hostPathVolumes"),
        (
            "/volumes/0",
            json!({"name": "n", "nfs": {"server": "s", "path": "/"}}),
            PssLevel::Restricted,
            "restrictedVolumes",
        ),
        (
            "/securityContext/seccompProfile",
            json!({"type": "Unconfined"}),
            PssLevel::Baseline,
            "seccompProfile_baseline",
        ),
        ("/securityContext/seccompProfile", Value::Null, PssLevel::Restricted, "seccompProfile_restricted"),
        ("/securityContext/runAsNonRoot", json!(false), PssLevel::Restricted, "runAsNonRoot"),
        ("/securityContext/runAsUser", json!(0), PssLevel::Restricted, "runAsUser"),
        (
            "/containers/0/securityContext/allowPrivilegeEscalation",
            json!(true),
            PssLevel::Restricted,
            "allowPrivilegeEscalation",
        ),
        ("/containers/0/securityContext/procMount", json!("Unmasked"), PssLevel::Baseline, "procMount"),
        ("/securityContext/sysctls", json!([{"name": "kernel.msgmax", "value": "1"}]), PssLevel::Baseline, "sysctls"),
        ("/securityContext/seLinuxOptions", json!({"type": "spc_t"}), PssLevel::Baseline, "seLinuxOptions"),
        (
            "/containers/0/securityContext/appArmorProfile",
            json!({"type": "Unconfined"}),
            PssLevel::Baseline,
            "appArmorProfile",
        ),
        (
            "/containers/0/livenessProbe",
            json!({"httpGet": {"host": "10.0.0.1", "port": 80}}),
            PssLevel::Baseline,
            "hostProbesAndHostLifecycle",
        ),
    ];
    for (ptr, value, level, check) in cases {
        let mut spec = restricted_ok();
        kubeguard::guard::deploy::set_pointer(&mut spec, ptr, if value.is_null() { None } else { Some(value.clone()) });
        let got = checks(spec);
        assert!(got.contains(&(level, check)), "{ptr}={value}: expected {check}, got {got:?}");
    }
    // a safe sysctl and a pod-level-only seccomp are fine
    let mut spec = restricted_ok();
    spec["securityContext"]["sysctls"] = json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]);
    assert!(checks(spec).is_empty());
}

fn web_snap() -> Snap {
    Snap::new(vec![deployment(
        "web",
        json!({"containers": [{"name": "app", "image": "x",
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "host", "mountPath": "/host"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "host", "hostPath": {"path": "/var/lib/x"}}]}),
    )])
    .process("web", "app", "/app", 0)
    .write("web", "app", "/var/lib/app/db")
    .read("web", "app", "/host/state")
    .observe("web", "app", RuntimeObservation::Listen { port: 443, protocol: "TCP".into() }, 5)
    .observe("web", "app", RuntimeObservation::PrivilegeChange { from_uid: Some(0), to_uid: Some(1000) }, 1)
    .audit("default", 3)
}

#[test]
fn breaking_proposal_is_repaired_to_the_observed_behaviour() {
    let snap = web_snap();
    let original = snap.snapshot.inventory.workloads[0].raw.clone();
    // what a careless engine might propose: everything restricted
    let mut proposal = original.clone();
    let spec = proposal.pointer_mut("/spec/template/spec").unwrap();
    spec["automountServiceAccountToken"] = json!(false);
    spec["securityContext"] = json!({"runAsNonRoot": true});
    spec["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
    spec["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
    spec["containers"][0]["securityContext"] = json!({"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}});
    let t = target("web", Task::Create);
    let flagged = check(&snap.snapshot, &t, std::slice::from_ref(&proposal), std::slice::from_ref(&original), false);
    let un = flagged.verdict.uncovered.join("\n");
    for needle in [
        "runAsNonRoot",
        "readOnlyRootFilesystem",
        "NET_BIND_SERVICE",
        "allowPrivilegeEscalation",
        "automountServiceAccountToken",
        "hostPath volume host",
    ] {
        assert!(un.contains(needle), "{needle} not flagged:\n{un}");
    }
    assert!(flagged.verdict.excess.iter().any(|e| e.contains("SYS_ADMIN")));
    assert!(!flagged.verdict.is_complete_coverage());

    let out = check(&snap.snapshot, &t, &[proposal], std::slice::from_ref(&original), true);
    assert!(out.verdict.uncovered.is_empty(), "{:?}", out.verdict.uncovered);
    assert!(out.verdict.is_complete_coverage());
    let s = out.manifests[0].pointer("/spec/template/spec").unwrap();
    assert!(s.get("automountServiceAccountToken").is_none());
    assert!(s["securityContext"].get("runAsNonRoot").is_none());
    let c = &s["containers"][0];
    assert!(c["securityContext"].get("readOnlyRootFilesystem").is_none());
    assert!(c["securityContext"].get("allowPrivilegeEscalation").is_none());
    assert_eq!(c["securityContext"]["capabilities"], json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}));
    assert!(s["volumes"].as_array().unwrap().iter().any(|v| v["name"] == "host"));
    assert!(c["volumeMounts"].as_array().unwrap().iter().any(|m| m["mountPath"] == "/host"));
    assert!(out.verdict.repairs.len() >= 6, "{:?}", out.verdict.repairs);
    // the patch reflects the repaired proposal
    assert_eq!(out.manifests[1], strategic_patch(&original, &out.manifests[0]));
}

#[test]
fn proposal_loosening_user_settings_is_restored() {
    let snap = Snap::new(vec![deployment(
        "web",
        json!({"automountServiceAccountToken": false, "containers": [{"name": "app", "image": "x",
            "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false,
                                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]}),
    )]);
    let original = snap.snapshot.inventory.workloads[0].raw.clone();
    let mut proposal = original.clone();
    let spec = proposal.pointer_mut("/spec/template/spec").unwrap();
    spec["automountServiceAccountToken"] = json!(true);
    spec["hostPID"] = json!(true);
    spec["containers"][0]["securityContext"] =
        json!({"runAsNonRoot": false, "privileged": true, "seccompProfile": {"type": "Unconfined"}});
    let out = check(&snap.snapshot, &target("web", Task::Refine), &[proposal], std::slice::from_ref(&original), true);
    assert_eq!(out.manifests[0], original, "every loosening undone: {:?}", out.verdict.repairs);
    assert_eq!(out.manifests[1]["spec"], json!({}));
}
