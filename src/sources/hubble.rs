//! Hubble flow logs (`hubble observe -o json`): `{"flow": …}` envelopes and bare flow objects,
//! one per line, plain, gzip or stdin. Turns packets and events into **connections**
//! (`profile::FlowProfileSet`): one connection from many events (observation points on both
//! nodes, policy-verdict + trace events, L7 records all share the 5-tuple), replies never
//! counted as new connections (`is_reply`, else the deprecated `reply`, else TCP SYN/ACK, else
//! the destination being a listening or Service port).
//!
//! Attribution: Hubble's `workloads` field, else the owning inventory workload (selector match,
//! pod-name prefix), else the pod name with ReplicaSet/pod hashes stripped; ClusterIP
//! destinations (pre-DNAT captures) are mapped through the Service's `spec.selector` and
//! `targetPort` (named target ports resolved on the backend's pod spec); Cilium reserved
//! identities are named (`host`, `remote-node`, `kube-apiserver`, `health`, `ingress`, `world`
//! …) and their addresses kept; `world` addresses become external CIDRs, grouped by a
//! configurable prefix when several public addresses share it (private, link-local and
//! loopback addresses are never widened).
//!
//! Must not decide what to allow (that is `synth::netpol`); must not panic on any input: bad
//! lines are counted and reported with file and line.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::IpNet;
use rayon::prelude::*;
use serde::Deserialize;
use std::borrow::Cow;

use crate::guard::netpol::{selector_matches, workload_labels, workload_ports};
use crate::model::{Connection, Evidence, FlowEndpoint, FlowVerdict, Inventory, L4Protocol, Timestamp, Workload};
use crate::profile::FlowProfileSet;
use crate::sources::input::{self, Line};
use crate::sources::{IngestStats, InputError, SourceError};

/// Options of the flow ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubbleOptions {
    /// Public IPv4 addresses sharing this prefix are grouped into one CIDR.
    pub external_prefix_v4: u8,
    /// Public IPv6 addresses sharing this prefix are grouped into one CIDR.
    pub external_prefix_v6: u8,
    /// Group only when at least this many distinct addresses share the prefix (else `/32`).
    pub min_group: usize,
}

impl Default for HubbleOptions {
    fn default() -> Self {
        HubbleOptions { external_prefix_v4: 24, external_prefix_v6: 64, min_group: 2 }
    }
}

/// Counts a flow ingest reports besides `IngestStats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowCounts {
    /// Flow events read.
    pub flows: u64,
    /// Distinct connections (sum of edge evidence counts).
    pub connections: u64,
    /// Distinct (source, destination, port, protocol, verdict) edges.
    pub edges: u64,
}

impl FlowCounts {
    pub fn of(set: &FlowProfileSet, stats: &IngestStats) -> FlowCounts {
        FlowCounts { flows: stats.records, connections: set.connection_count(), edges: set.connections.len() as u64 }
    }
}

