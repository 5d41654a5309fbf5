//! NetworkPolicy (`networking.k8s.io/v1`) evaluator and guard.
//!
//! Owns the exact v1 semantics: a pod is isolated per direction once a policy selecting it
//! applies to that direction; policies are a union; a connection needs the source's egress and
//! the destination's ingress; in one peer `podSelector` AND `namespaceSelector`; `podSelector`
//! alone means the policy's namespace; `ipBlock` with `except`; `endPort`; named ports resolved
//! on the destination pod with the protocol; `policyTypes` defaulting (Ingress always, Egress
//! only with an `egress` section). On top of it: `check` (coverage of observed FORWARDED
//! connections, excess over the modelled universe of endpoints × ports, repair) and the
//! reachability helpers the TUI uses ("who can reach this workload / what can it reach").
//!
//! Pure: no I/O, no parsing of files. It must not invent traffic nor widen a proposal beyond
//! the evidence plus what the original policies already allowed.
//!
//! Modelling choices (documented in the README): pods have no IP in a static model, so
//! `ipBlock` peers match only addresses (external CIDRs, API-server and resolver IPs), never
//! pods, which is also what np-guard's netpol-analyzer does; hostNetwork pods and Cilium's
//! `host`/`remote-node` identities are *nodes*: no policy selects them and only "all peers"
//! rules (or an ipBlock containing a known address) match them; ingress from the pod's own
//! node (`reserved:host`) is allowed by the spec exception.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::GuardOutcome;
use crate::model::{
    Connection, Direction, Evidence, FlowEndpoint, FlowVerdict, GuardVerdict, Inventory, L4Protocol, Target,
    TargetScope, Workload, WorkloadRef,
};
use crate::snapshot::Snapshot;

/// Namespace assumed for namespaced objects that do not name one (what `kubectl apply` does
/// without `-n`).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Label every namespace carries (1.22+), used to select a namespace by name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Most excess lines listed verbatim (the rest are counted).
const MAX_EXCESS_LINES: usize = 200;

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

/// A container port that policies can name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamedPort {
    pub name: String,
    pub port: u16,
    pub protocol: L4Protocol,
}

/// A pod as the evaluator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEndpoint {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub namespace_labels: BTreeMap<String, String>,
    /// Declared container ports (named ones resolve named policy ports).
    pub ports: Vec<NamedPort>,
}

/// One end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEndpoint {
    Pod(PodEndpoint),
    /// Addresses outside the pod network (external CIDRs, API server, node-local resolvers).
    /// An ipBlock matches when it contains every one of them.
    Addresses(Vec<IpNet>),
    /// A node (Cilium `host`/`remote-node`, hostNetwork pods), with its addresses when known.
    /// Never selected by a policy; matched by "all peers" rules and containing ipBlocks.
    Node {
        own_node: bool,
        addresses: Vec<IpNet>,
    },
    /// Nothing a v1 peer can name (unknown identity): matched only by "all peers" rules.
    Opaque,
}

impl NetEndpoint {
    fn addresses(&self) -> &[IpNet] {
        match self {
            NetEndpoint::Addresses(a) => a,
            NetEndpoint::Node { addresses, .. } => addresses,
            _ => &[],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled policies
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub protocol: L4Protocol,
    /// `None` = every port of the protocol.
    pub port: Option<PortRef>,
    pub end_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Peer {
    /// `pod: None` = all pods; `namespace: None` = the policy's namespace.
    Selector {
        pod: Option<LabelSelector>,
        namespace: Option<LabelSelector>,
    },
    IpBlock {
        cidr: IpNet,
        except: Vec<IpNet>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Empty = all peers.
    pub peers: Vec<Peer>,
    /// Empty = all ports and protocols.
    pub ports: Vec<PortSpec>,
}

/// A NetworkPolicy compiled for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub selector: LabelSelector,
    /// `Some` when the policy applies to ingress (possibly with no rules = deny all).
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
}

impl Policy {
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn selects(&self, pod: &PodEndpoint) -> bool {
        pod.namespace == self.namespace && selector_matches(&self.selector, &pod.labels)
    }

    pub fn rules(&self, direction: Direction) -> Option<&Vec<Rule>> {
        match direction {
            Direction::Ingress => self.ingress.as_ref(),
            Direction::Egress => self.egress.as_ref(),
        }
    }
}

/// Why a policy could not be compiled (the API server would reject it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NetworkPolicy {policy}: {message}")]
pub struct PolicyError {
    pub policy: String,
    pub message: String,
}

/// Compile a typed NetworkPolicy. `default_namespace` is used when metadata has none.
pub fn compile(np: &NetworkPolicy, default_namespace: &str) -> Result<Policy, PolicyError> {
    let namespace = np.metadata.namespace.clone().unwrap_or_else(|| default_namespace.to_string());
    let name = np.metadata.name.clone().unwrap_or_default();
    let err = |message: String| PolicyError { policy: format!("{namespace}/{name}"), message };
    let spec = np.spec.clone().unwrap_or_default();
    let has_egress_section = spec.egress.is_some();
    let (applies_ingress, applies_egress) = match &spec.policy_types {
        Some(types) if !types.is_empty() => {
            let mut i = false;
            let mut e = false;
            for t in types {
                match t.as_str() {
                    "Ingress" => i = true,
                    "Egress" => e = true,
                    other => return Err(err(format!("unknown policyType {other:?}"))),
                }
            }
            (i, e)
        }
        _ => (true, has_egress_section),
    };
    let mut ingress = None;
    if applies_ingress {
        let mut rules = Vec::new();
        for (i, r) in spec.ingress.iter().flatten().enumerate() {
            rules.push(
                compile_rule(r.from.as_deref(), r.ports.as_deref()).map_err(|m| err(format!("ingress[{i}]: {m}")))?,
            );
        }
        ingress = Some(rules);
    }
    let mut egress = None;
    if applies_egress {
        let mut rules = Vec::new();
        for (i, r) in spec.egress.iter().flatten().enumerate() {
            rules
                .push(compile_rule(r.to.as_deref(), r.ports.as_deref()).map_err(|m| err(format!("egress[{i}]: {m}")))?);
        }
        egress = Some(rules);
    }
    let selector = spec.pod_selector.unwrap_or_default();
    validate_selector(&selector).map_err(|m| err(format!("podSelector: {m}")))?;
    Ok(Policy { namespace, name, selector, ingress, egress })
}

fn compile_rule(peers: Option<&[NetworkPolicyPeer]>, ports: Option<&[NetworkPolicyPort]>) -> Result<Rule, String> {
    let mut out_peers = Vec::new();
    for (i, p) in peers.unwrap_or_default().iter().enumerate() {
        out_peers.push(compile_peer(p).map_err(|m| format!("peer {i}: {m}"))?);
    }
    let mut out_ports = Vec::new();
    for (i, p) in ports.unwrap_or_default().iter().enumerate() {
        out_ports.push(compile_port(p).map_err(|m| format!("ports[{i}]: {m}"))?);
    }
    Ok(Rule { peers: out_peers, ports: out_ports })
}

fn compile_peer(p: &NetworkPolicyPeer) -> Result<Peer, String> {
    if let Some(block) = &p.ip_block {
        if p.pod_selector.is_some() || p.namespace_selector.is_some() {
            return Err("may not specify both ipBlock and another peer".to_string());
        }
        let cidr: IpNet = block.cidr.parse().map_err(|_| format!("invalid cidr {:?}", block.cidr))?;
        let mut except = Vec::new();
        for e in block.except.iter().flatten() {
            let n: IpNet = e.parse().map_err(|_| format!("invalid except cidr {e:?}"))?;
            if !cidr.contains(&n) || n.prefix_len() <= cidr.prefix_len() && n != cidr {
                return Err(format!("except {e} is not inside {}", block.cidr));
            }
            except.push(n);
        }
        return Ok(Peer::IpBlock { cidr: cidr.trunc(), except });
    }
    if p.pod_selector.is_none() && p.namespace_selector.is_none() {
        return Err("peer sets none of podSelector, namespaceSelector, ipBlock".to_string());
    }
    if let Some(s) = &p.pod_selector {
        validate_selector(s)?;
    }
    if let Some(s) = &p.namespace_selector {
        validate_selector(s)?;
    }
    Ok(Peer::Selector { pod: p.pod_selector.clone(), namespace: p.namespace_selector.clone() })
}

fn compile_port(p: &NetworkPolicyPort) -> Result<PortSpec, String> {
    let protocol = match p.protocol.as_deref() {
        None | Some("TCP") => L4Protocol::TCP,
        Some("UDP") => L4Protocol::UDP,
        Some("SCTP") => L4Protocol::SCTP,
        Some(other) => return Err(format!("unsupported protocol {other:?}")),
    };
    let port = match &p.port {
        None => None,
        Some(IntOrString::Int(n)) => Some(PortRef::Number(valid_port(*n)?)),
        Some(IntOrString::String(s)) => match s.parse::<i32>() {
            Ok(n) => Some(PortRef::Number(valid_port(n)?)),
            Err(_) if !s.is_empty() => Some(PortRef::Name(s.clone())),
            Err(_) => return Err("empty port name".to_string()),
        },
    };
    let end_port = match p.end_port {
        None => None,
        Some(e) => {
            let e = valid_port(e)?;
            match &port {
                Some(PortRef::Number(n)) if e >= *n => Some(e),
                Some(PortRef::Number(_)) => return Err("endPort must be >= port".to_string()),
                _ => return Err("endPort requires a numeric port".to_string()),
            }
        }
    };
    Ok(PortSpec { protocol, port, end_port })
}

fn valid_port(n: i32) -> Result<u16, String> {
    u16::try_from(n).ok().filter(|p| *p > 0).ok_or_else(|| format!("port {n} out of range"))
}

fn validate_selector(s: &LabelSelector) -> Result<(), String> {
    for e in s.match_expressions.iter().flatten() {
        let n = e.values.as_ref().map_or(0, Vec::len);
        match e.operator.as_str() {
            "In" | "NotIn" if n == 0 => return Err(format!("{} {} needs values", e.key, e.operator)),
            "Exists" | "DoesNotExist" if n > 0 => return Err(format!("{} {} takes no values", e.key, e.operator)),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Err(format!("unknown operator {other:?}")),
        }
    }
    Ok(())
}

/// Label selector semantics: matchLabels AND every matchExpression; empty selects everything.
pub fn selector_matches(s: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    for (k, v) in s.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return false;
        }
    }
    s.match_expressions.iter().flatten().all(|e| requirement_matches(e, labels))
}

fn requirement_matches(e: &LabelSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = e.values.as_deref().unwrap_or_default();
    match e.operator.as_str() {
        "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
        "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
        "Exists" => labels.contains_key(&e.key),
        "DoesNotExist" => !labels.contains_key(&e.key),
        _ => false,
    }
}

fn is_empty_selector(s: &LabelSelector) -> bool {
    s.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// A set of compiled policies plus the problems found compiling them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    pub errors: Vec<PolicyError>,
}

/// The decision of one side (the source's egress or the destination's ingress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideDecision {
    /// No policy selects this end for the direction (or it is not a pod).
    NotIsolated,
    /// Allowed by these policies (ids).
    Allowed(Vec<String>),
    /// Isolated by these policies and no rule matches.
    Denied(Vec<String>),
    /// Allowed by a spec exception (ingress from the pod's own node).
    Exempt(&'static str),
}

impl SideDecision {
    pub fn allows(&self) -> bool {
        !matches!(self, SideDecision::Denied(_))
    }
}

/// Both sides of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub egress: SideDecision,
    pub ingress: SideDecision,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.egress.allows() && self.ingress.allows()
    }
}

