//! `DeterministicEngine`: the `engine::Engine` implementation with no LLM. It dispatches on
//! the target's resource kind to `synth::{rbac, netpol, deploy}`, streams a two-step plan
//! (`select-evidence`, `synthesise-and-guard`) and honours cancellation between steps. The
//! synthesis itself is pure and already guarded by the kind's `check`.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::netpol::NetpolOptions;
use crate::engine::{BoxFuture, Engine, EngineError, ProgressSink};
use crate::guard::rbac::RbacOptions;
use crate::model::{ProgressEvent, Recommendation, ResourceKind, StepStatus, Target, Task};
use crate::snapshot::Snapshot;

/// Every target of `kind` for `task` in the snapshot, in a deterministic order.
pub fn targets(snapshot: &Snapshot, kind: ResourceKind, task: Task) -> Vec<Target> {
    let mut out = match kind {
        ResourceKind::Role => super::rbac::targets(snapshot, task),
        ResourceKind::NetworkPolicy => super::netpol::targets(snapshot, task),
        ResourceKind::Deployment => super::deploy::targets(snapshot, task),
    };
    out.sort();
    out.dedup();
    out
}

/// The deterministic, guarded recommendation for one target, with the default options.
pub fn recommend(snapshot: &Snapshot, target: &Target) -> Result<Recommendation, EngineError> {
    DeterministicEngine::default().recommend(snapshot, target)
}

/// Step names of the deterministic plan.
pub const STEPS: [&str; 2] = ["select-evidence", "synthesise-and-guard"];

#[derive(Debug, Clone, Default)]
pub struct DeterministicEngine {
    /// How RBAC evidence becomes permissions (verb expansion, name widening).
    pub rbac: RbacOptions,
    /// Which directions NetworkPolicies isolate without evidence, namespace default-deny.
    pub netpol: NetpolOptions,
}

impl DeterministicEngine {
    /// The engine with the options of the user's configuration.
    pub fn from_config(config: &crate::config::Config) -> Self {
        DeterministicEngine { rbac: config.rbac.clone(), netpol: config.netpol.clone() }
    }

    /// The guarded recommendation for one target under this engine's options.
    pub fn recommend(&self, snapshot: &Snapshot, target: &Target) -> Result<Recommendation, EngineError> {
        match target.kind {
            ResourceKind::Role => super::rbac::recommend_with(snapshot, target, &self.rbac),
            ResourceKind::NetworkPolicy => super::netpol::recommend_with(snapshot, target, &self.netpol),
            ResourceKind::Deployment => super::deploy::recommend(snapshot, target),
        }
    }

    /// Run synchronously (what `propose` does inside its future).
    pub fn run(
        &self,
        snapshot: &Snapshot,
        target: &Target,
        progress: &ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<Recommendation, EngineError> {
        let step = |index: usize, status: StepStatus, started: Instant| {
            progress.send(ProgressEvent::Step {
                target: target.clone(),
                index,
                status,
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        };
        progress
            .send(ProgressEvent::Plan { target: target.clone(), steps: STEPS.iter().map(|s| s.to_string()).collect() });
        let t0 = Instant::now();
        if cancel.is_cancelled() {
            step(0, StepStatus::Cancelled, t0);
            return Err(EngineError::Cancelled);
        }
        step(0, StepStatus::Running, t0);
        let observed = evidence_size(snapshot, target);
        progress.send(ProgressEvent::Note {
            target: target.clone(),
            index: 0,
            text: format!("{observed} observed item(s) in scope"),
        });
        step(0, StepStatus::Done, t0);
        let t1 = Instant::now();
        if cancel.is_cancelled() {
            step(1, StepStatus::Cancelled, t1);
            return Err(EngineError::Cancelled);
        }
        step(1, StepStatus::Running, t1);
        match self.recommend(snapshot, target) {
            Ok(mut rec) => {
                rec.engine = self.name();
                step(1, StepStatus::Done, t1);
                Ok(rec)
            }
            Err(e) => {
                step(1, StepStatus::Failed(e.to_string()), t1);
                Err(e)
            }
        }
    }
}

/// How much evidence the snapshot holds for the target's scope (for the progress note).
fn evidence_size(snapshot: &Snapshot, target: &Target) -> usize {
    use crate::model::TargetScope;
    match (&target.scope, target.kind) {
        (TargetScope::Subject(s), _) => {
            snapshot.observed.api.get(s).map(|p| p.allowed.len() + p.denied.len()).unwrap_or(0)
        }
        (TargetScope::Workload(w), ResourceKind::NetworkPolicy) => snapshot
            .observed
            .flows
            .connections
            .keys()
            .filter(|c| endpoint_is(&c.source, w) || endpoint_is(&c.destination, w))
            .count(),
        (TargetScope::Workload(w), _) => {
            snapshot
                .observed
                .runtime
                .containers
                .iter()
                .filter(|(c, _)| &c.workload == w)
                .map(|(_, o)| o.len())
                .sum::<usize>()
                + snapshot
                    .observed
                    .metrics
                    .series
                    .iter()
                    .filter(|(c, _)| &c.workload == w)
                    .map(|(_, s)| s.len())
                    .sum::<usize>()
        }
    }
}

fn endpoint_is(e: &crate::model::FlowEndpoint, w: &crate::model::WorkloadRef) -> bool {
    matches!(e, crate::model::FlowEndpoint::Workload { namespace, kind, name, .. }
        if namespace == &w.namespace && name == &w.name && kind == w.kind.as_str())
}

impl Engine for DeterministicEngine {
    fn name(&self) -> String {
        "deterministic".to_string()
    }

    fn propose(
        &self,
        snapshot: Arc<Snapshot>,
        target: Target,
        progress: ProgressSink,
        cancel: CancellationToken,
    ) -> BoxFuture<Result<Recommendation, EngineError>> {
        let engine = self.clone();
        Box::pin(async move { engine.run(&snapshot, &target, &progress, &cancel) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Subject, TargetScope};

    fn target() -> Target {
        Target {
            scope: TargetScope::Subject(Subject::User { name: "alice".into() }),
            kind: ResourceKind::Role,
            task: Task::Create,
        }
    }

    #[test]
    fn cancelled_before_start_reports_and_stops() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let r = DeterministicEngine::default().run(&Snapshot::default(), &target(), &ProgressSink::new(tx), &cancel);
        assert!(matches!(r, Err(EngineError::Cancelled)));
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        assert!(matches!(&events[0], ProgressEvent::Plan { steps, .. } if steps.len() == 2));
        assert!(matches!(&events[1], ProgressEvent::Step { index: 0, status: StepStatus::Cancelled, .. }));
    }
}
