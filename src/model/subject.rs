//! Who made a request: a service account, a user or a group (RBAC subject kinds).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Subject {
    ServiceAccount { namespace: String, name: String },
    User { name: String },
    Group { name: String },
}

impl Subject {
    /// Parse an authenticated username. `system:serviceaccount:<ns>:<name>` becomes a service
    /// account (both parts non-empty, no further colons); anything else is a user.
    pub fn from_username(username: &str) -> Subject {
        if let Some(rest) = username.strip_prefix("system:serviceaccount:") {
            let mut parts = rest.splitn(2, ':');
            if let (Some(ns), Some(name)) = (parts.next(), parts.next())
                && !ns.is_empty()
                && !name.is_empty()
                && !name.contains(':')
            {
                return Subject::ServiceAccount { namespace: ns.to_string(), name: name.to_string() };
            }
        }
        Subject::User { name: username.to_string() }
    }

    /// The username the API server sees for this subject (groups have none).
    pub fn username(&self) -> Option<String> {
        match self {
            Subject::ServiceAccount { namespace, name } => Some(format!("system:serviceaccount:{namespace}:{name}")),
            Subject::User { name } => Some(name.clone()),
            Subject::Group { .. } => None,
        }
    }

    /// Groups this subject is implicitly a member of (`system:authenticated`, SA groups).
    pub fn implicit_groups(&self) -> Vec<String> {
        match self {
            Subject::ServiceAccount { namespace, .. } => vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_string(),
            ],
            Subject::User { name } if name == "system:anonymous" => vec!["system:unauthenticated".to_string()],
            Subject::User { .. } => vec!["system:authenticated".to_string()],
            Subject::Group { .. } => Vec::new(),
        }
    }

    /// Short stable slug for file and object names: `sa-<ns>-<name>`, `user-<name>`, `group-<name>`.
    pub fn slug(&self) -> String {
        let raw = match self {
            Subject::ServiceAccount { namespace, name } => format!("sa-{namespace}-{name}"),
            Subject::User { name } => format!("user-{name}"),
            Subject::Group { name } => format!("group-{name}"),
        };
        crate::model::inventory::dns_label(&raw)
    }
}

/// What kind of identity a subject is, so faces and engines can filter out the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SubjectClass {
    /// A service account outside the control plane: an application workload.
    WorkloadServiceAccount,
    /// A person or an external system authenticated as a user (or a group of them).
    Human,
    /// Kubelets: `system:node:<name>`.
    Node,
    /// API server, scheduler, controller manager, kube-proxy, other `system:` users, and the
    /// controller-manager's per-controller service accounts in `kube-system`.
    ControlPlane,
    /// `system:anonymous`.
    Anonymous,
}

/// Service accounts kube-controller-manager uses per controller
/// (`--use-service-account-credentials`), as named by the bootstrap `system:controller:*` roles.
const CONTROLLER_SERVICE_ACCOUNTS: &[&str] = &[
    "attachdetach-controller",
    "bootstrap-signer",
    "certificate-controller",
    "clusterrole-aggregation-controller",
    "cronjob-controller",
    "daemon-set-controller",
    "deployment-controller",
    "disruption-controller",
    "endpoint-controller",
    "endpointslice-controller",
    "endpointslicemirroring-controller",
    "ephemeral-volume-controller",
    "expand-controller",
    "generic-garbage-collector",
    "horizontal-pod-autoscaler",
    "job-controller",
    "legacy-service-account-token-cleaner",
    "namespace-controller",
    "node-controller",
    "persistent-volume-binder",
    "pod-garbage-collector",
    "pv-protection-controller",
    "pvc-protection-controller",
    "replicaset-controller",
    "replication-controller",
    "resource-claim-controller",
    "resourcequota-controller",
    "root-ca-cert-publisher",
    "route-controller",
    "selinux-warning-controller",
    "service-account-controller",
    "service-cidrs-controller",
    "service-controller",
    "statefulset-controller",
    "token-cleaner",
    "ttl-after-finished-controller",
    "ttl-controller",
    "validatingadmissionpolicy-status-controller",
    "volumeattributesclass-protection-controller",
];

impl Subject {
    /// Classify the identity. Every non-service-account username under `system:` belongs to the
    /// platform (nodes, control plane, anonymous); everything else is human.
    pub fn class(&self) -> SubjectClass {
        match self {
            Subject::ServiceAccount { namespace, name } => {
                if namespace == "kube-system" && CONTROLLER_SERVICE_ACCOUNTS.contains(&name.as_str()) {
                    SubjectClass::ControlPlane
                } else {
                    SubjectClass::WorkloadServiceAccount
                }
            }
            Subject::User { name } => {
                if name == "system:anonymous" {
                    SubjectClass::Anonymous
                } else if name.starts_with("system:node:") {
                    SubjectClass::Node
                } else if name.starts_with("system:") {
                    SubjectClass::ControlPlane
                } else {
                    SubjectClass::Human
                }
            }
            Subject::Group { name } => {
                if name == "system:nodes" {
                    SubjectClass::Node
                } else if name == "system:unauthenticated" {
                    SubjectClass::Anonymous
                } else if name.starts_with("system:") {
                    SubjectClass::ControlPlane
                } else {
                    SubjectClass::Human
                }
            }
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::ServiceAccount { namespace, name } => write!(f, "ServiceAccount {namespace}/{name}"),
            Subject::User { name } => write!(f, "User {name}"),
            Subject::Group { name } => write!(f, "Group {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_service_accounts_and_rejects_malformed() {
        assert_eq!(
            Subject::from_username("system:serviceaccount:kube-system:generic-garbage-collector"),
            Subject::ServiceAccount { namespace: "kube-system".into(), name: "generic-garbage-collector".into() }
        );
        assert_eq!(
            Subject::from_username("system:serviceaccount:ns:"),
            Subject::User { name: "system:serviceaccount:ns:".into() }
        );
        assert_eq!(Subject::from_username("alice"), Subject::User { name: "alice".into() });
    }

    #[test]
    fn classifies_identities() {
        let class = |u: &str| Subject::from_username(u).class();
        assert_eq!(class("system:serviceaccount:shop:cart"), SubjectClass::WorkloadServiceAccount);
        assert_eq!(class("system:serviceaccount:kube-system:coredns"), SubjectClass::WorkloadServiceAccount);
        assert_eq!(class("system:serviceaccount:kube-system:replicaset-controller"), SubjectClass::ControlPlane);
        assert_eq!(class("system:serviceaccount:shop:replicaset-controller"), SubjectClass::WorkloadServiceAccount);
        assert_eq!(class("system:node:worker-1"), SubjectClass::Node);
        assert_eq!(class("system:kube-scheduler"), SubjectClass::ControlPlane);
        assert_eq!(class("system:apiserver"), SubjectClass::ControlPlane);
        assert_eq!(class("system:anonymous"), SubjectClass::Anonymous);
        assert_eq!(class("system:serviceaccount:ns:"), SubjectClass::ControlPlane);
        assert_eq!(class("alice@example.com"), SubjectClass::Human);
        assert_eq!(class("admin"), SubjectClass::Human);
    }
}
