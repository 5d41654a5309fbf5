//! Per-subject API usage from audit events: the distinct authorizer tuples that were allowed,
//! denied by RBAC, or rejected by admission, each with evidence; plus which bindings the API
//! server credited (`authorization.k8s.io/reason`).
//!
//! Implicit authorization checks that never appear as an audit verb are recorded here as
//! tuples of their own when the event shows them (see rbac.md §2.1): `create` for a
//! `patch`/`update` answered 201, `create` next to `get` on `pods/exec|attach|portforward`,
//! and `impersonate` on users/groups/serviceaccounts for the impersonator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ApiRequest, Evidence, Subject, Timestamp};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiProfile {
    /// Requests the authorizer allowed (including those answered 404/409/422...).
    pub allowed: BTreeMap<ApiRequest, Evidence>,
    /// Requests RBAC denied (403 / decision=forbid). Reported, never granted by default.
    pub denied: BTreeMap<ApiRequest, Evidence>,
    /// 403 with decision=allow: refused by admission or registry, not by RBAC.
    pub admission_rejected: BTreeMap<ApiRequest, Evidence>,
    /// Bindings credited by the `authorization.k8s.io/reason` annotation, e.g.
    /// `ClusterRoleBinding/system:discovery`, with how often they were credited.
    pub credited_bindings: BTreeMap<String, Evidence>,
}

impl ApiProfile {
    pub fn merge(&mut self, other: ApiProfile) {
        merge_map(&mut self.allowed, other.allowed);
        merge_map(&mut self.denied, other.denied);
        merge_map(&mut self.admission_rejected, other.admission_rejected);
        merge_map(&mut self.credited_bindings, other.credited_bindings);
    }

    pub fn total_requests(&self) -> u64 {
        self.allowed.values().map(|e| e.count).sum::<u64>()
            + self.denied.values().map(|e| e.count).sum::<u64>()
            + self.admission_rejected.values().map(|e| e.count).sum::<u64>()
    }

    /// (first, last) over all evidence; zeros when empty.
    pub fn window(&self) -> (Timestamp, Timestamp) {
        let mut acc = Evidence::default();
        for e in self.allowed.values().chain(self.denied.values()).chain(self.admission_rejected.values()) {
            acc.merge(e);
        }
        (acc.first_seen, acc.last_seen)
    }
}

/// Profiles of every subject seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiProfileSet {
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
