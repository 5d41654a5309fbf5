//! End-to-end proof against a real kube-apiserver (the `tests/cluster/` harness: k8s.io/kubernetes
//! built from source, embedded etcd, RBAC, service-account tokens, Metadata audit log and an
//! audit webhook pointed at kubeguard's own receiver).
//!
//! 1. Create namespaces, service accounts, a CRD, workloads and deliberately over-broad RBAC.
//! 2. Run workload simulators with each service account's token: discovery, list, list+watch,
//!    get by name, create, patch, subresources, 404s and forbidden attempts.
//! 3. Feed the real audit log to kubeguard, read the live inventory, refine (and create) Roles,
//!    apply them with kubeguard's apply path (server-side dry-run + confirmation).
//! 4. Replay every call: what was authorized before is authorized again. Probe a grid of
//!    requests with SubjectAccessReview before and after: every removed permission is denied
//!    by the real authorizer, and kubeguard's RBAC evaluator agrees with it on every probe.
//!
//! Needs Go (the harness is built once by `tests/cluster/setup.sh` and cached). Without it the
//! test is skipped with a reason, except under `CI=true` where it fails.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use common::harness::{self, Harness, admin_apply};

use futures::StreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use kubeguard::apply;
use kubeguard::guard::rbac::{self as g, Policy, UserInfo};
use kubeguard::model::{ApiRequest, ResourceKind, Subject, Target, TargetScope, Task};
use kubeguard::profile::Observed;
use kubeguard::snapshot::{IngestReport, Snapshot};
use kubeguard::sources::cluster::{self, ApiCatalog, Connection};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[test]
fn live_cluster_end_to_end() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bin = match harness::setup() {
        Ok(b) => b,
        Err(reason) => {
            common::prerequisite_missing("cluster_e2e", &reason);
            return;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    rt.block_on(run(bin));
}

// ---------------------------------------------------------------------------------------------
// The simulated workloads

#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    path: String,
    body: Option<Value>,
}

fn call(method: &'static str, path: &str, body: Option<Value>) -> Call {
    Call { method, path: path.to_string(), body }
}

/// (namespace, service account) → the calls its workload makes.
fn simulations() -> Vec<((&'static str, &'static str), Vec<Call>)> {
    vec![
        (
            ("shop", "frontend"),
            vec![
                call("GET", "/api", None),
                call("GET", "/apis", None),
                call("GET", "/version", None),
                call("GET", "/api/v1/namespaces/shop/configmaps", None),
                call("GET", "/api/v1/namespaces/shop/configmaps?watch=1&timeoutSeconds=1", None),
                call("GET", "/api/v1/namespaces/shop/configmaps/frontend-config", None),
                call("GET", "/api/v1/namespaces/shop/configmaps/does-not-exist", None),
                call(
                    "PATCH",
                    "/api/v1/namespaces/shop/configmaps/frontend-config",
                    Some(json!({"data": {"seen": "1"}})),
                ),
                call(
                    "POST",
                    "/api/v1/namespaces/shop/configmaps",
                    Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "session-"}})),
                ),
                call("GET", "/api/v1/namespaces/shop/services/frontend", None),
                call("GET", "/apis/apps/v1/namespaces/shop/deployments/frontend/scale", None),
                call("GET", "/apis/example.com/v1/namespaces/shop/widgets", None),
                call("GET", "/api/v1/namespaces/ops/configmaps", None),
            ],
        ),
        (
            ("shop", "orders"),
            vec![
                call("GET", "/apis", None),
                call("GET", "/api/v1/namespaces/shop/secrets/orders-db", None),
                call("GET", "/api/v1/namespaces/shop/configmaps?fieldSelector=metadata.name%3Dorders-config", None),
                call(
                    "GET",
                    "/api/v1/namespaces/shop/configmaps?fieldSelector=metadata.name%3Dorders-config&watch=1&timeoutSeconds=1",
                    None,
                ),
                call("GET", "/api/v1/namespaces/shop/configmaps/orders-config", None),
                call(
                    "PATCH",
                    "/apis/apps/v1/namespaces/shop/deployments/orders/scale",
                    Some(json!({"spec": {"replicas": 2}})),
                ),
                call("POST", "/api/v1/namespaces/shop/pods/orders-worker/exec?command=ls&stdout=true", None),
                call("GET", "/api/v1/namespaces/shop/pods/orders-worker/log", None),
                call("GET", "/apis/apps/v1/namespaces/shop/deployments/missing", None),
                call("GET", "/api/v1/nodes", None),
            ],
        ),
        (
            ("ops", "monitor"),
            vec![
                call("GET", "/api", None),
                call("GET", "/apis/apps/v1", None),
                call("GET", "/api/v1/pods", None),
                call("GET", "/api/v1/pods?watch=1&timeoutSeconds=1", None),
                call("GET", "/api/v1/namespaces", None),
                call("GET", "/api/v1/nodes/node-1", None),
                call("GET", "/apis/apps/v1/deployments", None),
                call("GET", "/healthz", None),
                call("DELETE", "/api/v1/namespaces/shop/pods/orders-worker", None),
            ],
        ),
        (
            ("ops", "reporter"),
            vec![
                call("GET", "/api/v1/namespaces/ops/pods", None),
                call("GET", "/api/v1/namespaces/ops/configmaps/report-settings", None),
                call("GET", "/api/v1/namespaces/ops/services?watch=1&timeoutSeconds=1", None),
                call("GET", "/api/v1/namespaces/shop/pods", None),
            ],
        ),
    ]
}

