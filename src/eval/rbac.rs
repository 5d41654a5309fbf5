//! RBAC units: the atomic grants a subject holds through a set of Role/ClusterRole and binding
//! objects, after expanding wildcards against a discovery table.
//!
//! A grant is (apiGroup, resource[/subresource], verb, namespace, resourceName or `*` = any);
//! cluster-scoped resources have namespace "" and a ClusterRoleBinding expands namespaced
//! resources over every known namespace, so a cluster-wide or wildcard grant costs precision.
//! Non-resource URLs are (url, verb) grants, effective only through ClusterRoleBindings.
//! Rules on cluster-scoped resources in a namespaced binding grant nothing (Kubernetes ignores
//! them). Aggregated ClusterRoles are not expanded. Pure: works on JSON objects.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::model::Subject;

/// One atomic permission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grant {
    Resource { group: String, resource: String, verb: String, namespace: String, name: String },
    NonResource { url: String, verb: String },
}

const RW: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];
const STATUS: &[&str] = &["get", "update", "patch"];
const CREATE: &[&str] = &["create"];
const GET: &[&str] = &["get"];
const CONNECT: &[&str] = &["get", "create"];
const PROXY: &[&str] = &["get", "create", "update", "patch", "delete"];
const READ: &[&str] = &["get", "list", "watch"];

/// (group, resource or resource/subresource, namespaced, verbs) of Kubernetes 1.35.
const BUILTIN: &[(&str, &str, bool, &[&str])] = &[
    ("", "pods", true, RW),
    ("", "pods/status", true, STATUS),
    ("", "pods/log", true, GET),
    ("", "pods/exec", true, CONNECT),
    ("", "pods/attach", true, CONNECT),
    ("", "pods/portforward", true, CONNECT),
    ("", "pods/proxy", true, PROXY),
    ("", "pods/eviction", true, CREATE),
    ("", "pods/binding", true, CREATE),
    ("", "pods/ephemeralcontainers", true, STATUS),
    ("", "pods/resize", true, STATUS),
    ("", "services", true, RW),
    ("", "services/status", true, STATUS),
    ("", "services/proxy", true, PROXY),
    ("", "endpoints", true, RW),
    ("", "configmaps", true, RW),
    ("", "secrets", true, RW),
    (
        "",
        "serviceaccounts",
        true,
        &["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate"],
    ),
    ("", "serviceaccounts/token", true, CREATE),
    ("", "persistentvolumeclaims", true, RW),
    ("", "persistentvolumeclaims/status", true, STATUS),
    ("", "persistentvolumes", false, RW),
    ("", "persistentvolumes/status", false, STATUS),
    ("", "nodes", false, RW),
    ("", "nodes/status", false, STATUS),
    ("", "nodes/proxy", false, PROXY),
    ("", "namespaces", false, &["get", "list", "watch", "create", "update", "patch", "delete"]),
    ("", "namespaces/status", false, STATUS),
    ("", "namespaces/finalize", false, &["update"]),
    ("", "events", true, RW),
    ("", "limitranges", true, RW),
    ("", "resourcequotas", true, RW),
    ("", "resourcequotas/status", true, STATUS),
    ("", "replicationcontrollers", true, RW),
    ("", "replicationcontrollers/scale", true, STATUS),
    ("", "replicationcontrollers/status", true, STATUS),
    ("", "podtemplates", true, RW),
    ("", "componentstatuses", false, &["get", "list"]),
    ("", "bindings", true, CREATE),
    ("", "users", false, &["impersonate"]),
    ("", "groups", false, &["impersonate"]),
    ("apps", "deployments", true, RW),
    ("apps", "deployments/scale", true, STATUS),
    ("apps", "deployments/status", true, STATUS),
    ("apps", "replicasets", true, RW),
    ("apps", "replicasets/scale", true, STATUS),
    ("apps", "replicasets/status", true, STATUS),
    ("apps", "statefulsets", true, RW),
    ("apps", "statefulsets/scale", true, STATUS),
    ("apps", "statefulsets/status", true, STATUS),
    ("apps", "daemonsets", true, RW),
    ("apps", "daemonsets/status", true, STATUS),
    ("apps", "controllerrevisions", true, RW),
    ("batch", "jobs", true, RW),
    ("batch", "jobs/status", true, STATUS),
    ("batch", "cronjobs", true, RW),
    ("batch", "cronjobs/status", true, STATUS),
    ("autoscaling", "horizontalpodautoscalers", true, RW),
    ("autoscaling", "horizontalpodautoscalers/status", true, STATUS),
    ("policy", "poddisruptionbudgets", true, RW),
    ("policy", "poddisruptionbudgets/status", true, STATUS),
    ("networking.k8s.io", "networkpolicies", true, RW),
    ("networking.k8s.io", "ingresses", true, RW),
    ("networking.k8s.io", "ingresses/status", true, STATUS),
    ("networking.k8s.io", "ingressclasses", false, RW),
    ("networking.k8s.io", "ipaddresses", false, RW),
    ("networking.k8s.io", "servicecidrs", false, RW),
    (
        "rbac.authorization.k8s.io",
        "roles",
        true,
        &["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "bind", "escalate"],
    ),
    ("rbac.authorization.k8s.io", "rolebindings", true, RW),
    (
        "rbac.authorization.k8s.io",
        "clusterroles",
        false,
        &["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "bind", "escalate"],
    ),
    ("rbac.authorization.k8s.io", "clusterrolebindings", false, RW),
    ("coordination.k8s.io", "leases", true, RW),
    ("discovery.k8s.io", "endpointslices", true, RW),
    ("events.k8s.io", "events", true, RW),
    ("storage.k8s.io", "storageclasses", false, RW),
    ("storage.k8s.io", "volumeattachments", false, RW),
    ("storage.k8s.io", "volumeattachments/status", false, STATUS),
    ("storage.k8s.io", "csidrivers", false, RW),
    ("storage.k8s.io", "csinodes", false, RW),
    ("storage.k8s.io", "csistoragecapacities", true, RW),
    ("apiextensions.k8s.io", "customresourcedefinitions", false, RW),
    ("apiextensions.k8s.io", "customresourcedefinitions/status", false, STATUS),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", false, RW),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", false, RW),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies", false, RW),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings", false, RW),
    ("apiregistration.k8s.io", "apiservices", false, RW),
    ("apiregistration.k8s.io", "apiservices/status", false, STATUS),
    ("scheduling.k8s.io", "priorityclasses", false, RW),
    ("node.k8s.io", "runtimeclasses", false, RW),
    ("certificates.k8s.io", "certificatesigningrequests", false, RW),
    ("certificates.k8s.io", "certificatesigningrequests/approval", false, STATUS),
    ("certificates.k8s.io", "certificatesigningrequests/status", false, STATUS),
    ("certificates.k8s.io", "signers", false, &["approve", "sign"]),
    ("authentication.k8s.io", "tokenreviews", false, CREATE),
    ("authentication.k8s.io", "selfsubjectreviews", false, CREATE),
    ("authorization.k8s.io", "subjectaccessreviews", false, CREATE),
    ("authorization.k8s.io", "selfsubjectaccessreviews", false, CREATE),
    ("authorization.k8s.io", "selfsubjectrulesreviews", false, CREATE),
    ("authorization.k8s.io", "localsubjectaccessreviews", true, CREATE),
    ("flowcontrol.apiserver.k8s.io", "flowschemas", false, RW),
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations", false, RW),
    ("metrics.k8s.io", "pods", true, READ),
    ("metrics.k8s.io", "nodes", false, READ),
];

