//! NetworkPolicy units: the connections a workload's own side allows — ingress to it and
//! egress from it — computed with `guard::netpol`'s evaluator over the modelled universe (every
//! inventory workload and every endpoint seen in flows, with their declared and observed
//! ports). Semantic, not textual: two differently written policies that allow the same
//! connections score the same.
//!
//! A unit is (direction, peer, port, protocol). Only the workload's side is evaluated (its
//! ingress for connections to it, its egress for connections from it), so each policy set is
//! judged for the workload it is about. A direction the ground truth does not isolate (no truth
//! policy selects the workload for it) is left out of the score: the truth then says nothing
//! about that direction. Pure.

use std::collections::BTreeSet;

use crate::guard::netpol::{NetEndpoint, PolicySet, SideDecision, UniverseEndpoint, protocol_name};
use crate::model::Direction;

/// One allowed connection as seen from the workload being scored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Conn {
    pub direction: &'static str,
    pub peer: String,
    pub port: u16,
    pub protocol: &'static str,
}

/// Directions in which `policies` isolate `me`.
pub fn isolated_directions(policies: &PolicySet, me: &NetEndpoint) -> Vec<Direction> {
    let NetEndpoint::Pod(pod) = me else { return Vec::new() };
    [Direction::Ingress, Direction::Egress]
        .into_iter()
        .filter(|d| policies.isolating(pod, *d).next().is_some())
        .collect()
}

/// The connections `policies` allow on `me`'s side in `directions`, over `universe`.
/// `me_label` is `me`'s label in the universe (it is not its own peer).
pub fn connections(
    policies: &PolicySet,
    me: &NetEndpoint,
    me_label: &str,
    universe: &[UniverseEndpoint],
    directions: &[Direction],
) -> BTreeSet<Conn> {
    let my_ports: BTreeSet<_> = universe.iter().filter(|u| u.label == me_label).flat_map(|u| u.ports.clone()).collect();
    let mut out = BTreeSet::new();
    for peer in universe.iter().filter(|u| u.label != me_label) {
        for d in directions {
            let (name, ports) = match d {
                Direction::Ingress => ("ingress", &my_ports),
                Direction::Egress => ("egress", &peer.ports),
            };
            for (port, proto) in ports {
                let side = policies.side(*d, me, &peer.endpoint, *port, *proto);
                // Connections no policy can deny (ingress from the pod's own node) say nothing.
                if side.allows() && !matches!(side, SideDecision::Exempt(_)) {
                    out.insert(Conn {
                        direction: name,
                        peer: peer.label.clone(),
                        port: *port,
                        protocol: protocol_name(*proto),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Counts;
    use crate::guard::netpol::{NamedPort, PodEndpoint};
    use crate::model::{FlowEndpoint, L4Protocol};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn pod(app: &str, port: u16) -> UniverseEndpoint {
        let labels: BTreeMap<String, String> = [("app".to_string(), app.to_string())].into();
        UniverseEndpoint {
            label: format!("shop/{app}"),
            flow: FlowEndpoint::Workload {
                namespace: "shop".into(),
                kind: "Deployment".into(),
                name: app.into(),
                labels: BTreeMap::new(),
            },
            endpoint: NetEndpoint::Pod(PodEndpoint {
                namespace: "shop".into(),
                labels,
                namespace_labels: [("kubernetes.io/metadata.name".to_string(), "shop".to_string())].into(),
                ports: vec![NamedPort { name: "http".into(), port, protocol: L4Protocol::TCP }],
            }),
            ports: [(port, L4Protocol::TCP)].into(),
        }
    }

    fn universe() -> Vec<UniverseEndpoint> {
        vec![pod("web", 8080), pod("api", 9000), pod("db", 5432), pod("cache", 6379)]
    }

    fn ingress_from(name: &str, target: &str, from: &[&str], port: Option<u16>) -> serde_json::Value {
        let peers: Vec<_> = from.iter().map(|f| json!({"podSelector": {"matchLabels": {"app": f}}})).collect();
        let mut rule = json!({"from": peers});
        if let Some(p) = port {
            rule["ports"] = json!([{"port": p, "protocol": "TCP"}]);
        }
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": name, "namespace": "shop"},
               "spec": {"podSelector": {"matchLabels": {"app": target}}, "policyTypes": ["Ingress"],
                        "ingress": [rule]}})
    }

    fn score(pred: &[serde_json::Value], truth: &[serde_json::Value], me: &str) -> Counts {
        let u = universe();
        let Some(me_u) = u.iter().find(|x| x.label == me) else { panic!("no {me}") };
        let t = PolicySet::from_values(truth);
        let p = PolicySet::from_values(pred);
        let dirs = isolated_directions(&t, &me_u.endpoint);
        Counts::of_sets(
            &connections(&p, &me_u.endpoint, me, &u, &dirs),
            &connections(&t, &me_u.endpoint, me, &u, &dirs),
        )
    }

    #[test]
    fn exact_semantics_not_text() {
        // truth: db ← api :5432; prediction written differently (two policies, a port list) but equal.
        let truth = vec![ingress_from("db", "db", &["api"], Some(5432))];
        let pred = vec![ingress_from("a", "db", &["api"], None), ingress_from("b", "db", &["api"], Some(5432))];
        assert_eq!(score(&pred, &truth, "shop/db"), Counts { tp: 1, fp: 0, fn_: 0 });
    }

    #[test]
    fn overlapping_policies_are_a_union_and_partial_matches_count() {
        // truth: db ← api, web. prediction: two overlapping policies allowing api and cache.
        let truth = vec![ingress_from("db", "db", &["api", "web"], Some(5432))];
        let pred = vec![
            ingress_from("p1", "db", &["api"], Some(5432)),
            ingress_from("p2", "db", &["api", "cache"], Some(5432)),
        ];
        assert_eq!(score(&pred, &truth, "shop/db"), Counts { tp: 1, fp: 1, fn_: 1 });
    }

    #[test]
    fn no_prediction_allows_everything_and_unisolated_truth_is_not_scored() {
        let truth = vec![ingress_from("db", "db", &["api"], Some(5432))];
        // no predicted policy: the 3 other pods can all reach db:5432 → 1 tp, 2 fp.
        assert_eq!(score(&[], &truth, "shop/db"), Counts { tp: 1, fp: 2, fn_: 0 });
        // prediction denies everything (isolated, no rule): tp 0, fn 1.
        let deny = json!({"kind": "NetworkPolicy", "metadata": {"name": "d", "namespace": "shop"},
                          "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
        assert_eq!(score(&[deny], &truth, "shop/db"), Counts { tp: 0, fp: 0, fn_: 1 });
        // truth does not isolate web: nothing is scored for web.
        assert_eq!(score(&[], &truth, "shop/web"), Counts::default());
    }

    #[test]
    fn egress_counts_the_peers_ports() {
        let egress = |name: &str, to: &[&str]| {
            let peers: Vec<_> = to.iter().map(|f| json!({"podSelector": {"matchLabels": {"app": f}}})).collect();
            json!({"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "shop"},
                   "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"],
                            "egress": [{"to": peers}]}})
        };
        let truth = vec![egress("t", &["db", "cache"])];
        let pred = vec![egress("p", &["db"])];
        assert_eq!(score(&pred, &truth, "shop/api"), Counts { tp: 1, fp: 0, fn_: 1 });
    }
}