/// The `sources::hubble` ingest contract, with default options.
pub fn ingest(
    paths: &[PathBuf],
    inventory: &Inventory,
    strict: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(FlowProfileSet, IngestStats), InputError> {
    ingest_with(paths, inventory, strict, progress, &HubbleOptions::default())
}

/// Ingest with explicit options. Files are read in parallel and merged (the profile merge is
/// associative, so the result does not depend on the order).
pub fn ingest_with(
    paths: &[PathBuf],
    inventory: &Inventory,
    strict: bool,
    progress: &(dyn Fn(u64) + Sync),
    options: &HubbleOptions,
) -> Result<(FlowProfileSet, IngestStats), InputError> {
    let files = input::expand(paths, &["json", "jsonl", "log", "gz", "ndjson", "txt"])?;
    let index = InventoryIndex::new(inventory);
    let done = AtomicU64::new(0);
    let results: Vec<Result<(FlowProfileSet, IngestStats), InputError>> = files
        .par_iter()
        .map(|p| {
            let mut reader = input::open(p)?;
            let mut last = 0u64;
            let mut on_bytes = |consumed: u64| {
                let delta = consumed.saturating_sub(last);
                let total = done.fetch_add(delta, Ordering::Relaxed) + delta;
                progress(total);
                last = consumed;
            };
            ingest_reader(&mut reader, &p.display().to_string(), &index, strict, &mut on_bytes)
        })
        .collect();
    let mut set = FlowProfileSet::default();
    let mut stats = IngestStats::default();
    for r in results {
        let (s, st) = r?;
        set.merge(s);
        stats.merge(st);
    }
    finalize(&mut set, options);
    Ok((set, stats))
}

/// Post-ingest normalisation (order-independent, so it runs once on the merged profile):
/// label-only pod endpoints (no pod name) are folded into the one named workload of their
/// namespace with the same labels; each workload keeps the labels common to all its pods; public
/// external addresses are grouped.
pub fn finalize(set: &mut FlowProfileSet, options: &HubbleOptions) {
    type Key = (String, String, String);
    let mut labels_of: BTreeMap<Key, Option<BTreeMap<String, String>>> = BTreeMap::new();
    let mut named_by_labels: BTreeMap<(String, BTreeMap<String, String>), BTreeSet<Key>> = BTreeMap::new();
    let endpoints: Vec<FlowEndpoint> = set
        .connections
        .keys()
        .flat_map(|c| [c.source.clone(), c.destination.clone()])
        .chain(set.dns_queries.keys().cloned())
        .collect();
    for e in &endpoints {
        if let FlowEndpoint::Workload { namespace, kind, name, labels } = e
            && kind != "Pod"
            && !labels.is_empty()
        {
            named_by_labels.entry((namespace.clone(), labels.clone())).or_default().insert((
                namespace.clone(),
                kind.clone(),
                name.clone(),
            ));
        }
    }
    let rename = |e: &FlowEndpoint| -> FlowEndpoint {
        if let FlowEndpoint::Workload { namespace, kind, labels, .. } = e
            && kind == "Pod"
            && let Some(owners) = named_by_labels.get(&(namespace.clone(), labels.clone()))
            && owners.len() == 1
            && let Some((ns, k, n)) = owners.iter().next()
        {
            return FlowEndpoint::Workload {
                namespace: ns.clone(),
                kind: k.clone(),
                name: n.clone(),
                labels: labels.clone(),
            };
        }
        e.clone()
    };
    for e in &endpoints {
        if let FlowEndpoint::Workload { namespace, kind, name, labels } = rename(e) {
            let slot = labels_of.entry((namespace, kind, name)).or_insert(None);
            if labels.is_empty() {
                continue;
            }
            *slot = Some(match slot.take() {
                None => labels,
                Some(prev) => prev.into_iter().filter(|(k, v)| labels.get(k) == Some(v)).collect(),
            });
        }
    }
    let rewrite = |e: &FlowEndpoint| -> FlowEndpoint {
        match rename(e) {
            FlowEndpoint::Workload { namespace, kind, name, .. } => {
                let labels = labels_of
                    .get(&(namespace.clone(), kind.clone(), name.clone()))
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                FlowEndpoint::Workload { namespace, kind, name, labels }
            }
            other => other,
        }
    };
    let old = std::mem::take(&mut set.connections);
    for (c, ev) in old {
        let c2 = Connection { source: rewrite(&c.source), destination: rewrite(&c.destination), ..c };
        set.connections.entry(c2).or_default().merge(&ev);
    }
    let old = std::mem::take(&mut set.drop_reasons);
    for (c, r) in old {
        let c2 = Connection { source: rewrite(&c.source), destination: rewrite(&c.destination), ..c };
        set.drop_reasons.entry(c2).or_default().extend(r);
    }
    let old = std::mem::take(&mut set.dns_queries);
    for (e, q) in old {
        set.dns_queries.entry(rewrite(&e)).or_default().extend(q);
    }
    group_externals(set, options);
}

/// Parse one stream. `on_bytes` receives the bytes consumed so far (roughly every MiB).
pub fn ingest_reader(
    reader: &mut dyn std::io::BufRead,
    path: &str,
    index: &InventoryIndex<'_>,
    strict: bool,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<(FlowProfileSet, IngestStats), InputError> {
    let mut state = State::new(index);
    let mut stats = IngestStats { files: 1, ..IngestStats::default() };
    let mut consumed = 0u64;
    let mut next_report = 1u64 << 20;
    let mut fatal: Option<SourceError> = None;
    let res = input::for_each_line(reader, |line_no, line| {
        if fatal.is_some() {
            return;
        }
        stats.lines += 1;
        match line {
            Line::TooLong(n) => {
                consumed += n as u64 + 1;
                stats.error(path, line_no, format!("line of {n} bytes exceeds the limit"));
                if strict {
                    fatal =
                        Some(SourceError { path: path.to_string(), line: line_no, message: "line too long".into() });
                }
            }
            Line::Text(text) => {
                consumed += text.len() as u64 + 1;
                if text.iter().all(|b| b.is_ascii_whitespace()) {
                    return;
                }
                match state.event(text) {
                    Ok(Outcome::Connection) => stats.records += 1,
                    Ok(Outcome::Duplicate) => {
                        stats.records += 1;
                        stats.duplicates += 1;
                    }
                    Ok(Outcome::Skipped) => stats.skipped += 1,
                    Err(message) => {
                        if strict {
                            fatal =
                                Some(SourceError { path: path.to_string(), line: line_no, message: message.clone() });
                        }
                        stats.error(path, line_no, message);
                    }
                }
            }
        }
        if consumed >= next_report {
            on_bytes(consumed);
            next_report = consumed + (1 << 20);
        }
    });
    let bytes = res.map_err(|source| InputError::Io { path: path.to_string(), source })?;
    on_bytes(bytes);
    stats.bytes = bytes;
    if let Some(e) = fatal {
        return Err(InputError::Malformed(e));
    }
    Ok((state.profile, stats))
}

// ---------------------------------------------------------------------------------------------
// Raw JSON shape (only the fields we use; unknown fields ignored)
// ---------------------------------------------------------------------------------------------

/// A string or a number (Hubble enums are names in `-o json`, numbers in some exporters).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Sym<'a> {
    #[serde(borrow)]
    S(Cow<'a, str>),
    N(i64),
}

impl Sym<'_> {
    fn as_str(&self) -> &str {
        match self {
            Sym::S(s) => s,
            Sym::N(_) => "",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct RawFlow<'a> {
    #[serde(borrow, default)]
    flow: Option<Box<RawFlow<'a>>>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    verdict: Option<Sym<'a>>,
    #[serde(borrow, default)]
    drop_reason_desc: Option<Sym<'a>>,
    #[serde(borrow, default, rename = "IP")]
    ip: Option<RawIp<'a>>,
    #[serde(default)]
    l4: Option<RawL4>,
    #[serde(borrow, default)]
    source: Option<RawEndpoint<'a>>,
    #[serde(borrow, default)]
    destination: Option<RawEndpoint<'a>>,
    #[serde(borrow, default)]
    l7: Option<RawL7<'a>>,
    #[serde(borrow, default)]
    destination_service: Option<RawService<'a>>,
    #[serde(default)]
    is_reply: Option<bool>,
    #[serde(default)]
    reply: Option<bool>,
    #[serde(default)]
    event_type: Option<RawEventType>,
    // Non-flow records `hubble observe` may print.
    #[serde(default)]
    node_status: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    lost_events: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
struct RawIp<'a> {
    #[serde(borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    destination: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[allow(non_snake_case)]
struct RawL4 {
    #[serde(default)]
    TCP: Option<RawPorts>,
    #[serde(default)]
    UDP: Option<RawPorts>,
    #[serde(default)]
    SCTP: Option<RawPorts>,
    #[serde(default)]
    ICMPv4: Option<RawIcmp>,
    #[serde(default)]
    ICMPv6: Option<RawIcmp>,
}

#[derive(Debug, Default, Deserialize)]
struct RawPorts {
    #[serde(default)]
    source_port: u32,
    #[serde(default)]
    destination_port: u32,
    #[serde(default)]
    flags: Option<RawFlags>,
}

#[derive(Debug, Default, Deserialize)]
#[allow(non_snake_case)]
struct RawFlags {
    #[serde(default)]
    SYN: bool,
    #[serde(default)]
    ACK: bool,
}

#[derive(Debug, Default, Deserialize)]
struct RawIcmp {
    #[serde(default, rename = "type")]
    icmp_type: u32,
}

#[derive(Debug, Default, Deserialize)]
#[allow(non_snake_case)]
struct RawEndpoint<'a> {
    #[serde(default)]
    identity: u64,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pod_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    labels: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    workloads: Vec<RawWorkload<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawWorkload<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    kind: Cow<'a, str>,
}

#[derive(Debug, Default, Deserialize)]
struct RawL7<'a> {
    #[serde(borrow, default)]
    dns: Option<RawDns<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawDns<'a> {
    #[serde(borrow, default)]
    query: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawService<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    namespace: Cow<'a, str>,
}

#[derive(Debug, Default, Deserialize)]
struct RawEventType {
    #[serde(default, rename = "type")]
    kind: i64,
}

// ---------------------------------------------------------------------------------------------
// Inventory index (attribution)
// ---------------------------------------------------------------------------------------------

/// Lookups the attribution needs, built once per ingest.
pub struct InventoryIndex<'a> {
    inventory: &'a Inventory,
    /// ClusterIP → (namespace, service name).
    cluster_ips: HashMap<IpAddr, (String, String)>,
    /// Ports any workload listens on or any Service exposes/targets (reply fallback).
    listening: HashSet<u16>,
}

impl<'a> InventoryIndex<'a> {
    pub fn new(inventory: &'a Inventory) -> Self {
        let mut cluster_ips = HashMap::new();
        let mut listening = HashSet::new();
        for s in &inventory.services {
            let ns = s.object.metadata.namespace.clone().unwrap_or_else(|| "default".to_string());
            let name = s.object.metadata.name.clone().unwrap_or_default();
            if let Some(spec) = &s.object.spec {
                for ip in spec.cluster_ips.iter().flatten().chain(spec.cluster_ip.iter()) {
                    if let Ok(a) = ip.parse::<IpAddr>() {
                        cluster_ips.insert(a, (ns.clone(), name.clone()));
                    }
                }
                for p in spec.ports.iter().flatten() {
                    if let Ok(n) = u16::try_from(p.port) {
                        listening.insert(n);
                    }
                    if let Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(t)) = &p.target_port
                        && let Ok(n) = u16::try_from(*t)
                    {
                        listening.insert(n);
                    }
                }
            }
        }
        for w in &inventory.workloads {
            for p in workload_ports(w) {
                listening.insert(p.port);
            }
        }
        InventoryIndex { inventory, cluster_ips, listening }
    }

    /// The inventory workload owning a pod with these labels (and name, when known).
    fn owner(&self, namespace: &str, pod_name: &str, labels: &BTreeMap<String, String>) -> Option<&'a Workload> {
        let mut candidates: Vec<&Workload> = self
            .inventory
            .workloads
            .iter()
            .filter(|w| w.id.namespace == namespace)
            .filter(|w| {
                if !pod_name.is_empty() && pod_name_matches(pod_name, &w.id.name) {
                    return true;
                }
                !labels.is_empty() && has_selector(w) && selector_matches(&w.selector, labels)
            })
            .collect();
        // Prefer the pod-name match, then the most specific selector, then the name.
        candidates.sort_by_key(|w| {
            (
                !(pod_name.is_empty() || pod_name_matches(pod_name, &w.id.name)),
                std::cmp::Reverse(w.selector.match_labels.as_ref().map_or(0, BTreeMap::len)),
                w.id.name.clone(),
            )
        });
        candidates.into_iter().next()
    }

    /// Backend workload and pod port of `ip:port` when it is a Service ClusterIP.
    fn service_backend(&self, ip: IpAddr, port: u16) -> Option<(&'a Workload, u16)> {
        let (ns, name) = self.cluster_ips.get(&ip)?;
        self.backend_of(ns, name, port)
    }

    fn backend_of(&self, ns: &str, name: &str, port: u16) -> Option<(&'a Workload, u16)> {
        let svc = self.inventory.services.iter().find(|s| {
            s.object.metadata.namespace.as_deref().unwrap_or("default") == ns
                && s.object.metadata.name.as_deref() == Some(name)
        })?;
        let spec = svc.object.spec.as_ref()?;
        let selector = spec.selector.as_ref().filter(|s| !s.is_empty())?;
        let backend = self
            .inventory
            .workloads
            .iter()
            .filter(|w| w.id.namespace == ns)
            .find(|w| selector.iter().all(|(k, v)| workload_labels(w).get(k) == Some(v)))?;
        let sp = spec.ports.iter().flatten().find(|p| u16::try_from(p.port).ok() == Some(port));
        let target = match sp.and_then(|p| p.target_port.as_ref()) {
            None => port,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(t)) => {
                u16::try_from(*t).unwrap_or(port)
            }
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n)) => {
                let proto = sp.and_then(|p| p.protocol.clone()).unwrap_or_else(|| "TCP".into());
                workload_ports(backend)
                    .into_iter()
                    .find(|p| &p.name == n && crate::guard::netpol::protocol_name(p.protocol) == proto)
                    .map_or(port, |p| p.port)
            }
        };
        Some((backend, target))
    }
}

