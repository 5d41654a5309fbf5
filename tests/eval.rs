//! End-to-end tests of `kubeguard eval` from the binary on the corpus under
//! `tests/data/corpus/`. The engine's scores are not asserted (they are what eval measures);
//! what is asserted is engine-independent: the ground-truth unit counts (tp + fn), hand-computed
//! from the truth manifests, the output formats, determinism and usage errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn kubeguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubeguard"))
        .args(args)
        .env("KUBEGUARD_CONFIG", "/nonexistent/kubeguard-test-config.toml")
        .output()
        .expect("binary runs")
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus")
}

/// A corpus with only the apps that do not reference shared data.
fn local_corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for app in ["bookinfo", "controllers"] {
        copy(&corpus().join(app), &dir.path().join(app));
    }
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() { copy(&p, &dest) } else { std::fs::copy(&p, &dest).map(|_| ()).unwrap() }
    }
}

fn run_json(dir: &Path) -> Value {
    let o = kubeguard(&["eval", "--corpus", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn truth_size(report: &Value, app: &str, task: &str, kind: &str, unit: &str) -> u64 {
    let u = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["app"] == app && u["task"] == task && u["kind"] == kind && u["unit"] == unit)
        .unwrap_or_else(|| panic!("no unit {app} {task} {kind} {unit}"));
    u["counts"]["tp"].as_u64().unwrap() + u["counts"]["fn"].as_u64().unwrap()
}

#[test]
fn truth_units_match_hand_counts_in_both_tasks() {
    let dir = local_corpus();
    let r = run_json(dir.path());
    for task in ["create", "refine"] {
        // bookinfo: details ← productpage:9080, details → kube-dns:53/UDP.
        assert_eq!(truth_size(&r, "bookinfo", task, "networkpolicy", "Deployment default/details-v1"), 2);
        // ratings ← reviews-v2, reviews-v3; → kube-dns.
        assert_eq!(truth_size(&r, "bookinfo", task, "networkpolicy", "Deployment default/ratings-v1"), 3);
        // reviews-v2 ← productpage; → ratings:9080, kube-dns.
        assert_eq!(truth_size(&r, "bookinfo", task, "networkpolicy", "Deployment default/reviews-v2"), 3);
        // external-dns ClusterRole over 4 namespaces (default, kube-system, controllers, shop):
        // services/endpoints/pods × get/watch/list = 9 × 4; ingresses in 2 groups × 3 verbs × 4;
        // nodes list/watch cluster-scoped = 2 → 62.
        assert_eq!(truth_size(&r, "controllers", task, "role", "ServiceAccount controllers/external-dns"), 62);
        // widget-operator: leader-election Role in controllers (configmaps 7 + leases 7 + events 2 = 16)
        // + manager ClusterRole ×4 namespaces (widgets 5 + widgets/status 3 + events 2 = 10 × 4 = 40),
        // events create/patch in controllers counted once → 16 + 40 − 2 = 54.
        assert_eq!(truth_size(&r, "controllers", task, "role", "ServiceAccount controllers/widget-operator"), 54);
    }
    // Deployment facts: reloader runAsNonRoot, runAsUser, seccomp = 3; external-dns container
    // runAsNonRoot, runAsUser, runAsGroup, seccomp (from the pod), readOnlyRootFilesystem,
    // allowPrivilegeEscalation false, drop ALL + pod fsGroup = 8 (privileged: false is the
    // default, no fact); widget-operator runAsNonRoot, seccomp, allowPrivilegeEscalation, drop
    // ALL + 4 resource quantities = 8.
    for (w, n) in [("reloader", 3), ("external-dns", 8), ("widget-operator", 8)] {
        assert_eq!(truth_size(&r, "controllers", "create", "deployment", &format!("Deployment controllers/{w}")), n);
    }
    // Rows: one corpus total per task × kind that has units.
    let rows = r["rows"].as_array().unwrap();
    assert!(rows.iter().any(|x| x["app"] == "*" && x["task"] == "refine" && x["kind"] == "role"));
    for x in rows {
        for k in ["micro", "macro_"] {
            for m in ["precision", "recall", "f1"] {
                let v = x[k][m].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&v), "{k}.{m} = {v}");
            }
        }
    }
}

