//! The LLM chain engine driven by the scripted fake provider: step runner, streaming, retries
//! (Retry-After, broken streams), the repair loop, cancellation, the safe fallback, the guard
//! hand-off (the engine returns exactly what the guard returns, and fails closed without a
//! guard), redaction before prompts, transcripts and the response cache.

#[path = "llm/support.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubeguard::chain::engine::{ChainOptions, GuardFn, LlmEngine};
use kubeguard::chain::fake::{Scripted, ScriptedProvider};
use kubeguard::chain::provider::{ProviderError, RetryPolicy};
use kubeguard::engine::{Engine, EngineError};
use kubeguard::guard::GuardOutcome;
use kubeguard::model::*;
use serde_json::{Value, json};
use support::*;
use tokio_util::sync::CancellationToken;

fn analysis() -> String {
    json!({"analysis": [{"key": "rules[0].verbs", "finding": "delete is never used", "concern": true}], "summary": "over-broad"}).to_string()
}

fn role_answer() -> String {
    json!({"manifests": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "kubeguard-sa-shop-api", "namespace": "shop"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "kubeguard-sa-shop-api", "namespace": "shop"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeguard-sa-shop-api"},
         "subjects": [{"kind": "ServiceAccount", "name": "api", "namespace": "shop"}]}],
        "justifications": [{"path": "manifests[0].rules[0]", "reason": "get pods observed 12 times"}]})
    .to_string()
}

type Calls = Arc<Mutex<Vec<(Vec<Value>, Vec<Value>, bool)>>>;

/// Records what it is given; removes every ClusterRoleBinding and reports each removal.
fn recording_guard() -> (GuardFn, Calls) {
    let calls: Calls = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&calls);
    let guard: GuardFn = Arc::new(move |_s, _t, proposal: &[Value], original: &[Value], repair| {
        c.lock().unwrap().push((proposal.to_vec(), original.to_vec(), repair));
        let mut verdict = GuardVerdict::default();
        let mut manifests = Vec::new();
        for m in proposal {
            if repair && m["kind"] == "ClusterRoleBinding" {
                verdict.repairs.push(format!("removed ClusterRoleBinding {}", m["metadata"]["name"]));
            } else {
                manifests.push(m.clone());
            }
        }
        Ok(GuardOutcome { manifests, verdict })
    });
    (guard, calls)
}

fn options() -> ChainOptions {
    ChainOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            timeout: Duration::from_secs(5),
            ..RetryPolicy::default()
        },
        ..ChainOptions::default()
    }
}

fn make(provider: &ScriptedProvider, options: ChainOptions) -> (Arc<LlmEngine>, Calls) {
    let (guard, calls) = recording_guard();
    let e = LlmEngine::new(Arc::new(provider.clone()), options).unwrap().with_guard(guard);
    (Arc::new(e), calls)
}

#[tokio::test]
async fn chain_streams_validates_and_hands_the_answer_to_the_guard() {
    let provider = ScriptedProvider::new(
        "fake",
        vec![Scripted::answer(analysis()), Scripted::answer(analysis()), Scripted::answer(role_answer())],
    );
    let (engine, calls) = make(&provider, options());
    let (sink, mut rx) = sink();
    let t = target(Task::Refine, ResourceKind::Role);
    let rec = engine.propose(arc(snapshot()), t.clone(), sink, CancellationToken::new()).await.unwrap();
    let events = drain(&mut rx);

    // Plan: three model steps + the guard.
    assert!(
        matches!(&events[0], ProgressEvent::Plan { steps, .. } if steps == &["analyse-manifest", "analyse-logs", "refine", "guard"])
    );
    let sources: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Prompt { template_source, .. } => Some(template_source),
            _ => None,
        })
        .collect();
    assert_eq!(
        sources,
        [
            "embedded:prompts/role-analyse-manifest.j2",
            "embedded:prompts/role-analyse-logs.j2",
            "embedded:prompts/role-refine.j2"
        ]
    );
    // Streamed chunks reassemble the answer of the last step.
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Chunk { index: 2, text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, role_answer());
    assert!(events.iter().filter(|e| matches!(e, ProgressEvent::Chunk { index: 2, .. })).count() > 10);
    assert_eq!(events.iter().filter(|e| matches!(e, ProgressEvent::Tokens { .. })).count(), 3);
    assert_eq!(events.iter().filter(|e| matches!(e, ProgressEvent::Step { status: StepStatus::Done, .. })).count(), 4);

    // The refine prompt carries the current Role and the earlier analyses.
    let reqs = provider.requests();
    assert_eq!(reqs.len(), 3);
    let last = &reqs[2].messages[1].content;
    assert!(last.contains("<current>") && last.contains("api-broad"), "{last}");
    assert!(last.contains("delete is never used"));
    assert!(reqs[2].schema.is_some());

    // The guard got the model's manifests, the original, and repair = true; the engine returned its output.
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    let (proposal, original, repair) = &calls[0];
    assert_eq!(proposal.len(), 2);
    assert!(original.iter().any(|o| o["metadata"]["name"] == "api-broad"));
    assert!(*repair);
    assert_eq!(&rec.manifests, proposal);
    assert_eq!(rec.engine, "llm:fake");
    assert_eq!(rec.original, *original);
    assert_eq!(rec.evidence.len(), 1);
    assert!(rec.evidence[0].what.contains("get pods observed"));

    let stats = engine.stats();
    assert_eq!(stats[0].calls, 3);
    assert_eq!(stats[0].repairs, 0);
    assert!(!stats[0].fallback);
    assert_eq!(engine.transcripts().len(), 3);
}