fn has_selector(w: &Workload) -> bool {
    w.selector.match_labels.as_ref().is_some_and(|m| !m.is_empty())
        || w.selector.match_expressions.as_ref().is_some_and(|m| !m.is_empty())
}

/// `reviews-v1-545db77b95-s6jb8` belongs to `reviews-v1`; `web-0` to `web`; `ds-x7k2p` to `ds`.
fn pod_name_matches(pod: &str, workload: &str) -> bool {
    pod.strip_prefix(workload).and_then(|rest| rest.strip_prefix('-')).is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('-').collect();
        match parts.as_slice() {
            [a] => is_pod_suffix(a) || a.chars().all(|c| c.is_ascii_digit()),
            [h, s] => is_hash(h) && is_pod_suffix(s) || h.chars().all(|c| c.is_ascii_digit()) && is_pod_suffix(s),
            _ => false,
        }
    })
}

/// Kubernetes random suffixes use this alphabet (no vowels, no 0/1/3).
fn is_pod_suffix(s: &str) -> bool {
    s.len() == 5 && s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
}

fn is_hash(s: &str) -> bool {
    (6..=10).contains(&s.len()) && s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
}

/// Workload (kind, name) from a pod name alone: ReplicaSet hash + suffix → Deployment;
/// `-<digits>` → StatefulSet; a 5-char suffix → DaemonSet (or Job: indistinguishable; the
/// inventory or Hubble's `workloads` field decides when present).
pub fn workload_from_pod_name(pod: &str) -> (&'static str, String) {
    let parts: Vec<&str> = pod.split('-').collect();
    if parts.len() >= 3 {
        let (h, s) = (parts[parts.len() - 2], parts[parts.len() - 1]);
        if is_hash(h) && is_pod_suffix(s) {
            return ("Deployment", parts[..parts.len() - 2].join("-"));
        }
        if h.chars().all(|c| c.is_ascii_digit()) && h.len() >= 8 && is_pod_suffix(s) {
            // CronJob: <cronjob>-<scheduled time>-<suffix>
            return ("CronJob", parts[..parts.len() - 2].join("-"));
        }
    }
    if parts.len() >= 2 {
        let last = parts[parts.len() - 1];
        if last.chars().all(|c| c.is_ascii_digit()) && !last.is_empty() {
            return ("StatefulSet", parts[..parts.len() - 1].join("-"));
        }
        if is_pod_suffix(last) {
            return ("DaemonSet", parts[..parts.len() - 1].join("-"));
        }
    }
    ("Pod", pod.to_string())
}