/// Non-resource URLs served by a kube-apiserver.
const BUILTIN_URLS: &[&str] = &[
    "/api",
    "/apis",
    "/healthz",
    "/livez",
    "/readyz",
    "/version",
    "/metrics",
    "/openapi/v2",
    "/openapi/v3",
    "/logs",
    "/.well-known/openid-configuration",
    "/openid/v1/jwks",
];
const URL_VERBS: &[&str] = &["get", "post", "put", "patch", "delete", "head"];

#[derive(Debug, Clone)]
struct ResourceInfo {
    namespaced: bool,
    verbs: BTreeSet<String>,
}

/// What `*` expands to: resources (with scope and verbs), namespaces and non-resource URLs.
#[derive(Debug, Clone)]
pub struct Discovery {
    resources: BTreeMap<(String, String), ResourceInfo>,
    pub namespaces: BTreeSet<String>,
    pub urls: BTreeSet<String>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery::builtin()
    }
}

impl Discovery {
    /// The built-in table of a recent Kubernetes release, namespaces `default` and `kube-system`.
    pub fn builtin() -> Discovery {
        let resources = BUILTIN
            .iter()
            .map(|(g, r, ns, verbs)| {
                let info = ResourceInfo { namespaced: *ns, verbs: verbs.iter().map(|v| v.to_string()).collect() };
                ((g.to_string(), r.to_string()), info)
            })
            .collect();
        Discovery {
            resources,
            namespaces: ["default", "kube-system"].into_iter().map(String::from).collect(),
            urls: BUILTIN_URLS.iter().map(|u| u.to_string()).collect(),
        }
    }