#[tokio::test]
async fn invalid_answers_are_fed_back_and_repaired() {
    let provider = ScriptedProvider::new(
        "fake",
        vec![
            Scripted::answer("Sure! ```json\n{\"analysis\": [ {\"key\": \"x\"\n```"),
            Scripted::answer(format!("```json\n{}\n```", analysis())),
            Scripted::answer(analysis()),
            // Wrong apiVersion and a string where a list belongs: schema/Kubernetes errors.
            Scripted::answer(
                role_answer().replace("rbac.authorization.k8s.io/v1\",\"kind\":\"Role\"", "v1\",\"kind\":\"Role\""),
            ),
            Scripted::answer(role_answer()),
        ],
    );
    let (engine, calls) = make(&provider, options());
    let (sink, mut rx) = sink();
    let rec = engine
        .propose(arc(snapshot()), target(Task::Create, ResourceKind::Role), sink, CancellationToken::new())
        .await
        .unwrap();
    let reqs = provider.requests();
    assert_eq!(reqs.len(), 5);
    // The repair request replays the bad answer and lists the problem.
    let repair = &reqs[1].messages;
    assert_eq!(repair.len(), 4);
    assert_eq!(repair[2].role, "assistant");
    assert!(repair[3].content.contains("invalid JSON"), "{}", repair[3].content);
    let k8s_repair = &reqs[4].messages[3].content;
    assert!(k8s_repair.contains("apiVersion of Role must be rbac.authorization.k8s.io/v1"), "{k8s_repair}");
    assert_eq!(engine.stats()[0].repairs, 2);
    assert_eq!(calls.lock().unwrap()[0].0.len(), 2);
    assert_eq!(rec.manifests.len(), 2);
    let notes = drain(&mut rx)
        .into_iter()
        .filter(|e| matches!(e, ProgressEvent::Note { text, .. } if text.starts_with("invalid answer")))
        .count();
    assert_eq!(notes, 2);
    let t = engine.transcripts();
    assert_eq!(t.iter().filter(|t| !t.validation_errors.is_empty()).count(), 2);
    assert_eq!(t[1].attempt, 2);
}

#[tokio::test]
async fn rate_limits_and_broken_streams_are_retried_with_backoff() {
    let provider = ScriptedProvider::new(
        "fake",
        vec![
            Scripted::Fail(ProviderError::RateLimited { retry_after: Some(Duration::from_millis(120)) }),
            Scripted::BreakAfter {
                partial: "{\"analy".into(),
                error: ProviderError::Transient("connection reset".into()),
            },
            Scripted::answer(analysis()),
            Scripted::answer(analysis()),
            Scripted::answer(role_answer()),
        ],
    );
    let (engine, _) = make(&provider, options());
    let (sink, mut rx) = sink();
    let started = std::time::Instant::now();
    engine
        .propose(arc(snapshot()), target(Task::Create, ResourceKind::Role), sink, CancellationToken::new())
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(120), "Retry-After was not honoured");
    let notes: Vec<String> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            ProgressEvent::Note { text, .. } if text.contains("retry") => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("rate limited") && notes[0].contains("0.1s"), "{notes:?}");
    assert!(notes[1].contains("connection reset"));
    let t = engine.transcripts();
    assert_eq!(t[0].provider_attempts, 3);
    // The partial text of the broken attempt is not part of the answer.
    assert_eq!(t[0].answer, analysis());
}

