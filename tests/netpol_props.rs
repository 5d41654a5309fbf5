//! Property: for random flow sets over a random inventory, the NetworkPolicies `create`
//! generates allow every observed connection (both ends), and within the modelled universe
//! (every workload × every declared port) the evaluator finds no allowed connection outside
//! the observed set — except in directions that were never observed for either end, which are
//! deliberately left open (and reported).

use std::collections::{BTreeMap, BTreeSet};

use kubeguard::guard::netpol::{PolicySet, workload_endpoint, workload_ports};
use kubeguard::model::{Connection, Evidence, FlowEndpoint, FlowVerdict, L4Protocol, Task, Timestamp};
use kubeguard::snapshot::Snapshot;
use kubeguard::synth::netpol as synth;
use proptest::prelude::*;

/// Workloads: (namespace index, app label index, ports). Names are unique; app labels may
/// repeat across namespaces (a namespaceSelector must then tell them apart).
fn inventory_yaml(workloads: &[(usize, usize, Vec<(u16, bool)>)]) -> String {
    let mut docs = Vec::new();
    for (i, (ns, app, ports)) in workloads.iter().enumerate() {
        let ports: Vec<String> = ports
            .iter()
            .map(|(p, udp)| format!("{{containerPort: {p}, protocol: {}}}", if *udp { "UDP" } else { "TCP" }))
            .collect();
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: w{i}, namespace: ns{ns}}}\nspec:\n  selector: {{matchLabels: {{app: a{app}}}}}\n  template:\n    metadata: {{labels: {{app: a{app}, pod-template-hash: h{i}}}}}\n    spec: {{containers: [{{name: c, image: x, ports: [{}]}}]}}\n",
            ports.join(", ")
        ));
    }
    docs.join("---\n")
}

fn strategy() -> impl Strategy<Value = (Vec<(usize, usize, Vec<(u16, bool)>)>, Vec<(usize, usize, usize)>)> {
    let workload = (
        0usize..2,
        0usize..3,
        prop::collection::vec((prop::sample::select(vec![80u16, 81, 443, 8080, 9090, 5432]), any::<bool>()), 1..3),
    );
    prop::collection::vec(workload, 2..6).prop_flat_map(|ws| {
        let n = ws.len();
        // Unique app label per namespace: fold duplicates onto distinct labels.
        let mut seen = BTreeSet::new();
        let ws: Vec<_> = ws
            .into_iter()
            .enumerate()
            .map(|(i, (ns, app, mut ports))| {
                let app = if seen.insert((ns, app)) { app } else { 10 + i };
                ports.sort();
                ports.dedup_by_key(|p| p.0);
                (ns, app, ports)
            })
            .collect();
        (Just(ws), prop::collection::vec((0..n, 0..n, 0usize..3), 0..12))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn created_policies_allow_exactly_the_observed(input in strategy()) {
        let (workloads, conns) = input;
        let (inv, stats) = kubeguard::sources::manifests::load_str("p.yaml", &inventory_yaml(&workloads), true).expect("inventory");
        prop_assert_eq!(stats.malformed, 0);
        let mut snapshot = Snapshot { inventory: inv, ..Snapshot::default() };
        let ep = |i: usize| -> FlowEndpoint {
            let w = &snapshot.inventory.workloads.iter().find(|w| w.id.name == format!("w{i}")).expect("w").id;
            FlowEndpoint::Workload { namespace: w.namespace.clone(), kind: "Deployment".into(), name: w.name.clone(), labels: BTreeMap::new() }
        };
        let mut observed = BTreeSet::new();
        let mut map = BTreeMap::new();
        for (s, d, pi) in conns {
            if s == d { continue; }
            let ports = &workloads[d].2;
            let (port, udp) = ports[pi % ports.len()];
            let protocol = if udp { L4Protocol::UDP } else { L4Protocol::TCP };
            observed.insert((s, d, port, protocol));
            map.insert(Connection { source: ep(s), destination: ep(d), port, protocol, verdict: FlowVerdict::Forwarded }, Evidence::one(Timestamp(1), None));
        }
        snapshot.observed.flows.connections = map;
        let mut manifests = Vec::new();
        for t in synth::targets(&snapshot, Task::Create) {
            let rec = synth::recommend(&snapshot, &t).expect("create");
            prop_assert!(rec.verdict.is_complete_coverage(), "{}: {:?}", t, rec.verdict.uncovered);
            manifests.extend(rec.manifests);
        }
        let set = PolicySet::from_values(&manifests);
        prop_assert!(set.errors.is_empty());
        let senders: BTreeSet<usize> = observed.iter().map(|o| o.0).collect();
        let receivers: BTreeSet<usize> = observed.iter().map(|o| o.1).collect();
        for s in 0..workloads.len() {
            for d in 0..workloads.len() {
                if s == d { continue; }
                let find = |i: usize| snapshot.inventory.workloads.iter().find(|w| w.id.name == format!("w{i}")).expect("w");
                let (sw, dw) = (find(s), find(d));
                let (se, de) = (workload_endpoint(&snapshot.inventory, sw), workload_endpoint(&snapshot.inventory, dw));
                for p in workload_ports(dw) {
                    let allowed = set.allows(&se, &de, p.port, p.protocol);
                    let seen = observed.contains(&(s, d, p.port, p.protocol));
                    if seen {
                        prop_assert!(allowed, "observed w{} -> w{}:{} blocked", s, d, p.port);
                    } else if senders.contains(&s) || receivers.contains(&d) {
                        prop_assert!(!allowed, "unobserved w{} -> w{}:{} {:?} allowed", s, d, p.port, p.protocol);
                    }
                }
            }
        }
    }
}
