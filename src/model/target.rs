//! What an engine is asked to do: create or refine one resource kind for one workload/subject.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::{Subject, WorkloadRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// The workload has none: produce a least-privilege resource from the evidence.
    Create,
    /// Tighten the existing resource to what the evidence supports.
    Refine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    /// Roles / ClusterRoles and their bindings.
    Role,
    /// networking.k8s.io/v1 NetworkPolicies.
    #[value(name = "networkpolicy", alias = "netpol")]
    NetworkPolicy,
    /// Hardened workload spec (securityContext, token automount, resources).
    #[value(alias = "deploy")]
    Deployment,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Create => "create",
            Task::Refine => "refine",
        })
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Role => "role",
            ResourceKind::NetworkPolicy => "networkpolicy",
            ResourceKind::Deployment => "deployment",
        })
    }
}

/// Who the recommendation is for. RBAC works per subject (a service account is shared by the
/// workloads that run as it; users have no workload); network and deployment work per workload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "scope")]
pub enum TargetScope {
    Subject(Subject),
    Workload(WorkloadRef),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    pub scope: TargetScope,
    pub kind: ResourceKind,
    pub task: Task,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            TargetScope::Subject(s) => write!(f, "{} {} for {}", self.task, self.kind, s),
            TargetScope::Workload(w) => write!(f, "{} {} for {}", self.task, self.kind, w),
        }
    }
}
