//! `LlmEngine` (the KubeGuard prompt chain: analyse manifest → analyse aggregated logs →
//! generate/refine) and `HybridEngine` (LLM chain plus the deterministic engine, with a
//! report of where they agree and differ), and `select_engine` for `--engine`.
//!
//! The step runner renders each template, redacts, answers from the cache or streams from the
//! provider (bounded retries), validates (schema + Kubernetes types) and re-prompts with the
//! errors (bounded repair loop). The final proposal always goes through the guard; if the
//! model never produces a valid proposal the engine falls back to the safest valid answer
//! (the original for refine, nothing for create) and says so. Nothing here grants access.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::context::{self, ChainContext};
use super::output;
use super::prompts::{Library, StepDef};
use super::provider::{
    self, ChatMessage, ChatRequest, LlmProvider, ProviderError, ProviderSettings, RetryPolicy, StructuredOutput,
};
use super::record::{self, ResponseCache, Transcript, TranscriptStore};
use super::redact::redact_text;
use super::tokens;
use crate::cli::args::{EngineChoice, LlmArgs};
use crate::config::Config;
use crate::engine::{BoxFuture, Engine, EngineError, ProgressSink};
use crate::guard::GuardOutcome;
use crate::model::{
    Evidence, Finding, ProgressEvent, Recommendation, RuleEvidence, Severity, StepStatus, Target, Task,
};
use crate::snapshot::Snapshot;

/// The guard as the chain sees it: `guard::<kind>::check` with the contract of
/// `src/guard/mod.rs`. `Err` means no guard is available for the kind: the engine then refuses
/// to return the model's proposal (fail closed).
pub type GuardFn =
    Arc<dyn Fn(&Snapshot, &Target, &[Value], &[Value], bool) -> Result<GuardOutcome, String> + Send + Sync>;

/// The guards of this build, by resource kind.
pub fn kubernetes_guard() -> GuardFn {
    Arc::new(|snapshot: &Snapshot, target: &Target, proposal: &[Value], original: &[Value], repair: bool| {
        crate::chain::engine::dispatch_guard(snapshot, target, proposal, original, repair)
    })
}

/// Dispatch to `guard::rbac|netpol|deploy::check`.
fn dispatch_guard(
    snapshot: &Snapshot,
    target: &Target,
    proposal: &[Value],
    original: &[Value],
    repair: bool,
) -> Result<GuardOutcome, String> {
    use crate::model::ResourceKind;
    Ok(match target.kind {
        ResourceKind::Role => crate::guard::rbac::check(snapshot, target, proposal, original, repair),
        ResourceKind::NetworkPolicy => crate::guard::netpol::check(snapshot, target, proposal, original, repair),
        ResourceKind::Deployment => crate::guard::deploy::check(snapshot, target, proposal, original, repair),
    })
}

/// Engine knobs (resolved from config + flags).
#[derive(Debug, Clone)]
pub struct ChainOptions {
    pub temperature: f32,
    pub top_p: f32,
    pub max_tokens: u32,
    pub seed: Option<u64>,
    pub structured: StructuredOutput,
    pub retry: RetryPolicy,
    /// Re-prompts with validation errors per step.
    pub max_repairs: u32,
    /// Guard repair (strip unsupported grants).
    pub strip_unsupported: bool,
    pub cache_dir: Option<PathBuf>,
    /// `<data dir>/transcripts`.
    pub transcripts_dir: Option<PathBuf>,
    /// User prompt overrides (`<config dir>/prompts`).
    pub prompts_dir: Option<PathBuf>,
}

impl Default for ChainOptions {
    fn default() -> Self {
        ChainOptions {
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: 2048,
            seed: Some(0),
            structured: StructuredOutput::JsonSchema,
            retry: RetryPolicy::default(),
            max_repairs: 2,
            strip_unsupported: true,
            cache_dir: None,
            transcripts_dir: None,
            prompts_dir: None,
        }
    }
}

/// What happened in one chain run (for reports and tests).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ChainStats {
    pub target: String,
    pub steps: usize,
    pub calls: usize,
    pub cache_hits: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub seconds: f64,
    /// Re-prompts because an answer was invalid.
    pub repairs: usize,
    /// Steps whose answer stayed invalid after all repairs.
    pub invalid_steps: usize,
    /// The final proposal was replaced by the safe fallback.
    pub fallback: bool,
    /// Lines the guard removed or changed.
    pub guard_repairs: usize,
    pub raw_log_tokens: u64,
    pub reduced_tokens: u64,
}

pub struct LlmEngine {
    provider: Arc<dyn LlmProvider>,
    library: Library,
    options: ChainOptions,
    guard: GuardFn,
    cache: ResponseCache,
    transcripts: Arc<TranscriptStore>,
    stats: std::sync::Mutex<Vec<ChainStats>>,
}

struct StepResult {
    value: Option<Value>,
    errors: Vec<String>,
}