#[tokio::test]
async fn permanent_errors_and_exhausted_retries_fail_the_step() {
    let provider =
        ScriptedProvider::new("fake", vec![Scripted::Fail(ProviderError::Permanent("401 invalid api key".into()))]);
    let (engine, calls) = make(&provider, options());
    let (sink, mut rx) = sink();
    let err = engine
        .propose(arc(snapshot()), target(Task::Create, ResourceKind::Role), sink, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(&err, EngineError::Provider(m) if m.contains("401")), "{err}");
    assert!(
        drain(&mut rx).iter().any(|e| matches!(e, ProgressEvent::Step { index: 0, status: StepStatus::Failed(_), .. }))
    );
    assert!(calls.lock().unwrap().is_empty());

    let always = ScriptedProvider::new("fake", vec![])
        .with_responder(|_| Scripted::Fail(ProviderError::Transient("503".into())));
    let (engine, _) = make(&always, options());
    let err = engine
        .propose(
            arc(snapshot()),
            target(Task::Create, ResourceKind::Role),
            kubeguard::engine::ProgressSink::discard(),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Provider(_)));
    assert_eq!(always.requests().len(), 3, "bounded: max_attempts = 3");
}

#[tokio::test]
async fn cancellation_stops_a_streaming_step_promptly() {
    let provider = ScriptedProvider::new("fake", vec![Scripted::slow(analysis(), Duration::from_millis(200))]);
    let (engine, calls) = make(&provider, options());
    let (sink, mut rx) = sink();
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    // Cancel as soon as the first chunk has streamed.
    let watcher = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            let chunk = matches!(e, ProgressEvent::Chunk { .. });
            events.push(e);
            if chunk && !c2.is_cancelled() {
                c2.cancel();
                return (events, std::time::Instant::now(), rx);
            }
        }
        (events, std::time::Instant::now(), rx)
    });
    let err =
        engine.propose(arc(snapshot()), target(Task::Create, ResourceKind::Role), sink, cancel).await.unwrap_err();
    let finished = std::time::Instant::now();
    let (mut events, cancelled_at, mut rx) = watcher.await.unwrap();
    events.extend(drain(&mut rx));
    assert!(matches!(err, EngineError::Cancelled));
    // The whole answer needs ~17 chunks x 200 ms; cancellation must not wait for it.
    assert!(finished.duration_since(cancelled_at) < Duration::from_millis(500));
    assert_eq!(events.iter().filter(|e| matches!(e, ProgressEvent::Chunk { .. })).count(), 1);
    assert!(events.iter().any(|e| matches!(e, ProgressEvent::Step { status: StepStatus::Cancelled, .. })));
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn garbage_forever_falls_back_to_the_safest_valid_answer() {
    let garbage =
        ScriptedProvider::new("fake", vec![]).with_responder(|_| Scripted::answer("I am a tiny model. kind: Role?"));
    let (engine, calls) = make(&garbage, options());
    let refine = engine
        .propose(
            arc(snapshot()),
            target(Task::Refine, ResourceKind::Role),
            kubeguard::engine::ProgressSink::discard(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    // 3 steps x (1 + 2 repairs).
    assert_eq!(garbage.requests().len(), 9);
    assert!(refine.findings.iter().any(|f| f.rule_id == "KG-LLM-FALLBACK"));
    assert_eq!(refine.findings.iter().filter(|f| f.rule_id == "KG-LLM-INVALID-OUTPUT").count(), 3);
    // Refine falls back to the current objects (which the guard then tightens).
    assert!(calls.lock().unwrap()[0].0.iter().any(|m| m["metadata"]["name"] == "api-broad"));

    let create = engine
        .propose(
            arc(snapshot()),
            target(Task::Create, ResourceKind::NetworkPolicy),
            kubeguard::engine::ProgressSink::discard(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(create.manifests.is_empty());
    assert!(calls.lock().unwrap()[1].0.is_empty());
    assert!(engine.stats().iter().all(|s| s.fallback && s.invalid_steps == 3));
}

#[tokio::test]
async fn guard_removals_are_reported_and_missing_guards_fail_closed() {
    let mut wide: Value = serde_json::from_str(&role_answer()).unwrap();
    wide["manifests"].as_array_mut().unwrap().push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "pwn"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "api", "namespace": "shop"}]}));
    let provider = ScriptedProvider::new(
        "fake",
        vec![Scripted::answer(analysis()), Scripted::answer(analysis()), Scripted::answer(wide.to_string())],
    );
    let (engine, _) = make(&provider, options());
    let (sink, mut rx) = sink();
    let rec = engine
        .propose(arc(snapshot()), target(Task::Create, ResourceKind::Role), sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(rec.manifests.len(), 2);
    assert_eq!(rec.verdict.repairs, vec!["removed ClusterRoleBinding \"pwn\"".to_string()]);
    assert!(drain(&mut rx).iter().any(|e| matches!(e, ProgressEvent::Note { index: 3, text, .. } if text.contains("guard: removed ClusterRoleBinding"))));
    assert_eq!(engine.stats()[0].guard_repairs, 1);

    let provider = ScriptedProvider::new(
        "fake",
        vec![Scripted::answer(analysis()), Scripted::answer(analysis()), Scripted::answer(role_answer())],
    );
    let no_guard: GuardFn = Arc::new(|_, _, _, _, _| Err("no guard".into()));
    let e = Arc::new(LlmEngine::new(Arc::new(provider), options()).unwrap().with_guard(no_guard));
    let err = e
        .propose(
            arc(snapshot()),
            target(Task::Create, ResourceKind::Role),
            kubeguard::engine::ProgressSink::discard(),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no guard"));
}

#[tokio::test]
async fn secrets_never_reach_the_provider_transcripts_or_cache() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ChainOptions {
        cache_dir: Some(dir.path().join("cache")),
        transcripts_dir: Some(dir.path().join("transcripts")),
        ..options()
    };
    for (task, kind) in [
        (Task::Refine, ResourceKind::Role),
        (Task::Refine, ResourceKind::NetworkPolicy),
        (Task::Refine, ResourceKind::Deployment),
    ] {
        let provider = ScriptedProvider::new("fake", vec![]).with_responder(|_| Scripted::answer("{}"));
        let (engine, _) = make(&provider, opts.clone());
        engine
            .propose(
                arc(snapshot()),
                target(task, kind),
                kubeguard::engine::ProgressSink::discard(),
                CancellationToken::new(),
            )
            .await
            .unwrap();
        let all: String =
            provider.requests().iter().flat_map(|r| r.messages.iter().map(|m| m.content.clone())).collect();
        assert!(!all.is_empty());
        assert!(!all.contains(SECRET_ENV), "{kind}: env value leaked");
        assert!(!all.contains("abcdefghijklmnop0123"), "{kind}: bearer token leaked");
        assert!(all.contains("UNTRUSTED DATA"));
    }
    let mut files = Vec::new();
    for entry in walk(dir.path()) {
        files.push(std::fs::read_to_string(&entry).unwrap());
    }
    assert!(files.len() > 9);
    assert!(files.iter().all(|f| !f.contains(SECRET_ENV) && !f.contains("abcdefghijklmnop0123")));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test]
