//! Deterministic NetworkPolicy engine: *create* one least-privilege `networking.k8s.io/v1`
//! NetworkPolicy per workload from observed connections, and *refine* existing policies down
//! to what the evidence uses, never opening anything the original did not allow.
//!
//! Create: the policy selects the workload by its own `spec.selector`; `policyTypes` lists
//! only observed (or requested) directions; peers are pod + namespace selectors
//! (`kubernetes.io/metadata.name`) built from the peer workload's `spec.selector` (or its
//! observed labels minus churning ones), ipBlocks for external CIDRs, API-server and node
//! addresses (never node IPs seen on ingress); DNS egress allows UDP and TCP 53 to the observed
//! resolver; ports are the post-DNAT (pod) ports with their protocol; peers with the same ports
//! share one rule and consecutive ports merge into `endPort` ranges. Every peer carries its
//! evidence; everything that could not be expressed becomes a finding.
//!
//! Pure: reads the snapshot, returns values. The result always goes through
//! `guard::netpol::check` before it is returned.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::engine::EngineError;
use crate::guard::netpol::{
    self as guard, DEFAULT_NAMESPACE, FlowEndpointKey, NAMESPACE_NAME_LABEL, NetEndpoint, Peer, PolicySet,
    SideDecision, find_workload, is_host_network, protocol_name, resolve_endpoint, workload_endpoint,
};
use crate::model::inventory::dns_label;
use crate::model::{
    Connection, Direction, Evidence, Finding, FlowEndpoint, FlowVerdict, L4Protocol, Recommendation, ResourceKind,
    RuleEvidence, Severity, Target, TargetScope, Task, WorkloadKind, WorkloadRef,
};
use crate::snapshot::Snapshot;

/// Engine label.
pub const ENGINE: &str = "deterministic";

/// Labels never used in peer selectors (they churn across rollouts or are injected).
pub const IGNORED_PEER_LABELS: &[&str] = &[
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/created-by",
    "app.kubernetes.io/owner",
    "app.kubernetes.io/revision",
    "statefulset.kubernetes.io/pod-name",
    "scheduler.alpha.kubernetes.io/node-selector",
    "pod-template-hash",
    "controller-revision-hash",
    "pod-template-generation",
    "helm.sh/chart",
    "chart",
    "heritage",
    "security.istio.io/tlsMode",
    "service.istio.io/canonical-name",
    "service.istio.io/canonical-revision",
    "sidecar.opentelemetry.io/injected",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "controller-uid",
    "job-name",
];

/// Label put on generated policies so regeneration can find its own objects.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kubeguard");

/// Options of the NetworkPolicy engine (the contract functions use the defaults; faces take
/// them from config.toml `[netpol]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NetpolOptions {
    /// Also emit a per-namespace default-deny policy (Ingress + Egress) for the target's namespace.
    pub namespace_default_deny: bool,
    /// Isolate ingress even when no ingress was observed.
    pub force_ingress: bool,
    /// Isolate egress even when no egress was observed.
    pub force_egress: bool,
}

/// `create`: workloads with flow evidence and no policy of their own (namespace-wide `{}`
/// policies do not count). `refine`: workloads selected by at least one policy.
pub fn targets(snapshot: &Snapshot, task: Task) -> Vec<Target> {
    let policies = PolicySet::from_inventory(&snapshot.inventory);
    let mut out = BTreeSet::new();
    for wref in candidate_workloads(snapshot) {
        let pod = match snapshot.inventory.workload(&wref) {
            Some(w) => match workload_endpoint(&snapshot.inventory, w) {
                NetEndpoint::Pod(p) => Some(p),
                _ => None, // hostNetwork: policies do not apply
            },
            None => flow_only_pod(snapshot, &wref),
        };
        let Some(pod) = pod else { continue };
        let selecting: Vec<&guard::Policy> = policies.policies.iter().filter(|p| p.selects(&pod)).collect();
        let own = selecting.iter().any(|p| !selector_is_empty(&p.selector));
        let keep = match task {
            Task::Create => !own && has_evidence(snapshot, &wref),
            Task::Refine => !selecting.is_empty(),
        };
        if keep {
            out.insert(Target { scope: TargetScope::Workload(wref), kind: ResourceKind::NetworkPolicy, task });
        }
    }
    out.into_iter().collect()
}

