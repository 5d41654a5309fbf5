//! The workloads table, precomputed once per snapshot: one `WorkloadRow` per workload with every
//! column already formatted, plus a lower-case haystack for the filter. Rendering only slices
//! visible rows out of this; filtering and sorting produce an index vector. No work per row per
//! frame.
//!
//! Must not: render, or keep references into the snapshot (rows are owned, `Arc`-shared).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Evidence, FlowEndpoint, Severity, Subject, Timestamp, WorkloadKind, WorkloadRef};
use crate::snapshot::Snapshot;

use super::facts::{BindingIndex, rule_badge, selector_matches, severity_badge};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Selected by at least one policy of that direction.
    Isolated,
    Open,
}

pub const COLUMNS: &[&str] = &[
    "NAMESPACE",
    "KIND",
    "NAME",
    "SA",
    "ROLES",
    "RULES",
    "RISK",
    "NETPOL in/eg",
    "SERVICES",
    "API",
    "PEERS",
    "WINDOW",
];

/// Column indices in `COLUMNS`.
pub mod col {
    pub const NAMESPACE: usize = 0;
    pub const KIND: usize = 1;
    pub const NAME: usize = 2;
    pub const SA: usize = 3;
    pub const ROLES: usize = 4;
    pub const RULES: usize = 5;
    pub const RISK: usize = 6;
    pub const NETPOL: usize = 7;
    pub const SERVICES: usize = 8;
    pub const API: usize = 9;
    pub const PEERS: usize = 10;
    pub const WINDOW: usize = 11;
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadRow {
    pub id: WorkloadRef,
    pub service_account: String,
    pub roles: Vec<String>,
    pub rule_count: usize,
    pub risk: Option<Severity>,
    pub ingress: Isolation,
    pub egress: Isolation,
    pub policies: Vec<String>,
    pub services: Vec<String>,
    /// Exposed outside the cluster (NodePort / LoadBalancer Service).
    pub public: bool,
    pub api_calls: u64,
    pub peers: usize,
    pub window: (Timestamp, Timestamp),
    pub cells: Vec<String>,
    pub haystack: String,
}

fn compact_count(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// `3d4h`, `5h12m`, `42s`, or `-` when unknown.
pub fn window_text(w: (Timestamp, Timestamp)) -> String {
    if w.0.0 == 0 || w.1.0 == 0 {
        return "-".to_string();
    }
    let secs = (w.1.0 - w.0.0).max(0) / 1_000_000;
    let (d, h, m) = (secs / 86_400, (secs % 86_400) / 3_600, (secs % 3_600) / 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

fn endpoint_key(e: &FlowEndpoint) -> Option<(String, String, String)> {
    match e {
        FlowEndpoint::Workload { namespace, kind, name, .. } => Some((namespace.clone(), kind.clone(), name.clone())),
        _ => None,
    }
}

/// Build every row of the table from a snapshot.
pub fn build(snapshot: &Snapshot) -> Vec<WorkloadRow> {
    let inv = &snapshot.inventory;
    let bindings = BindingIndex::new(inv);
    // flows: peers and window per workload, in one pass
    let mut peers: BTreeMap<(String, String, String), (BTreeSet<String>, Evidence)> = BTreeMap::new();
    for (c, ev) in &snapshot.observed.flows.connections {
        for (me, other) in [(&c.source, &c.destination), (&c.destination, &c.source)] {
            if let Some(k) = endpoint_key(me) {
                let e = peers.entry(k).or_default();
                e.0.insert(other.to_string());
                e.1.merge(ev);
            }
        }
    }
    let mut policies_by_ns: BTreeMap<&str, Vec<&crate::model::inventory::Sourced<_>>> = BTreeMap::new();
    for p in &inv.network_policies {
        policies_by_ns.entry(p.object.metadata.namespace.as_deref().unwrap_or("")).or_default().push(p);
    }
    let mut services_by_ns: BTreeMap<&str, Vec<&crate::model::inventory::Sourced<_>>> = BTreeMap::new();
    for s in &inv.services {
        services_by_ns.entry(s.object.metadata.namespace.as_deref().unwrap_or("")).or_default().push(s);
    }
    let empty = BTreeMap::new();
    inv.workloads
        .iter()
        .map(|w| {
            let ns = w.id.namespace.as_str();
            let labels = w.template.metadata.as_ref().and_then(|m| m.labels.as_ref()).unwrap_or(&empty);
            let bound = bindings.for_service_account(ns, &w.service_account);
            let roles: Vec<String> =
                bound.iter().map(|b| b.role.clone()).collect::<BTreeSet<_>>().into_iter().collect();
            let rule_count: usize = bound.iter().map(|b| b.rules.len()).sum();
            let risk = bound.iter().flat_map(|b| b.rules.iter().map(rule_badge)).max();
            let (mut ingress, mut egress) = (Isolation::Open, Isolation::Open);
            let mut policies = Vec::new();
            for p in policies_by_ns.get(ns).into_iter().flatten() {
                let np: &k8s_openapi::api::networking::v1::NetworkPolicy = &p.object;
                let Some(spec) = &np.spec else { continue };
                if !selector_matches(&spec.pod_selector.clone().unwrap_or_default(), labels) {
                    continue;
                }
                let types: Vec<String> = spec.policy_types.clone().unwrap_or_else(|| {
                    let mut t = vec!["Ingress".to_string()];
                    if spec.egress.is_some() {
                        t.push("Egress".to_string());
                    }
                    t
                });
                if types.iter().any(|t| t == "Ingress") {
                    ingress = Isolation::Isolated;
                }
                if types.iter().any(|t| t == "Egress") {
                    egress = Isolation::Isolated;
                }
                policies.push(np.metadata.name.clone().unwrap_or_default());
            }
            let mut services = Vec::new();
            let mut public = false;
            for s in services_by_ns.get(ns).into_iter().flatten() {
                let svc: &k8s_openapi::api::core::v1::Service = &s.object;
                let Some(spec) = &svc.spec else { continue };
                let Some(sel) = spec.selector.as_ref().filter(|s| !s.is_empty()) else { continue };
                if sel.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                    continue;
                }
                let ports: Vec<String> = spec.ports.iter().flatten().map(|p| p.port.to_string()).collect();
                let name = svc.metadata.name.clone().unwrap_or_default();
                services.push(if ports.is_empty() { name } else { format!("{name}:{}", ports.join(",")) });
                if matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer")) {
                    public = true;
                }
            }
            let subject = Subject::ServiceAccount { namespace: ns.to_string(), name: w.service_account.clone() };
            let profile = snapshot.observed.api.get(&subject);
            let api_calls = profile.map(|p| p.total_requests()).unwrap_or(0);
            let mut window = Evidence::default();
            if let Some(p) = profile {
                let (f, l) = p.window();
                window.merge(&Evidence { count: 0, first_seen: f, last_seen: l, example: None });
            }
            let key = (ns.to_string(), w.id.kind.as_str().to_string(), w.id.name.clone());
            let (peer_count, flow_ev) = match peers.get(&key) {
                Some((set, ev)) => (set.len(), Some(ev)),
                None => (0, None),
            };
            if let Some(ev) = flow_ev {
                window.merge(ev);
            }
            let win = (window.first_seen, window.last_seen);
            let iso = |i: Isolation| if i == Isolation::Isolated { "iso" } else { "open" };
            let mut svc_cell = services.join(" ");
            if public {
                svc_cell = format!("[PUBLIC] {svc_cell}");
            }
            let cells = vec![
                ns.to_string(),
                w.id.kind.as_str().to_string(),
                w.id.name.clone(),
                w.service_account.clone(),
                match roles.len() {
                    0 => "-".to_string(),
                    1 => short_role(&roles[0]),
                    n => format!("{} +{}", short_role(&roles[0]), n - 1),
                },
                rule_count.to_string(),
                severity_badge(risk).to_string(),
                format!("{}/{}", iso(ingress), iso(egress)),
                if svc_cell.is_empty() { "-".to_string() } else { svc_cell },
                compact_count(api_calls),
                peer_count.to_string(),
                window_text(win),
            ];
            let haystack = format!(
                "{} {} {} {} {} {}",
                ns,
                w.id.kind.as_str(),
                w.id.name,
                w.service_account,
                roles.join(" "),
                services.join(" ")
            )
            .to_lowercase();
            WorkloadRow {
                id: w.id.clone(),
                service_account: w.service_account.clone(),
                roles,
                rule_count,
                risk,
                ingress,
                egress,
                policies,
                services,
                public,
                api_calls,
                peers: peer_count,
                window: win,
                cells,
                haystack,
            }
        })
        .collect()
}

fn short_role(r: &str) -> String {
    r.rsplit(['/', ' ']).next().unwrap_or(r).to_string()
}

/// Sort orders of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Namespace,
    Name,
    Kind,
    Risk,
    Api,
}

/// Narrowing beyond the text filter (`:deploy`, `:sa x`, `:role`, `:netpol`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    pub namespace: Option<String>,
    pub kind: Option<WorkloadKind>,
    pub service_account: Option<String>,
    pub with_roles: bool,
    pub with_policies: bool,
}