async fn reruns_come_from_the_cache_and_are_identical() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ChainOptions {
        cache_dir: Some(dir.path().join("cache")),
        transcripts_dir: Some(dir.path().join("t")),
        ..options()
    };
    let first = ScriptedProvider::new(
        "fake",
        vec![Scripted::answer(analysis()), Scripted::answer(analysis()), Scripted::answer(role_answer())],
    );
    let (e1, _) = make(&first, opts.clone());
    let r1 = e1
        .propose(
            arc(snapshot()),
            target(Task::Create, ResourceKind::Role),
            kubeguard::engine::ProgressSink::discard(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    let second = ScriptedProvider::new("fake", vec![]);
    let (e2, _) = make(&second, opts.clone());
    let r2 = e2
        .propose(
            arc(snapshot()),
            target(Task::Create, ResourceKind::Role),
            kubeguard::engine::ProgressSink::discard(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(second.requests().is_empty(), "a rerun must not call the model");
    assert_eq!(r1, r2);
    assert_eq!(e2.stats()[0].cache_hits, 3);
    assert!(e2.transcripts().iter().all(|t| t.cached));
    // A different model is a different cache key.
    let other = ScriptedProvider::new(
        "other",
        vec![Scripted::answer(analysis()), Scripted::answer(analysis()), Scripted::answer(role_answer())],
    );
    let (e3, _) = make(&other, opts);
    e3.propose(
        arc(snapshot()),
        target(Task::Create, ResourceKind::Role),
        kubeguard::engine::ProgressSink::discard(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(other.requests().len(), 3);
    // Export bundles the run's transcripts.
    let run = e1.transcript_dir().unwrap();
    let out = dir.path().join("export.json");
    assert_eq!(kubeguard::chain::record::export(&run, &out).unwrap(), 3);
    let v: Vec<Value> = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    assert_eq!(v[2]["step"], "generate");
    assert!(v[1]["context_tokens_reduced"].as_u64().unwrap() > 0);
    assert!(v[1]["context_tokens_raw"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn user_prompt_overrides_are_used_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("role-analyse-logs.j2"), "CUSTOM logs for {{ who }}:\n{{ aggregated_logs }}")
        .unwrap();
    let provider = ScriptedProvider::new(
        "fake",
        vec![Scripted::answer(analysis()), Scripted::answer(analysis()), Scripted::answer(role_answer())],
    );
    let (engine, _) = make(&provider, ChainOptions { prompts_dir: Some(dir.path().to_path_buf()), ..options() });
    let (sink, mut rx) = sink();
    engine
        .propose(arc(snapshot()), target(Task::Create, ResourceKind::Role), sink, CancellationToken::new())
        .await
        .unwrap();
    assert!(provider.requests()[1].messages[1].content.starts_with("CUSTOM logs for ServiceAccount shop/api"));
    let src = drain(&mut rx)
        .into_iter()
        .find_map(|e| match e {
            ProgressEvent::Prompt { index: 1, template_source, .. } => Some(template_source),
            _ => None,
        })
        .unwrap();
    assert_eq!(src, dir.path().join("role-analyse-logs.j2").display().to_string());
}

/// A baseline engine with a fixed answer (stands in for the deterministic engine).
struct Fixed(Vec<Value>);

impl Engine for Fixed {
    fn name(&self) -> String {
        "deterministic".into()
    }
    fn propose(
        &self,
        _snapshot: Arc<kubeguard::snapshot::Snapshot>,
        target: Target,
        _progress: kubeguard::engine::ProgressSink,
        _cancel: CancellationToken,
    ) -> kubeguard::engine::BoxFuture<Result<Recommendation, EngineError>> {
        let manifests = self.0.clone();
        Box::pin(async move {
            Ok(Recommendation {
                target,
                engine: "deterministic".into(),
                manifests,
                original: vec![],
                evidence: vec![],
                findings: vec![],
                removed: vec![],
                verdict: GuardVerdict::default(),
            })
        })
    }
}

#[tokio::test]
async fn hybrid_reports_agreement_and_differences_and_outputs_the_guarded_model_answer() {
    let provider = ScriptedProvider::new(
        "fake",
        vec![Scripted::answer(analysis()), Scripted::answer(analysis()), Scripted::answer(role_answer())],
    );
    let (llm, _) = make(&provider, options());
    let baseline = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "d", "namespace": "shop"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]});
    let hybrid = kubeguard::chain::HybridEngine::new(llm, Arc::new(Fixed(vec![baseline])));
    assert_eq!(hybrid.name(), "hybrid:fake");
    let rec = hybrid
        .propose(
            arc(snapshot()),
            target(Task::Create, ResourceKind::Role),
            kubeguard::engine::ProgressSink::discard(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(rec.engine, "hybrid:fake");
    let model: Value = serde_json::from_str(&role_answer()).unwrap();
    assert_eq!(rec.manifests, model["manifests"].as_array().unwrap().clone());
    let summary = rec.findings.iter().find(|f| f.rule_id == "KG-HYBRID-AGREEMENT").unwrap();
    assert!(summary.message.contains("agree on 1 units"), "{}", summary.message);
    let det_only: Vec<&str> = rec
        .findings
        .iter()
        .filter(|f| f.rule_id == "KG-HYBRID-DETERMINISTIC-ONLY")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(det_only, ["Role list /pods name=*"]);
    // The binding exists only in the model's answer.
    assert!(rec.findings.iter().any(|f| f.rule_id == "KG-HYBRID-LLM-ONLY" && f.message.starts_with("RoleBinding")));
}