fn selector_is_empty(s: &LabelSelector) -> bool {
    s.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Inventory workloads plus workloads seen only in flows (when their kind is a workload kind).
fn candidate_workloads(snapshot: &Snapshot) -> BTreeSet<WorkloadRef> {
    let mut out: BTreeSet<WorkloadRef> = snapshot.inventory.workloads.iter().map(|w| w.id.clone()).collect();
    for c in snapshot.observed.flows.connections.keys() {
        for e in [&c.source, &c.destination] {
            if let FlowEndpoint::Workload { namespace, kind, name, .. } = e
                && let Some(k) = WorkloadKind::parse(kind)
            {
                out.insert(WorkloadRef { namespace: namespace.clone(), kind: k, name: name.clone() });
            }
        }
    }
    out
}

fn has_evidence(snapshot: &Snapshot, wref: &WorkloadRef) -> bool {
    guard::target_connections(snapshot, wref).iter().any(|tc| tc.connection.verdict == FlowVerdict::Forwarded)
}

/// Observed labels of a workload known only from flows.
fn flow_labels(snapshot: &Snapshot, wref: &WorkloadRef) -> Option<BTreeMap<String, String>> {
    let key = guard::flow_endpoint_of(wref);
    snapshot.observed.flows.connections.keys().flat_map(|c| [&c.source, &c.destination]).find_map(|e| match e {
        FlowEndpoint::Workload { labels, .. } if FlowEndpointKey::of(e).as_ref() == Some(&key) => Some(labels.clone()),
        _ => None,
    })
}

fn flow_only_pod(snapshot: &Snapshot, wref: &WorkloadRef) -> Option<guard::PodEndpoint> {
    let labels = flow_labels(snapshot, wref)?;
    Some(guard::PodEndpoint {
        namespace: wref.namespace.clone(),
        labels,
        namespace_labels: snapshot.inventory.namespace_labels(&wref.namespace),
        ports: Vec::new(),
    })
}

/// The deterministic recommendation for one target (already checked by the guard).
pub fn recommend(snapshot: &Snapshot, target: &Target) -> Result<Recommendation, EngineError> {
    recommend_with(snapshot, target, &NetpolOptions::default())
}

pub fn recommend_with(
    snapshot: &Snapshot,
    target: &Target,
    options: &NetpolOptions,
) -> Result<Recommendation, EngineError> {
    if target.kind != ResourceKind::NetworkPolicy {
        return Err(EngineError::NotApplicable(format!("{target}: not a NetworkPolicy target")));
    }
    let TargetScope::Workload(wref) = &target.scope else {
        return Err(EngineError::NotApplicable(format!("{target}: NetworkPolicies apply to workloads")));
    };
    if let Some(w) = snapshot.inventory.workload(wref)
        && is_host_network(w)
    {
        return Err(EngineError::NotApplicable(format!(
            "{wref} uses hostNetwork: NetworkPolicy behaviour is undefined for it (it shares the node's address)"
        )));
    }
    let draft = match target.task {
        Task::Create => create(snapshot, wref, options)?,
        Task::Refine => refine(snapshot, wref)?,
    };
    let outcome = guard::check(snapshot, target, &draft.manifests, &draft.original, true);
    Ok(Recommendation {
        target: target.clone(),
        engine: ENGINE.to_string(),
        manifests: outcome.manifests,
        original: draft.original,
        evidence: draft.evidence,
        findings: draft.findings,
        removed: draft.removed,
        verdict: outcome.verdict,
    })
}

struct Draft {
    manifests: Vec<serde_json::Value>,
    original: Vec<serde_json::Value>,
    evidence: Vec<RuleEvidence>,
    findings: Vec<Finding>,
    removed: Vec<(String, Severity)>,
}

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

/// A peer as it will be written, ordered for stable output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PeerKey {
    /// Pods: (namespace when different from the policy's, matchLabels, matchExpressions as JSON).
    Pods {
        namespace: Option<String>,
        labels: BTreeMap<String, String>,
        expressions: String,
    },
    Cidr(String),
}

impl PeerKey {
    fn to_peer(&self) -> NetworkPolicyPeer {
        match self {
            PeerKey::Pods { namespace, labels, expressions } => {
                let exprs = serde_json::from_str(expressions).ok().filter(|v: &Vec<_>| !v.is_empty());
                NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector {
                        match_labels: if labels.is_empty() { None } else { Some(labels.clone()) },
                        match_expressions: exprs,
                    }),
                    namespace_selector: namespace.as_ref().map(|ns| LabelSelector {
                        match_labels: Some(BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), ns.clone())])),
                        match_expressions: None,
                    }),
                    ip_block: None,
                }
            }
            PeerKey::Cidr(c) => NetworkPolicyPeer {
                ip_block: Some(IPBlock { cidr: c.clone(), except: None }),
                pod_selector: None,
                namespace_selector: None,
            },
        }
    }
}

/// Why a peer could not be written.
enum PeerChoice {
    Peers(Vec<PeerKey>),
    Skip { severity: Severity, why: String },
}

/// The selector used for a peer workload: its own `spec.selector`, else its observed labels
/// without churning ones.
fn peer_selector(snapshot: &Snapshot, e: &FlowEndpoint) -> Option<(BTreeMap<String, String>, String)> {
    if let Some(w) = find_workload(&snapshot.inventory, e) {
        let labels = w.selector.match_labels.clone().unwrap_or_default();
        let exprs =
            serde_json::to_string(&w.selector.match_expressions.clone().unwrap_or_default()).unwrap_or_default();
        if !labels.is_empty() || exprs != "[]" {
            return Some((labels, exprs));
        }
    }
    let FlowEndpoint::Workload { labels, .. } = e else { return None };
    let filtered: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| !IGNORED_PEER_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if filtered.is_empty() { None } else { Some((filtered, "[]".to_string())) }
}