// ---------------------------------------------------------------------------------------------
// Per-stream state
// ---------------------------------------------------------------------------------------------

enum Outcome {
    Connection,
    Duplicate,
    Skipped,
}

struct State<'i, 'a> {
    index: &'i InventoryIndex<'a>,
    profile: FlowProfileSet,
    /// 5-tuples (+ verdict) already counted as a connection.
    seen: HashSet<u64>,
    /// Attribution cache: endpoint fingerprint → endpoint.
    cache: HashMap<u64, FlowEndpoint>,
}

/// Cilium reserved identities by number.
fn reserved_by_id(id: u64) -> Option<&'static str> {
    Some(match id {
        1 => "host",
        2 | 9 | 10 => "world",
        3 => "unmanaged",
        4 => "health",
        5 => "init",
        6 => "remote-node",
        7 => "kube-apiserver",
        8 => "ingress",
        _ => return None,
    })
}

/// Which reserved name wins when an identity carries several (`kube-apiserver` + `world`).
fn reserved_rank(name: &str) -> u8 {
    match name {
        "kube-apiserver" => 0,
        "host" => 1,
        "remote-node" => 2,
        "health" => 3,
        "ingress" => 4,
        "init" => 5,
        "unmanaged" => 6,
        "world" | "world-ipv4" | "world-ipv6" => 7,
        _ => 8,
    }
}

