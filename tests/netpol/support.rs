//! Shared helpers of the NetworkPolicy integration tests: snapshots from manifests + flows, and
//! a Hubble flow writer that turns a call graph into realistic `hubble observe -o json` lines
//! (SYN at two observation points, SYN/ACK and ACK replies, a DNS lookup before each call).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use kubeguard::model::{Inventory, Workload};
use kubeguard::snapshot::Snapshot;
use kubeguard::sources::hubble::{self, HubbleOptions};

/// One call: `src` opens a connection to `dst` on `port`/`proto`.
#[derive(Debug, Clone)]
pub struct Call {
    pub src: (String, String),
    pub dst: (String, String),
    pub port: u16,
    pub proto: &'static str,
}

pub fn snapshot_from(manifests: &[PathBuf], flows_text: &str) -> Snapshot {
    let (inventory, stats) = kubeguard::sources::manifests::load(manifests, false).expect("manifests");
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    with_flows(inventory, flows_text)
}

pub fn with_flows(inventory: Inventory, flows_text: &str) -> Snapshot {
    let (flows, fstats) =
        hubble::ingest_str(flows_text, "flows.json", &inventory, &HubbleOptions::default()).expect("flows");
    assert_eq!(fstats.malformed, 0, "{:?}", fstats.errors);
    let mut s = Snapshot { label: "test".into(), inventory, ..Snapshot::default() };
    s.observed.flows = flows;
    s
}

fn workload<'a>(inv: &'a Inventory, ns: &str, name: &str) -> &'a Workload {
    inv.workloads.iter().find(|w| w.id.namespace == ns && w.id.name == name).unwrap_or_else(|| panic!("no {ns}/{name}"))
}

fn labels_json(ns: &str, labels: &BTreeMap<String, String>) -> String {
    let mut v: Vec<String> = labels.iter().map(|(k, val)| format!("\"k8s:{k}={val}\"")).collect();
    v.push(format!("\"k8s:io.kubernetes.pod.namespace={ns}\""));
    v.push(format!("\"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={ns}\""));
    v.join(",")
}

fn endpoint_json(inv: &Inventory, ns: &str, name: &str, idx: usize) -> (String, String) {
    let w = workload(inv, ns, name);
    let labels = w.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    let ip = format!("10.244.{}.{}", (idx / 200) + 1, (idx % 200) + 10);
    let pod = format!("{name}-5f7d8c9b6d-x2k9p");
    let json = format!(
        "{{\"ID\":{},\"identity\":{},\"namespace\":\"{ns}\",\"labels\":[{}],\"pod_name\":\"{pod}\",\"workloads\":[{{\"name\":\"{name}\",\"kind\":\"{}\"}}]}}",
        1000 + idx,
        20000 + idx,
        labels_json(ns, &labels),
        w.id.kind.as_str()
    );
    (json, ip)
}

const DNS: &str = "{\"ID\":7,\"identity\":7001,\"namespace\":\"kube-system\",\"labels\":[\"k8s:k8s-app=kube-dns\",\"k8s:io.kubernetes.pod.namespace=kube-system\"],\"pod_name\":\"coredns-558bd4d5db-w2m67\",\"workloads\":[{\"name\":\"coredns\",\"kind\":\"Deployment\"}]}";

#[allow(clippy::too_many_arguments)]
fn line(out: &mut String, t: u64, src: &str, dst: &str, sip: &str, dip: &str, l4: &str, reply: bool, point: &str) {
    let _ = writeln!(
        out,
        "{{\"flow\":{{\"time\":\"2026-03-02T09:{:02}:{:02}.{:06}Z\",\"verdict\":\"FORWARDED\",\"IP\":{{\"source\":\"{sip}\",\"destination\":\"{dip}\",\"ipVersion\":\"IPv4\"}},\"l4\":{l4},\"source\":{src},\"destination\":{dst},\"Type\":\"L3_L4\",\"node_name\":\"node-1\",\"event_type\":{{\"type\":4}},\"trace_observation_point\":\"{point}\",\"is_reply\":{reply}}},\"node_name\":\"node-1\",\"time\":\"2026-03-02T09:{:02}:{:02}.{:06}Z\"}}",
        (t / 60_000_000) % 60,
        (t / 1_000_000) % 60,
        t % 1_000_000,
        (t / 60_000_000) % 60,
        (t / 1_000_000) % 60,
        t % 1_000_000
    );
}

/// Hubble lines for `calls`, each repeated `times` with fresh source ports, preceded by a DNS
/// lookup (UDP 53 to CoreDNS) from the caller.
pub fn hubble_lines(inv: &Inventory, calls: &[Call], times: usize) -> String {
    let mut out = String::new();
    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in calls {
        for k in [&c.src, &c.dst] {
            let n = index.len();
            index.entry(k.clone()).or_insert(n);
        }
    }
    let mut t = 1u64;
    let mut sport = 40000u32;
    for _ in 0..times {
        for c in calls {
            let (src, sip) = endpoint_json(inv, &c.src.0, &c.src.1, index[&c.src]);
            let (dst, dip) = endpoint_json(inv, &c.dst.0, &c.dst.1, index[&c.dst]);
            sport += 1;
            let dns_q = format!("{{\"UDP\":{{\"source_port\":{sport},\"destination_port\":53}}}}");
            let dns_r = format!("{{\"UDP\":{{\"source_port\":53,\"destination_port\":{sport}}}}}");
            line(&mut out, t, &src, DNS, &sip, "10.244.0.3", &dns_q, false, "TO_STACK");
            line(&mut out, t + 5, DNS, &src, "10.244.0.3", &sip, &dns_r, true, "TO_ENDPOINT");
            sport += 1;
            let (proto, flags_syn, flags_synack, flags_ack) = match c.proto {
                "UDP" => ("UDP", String::new(), String::new(), String::new()),
                _ => (
                    "TCP",
                    ",\"flags\":{\"SYN\":true}".to_string(),
                    ",\"flags\":{\"SYN\":true,\"ACK\":true}".to_string(),
                    ",\"flags\":{\"ACK\":true}".to_string(),
                ),
            };
            let fwd = |flags: &str| {
                format!("{{\"{proto}\":{{\"source_port\":{sport},\"destination_port\":{}{flags}}}}}", c.port)
            };
            let back = |flags: &str| {
                format!("{{\"{proto}\":{{\"source_port\":{},\"destination_port\":{sport}{flags}}}}}", c.port)
            };
            line(&mut out, t + 10, &src, &dst, &sip, &dip, &fwd(&flags_syn), false, "TO_STACK");
            line(&mut out, t + 11, &src, &dst, &sip, &dip, &fwd(&flags_syn), false, "TO_ENDPOINT");
            line(&mut out, t + 12, &dst, &src, &dip, &sip, &back(&flags_synack), true, "TO_STACK");
            line(&mut out, t + 13, &src, &dst, &sip, &dip, &fwd(&flags_ack), false, "TO_ENDPOINT");
            t += 1000;
        }
    }
    out
}

pub fn call(src: (&str, &str), dst: (&str, &str), port: u16, proto: &'static str) -> Call {
    Call { src: (src.0.into(), src.1.into()), dst: (dst.0.into(), dst.1.into()), port, proto }
}
