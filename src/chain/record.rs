//! Transcripts and the response cache (the only file I/O of the chain engine).
//!
//! - Every model call (and every cache hit) is saved as a JSON transcript: prompt messages (already
//!   redacted), answer, token counts (server-reported and our own), latency, model, parameters,
//!   validation errors. Files go under `<data dir>/transcripts/<run id>/`; `export` bundles a
//!   run into one JSON file.
//! - Answers are cached by the SHA-256 of the canonical request (messages + model + sampling
//!   parameters + schema) under `<cache dir>/llm/`, so a rerun is reproducible and free.
//!
//! Writes are atomic (temp file + rename). Never stores API keys (they are not in requests).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::provider::{ChatMessage, ChatRequest, Completion, Usage};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub run_id: String,
    pub target: String,
    pub chain: String,
    pub step: String,
    pub step_index: usize,
    /// 1 = first try; higher = repair re-prompts.
    pub attempt: u32,
    pub template_source: String,
    pub model: String,
    pub temperature: f32,
    pub top_p: f32,
    pub max_tokens: u32,
    pub seed: Option<u64>,
    pub messages: Vec<ChatMessage>,
    pub answer: String,
    /// As reported by the server (None when it did not).
    pub usage: Usage,
    /// Our own count of the prompt (o200k_base).
    pub prompt_tokens_counted: u64,
    pub completion_tokens_counted: u64,
    /// Tokens of the raw observation records behind this call's context, and of the reduced
    /// context actually sent (0/0 for steps that carry no log context).
    pub context_tokens_raw: u64,
    pub context_tokens_reduced: u64,
    pub latency_ms: u64,
    pub provider_attempts: u32,
    pub cached: bool,
    pub cache_key: String,
    pub validation_errors: Vec<String>,
    pub at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    let err = |m: String| RecordError::Io { path: path.display().to_string(), message: m };
    let dir = path.parent().ok_or_else(|| err("no parent directory".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err(e.to_string()))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| err(e.to_string()))?;
    tmp.persist(path).map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Content hash of a request: the cache key.
pub fn cache_key(request: &ChatRequest) -> String {
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    model: String,
    answer: String,
    usage: Usage,
    latency_ms: u64,
}

/// Response cache on disk (`None` dir = disabled).
#[derive(Debug, Clone, Default)]
pub struct ResponseCache {
    dir: Option<PathBuf>,
}

impl ResponseCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        ResponseCache { dir }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(&key[..2.min(key.len())]).join(format!("{key}.json")))
    }

    pub fn get(&self, key: &str) -> Option<Completion> {
        let p = self.path(key)?;
        let bytes = std::fs::read(p).ok()?;
        let e: CacheEntry = serde_json::from_slice(&bytes).ok()?;
        Some(Completion { text: e.answer, usage: e.usage, latency_ms: e.latency_ms, attempts: 0 })
    }

    pub fn put(&self, key: &str, model: &str, completion: &Completion) -> Result<(), RecordError> {
        let Some(p) = self.path(key) else { return Ok(()) };
        let e = CacheEntry {
            model: model.to_string(),
            answer: completion.text.clone(),
            usage: completion.usage,
            latency_ms: completion.latency_ms,
        };
        write_atomic(&p, &serde_json::to_vec_pretty(&e).unwrap_or_default())
    }
}

/// Where transcripts of one run go (`None` dir = keep in memory only).
#[derive(Debug)]
pub struct TranscriptStore {
    dir: Option<PathBuf>,
    pub run_id: String,
    counter: std::sync::atomic::AtomicUsize,
    kept: std::sync::Mutex<Vec<Transcript>>,
}

impl TranscriptStore {
    /// `root` is `<data dir>/transcripts`; the run gets its own folder.
    pub fn new(root: Option<PathBuf>) -> Self {
        let now = time::OffsetDateTime::now_utc();
        let run_id = format!(
            "{}-{}",
            now.format(&time::macros::format_description!("[year][month][day]T[hour][minute][second]"))
                .unwrap_or_else(|_| "run".into()),
            std::process::id()
        );
        TranscriptStore {
            dir: root.map(|r| r.join(&run_id)),
            run_id,
            counter: std::sync::atomic::AtomicUsize::new(0),
            kept: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn run_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Save one transcript; returns the file written (if any).
    pub fn save(&self, t: &Transcript) -> Result<Option<PathBuf>, RecordError> {
        if let Ok(mut k) = self.kept.lock() {
            k.push(t.clone());
        }
        let Some(dir) = &self.dir else { return Ok(None) };
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let slug = crate::model::inventory::dns_label(&format!("{}-{}-{}", t.target, t.chain, t.step));
        let p = dir.join(format!("{n:04}-{slug}-a{}.json", t.attempt));
        write_atomic(&p, &serde_json::to_vec_pretty(t).unwrap_or_default())?;
        Ok(Some(p))
    }

    /// Transcripts saved by this store so far (in order).
    pub fn transcripts(&self) -> Vec<Transcript> {
        self.kept.lock().map(|k| k.clone()).unwrap_or_default()
    }
}

/// Bundle every transcript of a run folder into one JSON array file (sorted by file name).
pub fn export(run_dir: &Path, out: &Path) -> Result<usize, RecordError> {
    let err = |m: String| RecordError::Io { path: run_dir.display().to_string(), message: m };
    let mut files: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .map_err(|e| err(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| err(e.to_string()))?;
        let t: Transcript = serde_json::from_slice(&bytes).map_err(|e| err(format!("{}: {e}", f.display())))?;
        all.push(t);
    }
    write_atomic(out, &serde_json::to_vec_pretty(&all).unwrap_or_default())?;
    Ok(all.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::provider::StructuredOutput;

    fn req(content: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::user(content)],
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: 5,
            seed: None,
            schema: None,
            structured: StructuredOutput::None,
        }
    }

    #[test]
    fn cache_key_depends_on_every_parameter() {
        let a = req("x");
        let mut b = a.clone();
        assert_eq!(cache_key(&a), cache_key(&b));
        b.temperature = 0.5;
        assert_ne!(cache_key(&a), cache_key(&b));
        let mut c = a.clone();
        c.model = "other".into();
        assert_ne!(cache_key(&a), cache_key(&c));
        assert_ne!(cache_key(&a), cache_key(&req("y")));
    }

    #[test]
    fn cache_round_trips_and_disabled_cache_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResponseCache::new(Some(dir.path().to_path_buf()));
        let key = cache_key(&req("x"));
        assert!(cache.get(&key).is_none());
        let c = Completion { text: "{}".into(), usage: Usage::default(), latency_ms: 7, attempts: 1 };
        cache.put(&key, "m", &c).unwrap();
        let got = cache.get(&key).unwrap();
        assert_eq!(got.text, "{}");
        assert_eq!(got.attempts, 0);
        assert!(ResponseCache::new(None).get(&key).is_none());
    }
}
