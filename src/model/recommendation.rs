//! What engines return and the guard annotates: manifests, per-rule evidence, findings, the
//! guard's verdict, and the progress events a running engine streams to the faces.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::{Evidence, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// A finding with a stable rule id (e.g. `KG-RBAC-SECRETS-READ`), where it applies and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: String,
    pub severity: Severity,
    /// The object or rule it is about (`ClusterRole/foo rules[2]`, `Deployment ns/x`).
    pub subject: String,
    pub message: String,
}

/// Why a piece of a generated manifest is there: a pointer into the manifest plus the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleEvidence {
    /// Which manifest (index into `Recommendation::manifests`) and which part (`rules[0]`,
    /// `spec.egress[1]`, `spec.template.spec.containers[0].securityContext.runAsNonRoot`).
    pub manifest: usize,
    pub path: String,
    /// Human explanation (`get,list,watch core/pods in shop`).
    pub what: String,
    pub evidence: Evidence,
}

/// The guard's judgement of a proposal against the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GuardVerdict {
    /// Observed allowed requests/connections/behaviours considered.
    pub observed: usize,
    /// How many of them the proposal still allows.
    pub covered: usize,
    /// Human descriptions of observed things the proposal would break.
    pub uncovered: Vec<String>,
    /// What the proposal grants beyond the evidence (after repair: what remains, flagged).
    pub excess: Vec<String>,
    /// What the guard removed or changed, one line each.
    pub repairs: Vec<String>,
    /// Risk findings of the final proposal.
    pub risks: Vec<Finding>,
    /// Risk findings present in the original but gone from the proposal (refine).
    pub risks_removed: Vec<Finding>,
}

impl GuardVerdict {
    pub fn is_complete_coverage(&self) -> bool {
        self.covered == self.observed && self.uncovered.is_empty()
    }
}

/// One engine's answer for one target, after the guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub target: Target,
    /// Which engine produced it (`deterministic`, `llm:<model>`, `hybrid:<model>`).
    pub engine: String,
    /// The proposed Kubernetes objects, as JSON values in output order.
    pub manifests: Vec<serde_json::Value>,
    /// The current objects this replaces (refine), as read; empty for create.
    pub original: Vec<serde_json::Value>,
    /// Evidence per rule/peer/field.
    pub evidence: Vec<RuleEvidence>,
    /// Findings that are not part of the guard verdict (denied requests, dropped flows,
    /// unobserved fields left alone, short windows...).
    pub findings: Vec<Finding>,
    /// Removed permissions for refine, one human line each, with their risk.
    pub removed: Vec<(String, Severity)>,
    pub verdict: GuardVerdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepStatus {
    Queued,
    Running,
    Done,
    Failed(String),
    Cancelled,
}

/// Streamed by engines while they work; the TUI shows them, the CLI drives a progress bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProgressEvent {
    /// The engine's plan: step names in order (e.g. `analyse-manifest`, `analyse-logs`, `generate`).
    Plan { target: Target, steps: Vec<String> },
    /// A step changed status. `elapsed_ms` is measured by the engine.
    Step { target: Target, index: usize, status: StepStatus, elapsed_ms: u64 },
    /// The full prompt of a step (after redaction) and where its template came from.
    Prompt { target: Target, index: usize, prompt: String, template_source: String },
    /// A chunk of streamed answer text for a step.
    Chunk { target: Target, index: usize, text: String },
    /// Token accounting for a step (prompt, completion).
    Tokens { target: Target, index: usize, prompt: u64, completion: u64 },
    /// Free-form note (retry, repair, cache hit).
    Note { target: Target, index: usize, text: String },
}
