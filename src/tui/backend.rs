//! The TUI's seam to the rest of the library: load a snapshot (demo, snapshot folder, explicit
//! inputs, live cluster with demo fallback; in live mode also the watch-backed inventory and the
//! evidence files to re-read as they change), pick the engine, and run the guard's `check` on an
//! edited suggestion. Everything here is a thin call into `snapshot`, `demo`, `sources::cluster`,
//! `engine` and `guard`; the TUI owns no semantics of its own.
//!
//! Must not: hold UI state or draw.

use std::sync::Arc;

use serde_json::Value;

use crate::cli::args::{InputArgs, TuiArgs};
use crate::config::Config;
use crate::engine::Engine;
use crate::guard::GuardOutcome;
use crate::model::Target;
use crate::snapshot::{Snapshot, SnapshotInputs};

use super::state::SourceRequest;

/// A loaded snapshot plus what to tell the user about it.
pub struct Source {
    pub snapshot: Snapshot,
    pub banner: Option<String>,
    pub context: Option<String>,
    /// Live mode: the watch caches and the evidence to fold in as they change.
    pub live: Option<Live>,
}

/// What a live view keeps after loading: the watch-backed inventory and the evidence files
/// (audit logs, e.g. the folder `kubeguard serve --audit-webhook` rotates into) with the
/// snapshot last read from them.
pub struct Live {
    pub inventory: Arc<crate::sources::cluster::live::LiveInventory>,
    pub inputs: SnapshotInputs,
    pub evidence: Snapshot,
}

impl Live {
    /// Re-read the evidence files (after [`evidence_stamp`] changed).
    pub async fn reload_evidence(&mut self) -> Result<(), String> {
        self.evidence = read_evidence(self.inputs.clone()).await?;
        Ok(())
    }

    /// The current snapshot: the caches' inventory beside the last evidence.
    pub async fn snapshot(&self) -> Result<Snapshot, String> {
        let inventory = self.inventory.inventory().await.map_err(|e| e.to_string())?;
        let mut snapshot = self.evidence.clone();
        snapshot.label = format!("cluster:{}", self.inventory.connection().context);
        snapshot.inventory = inventory;
        Ok(snapshot)
    }
}

/// Size and modification time of every evidence file (folders walked), to notice appends and
/// rotations cheaply. Unreadable entries are left out.
pub fn evidence_stamp(inputs: &SnapshotInputs) -> Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>)> {
    fn walk(p: &std::path::Path, out: &mut Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>)>) {
        let Ok(meta) = std::fs::metadata(p) else { return };
        if meta.is_dir() {
            let Ok(entries) = std::fs::read_dir(p) else { return };
            for e in entries.flatten() {
                walk(&e.path(), out);
            }
        } else {
            out.push((p.to_path_buf(), meta.len(), meta.modified().ok()));
        }
    }
    let mut out = Vec::new();
    for p in inputs.audit_logs.iter().chain(&inputs.flows).chain(&inputs.provenance).chain(&inputs.metrics) {
        if p.as_os_str() != "-" {
            walk(p, &mut out);
        }
    }
    out.sort();
    out
}

async fn read_evidence(inputs: SnapshotInputs) -> Result<Snapshot, String> {
    if inputs.is_empty() {
        return Ok(Snapshot::default());
    }
    tokio::task::spawn_blocking(move || load_files(&inputs, String::new())).await.map_err(|e| e.to_string())?
}

/// Which source the command line asks for.
pub fn request_from_args(args: &TuiArgs) -> SourceRequest {
    let i = &args.input;
    if i.demo {
        SourceRequest::Demo { banner: None }
    } else if i.cluster {
        // `--cluster` with evidence files: the live inventory beside them.
        SourceRequest::Cluster { context: i.context.clone(), namespace: args.namespace.clone() }
    } else if let Some(dir) = &i.snapshot {
        SourceRequest::Snapshot(dir.clone())
    } else if !(i.manifests.is_empty()
        && i.audit_log.is_empty()
        && i.flows.is_empty()
        && i.provenance.is_empty()
        && i.metrics.is_empty())
    {
        SourceRequest::Inputs
    } else {
        SourceRequest::Cluster { context: i.context.clone(), namespace: args.namespace.clone() }
    }
}

