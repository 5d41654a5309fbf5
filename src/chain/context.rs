//! What one chain sees for one target: the redacted manifests, the current objects (refine),
//! the paper's key → value-set aggregate of the target's observation records plus our
//! structured profile, and token counts before and after that reduction.
//!
//! Pure (reads the snapshot only); everything that reaches a template passes `redact` first.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::redact::redact_value;
use super::tokens;
use crate::engine::EngineError;
use crate::model::{ResourceKind, Subject, Target, TargetScope, Task, Workload};
use crate::profile::kv;
use crate::snapshot::Snapshot;

/// Values longer than this per key are cut in the aggregate (with a "+N more" marker).
pub const MAX_VALUES_PER_KEY: usize = 60;

#[derive(Debug, Clone)]
pub struct ChainContext {
    /// Template variables (without `steps`, which the runner adds).
    pub vars: Value,
    /// The objects the proposal replaces (refine); empty for create. Unredacted: only the guard
    /// and the recommendation see these, never a prompt.
    pub original: Vec<Value>,
    /// Tokens of the raw observation records (one normalised record per observed event).
    pub raw_log_tokens: u64,
    /// Tokens of the reduced context (aggregate + structured profile) sent instead.
    pub reduced_tokens: u64,
    /// Observation records behind the context (counting repeats).
    pub records: u64,
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
}

fn redacted(mut v: Value) -> Value {
    redact_value(&mut v);
    v
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn template_labels(w: &Workload) -> BTreeMap<String, String> {
    w.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default()
}

/// Does a LabelSelector (JSON form) select these labels? matchExpressions supported.
pub fn selector_selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let ml_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()))
        .unwrap_or(true);
    let me_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(|exprs| {
            exprs.iter().all(|e| {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let have = labels.get(key).map(String::as_str);
                match e.get("operator").and_then(Value::as_str) {
                    Some("In") => have.is_some_and(|h| values.contains(&h)),
                    Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
                    Some("Exists") => have.is_some(),
                    Some("DoesNotExist") => have.is_none(),
                    _ => false,
                }
            })
        })
        .unwrap_or(true);
    ml_ok && me_ok
}

fn subject_of(snapshot: &Snapshot, target: &Target) -> Result<Subject, EngineError> {
    match &target.scope {
        TargetScope::Subject(s) => Ok(s.clone()),
        TargetScope::Workload(w) => snapshot
            .inventory
            .workload(w)
            .map(|wl| Subject::ServiceAccount { namespace: wl.id.namespace.clone(), name: wl.service_account.clone() })
            .ok_or_else(|| EngineError::NotApplicable(format!("{w} is not in the inventory"))),
    }
}

fn workload_of<'a>(snapshot: &'a Snapshot, target: &Target) -> Result<&'a Workload, EngineError> {
    match &target.scope {
        TargetScope::Workload(w) => snapshot
            .inventory
            .workload(w)
            .ok_or_else(|| EngineError::NotApplicable(format!("{w} is not in the inventory"))),
        TargetScope::Subject(s) => {
            Err(EngineError::NotApplicable(format!("{} needs a workload, got {s}", target.kind)))
        }
    }
}

fn binding_names_subject(binding: &Value, subject: &Subject) -> bool {
    let Some(subjects) = binding.get("subjects").and_then(Value::as_array) else { return false };
    let binding_ns = binding.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    subjects.iter().any(|s| {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        match subject {
            Subject::ServiceAccount { namespace, name: n } => {
                let ns = s.get("namespace").and_then(Value::as_str).unwrap_or(binding_ns);
                kind == "ServiceAccount" && name == n && ns == namespace
            }
            Subject::User { name: n } => kind == "User" && name == n,
            Subject::Group { name: n } => kind == "Group" && name == n,
        }
    })
}

