//! RBAC risk findings with stable rule IDs (rbac.md §6), evaluated on each rule in the context
//! of the binding that grants it: the same rule is one level worse when it is effective
//! cluster-wide (ClusterRoleBinding) or in `kube-system`, and one level milder when restricted
//! to `resourceNames`. Binding-level findings cover anonymous and broad implicit-group subjects.
//!
//! Owns: the risk catalogue (`RULES`, `BINDING_RULES`) and its evaluation. Must not: decide
//! what to grant or repair (that is `guard::rbac` / `synth::rbac`), or do I/O.

use serde_json::Value;

use super::rbac::{
    BindingObj, Perm, Policy, RoleKind, RoleObj, Rule, SubjectRef, group_matches, parse_objects, resource_matches,
    verb_matches,
};
use crate::model::{Finding, Severity};

/// Where a rule is effective: a namespace, or cluster-wide (`None`).
pub type Scope<'a> = Option<&'a str>;

/// One risk check over a single rule.
pub struct RiskRule {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub matches: fn(&Rule, Scope<'_>) -> bool,
}

/// One risk check over a binding's subjects (the role must grant something).
pub struct BindingRisk {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub matches: fn(&SubjectRef) -> bool,
}

/// Does the rule grant any of `verbs` on any of `resources` (`res` or `res/sub`) in `group`?
/// Names are ignored: a name-restricted grant is still that grant (severity is lowered).
fn grants(rule: &Rule, verbs: &[&str], group: &str, resources: &[&str]) -> bool {
    !rule.is_non_resource()
        && verbs.iter().any(|v| verb_matches(rule, v))
        && group_matches(rule, group)
        && resources.iter().any(|r| {
            let (res, sub) = r.split_once('/').unwrap_or((r, ""));
            resource_matches(rule, res, sub)
        })
}

const WRITE: &[&str] = &["create", "update", "patch", "delete"];

fn is_wildcard_all(r: &Rule, _: Scope<'_>) -> bool {
    !r.is_non_resource()
        && r.verbs.iter().any(|v| v == "*")
        && r.api_groups.iter().any(|g| g == "*")
        && r.resources.iter().any(|x| x == "*")
}

pub static RULES: &[RiskRule] = &[
    RiskRule {
        id: "KG-RBAC-WILDCARD-ALL",
        severity: Severity::Critical,
        title: "all verbs on all resources in all API groups (cluster-admin equivalent in scope)",
        matches: is_wildcard_all,
    },
    RiskRule {
        id: "KG-RBAC-WILDCARD-VERB",
        severity: Severity::High,
        title: "wildcard verb `*` (includes escalate, bind, impersonate and future verbs)",
        matches: |r, _| r.verbs.iter().any(|v| v == "*") && !r.is_non_resource(),
    },
    RiskRule {
        id: "KG-RBAC-WILDCARD-RESOURCE",
        severity: Severity::High,
        title: "wildcard resource `*` (every resource and subresource, including secrets and future ones)",
        matches: |r, _| !r.is_non_resource() && r.resources.iter().any(|x| x == "*"),
    },
    RiskRule {
        id: "KG-RBAC-WILDCARD-GROUP",
        severity: Severity::Medium,
        title: "wildcard API group `*` (same resource name in every group, including CRDs added later)",
        matches: |r, _| !r.is_non_resource() && r.api_groups.iter().any(|g| g == "*"),
    },
    RiskRule {
        id: "KG-RBAC-WILDCARD-NONRESOURCE",
        severity: Severity::Medium,
        title: "wildcard non-resource URL `*` or wildcard verb on URLs",
        matches: |r, _| {
            r.is_non_resource() && (r.non_resource_urls.iter().any(|u| u == "*") || r.verbs.iter().any(|v| v == "*"))
        },
    },
    RiskRule {
        id: "KG-RBAC-SECRETS-READ",
        severity: Severity::High,
        title: "reads Secrets (get, or list/watch which return their contents)",
        matches: |r, _| grants(r, &["get", "list", "watch"], "", &["secrets"]),
    },
    RiskRule {
        id: "KG-RBAC-POD-EXEC",
        severity: Severity::High,
        title: "exec/attach into pods (get before 1.35, create)",
        matches: |r, _| grants(r, &["create", "get"], "", &["pods/exec", "pods/attach"]),
    },
    RiskRule {
        id: "KG-RBAC-POD-PORTFORWARD",
        severity: Severity::Medium,
        title: "port-forward to pods",
        matches: |r, _| grants(r, &["create", "get"], "", &["pods/portforward"]),
    },
    RiskRule {
        id: "KG-RBAC-EPHEMERAL-CONTAINERS",
        severity: Severity::High,
        title: "add ephemeral (debug) containers to running pods",
        matches: |r, _| grants(r, &["patch", "update"], "", &["pods/ephemeralcontainers"]),
    },
    RiskRule {
        id: "KG-RBAC-NODES-PROXY",
        severity: Severity::Critical,
        title: "kubelet API access through nodes/proxy (exec in any pod on the node)",
        matches: |r, _| grants(r, &["get", "create"], "", &["nodes/proxy"]),
    },
    RiskRule {
        id: "KG-RBAC-WORKLOAD-CREATE",
        severity: Severity::Medium,
        title: "creates or changes workloads (can run any image as any service account in scope, mount hostPath)",
        matches: |r, _| {
            grants(r, &["create"], "", &["pods"])
                || grants(r, &["create", "update", "patch"], "", &["replicationcontrollers"])
                || grants(
                    r,
                    &["create", "update", "patch"],
                    "apps",
                    &["deployments", "daemonsets", "statefulsets", "replicasets"],
                )
                || grants(r, &["create", "update", "patch"], "batch", &["jobs", "cronjobs"])
        },
    },
    RiskRule {
        id: "KG-RBAC-ESCALATE-BIND",
        severity: Severity::Critical,
        title: "escalate or bind on roles (grant permissions the holder does not have)",
        matches: |r, _| grants(r, &["escalate", "bind"], "rbac.authorization.k8s.io", &["roles", "clusterroles"]),
    },
    RiskRule {
        id: "KG-RBAC-RBAC-WRITE",
        severity: Severity::High,
        title: "writes RBAC roles or bindings",
        matches: |r, _| {
            grants(
                r,
                &["create", "update", "patch"],
                "rbac.authorization.k8s.io",
                &["roles", "clusterroles", "rolebindings", "clusterrolebindings"],
            )
        },
    },
    RiskRule {
        id: "KG-RBAC-IMPERSONATE",
        severity: Severity::Critical,
        title: "impersonates users, groups, service accounts, uids or user extras",
        matches: |r, _| {
            grants(r, &["impersonate"], "", &["users", "groups", "serviceaccounts"])
                || grants(r, &["impersonate"], "authentication.k8s.io", &["uids", "userextras", "userextras/scopes"])
                || (verb_matches(r, "impersonate") && r.resources.iter().any(|x| x.starts_with("userextras")))
        },
    },
    RiskRule {
        id: "KG-RBAC-TOKEN-CREATE",
        severity: Severity::High,
        title: "mints service-account tokens (TokenRequest or legacy token Secrets)",
        matches: |r, _| {
            grants(r, &["create"], "", &["serviceaccounts/token"])
                || grants(r, &["create", "update", "patch"], "", &["secrets"])
        },
    },
    RiskRule {
        id: "KG-RBAC-CSR-APPROVE",
        severity: Severity::High,
        title: "approves certificate signing requests (issue client certificates)",
        matches: |r, _| {
            grants(r, &["update", "patch"], "certificates.k8s.io", &["certificatesigningrequests/approval"])
                || grants(r, &["approve", "sign"], "certificates.k8s.io", &["signers"])
        },
    },
    RiskRule {
        id: "KG-RBAC-WEBHOOK-CONFIG",
        severity: Severity::High,
        title: "changes admission webhooks or policies (intercept or disable admission control)",
        matches: |r, _| {
            grants(
                r,
                WRITE,
                "admissionregistration.k8s.io",
                &[
                    "mutatingwebhookconfigurations",
                    "validatingwebhookconfigurations",
                    "validatingadmissionpolicies",
                    "validatingadmissionpolicybindings",
                    "mutatingadmissionpolicies",
                    "mutatingadmissionpolicybindings",
                ],
            )
        },
    },
    RiskRule {
        id: "KG-RBAC-CRD-WRITE",
        severity: Severity::Medium,
        title: "creates or changes CustomResourceDefinitions (extends the API)",
        matches: |r, _| grants(r, WRITE, "apiextensions.k8s.io", &["customresourcedefinitions"]),
    },
    RiskRule {
        id: "KG-RBAC-STORAGE-WRITE",
        severity: Severity::Medium,
        title: "creates PersistentVolumes or StorageClasses (hostPath volumes, node filesystem access)",
        matches: |r, _| {
            grants(r, &["create", "update", "patch"], "", &["persistentvolumes"])
                || grants(r, &["create", "update", "patch"], "storage.k8s.io", &["storageclasses"])
        },
    },
    RiskRule {
        id: "KG-RBAC-NETWORK-WRITE",
        severity: Severity::Low,
        title: "changes Services, Endpoints, EndpointSlices, NetworkPolicies or Ingresses (traffic redirection)",
        matches: |r, _| {
            grants(r, WRITE, "", &["services", "endpoints"])
                || grants(r, WRITE, "discovery.k8s.io", &["endpointslices"])
                || grants(r, WRITE, "networking.k8s.io", &["networkpolicies", "ingresses"])
        },
    },
    RiskRule {
        id: "KG-RBAC-STATUS-WRITE",
        severity: Severity::Medium,
        title: "writes node, pod or service status (status spoofing, CVE-2020-8554 MITM)",
        matches: |r, _| grants(r, &["update", "patch"], "", &["nodes/status", "pods/status", "services/status"]),
    },
    RiskRule {
        id: "KG-RBAC-NODE-WRITE",
        severity: Severity::Medium,
        title: "changes or deletes nodes (cordon, taint: steal workloads)",
        matches: |r, _| grants(r, &["update", "patch", "delete"], "", &["nodes"]),
    },
    RiskRule {
        id: "KG-RBAC-DELETE-ANY",
        severity: Severity::High,
        title: "deletes any resource",
        matches: |r, _| {
            !r.is_non_resource()
                && (verb_matches(r, "delete") || verb_matches(r, "deletecollection"))
                && r.resources.iter().any(|x| x == "*")
        },
    },
    RiskRule {
        id: "KG-RBAC-EVENTS-DELETE",
        severity: Severity::Low,
        title: "deletes Events (covers tracks)",
        matches: |r, _| {
            grants(r, &["delete", "deletecollection"], "", &["events"])
                || grants(r, &["delete", "deletecollection"], "events.k8s.io", &["events"])
        },
    },
    RiskRule {
        id: "KG-RBAC-KUBE-SYSTEM-CONFIGMAP-WRITE",
        severity: Severity::High,
        title: "writes ConfigMaps in kube-system (EKS aws-auth, kubeadm and CoreDNS config)",
        matches: |r, scope| {
            scope.is_none_or(|ns| ns == "kube-system") && grants(r, &["create", "update", "patch"], "", &["configmaps"])
        },
    },
];

fn is_anonymous(s: &SubjectRef) -> bool {
    matches!(s, SubjectRef::User(n) if n == "system:anonymous")
        || matches!(s, SubjectRef::Group(g) if g == "system:unauthenticated")
}

pub static BINDING_RULES: &[BindingRisk] = &[
    BindingRisk {
        id: "KG-RBAC-ANONYMOUS-BINDING",
        severity: Severity::Critical,
        title: "grants permissions to anonymous / unauthenticated requests",
        matches: is_anonymous,
    },
    BindingRisk {
        id: "KG-RBAC-BROAD-GROUP-BINDING",
        severity: Severity::High,
        title: "grants permissions to every authenticated identity or every service account",
        matches: |s| {
            matches!(s, SubjectRef::Group(g) if g == "system:authenticated"
                || g == "system:serviceaccounts"
                || g.starts_with("system:serviceaccounts:"))
        },
    },
    BindingRisk {
        id: "KG-RBAC-MASTERS-BINDING",
        severity: Severity::Medium,
        title: "binds the system:masters group (superuser; RBAC never consulted, the binding is meaningless)",
        matches: |s| matches!(s, SubjectRef::Group(g) if g == "system:masters"),
    },
];

fn bump(s: Severity) -> Severity {
    match s {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

fn lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium => Severity::Low,
        Severity::Low | Severity::Info => Severity::Info,
    }
}

/// Severity of a risk in context: +1 cluster-wide or in kube-system, −1 when name-restricted.
pub fn contextual(base: Severity, rule: &Rule, scope: Scope<'_>) -> Severity {
    let mut s = base;
    if scope.is_none_or(|ns| ns == "kube-system") {
        s = bump(s);
    }
    if !rule.resource_names.is_empty() {
        s = lower(s);
    }
    s
}

/// Risk findings of one rule in one scope, most specific first. A rule granting everything
/// reports only `KG-RBAC-WILDCARD-ALL` (every specific category is implied).
pub fn rule_findings(rule: &Rule, scope: Scope<'_>) -> Vec<(&'static RiskRule, Severity)> {
    let all = RULES.iter().find(|r| r.id == "KG-RBAC-WILDCARD-ALL");
    if let Some(all) = all
        && (all.matches)(rule, scope)
    {
        return vec![(all, contextual(all.severity, rule, scope))];
    }
    RULES.iter().filter(|r| (r.matches)(rule, scope)).map(|r| (r, contextual(r.severity, rule, scope))).collect()
}

/// Highest risk of one atomic permission in a scope (`Info` when no rule matches).
pub fn perm_severity(perm: &Perm, scope: Scope<'_>) -> (Severity, Vec<&'static str>) {
    let rule = perm.to_rule();
    let found = rule_findings(&rule, scope);
    let sev = found.iter().map(|(_, s)| *s).max().unwrap_or(Severity::Info);
    (sev, found.iter().map(|(r, _)| r.id).collect())
}

fn role_label(role: &RoleObj) -> String {
    match role.kind {
        RoleKind::ClusterRole => format!("ClusterRole/{}", role.name),
        RoleKind::Role => format!("Role/{}/{}", role.namespace, role.name),
    }
}

fn binding_scope(b: &BindingObj) -> Scope<'_> {
    if b.scope().is_empty() { None } else { Some(b.scope()) }
}