fn choose_peer(snapshot: &Snapshot, policy_ns: &str, e: &FlowEndpoint, direction: Direction) -> PeerChoice {
    let reserved_ips = &snapshot.observed.flows.reserved_ips;
    match e {
        FlowEndpoint::Workload { namespace, .. } => {
            if let Some(w) = find_workload(&snapshot.inventory, e)
                && is_host_network(w)
            {
                return PeerChoice::Skip {
                    severity: Severity::Medium,
                    why: format!(
                        "{e} uses hostNetwork: it has the node's address and no selector matches it (undefined in v1)"
                    ),
                };
            }
            match peer_selector(snapshot, e) {
                Some((labels, expressions)) => PeerChoice::Peers(vec![PeerKey::Pods {
                    namespace: (namespace != policy_ns).then(|| namespace.clone()),
                    labels,
                    expressions,
                }]),
                None => PeerChoice::Skip {
                    severity: Severity::Medium,
                    why: format!(
                        "{e} has no usable labels: it cannot be selected without selecting its whole namespace"
                    ),
                },
            }
        }
        FlowEndpoint::External { cidr } => PeerChoice::Peers(vec![PeerKey::Cidr(cidr.clone())]),
        FlowEndpoint::Unknown { ip } if !ip.is_empty() => match ip.parse::<std::net::IpAddr>() {
            Ok(a) => PeerChoice::Peers(vec![PeerKey::Cidr(IpNet::from(a).to_string())]),
            Err(_) => PeerChoice::Skip { severity: Severity::Low, why: format!("unparseable address {ip}") },
        },
        FlowEndpoint::Unknown { .. } => {
            PeerChoice::Skip { severity: Severity::Low, why: "peer without identity or address".to_string() }
        }
        FlowEndpoint::Reserved { name } => {
            let ips: Vec<String> = reserved_ips
                .get(name)
                .into_iter()
                .flatten()
                .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok())
                .map(|a| IpNet::from(a).to_string())
                .collect();
            match (name.as_str(), direction) {
                ("host", Direction::Ingress) => PeerChoice::Skip {
                    severity: Severity::Info,
                    why: "ingress from the pod's own node (kubelet probes) is always allowed; no node ipBlock emitted"
                        .to_string(),
                },
                ("remote-node", Direction::Ingress) => PeerChoice::Skip {
                    severity: Severity::Medium,
                    why: "ingress from other nodes (remote-node) is not turned into node-IP ipBlocks; allow it explicitly if it is needed (webhooks, NodePort)".to_string(),
                },
                ("kube-apiserver", _) | ("host" | "remote-node", Direction::Egress) if !ips.is_empty() => {
                    PeerChoice::Peers(ips.into_iter().map(PeerKey::Cidr).collect())
                }
                (n, _) => PeerChoice::Skip {
                    severity: if n == "kube-apiserver" { Severity::High } else { Severity::Medium },
                    why: format!("reserved:{n} has no observed address; a v1 NetworkPolicy can only name it by ipBlock"),
                },
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/// Ports of one rule: sorted, consecutive numbers merged into ranges.
fn port_entries(ports: &BTreeSet<(L4Protocol, u16)>) -> Vec<NetworkPolicyPort> {
    let mut out = Vec::new();
    let mut by_proto: BTreeMap<L4Protocol, Vec<u16>> = BTreeMap::new();
    for (p, n) in ports {
        by_proto.entry(*p).or_default().push(*n);
    }
    for (proto, nums) in by_proto {
        let mut i = 0;
        while i < nums.len() {
            let start = nums[i];
            let mut end = start;
            while i + 1 < nums.len() && nums[i + 1] == end.saturating_add(1) {
                end = nums[i + 1];
                i += 1;
            }
            out.push(NetworkPolicyPort {
                protocol: Some(protocol_name(proto).to_string()),
                port: Some(IntOrString::Int(i32::from(start))),
                end_port: (end > start).then_some(i32::from(end)),
            });
            i += 1;
        }
    }
    out
}

fn ports_text(ports: &BTreeSet<(L4Protocol, u16)>) -> String {
    ports.iter().map(|(p, n)| format!("{}/{n}", protocol_name(*p))).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

/// Unique, stable policy name for a workload.
pub fn policy_name(snapshot: &Snapshot, wref: &WorkloadRef) -> String {
    let clash = candidate_workloads(snapshot)
        .iter()
        .any(|o| o.namespace == wref.namespace && o.name == wref.name && o.kind != wref.kind);
    if clash {
        dns_label(&format!("kubeguard-{}-{}", wref.kind.as_str(), wref.name))
    } else {
        dns_label(&format!("kubeguard-{}", wref.name))
    }
}

fn target_selector(snapshot: &Snapshot, wref: &WorkloadRef) -> Result<LabelSelector, EngineError> {
    if let Some(w) = snapshot.inventory.workload(wref) {
        if !selector_is_empty(&w.selector) {
            return Ok(w.selector.clone());
        }
        let labels = guard::workload_labels(w);
        if !labels.is_empty() {
            return Ok(LabelSelector { match_labels: Some(labels), match_expressions: None });
        }
    }
    let fe = FlowEndpoint::Workload {
        namespace: wref.namespace.clone(),
        kind: wref.kind.as_str().to_string(),
        name: wref.name.clone(),
        labels: flow_labels(snapshot, wref).unwrap_or_default(),
    };
    match peer_selector(snapshot, &fe) {
        Some((labels, _)) => Ok(LabelSelector { match_labels: Some(labels), match_expressions: None }),
        None => Err(EngineError::NotApplicable(format!("{wref}: no selector and no usable labels to select its pods"))),
    }
}

/// Ports, evidence and descriptions of one peer.
type PeerUse = (BTreeSet<(L4Protocol, u16)>, Evidence, BTreeSet<String>);

struct Side {
    /// peer → (ports, evidence, what)
    peers: BTreeMap<PeerKey, PeerUse>,
}

fn create(snapshot: &Snapshot, wref: &WorkloadRef, options: &NetpolOptions) -> Result<Draft, EngineError> {
    let selector = target_selector(snapshot, wref)?;
    let ns = wref.namespace.clone();
    let mut findings = Vec::new();
    let mut sides: BTreeMap<Direction, Side> = BTreeMap::new();
    let mut observed_dirs: BTreeSet<Direction> = BTreeSet::new();
    let subject = format!("{wref}");
    for tc in guard::target_connections(snapshot, wref) {
        let c = tc.connection;
        match c.verdict {
            FlowVerdict::Forwarded => {}
            FlowVerdict::Dropped | FlowVerdict::Audit => {
                if tc.direction == Direction::Egress || c.source != c.destination {
                    findings.push(dropped_finding(snapshot, c, tc.evidence, &subject));
                }
                continue;
            }
            FlowVerdict::Other => continue,
        }
        observed_dirs.insert(tc.direction);
        let other = match tc.direction {
            Direction::Ingress => &c.source,
            Direction::Egress => &c.destination,
        };
        if c.protocol == L4Protocol::ICMP {
            findings.push(Finding {
                rule_id: "KG-NETPOL-ICMP".into(),
                severity: Severity::Low,
                subject: subject.clone(),
                message: format!(
                    "{} observed ({}); v1 ports cannot name ICMP and a port-less rule would open every port: not allowed",
                    guard::describe(c),
                    tc.evidence.summary()
                ),
            });
            continue;
        }
        let mut ports: BTreeSet<(L4Protocol, u16)> = BTreeSet::from([(c.protocol, c.port)]);
        // DNS: UDP and TCP on the resolver port; API server: also the Service port 443.
        let implied = guard::implied_ports(c, tc.direction);
        let dns = implied.contains(&(c.port, L4Protocol::TCP)) && implied.contains(&(c.port, L4Protocol::UDP));
        ports.extend(implied.into_iter().map(|(port, proto)| (proto, port)));
        match choose_peer(snapshot, &ns, other, tc.direction) {
            PeerChoice::Peers(keys) => {
                let side = sides.entry(tc.direction).or_insert_with(|| Side { peers: BTreeMap::new() });
                for k in keys {
                    let e =
                        side.peers.entry(k).or_insert_with(|| (BTreeSet::new(), Evidence::default(), BTreeSet::new()));
                    e.0.extend(ports.iter().copied());
                    e.1.merge(tc.evidence);
                    e.2.insert(if dns { format!("DNS via {other}") } else { other.to_string() });
                }
            }
            PeerChoice::Skip { severity, why } => findings.push(Finding {
                rule_id: "KG-NETPOL-PEER-NOT-EXPRESSIBLE".into(),
                severity,
                subject: subject.clone(),
                message: format!("{} ({}): {why}", guard::describe(c), tc.evidence.summary()),
            }),
        }
    }
    if options.force_ingress {
        observed_dirs.insert(Direction::Ingress);
    }
    if options.force_egress {
        observed_dirs.insert(Direction::Egress);
    }
    if observed_dirs.is_empty() {
        return Err(EngineError::NoEvidence(format!("{wref}: no forwarded connection observed")));
    }
    for d in [Direction::Ingress, Direction::Egress] {
        if !observed_dirs.contains(&d) {
            findings.push(Finding {
                rule_id: "KG-NETPOL-DIRECTION-OPEN".into(),
                severity: Severity::Low,
                subject: subject.clone(),
                message: format!(
                    "no {} connection observed: the direction is left unrestricted (not listed in policyTypes)",
                    if d == Direction::Ingress { "ingress" } else { "egress" }
                ),
            });
        }
    }
    let mut evidence = Vec::new();
    let mut ingress_rules = Vec::new();
    let mut egress_rules = Vec::new();
    for d in [Direction::Ingress, Direction::Egress] {
        let Some(side) = sides.get(&d) else { continue };
        // Group peers with identical port sets into one rule.
        let mut groups: BTreeMap<BTreeSet<(L4Protocol, u16)>, Vec<&PeerKey>> = BTreeMap::new();
        for (k, (ports, _, _)) in &side.peers {
            groups.entry(ports.clone()).or_default().push(k);
        }
        let dir = if d == Direction::Ingress { "ingress" } else { "egress" };
        let peer_field = if d == Direction::Ingress { "from" } else { "to" };
        for (ri, (ports, keys)) in groups.iter().enumerate() {
            let peers: Vec<NetworkPolicyPeer> = keys.iter().map(|k| k.to_peer()).collect();
            for (pi, k) in keys.iter().enumerate() {
                if let Some((_, ev, what)) = side.peers.get(*k) {
                    evidence.push(RuleEvidence {
                        manifest: 0,
                        path: format!("spec.{dir}[{ri}].{peer_field}[{pi}]"),
                        what: format!(
                            "{} on {}",
                            what.iter().cloned().collect::<Vec<_>>().join(", "),
                            ports_text(ports)
                        ),
                        evidence: ev.clone(),
                    });
                }
            }
            let port_list = Some(port_entries(ports));
            match d {
                Direction::Ingress => {
                    ingress_rules.push(NetworkPolicyIngressRule { from: Some(peers), ports: port_list })
                }
                Direction::Egress => egress_rules.push(NetworkPolicyEgressRule { to: Some(peers), ports: port_list }),
            }
        }
    }
    let mut policy_types = Vec::new();
    if observed_dirs.contains(&Direction::Ingress) {
        policy_types.push("Ingress".to_string());
    }
    if observed_dirs.contains(&Direction::Egress) {
        policy_types.push("Egress".to_string());
    }
    let np = NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(policy_name(snapshot, wref)),
            namespace: Some(ns.clone()),
            labels: Some(BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())])),
            annotations: Some(BTreeMap::from([(
                "kubeguard.io/workload".to_string(),
                format!("{}/{}/{}", wref.namespace, wref.kind.as_str(), wref.name),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector),
            policy_types: Some(policy_types.clone()),
            ingress: policy_types.iter().any(|t| t == "Ingress").then_some(ingress_rules),
            egress: policy_types.iter().any(|t| t == "Egress").then_some(egress_rules),
        }),
    };
    let mut manifests = vec![to_value(&np)?];
    if options.namespace_default_deny {
        manifests.push(to_value(&default_deny(&ns))?);
    }
    findings.extend(other_end_findings(snapshot, wref, &manifests));
    findings.sort();
    findings.dedup();
    Ok(Draft { manifests, original: Vec::new(), evidence, findings, removed: Vec::new() })
}

/// `podSelector: {}` with both types and no rules: the namespace's default deny.
pub fn default_deny(namespace: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some("kubeguard-default-deny".to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())])),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: None,
            egress: None,
        }),
    }
}