/// RBAC objects currently granting to the subject: its bindings and the roles they reference.
fn current_rbac(snapshot: &Snapshot, subject: &Subject) -> Vec<Value> {
    let inv = &snapshot.inventory;
    let mut out = Vec::new();
    for b in &inv.role_bindings {
        if binding_names_subject(&b.raw, subject) {
            let ns = b.object.metadata.namespace.clone().unwrap_or_default();
            let role_ref = &b.object.role_ref;
            if role_ref.kind == "Role" {
                if let Some(r) = inv.roles.iter().find(|r| {
                    r.object.metadata.name.as_deref() == Some(&role_ref.name)
                        && r.object.metadata.namespace.as_deref() == Some(&ns)
                }) {
                    out.push(r.raw.clone());
                }
            } else if let Some(r) =
                inv.cluster_roles.iter().find(|r| r.object.metadata.name.as_deref() == Some(&role_ref.name))
            {
                out.push(r.raw.clone());
            }
            out.push(b.raw.clone());
        }
    }
    for b in &inv.cluster_role_bindings {
        if binding_names_subject(&b.raw, subject) {
            if let Some(r) =
                inv.cluster_roles.iter().find(|r| r.object.metadata.name.as_deref() == Some(&b.object.role_ref.name))
            {
                out.push(r.raw.clone());
            }
            out.push(b.raw.clone());
        }
    }
    // The same ClusterRole may be referenced twice.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|v| seen.insert(v.to_string()));
    out
}

fn raw_tokens(records: &[(Value, u64)]) -> u64 {
    records.iter().map(|(r, c)| tokens::count(&r.to_string()).saturating_mul(*c)).sum()
}

const LEGEND_API: &str = "Legend: decision=allowed means the API server authorised the request; denied means RBAC refused it; admission_rejected means RBAC allowed it but admission refused it. An empty apiGroup is the core group.";
const LEGEND_FLOWS: &str = "Legend: Hubble reserved identities: 0 unknown, 1 host, 2 world, 3 unmanaged, 4 health, 5 init, 6 remote-node, 7 kube-apiserver, 8 ingress; kube-dns is named when recognised. direction is relative to the workload; destination_port is always the destination port.";
const LEGEND_RUNTIME: &str = "Legend: provenance facts per container: process (binary, uid), write/read (file path), capability (used, allowed), listen (port), privilege change, syscall.";

