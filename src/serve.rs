//! Long-lived receivers. `kubeguard serve --audit-webhook ADDR` is an HTTPS endpoint for the
//! API server's audit webhook backend (`--audit-webhook-config-file`): it accepts `EventList`
//! batches (`audit.k8s.io/v1`, also a single `Event`), appends every event as one JSON line to a
//! rotating log under `--out` (`audit.jsonl`, rotated to `audit-<n>.jsonl` past a size limit,
//! oldest removed beyond a file count), and optionally forwards each batch to a channel so a
//! running profile can fold it in.
//!
//! It never keeps request or response bodies: `requestObject` and `responseObject` are dropped
//! before anything is written (they may hold Secret data), and nothing of an event is logged.
//! TLS uses a certificate generated at start (rcgen, written to `<out>/webhook-cert.pem` so the
//! API server can trust it) unless `--tls-cert`/`--tls-key` are given.
//!
//! Client authentication (either or both): `--client-ca FILE` requires a client certificate
//! signed by that CA (mTLS; a client without one fails the TLS handshake), `--token-file FILE`
//! requires `Authorization: Bearer <token>` (compared in constant time; 401 otherwise). The API
//! server's webhook kubeconfig supplies both (`client-certificate`/`client-key`, `token`).
//! Without either, any client that can connect may post events: bind to loopback then.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_util::sync::CancellationToken;

/// Largest accepted request body (the apiserver's default batch is far smaller).
pub const MAX_BODY_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(String),
}

/// Receiver settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub addr: String,
    /// Folder for `audit.jsonl` and its rotations.
    pub out: PathBuf,
    /// PEM certificate chain and key; `None` → self-signed for localhost/127.0.0.1/::1 and the bind IP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Rotate `audit.jsonl` once it exceeds this many bytes.
    pub max_file_bytes: u64,
    /// Keep at most this many rotated files (oldest deleted).
    pub max_files: usize,
    /// PEM CA bundle: clients must present a certificate it signed (mTLS).
    pub client_ca: Option<PathBuf>,
    /// Clients must send `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
}

impl WebhookConfig {
    pub fn new(addr: impl Into<String>, out: impl Into<PathBuf>) -> WebhookConfig {
        WebhookConfig {
            addr: addr.into(),
            out: out.into(),
            tls: None,
            max_file_bytes: 100 << 20,
            max_files: 10,
            client_ca: None,
            bearer_token: None,
        }
    }
}

/// Counters of a receiver run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookStats {
    pub batches: u64,
    pub events: u64,
    pub rejected: u64,
    pub rotations: u64,
}

/// A bound receiver: its address and the certificate clients must trust.
pub struct Webhook {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    pub local_addr: SocketAddr,
    /// PEM of the serving certificate (also written to `<out>/webhook-cert.pem` when generated).
    pub cert_pem: String,
    sink: Arc<Mutex<Sink>>,
    forward: Option<mpsc::Sender<Vec<serde_json::Value>>>,
    token: Option<Arc<str>>,
}

impl Webhook {
    /// Bind the listener and prepare TLS and the log folder.
    pub async fn bind(config: &WebhookConfig) -> Result<Webhook, ServeError> {
        std::fs::create_dir_all(&config.out).map_err(|source| io_err(&config.out, source))?;
        let listener = TcpListener::bind(&config.addr)
            .await
            .map_err(|source| ServeError::Bind { addr: config.addr.clone(), source })?;
        let local_addr =
            listener.local_addr().map_err(|source| ServeError::Bind { addr: config.addr.clone(), source })?;
        let (certs, key, cert_pem) = match &config.tls {
            Some((cert, key)) => {
                let cert_pem = std::fs::read_to_string(cert).map_err(|source| io_err(cert, source))?;
                let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ServeError::Tls(format!("{}: {e}", cert.display())))?;
                let key_der = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| ServeError::Tls(format!("{}: {e}", key.display())))?;
                (certs, key_der, cert_pem)
            }
            None => {
                let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
                let ip = local_addr.ip().to_string();
                if !names.contains(&ip) && !local_addr.ip().is_unspecified() {
                    names.push(ip);
                }
                let ck = rcgen::generate_simple_self_signed(names).map_err(|e| ServeError::Tls(e.to_string()))?;
                let cert_pem = ck.cert.pem();
                let path = config.out.join("webhook-cert.pem");
                write_atomic(&path, cert_pem.as_bytes())?;
                let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der())
                    .map_err(|e| ServeError::Tls(e.to_string()))?;
                (vec![ck.cert.der().clone()], key, cert_pem)
            }
        };
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::Tls(e.to_string()))?;
        let builder = match &config.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let pem = std::fs::read(ca).map_err(|source| io_err(ca, source))?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
                    roots.add(cert).map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
                }
                if roots.is_empty() {
                    return Err(ServeError::Tls(format!("{}: no CA certificate in it", ca.display())));
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let tls = builder.with_single_cert(certs, key).map_err(|e| ServeError::Tls(e.to_string()))?;
        let token = match config.bearer_token.as_deref().map(str::trim) {
            Some("") => return Err(ServeError::Tls("the bearer token is empty".into())),
            Some(t) => Some(Arc::from(t)),
            None => None,
        };
        let sink = Sink::open(config)?;
        Ok(Webhook {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            local_addr,
            cert_pem,
            sink: Arc::new(Mutex::new(sink)),
            forward: None,
            token,
        })
    }

    /// Also send every accepted batch (bodies already dropped) to `tx`, e.g. to fold into a live profile.
    pub fn forward_to(&mut self, tx: mpsc::Sender<Vec<serde_json::Value>>) {
        self.forward = Some(tx);
    }

    /// Serve until `shutdown` is cancelled; returns the counters.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<WebhookStats, ServeError> {
        let stats = Arc::new(Mutex::new(WebhookStats::default()));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let (tcp, _) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(_) => continue,
                },
            };
            let acceptor = self.acceptor.clone();
            let sink = self.sink.clone();
            let stats = stats.clone();
            let forward = self.forward.clone();
            let token = self.token.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                // Without a client certificate signed by --client-ca the handshake fails here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    stats.lock().await.rejected += 1;
                    return;
                };
                let service =
                    service_fn(move |req| handle(req, sink.clone(), stats.clone(), forward.clone(), token.clone()));
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = shutdown.cancelled() => conn.as_mut().graceful_shutdown(),
                }
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        self.sink.lock().await.flush()?;
        let s = stats.lock().await.clone();
        Ok(s)
    }
}

