//! The TUI on a real cluster: starts the `tests/cluster/` kube-apiserver, creates namespaces,
//! service accounts, Deployments running as them and Roles/ClusterRoles/bindings (some
//! over-broad), then opens the real `kubeguard` binary with no subcommand in tmux with
//! `KUBECONFIG` pointing at the harness. The table must list every Deployment (the harness runs
//! no controllers, so there are no pods) with its service account, bound roles, risk marker and
//! exposure; the detail view shows the effective rules; objects created while the TUI runs show
//! up without a restart (watch-backed live inventory), and audit batches the apiserver sends
//! to kubeguard's webhook receiver (mTLS + bearer token) grow the API column live
//! (`--cluster --audit-log <receiver folder>`, re-read when it changes).
//!
//! Needs tmux (tests/tui/setup.sh) and Go (tests/cluster/setup.sh): fails under CI=true when
//! either is missing, skips with a reason elsewhere.

mod common;

use std::time::Instant;

use common::harness::{self, Harness, admin_apply, deployment, namespace, role, role_binding, service_account};
use common::tmux::{Session, ensure_tmux};
use serde_json::{Value, json};

fn fixtures() -> Vec<Value> {
    vec![
        namespace("payments"),
        namespace("reports"),
        service_account("payments", "api"),
        service_account("payments", "worker"),
        service_account("reports", "reporter"),
        // api: everything in its namespace.
        role("payments", "api-all", json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
        role_binding("payments", "api-all", "Role", "api-all", "payments", "api"),
        // worker: reads secrets, plus a ClusterRole bound in its namespace.
        role(
            "payments",
            "secrets-reader",
            json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]),
        ),
        role_binding("payments", "secrets-reader", "Role", "secrets-reader", "payments", "worker"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "pod-viewer"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}),
        role_binding("payments", "worker-pods", "ClusterRole", "pod-viewer", "payments", "worker"),
        // reporter: cluster-wide exec through a ClusterRoleBinding.
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reporter-exec"},
            "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "reporter-exec"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reporter-exec"},
            "subjects": [{"kind": "ServiceAccount", "namespace": "reports", "name": "reporter"}]}),
        deployment("payments", "api", "api"),
        deployment("payments", "worker", "worker"),
        deployment("payments", "idle", "default"),
        deployment("reports", "reporter", "reporter"),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "payments", "name": "api"},
            "spec": {"type": "NodePort", "selector": {"app": "api"}, "ports": [{"port": 80}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"namespace": "payments", "name": "worker-in"},
            "spec": {"podSelector": {"matchLabels": {"app": "worker"}}, "policyTypes": ["Ingress"]}}),
    ]
}

/// The table line of `ns/name` (namespace, kind and name columns).
fn row<'a>(screen: &'a str, ns: &str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            let cells: Vec<&str> = l.trim_start_matches(['│', '>', ' ']).split_whitespace().collect();
            cells.len() > 3 && cells[0] == ns && cells[1] == "Deployment" && cells[2] == name
        })
        .unwrap_or_else(|| panic!("no row for {ns}/{name}:\n{screen}"))
}

/// The API column of the `payments/<name>` row (third cell from the end: API, PEERS, WINDOW).
fn api_calls(screen: &str, name: &str) -> String {
    let line = row(screen, "payments", name).trim_end_matches(['│', ' ']);
    let cells: Vec<&str> = line.split_whitespace().collect();
    cells[cells.len() - 3].to_string()
}

