//! The real kube-apiserver of `tests/cluster/` (built once by setup.sh, cached): build, start on
//! a free loopback port in a temp state folder, stop on drop; plus admin helpers (server-side
//! apply of JSON fixtures, service-account tokens and kubeconfigs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kubeguard::sources::cluster::{self, Connection};
use serde_json::{Value, json};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Build (or find cached) the harness binary. `Err` carries why it is unavailable.
pub fn setup() -> Result<PathBuf, String> {
    let t0 = Instant::now();
    let out = Command::new("bash")
        .arg(repo().join("tests/cluster/setup.sh"))
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if !out.status.success() {
        return Err(format!("tests/cluster/setup.sh failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    eprintln!("setup.sh: {:.1}s", t0.elapsed().as_secs_f64());
    let bin = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string();
    Ok(PathBuf::from(bin))
}

/// A running apiserver; stopped (stop.sh) when dropped, however the test ends.
pub struct Harness {
    /// State folder: kubeconfig, audit.log, certificates.
    pub dir: PathBuf,
    pub bin: PathBuf,
}

impl Harness {
    /// Start in `dir` with extra kube-apiserver flags; panics when it does not come up.
    pub fn start(bin: PathBuf, dir: &Path, extra: &[String]) -> Harness {
        let t = Instant::now();
        let started =
            Command::new("bash").arg(repo().join("tests/cluster/start.sh")).arg(dir).args(extra).output().unwrap();
        assert!(started.status.success(), "start.sh: {}", String::from_utf8_lossy(&started.stderr));
        eprintln!("apiserver ready in {:.1}s", t.elapsed().as_secs_f64());
        Harness { dir: dir.to_path_buf(), bin }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub fn kubeconfig_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.kubeconfig()).unwrap()).unwrap()
    }

    pub async fn admin(&self) -> Connection {
        cluster::connect(Some(&self.kubeconfig()), None).await.unwrap()
    }

    /// A service-account token from the TokenRequest API.
    pub fn mint_token(&self, ns: &str, name: &str) -> String {
        let out = Command::new(&self.bin)
            .args(["token", "--kubeconfig"])
            .arg(self.kubeconfig())
            .args(["--namespace", ns, "--name", name, "--duration", "2h"])
            .output()
            .unwrap();
        assert!(out.status.success(), "token: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A kubeconfig for `ns/name` with `token`, written under `dir`.
    pub fn sa_kubeconfig(&self, dir: &Path, ns: &str, name: &str, token: &str) -> PathBuf {
        let mut kc = self.kubeconfig_json();
        kc["users"] = json!([{"name": format!("{ns}-{name}"), "user": {"token": token}}]);
        kc["contexts"][0]["context"]["user"] = json!(format!("{ns}-{name}"));
        kc["contexts"][0]["context"]["namespace"] = json!(ns);
        let path = dir.join(format!("kubeconfig-{ns}-{name}"));
        std::fs::write(&path, serde_json::to_vec(&kc).unwrap()).unwrap();
        path
    }

    /// Stop now and return how long stop.sh took.
    pub fn stop(&self) -> Duration {
        let t = Instant::now();
        let _ = Command::new("bash").arg(repo().join("tests/cluster/stop.sh")).arg(&self.dir).status();
        t.elapsed()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Server-side apply of one JSON object as admin (retrying while a fresh CRD's kind is not
/// yet in discovery).
pub async fn admin_apply(conn: &Connection, obj: &Value) {
    let (group, version) = match obj["apiVersion"].as_str().unwrap().split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), obj["apiVersion"].as_str().unwrap().to_string()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, obj["kind"].as_str().unwrap());
    let mut tries = 0;
    loop {
        match kube::discovery::pinned_kind(&conn.client, &gvk).await {
            Ok((ar, caps)) => {
                let name = obj["metadata"]["name"].as_str().unwrap();
                let api: Api<DynamicObject> = match (caps.scope, obj["metadata"]["namespace"].as_str()) {
                    (kube::discovery::Scope::Namespaced, Some(ns)) => {
                        Api::namespaced_with(conn.client.clone(), ns, &ar)
                    }
                    _ => Api::all_with(conn.client.clone(), &ar),
                };
                api.patch(name, &PatchParams::apply("e2e-setup").force(), &Patch::Apply(obj)).await.unwrap();
                return;
            }
            Err(_) if tries < 40 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("cannot resolve {gvk:?}: {e}"),
        }
    }
}

// Fixture builders.

pub fn namespace(n: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}})
}

pub fn service_account(ns: &str, n: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"namespace": ns, "name": n}})
}

