//! The detail view's content for one workload, computed when it is opened (never per frame):
//! effective RBAC (each rule with a risk marker, the binding that grants it and whether the audit
//! log shows it used), network exposure (policies selecting it, their peers, Services, observed
//! flows), pod security posture, and the evidence behind each. Lines are semantic
//! (`Slot`-tagged text), so themes apply at render time.
//!
//! Must not: draw, or decide anything (markers come from `facts`, verdicts from `guard`).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::model::{FlowEndpoint, Severity, Subject, Workload};
use crate::snapshot::Snapshot;

use super::facts::{BindingIndex, rule_badge, rule_covers, rule_text, selector_matches, severity_badge};
use super::theme::Slot;

pub type DLine = Vec<(Slot, String)>;

/// Shown per section when the list would be longer.
pub const MAX_ITEMS: usize = 200;

fn heading(t: &str) -> DLine {
    vec![(Slot::Label, t.to_string())]
}

fn kv(k: &str, v: impl Into<String>) -> DLine {
    vec![(Slot::Muted, format!("  {k:<22}")), (Slot::Fg, v.into())]
}

fn sev_slot(s: Severity) -> Slot {
    match s {
        Severity::Critical | Severity::High => Slot::RiskHigh,
        Severity::Medium => Slot::RiskMed,
        _ => Slot::RiskLow,
    }
}

fn selector_text(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in s.match_expressions.iter().flatten() {
        parts.push(format!("{} {} ({})", e.key, e.operator, e.values.clone().unwrap_or_default().join(",")));
    }
    if parts.is_empty() { "all pods".to_string() } else { parts.join(",") }
}

fn peer_text(p: &NetworkPolicyPeer) -> String {
    let mut out = Vec::new();
    if let Some(ns) = &p.namespace_selector {
        out.push(format!("namespaces[{}]", selector_text(ns)));
    }
    if let Some(ps) = &p.pod_selector {
        out.push(format!("pods[{}]", selector_text(ps)));
    }
    if let Some(b) = &p.ip_block {
        let except = b.except.clone().unwrap_or_default();
        out.push(if except.is_empty() { b.cidr.clone() } else { format!("{} except {}", b.cidr, except.join(",")) });
    }
    out.join(" ")
}