/// Findings for a whole policy: every rule of every bound role in its binding's scope, every
/// unbound role in its own scope (Role: its namespace; ClusterRole: as if bound cluster-wide is
/// not assumed — evaluated at base severity), and binding-level subject risks. Sorted, deduped.
pub fn assess_policy(policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut bound = std::collections::BTreeSet::new();
    for b in &policy.bindings {
        let Some(role) = policy.role_of(b) else { continue };
        bound.insert(role.key());
        let scope = binding_scope(b);
        for (i, rule) in role.rules.iter().enumerate() {
            for (risk, sev) in rule_findings(rule, scope) {
                out.push(Finding {
                    rule_id: risk.id.to_string(),
                    severity: sev,
                    subject: format!("{} rules[{i}] via {}", role_label(role), b.label()),
                    message: format!("{}: {rule}", risk.title),
                });
            }
        }
        if !role.rules.is_empty() {
            for s in &b.subjects {
                for risk in BINDING_RULES.iter().filter(|r| (r.matches)(s)) {
                    out.push(Finding {
                        rule_id: risk.id.to_string(),
                        severity: risk.severity,
                        subject: format!("{} to {}", b.label(), role_label(role)),
                        message: format!("{}: subject {s}", risk.title),
                    });
                }
            }
        }
    }
    for role in &policy.roles {
        if bound.contains(&role.key()) {
            continue;
        }
        let scope = match role.kind {
            RoleKind::Role => Some(role.namespace.as_str()),
            RoleKind::ClusterRole => Some(""),
        };
        for (i, rule) in role.rules.iter().enumerate() {
            for (risk, sev) in rule_findings(rule, scope) {
                out.push(Finding {
                    rule_id: risk.id.to_string(),
                    severity: sev,
                    subject: format!("{} rules[{i}] (not bound)", role_label(role)),
                    message: format!("{}: {rule}", risk.title),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `assess_policy` over JSON objects (invalid parts are skipped; validation reports them).
pub fn assess_values(values: &[Value]) -> Vec<Finding> {
    assess_policy(&parse_objects(values, true).policy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Rule {
        Rule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            api_groups: groups.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            ..Rule::default()
        }
    }

    /// An example that must fire each rule, and the namespace it is evaluated in.
    fn examples() -> BTreeMap<&'static str, (Rule, Scope<'static>)> {
        let urls = Rule { verbs: vec!["get".into()], non_resource_urls: vec!["*".into()], ..Rule::default() };
        BTreeMap::from([
            ("KG-RBAC-WILDCARD-ALL", (rule(&["*"], &["*"], &["*"]), Some("app"))),
            ("KG-RBAC-WILDCARD-VERB", (rule(&["*"], &["apps"], &["deployments"]), Some("app"))),
            ("KG-RBAC-WILDCARD-RESOURCE", (rule(&["get"], &[""], &["*"]), Some("app"))),
            ("KG-RBAC-WILDCARD-GROUP", (rule(&["get"], &["*"], &["pods"]), Some("app"))),
            ("KG-RBAC-WILDCARD-NONRESOURCE", (urls, None)),
            ("KG-RBAC-SECRETS-READ", (rule(&["watch"], &[""], &["secrets"]), Some("app"))),
            ("KG-RBAC-POD-EXEC", (rule(&["create"], &[""], &["pods/exec"]), Some("app"))),
            ("KG-RBAC-POD-PORTFORWARD", (rule(&["create"], &[""], &["pods/portforward"]), Some("app"))),
            ("KG-RBAC-EPHEMERAL-CONTAINERS", (rule(&["patch"], &[""], &["pods/ephemeralcontainers"]), Some("app"))),
            ("KG-RBAC-NODES-PROXY", (rule(&["get"], &[""], &["nodes/proxy"]), None)),
            ("KG-RBAC-WORKLOAD-CREATE", (rule(&["patch"], &["apps"], &["daemonsets"]), Some("app"))),
            ("KG-RBAC-ESCALATE-BIND", (rule(&["bind"], &["rbac.authorization.k8s.io"], &["clusterroles"]), None)),
            ("KG-RBAC-RBAC-WRITE", (rule(&["create"], &["rbac.authorization.k8s.io"], &["rolebindings"]), Some("app"))),
            ("KG-RBAC-IMPERSONATE", (rule(&["impersonate"], &[""], &["serviceaccounts"]), Some("app"))),
            ("KG-RBAC-TOKEN-CREATE", (rule(&["create"], &[""], &["serviceaccounts/token"]), Some("app"))),
            (
                "KG-RBAC-CSR-APPROVE",
                (rule(&["update"], &["certificates.k8s.io"], &["certificatesigningrequests/approval"]), None),
            ),
            (
                "KG-RBAC-WEBHOOK-CONFIG",
                (rule(&["patch"], &["admissionregistration.k8s.io"], &["mutatingwebhookconfigurations"]), None),
            ),
            ("KG-RBAC-CRD-WRITE", (rule(&["create"], &["apiextensions.k8s.io"], &["customresourcedefinitions"]), None)),
            ("KG-RBAC-STORAGE-WRITE", (rule(&["create"], &[""], &["persistentvolumes"]), None)),
            ("KG-RBAC-NETWORK-WRITE", (rule(&["update"], &["networking.k8s.io"], &["networkpolicies"]), Some("app"))),
            ("KG-RBAC-STATUS-WRITE", (rule(&["patch"], &[""], &["pods/status"]), Some("app"))),
            ("KG-RBAC-NODE-WRITE", (rule(&["patch"], &[""], &["nodes"]), None)),
            ("KG-RBAC-DELETE-ANY", (rule(&["delete"], &["apps"], &["*"]), Some("app"))),
            ("KG-RBAC-EVENTS-DELETE", (rule(&["delete"], &["events.k8s.io"], &["events"]), Some("app"))),
            ("KG-RBAC-KUBE-SYSTEM-CONFIGMAP-WRITE", (rule(&["update"], &[""], &["configmaps"]), Some("kube-system"))),
        ])
    }

    #[test]
    fn every_shipped_rule_fires_on_its_example_and_ids_are_unique() {
        let ex = examples();
        let mut ids = std::collections::BTreeSet::new();
        for r in RULES {
            assert!(ids.insert(r.id), "duplicate id {}", r.id);
            let (rule, scope) = ex.get(r.id).unwrap_or_else(|| panic!("no example for {}", r.id));
            assert!((r.matches)(rule, *scope), "{} does not fire on its example", r.id);
        }
        assert_eq!(ex.len(), RULES.len(), "examples for rules that do not exist");
    }

    #[test]
    fn no_rule_fires_on_a_safe_role() {
        let safe = [
            rule(&["get", "list", "watch"], &[""], &["configmaps", "pods", "pods/log", "services"]),
            rule(&["get", "update"], &["coordination.k8s.io"], &["leases"]),
            rule(&["create", "patch"], &["", "events.k8s.io"], &["events"]),
            rule(&["get"], &["apps"], &["deployments/scale"]),
            Rule { verbs: vec!["get".into()], non_resource_urls: vec!["/metrics".into()], ..Rule::default() },
        ];
        for r in &safe {
            for scope in [Some("app"), Some("kube-system"), None] {
                assert!(rule_findings(r, scope).is_empty(), "{r} in {scope:?}: {:?}", rule_findings(r, scope).len());
            }
        }
    }

    #[test]
    fn secrets_list_and_watch_count_as_read_but_other_groups_do_not() {
        assert!(grants(&rule(&["list"], &[""], &["secrets"]), &["get", "list", "watch"], "", &["secrets"]));
        assert!(!grants(&rule(&["list"], &["example.com"], &["secrets"]), &["get", "list", "watch"], "", &["secrets"]));
    }

    #[test]
    fn severity_is_higher_in_kube_system_and_cluster_wide_and_lower_with_names() {
        let r = rule(&["get"], &[""], &["secrets"]);
        let in_app = contextual(Severity::High, &r, Some("app"));
        assert_eq!(in_app, Severity::High);
        assert_eq!(contextual(Severity::High, &r, Some("kube-system")), Severity::Critical);
        assert_eq!(contextual(Severity::High, &r, None), Severity::Critical);
        let mut named = r.clone();
        named.resource_names = vec!["one".into()];
        assert_eq!(contextual(Severity::High, &named, Some("app")), Severity::Medium);
    }

    #[test]
    fn binding_rules_fire_on_anonymous_and_broad_groups_only_when_role_grants_something() {
        let values = vec![
            serde_json::json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"r"},
                "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}),
            serde_json::json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"b"},
                "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"r"},
                "subjects":[{"kind":"Group","name":"system:unauthenticated"},{"kind":"Group","name":"system:serviceaccounts:app"},
                            {"kind":"Group","name":"system:masters"}]}),
            serde_json::json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"empty"},"rules":null}),
            serde_json::json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"e"},
                "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"empty"},
                "subjects":[{"kind":"User","name":"system:anonymous"}]}),
        ];
        let f = assess_values(&values);
        let ids: Vec<&str> = f.iter().map(|f| f.rule_id.as_str()).collect();
        for b in BINDING_RULES {
            assert!(ids.contains(&b.id), "{} did not fire: {ids:?}", b.id);
        }
        assert!(!f.iter().any(|x| x.subject.contains("ClusterRoleBinding/e")), "empty role must not be flagged");
    }
}