fn inputs_from_args(i: &InputArgs) -> SnapshotInputs {
    SnapshotInputs {
        manifests: i.manifests.clone(),
        audit_logs: i.audit_log.clone(),
        flows: i.flows.clone(),
        provenance: i.provenance.clone(),
        metrics: i.metrics.clone(),
        strict: i.strict,
    }
}

fn load_files(inputs: &SnapshotInputs, label: String) -> Result<Snapshot, String> {
    let progress = |_: &str, _: u64| {};
    let mut snap = crate::snapshot::load(inputs, &progress).map_err(|e| e.to_string())?;
    if snap.label.is_empty() {
        snap.label = label;
    }
    Ok(snap)
}

/// Load the requested source. Blocking parts run on the blocking pool.
pub async fn load(req: SourceRequest, input: InputArgs) -> Result<Source, String> {
    match req {
        SourceRequest::Demo { banner } => {
            let snapshot = tokio::task::spawn_blocking(crate::demo::load)
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("demo: {e}"))?;
            Ok(Source { snapshot, banner, context: None, live: None })
        }
        SourceRequest::Snapshot(dir) => {
            let label = dir.display().to_string();
            let mut inputs = SnapshotInputs::from_dir(&dir);
            inputs.strict = input.strict;
            if !dir.is_dir() {
                return Err(format!("{label}: not a folder"));
            }
            let snapshot =
                tokio::task::spawn_blocking(move || load_files(&inputs, label)).await.map_err(|e| e.to_string())??;
            Ok(Source { snapshot, banner: None, context: None, live: None })
        }
        SourceRequest::Inputs => {
            let inputs = inputs_from_args(&input);
            let snapshot = tokio::task::spawn_blocking(move || load_files(&inputs, "inputs".to_string()))
                .await
                .map_err(|e| e.to_string())??;
            Ok(Source { snapshot, banner: None, context: None, live: None })
        }
        SourceRequest::Cluster { context, namespace } => {
            use crate::sources::cluster::{self, live::LiveInventory};
            let timeout = std::time::Duration::from_secs(CLUSTER_TIMEOUT_SECS);
            let started = tokio::time::timeout(timeout, async {
                let conn = cluster::connect(None, context.as_deref()).await?;
                LiveInventory::start(&conn, namespace.as_deref(), timeout).await
            })
            .await
            .map_err(|_| format!("no answer within {CLUSTER_TIMEOUT_SECS} s"))
            .and_then(|r| r.map_err(|e| e.to_string()));
            match started {
                Ok(inventory) => {
                    // Evidence files given on the command line are read beside the live inventory.
                    let mut inputs = inputs_from_args(&input);
                    inputs.manifests.clear();
                    let evidence = read_evidence(inputs.clone()).await?;
                    let live = Live { inventory: Arc::new(inventory), inputs, evidence };
                    let snapshot = live.snapshot().await?;
                    let ctx = live.inventory.connection().context.clone();
                    Ok(Source { snapshot, banner: None, context: Some(ctx), live: Some(live) })
                }
                Err(e) => {
                    let banner = Some(format!("no cluster reachable ({e}): showing the bundled DEMO snapshot"));
                    Box::pin(load(SourceRequest::Demo { banner }, input)).await
                }
            }
        }
    }
}

/// How long the live cluster may take to answer before the TUI falls back to the demo.
const CLUSTER_TIMEOUT_SECS: u64 = 20;

/// The engine the TUI runs actions with (`--engine`, `[llm]` config).
pub fn engine(args: &TuiArgs, config: &Config) -> Result<Arc<dyn Engine>, String> {
    crate::engine::select(args.engine, &args.llm, config).map_err(|e| e.to_string())
}

/// Re-check an edited suggestion with the guard of its kind.
pub fn guard_check(
    snapshot: &Snapshot,
    target: &Target,
    proposal: &[Value],
    original: &[Value],
) -> Result<Option<GuardOutcome>, String> {
    use crate::model::ResourceKind;
    Ok(Some(match target.kind {
        ResourceKind::Role => crate::guard::rbac::check(snapshot, target, proposal, original, false),
        ResourceKind::NetworkPolicy => crate::guard::netpol::check(snapshot, target, proposal, original, false),
        ResourceKind::Deployment => crate::guard::deploy::check(snapshot, target, proposal, original, false),
    }))
}
