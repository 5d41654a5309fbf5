//! Model answers → validated values: accept bare or fenced JSON/YAML (and JSON embedded in
//! prose), validate against the step's JSON Schema and, for generated manifests, against the
//! Kubernetes types (k8s-openapi) with the right apiVersion per kind. Errors are listed one per
//! line so they can be fed back to the model.
//!
//! Pure; never trusts the content (the guard decides what may be granted).

use serde_json::Value;

use super::prompts::OutputKind;

/// Extract one value from an answer. Tries, in order: the whole text, each fenced block, and
/// the outermost `{…}` span.
pub fn extract(answer: &str, kind: OutputKind) -> Result<Value, String> {
    let text = answer.trim();
    if text.is_empty() {
        return Err("the answer is empty".into());
    }
    let mut candidates: Vec<&str> = vec![text];
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let body_start = after.find('\n').map(|i| i + 1).unwrap_or(after.len());
        let body = &after[body_start..];
        match body.find("```") {
            Some(end) => {
                candidates.push(&body[..end]);
                rest = &body[end + 3..];
            }
            None => {
                // Unterminated fence (answer cut off): still try what is there.
                candidates.push(body);
                break;
            }
        }
    }
    if let (Some(a), Some(b)) = (text.find('{'), text.rfind('}'))
        && a < b
    {
        candidates.push(&text[a..=b]);
    }
    let mut first_error = None;
    for c in candidates {
        let parsed = match kind {
            OutputKind::Json => serde_json::from_str::<Value>(c.trim()).map_err(|e| format!("invalid JSON: {e}")),
            OutputKind::Yaml => serde_saphyr::from_str::<Value>(c.trim()).map_err(|e| format!("invalid YAML: {e}")),
        };
        match parsed {
            Ok(v) if v.is_object() => return Ok(v),
            Ok(_) => {
                first_error.get_or_insert_with(|| "the answer is not a single object".to_string());
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| "no JSON object found".into()))
}

/// Validate against a JSON Schema; one line per error (`/path: message`).
pub fn schema_errors(value: &Value, schema: &Value) -> Vec<String> {
    match jsonschema::validator_for(schema) {
        Ok(v) => v
            .iter_errors(value)
            .map(|e| {
                let path = e.instance_path().to_string();
                format!("{}: {}", if path.is_empty() { "/".to_string() } else { path }, e)
            })
            .take(20)
            .collect(),
        Err(e) => vec![format!("the schema itself is invalid: {e}")],
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(v.clone()).map(|_| ()).map_err(|e| e.to_string())
}

/// The apiVersion each supported kind must carry.
pub fn api_version_for(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => "rbac.authorization.k8s.io/v1",
        "NetworkPolicy" => "networking.k8s.io/v1",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "Pod" => "v1",
        _ => return None,
    })
}

/// Check one manifest against its Kubernetes type. Returns a list of problems.
pub fn kubernetes_errors(manifest: &Value) -> Vec<String> {
    use k8s_openapi::api::{
        apps::v1 as apps, batch::v1 as batch, core::v1 as core, networking::v1 as net, rbac::v1 as rbac,
    };
    let kind = manifest.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = manifest.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let Some(expected) = api_version_for(kind) else {
        return vec![format!("unsupported kind {kind:?}")];
    };
    let mut errors = Vec::new();
    if api_version != expected {
        errors.push(format!("apiVersion of {kind} must be {expected}, got {api_version:?}"));
        return errors;
    }
    let r = match kind {
        "Role" => typed::<rbac::Role>(manifest),
        "ClusterRole" => typed::<rbac::ClusterRole>(manifest),
        "RoleBinding" => typed::<rbac::RoleBinding>(manifest),
        "ClusterRoleBinding" => typed::<rbac::ClusterRoleBinding>(manifest),
        "NetworkPolicy" => typed::<net::NetworkPolicy>(manifest),
        "Deployment" => typed::<apps::Deployment>(manifest),
        "StatefulSet" => typed::<apps::StatefulSet>(manifest),
        "DaemonSet" => typed::<apps::DaemonSet>(manifest),
        "ReplicaSet" => typed::<apps::ReplicaSet>(manifest),
        "Job" => typed::<batch::Job>(manifest),
        "CronJob" => typed::<batch::CronJob>(manifest),
        "Pod" => typed::<core::Pod>(manifest),
        _ => Ok(()),
    };
    if let Err(e) = r {
        errors.push(e);
    }
    let name = manifest.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty()
        || name.len() > 253
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == ':')
    {
        errors.push(format!("metadata.name {name:?} is not a valid object name"));
    }
    errors
}