async fn handle(
    req: Request<Incoming>,
    sink: Arc<Mutex<Sink>>,
    stats: Arc<Mutex<WebhookStats>>,
    forward: Option<mpsc::Sender<Vec<serde_json::Value>>>,
    token: Option<Arc<str>>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let reply = |code: StatusCode, text: &str| {
        let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
        *r.status_mut() = code;
        Ok(r)
    };
    if let Some(expected) = token {
        let given = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if !bearer_matches(given, &expected) {
            stats.lock().await.rejected += 1;
            let mut r = Response::new(Full::new(Bytes::from_static(b"a valid bearer token is required\n")));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Bearer"));
            return Ok(r);
        }
    }
    if req.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "POST audit EventLists here\n");
    }
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            stats.lock().await.rejected += 1;
            return reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large or interrupted\n");
        }
    };
    let events = match parse_batch(&body) {
        Ok(e) => e,
        Err(message) => {
            stats.lock().await.rejected += 1;
            return reply(StatusCode::BAD_REQUEST, &format!("{message}\n"));
        }
    };
    let written = sink.lock().await.append(&events);
    match written {
        Ok(rotated) => {
            let mut s = stats.lock().await;
            s.batches += 1;
            s.events += events.len() as u64;
            s.rotations += rotated;
        }
        Err(e) => {
            tracing::error!("audit webhook: cannot write: {e}");
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "cannot store events\n");
        }
    }
    if let Some(tx) = forward {
        let _ = tx.send(events).await;
    }
    reply(StatusCode::OK, "{}")
}

/// Whether an `Authorization` header value carries `expected` as its bearer token (constant-time
/// comparison of the token bytes).
pub fn bearer_matches(header: Option<&str>, expected: &str) -> bool {
    let Some(given) = header.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    }) else {
        return false;
    };
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Parse one webhook body: an `EventList` (items), a bare `Event`, or a JSON array of events.
/// Request and response bodies are removed from every event.
pub fn parse_batch(body: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let mut items = match v {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut o) => match o.get("kind").and_then(|k| k.as_str()) {
            Some("EventList") => match o.remove("items") {
                Some(serde_json::Value::Array(items)) => items,
                Some(serde_json::Value::Null) | None => Vec::new(),
                Some(_) => return Err("EventList.items is not a list".into()),
            },
            Some("Event") => vec![serde_json::Value::Object(o)],
            other => return Err(format!("expected kind EventList or Event, got {other:?}")),
        },
        _ => return Err("expected an EventList object".into()),
    };
    for item in &mut items {
        let Some(o) = item.as_object_mut() else { return Err("an item is not an object".into()) };
        o.remove("requestObject");
        o.remove("responseObject");
    }
    Ok(items)
}

/// The rotating JSONL writer.
struct Sink {
    dir: PathBuf,
    file: File,
    size: u64,
    max_file_bytes: u64,
    max_files: usize,
}