pub fn role(ns: &str, name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"namespace": ns, "name": name}, "rules": rules})
}

pub fn role_binding(ns: &str, name: &str, kind: &str, role: &str, sa_ns: &str, sa: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"namespace": ns, "name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "namespace": sa_ns, "name": sa}]})
}

pub fn deployment(ns: &str, name: &str, sa: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": ns, "name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"serviceAccountName": sa, "containers": [{"name": "app", "image": "registry.example/app:1"}]}}}})
}

pub fn pod(ns: &str, name: &str, sa: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns, "name": name, "labels": {"app": name}},
        "spec": {"serviceAccountName": sa, "containers": [{"name": "app", "image": "registry.example/app:1"}]}})
}

pub fn config_map(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": ns, "name": name}, "data": {"k": "v"}})
}

/// The kube-harness cache folder (same rule as setup.sh).
pub fn cache_dir() -> PathBuf {
    std::env::var("KUBEGUARD_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/kubeguard-tests"))
}

/// kubeguard's audit webhook receiver bound on loopback, and the kube-apiserver flags that feed
/// it (batch mode, 1 s max wait). With `token` the receiver requires that bearer token; with
/// `mtls` it requires a client certificate from a CA generated here. The apiserver's webhook
/// kubeconfig carries both, so a received batch proves the apiserver authenticated.
pub struct AuditWebhook {
    pub hook: kubeguard::serve::Webhook,
    pub flags: Vec<String>,
    /// The rotating log folder (`audit.jsonl`, `audit-N.jsonl`).
    pub out: PathBuf,
}

pub async fn audit_webhook(dir: &Path, token: Option<&str>, mtls: bool) -> AuditWebhook {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let out = dir.join("webhook");
    let mut config = kubeguard::serve::WebhookConfig::new("127.0.0.1:0", &out);
    config.bearer_token = token.map(str::to_string);
    let mut user = serde_json::Map::new();
    if let Some(t) = token {
        user.insert("token".into(), json!(t));
    }
    if mtls {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "webhook-client-ca");
        let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &ca).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("webhook-client-ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("webhook-client.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("webhook-client.key"), key.serialize_pem()).unwrap();
        config.client_ca = Some(dir.join("webhook-client-ca.pem"));
        user.insert("client-certificate".into(), json!(dir.join("webhook-client.pem")));
        user.insert("client-key".into(), json!(dir.join("webhook-client.key")));
    }
    let hook = kubeguard::serve::Webhook::bind(&config).await.unwrap();
    let url = format!("https://127.0.0.1:{}/audit", hook.local_addr.port());
    let kubeconfig = json!({"apiVersion": "v1", "kind": "Config", "current-context": "kg",
        "clusters": [{"name": "kg", "cluster": {"server": url, "certificate-authority": out.join("webhook-cert.pem")}}],
        "users": [{"name": "kg", "user": user}],
        "contexts": [{"name": "kg", "context": {"cluster": "kg", "user": "kg"}}]});
    let path = dir.join("webhook-kubeconfig");
    std::fs::write(&path, serde_json::to_vec(&kubeconfig).unwrap()).unwrap();
    let flags = vec![
        format!("--audit-webhook-config-file={}", path.display()),
        "--audit-webhook-mode=batch".to_string(),
        "--audit-webhook-batch-max-wait=1s".to_string(),
        "--audit-webhook-version=audit.k8s.io/v1".to_string(),
    ];
    AuditWebhook { hook, flags, out }
}