fn fixtures() -> Vec<Value> {
    use harness::{
        config_map as cm, deployment as deploy, namespace as ns, pod, role_binding as rb, service_account as sa,
    };
    vec![
        ns("shop"),
        ns("ops"),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}}]}}),
        sa("shop", "frontend"),
        sa("shop", "orders"),
        sa("ops", "monitor"),
        sa("ops", "reporter"),
        // frontend: everything in its namespace.
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"namespace": "shop", "name": "frontend-all"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        rb("shop", "frontend-all", "Role", "frontend-all", "shop", "frontend"),
        // orders: secrets write, exec, scale.
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"namespace": "shop", "name": "orders"},
            "rules": [
                {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                {"apiGroups": [""], "resources": ["pods", "pods/exec", "pods/log"], "verbs": ["get", "list", "create"]},
                {"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "list", "watch", "update", "patch"]}]}),
        rb("shop", "orders", "Role", "orders", "shop", "orders"),
        // monitor: cluster-wide reads including secrets, plus exec and non-resource URLs.
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "monitor"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "pods/log", "pods/exec", "nodes", "namespaces", "secrets"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["get"]},
                {"nonResourceURLs": ["/healthz", "/metrics", "/logs/*"], "verbs": ["get"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "monitor"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "monitor"},
            "subjects": [{"kind": "ServiceAccount", "namespace": "ops", "name": "monitor"}]}),
        // reporter: a broad ClusterRole bound in one namespace (replaced by `create`).
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reporter-reads"},
            "rules": [{"apiGroups": ["", "apps", "batch"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]}),
        rb("ops", "reporter-reads", "ClusterRole", "reporter-reads", "ops", "reporter"),
        deploy("shop", "frontend", "frontend"),
        deploy("shop", "orders", "orders"),
        pod("shop", "orders-worker", "orders"),
        pod("ops", "monitor-agent", "monitor"),
        deploy("ops", "reporter", "reporter"),
        cm("shop", "frontend-config"),
        cm("shop", "orders-config"),
        cm("ops", "report-settings"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "shop", "name": "orders-db"}, "stringData": {"password": "not-a-real-one"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "shop", "name": "frontend"},
            "spec": {"selector": {"app": "frontend"}, "ports": [{"port": 80}]}}),
    ]
}

// ---------------------------------------------------------------------------------------------
// Plumbing

async fn perform(conn: &Connection, c: &Call) -> u16 {
    let body = c.body.as_ref().map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let content_type = if c.method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
    let req =
        http::Request::builder().method(c.method).uri(&c.path).header("content-type", content_type).body(body).unwrap();
    let resp = conn.client.send(req.map(kube::client::Body::from)).await.unwrap();
    let status = resp.status().as_u16();
    // Drain (watches end after timeoutSeconds).
    let _ = resp.into_body().collect().await;
    status
}

fn authorized(status: u16) -> bool {
    status != 401 && status != 403
}

fn user_of(ns: &str, name: &str) -> UserInfo {
    UserInfo::for_subject(&Subject::ServiceAccount { namespace: ns.into(), name: name.into() })
}

