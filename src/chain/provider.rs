//! The model provider seam: a small `LlmProvider` trait (stream one chat completion, report
//! tokens and latency) and its async-openai implementation for any OpenAI-compatible endpoint
//! (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp server). Also the bounded retry policy with
//! backoff that honours `Retry-After`.
//!
//! Must not know about chains, templates or Kubernetes; must never log or serialise the API key.

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::LlmConfig;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage { role: "system".into(), content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage { role: "user".into(), content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage { role: "assistant".into(), content: content.into() }
    }
}

/// How the server is asked to constrain the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    /// `response_format: {type: json_schema, json_schema: {...}}` (OpenAI, Ollama ≥ 0.5, vLLM).
    #[default]
    JsonSchema,
    /// `response_format: {type: json_object, schema: ...}` (llama.cpp / llama-cpp-python).
    JsonObject,
    /// No response_format at all; rely on the prompt and validation.
    None,
}

/// One chat completion request. Everything that influences the answer is here, so its hash is
/// the cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: f32,
    pub top_p: f32,
    pub max_tokens: u32,
    pub seed: Option<u64>,
    /// JSON Schema of the expected answer, when the step declares one.
    pub schema: Option<serde_json::Value>,
    pub structured: StructuredOutput,
}

/// Token counts as the server reported them (`None` when it did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// One streamed piece of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Text(String),
    Usage(Usage),
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamItem, ProviderError>> + Send>>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429 / overloaded: retry after the given delay (server's `Retry-After` when known).
    #[error("rate limited{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs_f32())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// Connection failures, 5xx, broken streams: worth retrying.
    #[error("transient provider error: {0}")]
    Transient(String),
    /// The call took longer than the configured timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Bad request, auth failure, unknown model, quota exhausted: retrying will not help.
    #[error("provider error: {0}")]
    Permanent(String),
    #[error("cancelled")]
    Cancelled,
}

impl ProviderError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::RateLimited { .. } | ProviderError::Transient(_) | ProviderError::Timeout(_))
    }
}

/// What a chain needs from a model backend.
pub trait LlmProvider: Send + Sync {
    /// Model label for transcripts and the cache key.
    fn model(&self) -> String;
    /// Start streaming one completion.
    fn stream_chat(&self, request: ChatRequest) -> crate::engine::BoxFuture<Result<ChatStream, ProviderError>>;
}

/// A finished call: the full text plus accounting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub usage: Usage,
    pub latency_ms: u64,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
}