fn step_var(name: &str) -> String {
    name.replace('-', "_")
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl LlmEngine {
    pub fn new(provider: Arc<dyn LlmProvider>, options: ChainOptions) -> Result<LlmEngine, EngineError> {
        let library = Library::load(options.prompts_dir.as_deref()).map_err(|e| EngineError::Other(e.to_string()))?;
        Ok(LlmEngine {
            provider,
            library,
            cache: ResponseCache::new(options.cache_dir.clone()),
            transcripts: Arc::new(TranscriptStore::new(options.transcripts_dir.clone())),
            options,
            guard: kubernetes_guard(),
            stats: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Replace the guard (tests, or a stricter policy).
    pub fn with_guard(mut self, guard: GuardFn) -> Self {
        self.guard = guard;
        self
    }

    pub fn transcripts(&self) -> Vec<Transcript> {
        self.transcripts.transcripts()
    }

    pub fn transcript_dir(&self) -> Option<PathBuf> {
        self.transcripts.run_dir().map(|p| p.to_path_buf())
    }

    /// Statistics of every chain run so far, in completion order.
    pub fn stats(&self) -> Vec<ChainStats> {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_step(
        &self,
        target: &Target,
        index: usize,
        step: &StepDef,
        system: &str,
        vars: &Value,
        ctx: &ChainContext,
        progress: &ProgressSink,
        cancel: &CancellationToken,
        stats: &mut ChainStats,
    ) -> Result<StepResult, EngineError> {
        let rendered = self.library.render(&step.template, vars).map_err(|e| EngineError::Other(e.to_string()))?;
        // Second layer: the whole prompt is redacted as text too.
        let user = redact_text(&rendered);
        progress.send(ProgressEvent::Prompt {
            target: target.clone(),
            index,
            prompt: format!("[system]\n{system}\n\n[user]\n{user}"),
            template_source: step.template_source.clone(),
        });
        let mut messages = vec![ChatMessage::system(system), ChatMessage::user(user)];
        let chain = format!("{}-{}", target.task, target.kind);
        let carries_logs = rendered.contains(vars["profile"].as_str().unwrap_or("\u{0}"));
        let mut last_errors = Vec::new();
        for attempt in 1..=self.options.max_repairs.saturating_add(1) {
            if cancel.is_cancelled() {
                return Err(EngineError::Cancelled);
            }
            let request = ChatRequest {
                model: self.provider.model(),
                messages: messages.clone(),
                temperature: self.options.temperature,
                top_p: self.options.top_p,
                max_tokens: self.options.max_tokens,
                seed: self.options.seed,
                schema: step.schema.clone(),
                structured: self.options.structured,
            };
            let key = record::cache_key(&request);
            let (completion, cached) = match self.cache.get(&key) {
                Some(c) => {
                    progress.send(ProgressEvent::Note {
                        target: target.clone(),
                        index,
                        text: "answer from cache".into(),
                    });
                    progress.send(ProgressEvent::Chunk { target: target.clone(), index, text: c.text.clone() });
                    stats.cache_hits += 1;
                    (c, true)
                }
                None => {
                    let t = target.clone();
                    let p = progress.clone();
                    let mut on_chunk =
                        move |s: &str| p.send(ProgressEvent::Chunk { target: t.clone(), index, text: s.to_string() });
                    let t2 = target.clone();
                    let p2 = progress.clone();
                    let mut on_retry = move |n: u32, e: &ProviderError, d: std::time::Duration| {
                        p2.send(ProgressEvent::Note {
                            target: t2.clone(),
                            index,
                            text: format!("call failed ({e}); retry {n} in {:.1}s", d.as_secs_f32()),
                        })
                    };
                    let c = provider::complete(
                        self.provider.as_ref(),
                        &request,
                        &self.options.retry,
                        cancel,
                        &mut on_chunk,
                        &mut on_retry,
                    )
                    .await
                    .map_err(|e| match e {
                        ProviderError::Cancelled => EngineError::Cancelled,
                        other => EngineError::Provider(other.to_string()),
                    })?;
                    if let Err(e) = self.cache.put(&key, &request.model, &c) {
                        tracing::warn!("response cache: {e}");
                    }
                    (c, false)
                }
            };
            stats.calls += 1;
            let prompt_counted: u64 = request.messages.iter().map(|m| tokens::count(&m.content)).sum();
            let completion_counted = tokens::count(&completion.text);
            let prompt_tokens = completion.usage.prompt_tokens.unwrap_or(prompt_counted);
            let completion_tokens = completion.usage.completion_tokens.unwrap_or(completion_counted);
            stats.prompt_tokens += prompt_tokens;
            stats.completion_tokens += completion_tokens;
            progress.send(ProgressEvent::Tokens {
                target: target.clone(),
                index,
                prompt: prompt_tokens,
                completion: completion_tokens,
            });
            let result = output::validate(&completion.text, step.output, step.schema.as_ref());
            let errors = result.as_ref().err().cloned().unwrap_or_default();
            let transcript = Transcript {
                run_id: self.transcripts.run_id.clone(),
                target: target.to_string(),
                chain: chain.clone(),
                step: step.name.clone(),
                step_index: index,
                attempt,
                template_source: step.template_source.clone(),
                model: request.model.clone(),
                temperature: request.temperature,
                top_p: request.top_p,
                max_tokens: request.max_tokens,
                seed: request.seed,
                messages: request.messages.clone(),
                answer: completion.text.clone(),
                usage: completion.usage,
                prompt_tokens_counted: prompt_counted,
                completion_tokens_counted: completion_counted,
                context_tokens_raw: if carries_logs { ctx.raw_log_tokens } else { 0 },
                context_tokens_reduced: if carries_logs { ctx.reduced_tokens } else { 0 },
                latency_ms: completion.latency_ms,
                provider_attempts: completion.attempts,
                cached,
                cache_key: key,
                validation_errors: errors.clone(),
                at: now_rfc3339(),
            };
            if let Err(e) = self.transcripts.save(&transcript) {
                tracing::warn!("transcript: {e}");
            }
            match result {
                Ok(v) => return Ok(StepResult { value: Some(v), errors: Vec::new() }),
                Err(errs) => {
                    last_errors = errs;
                    if attempt <= self.options.max_repairs {
                        stats.repairs += 1;
                        progress.send(ProgressEvent::Note {
                            target: target.clone(),
                            index,
                            text: format!(
                                "invalid answer ({} problems); asking for a corrected one",
                                last_errors.len()
                            ),
                        });
                        messages.push(ChatMessage::assistant(completion.text.clone()));
                        messages.push(ChatMessage::user(repair_prompt(&last_errors)));
                    }
                }
            }
        }
        Ok(StepResult { value: None, errors: last_errors })
    }

    async fn run(
        &self,
        snapshot: Arc<Snapshot>,
        target: Target,
        progress: ProgressSink,
        cancel: CancellationToken,
    ) -> Result<(Recommendation, ChainStats), EngineError> {
        let started = Instant::now();
        let chain =
            self.library.chain(target.task, target.kind).map_err(|e| EngineError::Other(e.to_string()))?.clone();
        let mut names: Vec<String> = chain.steps.iter().map(|s| s.name.clone()).collect();
        names.push("guard".into());
        progress.send(ProgressEvent::Plan { target: target.clone(), steps: names.clone() });
        let ctx = context::build(&snapshot, &target)?;
        let mut stats = ChainStats {
            target: target.to_string(),
            steps: names.len(),
            raw_log_tokens: ctx.raw_log_tokens,
            reduced_tokens: ctx.reduced_tokens,
            ..ChainStats::default()
        };
        let system =
            redact_text(&self.library.render_system(&ctx.vars).map_err(|e| EngineError::Other(e.to_string()))?);
        let mut step_outputs = serde_json::Map::new();
        for s in &chain.steps {
            step_outputs.insert(step_var(&s.name), Value::String("{}".into()));
        }
        let mut findings = Vec::new();
        let mut final_value = None;
        let last = chain.steps.len().saturating_sub(1);
        for (index, step) in chain.steps.iter().enumerate() {
            if cancel.is_cancelled() {
                progress.send(ProgressEvent::Step {
                    target: target.clone(),
                    index,
                    status: StepStatus::Cancelled,
                    elapsed_ms: 0,
                });
                return Err(EngineError::Cancelled);
            }
            let t0 = Instant::now();
            progress.send(ProgressEvent::Step {
                target: target.clone(),
                index,
                status: StepStatus::Running,
                elapsed_ms: 0,
            });
            let mut vars = ctx.vars.clone();
            vars["steps"] = Value::Object(step_outputs.clone());
            let result = match self
                .run_step(&target, index, step, &system, &vars, &ctx, &progress, &cancel, &mut stats)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    let status = if matches!(e, EngineError::Cancelled) {
                        StepStatus::Cancelled
                    } else {
                        StepStatus::Failed(e.to_string())
                    };
                    progress.send(ProgressEvent::Step { target: target.clone(), index, status, elapsed_ms: ms(t0) });
                    return Err(e);
                }
            };
            let status = match &result.value {
                Some(v) => {
                    step_outputs.insert(
                        step_var(&step.name),
                        Value::String(redact_text(&serde_json::to_string_pretty(v).unwrap_or_default())),
                    );
                    StepStatus::Done
                }
                None => {
                    stats.invalid_steps += 1;
                    let msg = format!(
                        "answer still invalid after {} repairs: {}",
                        self.options.max_repairs,
                        result.errors.join("; ")
                    );
                    findings.push(Finding {
                        rule_id: "KG-LLM-INVALID-OUTPUT".into(),
                        severity: if index == last { Severity::Medium } else { Severity::Low },
                        subject: format!("step {}", step.name),
                        message: msg.clone(),
                    });
                    step_outputs.insert(
                        step_var(&step.name),
                        Value::String(
                            json!({"analysis": [], "summary": "analysis unavailable (the model's answer was invalid)"})
                                .to_string(),
                        ),
                    );
                    StepStatus::Failed(msg)
                }
            };
            progress.send(ProgressEvent::Step { target: target.clone(), index, status, elapsed_ms: ms(t0) });
            if index == last {
                final_value = result.value;
            }
        }

        // Final proposal, or the safe fallback.
        let guard_index = chain.steps.len();
        let t0 = Instant::now();
        progress.send(ProgressEvent::Step {
            target: target.clone(),
            index: guard_index,
            status: StepStatus::Running,
            elapsed_ms: 0,
        });
        // The safest valid answer: the workload unchanged (deployment), the current objects
        // (refine) or nothing (create).
        let workload_raw = match &target.scope {
            crate::model::TargetScope::Workload(w) if target.kind == crate::model::ResourceKind::Deployment => {
                snapshot.inventory.workload(w).map(|wl| wl.raw.clone())
            }
            _ => None,
        };
        let fallback_what = if workload_raw.is_some() {
            "the workload unchanged"
        } else if target.task == Task::Refine {
            "the current manifests"
        } else {
            "no manifests"
        };
        let fallback: Vec<Value> = match workload_raw {
            Some(raw) => vec![raw],
            None => ctx.original.clone(),
        };
        let (proposal, justifications) = match &final_value {
            Some(v) => (
                v.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default(),
                v.get("justifications").and_then(Value::as_array).cloned().unwrap_or_default(),
            ),
            None => {
                stats.fallback = true;
                progress.send(ProgressEvent::Note {
                    target: target.clone(),
                    index: guard_index,
                    text: format!("no valid proposal from the model: falling back to {fallback_what}"),
                });
                findings.push(Finding {
                    rule_id: "KG-LLM-FALLBACK".into(),
                    severity: Severity::Medium,
                    subject: target.to_string(),
                    message: format!("the model produced no valid proposal; the guard checked {fallback_what} instead"),
                });
                (fallback.clone(), Vec::new())
            }
        };
        // A hardened workload is the model's changes laid over the workload as deployed, so its
        // identity (name, selector, containers, images) cannot be lost or swapped.
        let proposal = match (&target.kind, &target.scope) {
            (crate::model::ResourceKind::Deployment, crate::model::TargetScope::Workload(w)) => {
                match (snapshot.inventory.workload(w), proposal.first()) {
                    (Some(wl), Some(p)) => vec![overlay_workload(&wl.raw, p)],
                    _ => proposal,
                }
            }
            _ => proposal,
        };
        // A chain answers for one target: RBAC objects about anyone else are dropped before the
        // guard sees them (the guard judges the target's access only).
        let proposal = match (&target.kind, rbac_subject(&snapshot, &target)) {
            (crate::model::ResourceKind::Role, Some(subject)) => {
                let (kept, dropped) = scope_rbac(&proposal, &subject);
                for d in &dropped {
                    progress.send(ProgressEvent::Note {
                        target: target.clone(),
                        index: guard_index,
                        text: format!("scope: {d}"),
                    });
                    findings.push(Finding {
                        rule_id: "KG-LLM-OUT-OF-SCOPE".into(),
                        severity: Severity::Medium,
                        subject: target.to_string(),
                        message: d.clone(),
                    });
                }
                kept
            }
            _ => proposal,
        };
        let outcome = match (self.guard)(&snapshot, &target, &proposal, &ctx.original, self.options.strip_unsupported) {
            Ok(o) => o,
            Err(e) => {
                progress.send(ProgressEvent::Step {
                    target: target.clone(),
                    index: guard_index,
                    status: StepStatus::Failed(e.clone()),
                    elapsed_ms: ms(t0),
                });
                return Err(EngineError::Other(e));
            }
        };
        // Defence in depth for NetworkPolicies, whose guard flags what it cannot attribute (e.g.
        // allow-all rules) as excess instead of removing it: whatever is still flagged must
        // already be flagged for the safe answer, otherwise the model's answer is rejected. (The
        // RBAC guard removes unsupported grants itself; its remaining "excess" is its documented
        // evidence closure, e.g. list ⇒ watch.)
        let mut outcome = outcome;
        let mut justifications = justifications;
        if !stats.fallback
            && self.options.strip_unsupported
            && target.kind == crate::model::ResourceKind::NetworkPolicy
            && !outcome.verdict.excess.is_empty()
        {
            let baseline =
                (self.guard)(&snapshot, &target, &fallback, &ctx.original, true).map_err(EngineError::Other)?;
            let wider: Vec<String> =
                outcome.verdict.excess.iter().filter(|e| !baseline.verdict.excess.contains(e)).cloned().collect();
            if !wider.is_empty() {
                stats.fallback = true;
                stats.guard_repairs += outcome.verdict.repairs.len();
                progress.send(ProgressEvent::Note {
                    target: target.clone(),
                    index: guard_index,
                    text: format!(
                        "guarded answer still grants {} unsupported thing(s): falling back to {fallback_what}",
                        wider.len()
                    ),
                });
                findings.push(Finding {
                    rule_id: "KG-LLM-EXCESS-AFTER-GUARD".into(),
                    severity: Severity::High,
                    subject: target.to_string(),
                    message: format!(
                        "rejected the model's answer, which the guard left wider than {fallback_what}: {}",
                        wider.join("; ")
                    ),
                });
                outcome = baseline;
                justifications = Vec::new();
            }
        }
        stats.guard_repairs += outcome.verdict.repairs.len();
        for r in &outcome.verdict.repairs {
            progress.send(ProgressEvent::Note {
                target: target.clone(),
                index: guard_index,
                text: format!("guard: {r}"),
            });
        }
        progress.send(ProgressEvent::Step {
            target: target.clone(),
            index: guard_index,
            status: StepStatus::Done,
            elapsed_ms: ms(t0),
        });
        let evidence = justifications_to_evidence(&justifications, outcome.manifests.len());
        stats.seconds = started.elapsed().as_secs_f64();
        let rec = Recommendation {
            target,
            engine: self.name(),
            manifests: outcome.manifests,
            original: ctx.original,
            evidence,
            findings,
            removed: Vec::new(),
            verdict: outcome.verdict,
        };
        Ok((rec, stats))
    }
}

/// Where the pod spec of a workload kind lives.
fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        "Pod" => Some("/spec"),
        _ => None,
    }
}

/// Lay the model's hardening over the workload as deployed: only hardening fields are taken
/// from `overlay` — pod `securityContext`, `automountServiceAccountToken`, host namespaces, and
/// per container (matched by name) `securityContext` and `resources`. Everything else (identity,
/// selector, images, commands, env, volumes, new containers) stays the base's.
pub fn overlay_workload(base: &Value, overlay: &Value) -> Value {
    const POD_FIELDS: [&str; 5] =
        ["securityContext", "automountServiceAccountToken", "hostNetwork", "hostPID", "hostIPC"];
    const CONTAINER_FIELDS: [&str; 2] = ["securityContext", "resources"];
    let mut out = base.clone();
    let kind = base.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(ptr) = pod_spec_pointer(kind) else { return out };
    let Some(theirs) = overlay.pointer(ptr).filter(|_| overlay.get("kind") == base.get("kind")) else { return out };
    let Some(Value::Object(pod)) = out.pointer_mut(ptr) else { return out };
    for f in POD_FIELDS {
        if let Some(v) = theirs.get(f) {
            pod.insert(f.to_string(), v.clone());
        }
    }
    for list in ["initContainers", "containers"] {
        let Some(Value::Array(mine)) = pod.get_mut(list) else { continue };
        for c in mine.iter_mut() {
            let name = c.get("name").cloned();
            let Some(tc) = theirs
                .get(list)
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| x.get("name") == name.as_ref()))
            else {
                continue;
            };
            if let Value::Object(cm) = c {
                for f in CONTAINER_FIELDS {
                    if let Some(v) = tc.get(f) {
                        cm.insert(f.to_string(), v.clone());
                    }
                }
            }
        }
    }
    out
}

