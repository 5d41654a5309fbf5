//! End-to-end tests of the real `kubeguard` binary: help, exit codes, strict mode, refusing to
//! overwrite, determinism, demo export.

use std::path::Path;
use std::process::{Command, Output};

fn kubeguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubeguard"))
        .args(args)
        .env("KUBEGUARD_CONFIG", "/nonexistent/kubeguard-test-config.toml")
        .env_remove("KUBEGUARD_LLM_BASE_URL")
        .env_remove("KUBEGUARD_LLM_MODEL")
        .output()
        .expect("binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn help_names_every_subcommand_and_the_exit_codes() {
    let o = kubeguard(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = text(&o.stdout);
    for word in ["recommend", "verify", "info", "--demo", "--snapshot", "Exit codes", "4 malformed input with --strict"]
    {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let o = kubeguard(&["recommend", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = text(&o.stdout);
    for word in ["--manifests", "--audit-log", "--task", "--kind", "--out", "--format", "--force", "--for"] {
        assert!(help.contains(word), "recommend --help lacks {word}");
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(kubeguard(&["recommend", "--kind", "nonsense"]).status.code(), Some(2));
    let o = kubeguard(&["recommend"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no inputs"), "{}", text(&o.stderr));
    let o = kubeguard(&["recommend", "--demo", "--fail-on", "severe"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn unreadable_input_exits_1_naming_the_path() {
    let o = kubeguard(&["recommend", "--manifests", "/nonexistent/k8s.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("/nonexistent/k8s.yaml"));
}

#[test]
fn strict_mode_exits_4_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ok}\n---\n- not\n- an object\n")
        .expect("write");
    let o = kubeguard(&["recommend", "--manifests", bad.to_str().expect("utf8"), "--strict"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    let expected = format!("{}:5:", bad.display());
    assert!(text(&o.stderr).contains(&expected), "stderr lacks {expected}: {}", text(&o.stderr));
    // Without --strict the bad document is counted and reported, the run succeeds.
    let o = kubeguard(&["recommend", "--manifests", bad.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("1 malformed"));
    assert!(text(&o.stderr).contains(&expected));
}

#[test]
fn demo_output_is_byte_identical_across_runs() {
    for format in ["yaml", "json", "markdown", "sarif"] {
        let a = kubeguard(&["recommend", "--demo", "--format", format]);
        let b = kubeguard(&["recommend", "--demo", "--format", format]);
        assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
        assert_eq!(a.stdout, b.stdout, "{format} output differs between runs");
    }
}

#[test]
fn out_dir_is_written_once_and_never_overwritten_without_force() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let out_s = out.to_str().expect("utf8");
    let o = kubeguard(&["recommend", "--demo", "--out", out_s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let report = out.join("report.md");
    assert!(report.exists());
    std::fs::write(&report, "my notes").expect("edit");
    // Not a TTY and no --force: refuse, name the file, leave it alone.
    let o = kubeguard(&["recommend", "--demo", "--out", out_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("already exists; not overwriting it"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&report).expect("read"), "my notes");
    let o = kubeguard(&["recommend", "--demo", "--out", out_s, "--force"]);
    assert_eq!(o.status.code(), Some(0));
    assert_ne!(std::fs::read_to_string(&report).expect("read"), "my notes");
    assert!(Path::new(&out.join("report.sarif")).exists());
    assert!(Path::new(&out.join("report.json")).exists());
}

#[test]
fn demo_export_round_trips_through_snapshot_dir() {
    let dir = tempfile::tempdir().expect("tmp");
    let snap = dir.path().join("snap");
    let s = snap.to_str().expect("utf8");
    let o = kubeguard(&["demo", "export", s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(snap.join("manifests/shop.yaml").exists());
    assert!(snap.join("audit/audit.log.gz").exists());
    assert_eq!(kubeguard(&["demo", "export", s]).status.code(), Some(1), "refuses to overwrite");
    let from_dir = kubeguard(&["recommend", "--snapshot", s, "--format", "json"]);
    assert_eq!(from_dir.status.code(), Some(0), "{}", text(&from_dir.stderr));
    let v: serde_json::Value = serde_json::from_slice(&from_dir.stdout).expect("json");
    assert_eq!(v["tool"], "kubeguard");
}

#[test]
fn info_reports_paths_and_llm_state() {
    let o = kubeguard(&["info"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let t = text(&o.stdout);
    assert!(t.contains("/nonexistent/kubeguard-test-config.toml (not found"), "{t}");
    assert!(t.contains("llm:           not configured"));
    let o = kubeguard(&["info", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["llm"]["configured"], false);
    assert!(v["paths"]["prompts_dir"].as_str().is_some());
}

#[test]
fn llm_engine_without_support_is_a_clear_error() {
    let o = kubeguard(&["recommend", "--demo", "--engine", "llm"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no LLM engine in this build yet"), "{}", text(&o.stderr));
}

fn json_out(o: &Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("json report")
}

/// Every recommendation's guard verdict: complete coverage of what was observed.
fn assert_all_covered(report: &serde_json::Value) -> usize {
    let recs = report["recommendations"].as_array().expect("recommendations");
    for r in recs {
        let v = &r["verdict"];
        assert_eq!(v["covered"], v["observed"], "{}: {}", r["target"], v);
        assert_eq!(v["uncovered"].as_array().map(Vec::len), Some(0), "{}", v);
    }
    recs.len()
}

#[test]
fn roles_created_from_real_audit_logs_cover_every_allowed_request() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().to_str().expect("utf8");
    for (log, events) in [("audit/microk8s-v1.25.log", 2971), ("audit/audit2rbac-demo.log", 37)] {
        let Some(path) = kubeguard::testsupport::shared_data(log) else { return };
        let p = path.to_str().expect("utf8");
        let o = kubeguard(&[
            "recommend",
            "--manifests",
            empty,
            "--audit-log",
            p,
            "--kind",
            "role",
            "--task",
            "create",
            "--format",
            "json",
        ]);
        let report = json_out(&o);
        let stderr = text(&o.stderr);
        assert!(stderr.contains(&format!("audit: 1 file(s), {events} record(s)")), "{stderr}");
        assert!(stderr.contains(" 0 malformed"), "{stderr}");
        let n = assert_all_covered(&report);
        assert!(n > 0, "{log}: no subjects found");
        assert!(report["summary"]["observed"].as_u64().unwrap_or(0) > 0);
    }
}

#[test]
fn demo_refine_removes_the_planted_over_grants_and_keeps_coverage() {
    let report =
        json_out(&kubeguard(&["recommend", "--demo", "--kind", "role", "--task", "refine", "--format", "json"]));
    assert_all_covered(&report);
    let recs = report["recommendations"].as_array().expect("recs");
    let payments =
        recs.iter().find(|r| r["target"]["scope"]["name"] == "payments").expect("payments has a refine recommendation");
    let removed: Vec<String> =
        payments["removed"].as_array().expect("removed").iter().map(|r| r[0].to_string()).collect();
    assert!(
        removed.iter().any(|r| r.contains("removed:") && r.contains("list") && r.contains("core/secrets")),
        "{removed:?}"
    );
    // Refine keeps the original names.
    let names: Vec<&str> =
        payments["manifests"].as_array().expect("m").iter().filter_map(|m| m["metadata"]["name"].as_str()).collect();
    assert!(names.contains(&"payments-secrets"), "{names:?}");
}

#[test]
fn demo_create_covers_the_cronjob_without_rbac() {
    let o = kubeguard(&[
        "recommend",
        "--demo",
        "--kind",
        "role",
        "--task",
        "create",
        "--for",
        "shop/reports",
        "--format",
        "json",
    ]);
    let report = json_out(&o);
    let recs = report["recommendations"].as_array().expect("recs");
    assert_eq!(recs.len(), 1, "{}", text(&o.stderr));
    // The CronJob's service account was only ever denied: findings, and nothing granted.
    assert!(recs[0]["findings"].as_array().is_some_and(|f| !f.is_empty()));
}

#[test]
fn verify_on_the_demo_finds_the_planted_risks_and_exits_3() {
    let o = kubeguard(&["verify", "--demo", "--format", "json"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(v["summary"]["findings_by_severity"]["critical"].as_u64().unwrap_or(0) > 0);
    // Only critical findings count with --fail-on critical; info never passes.
    let o = kubeguard(&["verify", "--demo", "--kind", "role", "--fail-on", "critical"]);
    assert_eq!(o.status.code(), Some(3));
}