/// Bounded retry with exponential backoff (capped), honouring the server's `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Per-call timeout (whole streamed answer).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (1-based) after `error`.
    pub fn delay(&self, retry: u32, error: &ProviderError) -> Duration {
        if let ProviderError::RateLimited { retry_after: Some(d) } = error {
            return (*d).min(self.max_delay);
        }
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Run one call to completion: stream chunks to `on_chunk`, retry transient failures (a retry
/// restarts the answer: `on_restart` is called so listeners can drop partial text), stop on
/// `cancel`.
pub async fn complete(
    provider: &dyn LlmProvider,
    request: &ChatRequest,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    on_chunk: &mut (dyn FnMut(&str) + Send),
    on_retry: &mut (dyn FnMut(u32, &ProviderError, Duration) + Send),
) -> Result<Completion, ProviderError> {
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = tokio::select! {
            _ = cancel.cancelled() => return Err(ProviderError::Cancelled),
            r = tokio::time::timeout(policy.timeout, one_attempt(provider, request, cancel, on_chunk)) => {
                match r {
                    Ok(inner) => inner,
                    Err(_) => Err(ProviderError::Timeout(policy.timeout)),
                }
            }
        };
        match result {
            Ok((text, usage)) => {
                return Ok(Completion {
                    text,
                    usage,
                    latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    attempts: attempt,
                });
            }
            Err(e) if e.is_retryable() && attempt < policy.max_attempts.max(1) => {
                let delay = policy.delay(attempt, &e);
                on_retry(attempt, &e, delay);
                tokio::select! {
                    _ = cancel.cancelled() => return Err(ProviderError::Cancelled),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

async fn one_attempt(
    provider: &dyn LlmProvider,
    request: &ChatRequest,
    cancel: &CancellationToken,
    on_chunk: &mut (dyn FnMut(&str) + Send),
) -> Result<(String, Usage), ProviderError> {
    let mut stream = provider.stream_chat(request.clone()).await?;
    let mut text = String::new();
    let mut usage = Usage::default();
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => return Err(ProviderError::Cancelled),
            item = stream.next() => item,
        };
        match item {
            None => break,
            Some(Ok(StreamItem::Text(t))) => {
                on_chunk(&t);
                text.push_str(&t);
            }
            Some(Ok(StreamItem::Usage(u))) => usage = u,
            Some(Err(e)) => return Err(e),
        }
    }
    Ok((text, usage))
}

/// Resolved provider settings (flags over config). The key is resolved from the environment
/// variable named in the config and kept out of `Debug`.
#[derive(Clone)]
pub struct ProviderSettings {
    pub base_url: String,
    pub model: String,
    api_key: Option<String>,
    pub azure_api_version: Option<String>,
    pub structured: StructuredOutput,
    pub retry: RetryPolicy,
    pub temperature: f32,
    pub max_tokens: u32,
    pub seed: Option<u64>,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("azure_api_version", &self.azure_api_version)
            .field("structured", &self.structured)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("no LLM configured (set [llm] base_url and model in config.toml, or --llm-base-url and --llm-model)")]
    NotConfigured,
    #[error("LLM base URL is set but no model (--llm-model or [llm] model)")]
    MissingModel,
    #[error("LLM base URL {0:?} is not an http(s) URL")]
    BadUrl(String),
    #[error("environment variable {0} named by [llm] api_key_env is not set")]
    MissingKey(String),
}

impl ProviderSettings {
    /// Flags win over the config file. `env` looks up environment variables (injectable for tests).
    pub fn resolve(
        base_url: Option<&str>,
        model: Option<&str>,
        config: &LlmConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProviderSettings, SettingsError> {
        let base_url = base_url.map(str::to_string).or_else(|| config.base_url.clone());
        let model = model.map(str::to_string).or_else(|| config.model.clone());
        let base_url = match base_url {
            Some(u) if !u.trim().is_empty() => u.trim().trim_end_matches('/').to_string(),
            _ => return Err(SettingsError::NotConfigured),
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(SettingsError::BadUrl(base_url));
        }
        let model = match model {
            Some(m) if !m.trim().is_empty() => m.trim().to_string(),
            _ => return Err(SettingsError::MissingModel),
        };
        let api_key = match &config.api_key_env {
            Some(var) => match env(var) {
                Some(k) if !k.is_empty() => Some(k),
                _ => return Err(SettingsError::MissingKey(var.clone())),
            },
            None => env("OPENAI_API_KEY").filter(|k| !k.is_empty()),
        };
        let retry = RetryPolicy {
            max_attempts: config.max_retries.unwrap_or(2).saturating_add(1),
            timeout: Duration::from_secs(config.timeout_secs.unwrap_or(300).max(1)),
            ..RetryPolicy::default()
        };
        Ok(ProviderSettings {
            base_url,
            model,
            api_key,
            azure_api_version: config.azure_api_version.clone(),
            structured: config.structured_output.unwrap_or_default(),
            retry,
            temperature: config.temperature.unwrap_or(0.0),
            max_tokens: config.max_tokens.unwrap_or(2048),
            seed: config.seed.or(Some(0)),
        })
    }

    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }
}

/// async-openai client for OpenAI-compatible endpoints (and Azure with an api version).
pub struct OpenAiProvider {
    client: std::sync::Arc<async_openai::Client<Box<dyn async_openai::config::Config>>>,
    model: String,
}

impl OpenAiProvider {
    pub fn new(settings: &ProviderSettings) -> OpenAiProvider {
        // Secret-bearing config lives only inside the client; nothing here is logged.
        let key = settings.api_key.clone().unwrap_or_default();
        let config: Box<dyn async_openai::config::Config> = match &settings.azure_api_version {
            Some(version) => Box::new(
                async_openai::config::AzureConfig::new()
                    .with_api_base(settings.base_url.clone())
                    .with_api_version(version.clone())
                    .with_deployment_id(settings.model.clone())
                    .with_api_key(key),
            ),
            None => Box::new(
                async_openai::config::OpenAIConfig::new().with_api_base(settings.base_url.clone()).with_api_key(key),
            ),
        };
        // reqwest is built without a crypto provider (stack.md §1.3): make sure one is installed
        // even when the library is used outside the binary (tests, embedding). Idempotent.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        // Connect timeout here; the whole-answer timeout is enforced by `complete`.
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().unwrap_or_default();
        OpenAiProvider {
            client: std::sync::Arc::new(async_openai::Client::build(http, config)),
            model: settings.model.clone(),
        }
    }
}

/// The JSON body of a streaming chat request (byot: we own the wire format, so servers with
/// non-standard fields still work).
pub fn request_body(request: &ChatRequest) -> serde_json::Value {
    let mut body = serde_json::json!({
        "model": request.model,
        "messages": request.messages,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(seed) = request.seed {
        body["seed"] = serde_json::json!(seed);
    }
    if let Some(schema) = &request.schema {
        match request.structured {
            StructuredOutput::JsonSchema => {
                body["response_format"] = serde_json::json!({
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": schema, "strict": false},
                });
            }
            StructuredOutput::JsonObject => {
                body["response_format"] = serde_json::json!({"type": "json_object", "schema": schema});
            }
            StructuredOutput::None => {}
        }
    }
    body
}

fn map_openai_error(e: async_openai::error::OpenAIError) -> ProviderError {
    use async_openai::error::OpenAIError as E;
    match e {
        E::ApiError(resp) => {
            let code = resp.status_code.as_u16();
            if code == 429 && resp.api_error.r#type.as_deref() != Some("insufficient_quota") {
                // async-openai's retry layer has already waited out Retry-After for these.
                ProviderError::RateLimited { retry_after: None }
            } else if resp.status_code.is_server_error() {
                ProviderError::Transient(resp.to_string())
            } else {
                ProviderError::Permanent(resp.to_string())
            }
        }
        E::Reqwest(err) => {
            if err.is_timeout() || err.is_connect() || err.is_request() || err.is_body() {
                ProviderError::Transient(err.to_string())
            } else {
                ProviderError::Permanent(err.to_string())
            }
        }
        E::StreamError(s) => ProviderError::Transient(s.to_string()),
        E::JSONDeserialize(err, _) => ProviderError::Transient(format!("malformed stream event: {err}")),
        other => ProviderError::Permanent(other.to_string()),
    }
}

/// Pull text and usage out of one `chat.completion.chunk` (tolerant of missing fields).
pub fn parse_chunk(chunk: &serde_json::Value) -> Vec<StreamItem> {
    let mut out = Vec::new();
    if let Some(choices) = chunk.get("choices").and_then(|c| c.as_array()) {
        for choice in choices {
            if let Some(t) = choice.pointer("/delta/content").and_then(|c| c.as_str())
                && !t.is_empty()
            {
                out.push(StreamItem::Text(t.to_string()));
            }
        }
    }
    if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
        out.push(StreamItem::Usage(Usage {
            prompt_tokens: u.get("prompt_tokens").and_then(|v| v.as_u64()),
            completion_tokens: u.get("completion_tokens").and_then(|v| v.as_u64()),
        }));
    }
    out
}

impl LlmProvider for OpenAiProvider {
    fn model(&self) -> String {
        self.model.clone()
    }

    fn stream_chat(&self, request: ChatRequest) -> crate::engine::BoxFuture<Result<ChatStream, ProviderError>> {
        let client = self.client.clone();
        Box::pin(async move {
            let body = request_body(&request);
            let stream = client
                .chat()
                .create_stream_byot::<serde_json::Value, serde_json::Value>(body)
                .await
                .map_err(map_openai_error)?;
            let mapped = stream.flat_map(|item| {
                let items: Vec<Result<StreamItem, ProviderError>> = match item {
                    Ok(chunk) => parse_chunk(&chunk).into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(map_openai_error(e))],
                };
                futures::stream::iter(items)
            });
            Ok(Box::pin(mapped) as ChatStream)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_config_and_key_is_never_printed() {
        let config = LlmConfig {
            base_url: Some("http://config:1/v1".into()),
            model: Some("cfg-model".into()),
            api_key_env: Some("MY_KEY".into()),
            ..LlmConfig::default()
        };
        let env = |name: &str| (name == "MY_KEY").then(|| "sk-very-secret".to_string());
        let s = ProviderSettings::resolve(Some("http://flag:2/v1/"), None, &config, &env).unwrap();
        assert_eq!(s.base_url, "http://flag:2/v1");
        assert_eq!(s.model, "cfg-model");
        assert!(s.has_api_key());
        assert!(!format!("{s:?}").contains("sk-very-secret"));
    }

    #[test]
    fn unconfigured_and_misconfigured_are_reported() {
        let none = |_: &str| None;
        assert_eq!(
            ProviderSettings::resolve(None, None, &LlmConfig::default(), &none).unwrap_err(),
            SettingsError::NotConfigured
        );
        assert_eq!(
            ProviderSettings::resolve(Some("http://x/v1"), None, &LlmConfig::default(), &none).unwrap_err(),
            SettingsError::MissingModel
        );
        assert!(matches!(
            ProviderSettings::resolve(Some("ftp://x"), Some("m"), &LlmConfig::default(), &none).unwrap_err(),
            SettingsError::BadUrl(_)
        ));
        let config = LlmConfig { api_key_env: Some("ABSENT".into()), ..LlmConfig::default() };
        assert_eq!(
            ProviderSettings::resolve(Some("http://x/v1"), Some("m"), &config, &none).unwrap_err(),
            SettingsError::MissingKey("ABSENT".into())
        );
    }

    #[test]
    fn retry_delay_honours_retry_after_and_caps_backoff() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            ..Default::default()
        };
        assert_eq!(p.delay(1, &ProviderError::Transient("x".into())), Duration::from_millis(100));
        assert_eq!(p.delay(3, &ProviderError::Transient("x".into())), Duration::from_millis(400));
        assert_eq!(p.delay(10, &ProviderError::Transient("x".into())), Duration::from_secs(2));
        let rl = ProviderError::RateLimited { retry_after: Some(Duration::from_millis(1500)) };
        assert_eq!(p.delay(1, &rl), Duration::from_millis(1500));
    }

    #[test]
    fn chunks_parse_text_and_usage() {
        let c = serde_json::json!({"choices":[{"delta":{"content":"he"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}});
        assert_eq!(
            parse_chunk(&c),
            vec![
                StreamItem::Text("he".into()),
                StreamItem::Usage(Usage { prompt_tokens: Some(3), completion_tokens: Some(1) })
            ]
        );
        assert!(parse_chunk(&serde_json::json!({"choices":[{"delta":{}}],"usage":null})).is_empty());
    }

    #[test]
    fn request_body_carries_schema_per_mode() {
        let mut r = ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage::user("hi")],
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: 10,
            seed: Some(1),
            schema: Some(serde_json::json!({"type":"object"})),
            structured: StructuredOutput::JsonSchema,
        };
        assert_eq!(request_body(&r)["response_format"]["type"], "json_schema");
        r.structured = StructuredOutput::JsonObject;
        assert_eq!(request_body(&r)["response_format"]["schema"]["type"], "object");
        r.structured = StructuredOutput::None;
        assert!(request_body(&r).get("response_format").is_none());
    }
}