impl Sink {
    fn open(config: &WebhookConfig) -> Result<Sink, ServeError> {
        let path = config.out.join("audit.jsonl");
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(|s| io_err(&path, s))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Sink {
            dir: config.out.clone(),
            file,
            size,
            max_file_bytes: config.max_file_bytes.max(1),
            max_files: config.max_files.max(1),
        })
    }

    /// Append events, one line each; returns how many rotations happened.
    fn append(&mut self, events: &[serde_json::Value]) -> Result<u64, ServeError> {
        let mut buf = Vec::new();
        for e in events {
            // Serialising a Value cannot fail.
            let _ = serde_json::to_writer(&mut buf, e);
            buf.push(b'\n');
        }
        let mut rotations = 0;
        if self.size > 0 && self.size + buf.len() as u64 > self.max_file_bytes {
            self.rotate()?;
            rotations += 1;
        }
        let path = self.dir.join("audit.jsonl");
        self.file.write_all(&buf).map_err(|s| io_err(&path, s))?;
        self.size += buf.len() as u64;
        Ok(rotations)
    }

    fn flush(&mut self) -> Result<(), ServeError> {
        let path = self.dir.join("audit.jsonl");
        self.file.sync_data().map_err(|s| io_err(&path, s))
    }

    /// `audit.jsonl` → `audit-1.jsonl`, `audit-1` → `audit-2`, …; beyond `max_files` deleted.
    fn rotate(&mut self) -> Result<(), ServeError> {
        self.flush()?;
        let rotated = |n: usize| self.dir.join(format!("audit-{n}.jsonl"));
        let oldest = rotated(self.max_files);
        if oldest.exists() {
            std::fs::remove_file(&oldest).map_err(|s| io_err(&oldest, s))?;
        }
        for n in (1..self.max_files).rev() {
            let from = rotated(n);
            if from.exists() {
                std::fs::rename(&from, rotated(n + 1)).map_err(|s| io_err(&from, s))?;
            }
        }
        let current = self.dir.join("audit.jsonl");
        std::fs::rename(&current, rotated(1)).map_err(|s| io_err(&current, s))?;
        self.file = OpenOptions::new().create(true).append(true).open(&current).map_err(|s| io_err(&current, s))?;
        self.size = 0;
        Ok(())
    }
}

fn io_err(path: &Path, source: std::io::Error) -> ServeError {
    ServeError::Io { path: path.display().to_string(), source }
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ServeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|s| io_err(path, s))?;
    tmp.write_all(data).map_err(|s| io_err(path, s))?;
    tmp.persist(path).map_err(|e| io_err(path, e.error))?;
    Ok(())
}

/// `kubeguard serve`: run the receivers named on the command line until Ctrl-C.
pub fn run(args: &crate::cli::args::ServeArgs) -> anyhow::Result<i32> {
    let Some(addr) = args.audit_webhook.clone() else {
        anyhow::bail!("nothing to serve: pass --audit-webhook ADDR");
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("kubeguard-audit"));
    let mut config = WebhookConfig::new(addr, out);
    config.tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    config.client_ca = args.client_ca.clone();
    if let Some(f) = &args.token_file {
        let token = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        config.bearer_token = Some(token.trim().to_string());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let hook = Webhook::bind(&config).await?;
        let auth = match (&config.client_ca, &config.bearer_token) {
            (Some(_), Some(_)) => "client certificate and bearer token required",
            (Some(_), None) => "client certificate required",
            (None, Some(_)) => "bearer token required",
            (None, None) => "no client authentication",
        };
        eprintln!(
            "audit webhook listening on https://{} ({auth}) → {}/audit.jsonl{}",
            hook.local_addr,
            config.out.display(),
            if config.tls.is_none() {
                format!(" (self-signed certificate: {}/webhook-cert.pem)", config.out.display())
            } else {
                String::new()
            }
        );
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        });
        let stats = hook.serve(shutdown).await?;
        eprintln!(
            "audit webhook stopped: {} batches, {} events, {} rejected, {} rotations",
            stats.batches, stats.events, stats.rejected, stats.rotations
        );
        Ok(crate::cli::exit::OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_event_lists_and_drops_bodies() {
        let body = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[
            {"kind":"Event","auditID":"a","verb":"get","requestObject":{"data":{"k":"c2VjcmV0"}},"responseObject":{}},
            {"kind":"Event","auditID":"b","verb":"list"}]}"#;
        let events = parse_batch(body).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events[0].get("requestObject").is_none() && events[0].get("responseObject").is_none());
        assert_eq!(events[1]["auditID"], "b");
        assert!(parse_batch(b"{\"kind\":\"Pod\"}").is_err());
        assert!(parse_batch(b"not json").is_err());
        assert_eq!(parse_batch(br#"{"kind":"EventList","items":null}"#).unwrap().len(), 0);
    }

    #[test]
    fn bearer_tokens_match_exactly() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(Some("bearer  s3cret "), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cretX"), "s3cret"));
        assert!(!bearer_matches(Some("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(Some("s3cret"), "s3cret"));
        assert!(!bearer_matches(None, "s3cret"));
    }

    #[test]
    fn rotates_and_keeps_at_most_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = WebhookConfig::new("127.0.0.1:0", dir.path());
        config.max_file_bytes = 100;
        config.max_files = 2;
        let mut sink = Sink::open(&config).unwrap();
        let ev = serde_json::json!({"auditID": "x".repeat(60)});
        let mut rotations = 0;
        for _ in 0..5 {
            rotations += sink.append(std::slice::from_ref(&ev)).unwrap();
        }
        assert_eq!(rotations, 4);
        assert!(dir.path().join("audit-1.jsonl").exists());
        assert!(dir.path().join("audit-2.jsonl").exists());
        assert!(!dir.path().join("audit-3.jsonl").exists());
        let current = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        assert_eq!(current.lines().count(), 1);
    }
}
