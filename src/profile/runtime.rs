//! In-container runtime facts and resource metric series per container, with evidence.
//! Filled by the provenance and metrics ingest; read by `synth::deploy` and `guard::deploy`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ContainerRef, Evidence, MetricSample, RuntimeObservation};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeProfileSet {
    #[serde(with = "crate::profile::flows::as_pairs")]
    pub containers: BTreeMap<ContainerRef, BTreeMap<RuntimeObservation, Evidence>>,
}

impl RuntimeProfileSet {
    pub fn merge(&mut self, other: RuntimeProfileSet) {
        for (c, obs) in other.containers {
            super::api::merge_map(self.containers.entry(c).or_default(), obs);
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsSet {
    /// Samples per container, kept sorted by time (merge re-sorts and dedupes exact repeats).
    #[serde(with = "crate::profile::flows::as_pairs")]
    pub series: BTreeMap<ContainerRef, Vec<MetricSample>>,
}

impl MetricsSet {
    pub fn merge(&mut self, other: MetricsSet) {
        for (c, samples) in other.series {
            let v = self.series.entry(c).or_default();
            v.extend(samples);
            v.sort_by(|a, b| {
                a.at.cmp(&b.at)
                    .then(a.cpu_cores.partial_cmp(&b.cpu_cores).unwrap_or(std::cmp::Ordering::Equal))
                    .then(a.memory_bytes.partial_cmp(&b.memory_bytes).unwrap_or(std::cmp::Ordering::Equal))
            });
            v.dedup();
        }
    }
}