/// Build the chain context for a target.
pub fn build(snapshot: &Snapshot, target: &Target) -> Result<ChainContext, EngineError> {
    let inv = &snapshot.inventory;
    let (who, namespace, name_hint, manifest, original, records, profile, legend) = match target.kind {
        ResourceKind::Role => {
            let subject = subject_of(snapshot, target)?;
            let (namespace, sa) = match &subject {
                Subject::ServiceAccount { namespace, name } => (namespace.clone(), Some(name.clone())),
                _ => (String::new(), None),
            };
            let mut manifest = Vec::new();
            if let Some(sa) = &sa {
                if let Some(o) = inv.service_accounts.iter().find(|s| {
                    s.object.metadata.namespace.as_deref() == Some(&namespace)
                        && s.object.metadata.name.as_deref() == Some(sa)
                }) {
                    manifest.push(o.raw.clone());
                }
                for w in inv.workloads_for_service_account(&namespace, sa) {
                    manifest.push(w.raw.clone());
                }
            }
            let current = current_rbac(snapshot, &subject);
            manifest.extend(current.iter().cloned());
            let original = if target.task == Task::Refine { current } else { Vec::new() };
            let api = snapshot.observed.api.get(&subject).cloned().unwrap_or_default();
            let records = kv::api_records(&api);
            let profile = kv::structured_api(&api);
            (
                subject.to_string(),
                namespace,
                format!("kubeguard-{}", subject.slug()),
                manifest,
                original,
                records,
                profile,
                LEGEND_API,
            )
        }
        ResourceKind::NetworkPolicy => {
            let w = workload_of(snapshot, target)?;
            let labels = template_labels(w);
            let mut manifest = vec![w.raw.clone()];
            for s in &inv.services {
                if s.object.metadata.namespace.as_deref() == Some(&w.id.namespace) {
                    let sel: BTreeMap<String, String> =
                        s.object.spec.as_ref().and_then(|sp| sp.selector.clone()).unwrap_or_default();
                    if labels_match(&sel, &labels) {
                        manifest.push(s.raw.clone());
                    }
                }
            }
            let current: Vec<Value> = inv
                .network_policies
                .iter()
                .filter(|p| p.object.metadata.namespace.as_deref() == Some(&w.id.namespace))
                .filter(|p| p.raw.pointer("/spec/podSelector").is_some_and(|sel| selector_selects(sel, &labels)))
                .map(|p| p.raw.clone())
                .collect();
            manifest.extend(current.iter().cloned());
            let original = if target.task == Task::Refine { current } else { Vec::new() };
            let records = kv::flow_records(&snapshot.observed.flows, &w.id);
            let profile = kv::structured_flows(&snapshot.observed.flows, &w.id);
            let hint = format!("kubeguard-{}", crate::model::inventory::dns_label(&w.id.name));
            (w.id.to_string(), w.id.namespace.clone(), hint, manifest, original, records, profile, LEGEND_FLOWS)
        }
        ResourceKind::Deployment => {
            let w = workload_of(snapshot, target)?;
            let original = if target.task == Task::Refine { vec![w.raw.clone()] } else { Vec::new() };
            let records = kv::runtime_records(&snapshot.observed.runtime, &w.id);
            let mut profile = kv::structured_runtime(&snapshot.observed.runtime, &w.id);
            let called_api = snapshot
                .observed
                .api
                .get(&Subject::ServiceAccount { namespace: w.id.namespace.clone(), name: w.service_account.clone() })
                .is_some_and(|p| !p.allowed.is_empty());
            profile.push(json!({"service_account": w.service_account, "called_kubernetes_api": called_api}));
            (
                w.id.to_string(),
                w.id.namespace.clone(),
                w.id.name.clone(),
                vec![w.raw.clone()],
                original,
                records,
                profile,
                LEGEND_RUNTIME,
            )
        }
    };
    let agg = kv::aggregate(&records);
    let aggregated_logs = redact_text_block(&agg.render(MAX_VALUES_PER_KEY));
    let profile_text = pretty(&redacted(Value::Array(profile)));
    let manifest_text = pretty(&redacted(Value::Array(manifest)));
    let current_text = pretty(&redacted(Value::Array(original.clone())));
    let raw_log_tokens = raw_tokens(&records);
    let reduced_tokens = tokens::count(&aggregated_logs) + tokens::count(&profile_text);
    let vars = json!({
        "task": target.task.to_string(),
        "kind": target.kind.to_string(),
        "target": target.to_string(),
        "who": who,
        "namespace": namespace,
        "name_hint": name_hint,
        "manifest": manifest_text,
        "current": current_text,
        "aggregated_logs": if aggregated_logs.is_empty() { "(no observations)\n".to_string() } else { aggregated_logs },
        "profile": profile_text,
        "legend": legend,
        "log_records": agg.records,
    });
    Ok(ChainContext { vars, original, raw_log_tokens, reduced_tokens, records: agg.records })
}

fn redact_text_block(s: &str) -> String {
    super::redact::redact_text(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_like_kubernetes() {
        let labels: BTreeMap<String, String> =
            [("app".to_string(), "web".to_string()), ("tier".to_string(), "fe".to_string())].into();
        assert!(selector_selects(&json!({}), &labels));
        assert!(selector_selects(&json!({"matchLabels": {"app": "web"}}), &labels));
        assert!(!selector_selects(&json!({"matchLabels": {"app": "db"}}), &labels));
        assert!(selector_selects(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}),
            &labels
        ));
        assert!(!selector_selects(
            &json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
            &labels
        ));
        assert!(selector_selects(
            &json!({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["y"]}]}),
            &labels
        ));
    }
}
