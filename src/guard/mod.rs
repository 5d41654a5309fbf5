//! The trust boundary: exact Kubernetes semantics (RBAC authorizer matching, NetworkPolicy
//! evaluation, Pod Security checks), coverage (every observed allowed request/flow is still
//! allowed), excess (what is granted beyond the evidence), risk findings and repair. It never
//! widens privileges beyond evidence plus what the original manifest already granted.

pub mod deploy;
pub mod netpol;
pub mod rbac;
pub mod risk;

use crate::model::GuardVerdict;

/// What every guard returns for a proposal: the (possibly repaired) manifests and the verdict.
///
/// Each of `guard::rbac`, `guard::netpol` and `guard::deploy` exposes
/// `pub fn check(snapshot: &Snapshot, target: &Target, proposal: &[serde_json::Value],
/// original: &[serde_json::Value], repair: bool) -> GuardOutcome`: `proposal` is what an engine
/// (deterministic or LLM) produced, `original` the objects it replaces (empty for create).
/// With `repair`, grants that neither the evidence nor the original support are removed and
/// each removal is listed in `verdict.repairs`; observed behaviour the proposal would break is
/// restored where the original allowed it, otherwise listed in `verdict.uncovered`.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardOutcome {
    pub manifests: Vec<serde_json::Value>,
    pub verdict: GuardVerdict,
}