impl PolicySet {
    /// Compile JSON policy objects (anything that is not a NetworkPolicy is ignored).
    pub fn from_values(values: &[serde_json::Value]) -> PolicySet {
        let mut set = PolicySet::default();
        for v in values {
            if v.get("kind").and_then(|k| k.as_str()).is_some_and(|k| k != "NetworkPolicy") {
                continue;
            }
            match serde_json::from_value::<NetworkPolicy>(v.clone()) {
                Ok(np) => set.push(&np),
                Err(e) => set.errors.push(PolicyError { policy: policy_id_of_value(v), message: e.to_string() }),
            }
        }
        set
    }

    pub fn from_policies<'a>(policies: impl IntoIterator<Item = &'a NetworkPolicy>) -> PolicySet {
        let mut set = PolicySet::default();
        for np in policies {
            set.push(np);
        }
        set
    }

    pub fn from_inventory(inventory: &Inventory) -> PolicySet {
        PolicySet::from_policies(inventory.network_policies.iter().map(|s| &s.object))
    }

    pub fn push(&mut self, np: &NetworkPolicy) {
        match compile(np, DEFAULT_NAMESPACE) {
            Ok(p) => self.policies.push(p),
            Err(e) => self.errors.push(e),
        }
    }

    /// Policies that select `pod` for `direction`.
    pub fn isolating<'a>(&'a self, pod: &'a PodEndpoint, direction: Direction) -> impl Iterator<Item = &'a Policy> {
        self.policies.iter().filter(move |p| p.rules(direction).is_some() && p.selects(pod))
    }

    /// Decide one direction at `local`: egress when `local` is the source, ingress when it is
    /// the destination. `remote` is the other end.
    pub fn side(
        &self,
        direction: Direction,
        local: &NetEndpoint,
        remote: &NetEndpoint,
        port: u16,
        protocol: L4Protocol,
    ) -> SideDecision {
        let NetEndpoint::Pod(pod) = local else {
            return SideDecision::NotIsolated;
        };
        if direction == Direction::Ingress && matches!(remote, NetEndpoint::Node { own_node: true, .. }) {
            return SideDecision::Exempt("ingress from the pod's own node is always allowed");
        }
        let mut isolating = Vec::new();
        let mut allowed = Vec::new();
        // For ingress the destination (whose named ports count) is `local`; for egress `remote`.
        let destination = match direction {
            Direction::Ingress => local,
            Direction::Egress => remote,
        };
        for p in self.isolating(pod, direction) {
            isolating.push(p.id());
            let rules = p.rules(direction).map(Vec::as_slice).unwrap_or_default();
            if rules.iter().any(|r| rule_matches(r, &p.namespace, remote, destination, port, protocol)) {
                allowed.push(p.id());
            }
        }
        if isolating.is_empty() {
            SideDecision::NotIsolated
        } else if allowed.is_empty() {
            SideDecision::Denied(isolating)
        } else {
            SideDecision::Allowed(allowed)
        }
    }

    /// Full decision for `src → dst:port/protocol`.
    pub fn decide(&self, src: &NetEndpoint, dst: &NetEndpoint, port: u16, protocol: L4Protocol) -> Decision {
        Decision {
            egress: self.side(Direction::Egress, src, dst, port, protocol),
            ingress: self.side(Direction::Ingress, dst, src, port, protocol),
        }
    }

    pub fn allows(&self, src: &NetEndpoint, dst: &NetEndpoint, port: u16, protocol: L4Protocol) -> bool {
        self.decide(src, dst, port, protocol).allowed()
    }
}

fn policy_id_of_value(v: &serde_json::Value) -> String {
    let ns = v.pointer("/metadata/namespace").and_then(|x| x.as_str()).unwrap_or(DEFAULT_NAMESPACE);
    let name = v.pointer("/metadata/name").and_then(|x| x.as_str()).unwrap_or("");
    format!("{ns}/{name}")
}