/// The probe grid: every served resource and subresource with each verb it supports, in each
/// test namespace (namespaced) or cluster-wide (cluster-scoped, and cross-namespace list/watch),
/// plus some names and non-resource URLs.
fn probes(catalog: &ApiCatalog) -> Vec<ApiRequest> {
    let groups: BTreeSet<&str> = [
        "",
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "coordination.k8s.io",
        "example.com",
        "policy",
    ]
    .into_iter()
    .collect();
    let mut out = BTreeSet::new();
    for r in &catalog.resources {
        if !groups.contains(r.group.as_str()) {
            continue;
        }
        let mut entries: Vec<(&str, &Vec<String>)> = vec![("", &r.verbs)];
        for (sub, verbs) in &r.subresources {
            entries.push((sub.as_str(), verbs));
        }
        for (sub, verbs) in entries {
            for verb in verbs {
                let scopes: Vec<&str> = if r.namespaced {
                    if sub.is_empty() && (verb == "list" || verb == "watch") {
                        vec!["shop", "ops", ""]
                    } else {
                        vec!["shop", "ops"]
                    }
                } else {
                    vec![""]
                };
                for ns in scopes {
                    let mut names = vec![""];
                    if !sub.is_empty() || ["get", "update", "patch", "delete"].contains(&verb.as_str()) {
                        names = vec![if r.plural == "secrets" { "orders-db" } else { "orders-worker" }];
                    }
                    for name in names {
                        out.insert(ApiRequest::resource(verb, &r.group, &r.plural, sub, ns, name));
                    }
                }
            }
        }
    }
    for path in ["/api", "/apis", "/version", "/healthz", "/metrics", "/logs/kube.log", "/openapi/v2"] {
        out.insert(ApiRequest::non_resource("get", path));
    }
    out.insert(ApiRequest::non_resource("post", "/metrics"));
    out.into_iter().collect()
}

async fn sar(conn: &Connection, user: &UserInfo, req: &ApiRequest) -> bool {
    let mut spec = SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        groups: Some(user.groups.clone()),
        ..SubjectAccessReviewSpec::default()
    };
    match &req.path {
        Some(p) => {
            spec.non_resource_attributes =
                Some(NonResourceAttributes { path: Some(p.clone()), verb: Some(req.verb.clone()) })
        }
        None => {
            spec.resource_attributes = Some(ResourceAttributes {
                group: Some(req.api_group.clone()),
                resource: Some(req.resource.clone()),
                subresource: Some(req.subresource.clone()).filter(|s| !s.is_empty()),
                namespace: Some(req.namespace.clone()).filter(|s| !s.is_empty()),
                name: Some(req.name.clone()).filter(|s| !s.is_empty()),
                verb: Some(req.verb.clone()),
                ..ResourceAttributes::default()
            })
        }
    }
    let api: Api<SubjectAccessReview> = Api::all(conn.client.clone());
    let review = SubjectAccessReview { spec, ..SubjectAccessReview::default() };
    let r = api.create(&PostParams::default(), &review).await.unwrap();
    r.status.map(|s| s.allowed).unwrap_or(false)
}

