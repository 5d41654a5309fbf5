//! Display-only facts the TUI derives from the inventory: which bindings reach a service
//! account, label-selector matching for Services/NetworkPolicies, a coarse risk badge per RBAC
//! rule and whether an observed request falls under a rule. These exist so the browser can show
//! something before the guard modules answer; they never feed a recommendation or a verdict
//! (the engines and `guard::*` own the exact semantics and decide).
//!
//! Must not: be used outside `tui`, grant or judge anything.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{PolicyRule, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::model::{ApiRequest, Inventory, Severity, Subject};

/// A binding that reaches a service account, resolved to its role's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundRole {
    /// `RoleBinding ns/name` or `ClusterRoleBinding name`.
    pub binding: String,
    /// `Role ns/name` or `ClusterRole name`.
    pub role: String,
    /// Rules of the role (empty when the role is not in the inventory).
    pub rules: Vec<PolicyRule>,
    pub role_found: bool,
    /// How the subject matched: `ServiceAccount`, or the implicit group name.
    pub via: String,
}

fn subject_matches(s: &RbacSubject, binding_ns: Option<&str>, sa_ns: &str, sa: &str) -> Option<String> {
    match s.kind.as_str() {
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().or(binding_ns).unwrap_or("");
            (ns == sa_ns && s.name == sa).then(|| "ServiceAccount".to_string())
        }
        "Group" => {
            let subject = Subject::ServiceAccount { namespace: sa_ns.to_string(), name: sa.to_string() };
            subject.implicit_groups().into_iter().find(|g| *g == s.name).map(|g| format!("group {g}"))
        }
        "User" => (s.name == format!("system:serviceaccount:{sa_ns}:{sa}")).then(|| "username".to_string()),
        _ => None,
    }
}

/// Index of bindings by the service accounts they reach, built once per snapshot.
pub struct BindingIndex<'a> {
    inv: &'a Inventory,
    /// (namespace, sa) → bindings naming it directly; groups are checked per lookup.
    direct: BTreeMap<(String, String), Vec<BoundRole>>,
    group_bindings: Vec<(Option<String>, BoundRole, Vec<RbacSubject>)>,
}

impl<'a> BindingIndex<'a> {
    pub fn new(inv: &'a Inventory) -> BindingIndex<'a> {
        let mut idx = BindingIndex { inv, direct: BTreeMap::new(), group_bindings: Vec::new() };
        let rb = inv.role_bindings.iter().map(|b| {
            let ns = b.object.metadata.namespace.clone();
            let name = b.object.metadata.name.clone().unwrap_or_default();
            (
                format!("RoleBinding {}/{}", ns.as_deref().unwrap_or(""), name),
                ns,
                &b.object.role_ref,
                &b.object.subjects,
            )
        });
        let crb = inv.cluster_role_bindings.iter().map(|b| {
            let name = b.object.metadata.name.clone().unwrap_or_default();
            (format!("ClusterRoleBinding {name}"), None, &b.object.role_ref, &b.object.subjects)
        });
        for (label, ns, role_ref, subjects) in rb.chain(crb) {
            let (role, rules, found) = idx.resolve_role(ns.as_deref(), &role_ref.kind, &role_ref.name);
            let subjects = subjects.clone().unwrap_or_default();
            let base = BoundRole { binding: label, role, rules, role_found: found, via: String::new() };
            let mut has_group = false;
            for s in &subjects {
                match s.kind.as_str() {
                    "ServiceAccount" => {
                        let sns = s.namespace.clone().or_else(|| ns.clone()).unwrap_or_default();
                        let mut b = base.clone();
                        b.via = "ServiceAccount".to_string();
                        idx.direct.entry((sns, s.name.clone())).or_default().push(b);
                    }
                    _ => has_group = true,
                }
            }
            if has_group {
                idx.group_bindings.push((ns, base, subjects));
            }
        }
        idx
    }

    fn resolve_role(&self, ns: Option<&str>, kind: &str, name: &str) -> (String, Vec<PolicyRule>, bool) {
        if kind == "Role" {
            let ns = ns.unwrap_or("");
            let found = self.inv.roles.iter().find(|r| {
                r.object.metadata.namespace.as_deref() == Some(ns) && r.object.metadata.name.as_deref() == Some(name)
            });
            (
                format!("Role {ns}/{name}"),
                found.and_then(|r| r.object.rules.clone()).unwrap_or_default(),
                found.is_some(),
            )
        } else {
            let found = self.inv.cluster_roles.iter().find(|r| r.object.metadata.name.as_deref() == Some(name));
            (
                format!("ClusterRole {name}"),
                found.and_then(|r| r.object.rules.clone()).unwrap_or_default(),
                found.is_some(),
            )
        }
    }

    /// Every binding reaching `ns/sa`, in inventory order.
    pub fn for_service_account(&self, ns: &str, sa: &str) -> Vec<BoundRole> {
        let mut out = self.direct.get(&(ns.to_string(), sa.to_string())).cloned().unwrap_or_default();
        for (bns, base, subjects) in &self.group_bindings {
            if let Some(via) = subjects
                .iter()
                .filter(|s| s.kind != "ServiceAccount")
                .find_map(|s| subject_matches(s, bns.as_deref(), ns, sa))
            {
                // a RoleBinding only grants inside its own namespace
                if bns.as_deref().is_some_and(|b| b != ns) {
                    continue;
                }
                let mut b = base.clone();
                b.via = via;
                out.push(b);
            }
        }
        out
    }
}

/// `matchLabels` and `matchExpressions` (In, NotIn, Exists, DoesNotExist) against labels.
/// An empty selector matches everything. Unknown operators match nothing.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    if let Some(ml) = &sel.match_labels
        && ml.iter().any(|(k, v)| labels.get(k) != Some(v))
    {
        return false;
    }
    sel.match_expressions.iter().flatten().all(|e| {
        let vals = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| vals.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !vals.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    })
}