    /// Add a resource seen in the inputs (CRD, explicit rule, audit event) when not known:
    /// namespaced, with the standard verbs.
    pub fn learn_resource(&mut self, group: &str, resource: &str) {
        if group.contains('*') || resource.contains('*') || resource.is_empty() {
            return;
        }
        self.resources
            .entry((group.to_string(), resource.to_string()))
            .or_insert_with(|| ResourceInfo { namespaced: true, verbs: RW.iter().map(|v| v.to_string()).collect() });
    }

    /// Learn every namespace, explicit resource, CRD and URL named in `objects`.
    pub fn learn_objects(&mut self, objects: &[Value]) {
        for o in objects {
            if let Some(ns) = o.pointer("/metadata/namespace").and_then(Value::as_str) {
                self.namespaces.insert(ns.to_string());
            }
            match kind(o) {
                "Namespace" => {
                    if let Some(n) = o.pointer("/metadata/name").and_then(Value::as_str) {
                        self.namespaces.insert(n.to_string());
                    }
                }
                "CustomResourceDefinition" => {
                    let group = o.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
                    let plural = o.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default();
                    let namespaced = o.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
                    if !plural.is_empty() {
                        let verbs: BTreeSet<String> = RW.iter().map(|v| v.to_string()).collect();
                        for r in [plural.to_string(), format!("{plural}/status")] {
                            self.resources
                                .insert((group.to_string(), r), ResourceInfo { namespaced, verbs: verbs.clone() });
                        }
                    }
                }
                "Role" | "ClusterRole" => {
                    for rule in rules_of(o) {
                        for g in strings(rule, "apiGroups") {
                            for r in strings(rule, "resources") {
                                self.learn_resource(&g, &r);
                            }
                        }
                        for u in strings(rule, "nonResourceURLs") {
                            if !u.contains('*') {
                                self.urls.insert(u);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn namespaced(&self, group: &str, resource: &str) -> bool {
        self.resources.get(&(group.to_string(), resource.to_string())).is_none_or(|i| i.namespaced)
    }
}

fn kind(o: &Value) -> &str {
    o.get("kind").and_then(Value::as_str).unwrap_or_default()
}

fn name(o: &Value) -> &str {
    o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}

fn namespace(o: &Value) -> &str {
    o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default")
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
}

fn rules_of(o: &Value) -> impl Iterator<Item = &Value> {
    o.get("rules").and_then(Value::as_array).into_iter().flatten()
}

/// Does `binding` name `subject`?
fn binds(binding: &Value, subject: &Subject) -> bool {
    let bns = namespace(binding);
    binding.get("subjects").and_then(Value::as_array).into_iter().flatten().any(|s| {
        let k = s.get("kind").and_then(Value::as_str).unwrap_or_default();
        let n = s.get("name").and_then(Value::as_str).unwrap_or_default();
        match subject {
            Subject::ServiceAccount { namespace, name } => {
                k == "ServiceAccount"
                    && n == name
                    && s.get("namespace").and_then(Value::as_str).unwrap_or(bns) == namespace
            }
            Subject::User { name } => k == "User" && n == name,
            Subject::Group { name } => k == "Group" && n == name,
        }
    })
}

/// The grants `subject` holds through the bindings in `objects`; role references resolve in
/// `objects` first, then in `fallback_roles` (e.g. the input inventory's roles).
pub fn grants(
    subject: &Subject,
    objects: &[Value],
    fallback_roles: &[Value],
    discovery: &Discovery,
) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    let find_role = |k: &str, ns: Option<&str>, n: &str| -> Option<&Value> {
        objects
            .iter()
            .chain(fallback_roles)
            .find(|o| kind(o) == k && name(o) == n && ns.is_none_or(|ns| namespace(o) == ns))
    };
    for b in objects {
        let bk = kind(b);
        if bk != "RoleBinding" && bk != "ClusterRoleBinding" {
            continue;
        }
        if !binds(b, subject) {
            continue;
        }
        let rk = b.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default();
        let rn = b.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default();
        let role = match rk {
            "Role" if bk == "RoleBinding" => find_role("Role", Some(namespace(b)), rn),
            "ClusterRole" => find_role("ClusterRole", None, rn),
            _ => None,
        };
        let Some(role) = role else { continue };
        let scope = if bk == "RoleBinding" { Some(namespace(b)) } else { None };
        for rule in rules_of(role) {
            expand_rule(rule, scope, discovery, &mut out);
        }
    }
    out
}

/// Expand one policy rule bound in namespace `scope` (None = cluster-wide).
pub fn expand_rule(rule: &Value, scope: Option<&str>, d: &Discovery, out: &mut BTreeSet<Grant>) {
    let verbs = strings(rule, "verbs");
    let urls = strings(rule, "nonResourceURLs");
    if !urls.is_empty() {
        if scope.is_some() {
            return; // non-resource URLs only work through ClusterRoleBindings
        }
        for u in &urls {
            let matched: Vec<String> = if u == "*" {
                d.urls.iter().cloned().collect()
            } else if let Some(prefix) = u.strip_suffix('*') {
                d.urls.iter().filter(|x| x.starts_with(prefix)).cloned().collect()
            } else {
                vec![u.clone()]
            };
            for url in matched {
                for v in &verbs {
                    if v == "*" {
                        for hv in URL_VERBS {
                            out.insert(Grant::NonResource { url: url.clone(), verb: hv.to_string() });
                        }
                    } else {
                        out.insert(Grant::NonResource { url: url.clone(), verb: v.to_lowercase() });
                    }
                }
            }
        }
        return;
    }
    let names = strings(rule, "resourceNames");
    let names = if names.is_empty() { vec!["*".to_string()] } else { names };
    let groups = strings(rule, "apiGroups");
    let resources = strings(rule, "resources");
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for g in &groups {
        for r in &resources {
            for (kg, kr) in d.resources.keys() {
                if (g == "*" || g == kg) && resource_matches(r, kr) {
                    pairs.insert((kg.clone(), kr.clone()));
                }
            }
            if g != "*" && !r.contains('*') {
                pairs.insert((g.clone(), r.clone())); // explicit, even if unknown
            }
        }
    }
    for (g, r) in pairs {
        let info = d.resources.get(&(g.clone(), r.clone()));
        let namespaced = d.namespaced(&g, &r);
        let nss: Vec<String> = match (scope, namespaced) {
            (Some(_), false) => continue, // a Role cannot grant cluster-scoped resources
            (Some(ns), true) => vec![ns.to_string()],
            (None, true) => d.namespaces.iter().cloned().collect(),
            (None, false) => vec![String::new()],
        };
        let vs: Vec<String> = if verbs.iter().any(|v| v == "*") {
            info.map(|i| i.verbs.iter().cloned().collect())
                .unwrap_or_else(|| RW.iter().map(|v| v.to_string()).collect())
        } else {
            verbs.clone()
        };
        for ns in &nss {
            for v in &vs {
                for n in &names {
                    out.insert(Grant::Resource {
                        group: g.clone(),
                        resource: r.clone(),
                        verb: v.clone(),
                        namespace: ns.clone(),
                        name: n.clone(),
                    });
                }
            }
        }
    }
}

/// `*` matches every resource and subresource, `x/*` every subresource of x, `*/s` subresource
/// s of every resource.
fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern == resource {
        return true;
    }
    match (pattern.split_once('/'), resource.split_once('/')) {
        (Some((pr, "*")), Some((rr, _))) => pr == rr,
        (Some(("*", ps)), Some((_, rs))) => ps == rs,
        _ => false,
    }
}

/// Every service-account subject named in a binding of `objects`.
pub fn bound_subjects(objects: &[Value]) -> BTreeSet<Subject> {
    let mut out = BTreeSet::new();
    for b in objects.iter().filter(|o| matches!(kind(o), "RoleBinding" | "ClusterRoleBinding")) {
        for s in b.get("subjects").and_then(Value::as_array).into_iter().flatten() {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                let n = s.get("name").and_then(Value::as_str).unwrap_or_default();
                let ns = s.get("namespace").and_then(Value::as_str).unwrap_or(namespace(b));
                out.insert(Subject::ServiceAccount { namespace: ns.to_string(), name: n.to_string() });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Counts;
    use serde_json::json;

    fn sa() -> Subject {
        Subject::ServiceAccount { namespace: "app".into(), name: "ctl".into() }
    }

    fn role(kind: &str, name: &str, rules: Value) -> Value {
        json!({"kind": kind, "metadata": {"name": name, "namespace": "app"}, "rules": rules})
    }

    fn binding(kind: &str, role_kind: &str, role: &str) -> Value {
        json!({"kind": kind, "metadata": {"name": format!("b-{role}"), "namespace": "app"},
               "roleRef": {"kind": role_kind, "name": role},
               "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "app"}]})
    }

    fn d() -> Discovery {
        let mut d = Discovery::builtin();
        d.namespaces.insert("app".into());
        d
    }

    #[test]
    fn exact_role_counts_one_grant_per_verb() {
        let objs = vec![
            role("Role", "r", json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}])),
            binding("RoleBinding", "Role", "r"),
        ];
        let g = grants(&sa(), &objs, &[], &d());
        assert_eq!(g.len(), 2);
        assert!(g.contains(&Grant::Resource {
            group: "".into(),
            resource: "configmaps".into(),
            verb: "list".into(),
            namespace: "app".into(),
            name: "*".into()
        }));
    }

    #[test]
    fn wildcard_verbs_cost_precision() {
        // truth: get/list/watch pods; prediction: pods with verb * → 8 verbs of which 3 are right.
        let truth = vec![
            role("Role", "r", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}])),
            binding("RoleBinding", "Role", "r"),
        ];
        let pred = vec![
            role("Role", "r", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}])),
            binding("RoleBinding", "Role", "r"),
        ];
        let c = Counts::of_sets(&grants(&sa(), &pred, &[], &d()), &grants(&sa(), &truth, &[], &d()));
        assert_eq!(c, Counts { tp: 3, fp: 5, fn_: 0 });
        let s = c.scores();
        assert!((s.precision - 3.0 / 8.0).abs() < 1e-9);
        assert_eq!(s.recall, 1.0);
    }

