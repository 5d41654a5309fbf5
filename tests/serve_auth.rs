//! Client authentication of the audit webhook receiver (`kubeguard serve --audit-webhook`):
//! `--client-ca` (mTLS) and `--token-file` (bearer), accept and reject paths, over real TLS
//! connections on loopback. Certificates are generated per run (rcgen).

use std::sync::Arc;

use kubeguard::serve::{Webhook, WebhookConfig, WebhookStats};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rcgen::{Issuer, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_util::sync::CancellationToken;

const BATCH: &str = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[
  {"kind":"Event","auditID":"1","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/namespaces/a/pods",
   "user":{"username":"system:serviceaccount:a:b"},"responseStatus":{"code":200}}]}"#;

fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    p.distinguished_name.push(DnType::CommonName, "webhook-client-ca");
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

type ClientCert = (CertificateDer<'static>, PrivateKeyDer<'static>);

fn client_cert(ca: &Issuer<'_, KeyPair>) -> ClientCert {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, ca).unwrap();
    (cert.der().clone(), PrivateKeyDer::try_from(key.serialize_der()).unwrap())
}

/// POST `body` (the default: one batch); `Ok(status)` or `Err` when the TLS connection was refused.
async fn post(
    addr: std::net::SocketAddr,
    server_pem: &str,
    client: Option<&ClientCert>,
    token: Option<&str>,
) -> Result<u16, String> {
    post_body(addr, server_pem, client, token, BATCH).await
}

async fn post_body(
    addr: std::net::SocketAddr,
    server_pem: &str,
    client: Option<&ClientCert>,
    token: Option<&str>,
    body: &str,
) -> Result<u16, String> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(server_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert.clone()], key.clone_key()).unwrap(),
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "POST /audit HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // With TLS 1.3 a refused client certificate surfaces on the first read or write.
    tls.write_all(req.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    let mut resp = Vec::new();
    tls.read_to_end(&mut resp).await.map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&resp);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("no HTTP response: {text:?}"))
}

async fn serve(
    config: WebhookConfig,
) -> (std::net::SocketAddr, String, CancellationToken, tokio::task::JoinHandle<WebhookStats>) {
    let hook = Webhook::bind(&config).await.unwrap();
    let (addr, pem) = (hook.local_addr, hook.cert_pem.clone());
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { hook.serve(stop).await.unwrap() }
    });
    (addr, pem, stop, task)
}

#[tokio::test]
async fn mtls_and_bearer_token_both_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = ca();
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, trusted.pem()).unwrap();
    let good = client_cert(&trusted);
    let stranger = client_cert(&ca());

    let mut config = WebhookConfig::new("127.0.0.1:0", dir.path().join("out"));
    config.client_ca = Some(ca_file);
    config.bearer_token = Some("s3cret-token".into());
    let (addr, pem, stop, task) = serve(config).await;

    assert_eq!(post(addr, &pem, Some(&good), Some("s3cret-token")).await, Ok(200));
    assert_eq!(post(addr, &pem, Some(&good), None).await, Ok(401), "certificate alone is not enough");
    assert_eq!(post(addr, &pem, Some(&good), Some("wrong")).await, Ok(401));
    let no_cert = post(addr, &pem, None, Some("s3cret-token")).await;
    assert!(no_cert.is_err(), "a client without a certificate must be refused: {no_cert:?}");
    let other_ca = post(addr, &pem, Some(&stranger), Some("s3cret-token")).await;
    assert!(other_ca.is_err(), "a certificate from another CA must be refused: {other_ca:?}");

    stop.cancel();
    let stats = task.await.unwrap();
    assert_eq!((stats.batches, stats.events), (1, 1), "{stats:?}");
    assert_eq!(stats.rejected, 4, "{stats:?}");
    let log = std::fs::read_to_string(dir.path().join("out/audit.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1, "only the authenticated batch is stored: {log}");
}

#[tokio::test]
async fn bearer_token_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WebhookConfig::new("127.0.0.1:0", dir.path().join("out"));
    config.bearer_token = Some("t0ken\n".into());
    let (addr, pem, stop, task) = serve(config).await;
    assert_eq!(post(addr, &pem, None, Some("t0ken")).await, Ok(200));
    assert_eq!(post(addr, &pem, None, None).await, Ok(401));
    assert_eq!(post(addr, &pem, None, Some("t0ke")).await, Ok(401));
    stop.cancel();
    let stats = task.await.unwrap();
    assert_eq!((stats.batches, stats.rejected), (1, 2), "{stats:?}");
}

#[tokio::test]
async fn client_ca_file_must_hold_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let mut config = WebhookConfig::new("127.0.0.1:0", dir.path().join("out"));
    config.client_ca = Some(empty);
    let err = Webhook::bind(&config).await.err().expect("an unusable --client-ca is an error");
    assert!(err.to_string().contains("empty.pem"), "{err}");
}

/// The receiver's rotating folder (`audit.jsonl`, `audit-N.jsonl`, plus `webhook-cert.pem`) is an
/// audit input as it is: every event of every rotated file is read, the certificate ignored.
#[tokio::test]
async fn rotated_folder_reads_back_as_audit_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut config = WebhookConfig::new("127.0.0.1:0", &out);
    config.max_file_bytes = 600;
    let (addr, pem, stop, task) = serve(config).await;
    for i in 0..6 {
        let body = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{{"kind":"Event","apiVersion":"audit.k8s.io/v1",
            "level":"Metadata","auditID":"id-{i}","stage":"ResponseComplete","verb":"get",
            "requestURI":"/api/v1/namespaces/a/configmaps/c{i}","objectRef":{{"resource":"configmaps","namespace":"a","name":"c{i}","apiVersion":"v1"}},
            "user":{{"username":"system:serviceaccount:a:b","groups":["system:serviceaccounts"]}},
            "responseStatus":{{"code":200}},"requestReceivedTimestamp":"2026-01-01T00:00:0{i}.000000Z",
            "stageTimestamp":"2026-01-01T00:00:0{i}.000000Z"}}]}}"#
        );
        assert_eq!(post_body(addr, &pem, None, None, &body).await, Ok(200));
    }
    stop.cancel();
    let stats = task.await.unwrap();
    assert!(stats.rotations >= 2, "{stats:?}");
    assert!(out.join("audit-1.jsonl").exists() && out.join("webhook-cert.pem").exists());
    let inventory = kubeguard::model::Inventory::default();
    let (api, ingest) = kubeguard::sources::audit::ingest(&[out], &inventory, true, &|_| {}).unwrap();
    assert_eq!((ingest.records, ingest.malformed), (6, 0), "{ingest:?}");
    let sa = kubeguard::model::Subject::ServiceAccount { namespace: "a".into(), name: "b".into() };
    assert_eq!(api.get(&sa).map(|p| p.total_requests()), Some(6));
}