/// The RBAC subject a Role target is about.
fn rbac_subject(snapshot: &Snapshot, target: &Target) -> Option<crate::model::Subject> {
    match &target.scope {
        crate::model::TargetScope::Subject(s) => Some(s.clone()),
        crate::model::TargetScope::Workload(w) => {
            snapshot.inventory.workload(w).map(|wl| crate::model::Subject::ServiceAccount {
                namespace: wl.id.namespace.clone(),
                name: wl.service_account.clone(),
            })
        }
    }
}

fn names_subject(entry: &Value, binding_ns: &str, subject: &crate::model::Subject) -> bool {
    use crate::model::Subject;
    let kind = entry.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
    match subject {
        Subject::ServiceAccount { namespace, name: n } => {
            let ns = entry.get("namespace").and_then(Value::as_str).unwrap_or(binding_ns);
            kind == "ServiceAccount" && name == n && ns == namespace
        }
        Subject::User { name: n } => kind == "User" && name == n,
        Subject::Group { name: n } => kind == "Group" && name == n,
    }
}

/// Keep only what concerns `subject`: bindings narrowed to its subject entries (dropped when
/// none remain), roles only when a kept binding references them. Returns (kept, dropped lines).
pub fn scope_rbac(proposal: &[Value], subject: &crate::model::Subject) -> (Vec<Value>, Vec<String>) {
    let mut dropped = Vec::new();
    let mut bindings = Vec::new();
    let label = |m: &Value| {
        format!(
            "{} {}",
            m.get("kind").and_then(Value::as_str).unwrap_or("?"),
            m.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?")
        )
    };
    for m in proposal {
        let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "RoleBinding" && kind != "ClusterRoleBinding" {
            continue;
        }
        let ns = m.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        let subjects: Vec<Value> = m.get("subjects").and_then(Value::as_array).cloned().unwrap_or_default();
        let (mine, others): (Vec<Value>, Vec<Value>) =
            subjects.into_iter().partition(|e| names_subject(e, ns, subject));
        if mine.is_empty() {
            dropped.push(format!("removed {} (binds nobody this chain is about)", label(m)));
            continue;
        }
        let mut b = m.clone();
        if !others.is_empty() {
            dropped.push(format!("removed {} other subject(s) from {}", others.len(), label(m)));
            b["subjects"] = Value::Array(mine);
        }
        bindings.push(b);
    }
    let referenced = |role: &Value| {
        let kind = role.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = role.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let ns = role.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        bindings.iter().any(|b| {
            b.pointer("/roleRef/kind").and_then(Value::as_str) == Some(kind)
                && b.pointer("/roleRef/name").and_then(Value::as_str) == Some(name)
                && (kind == "ClusterRole"
                    || b.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("") == ns)
        })
    };
    let mut kept = Vec::new();
    for m in proposal {
        match m.get("kind").and_then(Value::as_str).unwrap_or("") {
            "Role" | "ClusterRole" if referenced(m) => kept.push(m.clone()),
            "Role" | "ClusterRole" => dropped.push(format!("removed {} (not bound to this subject)", label(m))),
            "RoleBinding" | "ClusterRoleBinding" => {}
            _ => dropped.push(format!("removed {} (not an RBAC object)", label(m))),
        }
    }
    kept.extend(bindings);
    (kept, dropped)
}

