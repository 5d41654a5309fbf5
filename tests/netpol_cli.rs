//! The NetworkPolicy paths through the binary: `recommend --flows … --kind networkpolicy` and
//! `verify --kind networkpolicy`, on real inputs and on the bundled demo.

use std::process::Command;

use kubeguard::testsupport::shared_data;

fn kubeguard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubeguard")).args(args).output().expect("run kubeguard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn recommend_networkpolicy_from_real_hubble_flows() {
    let Some(flows) = shared_data("flows/hubble-otel") else { return };
    let Some(app) = shared_data("apps/sock-shop/complete-demo.yaml") else { return };
    let flows = flows.display().to_string();
    let app = app.display().to_string();
    let args = ["recommend", "--manifests", &app, "--flows", &flows, "--kind", "networkpolicy", "--task", "create"];
    let (code, stdout, stderr) = kubeguard(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("flows: 9 file(s), 1916 record(s)"), "{stderr}");
    assert!(stdout.contains("name: kubeguard-productpage-v1"), "{stdout}");
    assert!(stdout.contains("kubernetes.io/metadata.name: kube-system"), "cross-namespace DNS peer: {stdout}");
    // Deterministic: byte-identical on a second run.
    assert_eq!(kubeguard(&args).1, stdout);
}

#[test]
fn verify_networkpolicy_on_the_demo_reports_blocked_and_open() {
    let (code, stdout, stderr) = kubeguard(&["verify", "--demo", "--kind", "networkpolicy", "--format", "markdown"]);
    assert!(code == 0 || code == 3, "{stderr}");
    assert!(
        stdout.contains("uncovered: Deployment shop/payments -> Deployment kube-system/coredns UDP/53"),
        "{stdout}"
    );
    assert!(stdout.contains("allows every peer (pods, namespaces and IPs) on every port"), "{stdout}");
}

#[test]
fn config_netpol_section_isolates_unobserved_directions() {
    let run = |config: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).expect("write config");
        let out = Command::new(env!("CARGO_BIN_EXE_kubeguard"))
            .args(["recommend", "--demo", "--kind", "networkpolicy", "--task", "create", "--format", "json"])
            .env("KUBEGUARD_CONFIG", &path)
            .output()
            .expect("run kubeguard");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let mut types = Vec::new();
        for m in v.pointer("/recommendations").and_then(|r| r.as_array()).into_iter().flatten() {
            for p in m["manifests"].as_array().into_iter().flatten() {
                let t: Vec<String> = p["spec"]["policyTypes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect();
                types.push(t);
            }
        }
        types
    };
    let default = run("");
    assert!(!default.is_empty());
    // The demo has workloads nobody calls or that call nothing: by default a direction without
    // evidence stays out of policyTypes.
    assert!(default.iter().any(|t| t.len() == 1), "{default:?}");
    let forced = run("[netpol]\nforce_ingress = true\nforce_egress = true\n");
    assert_eq!(forced.len(), default.len());
    assert!(forced.iter().all(|t| t == &["Ingress".to_string(), "Egress".to_string()]), "{forced:?}");
}