struct Attributed {
    endpoint: FlowEndpoint,
    /// Port after Service translation (ClusterIP → backend targetPort).
    port: Option<u16>,
    /// Reserved identity whose address to record.
    reserved_ip: Option<(String, String)>,
    /// Ports the endpoint is known to listen on (inventory).
    listening: Vec<u16>,
}

impl<'i, 'a> State<'i, 'a> {
    fn new(index: &'i InventoryIndex<'a>) -> Self {
        State { index, profile: FlowProfileSet::default(), seen: HashSet::new(), cache: HashMap::new() }
    }

    fn event(&mut self, text: &[u8]) -> Result<Outcome, String> {
        let mut raw: RawFlow<'_> = serde_json::from_slice(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let envelope_time = raw.time.take();
        let f: RawFlow<'_> = match raw.flow.take() {
            Some(inner) => *inner,
            None => {
                if raw.node_status.is_some() || raw.lost_events.is_some() {
                    return Ok(Outcome::Skipped);
                }
                raw.time = envelope_time.clone();
                raw
            }
        };
        if f.verdict.is_none() && f.source.is_none() && f.destination.is_none() && f.ip.is_none() {
            return Err("not a flow: no verdict, endpoints or IP".to_string());
        }
        let verdict = match f.verdict.as_ref().map(Sym::as_str).unwrap_or("") {
            "FORWARDED" | "REDIRECTED" | "TRANSLATED" | "TRACED" => FlowVerdict::Forwarded,
            "DROPPED" => FlowVerdict::Dropped,
            "AUDIT" => FlowVerdict::Audit,
            "" => match f.verdict {
                Some(Sym::N(1)) => FlowVerdict::Forwarded,
                Some(Sym::N(2)) => FlowVerdict::Dropped,
                Some(Sym::N(7)) => FlowVerdict::Audit,
                _ => FlowVerdict::Other,
            },
            _ => FlowVerdict::Other,
        };
        if verdict == FlowVerdict::Other {
            return Ok(Outcome::Skipped);
        }
        let Some(l4) = &f.l4 else {
            // No transport header (ARP-ish, L7 without l4): nothing a NetworkPolicy can match.
            return Ok(Outcome::Skipped);
        };
        let (protocol, sport, dport, flags, icmp_type) = if let Some(p) = &l4.TCP {
            (L4Protocol::TCP, p.source_port, p.destination_port, p.flags.as_ref().map(|f| (f.SYN, f.ACK)), None)
        } else if let Some(p) = &l4.UDP {
            (L4Protocol::UDP, p.source_port, p.destination_port, None, None)
        } else if let Some(p) = &l4.SCTP {
            (L4Protocol::SCTP, p.source_port, p.destination_port, None, None)
        } else if let Some(i) = l4.ICMPv4.as_ref().or(l4.ICMPv6.as_ref()) {
            (L4Protocol::ICMP, 0, 0, None, Some(i.icmp_type))
        } else {
            return Ok(Outcome::Skipped);
        };
        let sport = u16::try_from(sport).map_err(|_| format!("source port {sport} out of range"))?;
        let dport = u16::try_from(dport).map_err(|_| format!("destination port {dport} out of range"))?;
        if protocol != L4Protocol::ICMP && dport == 0 {
            return Err("destination port 0".to_string());
        }
        let src_ip = f.ip.as_ref().and_then(|i| i.source.as_deref()).and_then(|s| s.parse::<IpAddr>().ok());
        let dst_ip = f.ip.as_ref().and_then(|i| i.destination.as_deref()).and_then(|s| s.parse::<IpAddr>().ok());
        let empty = RawEndpoint::default();
        let src = self.attribute(f.source.as_ref().unwrap_or(&empty), src_ip, None, None);
        let dst = self.attribute(
            f.destination.as_ref().unwrap_or(&empty),
            dst_ip,
            Some(dport),
            f.destination_service.as_ref(),
        );

