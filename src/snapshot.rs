//! A snapshot is everything one run works on: the inventory, the aggregated observations and
//! how they were read. Built once (from files, the bundled demo or a live cluster), then shared
//! read-only (`Arc<Snapshot>`) by engines and faces.

use std::path::PathBuf;

use crate::model::Inventory;
use crate::profile::Observed;
use crate::sources::{IngestStats, InputError};

/// Ingest statistics per input kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IngestReport {
    pub manifests: IngestStats,
    pub audit: IngestStats,
    pub flows: IngestStats,
    pub provenance: IngestStats,
    pub metrics: IngestStats,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Human label: `demo`, a folder path, or `cluster:<context>`.
    pub label: String,
    pub inventory: Inventory,
    pub observed: Observed,
    pub report: IngestReport,
}

/// Paths to read a snapshot from. Every list may be empty.
#[derive(Debug, Clone, Default)]
pub struct SnapshotInputs {
    pub manifests: Vec<PathBuf>,
    pub audit_logs: Vec<PathBuf>,
    pub flows: Vec<PathBuf>,
    pub provenance: Vec<PathBuf>,
    pub metrics: Vec<PathBuf>,
    /// Malformed records are fatal instead of counted.
    pub strict: bool,
}

impl SnapshotInputs {
    /// The snapshot folder layout: `manifests/`, `audit/`, `flows/`, `provenance/`, `metrics/`
    /// (each optional). Subfolders that do not exist are skipped.
    pub fn from_dir(dir: &std::path::Path) -> SnapshotInputs {
        let sub = |name: &str| {
            let p = dir.join(name);
            if p.exists() { vec![p] } else { Vec::new() }
        };
        SnapshotInputs {
            manifests: sub("manifests"),
            audit_logs: sub("audit"),
            flows: sub("flows"),
            provenance: sub("provenance"),
            metrics: sub("metrics"),
            strict: false,
        }
    }
}

impl SnapshotInputs {
    /// True when no input of any kind was given.
    pub fn is_empty(&self) -> bool {
        self.manifests.is_empty()
            && self.audit_logs.is_empty()
            && self.flows.is_empty()
            && self.provenance.is_empty()
            && self.metrics.is_empty()
    }

    /// A short human label for the inputs (`shop/`, `k8s.yaml + audit.log`).
    pub fn label(&self) -> String {
        let all: Vec<String> = [&self.manifests, &self.audit_logs, &self.flows, &self.provenance, &self.metrics]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
        match all.len() {
            0 => "empty".to_string(),
            1..=3 => all.join(" + "),
            n => format!("{} + {} more", all[..2].join(" + "), n - 2),
        }
    }
}

impl IngestReport {
    /// Malformed records over all inputs.
    pub fn malformed(&self) -> u64 {
        self.sources().iter().map(|(_, s)| s.malformed).sum()
    }

    /// Every input kind with its statistics, in a fixed order.
    pub fn sources(&self) -> [(&'static str, &IngestStats); 5] {
        [
            ("manifests", &self.manifests),
            ("audit", &self.audit),
            ("flows", &self.flows),
            ("provenance", &self.provenance),
            ("metrics", &self.metrics),
        ]
    }
}

/// Read every input into one snapshot: the manifests first (attribution needs the inventory),
/// then each evidence source. `progress(kind, bytes)` reports bytes consumed per input kind.
/// With `inputs.strict` the first malformed record is an error (`InputError::Malformed`).
pub fn load(inputs: &SnapshotInputs, progress: &(dyn Fn(&str, u64) + Sync)) -> Result<Snapshot, InputError> {
    let (inventory, manifests) = crate::sources::manifests::load(&inputs.manifests, inputs.strict)?;
    progress("manifests", manifests.bytes);
    let mut observed = Observed::default();
    let mut report = IngestReport { manifests, ..IngestReport::default() };
    if !inputs.audit_logs.is_empty() {
        let (api, stats) =
            crate::sources::audit::ingest(&inputs.audit_logs, &inventory, inputs.strict, &|b| progress("audit", b))?;
        observed.api = api;
        report.audit = stats;
    }
    if !inputs.flows.is_empty() {
        let (flows, stats) =
            crate::sources::hubble::ingest(&inputs.flows, &inventory, inputs.strict, &|b| progress("flows", b))?;
        observed.flows = flows;
        report.flows = stats;
    }
    if !inputs.provenance.is_empty() {
        let (runtime, stats) =
            crate::sources::provenance::ingest(&inputs.provenance, &inventory, inputs.strict, &|b| {
                progress("provenance", b)
            })?;
        observed.runtime = runtime;
        report.provenance = stats;
    }
    if !inputs.metrics.is_empty() {
        let (metrics, stats) =
            crate::sources::metrics::ingest(&inputs.metrics, &inventory, inputs.strict, &|b| progress("metrics", b))?;
        observed.metrics = metrics;
        report.metrics = stats;
    }
    Ok(Snapshot { label: inputs.label(), inventory, observed, report })
}