#[test]
fn tui_lists_harness_workloads_with_their_rbac() {
    if !ensure_tmux() {
        return;
    }
    let bin = match harness::setup() {
        Ok(b) => b,
        Err(reason) => {
            common::prerequisite_missing("tui_cluster", &reason);
            return;
        }
    };
    let t0 = Instant::now();
    let state = tempfile::Builder::new().prefix("kubeguard-tui-cluster-").tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // The apiserver feeds kubeguard's audit webhook receiver; the TUI follows its folder.
    let webhook = rt.block_on(harness::audit_webhook(state.path(), Some("tui-webhook-token"), true));
    let stop_hook = tokio_util::sync::CancellationToken::new();
    let hook_task = rt.spawn(webhook.hook.serve(stop_hook.clone()));
    let h = Harness::start(bin, &state.path().join("apiserver"), &webhook.flags);
    let admin = rt.block_on(h.admin());
    rt.block_on(async {
        for obj in fixtures() {
            admin_apply(&admin, &obj).await;
        }
    });

    let kubeconfig = h.kubeconfig().display().to_string();
    let args = format!("--cluster --audit-log {}", webhook.out.display());
    let mut s = Session::start("cluster", 230, 40, &[("KUBECONFIG", &kubeconfig)], &args);
    let screen = s.wait_for("reporter");
    assert!(screen.contains("cluster:kube-harness"), "the live context is named:\n{screen}");
    assert!(!screen.contains("DEMO"), "fell back to the demo:\n{screen}");

    // Every service account also gets the built-in system:* ClusterRoles bound to all
    // authenticated users, so the ROLES cell shows the first role and a count; the full list
    // is in the detail view.
    let api = row(&screen, "payments", "api");
    assert!(api.contains(" api ") && api.contains("CRIT") && api.contains("[PUBLIC] api:80"), "{api}");
    let worker = row(&screen, "payments", "worker");
    assert!(worker.contains(" worker ") && worker.contains("HIGH") && worker.contains("iso/open"), "{worker}");
    let reporter = row(&screen, "reports", "reporter");
    assert!(reporter.contains("reporter-exec") && reporter.contains("HIGH"), "{reporter}");
    let idle = row(&screen, "payments", "idle");
    assert!(idle.contains(" default ") && !idle.contains("CRIT") && !idle.contains("HIGH"), "{idle}");
    let roles_cell = |line: &str| line.split_whitespace().nth(5).unwrap_or_default().to_string();
    assert_ne!(roles_cell(idle), "-", "system roles reach every authenticated SA: {idle}");

    // The detail views list each workload's effective rules with the binding that grants them.
    for (filter, expect) in [
        ("worker", &["secrets-reader", "pod-viewer", "[HIGH]", "get,list core/secrets"][..]),
        ("api-all", &["payments/api-all", "[CRIT]", "via RoleBinding"][..]),
    ] {
        s.keys(&["/"]);
        s.type_text(filter);
        s.keys(&["Enter", "Enter"]);
        let detail = s.wait_for("Effective RBAC");
        for e in expect {
            assert!(detail.contains(e), "{filter}: `{e}` missing:\n{detail}");
        }
        // One at a time: an Escape followed quickly by another key reads as Alt+key.
        for k in ["Escape", "Escape", "/", "Escape"] {
            s.keys(&[k]);
        }
    }

    // Created while the TUI runs: a workload and an over-broad Role appear without a restart.
    let t = Instant::now();
    rt.block_on(async {
        for obj in [
            service_account("payments", "late"),
            role("payments", "late-admin", json!([{"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}])),
            role_binding("payments", "late-admin", "Role", "late-admin", "payments", "late"),
            deployment("payments", "late", "late"),
        ] {
            admin_apply(&admin, &obj).await;
        }
    });
    let screen = s.wait_for("Workloads (5/5)");
    let late = row(&screen, "payments", "late");
    let late = if late.contains("CRIT") {
        late.to_string()
    } else {
        // The binding may land one refresh after the Deployment.
        let screen = s.wait_for_line(|l| l.contains(" late ") && l.contains("CRIT"));
        row(&screen, "payments", "late").to_string()
    };
    assert!(late.contains(" late "), "{late}");
    eprintln!("live update shown after {:.1}s", t.elapsed().as_secs_f64());

    // Audit events arriving through the webhook grow the api workload's profile live.
    assert_eq!(api_calls(&screen, "api"), "0", "{screen}");
    let t = Instant::now();
    let token = h.mint_token("payments", "api");
    let as_api = h.sa_kubeconfig(state.path(), "payments", "api", &token);
    rt.block_on(async {
        let conn = kubeguard::sources::cluster::connect(Some(&as_api), None).await.unwrap();
        let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(conn.client, "payments");
        for _ in 0..3 {
            cms.list(&Default::default()).await.unwrap();
        }
    });
    let screen = s.wait_for_line(|l| l.contains(" api ") && l.contains("Deployment") && !l.contains(" 0      0     -"));
    let calls: u64 = api_calls(&screen, "api").parse().unwrap();
    assert!(calls >= 3, "the three lists (and the token's own calls) are counted: {calls}\n{screen}");
    eprintln!("webhook batch shown after {:.1}s", t.elapsed().as_secs_f64());

    s.send(&["q"]);
    s.wait_for("EXITED 0");
    // Stop the apiserver first: it flushes its last audit batch to the still-running receiver.
    let stopped = h.stop();
    stop_hook.cancel();
    let stats = rt.block_on(hook_task).unwrap().unwrap();
    assert!(stats.events > 0 && stats.rejected == 0, "{stats:?}");
    eprintln!("tui_cluster: {:.1}s (harness stop {:.1}s)", t0.elapsed().as_secs_f64(), stopped.as_secs_f64());
}