fn repair_prompt(errors: &[String]) -> String {
    let mut s = String::from("Your answer was not valid. Problems found:\n");
    for e in errors.iter().take(20) {
        s.push_str("- ");
        s.push_str(e);
        s.push('\n');
    }
    s.push_str("\nAnswer again with exactly one corrected JSON object that matches the expected output. No prose.");
    s
}

/// The model's justifications as evidence entries (count 0: a claim, not an observation; the
/// guard's verdict is what is verified).
fn justifications_to_evidence(justifications: &[Value], manifests: usize) -> Vec<RuleEvidence> {
    let mut out = Vec::new();
    for j in justifications {
        let path = j.get("path").and_then(Value::as_str).unwrap_or("").to_string();
        let reason = j.get("reason").and_then(Value::as_str).unwrap_or("").to_string();
        let manifest = path
            .strip_prefix("manifests[")
            .and_then(|r| r.split(']').next())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < manifests.max(1))
            .unwrap_or(0);
        out.push(RuleEvidence {
            manifest,
            path,
            what: format!("model: {}", redact_text(&reason)),
            evidence: Evidence::default(),
        });
    }
    out
}

impl Engine for Arc<LlmEngine> {
    fn name(&self) -> String {
        LlmEngine::name(self)
    }

    fn propose(
        &self,
        snapshot: Arc<Snapshot>,
        target: Target,
        progress: ProgressSink,
        cancel: CancellationToken,
    ) -> BoxFuture<Result<Recommendation, EngineError>> {
        let me = Arc::clone(self);
        Box::pin(async move {
            let (rec, stats) = me.run(snapshot, target, progress, cancel).await?;
            if let Ok(mut s) = me.stats.lock() {
                s.push(stats);
            }
            Ok(rec)
        })
    }
}