/// The text filter: case-insensitive substring, `!` prefix inverts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub text: String,
}

impl Filter {
    pub fn matches(&self, row: &WorkloadRow) -> bool {
        let t = self.text.trim();
        if let Some(neg) = t.strip_prefix('!') {
            let neg = neg.to_lowercase();
            return neg.is_empty() || !row.haystack.contains(&neg);
        }
        t.is_empty() || row.haystack.contains(&t.to_lowercase())
    }
}

/// Indices of the rows to show, in display order.
pub fn select(rows: &[WorkloadRow], scope: &Scope, filter: &Filter, sort: SortKey, desc: bool) -> Vec<usize> {
    let mut idx: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            scope.namespace.as_ref().is_none_or(|n| &r.id.namespace == n)
                && scope.kind.is_none_or(|k| r.id.kind == k)
                && scope.service_account.as_ref().is_none_or(|s| &r.service_account == s)
                && (!scope.with_roles || !r.roles.is_empty())
                && (!scope.with_policies || !r.policies.is_empty())
                && filter.matches(r)
        })
        .map(|(i, _)| i)
        .collect();
    idx.sort_by(|&a, &b| {
        let (ra, rb) = (&rows[a], &rows[b]);
        let by_id = || (&ra.id.namespace, &ra.id.name, ra.id.kind).cmp(&(&rb.id.namespace, &rb.id.name, rb.id.kind));
        let o = match sort {
            SortKey::Namespace => by_id(),
            SortKey::Name => ra.id.name.cmp(&rb.id.name).then_with(by_id),
            SortKey::Kind => ra.id.kind.cmp(&rb.id.kind).then_with(by_id),
            SortKey::Risk => rb.risk.cmp(&ra.risk).then(rb.rule_count.cmp(&ra.rule_count)).then_with(by_id),
            SortKey::Api => rb.api_calls.cmp(&ra.api_calls).then_with(by_id),
        };
        if desc { o.reverse() } else { o }
    });
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_formats() {
        let s = 1_000_000i64;
        assert_eq!(window_text((Timestamp(0), Timestamp(5))), "-");
        assert_eq!(window_text((Timestamp(s), Timestamp(s + 42 * s))), "42s");
        assert_eq!(window_text((Timestamp(s), Timestamp(s + 90_000 * s))), "1d1h");
    }

    #[test]
    fn filter_inverts_with_bang() {
        let row = WorkloadRow {
            id: WorkloadRef { namespace: "shop".into(), kind: WorkloadKind::Deployment, name: "cart".into() },
            service_account: "cart".into(),
            roles: vec![],
            rule_count: 0,
            risk: None,
            ingress: Isolation::Open,
            egress: Isolation::Open,
            policies: vec![],
            services: vec![],
            public: false,
            api_calls: 0,
            peers: 0,
            window: (Timestamp(0), Timestamp(0)),
            cells: vec![],
            haystack: "shop deployment cart cart".into(),
        };
        assert!(Filter { text: "CART".into() }.matches(&row));
        assert!(!Filter { text: "!cart".into() }.matches(&row));
        assert!(Filter { text: "!web".into() }.matches(&row));
    }
}
