//! Differential test: kubeguard's NetworkPolicy evaluator against np-guard's netpol-analyzer
//! (`netpolicy list`) on the corpus in tests/data/netpol/cases (≥ 30 cases covering the corner
//! cases of the reference: policyTypes defaulting, empty vs missing rules, AND/OR peers,
//! namespace scoping, matchExpressions, ipBlock/except, endPort, named ports per destination and
//! protocol, UDP/SCTP, union, both ends, cross-namespace, policies selecting nothing).
//!
//! Both tools see the same manifests. For every ordered pair of workloads, and every workload
//! against a set of probe addresses, on a probe set of ports and protocols, the answers must
//! agree. netpol-analyzer is installed by tests/netpol/setup.sh (cached); when it is missing
//! the test fails under CI=true and skips elsewhere.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use kubeguard::guard::netpol::{NetEndpoint, PolicySet, workload_endpoint, workload_ports};
use kubeguard::model::L4Protocol;

fn cache_dir() -> PathBuf {
    std::env::var_os("KUBEGUARD_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kubeguard-tests"))
}

fn netpolicy() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NETPOLICY_BIN") {
        return Some(PathBuf::from(p));
    }
    let bin = cache_dir().join("bin/netpolicy");
    if !bin.exists() {
        let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netpol/setup.sh");
        let status = Command::new("bash").arg(&setup).status();
        eprintln!("ran {}: {status:?}", setup.display());
    }
    if bin.exists() {
        return Some(bin);
    }
    let msg = "netpol-analyzer (netpolicy) is not installed and tests/netpol/setup.sh could not install it";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

/// Allowed connections as a set of (protocol, port range) or "all".
#[derive(Debug, Clone, Default)]
struct Conns {
    all: bool,
    ranges: Vec<(L4Protocol, u16, u16)>,
}

impl Conns {
    fn parse(s: &str) -> Conns {
        let s = s.trim();
        if s.eq_ignore_ascii_case("All Connections") {
            return Conns { all: true, ranges: Vec::new() };
        }
        let mut out = Conns::default();
        if s.eq_ignore_ascii_case("No Connections") {
            return out;
        }
        let mut proto = None;
        for tok in s.split([',', ';']) {
            let mut tok = tok.trim();
            for (name, p) in [("TCP", L4Protocol::TCP), ("UDP", L4Protocol::UDP), ("SCTP", L4Protocol::SCTP)] {
                if let Some(rest) = tok.strip_prefix(name) {
                    proto = Some(p);
                    tok = rest.trim();
                }
            }
            let Some(p) = proto else { continue };
            if tok.is_empty() {
                out.ranges.push((p, 1, 65535));
                continue;
            }
            let (a, b) = tok.split_once('-').unwrap_or((tok, tok));
            if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                out.ranges.push((p, a, b));
            }
        }
        out
    }

    fn allows(&self, port: u16, proto: L4Protocol) -> bool {
        self.all || self.ranges.iter().any(|(p, a, b)| *p == proto && port >= *a && port <= *b)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Workload(String),
    Ips(Vec<(Ipv4Addr, Ipv4Addr)>),
}

fn parse_node(s: &str) -> Node {
    let s = s.trim();
    if let Some((name, _)) = s.split_once('[') {
        return Node::Workload(name.to_string());
    }
    let mut ranges = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if let Some((a, b)) = part.split_once('-') {
            if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                ranges.push((a, b));
            }
        } else if let Ok(n) = part.parse::<ipnet::Ipv4Net>() {
            ranges.push((n.network(), n.broadcast()));
        } else if let Ok(a) = part.parse::<Ipv4Addr>() {
            ranges.push((a, a));
        }
    }
    Node::Ips(ranges)
}

