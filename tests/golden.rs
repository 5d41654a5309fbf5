//! Golden (insta) snapshots of the demo's output from the real binary. A change to the output
//! shows up as a reviewable snapshot diff (`cargo insta review`).

use std::process::Command;

fn run(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_kubeguard"))
        .args(args)
        .env("KUBEGUARD_CONFIG", "/nonexistent/kubeguard-test-config.toml")
        .output()
        .expect("binary runs");
    assert!(o.status.success() || o.status.code() == Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf8 output")
}

#[test]
fn demo_role_refine_yaml() {
    insta::assert_snapshot!(run(&["recommend", "--demo", "--kind", "role", "--task", "refine"]));
}

#[test]
fn demo_role_create_yaml() {
    insta::assert_snapshot!(run(&["recommend", "--demo", "--kind", "role", "--task", "create"]));
}

#[test]
fn demo_verify_markdown() {
    insta::assert_snapshot!(run(&["verify", "--demo", "--kind", "role"]));
}