        // Is this event the opening side of a connection?
        let reply = match (f.is_reply, protocol) {
            (Some(r), _) => r,
            (None, L4Protocol::ICMP) => icmp_type.is_some_and(is_icmp_reply_type) || f.reply == Some(true),
            (None, _) if f.reply == Some(true) => true,
            (None, _) => match flags {
                Some((true, ack)) => ack,
                _ => self.reply_by_ports(&src, &dst, sport, dport),
            },
        };
        if reply {
            return Ok(Outcome::Duplicate);
        }
        let port = if protocol == L4Protocol::ICMP { 0 } else { dst.port.unwrap_or(dport) };
        let ts = f.time.as_deref().or(envelope_time.as_deref()).and_then(Timestamp::parse_rfc3339).unwrap_or_default();
        for (name, ip) in [&src.reserved_ip, &dst.reserved_ip].into_iter().flatten() {
            let set = self.profile.reserved_ips.entry(name.clone()).or_default();
            if set.len() < 256 {
                set.insert(ip.clone());
            }
        }
        if let Some(dns) = f.l7.as_ref().and_then(|l| l.dns.as_ref()).and_then(|d| d.query.as_deref()) {
            let set = self.profile.dns_queries.entry(src.endpoint.clone()).or_default();
            if set.len() < crate::profile::flows::MAX_DNS_NAMES_PER_SOURCE {
                set.insert(dns.trim_end_matches('.').to_string());
            }
        }
        let conn = Connection { source: src.endpoint, destination: dst.endpoint, port, protocol, verdict };
        if matches!(verdict, FlowVerdict::Dropped | FlowVerdict::Audit)
            && let Some(reason) = f.drop_reason_desc.as_ref().map(Sym::as_str).filter(|r| !r.is_empty())
        {
            self.profile.drop_reasons.entry(conn.clone()).or_default().insert(reason.to_string());
        }
        // One connection per 5-tuple (+ verdict): observation points and L7 records fold in.
        let mut h = DefaultHasher::new();
        (src_ip, dst_ip, sport, dport, protocol, verdict).hash(&mut h);
        if src_ip.is_none() || dst_ip.is_none() {
            (&conn.source, &conn.destination, f.event_type.as_ref().map(|e| e.kind)).hash(&mut h);
        }
        if protocol == L4Protocol::ICMP {
            // ICMP has no ports: one "connection" per event is too many; fold per endpoint pair.
            (&conn.source, &conn.destination).hash(&mut h);
        }
        let fresh = self.seen.insert(h.finish());
        let example = f.uuid.as_deref();
        match self.profile.connections.get_mut(&conn) {
            Some(e) if !fresh => {
                e.last_seen = e.last_seen.max(ts);
                if e.first_seen.0 == 0 || (ts.0 != 0 && ts < e.first_seen) {
                    e.first_seen = ts;
                }
            }
            Some(e) => e.observe(ts, example),
            None => {
                self.profile.connections.insert(conn, Evidence::one(ts, example));
            }
        }
        Ok(if fresh { Outcome::Connection } else { Outcome::Duplicate })
    }

    /// Last-resort reply detection when neither `is_reply` nor TCP flags tell: the side that
    /// listens (inventory ports, Service ports) is the server; else the lower port.
    fn reply_by_ports(&self, src: &Attributed, dst: &Attributed, sport: u16, dport: u16) -> bool {
        let dst_listens = dst.listening.contains(&dport);
        let src_listens = src.listening.contains(&sport);
        if dst_listens != src_listens {
            return src_listens;
        }
        let known_d = self.index.listening.contains(&dport);
        let known_s = self.index.listening.contains(&sport);
        if known_d != known_s {
            return known_s;
        }
        sport < dport
    }

    fn attribute(
        &mut self,
        ep: &RawEndpoint<'_>,
        ip: Option<IpAddr>,
        port: Option<u16>,
        service: Option<&RawService<'_>>,
    ) -> Attributed {
        let mut namespace = ep.namespace.as_deref().unwrap_or("");
        let pod = ep.pod_name.as_deref().unwrap_or("");
        let mut labels = BTreeMap::new();
        let mut reserved: Vec<&str> = Vec::new();
        for l in &ep.labels {
            let (source, kv) = l.split_once(':').unwrap_or(("", l));
            if source == "reserved" {
                reserved.push(kv.split_once('=').map_or(kv, |(k, _)| k));
                continue;
            }
            if source != "k8s" {
                continue;
            }
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if k == "io.kubernetes.pod.namespace" && namespace.is_empty() {
                namespace = v;
                continue;
            }
            if k.starts_with("io.kubernetes.pod.namespace") || k.starts_with("io.cilium.") {
                continue;
            }
            labels.insert(k.to_string(), v.to_string());
        }
        if !namespace.is_empty() && (!pod.is_empty() || !labels.is_empty() || !ep.workloads.is_empty()) {
            let mut fp = DefaultHasher::new();
            (namespace, pod, ep.identity, ep.workloads.first().map(|w| (&w.name, &w.kind))).hash(&mut fp);
            let key = fp.finish();
            let endpoint = match self.cache.get(&key) {
                Some(e) => e.clone(),
                None => {
                    let e = self.pod_endpoint(namespace, pod, ep, labels);
                    self.cache.insert(key, e.clone());
                    e
                }
            };
            let listening = crate::guard::netpol::find_workload(self.index.inventory, &endpoint)
                .map(|w| workload_ports(w).into_iter().map(|p| p.port).collect())
                .unwrap_or_default();
            return Attributed { endpoint, port: None, reserved_ip: None, listening };
        }
        // Not a pod: Service ClusterIP (pre-DNAT capture)?
        if let (Some(a), Some(p)) = (ip, port) {
            let backend = self.index.service_backend(a, p).or_else(|| {
                service.and_then(|s| {
                    let ns = if s.namespace.is_empty() { "default" } else { &s.namespace };
                    self.index.backend_of(ns, &s.name, p)
                })
            });
            if let Some((w, target_port)) = backend {
                let endpoint = FlowEndpoint::Workload {
                    namespace: w.id.namespace.clone(),
                    kind: w.id.kind.as_str().to_string(),
                    name: w.id.name.clone(),
                    labels: workload_labels(w),
                };
                let listening = workload_ports(w).into_iter().map(|p| p.port).collect();
                return Attributed { endpoint, port: Some(target_port), reserved_ip: None, listening };
            }
        }
        let mut name = reserved.iter().copied().min_by_key(|n| (reserved_rank(n), *n)).map(str::to_string);
        if name.is_none() {
            name = reserved_by_id(ep.identity).map(str::to_string);
        }
        let endpoint_ip = ip.map(|a| a.to_string());
        match name.as_deref() {
            Some("world" | "world-ipv4" | "world-ipv6") => match ip {
                Some(a) => Attributed {
                    endpoint: FlowEndpoint::External { cidr: IpNet::from(a).to_string() },
                    port: None,
                    reserved_ip: None,
                    listening: Vec::new(),
                },
                None => Attributed {
                    endpoint: FlowEndpoint::Reserved { name: "world".into() },
                    port: None,
                    reserved_ip: None,
                    listening: Vec::new(),
                },
            },
            Some(n) => Attributed {
                endpoint: FlowEndpoint::Reserved { name: n.to_string() },
                port: None,
                reserved_ip: endpoint_ip.map(|i| (n.to_string(), i)),
                listening: Vec::new(),
            },
            None => match ip {
                Some(a) => Attributed {
                    endpoint: FlowEndpoint::Unknown { ip: a.to_string() },
                    port: None,
                    reserved_ip: None,
                    listening: Vec::new(),
                },
                None => Attributed {
                    endpoint: FlowEndpoint::Unknown { ip: String::new() },
                    port: None,
                    reserved_ip: None,
                    listening: Vec::new(),
                },
            },
        }
    }

    fn pod_endpoint(
        &self,
        namespace: &str,
        pod: &str,
        ep: &RawEndpoint<'_>,
        labels: BTreeMap<String, String>,
    ) -> FlowEndpoint {
        let (kind, name) = if let Some(w) = self.index.owner(namespace, pod, &labels) {
            (w.id.kind.as_str().to_string(), w.id.name.clone())
        } else if let Some(w) = ep.workloads.iter().find(|w| !w.name.is_empty()) {
            let kind = if w.kind.is_empty() { "Pod".to_string() } else { w.kind.to_string() };
            (kind, w.name.to_string())
        } else if !pod.is_empty() {
            let (k, n) = workload_from_pod_name(pod);
            (k.to_string(), n)
        } else {
            let n = ["app.kubernetes.io/name", "app", "k8s-app", "name"]
                .iter()
                .find_map(|k| labels.get(*k))
                .cloned()
                .unwrap_or_else(|| format!("identity-{}", ep.identity));
            ("Pod".to_string(), n)
        };
        FlowEndpoint::Workload { namespace: namespace.to_string(), kind, name, labels }
    }
}

