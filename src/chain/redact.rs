//! Redaction applied to everything before it can reach a prompt, a transcript or the cache:
//! request/response bodies, Secret data, env values, last-applied annotations, tokens (bearer,
//! JWT, API keys), credentials in URLs, certificates and private keys (PEM and long base64).
//!
//! Pure; errs on the side of removing too much. Must not be bypassed by any prompt path.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

pub const REDACTED: &str = "[REDACTED]";

struct Pattern {
    re: Regex,
    replacement: &'static str,
}

fn pattern(re: &str, replacement: &'static str) -> Option<Pattern> {
    Regex::new(re).ok().map(|re| Pattern { re, replacement })
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    [
        // PEM certificates and keys (also when newlines were escaped).
        pattern(r"-----BEGIN [A-Z0-9 ]+-----(?s:.*?)(-----END [A-Z0-9 ]+-----|$)", "[REDACTED PEM]"),
        // Authorization headers.
        pattern(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*", "$1 [REDACTED]"),
        // JWTs (service account tokens).
        pattern(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", "[REDACTED JWT]"),
        // Well-known key shapes.
        pattern(r"\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}", "[REDACTED KEY]"),
        pattern(r"\b(ghp|gho|ghu|ghs|ghr|glpat|xox[abpr])[-_][A-Za-z0-9_-]{10,}", "[REDACTED KEY]"),
        pattern(r"\bAKIA[0-9A-Z]{16}\b", "[REDACTED KEY]"),
        // user:password@ in URLs.
        pattern(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", "$1[REDACTED]@"),
        // key=value / key: value secrets in free text, flags and query strings.
        pattern(
            r#"(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|authorization)[A-Za-z0-9_.-]*["']?\s*[:=]\s*["']?)[^\s"'&,;}]+"#,
            "$1[REDACTED]",
        ),
        // Long base64 runs (certificate data, keys, opaque tokens).
        pattern(r"[A-Za-z0-9+/]{80,}={0,2}", "[REDACTED BASE64]"),
    ]
    .into_iter()
    .flatten()
    .collect()
});

/// Redact secrets from free text (log lines, args, annotation values).
pub fn redact_text(text: &str) -> String {
    let mut out = text.to_string();
    for p in PATTERNS.iter() {
        if p.re.is_match(&out) {
            out = p.re.replace_all(&out, p.replacement).into_owned();
        }
    }
    out
}

/// Keys whose string values are always secret, whatever they look like.
fn sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_', '.'], "");
    // References to secrets (names, key names, paths, expiry) are not secret themselves.
    if ["name", "ref", "path", "seconds", "key"].iter().any(|s| k.ends_with(s))
        && !k.ends_with("apikey")
        && !k.ends_with("privatekey")
        && !k.ends_with("accesskey")
        && !k.ends_with("tlskey")
    {
        return false;
    }
    const WORDS: [&str; 12] = [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "clientsecret",
        "credential",
        "authorization",
        "certificate",
        "tlskey",
    ];
    WORDS.iter().any(|w| k.contains(w)) || k.ends_with("crt") || k.ends_with("pem") || k == "cadata"
}

/// Keys that hold whole request/response bodies (audit events) or copies of the object.
fn body_key(key: &str) -> bool {
    matches!(key, "requestObject" | "responseObject" | "requestBody" | "responseBody" | "body")
}

/// Redact a JSON value in place (Kubernetes objects, audit records, profiles). Returns how many
/// values were replaced.
pub fn redact_value(value: &mut Value) -> usize {
    let mut n = 0;
    redact_inner(value, None, &mut n);
    n
}

fn redact_inner(value: &mut Value, parent_key: Option<&str>, n: &mut usize) {
    match value {
        Value::Object(map) => {
            let is_secret = map.get("kind").and_then(|k| k.as_str()) == Some("Secret");
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let Some(v) = map.get_mut(&key) else { continue };
                if body_key(&key)
                    || key == "kubectl.kubernetes.io/last-applied-configuration"
                    || (is_secret && (key == "data" || key == "stringData"))
                {
                    if !v.is_null() {
                        *v = Value::String(REDACTED.to_string());
                        *n += 1;
                    }
                    continue;
                }
                // env: [{name, value}] — keep names and valueFrom references, drop literal values.
                if key == "value" && parent_key == Some("env") {
                    if v.is_string() {
                        *v = Value::String(REDACTED.to_string());
                        *n += 1;
                    }
                    continue;
                }
                if sensitive_key(&key)
                    && (v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
                {
                    *v = Value::String(REDACTED.to_string());
                    *n += 1;
                    continue;
                }
                // A ConfigMap/Secret-like `data` map with sensitive entry names.
                redact_inner(v, Some(&key), n);
            }
        }
        Value::Array(items) => {
            for item in items {
                // Array elements inherit the array's key so env items are recognised.
                redact_inner(item, parent_key, n);
            }
        }
        Value::String(s) => {
            let r = redact_text(s);
            if r != *s {
                *s = r;
                *n += 1;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_patterns_are_removed() {
        let cases = [
            "Authorization: Bearer abcdef0123456789.token",
            "token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl",
            "--password=hunter2 --db=x",
            "amqp://user:s3cr3t@rabbitmq:5672/",
            "key sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
            "AKIAABCDEFGHIJKLMNOP",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----",
        ];
        let secrets = [
            "abcdef0123456789",
            "c2lnbmF0dXJl",
            "hunter2",
            "s3cr3t",
            "ABCDEFGHIJKLMNOPQRSTUV",
            "AKIAABCDEFGHIJKLMNOP",
            "MIIEow",
            "MIIB",
        ];
        for (text, secret) in cases.iter().zip(secrets) {
            let r = redact_text(text);
            assert!(!r.contains(secret), "{text:?} -> {r:?}");
            assert!(r.contains("REDACTED"), "{r}");
        }
        let long = "A".repeat(100);
        assert!(!redact_text(&format!("ca: {long}")).contains(&long));
        // Ordinary log text is left alone.
        assert_eq!(redact_text("GET /api/v1/namespaces/shop/pods 200"), "GET /api/v1/namespaces/shop/pods 200");
    }

    #[test]
    fn kubernetes_objects_lose_secret_values_but_keep_structure() {
        let mut v = json!({
            "kind": "Secret", "metadata": {"name": "db", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"pw\":\"eA==\"}}"}},
            "data": {"pw": "aHVudGVyMg=="}, "stringData": {"user": "root"}
        });
        let n = redact_value(&mut v);
        assert_eq!(n, 3);
        assert_eq!(v["data"], REDACTED);
        assert_eq!(v["stringData"], REDACTED);
        assert_eq!(v["metadata"]["name"], "db");

        let mut d = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{
            "name": "app", "image": "x:1",
            "env": [{"name": "QUEUE_PASSWORD", "value": "guest"}, {"name": "MODE", "value": "prod"},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "args": ["--api-key=abc123"]
        }]}}}});
        redact_value(&mut d);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["env"][0]["value"], REDACTED);
        assert_eq!(c["env"][1]["value"], REDACTED);
        assert_eq!(c["env"][0]["name"], "QUEUE_PASSWORD");
        assert_eq!(c["env"][2]["valueFrom"]["secretKeyRef"]["name"], "s");
        assert_eq!(c["args"][0], "--api-key=[REDACTED]");
        assert_eq!(c["image"], "x:1");
    }

    #[test]
    fn audit_bodies_are_dropped() {
        let mut e = json!({"verb": "create", "requestObject": {"data": {"x": "y"}}, "responseObject": null,
                           "user": {"extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]}}});
        redact_value(&mut e);
        assert_eq!(e["requestObject"], REDACTED);
        assert!(e["responseObject"].is_null());
        assert_eq!(e["verb"], "create");
        assert_eq!(e["user"]["extra"]["authentication.kubernetes.io/credential-id"], REDACTED);
    }
}
