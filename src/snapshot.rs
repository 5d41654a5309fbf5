//! A snapshot is everything one run works on: the inventory, the aggregated observations and
//! how they were read. Built once (from files, the bundled demo or a live cluster), then shared
//! read-only (`Arc<Snapshot>`) by engines and faces.

use std::path::PathBuf;

use crate::model::Inventory;
use crate::profile::Observed;
use crate::sources::IngestStats;

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
