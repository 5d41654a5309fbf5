//! The one interface every engine implements (deterministic `synth`, LLM `chain`, hybrid):
//! given a snapshot and a target, produce a guarded `Recommendation` while streaming
//! `ProgressEvent`s, and stop promptly when cancelled. Faces (TUI, CLI) only talk to this.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::model::{ProgressEvent, Recommendation, Target};
use crate::snapshot::Snapshot;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cancelled")]
    Cancelled,
    #[error("target not applicable: {0}")]
    NotApplicable(String),
    #[error("no evidence for {0}")]
    NoEvidence(String),
    #[error("model provider error: {0}")]
    Provider(String),
    #[error("invalid model output after {attempts} attempts: {message}")]
    InvalidOutput { attempts: usize, message: String },
    #[error("{0}")]
    Other(String),
}

/// Where engines send progress. Sending never fails the engine: a dropped receiver (face went
/// away) just means nobody is listening.
#[derive(Debug, Clone)]
pub struct ProgressSink(Option<mpsc::UnboundedSender<ProgressEvent>>);

impl ProgressSink {
    pub fn new(tx: mpsc::UnboundedSender<ProgressEvent>) -> Self {
        ProgressSink(Some(tx))
    }

    /// A sink that discards everything (headless runs that do not care).
    pub fn discard() -> Self {
        ProgressSink(None)
    }

    pub fn send(&self, event: ProgressEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}

pub trait Engine: Send + Sync {
    /// Stable engine label (`deterministic`, `llm:<model>`, `hybrid:<model>`).
    fn name(&self) -> String;

    /// Produce the recommendation for `target`. Must check `cancel` between steps and return
    /// `EngineError::Cancelled` when it fires.
    fn propose(
        &self,
        snapshot: Arc<Snapshot>,
        target: Target,
        progress: ProgressSink,
        cancel: CancellationToken,
    ) -> BoxFuture<Result<Recommendation, EngineError>>;
}

/// Pick the engine for a run. `Deterministic` is always available; `llm`/`hybrid` build the
/// prompt-chain engine from flags/config (`chain::select_engine`). With no provider configured
/// they fall back to the deterministic engine: use `select_with_notice` to tell the user.
pub fn select(
    choice: crate::cli::args::EngineChoice,
    llm: &crate::cli::args::LlmArgs,
    config: &crate::config::Config,
) -> Result<Arc<dyn Engine>, EngineError> {
    select_with_notice(choice, llm, config).map(|(engine, _)| engine)
}

/// `select`, plus a notice for the user when the requested engine is not available and the
/// deterministic engine is used instead.
pub fn select_with_notice(
    choice: crate::cli::args::EngineChoice,
    llm: &crate::cli::args::LlmArgs,
    config: &crate::config::Config,
) -> Result<(Arc<dyn Engine>, Option<String>), EngineError> {
    let paths = crate::config::Paths::resolve().ok();
    crate::chain::select_engine(
        choice,
        llm,
        config,
        paths.as_ref(),
        Arc::new(crate::synth::DeterministicEngine::from_config(config)),
    )
}

/// Whether an LLM provider is configured (flags/env first, then config.toml): base URL and model.
pub fn llm_configured(llm: &crate::cli::args::LlmArgs, config: &crate::config::Config) -> Option<(String, String)> {
    let base = llm.llm_base_url.clone().or_else(|| config.llm.base_url.clone())?;
    let model = llm.llm_model.clone().or_else(|| config.llm.model.clone())?;
    Some((base, model))
}
