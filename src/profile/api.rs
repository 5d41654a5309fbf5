//! Per-subject API usage from audit events: the distinct authorizer tuples that were allowed,
//! denied by RBAC, or rejected by admission, each with evidence; plus which bindings the API
//! server credited (`authorization.k8s.io/reason`).
//!
//! Implicit authorization checks that never appear as an audit verb are recorded here as
//! tuples of their own when the event shows them (see rbac.md §2.1): `create` for a
//! `patch`/`update` answered 201, `create` next to `get` on `pods/exec|attach|portforward`,
//! and `impersonate` on users/groups/serviceaccounts for the impersonator.
//!
//! Credited bindings are keyed `ClusterRoleBinding/<name>` or `RoleBinding/<namespace>/<name>`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{ApiRequest, Evidence, RequestOutcome, Subject, SubjectClass, Timestamp};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiProfile {
    /// Requests the authorizer allowed (including those answered 404/409/422...).
    #[serde(with = "crate::profile::flows::as_pairs")]
    pub allowed: BTreeMap<ApiRequest, Evidence>,
    /// Requests RBAC denied (403 / decision=forbid). Reported, never granted by default.
    #[serde(with = "crate::profile::flows::as_pairs")]
    pub denied: BTreeMap<ApiRequest, Evidence>,
    /// 403 with decision=allow: refused by admission or registry, not by RBAC.
    #[serde(with = "crate::profile::flows::as_pairs")]
    pub admission_rejected: BTreeMap<ApiRequest, Evidence>,
    /// Requests whose authorization outcome the log does not show (`RequestReceived` only, 401,
    /// 429 before authorization). Reported, never granted.
    #[serde(default, with = "crate::profile::flows::as_pairs")]
    pub unresolved: BTreeMap<ApiRequest, Evidence>,
    /// Bindings credited by the `authorization.k8s.io/reason` annotation, e.g.
    /// `ClusterRoleBinding/system:discovery`, with how often they were credited.
    pub credited_bindings: BTreeMap<String, Evidence>,
    /// Groups the API server reported for this subject (`system:masters`, OIDC groups...),
    /// union over all its requests.
    #[serde(default)]
    pub groups: BTreeSet<String>,
}

impl ApiProfile {
    pub fn merge(&mut self, other: ApiProfile) {
        merge_map(&mut self.allowed, other.allowed);
        merge_map(&mut self.denied, other.denied);
        merge_map(&mut self.admission_rejected, other.admission_rejected);
        merge_map(&mut self.unresolved, other.unresolved);
        merge_map(&mut self.credited_bindings, other.credited_bindings);
        self.groups.extend(other.groups);
    }

    /// Evidence map for one outcome.
    pub fn by_outcome(&self, outcome: RequestOutcome) -> &BTreeMap<ApiRequest, Evidence> {
        match outcome {
            RequestOutcome::Allowed => &self.allowed,
            RequestOutcome::Denied => &self.denied,
            RequestOutcome::AdmissionRejected => &self.admission_rejected,
            RequestOutcome::Unknown => &self.unresolved,
        }
    }

    /// Mutable evidence map for one outcome.
    pub fn by_outcome_mut(&mut self, outcome: RequestOutcome) -> &mut BTreeMap<ApiRequest, Evidence> {
        match outcome {
            RequestOutcome::Allowed => &mut self.allowed,
            RequestOutcome::Denied => &mut self.denied,
            RequestOutcome::AdmissionRejected => &mut self.admission_rejected,
            RequestOutcome::Unknown => &mut self.unresolved,
        }
    }

    pub fn total_requests(&self) -> u64 {
        self.allowed.values().map(|e| e.count).sum::<u64>()
            + self.denied.values().map(|e| e.count).sum::<u64>()
            + self.admission_rejected.values().map(|e| e.count).sum::<u64>()
            + self.unresolved.values().map(|e| e.count).sum::<u64>()
    }

    /// (first, last) over all evidence; zeros when empty.
    pub fn window(&self) -> (Timestamp, Timestamp) {
        let mut acc = Evidence::default();
        let all = self.allowed.values().chain(self.denied.values()).chain(self.admission_rejected.values());
        for e in all.chain(self.unresolved.values()) {
            acc.merge(e);
        }
        (acc.first_seen, acc.last_seen)
    }
}

/// Profiles of every subject seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiProfileSet {
    #[serde(with = "crate::profile::flows::as_pairs")]
    pub subjects: BTreeMap<Subject, ApiProfile>,
}

impl ApiProfileSet {
    pub fn merge(&mut self, other: ApiProfileSet) {
        for (subject, profile) in other.subjects {
            self.subjects.entry(subject).or_default().merge(profile);
        }
    }

    pub fn get(&self, subject: &Subject) -> Option<&ApiProfile> {
        self.subjects.get(subject)
    }

    /// Subjects of one class (e.g. only workload service accounts), in order.
    pub fn of_class(&self, class: SubjectClass) -> impl Iterator<Item = (&Subject, &ApiProfile)> + '_ {
        self.subjects.iter().filter(move |(s, _)| s.class() == class)
    }
}

/// Merge evidence maps key by key.
pub fn merge_map<K: Ord>(into: &mut BTreeMap<K, Evidence>, from: BTreeMap<K, Evidence>) {
    for (k, e) in from {
        match into.get_mut(&k) {
            Some(existing) => existing.merge(&e),
            None => {
                into.insert(k, e);
            }
        }
    }
}
