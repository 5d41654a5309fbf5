//! Shared fixtures for the TUI tests: a small hand-built snapshot (two namespaces, RBAC with
//! a risky Role, a NetworkPolicy, a NodePort Service, audit and flow evidence), a scripted engine
//! that streams progress like a chain would, and helpers to drive `update`.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};

use kubeguard::engine::{BoxFuture, Engine, EngineError, ProgressSink};
use kubeguard::model::inventory::Sourced;
use kubeguard::model::{
    ApiRequest, Connection, Evidence, FlowEndpoint, FlowVerdict, GuardVerdict, Inventory, L4Protocol, ManifestOrigin,
    ProgressEvent, Recommendation, Severity, StepStatus, Target, Timestamp, Workload, WorkloadKind, WorkloadRef,
};
use kubeguard::snapshot::Snapshot;
use kubeguard::tui::keymap::Keymap;
use kubeguard::tui::state::{Effect, Loaded, Msg, Settings, State, update};
use kubeguard::tui::theme::ThemeSet;
use kubeguard::tui::{rows, state};

fn origin(path: &str, line: usize) -> ManifestOrigin {
    ManifestOrigin { path: path.to_string(), line, document: 0 }
}

fn sourced<T: serde::de::DeserializeOwned>(v: Value, path: &str) -> Sourced<T> {
    Sourced { object: serde_json::from_value(v.clone()).unwrap(), origin: origin(path, 1), raw: v }
}

pub fn workload(ns: &str, kind: WorkloadKind, name: &str, sa: &str, app: &str) -> Workload {
    let raw = json!({
        "apiVersion": "apps/v1", "kind": kind.as_str(),
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"serviceAccountName": sa,
                                       "containers": [{"name": app, "image": format!("example/{app}:1.0"),
                                                       "securityContext": {"allowPrivilegeEscalation": false}}]}}}
    });
    Workload {
        id: WorkloadRef { namespace: ns.to_string(), kind, name: name.to_string() },
        service_account: sa.to_string(),
        template: serde_json::from_value(raw["spec"]["template"].clone()).unwrap(),
        selector: serde_json::from_value(raw["spec"]["selector"].clone()).unwrap(),
        origin: origin(&format!("manifests/{name}.yaml"), 1),
        raw,
    }
}

pub fn cart_role() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "cart", "namespace": "shop"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "delete"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
        ]
    })
}

pub fn cart_role_refined() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "cart", "namespace": "shop"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["cart-config"]}
        ]
    })
}

pub fn snapshot() -> Snapshot {
    let mut inv = Inventory {
        workloads: vec![
            workload("db", WorkloadKind::StatefulSet, "postgres", "default", "postgres"),
            workload("shop", WorkloadKind::Deployment, "cart", "cart", "cart"),
            workload("shop", WorkloadKind::Deployment, "web", "web", "web"),
            workload("shop", WorkloadKind::CronJob, "report", "cart", "report"),
        ],
        ..Inventory::default()
    };
    inv.roles = vec![sourced(cart_role(), "manifests/rbac.yaml")];
    inv.role_bindings = vec![sourced(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "cart", "namespace": "shop"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cart"},
               "subjects": [{"kind": "ServiceAccount", "name": "cart", "namespace": "shop"}]}),
        "manifests/rbac.yaml",
    )];
    inv.cluster_roles = vec![sourced(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "web-reader"},
               "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        "manifests/rbac.yaml",
    )];
    inv.cluster_role_bindings = vec![sourced(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "web-reader"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "web-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}]}),
        "manifests/rbac.yaml",
    )];
    inv.network_policies = vec![sourced(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "cart-ingress", "namespace": "shop"},
               "spec": {"podSelector": {"matchLabels": {"app": "cart"}}, "policyTypes": ["Ingress"],
                        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                     "ports": [{"port": 8080, "protocol": "TCP"}]}]}}),
        "manifests/netpol.yaml",
    )];
    inv.services = vec![
        sourced(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}}),
            "manifests/svc.yaml",
        ),
        sourced(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cart", "namespace": "shop"},
                   "spec": {"selector": {"app": "cart"}, "ports": [{"port": 8080}]}}),
            "manifests/svc.yaml",
        ),
    ];
    let mut snap = Snapshot { label: "fixture".to_string(), inventory: inv, ..Snapshot::default() };
    let t0 = Timestamp::parse_rfc3339("2024-05-01T10:00:00Z").unwrap();
    let t1 = Timestamp::parse_rfc3339("2024-05-03T12:30:00Z").unwrap();
    let ev = |n: u64| Evidence { count: n, first_seen: t0, last_seen: t1, example: Some("audit-1".into()) };
    let sa = kubeguard::model::Subject::ServiceAccount { namespace: "shop".into(), name: "cart".into() };
    let prof = snap.observed.api.subjects.entry(sa).or_default();
    prof.allowed.insert(ApiRequest::resource("get", "", "pods", "", "shop", "cart-1"), ev(12));
    prof.allowed.insert(ApiRequest::resource("list", "", "pods", "", "shop", ""), ev(30));
    prof.denied.insert(ApiRequest::resource("create", "", "pods", "exec", "shop", "cart-1"), ev(1));
    let wl = |ns: &str, name: &str| FlowEndpoint::Workload {
        namespace: ns.into(),
        kind: "Deployment".into(),
        name: name.into(),
        labels: BTreeMap::new(),
    };
    snap.observed.flows.connections.insert(
        Connection {
            source: wl("shop", "web"),
            destination: wl("shop", "cart"),
            port: 8080,
            protocol: L4Protocol::TCP,
            verdict: FlowVerdict::Forwarded,
        },
        ev(40),
    );
    snap
}