fn is_icmp_reply_type(t: u32) -> bool {
    // v4: 0 echo reply, 14 timestamp reply; v6: 129 echo reply.
    matches!(t, 0 | 14 | 129)
}

/// Private, link-local, loopback, CGNAT, ULA: never widened into a group.
fn is_private(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || (v.octets()[0] == 100 && (v.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v) => {
            v.is_loopback() || (v.segments()[0] & 0xfe00) == 0xfc00 || (v.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Rewrite `/32` (`/128`) external endpoints into their prefix when at least `min_group`
/// distinct public addresses share it.
pub fn group_externals(set: &mut FlowProfileSet, options: &HubbleOptions) {
    let mut addrs: BTreeSet<IpAddr> = BTreeSet::new();
    for c in set.connections.keys() {
        for e in [&c.source, &c.destination] {
            if let FlowEndpoint::External { cidr } = e
                && let Ok(n) = cidr.parse::<IpNet>()
                && n.prefix_len() == n.max_prefix_len()
            {
                addrs.insert(n.addr());
            }
        }
    }
    let group_of = |a: &IpAddr| -> Option<IpNet> {
        if is_private(a) {
            return None;
        }
        let prefix = if a.is_ipv4() { options.external_prefix_v4.min(32) } else { options.external_prefix_v6.min(128) };
        IpNet::new(*a, prefix).ok().map(|n| n.trunc())
    };
    let mut members: BTreeMap<IpNet, usize> = BTreeMap::new();
    for a in &addrs {
        if let Some(g) = group_of(a) {
            *members.entry(g).or_default() += 1;
        }
    }
    let rewrite = |e: &FlowEndpoint| -> FlowEndpoint {
        if let FlowEndpoint::External { cidr } = e
            && let Ok(n) = cidr.parse::<IpNet>()
            && n.prefix_len() == n.max_prefix_len()
            && let Some(g) = group_of(&n.addr())
            && members.get(&g).copied().unwrap_or(0) >= options.min_group.max(1)
        {
            return FlowEndpoint::External { cidr: g.to_string() };
        }
        e.clone()
    };
    if members.values().all(|m| *m < options.min_group.max(1)) {
        return;
    }
    let old = std::mem::take(&mut set.connections);
    for (c, ev) in old {
        let c2 = Connection { source: rewrite(&c.source), destination: rewrite(&c.destination), ..c };
        set.connections.entry(c2).or_default().merge(&ev);
    }
    let old = std::mem::take(&mut set.drop_reasons);
    for (c, r) in old {
        let c2 = Connection { source: rewrite(&c.source), destination: rewrite(&c.destination), ..c };
        set.drop_reasons.entry(c2).or_default().extend(r);
    }
}

/// Parse flows from an in-memory string (tests, demo).
pub fn ingest_str(
    text: &str,
    name: &str,
    inventory: &Inventory,
    options: &HubbleOptions,
) -> Result<(FlowProfileSet, IngestStats), InputError> {
    let index = InventoryIndex::new(inventory);
    let mut cursor = std::io::Cursor::new(text.as_bytes());
    let (mut set, stats) = ingest_reader(&mut cursor, name, &index, false, &mut |_| {})?;
    finalize(&mut set, options);
    Ok((set, stats))
}

/// The path label used in errors for a file.
pub fn display_path(p: &Path) -> String {
    p.display().to_string()
}
