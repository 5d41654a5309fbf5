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
