//! What exists in the cluster (from manifests or a live cluster): workloads, service accounts,
//! RBAC objects, NetworkPolicies, Services, Namespaces. Objects are the typed k8s-openapi values
//! plus where they came from, so refine can keep names, labels and annotations and the TUI can
//! show the original document.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Namespace, PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Serialize};

/// Where an object was read from: a file and the 1-based line its document starts on, or a
/// cluster (`path` = `cluster:<context>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct ManifestOrigin {
    pub path: String,
    pub line: usize,
    /// 0-based index of the document in a multi-document file (or of the item in a List).
    pub document: usize,
}

impl fmt::Display for ManifestOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.line)
    }
}

/// An object with its origin and its raw JSON form (exactly as read, for diffs and refine).
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub object: T,
    pub origin: ManifestOrigin,
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
    Pod,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Pod => "Pod",
        }
    }

    pub fn parse(kind: &str) -> Option<WorkloadKind> {
        Some(match kind {
            "Deployment" => WorkloadKind::Deployment,
            "StatefulSet" => WorkloadKind::StatefulSet,
            "DaemonSet" => WorkloadKind::DaemonSet,
            "ReplicaSet" => WorkloadKind::ReplicaSet,
            "Job" => WorkloadKind::Job,
            "CronJob" => WorkloadKind::CronJob,
            "Pod" => WorkloadKind::Pod,
            _ => return None,
        })
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity of a workload: namespace, kind, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkloadRef {
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A workload with what every engine needs: its service account, its pod template and selector.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub id: WorkloadRef,
    /// Effective service account name (`default` when the pod spec sets none).
    pub service_account: String,
    /// Pod template (for a bare Pod: its metadata and spec).
    pub template: PodTemplateSpec,
    /// `spec.selector` (for a bare Pod / when absent: matchLabels = template labels).
    pub selector: LabelSelector,
    pub origin: ManifestOrigin,
    /// The whole object as read.
    pub raw: serde_json::Value,
}

/// Everything that exists. Vectors are kept sorted by (namespace, name) after loading so
/// iteration order, and therefore output, is deterministic.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub workloads: Vec<Workload>,
    pub service_accounts: Vec<Sourced<ServiceAccount>>,
    pub roles: Vec<Sourced<Role>>,
    pub cluster_roles: Vec<Sourced<ClusterRole>>,
    pub role_bindings: Vec<Sourced<RoleBinding>>,
    pub cluster_role_bindings: Vec<Sourced<ClusterRoleBinding>>,
    pub network_policies: Vec<Sourced<NetworkPolicy>>,
    pub services: Vec<Sourced<Service>>,
    pub namespaces: Vec<Sourced<Namespace>>,
    /// Objects of kinds we do not model (kept, counted, ignored): (apiVersion/kind, origin).
    pub other: Vec<(String, ManifestOrigin)>,
}

impl Inventory {
    /// Workloads running as the given service account.
    pub fn workloads_for_service_account<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Workload> + 'a {
        self.workloads.iter().filter(move |w| w.id.namespace == namespace && w.service_account == name)
    }

    pub fn workload(&self, id: &WorkloadRef) -> Option<&Workload> {
        self.workloads.iter().find(|w| &w.id == id)
    }

    /// Labels of a namespace (always including `kubernetes.io/metadata.name`).
    pub fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        let mut labels = self
            .namespaces
            .iter()
            .find(|n| n.object.metadata.name.as_deref() == Some(namespace))
            .and_then(|n| n.object.metadata.labels.clone())
            .unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".to_string(), namespace.to_string());
        labels
    }

    /// All namespaces mentioned anywhere in the inventory, sorted.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut set = std::collections::BTreeSet::new();
        for n in &self.namespaces {
            if let Some(name) = &n.object.metadata.name {
                set.insert(name.clone());
            }
        }
        for w in &self.workloads {
            set.insert(w.id.namespace.clone());
        }
        set.into_iter().collect()
    }
}

/// Turn arbitrary text into a valid DNS-1123 label-ish name (lower-case alnum and '-', ≤ 63).
pub fn dns_label(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut last_dash = false;
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
            last_dash = false;
        } else if !last_dash {
            out.push('-');
            last_dash = true;
        }
    }
    let trimmed = out.trim_matches('-');
    let mut s: String = trimmed.chars().take(63).collect();
    while s.ends_with('-') {
        s.pop();
    }
    if s.is_empty() { "x".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_label_is_valid() {
        assert_eq!(dns_label("sa-kube-system-Generic_GC"), "sa-kube-system-generic-gc");
        assert_eq!(dns_label("::"), "x");
        assert!(dns_label(&"a".repeat(100)).len() <= 63);
    }
}
