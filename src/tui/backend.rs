//! The TUI's seam to the rest of the library: load a snapshot (demo, snapshot folder, explicit
//! inputs, live cluster with demo fallback), pick the engine, and run the guard's `check` on an
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
}

/// Which source the command line asks for.
pub fn request_from_args(args: &TuiArgs) -> SourceRequest {
    let i = &args.input;
    if i.demo {
        SourceRequest::Demo { banner: None }
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
            Ok(Source { snapshot, banner, context: None })
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
            Ok(Source { snapshot, banner: None, context: None })
        }
        SourceRequest::Inputs => {
            let inputs = inputs_from_args(&input);
            let snapshot = tokio::task::spawn_blocking(move || load_files(&inputs, "inputs".to_string()))
                .await
                .map_err(|e| e.to_string())??;
            Ok(Source { snapshot, banner: None, context: None })
        }
        SourceRequest::Cluster { context, namespace } => {
            let live = tokio::time::timeout(
                std::time::Duration::from_secs(CLUSTER_TIMEOUT_SECS),
                crate::sources::cluster::load(context.as_deref(), namespace.as_deref()),
            )
            .await
            .map_err(|_| format!("no answer within {CLUSTER_TIMEOUT_SECS} s"))
            .and_then(|r| r.map_err(|e| e.to_string()));
            match live {
                Ok(inventory) => {
                    let ctx = context.clone().unwrap_or_else(|| "current".to_string());
                    // Evidence files given on the command line are read beside the live inventory.
                    let mut evidence = inputs_from_args(&input);
                    evidence.manifests.clear();
                    let mut snapshot = if evidence.is_empty() {
                        Snapshot::default()
                    } else {
                        tokio::task::spawn_blocking(move || load_files(&evidence, String::new()))
                            .await
                            .map_err(|e| e.to_string())??
                    };
                    snapshot.label = format!("cluster:{ctx}");
                    snapshot.inventory = inventory;
                    Ok(Source { snapshot, banner: None, context: Some(ctx) })
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