impl LlmEngine {
    pub fn name(&self) -> String {
        format!("llm:{}", self.provider.model())
    }
}

/// Atomic units of a manifest set, for agreement reports: RBAC (group, resource, verb, name)
/// tuples, NetworkPolicy (direction, peer, port) tuples, and workload security leaf settings.
pub fn atomic_units(manifests: &[Value]) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    for m in manifests {
        let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
        match kind {
            "Role" | "ClusterRole" => {
                for r in m.get("rules").and_then(Value::as_array).into_iter().flatten() {
                    let verbs = strs(r.get("verbs"));
                    let groups = strs(r.get("apiGroups"));
                    let resources = strs(r.get("resources"));
                    let mut names = strs(r.get("resourceNames"));
                    if names.is_empty() {
                        names.push("*".into());
                    }
                    for v in &verbs {
                        for u in strs(r.get("nonResourceURLs")) {
                            out.insert(format!("{kind} {v} {u}"));
                        }
                        for g in &groups {
                            for res in &resources {
                                for n in &names {
                                    out.insert(format!("{kind} {v} {g}/{res} name={n}"));
                                }
                            }
                        }
                    }
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                let role = m.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("");
                for s in m.get("subjects").and_then(Value::as_array).into_iter().flatten() {
                    out.insert(format!("{kind} {role} -> {}", s));
                }
            }
            "NetworkPolicy" => {
                for (dir, peers_key) in [("ingress", "from"), ("egress", "to")] {
                    for rule in m.pointer(&format!("/spec/{dir}")).and_then(Value::as_array).into_iter().flatten() {
                        let peers: Vec<String> = rule
                            .get(peers_key)
                            .and_then(Value::as_array)
                            .map(|a| a.iter().map(Value::to_string).collect())
                            .unwrap_or_else(|| vec!["any".into()]);
                        let ports: Vec<String> = rule
                            .get("ports")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().map(Value::to_string).collect())
                            .unwrap_or_else(|| vec!["any".into()]);
                        for p in &peers {
                            for port in &ports {
                                out.insert(format!("{dir} {p} {port}"));
                            }
                        }
                    }
                }
            }
            _ => {
                if let Some(spec) = m.pointer("/spec/template/spec").or_else(|| m.get("spec")) {
                    leaf_settings(spec, "", &mut out);
                }
            }
        }
    }
    out
}