fn ports_text(ports: &Option<Vec<NetworkPolicyPort>>) -> String {
    match ports {
        None => "all ports".to_string(),
        Some(v) if v.is_empty() => "all ports".to_string(),
        Some(v) => v
            .iter()
            .map(|p| {
                let port = match &p.port {
                    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i)) => i.to_string(),
                    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => s.clone(),
                    None => "*".to_string(),
                };
                format!("{port}/{}", p.protocol.clone().unwrap_or_else(|| "TCP".to_string()))
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Build the detail lines for `w`.
pub fn build(snapshot: &Snapshot, w: &Workload) -> Vec<DLine> {
    let inv = &snapshot.inventory;
    let ns = w.id.namespace.as_str();
    let mut out: Vec<DLine> = Vec::new();
    out.push(heading(&format!("{}", w.id)));
    out.push(kv("source", w.origin.to_string()));
    out.push(kv("service account", format!("{ns}/{}", w.service_account)));
    out.push(Vec::new());

    // RBAC
    let subject = Subject::ServiceAccount { namespace: ns.to_string(), name: w.service_account.clone() };
    let profile = snapshot.observed.api.get(&subject);
    out.push(heading("Effective RBAC"));
    let bound = BindingIndex::new(inv).for_service_account(ns, &w.service_account);
    if bound.is_empty() {
        out.push(vec![(Slot::Muted, "  no bindings reach this service account".to_string())]);
    }
    for b in &bound {
        out.push(vec![
            (Slot::Secondary, format!("  {}", b.role)),
            (Slot::Muted, format!("  via {} ({})", b.binding, b.via)),
        ]);
        if !b.role_found {
            out.push(vec![(Slot::Warning, "    role not in the inventory (rules unknown)".to_string())]);
        }
        for rule in b.rules.iter().take(MAX_ITEMS) {
            let sev = rule_badge(rule);
            let used: u64 = profile
                .map(|p| p.allowed.iter().filter(|(req, _)| rule_covers(rule, req)).map(|(_, e)| e.count).sum())
                .unwrap_or(0);
            let used_text = match (profile, used) {
                (None, _) => "[no audit]".to_string(),
                (Some(_), 0) => "[UNUSED]".to_string(),
                (Some(_), n) => format!("[used {n}x]"),
            };
            out.push(vec![
                (sev_slot(sev), format!("    [{:<4}] ", severity_badge(Some(sev)))),
                (Slot::Fg, rule_text(rule)),
                (if used > 0 { Slot::Success } else { Slot::Muted }, format!("  {used_text}")),
            ]);
        }
    }
    out.push(Vec::new());

    // Network
    out.push(heading("Network exposure"));
    let empty = BTreeMap::new();
    let labels = w.template.metadata.as_ref().and_then(|m| m.labels.as_ref()).unwrap_or(&empty);
    let mut any_policy = false;
    for p in inv.network_policies.iter().filter(|p| p.object.metadata.namespace.as_deref() == Some(ns)) {
        let Some(spec) = &p.object.spec else { continue };
        if !selector_matches(&spec.pod_selector.clone().unwrap_or_default(), labels) {
            continue;
        }
        any_policy = true;
        let name = p.object.metadata.name.clone().unwrap_or_default();
        let types = spec.policy_types.clone().unwrap_or_default().join(",");
        out.push(vec![
            (Slot::Secondary, format!("  NetworkPolicy {ns}/{name}")),
            (Slot::Muted, format!("  [{}] {}", if types.is_empty() { "Ingress" } else { &types }, p.origin)),
        ]);
        for r in spec.ingress.iter().flatten() {
            let from: Vec<String> = r.from.iter().flatten().map(peer_text).collect();
            let from = if from.is_empty() { "anywhere".to_string() } else { from.join(" | ") };
            out.push(kv("  ingress from", format!("{from} on {}", ports_text(&r.ports))));
        }
        for r in spec.egress.iter().flatten() {
            let to: Vec<String> = r.to.iter().flatten().map(peer_text).collect();
            let to = if to.is_empty() { "anywhere".to_string() } else { to.join(" | ") };
            out.push(kv("  egress to", format!("{to} on {}", ports_text(&r.ports))));
        }
    }
    if !any_policy {
        out.push(vec![(
            Slot::ExposurePublic,
            "  [OPEN] no NetworkPolicy selects it: all ingress and egress allowed".to_string(),
        )]);
    }
    for s in inv.services.iter().filter(|s| s.object.metadata.namespace.as_deref() == Some(ns)) {
        let Some(spec) = &s.object.spec else { continue };
        let Some(sel) = spec.selector.as_ref().filter(|s| !s.is_empty()) else { continue };
        if sel.iter().any(|(k, v)| labels.get(k) != Some(v)) {
            continue;
        }
        let ty = spec.type_.clone().unwrap_or_else(|| "ClusterIP".to_string());
        let public = matches!(ty.as_str(), "NodePort" | "LoadBalancer");
        let ports: Vec<String> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| format!("{}/{}", p.port, p.protocol.clone().unwrap_or_else(|| "TCP".into())))
            .collect();
        out.push(vec![
            (
                if public { Slot::ExposurePublic } else { Slot::ExposureInternal },
                format!("  [{}] ", if public { "PUBLIC" } else { "INTERNAL" }),
            ),
            (
                Slot::Fg,
                format!("Service {} ({ty}) {}", s.object.metadata.name.clone().unwrap_or_default(), ports.join(",")),
            ),
        ]);
    }
    let me = |e: &FlowEndpoint| matches!(e, FlowEndpoint::Workload { namespace, kind, name, .. } if namespace == ns && kind == w.id.kind.as_str() && *name == w.id.name);
    let mut flows: Vec<(String, u64)> = snapshot
        .observed
        .flows
        .connections
        .iter()
        .filter_map(|(c, ev)| {
            if me(&c.destination) {
                Some((format!("in  from {} → :{}/{:?} {:?}", c.source, c.port, c.protocol, c.verdict), ev.count))
            } else if me(&c.source) {
                Some((format!("out to   {} :{}/{:?} {:?}", c.destination, c.port, c.protocol, c.verdict), ev.count))
            } else {
                None
            }
        })
        .collect();
    flows.sort();
    out.push(vec![(Slot::Muted, format!("  observed flows: {}", flows.len()))]);
    for (f, n) in flows.iter().take(MAX_ITEMS) {
        out.push(vec![(Slot::Fg, format!("    {f}")), (Slot::Muted, format!("  {n}x"))]);
    }
    out.push(Vec::new());

    // Pod security posture
    out.push(heading("Pod security posture"));
    if let Some(spec) = &w.template.spec {
        let flag = |b: Option<bool>| match b {
            Some(true) => "true",
            Some(false) => "false",
            None => "unset",
        };
        out.push(kv("automount SA token", flag(spec.automount_service_account_token)));
        out.push(kv(
            "hostNetwork/PID/IPC",
            format!("{}/{}/{}", flag(spec.host_network), flag(spec.host_pid), flag(spec.host_ipc)),
        ));
        let psc = spec.security_context.as_ref();
        out.push(kv("pod runAsNonRoot", flag(psc.and_then(|s| s.run_as_non_root))));
        for v in spec.volumes.iter().flatten().filter(|v| v.host_path.is_some()) {
            out.push(vec![(Slot::RiskHigh, format!("  [HIGH] hostPath volume {}", v.name))]);
        }
        for c in &spec.containers {
            let sc = c.security_context.as_ref();
            let caps = sc.and_then(|s| s.capabilities.as_ref());
            let add = caps.and_then(|c| c.add.clone()).unwrap_or_default();
            let drop = caps.and_then(|c| c.drop.clone()).unwrap_or_default();
            out.push(vec![
                (Slot::Secondary, format!("  container {}", c.name)),
                (Slot::Muted, format!("  {}", c.image.clone().unwrap_or_default())),
            ]);
            if sc.and_then(|s| s.privileged) == Some(true) {
                out.push(vec![(Slot::RiskHigh, "    [HIGH] privileged".to_string())]);
            }
            out.push(kv("  allowPrivEscalation", flag(sc.and_then(|s| s.allow_privilege_escalation))));
            out.push(kv("  readOnlyRootFS", flag(sc.and_then(|s| s.read_only_root_filesystem))));
            out.push(kv("  runAsNonRoot", flag(sc.and_then(|s| s.run_as_non_root))));
            out.push(kv("  capabilities", format!("add [{}] drop [{}]", add.join(","), drop.join(","))));
            let limits = c
                .resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .map(|l| l.keys().cloned().collect::<Vec<_>>().join(","));
            out.push(kv("  limits", limits.unwrap_or_else(|| "none".to_string())));
        }
    }
    let runtime: Vec<String> = snapshot
        .observed
        .runtime
        .containers
        .iter()
        .filter(|(c, _)| c.workload == w.id)
        .flat_map(|(c, obs)| obs.iter().map(move |(o, e)| format!("{} {:?} ({}x)", c.container, o, e.count)))
        .collect();
    out.push(vec![(Slot::Muted, format!("  runtime observations: {}", runtime.len()))]);
    for r in runtime.iter().take(MAX_ITEMS) {
        out.push(vec![(Slot::Fg, format!("    {r}"))]);
    }
    out.push(Vec::new());

    // Evidence
    out.push(heading("API evidence (audit)"));
    match profile {
        None => out.push(vec![(Slot::Muted, "  no audit events for this service account".to_string())]),
        Some(p) => {
            let (f, l) = p.window();
            out.push(kv("window", format!("{} → {}", f.to_rfc3339(), l.to_rfc3339())));
            for (req, ev) in p.allowed.iter().take(MAX_ITEMS) {
                out.push(vec![
                    (Slot::Success, "  allowed ".to_string()),
                    (Slot::Fg, req.to_string()),
                    (Slot::Muted, format!("  {}", ev.summary())),
                ]);
            }
            for (req, ev) in p.denied.iter().take(MAX_ITEMS) {
                out.push(vec![
                    (Slot::Error, "  DENIED  ".to_string()),
                    (Slot::Fg, req.to_string()),
                    (Slot::Muted, format!("  {}", ev.summary())),
                ]);
            }
        }
    }
    out
}