fn to_value(np: &NetworkPolicy) -> Result<serde_json::Value, EngineError> {
    serde_json::to_value(np).map_err(|e| EngineError::Other(format!("cannot serialise NetworkPolicy: {e}")))
}

fn dropped_finding(snapshot: &Snapshot, c: &Connection, ev: &Evidence, subject: &str) -> Finding {
    let reasons = snapshot
        .observed
        .flows
        .drop_reasons
        .get(c)
        .map(|r| r.iter().cloned().collect::<Vec<_>>().join(", "))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "reason not recorded".to_string());
    let (rule_id, verb) = match c.verdict {
        FlowVerdict::Audit => ("KG-NETPOL-AUDIT-WOULD-DROP", "would be dropped (policy audit mode)"),
        _ => ("KG-NETPOL-DROPPED", "is being dropped now"),
    };
    Finding {
        rule_id: rule_id.into(),
        severity: Severity::Medium,
        subject: subject.to_string(),
        message: format!(
            "{} {verb} ({}; {}): not allowed by this recommendation; allow it explicitly if it is wanted",
            guard::describe(c),
            reasons,
            ev.summary()
        ),
    }
}

/// Both ends must allow: observed connections that the *other* end's current policies block.
fn other_end_findings(snapshot: &Snapshot, wref: &WorkloadRef, proposal: &[serde_json::Value]) -> Vec<Finding> {
    let inv = &snapshot.inventory;
    let reserved = &snapshot.observed.flows.reserved_ips;
    let set = guard::effective_policies(inv, proposal, &[]);
    let mut out = Vec::new();
    for tc in guard::target_connections(snapshot, wref) {
        let c = tc.connection;
        if c.verdict != FlowVerdict::Forwarded || c.source == c.destination {
            continue;
        }
        let src = resolve_endpoint(inv, reserved, &c.source);
        let dst = resolve_endpoint(inv, reserved, &c.destination);
        let (decision, side) = match tc.direction {
            Direction::Egress => (set.side(Direction::Ingress, &dst, &src, c.port, c.protocol), "ingress"),
            Direction::Ingress => (set.side(Direction::Egress, &src, &dst, c.port, c.protocol), "egress"),
        };
        if let SideDecision::Denied(by) = decision {
            out.push(Finding {
                rule_id: "KG-NETPOL-OTHER-END-BLOCKS".into(),
                severity: Severity::High,
                subject: wref.to_string(),
                message: format!(
                    "{} is blocked by the peer's {side} policies ({}): both ends must allow it",
                    guard::describe(c),
                    by.join(", ")
                ),
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Refine
// ---------------------------------------------------------------------------------------------

fn refine(snapshot: &Snapshot, wref: &WorkloadRef) -> Result<Draft, EngineError> {
    let inv = &snapshot.inventory;
    let reserved = &snapshot.observed.flows.reserved_ips;
    let Some(w) = inv.workload(wref) else {
        return Err(EngineError::NotApplicable(format!("{wref} is not in the inventory: nothing to refine")));
    };
    let NetEndpoint::Pod(me_pod) = workload_endpoint(inv, w) else {
        return Err(EngineError::NotApplicable(format!("{wref} uses hostNetwork")));
    };
    let me = NetEndpoint::Pod(me_pod.clone());
    let subject = wref.to_string();
    let mut findings = Vec::new();
    let mut removed = Vec::new();
    let mut evidence = Vec::new();
    let mut manifests = Vec::new();
    let mut original = Vec::new();

    let observed: Vec<(Direction, &Connection, &Evidence, NetEndpoint)> = guard::target_connections(snapshot, wref)
        .into_iter()
        .filter_map(|tc| {
            let c = tc.connection;
            match c.verdict {
                FlowVerdict::Forwarded => {}
                FlowVerdict::Dropped | FlowVerdict::Audit => {
                    findings.push(dropped_finding(snapshot, c, tc.evidence, &subject));
                    return None;
                }
                FlowVerdict::Other => return None,
            }
            let other = match tc.direction {
                Direction::Ingress => &c.source,
                Direction::Egress => &c.destination,
            };
            Some((tc.direction, c, tc.evidence, resolve_endpoint(inv, reserved, other)))
        })
        .collect();

    // Policies selecting the workload.
    let all = PolicySet::from_inventory(inv);
    for e in &all.errors {
        findings.push(Finding {
            rule_id: "KG-NETPOL-INVALID".into(),
            severity: Severity::High,
            subject: e.policy.clone(),
            message: format!("{e}: the API server would reject it"),
        });
    }
    let other_pods: Vec<guard::PodEndpoint> = inv
        .workloads
        .iter()
        .filter(|o| o.id != *wref)
        .filter_map(|o| match workload_endpoint(inv, o) {
            NetEndpoint::Pod(p) => Some(p),
            _ => None,
        })
        .collect();
    for s in &inv.network_policies {
        let Ok(policy) = guard::compile(&s.object, DEFAULT_NAMESPACE) else { continue };
        if !policy.selects(&me_pod) {
            continue;
        }
        let shared: Vec<&guard::PodEndpoint> = other_pods.iter().filter(|p| policy.selects(p)).collect();
        let has_rules = policy.ingress.as_ref().is_some_and(|r| !r.is_empty())
            || policy.egress.as_ref().is_some_and(|r| !r.is_empty());
        if !shared.is_empty() {
            if has_rules {
                findings.push(Finding {
                    rule_id: "KG-NETPOL-SHARED-POLICY".into(),
                    severity: Severity::Low,
                    subject: policy.id(),
                    message: format!(
                        "also selects {} other workload(s); left unchanged here (refine each workload's own policy instead)",
                        shared.len()
                    ),
                });
            }
            continue;
        }
        let raw = s.raw.clone();
        original.push(if raw.is_null() { to_value(&s.object)? } else { raw });
        let idx = manifests.len();
        let (np, ev, rem, fnd) = tighten(snapshot, &s.object, &policy, &me, &observed, idx);
        evidence.extend(ev);
        removed.extend(rem);
        findings.extend(fnd);
        manifests.push(to_value(&np)?);
    }
    if manifests.is_empty() {
        findings.push(Finding {
            rule_id: "KG-NETPOL-NO-OWN-POLICY".into(),
            severity: Severity::Low,
            subject: subject.clone(),
            message: "selected only by namespace-wide policies; use create for a workload policy".into(),
        });
    }
    // Observed traffic the current policies block (FORWARDED in the log but denied by the
    // declared policies: another CNI path, an older policy version, or a probe exception).
    for (d, c, ev, peer) in &observed {
        let side = all.side(*d, &me, peer, c.port, c.protocol);
        if let SideDecision::Denied(by) = side {
            findings.push(Finding {
                rule_id: "KG-NETPOL-OBSERVED-BUT-DENIED".into(),
                severity: Severity::Medium,
                subject: subject.clone(),
                message: format!(
                    "{} was forwarded ({}) but the current policies ({}) do not allow it: refine will not open it",
                    guard::describe(c),
                    ev.summary(),
                    by.join(", ")
                ),
            });
        }
    }
    // Static defects of the namespace's policies (typos in selectors, policies selecting nothing).
    findings.extend(
        guard::lint(inv)
            .into_iter()
            .filter(|f| f.subject.contains(&format!(" {}/", wref.namespace)) || f.subject == subject),
    );
    findings.sort();
    findings.dedup();
    Ok(Draft { manifests, original, evidence, findings, removed })
}

type Tightened = (NetworkPolicy, Vec<RuleEvidence>, Vec<(String, Severity)>, Vec<Finding>);

/// Tighten one policy that selects only the target. Every new rule is a subset of an original
/// rule: peers are kept, dropped, or (when wide) replaced by the intersection of the original
/// peer with the observed peer; ports are kept, dropped, or (when "all") replaced by observed.
fn tighten(
    snapshot: &Snapshot,
    np: &NetworkPolicy,
    policy: &guard::Policy,
    me: &NetEndpoint,
    observed: &[(Direction, &Connection, &Evidence, NetEndpoint)],
    manifest: usize,
) -> Tightened {
    let id = policy.id();
    let mut evidence = Vec::new();
    let mut removed = Vec::new();
    let mut findings = Vec::new();
    let mut out = np.clone();
    let spec = out.spec.get_or_insert_with(NetworkPolicySpec::default);
    // Always write policyTypes explicitly (same meaning as the defaulting).
    let mut types = Vec::new();
    if policy.ingress.is_some() {
        types.push("Ingress".to_string());
    }
    if policy.egress.is_some() {
        types.push("Egress".to_string());
    }
    spec.policy_types = Some(types);
    for direction in [Direction::Ingress, Direction::Egress] {
        let Some(rules) = policy.rules(direction) else {
            continue;
        };
        let dir = if direction == Direction::Ingress { "ingress" } else { "egress" };
        let field = if direction == Direction::Ingress { "from" } else { "to" };
        let raw_rules: Vec<(Vec<NetworkPolicyPeer>, Vec<NetworkPolicyPort>)> = match direction {
            Direction::Ingress => spec
                .ingress
                .iter()
                .flatten()
                .map(|r| (r.from.clone().unwrap_or_default(), r.ports.clone().unwrap_or_default()))
                .collect(),
            Direction::Egress => spec
                .egress
                .iter()
                .flatten()
                .map(|r| (r.to.clone().unwrap_or_default(), r.ports.clone().unwrap_or_default()))
                .collect(),
        };
        let mut new_rules: Vec<(Vec<NetworkPolicyPeer>, Vec<NetworkPolicyPort>)> = Vec::new();
        for (ri, (rule, (raw_peers, raw_ports))) in rules.iter().zip(raw_rules).enumerate() {
            let at = format!("{id} {dir}[{ri}]");
            let matched: Vec<&(Direction, &Connection, &Evidence, NetEndpoint)> = observed
                .iter()
                .filter(|(d, c, _, peer)| {
                    *d == direction && {
                        let dst = if direction == Direction::Ingress { me } else { peer };
                        guard::rule_matches(rule, &policy.namespace, peer, dst, c.port, c.protocol)
                    }
                })
                .collect();
            if matched.is_empty() {
                removed.push((
                    format!(
                        "{at}: whole rule removed, no observed connection uses it ({})",
                        rule_text(&raw_peers, &raw_ports)
                    ),
                    rule_severity(rule),
                ));
                continue;
            }
            // Peers.
            let mut new_peers: Vec<NetworkPolicyPeer> = Vec::new();
            let mut keep_all_peers = false;
            let peer_slots: Vec<Option<(&Peer, &NetworkPolicyPeer)>> = if rule.peers.is_empty() {
                vec![None]
            } else {
                rule.peers.iter().zip(raw_peers.iter()).map(Some).collect()
            };
            for (pj, slot) in peer_slots.iter().enumerate() {
                let users: Vec<&&(Direction, &Connection, &Evidence, NetEndpoint)> = matched
                    .iter()
                    .filter(|(_, c, _, peer)| {
                        let dst = if direction == Direction::Ingress { me } else { peer };
                        guard::ports_match(&rule.ports, dst, c.port, c.protocol)
                            && slot.is_none_or(|(p, _)| guard::peer_matches(p, &policy.namespace, peer))
                    })
                    .collect();
                let desc = match slot {
                    Some((_, raw)) => serde_json::to_string(raw).unwrap_or_default(),
                    None => format!("(all peers: no {field})"),
                };
                if users.is_empty() {
                    removed.push((format!("{at} {field}[{pj}] {desc}: removed, never observed"), Severity::Medium));
                    continue;
                }
                let wide = match slot {
                    None => true,
                    Some((Peer::IpBlock { cidr, .. }, _)) => cidr.prefix_len() == 0,
                    Some((Peer::Selector { pod, .. }, _)) => pod.as_ref().is_none_or(selector_is_empty),
                };
                if !wide {
                    let mut ev = Evidence::default();
                    for u in &users {
                        ev.merge(u.2);
                    }
                    evidence.push(RuleEvidence {
                        manifest,
                        path: format!("spec.{dir}[{}].{field}[{}]", new_rules.len(), new_peers.len()),
                        what: users
                            .iter()
                            .map(|u| other_of(u.1, direction).to_string())
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(", "),
                        evidence: ev,
                    });
                    if let Some((_, raw)) = slot {
                        new_peers.push((*raw).clone());
                    }
                    continue;
                }
                // Replace a wide peer by the observed peers, each intersected with it.
                let mut replaced: BTreeMap<String, (NetworkPolicyPeer, Evidence, String)> = BTreeMap::new();
                let mut inexpressible = false;
                for u in &users {
                    let other = other_of(u.1, direction);
                    match concrete_peer(snapshot, &policy.namespace, other, &u.3, slot.map(|(_, r)| r)) {
                        Some(p) => {
                            let key = serde_json::to_string(&p).unwrap_or_default();
                            let e = replaced.entry(key).or_insert_with(|| (p, Evidence::default(), other.to_string()));
                            e.1.merge(u.2);
                        }
                        None => {
                            // Own-node ingress is exempt anyway; anything else keeps the wide peer.
                            if !(direction == Direction::Ingress
                                && matches!(u.3, NetEndpoint::Node { own_node: true, .. }))
                            {
                                inexpressible = true;
                                findings.push(Finding {
                                    rule_id: "KG-NETPOL-WIDE-PEER-KEPT".into(),
                                    severity: Severity::Medium,
                                    subject: at.clone(),
                                    message: format!(
                                        "{desc} kept: observed peer {other} cannot be written as a narrower peer"
                                    ),
                                });
                            }
                        }
                    }
                }
                if inexpressible {
                    match slot {
                        Some((_, raw)) => new_peers.push((*raw).clone()),
                        None => keep_all_peers = true,
                    }
                    continue;
                }
                if replaced.is_empty() {
                    removed.push((
                        format!("{at} {field}[{pj}] {desc}: removed, only own-node traffic used it (always allowed)"),
                        Severity::Medium,
                    ));
                    continue;
                }
                removed.push((
                    format!(
                        "{at} {field}[{pj}] {desc}: narrowed to the observed peers {}",
                        replaced.values().map(|v| v.2.clone()).collect::<Vec<_>>().join(", ")
                    ),
                    Severity::High,
                ));
                for (_, (p, ev, what)) in replaced {
                    evidence.push(RuleEvidence {
                        manifest,
                        path: format!("spec.{dir}[{}].{field}[{}]", new_rules.len(), new_peers.len()),
                        what,
                        evidence: ev,
                    });
                    new_peers.push(p);
                }
            }
            if new_peers.is_empty() && !keep_all_peers {
                removed.push((format!("{at}: removed, none of its peers remains"), rule_severity(rule)));
                continue;
            }
            // Ports.
            let mut new_ports = Vec::new();
            if rule.ports.is_empty() {
                let used: BTreeSet<(L4Protocol, u16)> = matched
                    .iter()
                    .filter(|(_, c, ..)| c.protocol != L4Protocol::ICMP)
                    .map(|(_, c, ..)| (c.protocol, c.port))
                    .collect();
                if matched.iter().any(|(_, c, ..)| c.protocol == L4Protocol::ICMP) {
                    // ICMP needs a port-less rule: keep "all ports" rather than break it.
                    findings.push(Finding {
                        rule_id: "KG-NETPOL-ICMP".into(),
                        severity: Severity::Low,
                        subject: at.clone(),
                        message: "ICMP observed: the rule keeps every port (v1 cannot name ICMP)".into(),
                    });
                } else {
                    removed.push((format!("{at} ports: every port narrowed to {}", ports_text(&used)), Severity::High));
                    new_ports = port_entries(&used);
                }
            } else {
                for (pk, (spec_port, raw_port)) in rule.ports.iter().zip(raw_ports.iter()).enumerate() {
                    let used = matched.iter().any(|(_, c, _, peer)| {
                        let dst = if direction == Direction::Ingress { me } else { peer };
                        guard::port_matches(spec_port, dst, c.port, c.protocol)
                    });
                    if used {
                        new_ports.push(raw_port.clone());
                    } else {
                        removed.push((
                            format!(
                                "{at} ports[{pk}] {}: removed, never observed",
                                serde_json::to_string(raw_port).unwrap_or_default()
                            ),
                            Severity::Low,
                        ));
                    }
                }
            }
            new_rules.push((if keep_all_peers { Vec::new() } else { new_peers }, new_ports));
        }
        match direction {
            Direction::Ingress => {
                spec.ingress = Some(
                    new_rules
                        .into_iter()
                        .map(|(p, q)| NetworkPolicyIngressRule { from: opt(p), ports: opt(q) })
                        .collect(),
                )
            }
            Direction::Egress => {
                spec.egress = Some(
                    new_rules.into_iter().map(|(p, q)| NetworkPolicyEgressRule { to: opt(p), ports: opt(q) }).collect(),
                )
            }
        }
    }
    (out, evidence, removed, findings)
}

fn opt<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v) }
}

fn other_of(c: &Connection, direction: Direction) -> &FlowEndpoint {
    match direction {
        Direction::Ingress => &c.source,
        Direction::Egress => &c.destination,
    }
}

fn rule_text(peers: &[NetworkPolicyPeer], ports: &[NetworkPolicyPort]) -> String {
    let p = if peers.is_empty() { "all peers".to_string() } else { serde_json::to_string(peers).unwrap_or_default() };
    let q = if ports.is_empty() { "all ports".to_string() } else { serde_json::to_string(ports).unwrap_or_default() };
    format!("{p} on {q}")
}

fn rule_severity(rule: &guard::Rule) -> Severity {
    if rule.peers.is_empty() || rule.ports.is_empty() { Severity::High } else { Severity::Medium }
}

/// A narrower peer for an observed endpoint, inside `original` (when given): selector peers are
/// the intersection of the original peer's selectors with the observed workload's selector and
/// namespace; addresses become ipBlocks.
fn concrete_peer(
    snapshot: &Snapshot,
    policy_ns: &str,
    other: &FlowEndpoint,
    resolved: &NetEndpoint,
    original: Option<&NetworkPolicyPeer>,
) -> Option<NetworkPolicyPeer> {
    match resolved {
        NetEndpoint::Pod(p) => {
            let (labels, exprs) = peer_selector(snapshot, other)?;
            let mut pod_sel = original.and_then(|o| o.pod_selector.clone()).unwrap_or_default();
            let ml = pod_sel.match_labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in labels {
                ml.insert(k, v);
            }
            let extra: Vec<_> = serde_json::from_str(&exprs).unwrap_or_default();
            if !extra.is_empty() {
                pod_sel.match_expressions.get_or_insert_with(Vec::new).extend(extra);
            }
            let ns_sel = match original.and_then(|o| o.namespace_selector.clone()) {
                // podSelector alone (or all peers) in the policy's namespace.
                None if p.namespace == policy_ns => None,
                // All peers: name the peer's namespace.
                None if original.is_none() => Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), p.namespace.clone())])),
                    match_expressions: None,
                }),
                None => return None,
                Some(mut s) => {
                    s.match_labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(NAMESPACE_NAME_LABEL.to_string(), p.namespace.clone());
                    Some(s)
                }
            };
            Some(NetworkPolicyPeer { pod_selector: Some(pod_sel), namespace_selector: ns_sel, ip_block: None })
        }
        NetEndpoint::Addresses(nets) if nets.len() == 1 => {
            // Must stay inside the original ipBlock (minus its excepts: the peer matched, so it is).
            Some(NetworkPolicyPeer {
                ip_block: Some(IPBlock { cidr: nets[0].to_string(), except: None }),
                ..Default::default()
            })
        }
        _ => None,
    }
}