fn leaf_settings(v: &Value, path: &str, out: &mut std::collections::BTreeSet<String>) {
    const SECURITY: [&str; 6] =
        ["securityContext", "automountServiceAccountToken", "hostNetwork", "hostPID", "hostIPC", "resources"];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                leaf_settings(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                leaf_settings(x, path, out);
            }
        }
        other => {
            if SECURITY.iter().any(|s| path.contains(s)) {
                out.insert(format!("{path}={other}"));
            }
        }
    }
}

/// The LLM chain and the deterministic engine side by side: the output is the guarded LLM
/// answer, with findings listing where the two agree and differ.
pub struct HybridEngine {
    llm: Arc<LlmEngine>,
    deterministic: Arc<dyn Engine>,
}

impl HybridEngine {
    pub fn new(llm: Arc<LlmEngine>, deterministic: Arc<dyn Engine>) -> Self {
        HybridEngine { llm, deterministic }
    }
}

/// Compare two manifest sets by atomic units: (agreed, only in `a`, only in `b`).
pub fn agreement(a: &[Value], b: &[Value]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let ua = atomic_units(a);
    let ub = atomic_units(b);
    (
        ua.intersection(&ub).cloned().collect(),
        ua.difference(&ub).cloned().collect(),
        ub.difference(&ua).cloned().collect(),
    )
}