    #[test]
    fn resource_wildcard_expands_subresources_and_skips_cluster_scoped_in_a_role() {
        let pred = vec![
            role("Role", "r", json!([{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}])),
            binding("RoleBinding", "Role", "r"),
        ];
        let g = grants(&sa(), &pred, &[], &d());
        // apps: deployments(+scale,+status), replicasets(+scale,+status), statefulsets(+scale,+status),
        // daemonsets(+status), controllerrevisions = 12 resources, all namespaced, verb get.
        assert_eq!(g.len(), 12);
        let sub = vec![
            role("Role", "r", json!([{"apiGroups": [""], "resources": ["pods/*", "nodes"], "verbs": ["get"]}])),
            binding("RoleBinding", "Role", "r"),
        ];
        // pods has 10 subresources; nodes is cluster-scoped and ignored in a Role.
        assert_eq!(grants(&sa(), &sub, &[], &d()).len(), 10);
    }

    #[test]
    fn cluster_binding_expands_namespaces_and_resource_names_are_atoms() {
        let pred = vec![
            role("ClusterRole", "c", json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])),
            binding("ClusterRoleBinding", "ClusterRole", "c"),
        ];
        let truth = vec![
            role(
                "Role",
                "r",
                json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["tls"]},
                       {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
            ),
            binding("RoleBinding", "Role", "r"),
        ];
        // namespaces default, kube-system, app → 3 predicted; truth (app,*) and (app,tls) → partial match 1.
        let c = Counts::of_sets(&grants(&sa(), &pred, &[], &d()), &grants(&sa(), &truth, &[], &d()));
        assert_eq!(c, Counts { tp: 1, fp: 2, fn_: 1 });
    }

    #[test]
    fn non_resource_urls_and_unrelated_subjects() {
        let objs = vec![
            role("ClusterRole", "m", json!([{"nonResourceURLs": ["/metrics", "/healthz"], "verbs": ["get"]}])),
            binding("ClusterRoleBinding", "ClusterRole", "m"),
            role("ClusterRole", "all", json!([{"nonResourceURLs": ["*"], "verbs": ["*"]}])),
            binding("RoleBinding", "ClusterRole", "all"), // non-resource URLs through a RoleBinding: nothing
        ];
        let g = grants(&sa(), &objs, &[], &d());
        assert_eq!(g.len(), 2);
        let other = Subject::ServiceAccount { namespace: "app".into(), name: "other".into() };
        assert!(grants(&other, &objs, &[], &d()).is_empty());
        let star = vec![
            role("ClusterRole", "all", json!([{"nonResourceURLs": ["*"], "verbs": ["get"]}])),
            binding("ClusterRoleBinding", "ClusterRole", "all"),
        ];
        assert_eq!(grants(&sa(), &star, &[], &d()).len(), BUILTIN_URLS.len());
    }

    #[test]
    fn explicit_crd_resources_are_learned_for_wildcards() {
        let truth = vec![
            role("Role", "r", json!([{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["list"]}])),
            binding("RoleBinding", "Role", "r"),
        ];
        let pred = vec![
            role("Role", "r", json!([{"apiGroups": ["*"], "resources": ["widgets"], "verbs": ["list"]}])),
            binding("RoleBinding", "Role", "r"),
        ];
        let mut disc = d();
        disc.learn_objects(&truth);
        disc.learn_objects(&pred);
        let c = Counts::of_sets(&grants(&sa(), &pred, &[], &disc), &grants(&sa(), &truth, &[], &disc));
        assert_eq!(c, Counts { tp: 1, fp: 0, fn_: 0 });
    }
}
