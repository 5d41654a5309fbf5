//! A real model end to end: starts llama.cpp's OpenAI-compatible server (xllamacpp's embedded
//! llama.cpp server, `tests/llm/serve.py`) with SmolLM2-135M-Instruct on a free loopback port, runs all six chains on the demo
//! snapshot through the async-openai provider, and asserts that whatever the tiny model says,
//! every final answer is valid Kubernetes, has passed the guard (a second guard pass changes
//! nothing) and never grants more than the evidence plus the original — also with the
//! prompt-injection corpus planted in the demo. Prints per chain: steps, calls, tokens,
//! seconds, repair-loop and guard interventions.
//!
//! Prerequisites come from `tests/llm/setup.sh` (called here when missing). Without them the
//! test fails under `CI=true` and skips with a reason elsewhere.

#[path = "llm/support.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubeguard::chain::engine::{ChainOptions, ChainStats, LlmEngine};
use kubeguard::chain::output::kubernetes_errors;
use kubeguard::chain::provider::{OpenAiProvider, ProviderSettings, RetryPolicy, StructuredOutput};
use kubeguard::config::LlmConfig;
use kubeguard::engine::{Engine, ProgressSink};
use kubeguard::model::*;
use kubeguard::snapshot::Snapshot;
use tokio_util::sync::CancellationToken;

fn cache_root() -> PathBuf {
    match std::env::var_os("KUBEGUARD_TEST_CACHE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kubeguard-tests"),
    }
    .join("llm")
}

fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    let dir = cache_root();
    let python = dir.join("venv/bin/python");
    let gguf = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let ready = || {
        python.exists()
            && gguf.exists()
            && Command::new(&python).args(["-c", "import xllamacpp"]).output().is_ok_and(|o| o.status.success())
    };
    if !ready() {
        let setup = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/llm/setup.sh");
        let status = Command::new("bash").arg(&setup).status();
        eprintln!("ran {}: {status:?}", setup.display());
    }
    if ready() {
        return Some((python, gguf));
    }
    let msg = "xllamacpp (llama.cpp server) or the SmolLM2 GGUF is missing (tests/llm/setup.sh failed)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

/// The server process; killed (by its own pid) when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200")
}

