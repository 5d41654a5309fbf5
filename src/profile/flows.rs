//! Network connections between attributed endpoints, with evidence. Filled by the flow
//! ingest (Hubble); read by `synth::netpol` and `guard::netpol`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Connection, Evidence};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowProfileSet {
    /// Distinct connections (replies never counted) with evidence.
    #[serde(with = "crate::profile::flows::as_pairs")]
    pub connections: BTreeMap<Connection, Evidence>,
}

impl FlowProfileSet {
    pub fn merge(&mut self, other: FlowProfileSet) {
        super::api::merge_map(&mut self.connections, other.connections);
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