fn has(list: &Option<Vec<String>>, item: &str) -> bool {
    list.as_ref().is_some_and(|l| l.iter().any(|x| x == item || x == "*"))
}

/// Coarse badge for one rule, for sorting and markers in the browser only.
pub fn rule_badge(rule: &PolicyRule) -> Severity {
    let verbs = &Some(rule.verbs.clone());
    let any_verb = rule.verbs.iter().any(|v| v == "*");
    let any_res = has(&rule.resources, "*");
    if (any_verb && any_res) || ["escalate", "bind", "impersonate"].iter().any(|v| has(verbs, v)) {
        return Severity::Critical;
    }
    let reads_secrets = has(&rule.resources, "secrets") && ["get", "list", "watch"].iter().any(|v| has(verbs, v));
    let writes = ["create", "update", "patch", "delete", "deletecollection"].iter().any(|v| has(verbs, v));
    let sensitive_write = [
        "pods",
        "pods/exec",
        "pods/attach",
        "rolebindings",
        "clusterrolebindings",
        "roles",
        "clusterroles",
        "nodes/proxy",
        "serviceaccounts/token",
    ]
    .iter()
    .any(|r| has(&rule.resources, r));
    if reads_secrets || (writes && sensitive_write) {
        return Severity::High;
    }
    if writes || any_verb {
        return Severity::Medium;
    }
    if rule.non_resource_urls.is_some() && rule.resources.is_none() {
        return Severity::Info;
    }
    Severity::Low
}

/// Whether an observed request falls under a rule (wildcards, subresources, names, URLs).
/// Used only to mark rules as "used" in the detail view.
pub fn rule_covers(rule: &PolicyRule, req: &ApiRequest) -> bool {
    let verbs = Some(rule.verbs.clone());
    if !has(&verbs, &req.verb) {
        return false;
    }
    if let Some(path) = &req.path {
        return rule
            .non_resource_urls
            .iter()
            .flatten()
            .any(|u| u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p)));
    }
    if !has(&rule.api_groups, &req.api_group) {
        return false;
    }
    let combined = req.combined_resource();
    let res_ok = rule.resources.iter().flatten().any(|r| {
        r == "*"
            || *r == combined
            || (req.subresource.is_empty() && *r == req.resource)
            || r.strip_prefix("*/").is_some_and(|s| s == req.subresource && !req.subresource.is_empty())
    });
    if !res_ok {
        return false;
    }
    match &rule.resource_names {
        Some(names) if !names.is_empty() => names.contains(&req.name),
        _ => true,
    }
}

pub fn severity_badge(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Critical) => "CRIT",
        Some(Severity::High) => "HIGH",
        Some(Severity::Medium) => "MED",
        Some(Severity::Low) => "LOW",
        Some(Severity::Info) => "INFO",
        None => "-",
    }
}

/// One-line text of a rule: `get,list core/pods [names: a]`.
pub fn rule_text(rule: &PolicyRule) -> String {
    let verbs = rule.verbs.join(",");
    if let Some(urls) = &rule.non_resource_urls
        && rule.resources.is_none()
    {
        return format!("{verbs} {}", urls.join(","));
    }
    let groups: Vec<String> =
        rule.api_groups.iter().flatten().map(|g| if g.is_empty() { "core".to_string() } else { g.clone() }).collect();
    let mut s = format!("{verbs} {}/{}", groups.join(","), rule.resources.clone().unwrap_or_default().join(","));
    if let Some(names) = rule.resource_names.as_ref().filter(|n| !n.is_empty()) {
        s.push_str(&format!(" [names: {}]", names.join(",")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn rule(verbs: &[&str], groups: &[&str], res: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
            resources: Some(res.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn selectors() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        assert!(selector_matches(&LabelSelector::default(), &labels));
        let sel = LabelSelector {
            match_labels: Some(labels.clone()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "DoesNotExist".into(),
                values: None,
            }]),
        };
        assert!(selector_matches(&sel, &labels));
        let sel = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: "NotIn".into(),
                values: Some(vec!["web".into()]),
            }]),
            ..Default::default()
        };
        assert!(!selector_matches(&sel, &labels));
    }

    #[test]
    fn badges_and_coverage() {
        assert_eq!(rule_badge(&rule(&["*"], &["*"], &["*"])), Severity::Critical);
        assert_eq!(rule_badge(&rule(&["get"], &[""], &["secrets"])), Severity::High);
        assert_eq!(rule_badge(&rule(&["delete"], &["apps"], &["deployments"])), Severity::Medium);
        assert_eq!(rule_badge(&rule(&["get", "list"], &[""], &["pods"])), Severity::Low);
        let r = rule(&["get"], &[""], &["pods", "pods/log"]);
        assert!(rule_covers(&r, &ApiRequest::resource("get", "", "pods", "log", "ns", "x")));
        assert!(!rule_covers(&r, &ApiRequest::resource("get", "", "pods", "exec", "ns", "x")));
        assert!(!rule_covers(&r, &ApiRequest::resource("list", "", "pods", "", "ns", "")));
        assert!(!rule_covers(&r, &ApiRequest::resource("get", "apps", "pods", "", "ns", "")));
    }
}
