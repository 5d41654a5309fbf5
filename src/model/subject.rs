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
}