/// Full validation of a step answer: extraction, schema and (for `manifests`) Kubernetes types.
pub fn validate(answer: &str, kind: OutputKind, schema: Option<&Value>) -> Result<Value, Vec<String>> {
    let value = extract(answer, kind).map_err(|e| vec![e])?;
    let mut errors = match schema {
        Some(s) => schema_errors(&value, s),
        None => Vec::new(),
    };
    if errors.is_empty()
        && let Some(ms) = value.get("manifests").and_then(Value::as_array)
    {
        for (i, m) in ms.iter().enumerate() {
            for e in kubernetes_errors(m) {
                errors.push(format!("/manifests/{i}: {e}"));
            }
        }
    }
    if errors.is_empty() { Ok(value) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_bare_fenced_and_embedded_json() {
        assert_eq!(extract("{\"a\":1}", OutputKind::Json).unwrap(), json!({"a":1}));
        assert_eq!(extract("Sure!\n```json\n{\"a\": 2}\n```\nDone", OutputKind::Json).unwrap(), json!({"a":2}));
        assert_eq!(extract("```\n{\"a\": 3}\n```", OutputKind::Json).unwrap(), json!({"a":3}));
        assert_eq!(extract("Here: {\"a\": 4} ok", OutputKind::Json).unwrap(), json!({"a":4}));
        assert_eq!(extract("```json\n{\"a\": 5}", OutputKind::Json).unwrap(), json!({"a":5}));
        assert!(extract("", OutputKind::Json).is_err());
        assert!(extract("{\"a\": ", OutputKind::Json).unwrap_err().contains("invalid JSON"));
        assert!(extract("[1,2]", OutputKind::Json).is_err());
        assert_eq!(extract("```yaml\na: 1\nb: [x]\n```", OutputKind::Yaml).unwrap(), json!({"a":1,"b":["x"]}));
    }

    #[test]
    fn schema_and_kubernetes_types_are_enforced() {
        let lib = super::super::prompts::Library::load(None).unwrap();
        let schema = lib.chain(crate::model::Task::Create, crate::model::ResourceKind::Role).unwrap().steps[2]
            .schema
            .clone()
            .unwrap();
        let good = json!({"manifests": [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "r", "namespace": "shop"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}],
            "justifications": [{"path": "rules[0]", "reason": "seen"}]});
        assert!(validate(&good.to_string(), OutputKind::Json, Some(&schema)).is_ok());

        let missing = json!({"manifests": []});
        let errs = validate(&missing.to_string(), OutputKind::Json, Some(&schema)).unwrap_err();
        assert!(errs.iter().any(|e| e.contains("justifications")), "{errs:?}");

        let mut wrong_version = good.clone();
        wrong_version["manifests"][0]["apiVersion"] = json!("v1");
        let errs = validate(&wrong_version.to_string(), OutputKind::Json, Some(&schema)).unwrap_err();
        assert!(errs[0].starts_with("/manifests/0: apiVersion"), "{errs:?}");

        let mut bad_type = good.clone();
        bad_type["manifests"][0]["rules"][0]["verbs"] = json!("get");
        assert!(validate(&bad_type.to_string(), OutputKind::Json, Some(&schema)).is_err());

        let mut bad_name = good;
        bad_name["manifests"][0]["metadata"]["name"] = json!("Bad Name");
        let errs = validate(&bad_name.to_string(), OutputKind::Json, Some(&schema)).unwrap_err();
        assert!(errs[0].contains("not a valid object name"), "{errs:?}");
    }
}
