//! Deployment units: the hardening facts (field, value) of a workload's pod template, read as
//! their effective values (a container inherits the pod-level `runAsNonRoot`, `runAsUser`,
//! `runAsGroup` and `seccompProfile`) and recorded only where they differ from what Kubernetes
//! does by default (so an explicit `privileged: false` and an omitted one are the same fact:
//! none). Resources (requests/limits of cpu and memory) are numeric facts that match within a
//! relative tolerance of the truth value (default ±25%). Pure.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::eval::Counts;
use crate::sources::metrics::parse_quantity;

/// Relative tolerance for resource facts.
pub const RESOURCE_TOLERANCE: f64 = 0.25;

#[derive(Debug, Clone, PartialEq)]
pub enum FactValue {
    Text(String),
    Quantity(f64),
}

/// field path → value.
pub type Facts = BTreeMap<String, FactValue>;

fn pod_spec(o: &Value) -> Option<&Value> {
    match o.get("kind").and_then(Value::as_str).unwrap_or_default() {
        "Pod" => o.get("spec"),
        "CronJob" => o.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => o.pointer("/spec/template/spec"),
    }
}

fn text(facts: &mut Facts, key: String, v: impl ToString) {
    facts.insert(key, FactValue::Text(v.to_string()));
}

/// The hardening facts of a workload object (Deployment, StatefulSet, DaemonSet, Job,
/// CronJob, ReplicaSet or Pod). Nothing for other objects.
pub fn facts(o: &Value) -> Facts {
    let mut f = Facts::new();
    let Some(spec) = pod_spec(o) else { return f };
    let b = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool);
    for k in ["hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"] {
        if b(spec, k) == Some(true) {
            text(&mut f, format!("pod.{k}"), true);
        }
    }
    if b(spec, "automountServiceAccountToken") == Some(false) {
        text(&mut f, "pod.automountServiceAccountToken".into(), false);
    }
    let psc = spec.get("securityContext").cloned().unwrap_or(Value::Null);
    if let Some(g) = psc.get("fsGroup").and_then(Value::as_i64) {
        text(&mut f, "pod.fsGroup".into(), g);
    }
    for (list, prefix) in [("initContainers", "init:"), ("containers", "")] {
        for c in spec.get(list).and_then(Value::as_array).into_iter().flatten() {
            let name = format!("{prefix}{}", c.get("name").and_then(Value::as_str).unwrap_or_default());
            let csc = c.get("securityContext").cloned().unwrap_or(Value::Null);
            let eff = |k: &str| csc.get(k).filter(|v| !v.is_null()).or_else(|| psc.get(k).filter(|v| !v.is_null()));
            let key = |field: &str| format!("container[{name}].{field}");
            if eff("runAsNonRoot").and_then(Value::as_bool) == Some(true) {
                text(&mut f, key("runAsNonRoot"), true);
            }
            for k in ["runAsUser", "runAsGroup"] {
                if let Some(u) = eff(k).and_then(Value::as_i64) {
                    text(&mut f, key(k), u);
                }
            }
            if let Some(t) = eff("seccompProfile").and_then(|s| s.get("type")).and_then(Value::as_str)
                && t != "Unconfined"
            {
                text(&mut f, key("seccompProfile"), t);
            }
            if b(&csc, "readOnlyRootFilesystem") == Some(true) {
                text(&mut f, key("readOnlyRootFilesystem"), true);
            }
            let privileged = b(&csc, "privileged") == Some(true);
            if privileged {
                text(&mut f, key("privileged"), true);
            }
            if b(&csc, "allowPrivilegeEscalation") == Some(false) && !privileged {
                text(&mut f, key("allowPrivilegeEscalation"), false);
            }
            for (k, label) in [("drop", "drop"), ("add", "add")] {
                for cap in csc.pointer(&format!("/capabilities/{k}")).and_then(Value::as_array).into_iter().flatten() {
                    if let Some(cap) = cap.as_str() {
                        let cap = cap.trim_start_matches("CAP_").to_ascii_uppercase();
                        text(&mut f, key(&format!("capabilities.{label}.{cap}")), true);
                    }
                }
            }
            for kind in ["requests", "limits"] {
                for res in ["cpu", "memory"] {
                    let q = c.pointer(&format!("/resources/{kind}/{res}")).and_then(|v| match v {
                        Value::String(s) => parse_quantity(s),
                        Value::Number(n) => n.as_f64(),
                        _ => None,
                    });
                    if let Some(q) = q {
                        f.insert(key(&format!("resources.{kind}.{res}")), FactValue::Quantity(q));
                    }
                }
            }
        }
    }
    f
}

/// Compare facts: same field and equal value (quantities within `tolerance` of the truth) is a
/// true positive; a field with a different value is one false positive and one false negative.
pub fn compare(predicted: &Facts, truth: &Facts, tolerance: f64) -> Counts {
    let mut c = Counts::default();
    for (k, p) in predicted {
        match truth.get(k) {
            Some(t) if matches(p, t, tolerance) => c.tp += 1,
            _ => c.fp += 1,
        }
    }
    c.fn_ = truth.len() as u64 - c.tp;
    c
}

fn matches(p: &FactValue, t: &FactValue, tolerance: f64) -> bool {
    match (p, t) {
        (FactValue::Text(a), FactValue::Text(b)) => a == b,
        (FactValue::Quantity(a), FactValue::Quantity(b)) => (a - b).abs() <= tolerance * b.abs() + f64::EPSILON,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(pod_sc: Value, container: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "w"},
               "spec": {"template": {"spec": {"securityContext": pod_sc, "containers": [container]}}}})
    }

    #[test]
    fn defaults_are_not_facts_and_pod_level_is_inherited() {
        let a = deployment(
            json!({"runAsNonRoot": true, "runAsUser": 1000}),
            json!({"name": "app", "securityContext": {"privileged": false}}),
        );
        let b =
            deployment(json!({}), json!({"name": "app", "securityContext": {"runAsNonRoot": true, "runAsUser": 1000}}));
        assert_eq!(facts(&a), facts(&b));
        assert_eq!(facts(&a).len(), 2);
    }

    #[test]
    fn hand_computed_partial_match_with_resource_tolerance() {
        let truth = deployment(
            json!({}),
            json!({"name": "app",
                   "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                       "capabilities": {"drop": ["ALL"]}, "runAsUser": 1000},
                   "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}),
        );
        let pred = deployment(
            json!({"seccompProfile": {"type": "RuntimeDefault"}}),
            json!({"name": "app",
                   "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                       "capabilities": {"drop": ["CAP_ALL"]}, "runAsUser": 65532},
                   "resources": {"requests": {"cpu": "120m", "memory": "100Mi"}, "limits": {"memory": "128Mi"}}}),
        );
        // truth 7 facts. matches: readOnlyRootFilesystem, allowPrivilegeEscalation, drop ALL,
        // cpu 120m within 25% of 100m, memory limit → 5 tp. runAsUser differs (fp+fn),
        // memory request 100Mi is +56% (fp+fn), seccomp is extra (fp).
        let c = compare(&facts(&pred), &facts(&truth), RESOURCE_TOLERANCE);
        assert_eq!(c, Counts { tp: 5, fp: 3, fn_: 2 });
    }

    #[test]
    fn empty_objects() {
        let bare = deployment(json!({}), json!({"name": "app"}));
        assert!(facts(&bare).is_empty());
        assert_eq!(compare(&Facts::new(), &Facts::new(), 0.25).scores().f1, 1.0);
        assert!(facts(&json!({"kind": "Service"})).is_empty());
    }
}