/// Does `rule` (of a policy in `policy_ns`) admit `peer` on `port`/`protocol`? `destination`
/// is the end whose named ports resolve named policy ports.
pub fn rule_matches(
    rule: &Rule,
    policy_ns: &str,
    peer: &NetEndpoint,
    destination: &NetEndpoint,
    port: u16,
    protocol: L4Protocol,
) -> bool {
    ports_match(&rule.ports, destination, port, protocol)
        && (rule.peers.is_empty() || rule.peers.iter().any(|p| peer_matches(p, policy_ns, peer)))
}

/// Does one port list admit `port`/`protocol` on `destination`? Empty = everything.
pub fn ports_match(ports: &[PortSpec], destination: &NetEndpoint, port: u16, protocol: L4Protocol) -> bool {
    ports.is_empty() || ports.iter().any(|p| port_matches(p, destination, port, protocol))
}

pub fn port_matches(spec: &PortSpec, destination: &NetEndpoint, port: u16, protocol: L4Protocol) -> bool {
    if spec.protocol != protocol {
        return false;
    }
    match &spec.port {
        None => true,
        Some(PortRef::Number(n)) => match spec.end_port {
            Some(end) => port >= *n && port <= end,
            None => port == *n,
        },
        // Named ports resolve on the destination pod, with the protocol; never on addresses.
        Some(PortRef::Name(name)) => match destination {
            NetEndpoint::Pod(pod) => {
                pod.ports.iter().any(|np| &np.name == name && np.protocol == protocol && np.port == port)
            }
            _ => false,
        },
    }
}