#[test]
fn markdown_is_deterministic_and_usage_errors_exit_2() {
    let dir = local_corpus();
    let a = kubeguard(&["eval", "--corpus", dir.path().to_str().unwrap()]);
    let b = kubeguard(&["eval", "--corpus", dir.path().to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout);
    let md = String::from_utf8_lossy(&a.stdout);
    assert!(md.contains("| (all) ") && md.contains("F1 macro") && md.contains("## Units"), "{md}");
    assert_eq!(kubeguard(&["eval"]).status.code(), Some(2));
    assert_eq!(
        kubeguard(&["eval", "--corpus", dir.path().to_str().unwrap(), "--format", "sarif"]).status.code(),
        Some(2)
    );
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(kubeguard(&["eval", "--corpus", empty.path().to_str().unwrap()]).status.code(), Some(1));
}

#[test]
fn whole_corpus_with_shared_apps() {
    if kubeguard::testsupport::shared_data("apps/online-boutique").is_none() {
        return;
    }
    let r = run_json(&corpus());
    let apps: std::collections::BTreeSet<&str> =
        r["rows"].as_array().unwrap().iter().filter_map(|x| x["app"].as_str()).collect();
    for app in [
        "aks-store-demo",
        "bookinfo",
        "controllers",
        "controllers-harness",
        "online-boutique",
        "online-boutique-callgraph",
        "sock-shop",
    ] {
        assert!(apps.contains(app), "{app} missing from {apps:?}");
    }
    // Online Boutique's shipped cartservice policy: ingress from frontend and checkoutservice on
    // 7070, egress open; the truth's egress covers every (peer, port) of the universe.
    let cart = truth_size(&r, "online-boutique", "create", "networkpolicy", "Deployment default/cartservice");
    assert!(cart > 2, "cartservice truth {cart}");
    // The call-graph truth beside it: cartservice ← frontend, checkoutservice:7070; → redis-cart:6379,
    // kube-dns = 4; loadgenerator → frontend:8080, kube-dns = 2 (no ingress).
    for (w, n) in [("cartservice", 4), ("loadgenerator", 2)] {
        let unit = format!("Deployment default/{w}");
        assert_eq!(truth_size(&r, "online-boutique-callgraph", "refine", "networkpolicy", &unit), n, "{w}");
    }
    // AKS Store Demo, hand counts from truth/networkpolicies.yaml over the universe of 9
    // workloads + kube-dns (UDP 53 observed) + world: makeline-service ← store-admin,
    // virtual-worker:3001; → rabbitmq:5672, mongodb:27017, kube-dns = 5. mongodb ← makeline = 1
    // (no egress allowed, none observed). store-front open on 8080 to all 11 peers (itself
    // included) + → kube-dns, order-service:3000, product-service:3002 = 14.
    for task in ["create", "refine"] {
        for (w, n) in [
            ("Deployment default/makeline-service", 5),
            ("StatefulSet default/mongodb", 1),
            ("Deployment default/store-front", 14),
            ("Deployment default/virtual-customer", 2),
        ] {
            assert_eq!(truth_size(&r, "aks-store-demo", task, "networkpolicy", w), n, "{task} {w}");
        }
    }
}

fn row<'a>(report: &'a Value, app: &str, engine: &str, task: &str, kind: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["app"] == app && r["engine"] == engine && r["task"] == task && r["kind"] == kind)
        .unwrap_or_else(|| panic!("no row {app} {engine} {task} {kind}"))
}

fn counts(v: &Value) -> (u64, u64, u64) {
    (v["counts"]["tp"].as_u64().unwrap(), v["counts"]["fp"].as_u64().unwrap(), v["counts"]["fn"].as_u64().unwrap())
}

#[test]
fn predicted_manifests_are_scored_with_the_same_units() {
    let dir = local_corpus();
    let corpus = dir.path().to_str().unwrap();
    let eval = |file: &Path| {
        let o = kubeguard(&[
            "eval",
            "--corpus",
            corpus,
            "--app",
            "controllers",
            "--predicted",
            file.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    // The truth itself, given as a prediction, scores perfectly on every Role unit.
    let truth = dir.path().join("controllers/truth/rbac.yaml");
    let r = eval(&truth);
    let engine = "predicted:rbac.yaml";
    assert_eq!(counts(row(&r, "controllers", engine, "create", "role")), (196, 0, 0));
    assert!(r["rows"].as_array().unwrap().iter().all(|x| x["app"] != "bookinfo"), "--app filters applications");
    // Hand-computed: reloader's truth is 80 grants (secrets, configmaps × get/list/watch = 6;
    // deployments, daemonsets, statefulsets × list/get/update/patch = 12; events create/patch = 2;
    // all × 4 namespaces). A ClusterRole `configmaps` × `*` expands to configmaps' 8 verbs × 4
    // namespaces = 32 grants, of which get/list/watch × 4 = 12 are in the truth: tp 12, fp 20,
    // fn 68. The two other controllers have no binding in the file: their input stands (no
    // binding, no grant): tp 0, fp 0, fn = their truth sizes 62 and 54.
    let file = dir.path().join("a2r.yaml");
    std::fs::write(
        &file,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cm}\n\
         rules: [{apiGroups: [''], resources: [configmaps], verbs: ['*']}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: cm}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cm}\n\
         subjects: [{kind: ServiceAccount, name: reloader, namespace: controllers}]\n",
    )
    .unwrap();
    let r = eval(&file);
    let unit = |u: &str| {
        r["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["task"] == "create" && x["kind"] == "role" && x["unit"] == u)
            .unwrap()
            .clone()
    };
    assert_eq!(counts(&unit("ServiceAccount controllers/reloader")), (12, 20, 68));
    assert_eq!(counts(&unit("ServiceAccount controllers/external-dns")), (0, 0, 62));
    assert_eq!(unit("ServiceAccount controllers/external-dns")["recommended"], false);
    assert_eq!(counts(row(&r, "controllers", "predicted:a2r.yaml", "create", "role")), (12, 20, 68 + 62 + 54));
    // --task/--kind restrict what is evaluated.
    let o = kubeguard(&[
        "eval",
        "--corpus",
        corpus,
        "--app",
        "controllers",
        "--task",
        "refine",
        "--kind",
        "deployment",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = r["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|x| x["task"] == "refine" && x["kind"] == "deployment"), "{rows:?}");
    // Unknown application and missing file are errors (exit 1).
    let o = kubeguard(&["eval", "--corpus", corpus, "--app", "nope", "--predicted", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let o = kubeguard(&["eval", "--corpus", corpus, "--predicted", "/nonexistent/roles.yaml"]);
    assert_eq!(o.status.code(), Some(1));
}