impl Engine for HybridEngine {
    fn name(&self) -> String {
        format!("hybrid:{}", self.llm.provider.model())
    }

    fn propose(
        &self,
        snapshot: Arc<Snapshot>,
        target: Target,
        progress: ProgressSink,
        cancel: CancellationToken,
    ) -> BoxFuture<Result<Recommendation, EngineError>> {
        let llm = Arc::clone(&self.llm);
        let det = Arc::clone(&self.deterministic);
        let name = self.name();
        Box::pin(async move {
            let det_rec =
                det.propose(Arc::clone(&snapshot), target.clone(), ProgressSink::discard(), cancel.clone()).await;
            let mut rec = Engine::propose(&llm, snapshot, target.clone(), progress.clone(), cancel).await?;
            rec.engine = name;
            match det_rec {
                Ok(d) => {
                    let (agreed, llm_only, det_only) = agreement(&rec.manifests, &d.manifests);
                    rec.findings.push(Finding {
                        rule_id: "KG-HYBRID-AGREEMENT".into(),
                        severity: Severity::Info,
                        subject: target.to_string(),
                        message: format!(
                            "model and deterministic engine agree on {} units; {} only in the model's answer, {} only in the deterministic one",
                            agreed.len(),
                            llm_only.len(),
                            det_only.len()
                        ),
                    });
                    for u in llm_only {
                        rec.findings.push(Finding {
                            rule_id: "KG-HYBRID-LLM-ONLY".into(),
                            severity: Severity::Low,
                            subject: target.to_string(),
                            message: u,
                        });
                    }
                    for u in det_only {
                        rec.findings.push(Finding {
                            rule_id: "KG-HYBRID-DETERMINISTIC-ONLY".into(),
                            severity: Severity::Low,
                            subject: target.to_string(),
                            message: u,
                        });
                    }
                }
                Err(e) => rec.findings.push(Finding {
                    rule_id: "KG-HYBRID-NO-BASELINE".into(),
                    severity: Severity::Info,
                    subject: target.to_string(),
                    message: format!("deterministic engine gave no answer to compare: {e}"),
                }),
            }
            Ok(rec)
        })
    }
}