pub fn peer_matches(peer: &Peer, policy_ns: &str, endpoint: &NetEndpoint) -> bool {
    match peer {
        Peer::Selector { pod, namespace } => {
            let NetEndpoint::Pod(p) = endpoint else {
                return false;
            };
            let ns_ok = match namespace {
                None => p.namespace == policy_ns,
                Some(sel) => selector_matches(sel, &p.namespace_labels),
            };
            ns_ok && pod.as_ref().is_none_or(|s| selector_matches(s, &p.labels))
        }
        Peer::IpBlock { cidr, except } => {
            let addrs = endpoint.addresses();
            !addrs.is_empty()
                && addrs.iter().all(|a| {
                    a.addr().is_ipv4() == cidr.addr().is_ipv4()
                        && cidr.contains(a)
                        && !except.iter().any(|e| e.contains(a) || a.contains(e))
                })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// From the inventory and flows to endpoints
// ---------------------------------------------------------------------------------------------

/// Protocol of a container port / policy port string.
pub fn parse_protocol(s: Option<&str>) -> L4Protocol {
    match s {
        Some("UDP") => L4Protocol::UDP,
        Some("SCTP") => L4Protocol::SCTP,
        _ => L4Protocol::TCP,
    }
}

pub fn protocol_name(p: L4Protocol) -> &'static str {
    match p {
        L4Protocol::TCP => "TCP",
        L4Protocol::UDP => "UDP",
        L4Protocol::SCTP => "SCTP",
        L4Protocol::ICMP => "ICMP",
    }
}

/// Declared ports of a workload's pod template (containers, init containers, ephemeral none).
pub fn workload_ports(w: &Workload) -> Vec<NamedPort> {
    let mut out = BTreeSet::new();
    if let Some(spec) = &w.template.spec {
        for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
            for p in c.ports.iter().flatten() {
                if let Ok(port) = u16::try_from(p.container_port) {
                    out.insert(NamedPort {
                        name: p.name.clone().unwrap_or_default(),
                        port,
                        protocol: parse_protocol(p.protocol.as_deref()),
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}

pub fn workload_labels(w: &Workload) -> BTreeMap<String, String> {
    w.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default()
}

pub fn is_host_network(w: &Workload) -> bool {
    w.template.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false)
}

/// A workload's pods as an endpoint (hostNetwork pods are nodes).
pub fn workload_endpoint(inventory: &Inventory, w: &Workload) -> NetEndpoint {
    if is_host_network(w) {
        return NetEndpoint::Node { own_node: false, addresses: Vec::new() };
    }
    NetEndpoint::Pod(PodEndpoint {
        namespace: w.id.namespace.clone(),
        labels: workload_labels(w),
        namespace_labels: inventory.namespace_labels(&w.id.namespace),
        ports: workload_ports(w),
    })
}

/// Find the inventory workload a flow endpoint names.
pub fn find_workload<'a>(inventory: &'a Inventory, e: &FlowEndpoint) -> Option<&'a Workload> {
    let FlowEndpoint::Workload { namespace, kind, name, .. } = e else {
        return None;
    };
    inventory
        .workloads
        .iter()
        .find(|w| &w.id.namespace == namespace && w.id.kind.as_str() == kind && &w.id.name == name)
}

/// The flow endpoint a workload is recorded as.
pub fn flow_endpoint_of(w: &WorkloadRef) -> FlowEndpointKey {
    FlowEndpointKey { namespace: w.namespace.clone(), kind: w.kind.as_str().to_string(), name: w.name.clone() }
}

/// Identity of a workload endpoint regardless of the labels recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowEndpointKey {
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

impl FlowEndpointKey {
    pub fn of(e: &FlowEndpoint) -> Option<FlowEndpointKey> {
        match e {
            FlowEndpoint::Workload { namespace, kind, name, .. } => {
                Some(FlowEndpointKey { namespace: namespace.clone(), kind: kind.clone(), name: name.clone() })
            }
            _ => None,
        }
    }
}

/// Turn a flow endpoint into an evaluator endpoint, using the inventory for labels and ports
/// and the flow profile for reserved identities' addresses.
pub fn resolve_endpoint(
    inventory: &Inventory,
    reserved_ips: &BTreeMap<String, BTreeSet<String>>,
    e: &FlowEndpoint,
) -> NetEndpoint {
    match e {
        FlowEndpoint::Workload { namespace, labels, .. } => match find_workload(inventory, e) {
            Some(w) => workload_endpoint(inventory, w),
            None => NetEndpoint::Pod(PodEndpoint {
                namespace: namespace.clone(),
                labels: labels.clone(),
                namespace_labels: inventory.namespace_labels(namespace),
                ports: Vec::new(),
            }),
        },
        FlowEndpoint::Reserved { name } => {
            let addresses: Vec<IpNet> = reserved_ips
                .get(name)
                .into_iter()
                .flatten()
                .filter_map(|ip| ip.parse::<IpAddr>().ok().map(IpNet::from))
                .collect();
            match name.as_str() {
                "host" => NetEndpoint::Node { own_node: true, addresses },
                "remote-node" => NetEndpoint::Node { own_node: false, addresses },
                _ if !addresses.is_empty() => NetEndpoint::Addresses(addresses),
                _ => NetEndpoint::Opaque,
            }
        }
        FlowEndpoint::External { cidr } => match cidr.parse::<IpNet>() {
            Ok(n) => NetEndpoint::Addresses(vec![n]),
            Err(_) => NetEndpoint::Opaque,
        },
        FlowEndpoint::Unknown { ip } => match ip.parse::<IpAddr>() {
            Ok(a) => NetEndpoint::Addresses(vec![IpNet::from(a)]),
            Err(_) => NetEndpoint::Opaque,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Reachability (TUI) and the modelled universe
// ---------------------------------------------------------------------------------------------

/// One endpoint of the modelled universe with the ports it is known to serve.
#[derive(Debug, Clone)]
pub struct UniverseEndpoint {
    pub label: String,
    pub flow: FlowEndpoint,
    pub endpoint: NetEndpoint,
    /// (port, protocol) this endpoint serves: declared container ports plus observed ones.
    pub ports: BTreeSet<(u16, L4Protocol)>,
}

/// Every endpoint kubeguard knows: inventory workloads, plus every endpoint seen in flows.
pub fn universe(snapshot: &Snapshot) -> Vec<UniverseEndpoint> {
    let inv = &snapshot.inventory;
    let flows = &snapshot.observed.flows;
    let mut by_key: BTreeMap<FlowEndpoint, UniverseEndpoint> = BTreeMap::new();
    for w in &inv.workloads {
        let fe = FlowEndpoint::Workload {
            namespace: w.id.namespace.clone(),
            kind: w.id.kind.as_str().to_string(),
            name: w.id.name.clone(),
            labels: BTreeMap::new(),
        };
        let ports = workload_ports(w).into_iter().map(|p| (p.port, p.protocol)).collect();
        by_key.insert(
            fe.clone(),
            UniverseEndpoint { label: w.id.to_string(), flow: fe, endpoint: workload_endpoint(inv, w), ports },
        );
    }
    for c in flows.connections.keys() {
        for (e, port) in [(&c.source, None), (&c.destination, Some((c.port, c.protocol)))] {
            let key = normalise(e);
            let entry = by_key.entry(key.clone()).or_insert_with(|| UniverseEndpoint {
                label: e.to_string(),
                flow: e.clone(),
                endpoint: resolve_endpoint(inv, &flows.reserved_ips, e),
                ports: BTreeSet::new(),
            });
            if let Some(p) = port {
                entry.ports.insert(p);
            }
        }
    }
    by_key.into_values().collect()
}

/// Workload endpoints compare by identity, not by the labels a flow happened to carry.
fn normalise(e: &FlowEndpoint) -> FlowEndpoint {
    match e {
        FlowEndpoint::Workload { namespace, kind, name, .. } => FlowEndpoint::Workload {
            namespace: namespace.clone(),
            kind: kind.clone(),
            name: name.clone(),
            labels: BTreeMap::new(),
        },
        other => other.clone(),
    }
}

/// An allowed connection in the universe.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reach {
    pub peer: String,
    pub port: u16,
    pub protocol: L4Protocol,
}

/// What can reach `workload` (ingress side and the sources' egress both evaluated).
pub fn who_can_reach(snapshot: &Snapshot, policies: &PolicySet, workload: &WorkloadRef) -> Vec<Reach> {
    reach(snapshot, policies, workload, Direction::Ingress)
}

/// What `workload` can reach.
pub fn what_it_can_reach(snapshot: &Snapshot, policies: &PolicySet, workload: &WorkloadRef) -> Vec<Reach> {
    reach(snapshot, policies, workload, Direction::Egress)
}

fn reach(snapshot: &Snapshot, policies: &PolicySet, workload: &WorkloadRef, direction: Direction) -> Vec<Reach> {
    let all = universe(snapshot);
    let me_key = workload_flow_endpoint(workload);
    let Some(me) = all.iter().find(|u| u.flow == me_key) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for other in &all {
        let (src, dst) = match direction {
            Direction::Ingress => (other, me),
            Direction::Egress => (me, other),
        };
        for &(port, protocol) in &dst.ports {
            if policies.allows(&src.endpoint, &dst.endpoint, port, protocol) {
                out.push(Reach { peer: other.label.clone(), port, protocol });
            }
        }
    }
    out.sort();
    out
}

fn workload_flow_endpoint(w: &WorkloadRef) -> FlowEndpoint {
    FlowEndpoint::Workload {
        namespace: w.namespace.clone(),
        kind: w.kind.as_str().to_string(),
        name: w.name.clone(),
        labels: BTreeMap::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Guard check
// ---------------------------------------------------------------------------------------------

/// An observed connection seen from the target workload.
#[derive(Debug, Clone)]
pub struct TargetConnection<'a> {
    pub connection: &'a Connection,
    pub evidence: &'a Evidence,
    /// Ingress: the target is the destination; egress: the source.
    pub direction: Direction,
}

/// Observed connections (of any verdict) in which `target` is an end, one entry per direction
/// (a self-connection appears twice).
pub fn target_connections<'a>(snapshot: &'a Snapshot, target: &WorkloadRef) -> Vec<TargetConnection<'a>> {
    let key = flow_endpoint_of(target);
    let mut out = Vec::new();
    for (c, ev) in &snapshot.observed.flows.connections {
        if FlowEndpointKey::of(&c.source).as_ref() == Some(&key) {
            out.push(TargetConnection { connection: c, evidence: ev, direction: Direction::Egress });
        }
        if FlowEndpointKey::of(&c.destination).as_ref() == Some(&key) {
            out.push(TargetConnection { connection: c, evidence: ev, direction: Direction::Ingress });
        }
    }
    out
}

/// Human line for a connection.
pub fn describe(c: &Connection) -> String {
    if c.protocol == L4Protocol::ICMP {
        format!("{} -> {} ICMP", c.source, c.destination)
    } else {
        format!("{} -> {} {}/{}", c.source, c.destination, protocol_name(c.protocol), c.port)
    }
}

/// Policies in effect after replacing `original` with `proposal`.
pub fn effective_policies(
    inventory: &Inventory,
    proposal: &[serde_json::Value],
    original: &[serde_json::Value],
) -> PolicySet {
    let replaced: BTreeSet<String> = original.iter().map(policy_id_of_value).collect();
    let mut set = PolicySet::default();
    for s in &inventory.network_policies {
        let ns = s.object.metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let id = format!("{ns}/{}", s.object.metadata.name.as_deref().unwrap_or(""));
        if !replaced.contains(&id) {
            set.push(&s.object);
        }
    }
    let proposed = PolicySet::from_values(proposal);
    set.policies.extend(proposed.policies);
    set.errors.extend(proposed.errors);
    set
}

/// The `guard::netpol` check (contract in `guard/mod.rs`).
pub fn check(
    snapshot: &Snapshot,
    target: &Target,
    proposal: &[serde_json::Value],
    original: &[serde_json::Value],
    repair: bool,
) -> GuardOutcome {
    let TargetScope::Workload(wref) = &target.scope else {
        let verdict = GuardVerdict {
            uncovered: vec!["NetworkPolicies apply to workloads, not subjects".to_string()],
            ..GuardVerdict::default()
        };
        return GuardOutcome { manifests: proposal.to_vec(), verdict };
    };
    let mut manifests = proposal.to_vec();
    let mut repairs = Vec::new();
    if repair {
        let (pruned, lines) = prune_unsupported(snapshot, wref, &manifests, original);
        manifests = pruned;
        repairs.extend(lines);
    }
    let mut verdict = coverage(snapshot, wref, &manifests, original);
    if repair && !verdict.uncovered.is_empty() && !original.is_empty() {
        let (restored, lines) = restore_from_original(snapshot, wref, &manifests, original);
        if !lines.is_empty() {
            manifests = restored;
            repairs.extend(lines);
            verdict = coverage(snapshot, wref, &manifests, original);
        }
    }
    verdict.repairs = repairs;
    GuardOutcome { manifests, verdict }
}

/// Coverage and excess of `proposal` for the target workload.
pub fn coverage(
    snapshot: &Snapshot,
    wref: &WorkloadRef,
    proposal: &[serde_json::Value],
    original: &[serde_json::Value],
) -> GuardVerdict {
    let inv = &snapshot.inventory;
    let reserved = &snapshot.observed.flows.reserved_ips;
    let policies = effective_policies(inv, proposal, original);
    let mut verdict = GuardVerdict::default();
    for e in &policies.errors {
        verdict.uncovered.push(format!("invalid policy (the API server would reject it): {e}"));
    }
    let Some(me_w) = inv.workload(wref) else {
        // Flow-only workload: evaluate with the labels flows recorded.
        return coverage_flow_only(snapshot, wref, &policies, verdict);
    };
    let me = workload_endpoint(inv, me_w);
    let observed = target_connections(snapshot, wref);
    let mut observed_keys: BTreeSet<(Direction, FlowEndpoint, u16, L4Protocol)> = BTreeSet::new();
    for tc in &observed {
        let c = tc.connection;
        let other = match tc.direction {
            Direction::Ingress => &c.source,
            Direction::Egress => &c.destination,
        };
        observed_keys.insert((tc.direction, normalise(other), c.port, c.protocol));
        if c.verdict != FlowVerdict::Forwarded {
            continue;
        }
        verdict.observed += 1;
        let peer = resolve_endpoint(inv, reserved, other);
        let side = policies.side(tc.direction, &me, &peer, c.port, c.protocol);
        if side.allows() {
            verdict.covered += 1;
        } else {
            verdict.uncovered.push(format!(
                "{} ({}) blocked by {}",
                describe(c),
                tc.evidence.summary(),
                denied_by(&side)
            ));
        }
    }
    // Excess over the modelled universe, on the target's side.
    let mut excess = Vec::new();
    let mut extra = 0usize;
    let all = universe(snapshot);
    let my_ports: BTreeSet<(u16, L4Protocol)> = all
        .iter()
        .find(|u| FlowEndpointKey::of(&u.flow).as_ref() == Some(&flow_endpoint_of(wref)))
        .map(|u| u.ports.clone())
        .unwrap_or_default();
    for other in &all {
        if FlowEndpointKey::of(&other.flow).as_ref() == Some(&flow_endpoint_of(wref)) && observed.is_empty() {
            continue;
        }
        for direction in [Direction::Ingress, Direction::Egress] {
            let ports = match direction {
                Direction::Ingress => &my_ports,
                Direction::Egress => &other.ports,
            };
            for &(port, protocol) in ports {
                if observed_keys.contains(&(direction, normalise(&other.flow), port, protocol)) {
                    continue;
                }
                // Only isolated directions are listed per connection; an open direction is
                // reported once below.
                if !matches!(policies.side(direction, &me, &other.endpoint, port, protocol), SideDecision::Allowed(_)) {
                    continue;
                }
                if excess.len() < MAX_EXCESS_LINES {
                    let arrow = match direction {
                        Direction::Ingress => {
                            format!("ingress from {} on {}/{}", other.label, protocol_name(protocol), port)
                        }
                        Direction::Egress => {
                            format!("egress to {} on {}/{}", other.label, protocol_name(protocol), port)
                        }
                    };
                    excess.push(format!("{arrow}: allowed, never observed"));
                } else {
                    extra += 1;
                }
            }
        }
    }
    if let NetEndpoint::Pod(p) = &me {
        for direction in [Direction::Ingress, Direction::Egress] {
            if policies.isolating(p, direction).next().is_none() {
                let d = match direction {
                    Direction::Ingress => "ingress",
                    Direction::Egress => "egress",
                };
                excess.push(format!("{d}: not isolated, every peer and port is allowed"));
            }
        }
    }
    excess.extend(wide_grants(proposal));
    if extra > 0 {
        excess.push(format!("... and {extra} more allowed, never observed connections"));
    }
    verdict.excess = excess;
    verdict
}

fn coverage_flow_only(
    snapshot: &Snapshot,
    wref: &WorkloadRef,
    policies: &PolicySet,
    mut verdict: GuardVerdict,
) -> GuardVerdict {
    let inv = &snapshot.inventory;
    let reserved = &snapshot.observed.flows.reserved_ips;
    for tc in target_connections(snapshot, wref) {
        let c = tc.connection;
        if c.verdict != FlowVerdict::Forwarded {
            continue;
        }
        let (me_fe, other) = match tc.direction {
            Direction::Ingress => (&c.destination, &c.source),
            Direction::Egress => (&c.source, &c.destination),
        };
        let me = resolve_endpoint(inv, reserved, me_fe);
        let peer = resolve_endpoint(inv, reserved, other);
        verdict.observed += 1;
        let side = policies.side(tc.direction, &me, &peer, c.port, c.protocol);
        if side.allows() {
            verdict.covered += 1;
        } else {
            verdict.uncovered.push(format!(
                "{} ({}) blocked by {}",
                describe(c),
                tc.evidence.summary(),
                denied_by(&side)
            ));
        }
    }
    verdict
}

fn denied_by(side: &SideDecision) -> String {
    match side {
        SideDecision::Denied(ids) => ids.join(", "),
        _ => String::new(),
    }
}

/// Grants that are wide whatever the universe: all peers, empty selectors, 0.0.0.0/0.
pub fn wide_grants(proposal: &[serde_json::Value]) -> Vec<String> {
    let mut out = Vec::new();
    let set = PolicySet::from_values(proposal);
    for p in &set.policies {
        for (dir, rules) in [("ingress", &p.ingress), ("egress", &p.egress)] {
            for (i, r) in rules.iter().flatten().enumerate() {
                let at = format!("{} {dir}[{i}]", p.id());
                if r.peers.is_empty() {
                    let ports = if r.ports.is_empty() { "on every port" } else { "on its ports" };
                    out.push(format!("{at}: allows every peer (pods, namespaces and IPs) {ports}"));
                }
                for (j, peer) in r.peers.iter().enumerate() {
                    match peer {
                        Peer::IpBlock { cidr, .. } if cidr.prefix_len() == 0 => {
                            out.push(format!("{at} peer {j}: ipBlock {cidr} allows every address"))
                        }
                        Peer::Selector { pod, namespace } => {
                            let all_pods = pod.as_ref().is_none_or(is_empty_selector);
                            if all_pods && namespace.as_ref().is_some_and(is_empty_selector) {
                                out.push(format!("{at} peer {j}: every pod in every namespace"));
                            } else if all_pods && namespace.is_none() {
                                out.push(format!("{at} peer {j}: every pod in namespace {}", p.namespace));
                            }
                        }
                        _ => {}
                    }
                }
                if !r.peers.is_empty() && r.ports.is_empty() {
                    out.push(format!("{at}: allows every port and protocol"));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Repair
// ---------------------------------------------------------------------------------------------

/// Observed FORWARDED connections of the target, with the resolved peer endpoint.
fn observed_for_repair(
    snapshot: &Snapshot,
    wref: &WorkloadRef,
) -> Vec<(Direction, NetEndpoint, NetEndpoint, u16, L4Protocol)> {
    let inv = &snapshot.inventory;
    let reserved = &snapshot.observed.flows.reserved_ips;
    let me = match inv.workload(wref) {
        Some(w) => workload_endpoint(inv, w),
        None => return Vec::new(),
    };
    target_connections(snapshot, wref)
        .into_iter()
        .filter(|tc| tc.connection.verdict == FlowVerdict::Forwarded)
        .map(|tc| {
            let other = match tc.direction {
                Direction::Ingress => &tc.connection.source,
                Direction::Egress => &tc.connection.destination,
            };
            let peer = resolve_endpoint(inv, reserved, other);
            (tc.direction, me.clone(), peer, tc.connection.port, tc.connection.protocol)
        })
        .collect()
}

/// A rule's peers and ports as written.
type RawRule = (Option<Vec<NetworkPolicyPeer>>, Option<Vec<NetworkPolicyPort>>);

/// Remove peers and port entries of the proposal's rules that no observed connection uses and
/// that the original does not contain verbatim. Rules left without peers are removed (an empty
/// peer list would mean *all* peers).
fn prune_unsupported(
    snapshot: &Snapshot,
    wref: &WorkloadRef,
    proposal: &[serde_json::Value],
    original: &[serde_json::Value],
) -> (Vec<serde_json::Value>, Vec<String>) {
    let observed = observed_for_repair(snapshot, wref);
    if snapshot.inventory.workload(wref).is_none() {
        return (proposal.to_vec(), Vec::new());
    }
    let original_peers: BTreeSet<String> = original
        .iter()
        .flat_map(|o| {
            ["ingress", "egress"].into_iter().flat_map(move |dir| {
                o.pointer(&format!("/spec/{dir}")).and_then(|r| r.as_array()).into_iter().flatten().flat_map(
                    move |rule| {
                        let key = if dir == "ingress" { "from" } else { "to" };
                        rule.get(key)
                            .and_then(|p| p.as_array())
                            .into_iter()
                            .flatten()
                            .map(move |p| format!("{dir}:{p}"))
                    },
                )
            })
        })
        .collect();
    let mut out = Vec::new();
    let mut lines = Vec::new();
    for v in proposal {
        let Ok(np) = serde_json::from_value::<NetworkPolicy>(v.clone()) else {
            out.push(v.clone());
            continue;
        };
        let Ok(policy) = compile(&np, DEFAULT_NAMESPACE) else {
            out.push(v.clone());
            continue;
        };
        let mut np2 = np.clone();
        let id = policy.id();
        let selects_target = observed.first().is_some_and(|(_, me, ..)| match me {
            NetEndpoint::Pod(p) => policy.selects(p),
            _ => false,
        }) || snapshot.inventory.workload(wref).is_some_and(
            |w| matches!(workload_endpoint(&snapshot.inventory, w), NetEndpoint::Pod(ref p) if policy.selects(p)),
        );
        if !selects_target {
            out.push(v.clone());
            continue;
        }
        if let Some(spec) = np2.spec.as_mut() {
            for direction in [Direction::Ingress, Direction::Egress] {
                let dir = if direction == Direction::Ingress { "ingress" } else { "egress" };
                let Some(compiled) = policy.rules(direction) else { continue };
                let raw_rules: Vec<RawRule> = match direction {
                    Direction::Ingress => {
                        spec.ingress.iter().flatten().map(|r| (r.from.clone(), r.ports.clone())).collect()
                    }
                    Direction::Egress => {
                        spec.egress.iter().flatten().map(|r| (r.to.clone(), r.ports.clone())).collect()
                    }
                };
                let mut keep_rules = Vec::new();
                for (i, (rule, (raw_peers, raw_ports))) in compiled.iter().zip(raw_rules).enumerate() {
                    let used: Vec<&(Direction, NetEndpoint, NetEndpoint, u16, L4Protocol)> = observed
                        .iter()
                        .filter(|(d, me, peer, port, proto)| {
                            *d == direction && {
                                let dst = if direction == Direction::Ingress { me } else { peer };
                                rule_matches(rule, &policy.namespace, peer, dst, *port, *proto)
                            }
                        })
                        .collect();
                    let mut peers = raw_peers.clone();
                    if let Some(list) = peers.as_mut() {
                        let mut kept = Vec::new();
                        for (j, (raw, cp)) in list.iter().zip(&rule.peers).enumerate() {
                            let is_used = used.iter().any(|(_, _, peer, ..)| peer_matches(cp, &policy.namespace, peer));
                            let in_original = original_peers
                                .contains(&format!("{dir}:{}", serde_json::to_value(raw).unwrap_or_default()));
                            if is_used || in_original {
                                kept.push(raw.clone());
                            } else {
                                lines
                                    .push(format!("{id} {dir}[{i}] peer {j}: removed, no observed connection uses it"));
                            }
                        }
                        if kept.is_empty() && !list.is_empty() {
                            lines.push(format!("{id} {dir}[{i}]: removed, none of its peers was observed"));
                            continue;
                        }
                        *list = kept;
                    }
                    let mut ports = raw_ports.clone();
                    if let Some(list) = ports.as_mut() {
                        let mut kept = Vec::new();
                        for (j, (raw, cp)) in list.iter().zip(&rule.ports).enumerate() {
                            let is_used = used.iter().any(|(d, me, peer, port, proto)| {
                                let dst = if *d == Direction::Ingress { me } else { peer };
                                port_matches(cp, dst, *port, *proto)
                            });
                            if is_used || !original.is_empty() && in_original_ports(original, dir, raw) {
                                kept.push(raw.clone());
                            } else {
                                lines.push(format!(
                                    "{id} {dir}[{i}] ports[{j}]: removed, no observed connection uses it"
                                ));
                            }
                        }
                        if kept.is_empty() && !list.is_empty() {
                            lines.push(format!("{id} {dir}[{i}]: removed, none of its ports was observed"));
                            continue;
                        }
                        *list = kept;
                    }
                    keep_rules.push((peers, ports));
                }
                match direction {
                    Direction::Ingress => {
                        spec.ingress = Some(
                            keep_rules
                                .into_iter()
                                .map(|(from, ports)| k8s_openapi::api::networking::v1::NetworkPolicyIngressRule {
                                    from,
                                    ports,
                                })
                                .collect(),
                        )
                    }
                    Direction::Egress => {
                        spec.egress = Some(
                            keep_rules
                                .into_iter()
                                .map(|(to, ports)| k8s_openapi::api::networking::v1::NetworkPolicyEgressRule {
                                    to,
                                    ports,
                                })
                                .collect(),
                        )
                    }
                }
            }
        }
        match serde_json::to_value(&np2) {
            Ok(v2) => out.push(v2),
            Err(_) => out.push(v.clone()),
        }
    }
    (out, lines)
}

fn in_original_ports(original: &[serde_json::Value], dir: &str, raw: &NetworkPolicyPort) -> bool {
    let want = serde_json::to_value(raw).unwrap_or_default();
    original.iter().any(|o| {
        o.pointer(&format!("/spec/{dir}"))
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
            .any(|rule| rule.get("ports").and_then(|p| p.as_array()).into_iter().flatten().any(|p| p == &want))
    })
}

/// For observed connections the proposal blocks but the original allowed, add the original
/// rule back to the first proposed policy selecting the target (never more than the original).
fn restore_from_original(
    snapshot: &Snapshot,
    wref: &WorkloadRef,
    proposal: &[serde_json::Value],
    original: &[serde_json::Value],
) -> (Vec<serde_json::Value>, Vec<String>) {
    let observed = observed_for_repair(snapshot, wref);
    let now = effective_policies(&snapshot.inventory, proposal, original);
    let before = effective_policies(&snapshot.inventory, original, original);
    let mut out = proposal.to_vec();
    let mut lines = Vec::new();
    let orig_set = PolicySet::from_values(original);
    let orig_nps: Vec<NetworkPolicy> =
        original.iter().filter_map(|v| serde_json::from_value::<NetworkPolicy>(v.clone()).ok()).collect();
    let mut restored: BTreeSet<(String, String, usize)> = BTreeSet::new();
    for (direction, me, peer, port, proto) in &observed {
        if now.side(*direction, me, peer, *port, *proto).allows()
            || !before.side(*direction, me, peer, *port, *proto).allows()
        {
            continue;
        }
        // Find the original rule that allowed it.
        for (pi, p) in orig_set.policies.iter().enumerate() {
            let NetEndpoint::Pod(pod) = me else { continue };
            if !p.selects(pod) {
                continue;
            }
            let dst = if *direction == Direction::Ingress { me } else { peer };
            let Some(rules) = p.rules(*direction) else { continue };
            if let Some(ri) = rules.iter().position(|r| rule_matches(r, &p.namespace, peer, dst, *port, *proto)) {
                let dir = if *direction == Direction::Ingress { "ingress" } else { "egress" };
                if !restored.insert((p.id(), dir.to_string(), ri)) {
                    break;
                }
                let Some(onp) = orig_nps.get(pi) else { break };
                let rule_value = onp
                    .spec
                    .as_ref()
                    .and_then(|s| match direction {
                        Direction::Ingress => {
                            s.ingress.as_ref().and_then(|r| r.get(ri)).and_then(|r| serde_json::to_value(r).ok())
                        }
                        Direction::Egress => {
                            s.egress.as_ref().and_then(|r| r.get(ri)).and_then(|r| serde_json::to_value(r).ok())
                        }
                    })
                    .unwrap_or_default();
                // Append to the proposed policy with the same id, else to the first one.
                let target_idx = out.iter().position(|v| policy_id_of_value(v) == p.id()).or(if out.is_empty() {
                    None
                } else {
                    Some(0)
                });
                match target_idx {
                    Some(ti) => {
                        if let Some(spec) = out[ti].get_mut("spec").and_then(|s| s.as_object_mut()) {
                            let arr =
                                spec.entry(dir.to_string()).or_insert_with(|| serde_json::Value::Array(Vec::new()));
                            if let Some(a) = arr.as_array_mut() {
                                a.push(rule_value);
                            }
                        }
                    }
                    None => out.push(original[pi].clone()),
                }
                lines.push(format!(
                    "restored {} {dir}[{ri}] from the original: it allowed an observed connection",
                    p.id()
                ));
                break;
            }
        }
    }
    (out, lines)
}

// ---------------------------------------------------------------------------------------------
// Lint (verify and refine findings)
// ---------------------------------------------------------------------------------------------

/// Static defects of the inventory's policies: policies that select no workload, selector peers
/// that match no workload (typos such as `name: cart` for `carts`, with a suggestion), invalid
/// policies, and workloads left outside every policy in namespaces that use policies.
pub fn lint(inventory: &Inventory) -> Vec<crate::model::Finding> {
    use crate::model::{Finding, Severity};
    let set = PolicySet::from_inventory(inventory);
    let mut out = Vec::new();
    for e in &set.errors {
        out.push(Finding {
            rule_id: "KG-NETPOL-INVALID".into(),
            severity: Severity::High,
            subject: format!("NetworkPolicy {}", e.policy),
            message: format!("{}: the API server would reject it", e.message),
        });
    }
    let pods: Vec<(&Workload, PodEndpoint)> = inventory
        .workloads
        .iter()
        .filter_map(|w| match workload_endpoint(inventory, w) {
            NetEndpoint::Pod(p) => Some((w, p)),
            _ => None,
        })
        .collect();
    let namespaces_with_workloads: BTreeSet<&str> = pods.iter().map(|(w, _)| w.id.namespace.as_str()).collect();
    for p in &set.policies {
        if !namespaces_with_workloads.contains(p.namespace.as_str()) {
            continue;
        }
        if !pods.iter().any(|(_, pod)| p.selects(pod)) {
            out.push(Finding {
                rule_id: "KG-NETPOL-SELECTS-NOTHING".into(),
                severity: Severity::Medium,
                subject: format!("NetworkPolicy {}", p.id()),
                message: format!(
                    "podSelector {} selects no workload{}: the policy protects nothing",
                    selector_text(&p.selector),
                    suggestion(
                        &p.selector,
                        pods.iter().filter(|(w, _)| w.id.namespace == p.namespace).map(|(_, pod)| pod)
                    )
                ),
            });
        }
        for (dir, rules) in [("ingress", &p.ingress), ("egress", &p.egress)] {
            for (i, r) in rules.iter().flatten().enumerate() {
                for (j, peer) in r.peers.iter().enumerate() {
                    let Peer::Selector { pod, namespace } = peer else { continue };
                    let matched =
                        pods.iter().any(|(_, e)| peer_matches(peer, &p.namespace, &NetEndpoint::Pod(e.clone())));
                    if matched {
                        continue;
                    }
                    let candidates = pods
                        .iter()
                        .filter(|(w, _)| namespace.is_some() || w.id.namespace == p.namespace)
                        .map(|(_, e)| e);
                    let hint = pod.as_ref().map(|s| suggestion(s, candidates)).unwrap_or_default();
                    out.push(Finding {
                        rule_id: "KG-NETPOL-PEER-MATCHES-NOTHING".into(),
                        severity: Severity::Medium,
                        subject: format!("NetworkPolicy {} {dir}[{i}] peer {j}", p.id()),
                        message: format!(
                            "peer {} matches no workload{hint}: the traffic it was meant to allow is blocked",
                            pod.as_ref().map(selector_text).unwrap_or_else(|| "(namespaceSelector only)".into())
                        ),
                    });
                }
            }
        }
    }
    let policy_namespaces: BTreeSet<&str> = set
        .policies
        .iter()
        .filter(|p| !is_empty_selector(&p.selector) || p.ingress.is_some() || p.egress.is_some())
        .map(|p| p.namespace.as_str())
        .collect();
    for (w, pod) in &pods {
        if !policy_namespaces.contains(w.id.namespace.as_str()) {
            continue;
        }
        for (d, dir) in [(Direction::Ingress, "ingress"), (Direction::Egress, "egress")] {
            if d == Direction::Egress
                && !set.policies.iter().any(|p| p.namespace == w.id.namespace && p.egress.is_some())
            {
                continue;
            }
            let own =
                set.policies.iter().any(|p| p.rules(d).is_some() && p.selects(pod) && !is_empty_selector(&p.selector));
            let any = set.isolating(pod, d).next().is_some();
            if !any {
                out.push(Finding {
                    rule_id: "KG-NETPOL-NOT-ISOLATED".into(),
                    severity: Severity::Medium,
                    subject: w.id.to_string(),
                    message: format!("no NetworkPolicy isolates its {dir}: every peer and port is allowed"),
                });
            } else if !own && d == Direction::Ingress {
                out.push(Finding {
                    rule_id: "KG-NETPOL-NO-OWN-POLICY".into(),
                    severity: Severity::Low,
                    subject: w.id.to_string(),
                    message: format!("{dir} is governed only by namespace-wide policies"),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn selector_text(s: &LabelSelector) -> String {
    if is_empty_selector(s) {
        return "{}".into();
    }
    let mut parts: Vec<String> = s.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in s.match_expressions.iter().flatten() {
        parts.push(format!("{} {} ({})", e.key, e.operator, e.values.clone().unwrap_or_default().join(",")));
    }
    format!("{{{}}}", parts.join(", "))
}

/// "; did you mean name=carts?" when a matchLabels value is close to an existing one.
fn suggestion<'a>(s: &LabelSelector, pods: impl Iterator<Item = &'a PodEndpoint>) -> String {
    let mut hints = BTreeSet::new();
    let pods: Vec<&PodEndpoint> = pods.collect();
    for (k, v) in s.match_labels.iter().flatten() {
        for p in &pods {
            if let Some(actual) = p.labels.get(k)
                && actual != v
                && (actual.starts_with(v.as_str()) || v.starts_with(actual.as_str()) || edit_distance(actual, v) <= 2)
            {
                hints.insert(format!("{k}={actual}"));
            }
        }
    }
    if hints.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", hints.into_iter().collect::<Vec<_>>().join(" or "))
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl fmt::Display for SideDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SideDecision::NotIsolated => f.write_str("not isolated"),
            SideDecision::Allowed(p) => write!(f, "allowed by {}", p.join(", ")),
            SideDecision::Denied(p) => write!(f, "denied (isolated by {})", p.join(", ")),
            SideDecision::Exempt(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::manifests::load_str;

    const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: alpha}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {team: beta}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      containers:
      - name: web
        image: x
        ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 5353, protocol: UDP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: a}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, tier: back}}
    spec:
      containers:
      - name: api
        image: x
        ports: [{name: http, containerPort: 9000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: b}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers: [{name: c, image: x}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: b}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostNetwork: true
      containers: [{name: c, image: x}]
"#;

    fn setup(policies: &str) -> (Inventory, PolicySet) {
        let text = format!("{BASE}\n---\n{policies}");
        let (inv, stats) = load_str("test.yaml", &text, true).expect("manifests");
        assert_eq!(stats.malformed, 0);
        let set = PolicySet::from_inventory(&inv);
        (inv, set)
    }

    fn ep(inv: &Inventory, ns: &str, name: &str) -> NetEndpoint {
        let w = inv.workloads.iter().find(|w| w.id.namespace == ns && w.id.name == name).expect("workload");
        workload_endpoint(inv, w)
    }

    fn ip(s: &str) -> NetEndpoint {
        NetEndpoint::Addresses(vec![s.parse().expect("cidr")])
    }

    const TCP: L4Protocol = L4Protocol::TCP;
    const UDP: L4Protocol = L4Protocol::UDP;

    #[test]
    fn no_policy_allows_everything() {
        let (inv, set) = setup("");
        assert!(set.allows(&ep(&inv, "b", "client"), &ep(&inv, "a", "web"), 1234, TCP));
    }

    #[test]
    fn policy_types_default_to_ingress_and_egress_only_with_a_section() {
        // No policyTypes, only an egress section: Ingress AND Egress apply (ingress: deny all).
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  egress: [{to: [{podSelector: {matchLabels: {app: api}}}]}]\n",
        );
        let web = ep(&inv, "a", "web");
        let api = ep(&inv, "a", "api");
        assert!(set.allows(&web, &api, 9000, TCP));
        assert!(!set.allows(&web, &ep(&inv, "b", "client"), 80, TCP), "egress isolated");
        assert!(!set.allows(&api, &web, 8080, TCP), "ingress isolated by defaulting");
        // Egress-only with explicit type leaves ingress open.
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n",
        );
        assert!(set.allows(&ep(&inv, "a", "api"), &ep(&inv, "a", "web"), 8080, TCP));
        assert!(!set.allows(&ep(&inv, "a", "web"), &ep(&inv, "a", "api"), 9000, TCP));
    }

    #[test]
    fn ports_without_peers_allow_any_source_and_empty_rule_allows_all() {
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress: [{ports: [{port: 8080}]}]\n",
        );
        let web = ep(&inv, "a", "web");
        assert!(set.allows(&ep(&inv, "b", "client"), &web, 8080, TCP));
        assert!(set.allows(&ip("203.0.113.9/32"), &web, 8080, TCP));
        assert!(!set.allows(&ep(&inv, "b", "client"), &web, 8081, TCP));
        assert!(!set.allows(&ep(&inv, "b", "client"), &web, 8080, UDP), "protocol defaults to TCP");
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  ingress: [{}]\n",
        );
        assert!(set.allows(&ep(&inv, "b", "client"), &ep(&inv, "a", "web"), 1, UDP));
    }

    #[test]
    fn pod_and_namespace_selector_in_one_peer_are_anded_in_two_peers_ored() {
        let and = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: api}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: web}}, namespaceSelector: {matchLabels: {team: beta}}}]}]\n";
        let (inv, set) = setup(and);
        let api = ep(&inv, "a", "api");
        assert!(!set.allows(&ep(&inv, "a", "web"), &api, 9000, TCP), "web is in a, not beta");
        assert!(!set.allows(&ep(&inv, "b", "client"), &api, 9000, TCP), "client is not app=web");
        let or = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: api}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}, {namespaceSelector: {matchLabels: {team: beta}}}]}]\n";
        let (inv, set) = setup(or);
        let api = ep(&inv, "a", "api");
        assert!(set.allows(&ep(&inv, "a", "web"), &api, 9000, TCP));
        assert!(set.allows(&ep(&inv, "b", "client"), &api, 9000, TCP));
    }

    #[test]
    fn pod_selector_alone_means_the_policy_namespace() {
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: api}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]\n",
        );
        assert!(!set.allows(&ep(&inv, "b", "client"), &ep(&inv, "a", "api"), 9000, TCP));
    }

    #[test]
    fn named_ports_resolve_on_the_destination_with_protocol() {
        // Egress from client to "http": web's http is 8080, api's http is 9000.
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: b}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress: [{to: [{namespaceSelector: {}}], ports: [{port: http}, {port: dns, protocol: TCP}]}]\n",
        );
        let c = ep(&inv, "b", "client");
        assert!(set.allows(&c, &ep(&inv, "a", "web"), 8080, TCP));
        assert!(!set.allows(&c, &ep(&inv, "a", "web"), 9000, TCP));
        assert!(set.allows(&c, &ep(&inv, "a", "api"), 9000, TCP));
        assert!(!set.allows(&c, &ep(&inv, "a", "api"), 8080, TCP));
        assert!(!set.allows(&c, &ep(&inv, "a", "web"), 5353, UDP), "dns is UDP on web; the rule says TCP");
        assert!(!set.allows(&c, &ip("8.8.8.8/32"), 8080, TCP), "named ports never match addresses");
    }

    #[test]
    fn ip_block_with_except_and_end_port() {
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{port: 8000, endPort: 8100}]}]\n",
        );
        let web = ep(&inv, "a", "web");
        assert!(set.allows(&web, &ip("10.2.3.4/32"), 8050, TCP));
        assert!(!set.allows(&web, &ip("10.1.3.4/32"), 8050, TCP), "except");
        assert!(!set.allows(&web, &ip("10.2.3.4/32"), 8101, TCP), "above endPort");
        assert!(!set.allows(&web, &ip("10.0.0.0/7"), 8050, TCP), "a wider group is not inside");
        assert!(!set.allows(&web, &ep(&inv, "a", "api"), 8050, TCP), "ipBlock never matches pods");
    }

    #[test]
    fn invalid_policies_are_reported_not_applied() {
        let (_, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}], ports: [{port: http, endPort: 90}]}]\n",
        );
        assert!(set.policies.is_empty());
        assert_eq!(set.errors.len(), 1);
        assert!(set.errors[0].message.contains("ipBlock"), "{}", set.errors[0]);
    }

    #[test]
    fn own_node_is_exempt_and_host_network_pods_are_nodes() {
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n",
        );
        let web = ep(&inv, "a", "web");
        let own = NetEndpoint::Node { own_node: true, addresses: Vec::new() };
        let other = NetEndpoint::Node { own_node: false, addresses: Vec::new() };
        assert!(matches!(set.side(Direction::Ingress, &web, &own, 8080, TCP), SideDecision::Exempt(_)));
        assert!(!set.allows(&other, &web, 8080, TCP));
        assert!(matches!(ep(&inv, "b", "agent"), NetEndpoint::Node { .. }));
        // A hostNetwork pod is never selected: its egress is not isolated.
        assert_eq!(set.side(Direction::Egress, &ep(&inv, "b", "agent"), &web, 80, TCP), SideDecision::NotIsolated);
    }

    #[test]
    fn union_of_policies_and_both_ends() {
        let (inv, set) = setup(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p1, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}}], ports: [{port: 8080}]}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p2, namespace: a}\nspec:\n  podSelector: {matchLabels: {tier: front}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}]}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-out, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: api}}\n  policyTypes: [Egress]\n",
        );
        let web = ep(&inv, "a", "web");
        assert!(set.allows(&ep(&inv, "b", "client"), &web, 8080, TCP), "p1");
        let d = set.decide(&ep(&inv, "a", "api"), &web, 8080, TCP);
        assert!(d.ingress.allows(), "p2 allows api at web's ingress");
        assert!(!d.egress.allows(), "but api's egress is denied");
        assert!(!d.allowed());
    }
}
