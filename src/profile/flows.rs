//! Network connections between attributed endpoints, with evidence. Filled by the flow
//! ingest (Hubble); read by `synth::netpol` and `guard::netpol`.
//!
//! Besides the connections (edges, each with the number of distinct connections seen as its
//! evidence count) it keeps what the policy generator needs and a connection key cannot carry:
//! the addresses seen for reserved identities (API server, resolvers on node-local addresses)
//! and why dropped connections were dropped. Everything merges associatively.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Connection, Evidence};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowProfileSet {
    /// Distinct connections (replies never counted) with evidence.
    #[serde(with = "crate::profile::flows::as_pairs")]
    pub connections: BTreeMap<Connection, Evidence>,
    /// Addresses observed for reserved identities (`kube-apiserver` → its endpoint IPs).
    #[serde(default)]
    pub reserved_ips: BTreeMap<String, BTreeSet<String>>,
    /// Drop reasons (`POLICY_DENIED`...) of DROPPED/AUDIT connections.
    #[serde(default, with = "crate::profile::flows::as_pairs")]
    pub drop_reasons: BTreeMap<Connection, BTreeSet<String>>,
    /// DNS names queried per source endpoint (from L7 DNS events), for review only.
    #[serde(default, with = "crate::profile::flows::as_pairs")]
    pub dns_queries: BTreeMap<crate::model::FlowEndpoint, BTreeSet<String>>,
}

/// Most DNS names kept per source (more are counted, not kept).
pub const MAX_DNS_NAMES_PER_SOURCE: usize = 64;

impl FlowProfileSet {
    pub fn merge(&mut self, other: FlowProfileSet) {
        super::api::merge_map(&mut self.connections, other.connections);
        for (k, v) in other.reserved_ips {
            self.reserved_ips.entry(k).or_default().extend(v);
        }
        for (k, v) in other.drop_reasons {
            self.drop_reasons.entry(k).or_default().extend(v);
        }
        for (k, v) in other.dns_queries {
            let e = self.dns_queries.entry(k).or_default();
            e.extend(v);
            while e.len() > MAX_DNS_NAMES_PER_SOURCE {
                e.pop_last();
            }
        }
    }

    /// Total distinct connections (sum of the edges' evidence counts).
    pub fn connection_count(&self) -> u64 {
        self.connections.values().map(|e| e.count).sum()
    }
}

/// Serialise maps with structured keys as `[[key, value], ...]` (JSON keys must be strings).
pub mod as_pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(&K, &V)> = map.iter().collect();
        pairs.serialize(s)
    }

    pub fn deserialize<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<K, V>, D::Error> {
        let pairs: Vec<(K, V)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}