/// A snapshot with `n` workloads spread over 50 namespaces (bench and scale tests).
pub fn big_snapshot(n: usize) -> Snapshot {
    let mut s = snapshot();
    s.inventory.workloads = (0..n)
        .map(|i| workload(&format!("ns-{:02}", i % 50), WorkloadKind::Deployment, &format!("app-{i:05}"), "cart", "x"))
        .collect();
    s
}

pub fn state_with(snapshot: Snapshot, width: u16, height: u16, theme: &str) -> State {
    let (keymap, _) = Keymap::new(&BTreeMap::new());
    let themes = ThemeSet::load(None);
    let theme = themes.get(theme).unwrap();
    let mono = theme.is_mono();
    let mut s = State::new(Settings::default(), keymap, themes, theme, mono);
    s.settings.engine = "scripted".to_string();
    update(&mut s, Msg::Resize(width, height));
    let snap = Arc::new(snapshot);
    let rows = Arc::new(rows::build(&snap));
    update(&mut s, Msg::Loaded(Ok(Loaded { snapshot: snap, rows, banner: None, context: None })));
    s
}

pub fn state() -> State {
    state_with(snapshot(), 120, 40, "dark")
}

pub fn key(s: &str) -> KeyEvent {
    let k = kubeguard::tui::keymap::Key::parse(s).unwrap();
    KeyEvent::new(k.code, k.mods)
}

/// Press keys (space-separated key names; `text:` prefix types literal text).
pub fn press(s: &mut State, keys: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    if let Some(text) = keys.strip_prefix("text:") {
        for c in text.chars() {
            fx.extend(update(s, Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))));
        }
        return fx;
    }
    for k in keys.split_whitespace() {
        fx.extend(update(s, Msg::Key(key(k))));
    }
    fx
}

pub fn recommendation(target: Target) -> Recommendation {
    Recommendation {
        target,
        engine: "scripted".to_string(),
        manifests: vec![cart_role_refined()],
        original: vec![cart_role()],
        evidence: Vec::new(),
        findings: Vec::new(),
        removed: vec![
            ("delete core/pods in shop".to_string(), Severity::Medium),
            ("get,list core/secrets in shop".to_string(), Severity::High),
        ],
        verdict: GuardVerdict {
            observed: 2,
            covered: 2,
            uncovered: Vec::new(),
            excess: Vec::new(),
            repairs: Vec::new(),
            risks: Vec::new(),
            risks_removed: vec![kubeguard::model::Finding {
                rule_id: "KG-RBAC-SECRETS-READ".into(),
                severity: Severity::High,
                subject: "Role shop/cart rules[1]".into(),
                message: "reads Secrets".into(),
            }],
        },
    }
}

/// The progress a three-step chain streams, for feeding `update` directly.
pub fn scripted_events(target: &Target) -> Vec<ProgressEvent> {
    let t = target.clone();
    vec![
        ProgressEvent::Plan {
            target: t.clone(),
            steps: vec!["analyse-manifest".into(), "analyse-logs".into(), "generate".into()],
        },
        ProgressEvent::Step { target: t.clone(), index: 0, status: StepStatus::Running, elapsed_ms: 0 },
        ProgressEvent::Prompt {
            target: t.clone(),
            index: 0,
            prompt: "You are a Kubernetes RBAC expert.\n####\n{\"kind\":\"Role\"}\n####".into(),
            template_source: "embedded".into(),
        },
        ProgressEvent::Chunk { target: t.clone(), index: 0, text: "{\"analysis_rules\": ".into() },
        ProgressEvent::Chunk { target: t.clone(), index: 0, text: "\"secrets read is unused\"}".into() },
        ProgressEvent::Tokens { target: t.clone(), index: 0, prompt: 812, completion: 64 },
        ProgressEvent::Step { target: t.clone(), index: 0, status: StepStatus::Done, elapsed_ms: 1200 },
        ProgressEvent::Step { target: t.clone(), index: 1, status: StepStatus::Running, elapsed_ms: 0 },
        ProgressEvent::Note { target: t, index: 1, text: "cache miss".into() },
    ]
}

/// Test-only engine: streams `scripted_events` with small delays, then answers with
/// `recommendation`; honours cancellation between steps.
pub struct ScriptedEngine {
    pub delay: Duration,
}

impl Engine for ScriptedEngine {
    fn name(&self) -> String {
        "scripted".to_string()
    }

    fn propose(
        &self,
        _snapshot: Arc<Snapshot>,
        target: Target,
        progress: ProgressSink,
        cancel: tokio_util::sync::CancellationToken,
    ) -> BoxFuture<Result<Recommendation, EngineError>> {
        let delay = self.delay;
        Box::pin(async move {
            for e in scripted_events(&target) {
                progress.send(e);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(EngineError::Cancelled),
                }
            }
            Ok(recommendation(target))
        })
    }
}

pub fn run_ids(fx: &[Effect]) -> Vec<(u64, Target)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::RunJob { id, target, .. } => Some((*id, target.clone())),
            _ => None,
        })
        .collect()
}

pub use state::JobEnd;
