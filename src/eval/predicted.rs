//! Scoring manifests produced outside kubeguard (e.g. audit2rbac's Roles and bindings, a
//! hand-written policy set) with the same units as the engines: the file's objects are turned
//! into one recommendation per corpus target they address, and `corpus::evaluate` scores them
//! exactly as it scores an engine. A target the file says nothing about is "declined" (the
//! input stands). Pure apart from `load`, which reads the file through `sources::manifests`.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::EvalError;
use crate::engine::EngineError;
use crate::model::{GuardVerdict, Recommendation, ResourceKind, Subject, Target, TargetScope};
use crate::snapshot::Snapshot;

/// Every object of a manifest file or folder (Roles, bindings, policies, workloads...).
pub fn load(path: &Path) -> Result<Vec<Value>, EvalError> {
    if !path.exists() {
        return Err(EvalError::Corpus { path: path.display().to_string(), message: "does not exist".into() });
    }
    let (inv, _) = crate::sources::manifests::load(&[path.to_path_buf()], false)?;
    Ok(super::corpus::inventory_values(&inv))
}

fn kind(o: &Value) -> &str {
    o.get("kind").and_then(Value::as_str).unwrap_or_default()
}

fn namespace(o: &Value) -> &str {
    o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default")
}

/// The objects of `objects` that answer `target`: for a Role target, the bindings naming the
/// subject plus every Role/ClusterRole of the file (bindings resolve their roleRef among them,
/// then among the input's roles); for a NetworkPolicy target, the file's policies in the
/// workload's namespace; for a Deployment target, the file's object of the same kind,
/// namespace and name. `None` when the file has nothing for it.
pub fn select(objects: &[Value], target: &Target) -> Option<Vec<Value>> {
    let picked: Vec<Value> = match (&target.scope, target.kind) {
        (TargetScope::Subject(s), ResourceKind::Role) => {
            let bindings: Vec<Value> = objects
                .iter()
                .filter(|o| matches!(kind(o), "RoleBinding" | "ClusterRoleBinding"))
                .filter(|b| names_subject(b, s))
                .cloned()
                .collect();
            if bindings.is_empty() {
                return None;
            }
            let roles = objects.iter().filter(|o| matches!(kind(o), "Role" | "ClusterRole")).cloned();
            bindings.into_iter().chain(roles).collect()
        }
        (TargetScope::Workload(w), ResourceKind::NetworkPolicy) => {
            objects.iter().filter(|o| kind(o) == "NetworkPolicy" && namespace(o) == w.namespace).cloned().collect()
        }
        (TargetScope::Workload(w), ResourceKind::Deployment) => objects
            .iter()
            .filter(|o| {
                kind(o) == w.kind.as_str()
                    && namespace(o) == w.namespace
                    && o.pointer("/metadata/name").and_then(Value::as_str) == Some(w.name.as_str())
            })
            .take(1)
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    (!picked.is_empty()).then_some(picked)
}

fn names_subject(binding: &Value, s: &Subject) -> bool {
    super::rbac::bound_subjects(std::slice::from_ref(binding)).contains(s)
}

/// An engine-shaped proposer over a fixed set of objects, named `engine` in the report.
pub fn proposer<'a>(
    objects: &'a [Value],
    engine: &str,
) -> impl Fn(&Arc<Snapshot>, &Target) -> Result<Recommendation, EngineError> + 'a {
    let engine = engine.to_string();
    move |_snapshot, target| match select(objects, target) {
        Some(manifests) => Ok(Recommendation {
            target: target.clone(),
            engine: engine.clone(),
            manifests,
            original: Vec::new(),
            evidence: Vec::new(),
            findings: Vec::new(),
            removed: Vec::new(),
            verdict: GuardVerdict::default(),
        }),
        None => Err(EngineError::NoEvidence(format!("{target}: not addressed by the predicted manifests"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Task, WorkloadKind, WorkloadRef};
    use serde_json::json;

    fn sa(ns: &str, n: &str) -> Subject {
        Subject::ServiceAccount { namespace: ns.into(), name: n.into() }
    }

    #[test]
    fn selects_bindings_of_the_subject_with_all_roles() {
        let objects = vec![
            json!({"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": []}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b1"},
                   "roleRef": {"kind": "ClusterRole", "name": "r"},
                   "subjects": [{"kind": "ServiceAccount", "name": "a", "namespace": "x"}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "b2", "namespace": "y"},
                   "roleRef": {"kind": "ClusterRole", "name": "r"},
                   "subjects": [{"kind": "ServiceAccount", "name": "b"}]}),
        ];
        let t = |s| Target { scope: TargetScope::Subject(s), kind: ResourceKind::Role, task: Task::Create };
        let a = select(&objects, &t(sa("x", "a"))).unwrap();
        assert_eq!(a.iter().map(kind).collect::<Vec<_>>(), ["ClusterRoleBinding", "ClusterRole"]);
        // a RoleBinding subject without namespace is in the binding's namespace
        assert!(select(&objects, &t(sa("y", "b"))).is_some());
        assert!(select(&objects, &t(sa("x", "b"))).is_none());
    }

    #[test]
    fn selects_policies_by_namespace_and_workloads_by_identity() {
        let objects = vec![
            json!({"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "shop"}, "spec": {}}),
            json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}}),
        ];
        let w = |name: &str, ns: &str| WorkloadRef {
            namespace: ns.into(),
            kind: WorkloadKind::Deployment,
            name: name.into(),
        };
        let t = |w, kind| Target { scope: TargetScope::Workload(w), kind, task: Task::Create };
        assert_eq!(select(&objects, &t(w("api", "shop"), ResourceKind::NetworkPolicy)).unwrap().len(), 1);
        assert!(select(&objects, &t(w("api", "other"), ResourceKind::NetworkPolicy)).is_none());
        assert_eq!(select(&objects, &t(w("web", "shop"), ResourceKind::Deployment)).unwrap().len(), 1);
        assert!(select(&objects, &t(w("api", "shop"), ResourceKind::Deployment)).is_none());
    }
}