/// Chain options from the config file and resolved paths.
pub fn options_from(
    config: &Config,
    settings: &ProviderSettings,
    paths: Option<&crate::config::Paths>,
) -> ChainOptions {
    ChainOptions {
        temperature: settings.temperature,
        top_p: 1.0,
        max_tokens: settings.max_tokens,
        seed: settings.seed,
        structured: settings.structured,
        retry: settings.retry,
        max_repairs: config.llm.max_repairs.unwrap_or(2),
        strip_unsupported: config.guard.strip_unsupported,
        cache_dir: if config.llm.cache.unwrap_or(true) { paths.map(|p| p.cache_dir.join("llm")) } else { None },
        transcripts_dir: paths.map(|p| p.data_dir.join("transcripts")),
        prompts_dir: paths.map(|p| p.prompts_dir.clone()),
    }
}

/// Pick the engine for `--engine`. `deterministic` is the engine to use without a model and the
/// baseline for hybrid. With `llm`/`hybrid` but no provider configured the deterministic engine
/// is returned with a notice saying so.
pub fn select_engine(
    choice: EngineChoice,
    args: &LlmArgs,
    config: &Config,
    paths: Option<&crate::config::Paths>,
    deterministic: Arc<dyn Engine>,
) -> Result<(Arc<dyn Engine>, Option<String>), EngineError> {
    if choice == EngineChoice::Deterministic {
        return Ok((deterministic, None));
    }
    let env = |k: &str| std::env::var(k).ok();
    let settings = match ProviderSettings::resolve(
        args.llm_base_url.as_deref(),
        args.llm_model.as_deref(),
        &config.llm,
        &env,
    ) {
        Ok(s) => s,
        Err(super::provider::SettingsError::NotConfigured) => {
            let notice = "no LLM configured ([llm] base_url/model in config.toml or --llm-base-url/--llm-model): using the deterministic engine".to_string();
            tracing::warn!("{notice}");
            return Ok((deterministic, Some(notice)));
        }
        Err(e) => return Err(EngineError::Provider(e.to_string())),
    };
    let options = options_from(config, &settings, paths);
    let provider: Arc<dyn LlmProvider> = Arc::new(super::provider::OpenAiProvider::new(&settings));
    let llm = Arc::new(LlmEngine::new(provider, options)?);
    match choice {
        EngineChoice::Hybrid => Ok((Arc::new(HybridEngine::new(llm, deterministic)), None)),
        _ => Ok((Arc::new(llm), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_answers_are_scoped_to_the_target_subject() {
        let me = crate::model::Subject::ServiceAccount { namespace: "shop".into(), name: "api".into() };
        let sa = |n: &str| json!({"kind": "ServiceAccount", "name": n, "namespace": "shop"});
        let proposal = vec![
            json!({"kind": "Role", "metadata": {"name": "mine", "namespace": "shop"}, "rules": []}),
            json!({"kind": "RoleBinding", "metadata": {"name": "mine", "namespace": "shop"}, "roleRef": {"kind": "Role", "name": "mine"}, "subjects": [sa("api"), sa("other")]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "theirs"}, "rules": [{"verbs": ["*"]}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "theirs"}, "roleRef": {"kind": "ClusterRole", "name": "theirs"}, "subjects": [sa("other")]}),
            json!({"kind": "Role", "metadata": {"name": "mine", "namespace": "elsewhere"}, "rules": []}),
        ];
        let (kept, dropped) = scope_rbac(&proposal, &me);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1]["subjects"], json!([sa("api")]));
        assert_eq!(dropped.len(), 4, "{dropped:?}");
    }

    #[test]
    fn workload_overlay_keeps_identity_and_merges_containers_by_name() {
        let base = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "namespace": "n"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}});
        let overlay = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "evil", "namespace": "n"},
            "spec": {"selector": {"matchLabels": {"app": "b"}}, "template": {"spec": {"automountServiceAccountToken": false,
              "containers": [{"name": "c", "securityContext": {"runAsNonRoot": true}}, {"name": "sidecar", "image": "evil"}]}}}});
        let m = overlay_workload(&base, &overlay);
        assert_eq!(m["metadata"]["name"], "a");
        assert_eq!(m["spec"]["selector"]["matchLabels"]["app"], "a");
        let cs = m["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0]["image"], "x:1");
        let swapped = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "evil", "command": ["sh"]}]}}}});
        assert_eq!(overlay_workload(&base, &swapped), base);
        assert_eq!(cs[0]["securityContext"]["runAsNonRoot"], true);
        assert_eq!(m["spec"]["template"]["spec"]["automountServiceAccountToken"], false);
        // A different kind is ignored.
        assert_eq!(overlay_workload(&base, &json!({"kind": "Pod", "spec": {"hostNetwork": true}})), base);
    }

    #[test]
    fn atomic_units_expand_rules() {
        let role = json!({"kind": "Role", "rules": [{"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list"]}]});
        assert_eq!(atomic_units(std::slice::from_ref(&role)).len(), 4);
        let narrower = json!({"kind": "Role", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
        let (agreed, a_only, b_only) = agreement(&[role], &[narrower]);
        assert_eq!(agreed, vec!["Role get /pods name=*".to_string()]);
        assert_eq!(a_only.len(), 3);
        assert!(b_only.is_empty());
    }
}