/// Ask the real authorizer about every (subject, probe) and compare with kubeguard's evaluator
/// over `policy`. Returns the real decisions and the disagreements.
async fn differential(
    conn: &Connection,
    policy: &Policy,
    subjects: &[(&str, &str)],
    grid: &[ApiRequest],
) -> (BTreeMap<(String, ApiRequest), bool>, Vec<String>) {
    let mut work = Vec::new();
    for (ns, name) in subjects {
        for p in grid {
            work.push((format!("{ns}/{name}"), user_of(ns, name), p.clone()));
        }
    }
    let results: Vec<(String, UserInfo, ApiRequest, bool)> = futures::stream::iter(work)
        .map(|(who, user, req)| async move {
            let allowed = sar(conn, &user, &req).await;
            (who, user, req, allowed)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut real = BTreeMap::new();
    let mut disagreements = Vec::new();
    for (who, user, req, allowed) in results {
        let ours = policy.allows(&user, &req);
        if ours != allowed {
            disagreements.push(format!("{who}: {req}: apiserver {allowed}, kubeguard {ours}"));
        }
        real.insert((who, req), allowed);
    }
    disagreements.sort();
    (real, disagreements)
}

async fn live_policy(conn: &Connection) -> (kubeguard::model::Inventory, Policy) {
    let inv = cluster::load_from(conn, None).await.unwrap();
    let parsed = g::parse_objects(&g::inventory_values(&inv), true);
    let policy = parsed.policy();
    (inv, policy)
}

// ---------------------------------------------------------------------------------------------

async fn run(bin: PathBuf) {
    let state = tempfile::Builder::new().prefix("kubeguard-e2e-").tempdir().unwrap();
    let dir = state.path().to_path_buf();

    // kubeguard's audit webhook receiver, fed by the apiserver's webhook backend, which must
    // authenticate with a client certificate and a bearer token.
    let webhook = harness::audit_webhook(&dir, Some("e2e-webhook-token"), true).await;
    let stop_hook = CancellationToken::new();
    let hook_task = tokio::spawn(webhook.hook.serve(stop_hook.clone()));
    let apiserver_dir = dir.join("apiserver");
    let extra = webhook.flags;
    let harness = Harness::start(bin, &apiserver_dir, &extra);
    let admin = harness.admin().await;

    for obj in fixtures() {
        admin_apply(&admin, &obj).await;
    }

    // Simulators, each with its own service-account token.
    let sims = simulations();
    let mut clients = BTreeMap::new();
    for ((ns, name), _) in &sims {
        let token = harness.mint_token(ns, name);
        let kc = harness.sa_kubeconfig(&dir, ns, name, &token);
        clients.insert((*ns, *name), cluster::connect(Some(&kc), None).await.unwrap());
    }
    let mut before: Vec<((&str, &str), Call, u16)> = Vec::new();
    for ((ns, name), calls) in &sims {
        for c in calls {
            let status = perform(&clients[&(*ns, *name)], c).await;
            before.push(((ns, name), c.clone(), status));
        }
    }
    let forbidden = before.iter().filter(|(_, _, s)| *s == 403).count();
    let not_found = before.iter().filter(|(_, _, s)| *s == 404).count();
    assert!(forbidden >= 4 && not_found >= 3, "the simulators must include forbidden and 404 calls: {before:?}");

    // Evidence: the real audit log, and the live inventory.
    let (inventory, policy_before) = live_policy(&admin).await;
    assert!(inventory.workloads.iter().any(|w| w.id.name == "orders-worker" && w.service_account == "orders"));
    assert!(inventory.roles.iter().all(|r| r.raw["metadata"].get("managedFields").is_none()));
    let audit_log = apiserver_dir.join("audit.log");
    let (api, audit_stats) =
        kubeguard::sources::audit::ingest(std::slice::from_ref(&audit_log), &inventory, false, &|_| {}).unwrap();
    assert_eq!(audit_stats.malformed, 0, "{:?}", audit_stats.errors);
    let snapshot = Snapshot {
        label: format!("cluster:{}", admin.context),
        inventory,
        observed: Observed { api, ..Observed::default() },
        report: IngestReport { audit: audit_stats, ..IngestReport::default() },
    };

    // Recommendations: refine the three bound service accounts, create for the reporter.
    let catalog = cluster::discover(&admin).await.unwrap();
    assert!(
        catalog.get("example.com", "widgets").is_some_and(|w| w.namespaced && w.subresources.contains_key("scale"))
    );
    let mut manifests = Vec::new();
    let mut prune = Vec::new();
    let mut removed_lines = 0;
    for (ns, name, task) in [
        ("shop", "frontend", Task::Refine),
        ("shop", "orders", Task::Refine),
        ("ops", "monitor", Task::Refine),
        ("ops", "reporter", Task::Create),
    ] {
        let target = Target {
            scope: TargetScope::Subject(Subject::ServiceAccount { namespace: ns.into(), name: name.into() }),
            kind: ResourceKind::Role,
            task,
        };
        let rec = kubeguard::synth::rbac::recommend(&snapshot, &target).unwrap();
        assert!(rec.verdict.is_complete_coverage(), "{target}: {:?}", rec.verdict.uncovered);
        removed_lines += rec.removed.len();
        prune.extend(apply::pruned(&rec.original, &rec.manifests));
        manifests.extend(rec.manifests);
    }
    // The reporter's new Role replaces its broad binding.
    prune.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"namespace": "ops", "name": "reporter-reads"}}));

    let subjects: Vec<(&str, &str)> = sims.iter().map(|(s, _)| *s).collect();
    let grid = probes(&catalog);
    let t = Instant::now();
    let (real_before, dis_before) = differential(&admin, &policy_before, &subjects, &grid).await;
    eprintln!("access reviews before apply: {} in {:.1}s", real_before.len(), t.elapsed().as_secs_f64());

    // Apply with kubeguard's own path: a "no" writes nothing, then "y" applies.
    let mut shown = Vec::new();
    let declined =
        apply::apply_with_prune(&admin, &manifests, &prune, &mut "n\n".as_bytes(), &mut shown).await.unwrap();
    assert!(!declined.confirmed && declined.applied.is_empty() && !declined.dry_run.is_empty());
    let prompt = String::from_utf8(shown).unwrap();
    assert!(prompt.contains(&format!("context {:?}", admin.context)) && prompt.contains("shop"), "{prompt}");
    let mut shown = Vec::new();
    let report = apply::apply_with_prune(&admin, &manifests, &prune, &mut "y\n".as_bytes(), &mut shown).await.unwrap();
    assert!(report.confirmed && report.applied.len() == report.dry_run.len(), "{report:?}");

    // Replay: everything authorized before is authorized again.
    let mut replayed = 0;
    let mut regressions = Vec::new();
    for (who, c, status) in &before {
        let now = perform(&clients[who], c).await;
        replayed += 1;
        if authorized(*status) && !authorized(now) {
            regressions.push(format!("{who:?} {} {}: {status} → {now}", c.method, c.path));
        }
    }
    assert!(regressions.is_empty(), "calls that worked before are refused now: {regressions:#?}");

    // Access reviews after apply: removed permissions are denied; the evaluator agrees.
    let (_, policy_after) = live_policy(&admin).await;
    let t = Instant::now();
    let (real_after, dis_after) = differential(&admin, &policy_after, &subjects, &grid).await;
    eprintln!("access reviews after apply: {} in {:.1}s", real_after.len(), t.elapsed().as_secs_f64());
    let mut removed = 0;
    let mut gained = Vec::new();
    for (k, was) in &real_before {
        let now = real_after[k];
        if *was && !now {
            removed += 1;
        }
        if !*was && now {
            gained.push(format!("{}: {}", k.0, k.1));
        }
    }
    assert!(gained.is_empty(), "applying recommendations granted new permissions: {gained:#?}");
    assert!(removed > 100, "expected the over-broad grants to shrink, {removed} probes flipped to denied");
    // The webhook received the same stream.
    // Stopping the apiserver flushes its last batch to the still-running receiver.
    let stopped = harness.stop();
    eprintln!("harness stop: {:.1}s", stopped.as_secs_f64());
    stop_hook.cancel();
    let hook_stats = hook_task.await.unwrap().unwrap();
    let webhook_log = std::fs::read_to_string(dir.join("webhook/audit.jsonl")).unwrap();
    assert!(hook_stats.events > 0 && webhook_log.contains("system:serviceaccount:shop:orders"));
    assert_eq!(hook_stats.rejected, 0, "the apiserver authenticates (client certificate + token): {hook_stats:?}");
    // The receiver's rotating folder is an audit input like any other.
    let (hooked, hooked_stats) =
        kubeguard::sources::audit::ingest(&[dir.join("webhook")], &snapshot.inventory, false, &|_| {}).unwrap();
    assert_eq!(hooked_stats.malformed, 0, "{:?}", hooked_stats.errors);
    for (ns, name) in &subjects {
        let sa = Subject::ServiceAccount { namespace: ns.to_string(), name: name.to_string() };
        assert!(hooked.get(&sa).is_some_and(|p| p.total_requests() > 0), "{sa:?} missing from the webhook log");
    }

    let total_reviews = real_before.len() + real_after.len();
    let disagreements: Vec<&String> = dis_before.iter().chain(dis_after.iter()).collect();
    eprintln!(
        "cluster e2e: {} calls replayed ({} forbidden, {} not found before); {} access reviews, {} disagreements; \
         {} probes flipped to denied; {} removed-permission lines; webhook {} events in {} batches",
        replayed,
        forbidden,
        not_found,
        total_reviews,
        disagreements.len(),
        removed,
        removed_lines,
        hook_stats.events,
        hook_stats.batches
    );
    assert!(disagreements.is_empty(), "kubeguard's evaluator disagrees with the apiserver: {disagreements:#?}");
}
