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