fn start_server(python: &PathBuf, gguf: &PathBuf) -> Server {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::env::temp_dir().join(format!("kubeguard-llama-{port}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let serve = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/llm/serve.py");
    let child = Command::new(python)
        .arg(serve)
        .arg(gguf)
        .args(["127.0.0.1", &port.to_string()])
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("start tests/llm/serve.py");
    let mut server = Server { child, port, log };
    let started = Instant::now();
    while !http_get_ok(port, "/v1/models") {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "llama_cpp.server exited with {status}: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
        }
        assert!(started.elapsed() < Duration::from_secs(300), "server not ready after 300 s");
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("llama.cpp server ready on port {} after {:.1}s", server.port, started.elapsed().as_secs_f32());
    server
}

fn engine(port: u16, cache: Option<PathBuf>) -> Arc<LlmEngine> {
    let config = LlmConfig {
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        model: Some("SmolLM2-135M-Instruct".into()),
        ..LlmConfig::default()
    };
    let settings = ProviderSettings::resolve(None, None, &config, &|_| None).unwrap();
    let provider = Arc::new(OpenAiProvider::new(&settings));
    let options = ChainOptions {
        max_tokens: 256,
        max_repairs: 1,
        structured: StructuredOutput::JsonObject,
        retry: RetryPolicy { timeout: Duration::from_secs(900), ..RetryPolicy::default() },
        cache_dir: cache,
        ..ChainOptions::default()
    };
    Arc::new(LlmEngine::new(provider, options).unwrap())
}

/// Run one chain and check the final answer; returns its stats.
async fn run_and_check(engine: &Arc<LlmEngine>, snap: &Arc<Snapshot>, t: &Target) -> ChainStats {
    let before = engine.stats().len();
    let result = engine.propose(Arc::clone(snap), t.clone(), ProgressSink::discard(), CancellationToken::new()).await;
    let rec = result.unwrap_or_else(|e| panic!("{t}: {e}"));
    // Valid Kubernetes objects (for a deployment: the hardened object; the second entry is the patch).
    let full: &[serde_json::Value] =
        if t.kind == ResourceKind::Deployment { &rec.manifests[..rec.manifests.len().min(1)] } else { &rec.manifests };
    for m in full {
        let errs = kubernetes_errors(m);
        assert!(errs.is_empty(), "{t}: final manifest invalid: {errs:?}\n{m:#}");
    }
    // It passed the guard: a second guard pass has nothing left to repair.
    let guard = kubeguard::chain::engine::kubernetes_guard();
    let again = guard(snap, t, &rec.manifests, &rec.original, true).unwrap();
    assert!(again.verdict.repairs.is_empty(), "{t}: guard output not stable: {:?}", again.verdict.repairs);
    if let TargetScope::Subject(subject) = &t.scope {
        let problems = support::rbac_widening(&rec.manifests, snap, subject, &rec.original);
        assert!(problems.is_empty(), "{t}: widens access: {problems:?}");
    }
    let stats = engine.stats();
    assert_eq!(stats.len(), before + 1);
    stats.last().cloned().unwrap()
}

fn print_row(t: &Target, s: &ChainStats) {
    println!(
        "| {}-{} | {} | {} | {} | {}/{} | {:.1} | {} | {} | {} | {} |",
        t.task,
        t.kind,
        s.steps,
        s.calls,
        s.cache_hits,
        s.prompt_tokens,
        s.completion_tokens,
        s.seconds,
        s.repairs,
        s.invalid_steps,
        if s.fallback { "yes" } else { "no" },
        s.guard_repairs
    );
}

#[test]
fn six_chains_through_a_real_model_stay_valid_and_guarded() {
    let Some((python, gguf)) = prerequisites() else { return };
    let server = start_server(&python, &gguf);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let demo = support::demo();
    let targets = support::demo_targets(&demo);
    let snap = Arc::new(demo);
    let cache = tempfile::tempdir().unwrap();
    let engine = engine(server.port, Some(cache.path().to_path_buf()));
    println!(
        "| chain | steps | calls | cache hits | tokens (prompt/completion) | seconds | repairs | invalid steps | fallback | guard removals |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for t in &targets {
        let s = rt.block_on(run_and_check(&engine, &snap, t));
        assert!(s.calls >= 3, "{t}: every step called the model");
        print_row(t, &s);
    }
    // Every call went to the real model; identical requests across chains (the same
    // analysis prompt in create and refine) are served from the content-hash cache, which is
    // the product's behaviour, so only fresh answers must carry a measured latency.
    let transcripts = engine.transcripts();
    assert!(transcripts.iter().all(|tr| tr.model == "SmolLM2-135M-Instruct"));
    assert!(transcripts.iter().filter(|tr| !tr.cached).all(|tr| tr.latency_ms > 0));
    assert!(
        transcripts.iter().filter(|tr| !tr.cached).count() >= targets.len(),
        "the model answered at least once per chain"
    );

    // A rerun of the first chain comes from the cache: no model call, same answer.
    let rerun = self::engine(server.port, Some(cache.path().to_path_buf()));
    let s = rt.block_on(run_and_check(&rerun, &snap, &targets[0]));
    assert_eq!(s.calls, s.cache_hits, "rerun must be free");
    print_row(&targets[0], &s);

    // The injection corpus planted everywhere: the real model's answer never widens access.
    let injected = Arc::new(support::inject_everywhere(support::demo()));
    for t in targets.iter().filter(|t| t.kind == ResourceKind::Role) {
        let s = rt.block_on(run_and_check(&engine, &injected, t));
        print!("injected ");
        print_row(t, &s);
    }
    drop(server);
}
