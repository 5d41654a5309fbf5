//! A scripted `LlmProvider` for tests and offline demos: it replays recorded answers as
//! streamed chunks with optional delays, injects errors (rate limits with `Retry-After`,
//! transient failures, broken streams) and records every request it receives. A responder
//! closure can compute answers from the request (adversarial scripts).
//!
//! Must not touch the network or the file system.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::provider::{ChatRequest, ChatStream, LlmProvider, ProviderError, StreamItem, Usage};

/// One scripted reaction to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Scripted {
    /// Stream this text in chunks of `chunk` characters, waiting `delay` before each chunk.
    Answer { text: String, chunk: usize, delay: Duration },
    /// Fail before streaming.
    Fail(ProviderError),
    /// Stream `partial`, then break the stream with the error.
    BreakAfter { partial: String, error: ProviderError },
}

impl Scripted {
    pub fn answer(text: impl Into<String>) -> Scripted {
        Scripted::Answer { text: text.into(), chunk: 7, delay: Duration::ZERO }
    }
    pub fn slow(text: impl Into<String>, delay: Duration) -> Scripted {
        Scripted::Answer { text: text.into(), chunk: 7, delay }
    }
}

type Responder = dyn Fn(&ChatRequest) -> Scripted + Send + Sync;

/// Replays `script` in order; when it runs out, asks `responder` (or fails permanently).
#[derive(Clone)]
pub struct ScriptedProvider {
    model: String,
    script: Arc<Mutex<VecDeque<Scripted>>>,
    responder: Option<Arc<Responder>>,
    requests: Arc<Mutex<Vec<ChatRequest>>>,
}

impl ScriptedProvider {
    pub fn new(model: &str, script: Vec<Scripted>) -> ScriptedProvider {
        ScriptedProvider {
            model: model.to_string(),
            script: Arc::new(Mutex::new(script.into())),
            responder: None,
            requests: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Answers computed from each request (after any scripted entries are used up).
    pub fn with_responder(mut self, f: impl Fn(&ChatRequest) -> Scripted + Send + Sync + 'static) -> Self {
        self.responder = Some(Arc::new(f));
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn next(&self, request: &ChatRequest) -> Scripted {
        if let Ok(mut r) = self.requests.lock() {
            r.push(request.clone());
        }
        let scripted = self.script.lock().ok().and_then(|mut s| s.pop_front());
        match (scripted, &self.responder) {
            (Some(s), _) => s,
            (None, Some(f)) => f(request),
            (None, None) => Scripted::Fail(ProviderError::Permanent("script exhausted".into())),
        }
    }
}

fn chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size.max(1)).map(|c| c.iter().collect()).collect()
}

impl LlmProvider for ScriptedProvider {
    fn model(&self) -> String {
        self.model.clone()
    }

    fn stream_chat(&self, request: ChatRequest) -> crate::engine::BoxFuture<Result<ChatStream, ProviderError>> {
        let next = self.next(&request);
        let prompt_chars: usize = request.messages.iter().map(|m| m.content.len()).sum();
        Box::pin(async move {
            match next {
                Scripted::Fail(e) => Err(e),
                Scripted::Answer { text, chunk, delay } => {
                    let completion = u64::try_from(text.len() / 4 + 1).unwrap_or(u64::MAX);
                    let usage = Usage {
                        prompt_tokens: Some(u64::try_from(prompt_chars / 4).unwrap_or(u64::MAX)),
                        completion_tokens: Some(completion),
                    };
                    let pieces = chunks(&text, chunk);
                    let s =
                        futures::stream::unfold((pieces.into_iter(), Some(usage)), move |(mut it, usage)| async move {
                            match it.next() {
                                Some(p) => {
                                    if !delay.is_zero() {
                                        tokio::time::sleep(delay).await;
                                    }
                                    Some((Ok(StreamItem::Text(p)), (it, usage)))
                                }
                                None => usage.map(|u| (Ok(StreamItem::Usage(u)), (it, None))),
                            }
                        });
                    Ok(Box::pin(s) as ChatStream)
                }
                Scripted::BreakAfter { partial, error } => {
                    let items = vec![Ok(StreamItem::Text(partial)), Err(error)];
                    Ok(Box::pin(futures::stream::iter(items)) as ChatStream)
                }
            }
        })
    }
}
