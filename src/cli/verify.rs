//! `kubeguard verify`: checks what is deployed now against the evidence. For every subject or
//! workload that has existing objects (the refine targets), the current objects are handed to
//! the kind's guard as the proposal (`check(snapshot, target, current, current, repair=false)`):
//! coverage (is everything observed still allowed), excess (what is granted beyond evidence)
//! and risks. Exit 3 when there are coverage gaps or findings at or above `--fail-on`.

use std::io::Write;

use super::args::VerifyArgs;
use super::exit;
use super::recommend::{format_of, selected, worst};
use crate::model::{Recommendation, ResourceKind, Target, Task};
use crate::report::{self, Summary};
use crate::snapshot::Snapshot;

/// The guard of one resource kind applied to the current objects.
fn check_current(snapshot: &Snapshot, target: &Target, current: &[serde_json::Value]) -> crate::guard::GuardOutcome {
    match target.kind {
        ResourceKind::Role => crate::guard::rbac::check(snapshot, target, current, current, false),
        ResourceKind::NetworkPolicy => crate::guard::netpol::check(snapshot, target, current, current, false),
        ResourceKind::Deployment => crate::guard::deploy::check(snapshot, target, current, current, false),
    }
}

/// Verify every refine target of `kinds`; each result is a `Recommendation` whose manifests are
/// the current objects unchanged and whose verdict is the guard's.
pub fn verify(
    snapshot: &Snapshot,
    kinds: &[ResourceKind],
    namespace: Option<&str>,
    err: &mut dyn Write,
) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for &kind in kinds {
        let targets: Vec<Target> = crate::synth::targets(snapshot, kind, Task::Refine)
            .into_iter()
            .filter(|t| selected(t, &[], namespace))
            .collect();
        for target in targets {
            // The deterministic refine names the current objects (`original`) for the target.
            let current = match crate::synth::recommend(snapshot, &target) {
                Ok(rec) => rec.original,
                Err(e) => {
                    let _ = writeln!(err, "skipped {target}: {e}");
                    continue;
                }
            };
            let outcome = check_current(snapshot, &target, &current);
            out.push(Recommendation {
                target,
                engine: "verify".to_string(),
                manifests: current.clone(),
                original: current,
                evidence: Vec::new(),
                findings: Vec::new(),
                removed: Vec::new(),
                verdict: outcome.verdict,
            });
        }
    }
    out
}

pub fn run(args: &VerifyArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let Some(threshold) = report::parse_severity(&args.fail_on) else {
        let _ = writeln!(err, "error: --fail-on {}: expected info, low, medium, high or critical", args.fail_on);
        return Ok(exit::USAGE);
    };
    let source = match super::inputs::resolve(&args.input) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let snapshot = match super::inputs::load(&source) {
        Ok(s) => s,
        Err(e) => return Ok(super::input_error(&e, err)),
    };
    super::inputs::print_summary(&snapshot, err);
    let kinds: Vec<ResourceKind> = if args.kind.is_empty() {
        vec![ResourceKind::Role, ResourceKind::NetworkPolicy, ResourceKind::Deployment]
    } else {
        args.kind.clone()
    };
    let results = verify(&snapshot, &kinds, args.namespace.as_deref(), err);
    out.write_all(report::render(format_of(args.format), &snapshot, &results).as_bytes())?;
    let s = Summary::of(&results);
    let _ = writeln!(
        err,
        "verified {} target(s): {}/{} observed covered, {} gap(s)",
        s.recommendations, s.covered, s.observed, s.uncovered
    );
    match worst(&results) {
        Some(w) if w >= threshold => Ok(exit::FINDINGS),
        _ => Ok(exit::OK),
    }
}