fn peer_output(bin: &Path, dir: &Path) -> Vec<(Node, Node, Conns)> {
    let out = Command::new(bin).args(["list", "--dirpath"]).arg(dir).output().expect("run netpolicy");
    assert!(out.status.success(), "netpolicy failed on {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = Vec::new();
    for l in text.lines() {
        let Some((lhs, conns)) = l.rsplit_once(" : ") else { continue };
        let Some((src, dst)) = lhs.split_once(" => ") else { continue };
        lines.push((parse_node(src), parse_node(dst), Conns::parse(conns)));
    }
    lines
}

const PROBE_IPS: &[&str] = &["8.8.8.8", "10.2.3.4", "10.1.2.3", "192.168.7.7"];

fn in_ranges(ranges: &[(Ipv4Addr, Ipv4Addr)], ip: Ipv4Addr) -> bool {
    ranges.iter().any(|(a, b)| ip >= *a && ip <= *b)
}

#[test]
fn evaluator_agrees_with_netpol_analyzer_on_the_corpus() {
    let Some(bin) = netpolicy() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/netpol/cases");
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(&root).expect("corpus").filter_map(|e| e.ok().map(|e| e.path())).collect();
    cases.sort();
    assert!(cases.len() >= 30, "corpus has {} cases", cases.len());
    let mut report = Vec::new();
    let mut total_disagreements = 0usize;
    let mut total_probes = 0usize;
    for dir in &cases {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        let (inv, stats) = kubeguard::sources::manifests::load(std::slice::from_ref(dir), true).expect("manifests");
        assert_eq!(stats.malformed, 0);
        let set = PolicySet::from_inventory(&inv);
        assert!(set.errors.is_empty(), "{name}: {:?}", set.errors);
        let peer = peer_output(&bin, dir);
        let pair_conns = |src: &Node, dst: &Node| -> Conns {
            peer.iter().filter(|(s, d, _)| s == src && d == dst).map(|(_, _, c)| c.clone()).next().unwrap_or_default()
        };
        let ip_conns = |ip: Ipv4Addr, workload: &str, ingress: bool| -> Conns {
            let w = Node::Workload(workload.to_string());
            peer.iter()
                .filter(|(s, d, _)| {
                    let (ips, other) = if ingress { (s, d) } else { (d, s) };
                    other == &w && matches!(ips, Node::Ips(r) if in_ranges(r, ip))
                })
                .map(|(_, _, c)| c.clone())
                .next()
                .unwrap_or_default()
        };
        let mut probes = 0usize;
        let mut disagreements = Vec::new();
        for dst in &inv.workloads {
            let mut ports: Vec<(u16, L4Protocol)> =
                workload_ports(dst).into_iter().map(|p| (p.port, p.protocol)).collect();
            ports.extend([
                (80, L4Protocol::TCP),
                (443, L4Protocol::TCP),
                (5432, L4Protocol::TCP),
                (8000, L4Protocol::TCP),
                (8085, L4Protocol::TCP),
                (8086, L4Protocol::TCP),
                (12345, L4Protocol::TCP),
                (53, L4Protocol::UDP),
                (5353, L4Protocol::UDP),
                (9999, L4Protocol::UDP),
                (7777, L4Protocol::SCTP),
                (7778, L4Protocol::SCTP),
                (53, L4Protocol::TCP),
            ]);
            ports.sort();
            ports.dedup();
            let dst_id = format!("{}/{}", dst.id.namespace, dst.id.name);
            let de = workload_endpoint(&inv, dst);
            for src in &inv.workloads {
                if src.id == dst.id {
                    continue;
                }
                let src_id = format!("{}/{}", src.id.namespace, src.id.name);
                let se = workload_endpoint(&inv, src);
                let theirs = pair_conns(&Node::Workload(src_id.clone()), &Node::Workload(dst_id.clone()));
                for &(port, proto) in &ports {
                    probes += 1;
                    let ours = set.allows(&se, &de, port, proto);
                    if ours != theirs.allows(port, proto) {
                        disagreements.push(format!("{src_id} -> {dst_id} {proto:?}/{port}: kubeguard {ours}"));
                    }
                }
            }
            for ip in PROBE_IPS {
                let addr: Ipv4Addr = ip.parse().expect("ip");
                let ie = NetEndpoint::Addresses(vec![ipnet::IpNet::from(std::net::IpAddr::V4(addr))]);
                let theirs_in = ip_conns(addr, &dst_id, true);
                let theirs_out = ip_conns(addr, &dst_id, false);
                for &(port, proto) in &ports {
                    probes += 2;
                    let ours_in = set.allows(&ie, &de, port, proto);
                    if ours_in != theirs_in.allows(port, proto) {
                        disagreements.push(format!("{ip} -> {dst_id} {proto:?}/{port}: kubeguard {ours_in}"));
                    }
                    let ours_out = set.allows(&de, &ie, port, proto);
                    if ours_out != theirs_out.allows(port, proto) {
                        disagreements.push(format!("{dst_id} -> {ip} {proto:?}/{port}: kubeguard {ours_out}"));
                    }
                }
            }
        }
        total_probes += probes;
        total_disagreements += disagreements.len();
        report.push((name, probes, disagreements));
    }
    let mut summary: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, probes, dis) in &report {
        eprintln!("{name:60} {probes:6} probes, {} disagreements", dis.len());
        for d in dis.iter().take(10) {
            eprintln!("    {d}");
        }
        *summary.entry(if dis.is_empty() { "agree" } else { "disagree" }).or_default() += 1;
    }
    eprintln!("netpol-analyzer differential: {} cases, {total_probes} probes, {summary:?}", report.len());
    assert_eq!(total_disagreements, 0, "see the per-case report above");
}
