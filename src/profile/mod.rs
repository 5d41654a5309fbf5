//! Aggregation of attributed observations into per-subject / per-workload profiles: distinct
//! tuples with evidence counts. Everything here is pure and mergeable: merging two profiles
//! built from disjoint inputs equals the profile of the concatenated input (associative,
//! commutative), which is what lets ingest run sharded and in parallel.
//!
//! Also home of the paper's key → value-set aggregation (`kv`), the compact LLM context.
//! Must not parse files (that is `sources`) nor decide what to grant (that is `synth`).

pub mod api;
pub mod flows;
pub mod kv;
pub mod runtime;

pub use api::{ApiProfile, ApiProfileSet};
pub use flows::FlowProfileSet;
pub use runtime::{MetricsSet, RuntimeProfileSet};

use serde::{Deserialize, Serialize};

/// Everything observed, across all evidence kinds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub api: ApiProfileSet,
    pub flows: FlowProfileSet,
    pub runtime: RuntimeProfileSet,
    pub metrics: MetricsSet,
}

impl Observed {
    pub fn merge(&mut self, other: Observed) {
        self.api.merge(other.api);
        self.flows.merge(other.flows);
        self.runtime.merge(other.runtime);
        self.metrics.merge(other.metrics);
    }
}
