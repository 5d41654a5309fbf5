//! The LLM prompt-chain engine (the KubeGuard method) made safe: chains are data (`prompts/`),
//! every answer is validated (schema + Kubernetes types) with a bounded repair loop, and the
//! result always goes through the guard, which is the trust boundary — a model can never widen
//! access beyond the evidence and the original manifest.
//!
//! Layout: `provider` (LlmProvider trait + async-openai client, retries), `fake` (scripted
//! provider for tests), `prompts` (chains file + templates), `context` (what a chain sees:
//! redacted manifests, key → value-set aggregated logs, structured profile), `output`
//! (extraction and validation), `redact`, `record` (transcripts + cache), `tokens`, `engine`
//! (`LlmEngine`, `HybridEngine`, selection).
//!
//! Must not grant anything itself, and must never send unredacted data to a provider.

pub mod context;
pub mod engine;
pub mod fake;
pub mod output;
pub mod prompts;
pub mod provider;
pub mod record;
pub mod redact;
pub mod tokens;

pub use engine::{ChainOptions, GuardFn, HybridEngine, LlmEngine, select_engine};
pub use provider::{LlmProvider, OpenAiProvider, ProviderSettings};
