//! One authorized API request as RBAC sees it: the attributes the authorizer matches on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The distinct tuple kept per subject in the profile. For resource requests `path` is `None`;
/// for non-resource requests `path` holds the URL without query string and the resource fields
/// are empty. `api_group` is `""` for the core group (never `"core"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ApiRequest {
    pub verb: String,
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub subresource: String,
    /// `""` for cluster-scoped resources and cross-namespace list/watch.
    #[serde(default)]
    pub namespace: String,
    /// `""` when the request names no object.
    #[serde(default)]
    pub name: String,
    /// Non-resource URL (`/healthz`), query string stripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl ApiRequest {
    pub fn resource(
        verb: &str,
        api_group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        ApiRequest {
            verb: verb.to_string(),
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            subresource: subresource.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            path: None,
        }
    }

    pub fn non_resource(verb: &str, path: &str) -> Self {
        ApiRequest {
            verb: verb.to_string(),
            api_group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: Some(path.to_string()),
        }
    }

    pub fn is_resource_request(&self) -> bool {
        self.path.is_none()
    }

    /// `resource` or `resource/subresource`, as RBAC rules spell it.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

impl fmt::Display for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            return write!(f, "{} {}", self.verb, p);
        }
        let group = if self.api_group.is_empty() { "core" } else { &self.api_group };
        write!(f, "{} {}/{}", self.verb, group, self.combined_resource())?;
        if !self.namespace.is_empty() {
            write!(f, " in {}", self.namespace)?;
        }
        if !self.name.is_empty() {
            write!(f, " name={}", self.name)?;
        }
        Ok(())
    }
}

/// How the API server answered, grouped the way RBAC generation cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RequestOutcome {
    /// Authorized (2xx/3xx, or 404/409/422 etc.: the authorizer said yes).
    Allowed,
    /// RBAC said no (`authorization.k8s.io/decision=forbid`, or 403 without an allow decision).
    Denied,
    /// 403 with `decision=allow`: admission or registry refused (escalation check, PSA, webhook).
    AdmissionRejected,
    /// 401 or no decision available (e.g. RequestReceived only).
    Unknown,
}
