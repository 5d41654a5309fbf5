//! RBAC guard: an offline re-implementation of the Kubernetes RBAC authorizer's matching rules
//! (rbac.md §3) over policies read from untrusted JSON (inventory objects or engine proposals),
//! plus what the rest of kubeguard needs on top of it: validation of proposals, the default
//! bootstrap grants, atomic permissions ("perms") with exact compaction back into rules,
//! coverage and excess against the evidence, and `check` with repair.
//!
//! Owns: authorizer semantics, proposal validation, coverage/excess/repair. Must not: do I/O,
//! decide what a subject *should* get (that is `synth::rbac`), or widen a proposal beyond the
//! evidence closure plus the original objects.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::GuardOutcome;
use crate::model::{ApiRequest, GuardVerdict, Subject, Target, TargetScope, Task};
use crate::snapshot::Snapshot;

pub const RBAC_API_VERSION: &str = "rbac.authorization.k8s.io/v1";
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// Label put on every object kubeguard generates.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "kubeguard";
/// Largest number of atomic permissions one rule is expanded into (wildcard-heavy rules from a
/// model could otherwise explode); beyond it the expansion is truncated and reported.
const MAX_PERMS_PER_RULE: usize = 20_000;

// ---------------------------------------------------------------------------------------------
// Policy objects
// ---------------------------------------------------------------------------------------------

/// One `PolicyRule`, as written (no normalisation beyond string lists).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl Rule {
    pub fn is_non_resource(&self) -> bool {
        !self.non_resource_urls.is_empty()
    }

    /// The rule as a Kubernetes `PolicyRule` JSON object (fields omitted when empty).
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        if self.is_non_resource() {
            m.insert("nonResourceURLs".into(), json!(self.non_resource_urls));
        } else {
            m.insert("apiGroups".into(), json!(self.api_groups));
            m.insert("resources".into(), json!(self.resources));
            if !self.resource_names.is_empty() {
                m.insert("resourceNames".into(), json!(self.resource_names));
            }
        }
        m.insert("verbs".into(), json!(self.verbs));
        Value::Object(m)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_non_resource() {
            return write!(f, "{} {}", self.verbs.join(","), self.non_resource_urls.join(","));
        }
        let groups: Vec<&str> = self.api_groups.iter().map(|g| if g.is_empty() { "core" } else { g }).collect();
        write!(f, "{} {}/{}", self.verbs.join(","), groups.join(","), self.resources.join(","))?;
        if !self.resource_names.is_empty() {
            write!(f, " names={}", self.resource_names.join(","))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RoleKind {
    Role,
    ClusterRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BindingKind {
    RoleBinding,
    ClusterRoleBinding,
}

/// A label selector as used by `aggregationRule.clusterRoleSelectors`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub match_labels: BTreeMap<String, String>,
    /// (key, operator, values)
    pub match_expressions: Vec<(String, String, Vec<String>)>,
}

impl Selector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|(k, op, vals)| match op.as_str() {
                "In" => labels.get(k).is_some_and(|v| vals.contains(v)),
                "NotIn" => labels.get(k).is_none_or(|v| !vals.contains(v)),
                "Exists" => labels.contains_key(k),
                "DoesNotExist" => !labels.contains_key(k),
                _ => false,
            })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoleObj {
    pub kind: RoleKind,
    /// `""` for ClusterRoles.
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `Some` for aggregated ClusterRoles (their rules are computed from the selectors).
    pub aggregation: Option<Vec<Selector>>,
    pub rules: Vec<Rule>,
}

impl RoleObj {
    pub fn key(&self) -> ObjectKey {
        ObjectKey { kind: format!("{:?}", self.kind), namespace: self.namespace.clone(), name: self.name.clone() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectRef {
    User(String),
    Group(String),
    /// Namespace already defaulted to the binding's namespace when omitted in a RoleBinding.
    ServiceAccount {
        namespace: String,
        name: String,
    },
}

impl SubjectRef {
    pub fn from_subject(s: &Subject) -> SubjectRef {
        match s {
            Subject::ServiceAccount { namespace, name } => {
                SubjectRef::ServiceAccount { namespace: namespace.clone(), name: name.clone() }
            }
            Subject::User { name } => SubjectRef::User(name.clone()),
            Subject::Group { name } => SubjectRef::Group(name.clone()),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            SubjectRef::User(n) => json!({"apiGroup": RBAC_GROUP, "kind": "User", "name": n}),
            SubjectRef::Group(n) => json!({"apiGroup": RBAC_GROUP, "kind": "Group", "name": n}),
            SubjectRef::ServiceAccount { namespace, name } => {
                json!({"kind": "ServiceAccount", "name": name, "namespace": namespace})
            }
        }
    }

    /// Does this binding subject apply to the user (rbac.md §3.2)?
    pub fn applies_to(&self, user: &UserInfo) -> bool {
        match self {
            SubjectRef::User(n) => !user.name.is_empty() && *n == user.name,
            SubjectRef::Group(g) => user.groups.iter().any(|ug| ug == g),
            SubjectRef::ServiceAccount { namespace, name } => {
                user.name == format!("system:serviceaccount:{namespace}:{name}")
            }
        }
    }
}

impl fmt::Display for SubjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectRef::User(n) => write!(f, "User {n}"),
            SubjectRef::Group(n) => write!(f, "Group {n}"),
            SubjectRef::ServiceAccount { namespace, name } => write!(f, "ServiceAccount {namespace}/{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BindingObj {
    pub kind: BindingKind,
    pub namespace: String,
    pub name: String,
    pub role_kind: RoleKind,
    pub role_name: String,
    pub subjects: Vec<SubjectRef>,
}

impl BindingObj {
    pub fn key(&self) -> ObjectKey {
        ObjectKey { kind: format!("{:?}", self.kind), namespace: self.namespace.clone(), name: self.name.clone() }
    }

    /// `""` for a ClusterRoleBinding (cluster-wide), else the namespace the grant is valid in.
    pub fn scope(&self) -> &str {
        match self.kind {
            BindingKind::ClusterRoleBinding => "",
            BindingKind::RoleBinding => &self.namespace,
        }
    }

    pub fn label(&self) -> String {
        match self.kind {
            BindingKind::ClusterRoleBinding => format!("ClusterRoleBinding/{}", self.name),
            BindingKind::RoleBinding => format!("RoleBinding/{}/{}", self.namespace, self.name),
        }
    }
}

/// Identity of an RBAC object: kind, namespace (`""` when cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The identity being authorized: username plus all groups (explicit and implicit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The identity of a subject with its implicit groups (`system:authenticated`,
    /// `system:serviceaccounts[:ns]`, `system:unauthenticated` for anonymous). A Group subject
    /// is modelled as an anonymous-less member of that group.
    pub fn for_subject(s: &Subject) -> UserInfo {
        let mut groups = s.implicit_groups();
        if let Subject::Group { name } = s {
            groups.push(name.clone());
            groups.push("system:authenticated".to_string());
        }
        groups.sort();
        groups.dedup();
        UserInfo { name: s.username().unwrap_or_default(), groups }
    }
}

/// Which binding and rule allowed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `ClusterRoleBinding/x`, `RoleBinding/ns/x`, or the `system:masters` bypass.
    pub binding: String,
    /// `ClusterRole/x` or `Role/ns/x`.
    pub role: String,
    pub rule_index: usize,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} rules[{}]", self.binding, self.role, self.rule_index)
    }
}

/// A set of roles and bindings, with aggregated ClusterRoles resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub roles: Vec<RoleObj>,
    pub bindings: Vec<BindingObj>,
}

impl Policy {
    /// Build from objects, resolving aggregation (fixpoint over label selectors, like the
    /// clusterrole-aggregation controller: an aggregated role's own rules are replaced).
    pub fn new(roles: Vec<RoleObj>, bindings: Vec<BindingObj>) -> Policy {
        let mut p = Policy { roles, bindings };
        p.resolve_aggregation();
        p
    }

    pub fn extend(&mut self, other: Policy) {
        self.roles.extend(other.roles);
        self.bindings.extend(other.bindings);
        self.resolve_aggregation();
    }

    fn resolve_aggregation(&mut self) {
        for _ in 0..8 {
            let mut changed = false;
            for i in 0..self.roles.len() {
                let Some(selectors) = self.roles[i].aggregation.clone() else { continue };
                if self.roles[i].kind != RoleKind::ClusterRole {
                    continue;
                }
                let mut rules: Vec<Rule> = Vec::new();
                for (j, other) in self.roles.iter().enumerate() {
                    if j == i || other.kind != RoleKind::ClusterRole {
                        continue;
                    }
                    if selectors.iter().any(|s| s.matches(&other.labels)) {
                        for r in &other.rules {
                            if !rules.contains(r) {
                                rules.push(r.clone());
                            }
                        }
                    }
                }
                if rules != self.roles[i].rules {
                    self.roles[i].rules = rules;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    pub fn role(&self, kind: RoleKind, namespace: &str, name: &str) -> Option<&RoleObj> {
        self.roles
            .iter()
            .find(|r| r.kind == kind && r.name == name && (kind == RoleKind::ClusterRole || r.namespace == namespace))
    }

    /// The role a binding refers to (a RoleBinding's Role must live in the binding's namespace).
    pub fn role_of(&self, b: &BindingObj) -> Option<&RoleObj> {
        self.role(b.role_kind, &b.namespace, &b.role_name)
    }

    /// Bindings that apply to a request in namespace `ns` (rbac.md §3.1): every
    /// ClusterRoleBinding, plus RoleBindings in `ns` when `ns` is not empty.
    fn applicable_bindings<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a BindingObj> + 'a {
        self.bindings.iter().filter(move |b| match b.kind {
            BindingKind::ClusterRoleBinding => true,
            BindingKind::RoleBinding => !ns.is_empty() && b.namespace == ns,
        })
    }

    /// The RBAC authorizer: which binding and rule allow `req` for `user`, if any.
    pub fn authorize(&self, user: &UserInfo, req: &ApiRequest) -> Option<Decision> {
        if user.groups.iter().any(|g| g == "system:masters") {
            return Some(Decision {
                binding: "system:masters (superuser, RBAC not consulted)".to_string(),
                role: "-".to_string(),
                rule_index: 0,
            });
        }
        let ns = if req.is_resource_request() { req.namespace.as_str() } else { "" };
        for b in self.applicable_bindings(ns) {
            if !b.subjects.iter().any(|s| s.applies_to(user)) {
                continue;
            }
            let Some(role) = self.role_of(b) else { continue };
            for (i, rule) in role.rules.iter().enumerate() {
                if rule_allows(rule, req) {
                    let role_label = match role.kind {
                        RoleKind::ClusterRole => format!("ClusterRole/{}", role.name),
                        RoleKind::Role => format!("Role/{}/{}", role.namespace, role.name),
                    };
                    return Some(Decision { binding: b.label(), role: role_label, rule_index: i });
                }
            }
        }
        None
    }

    pub fn allows(&self, user: &UserInfo, req: &ApiRequest) -> bool {
        self.authorize(user, req).is_some()
    }

    /// Every (binding, role) pair that grants something to `user`.
    pub fn grants_for<'a>(&'a self, user: &'a UserInfo) -> impl Iterator<Item = (&'a BindingObj, &'a RoleObj)> + 'a {
        self.bindings
            .iter()
            .filter(move |b| b.subjects.iter().any(|s| s.applies_to(user)))
            .filter_map(move |b| self.role_of(b).map(|r| (b, r)))
    }

    /// Atomic permissions granted to `user`, scoped (`""` = cluster-wide), with wildcards kept
    /// literally (`*` verb, `*` resource...). Non-resource rules only count via
    /// ClusterRoleBindings; a Role's nonResourceURLs are ignored (they authorize nothing).
    pub fn scoped_perms(&self, user: &UserInfo) -> BTreeSet<ScopedPerm> {
        let mut out = BTreeSet::new();
        for (b, role) in self.grants_for(user) {
            let scope = b.scope();
            for rule in &role.rules {
                for perm in rule_perms(rule).0 {
                    if perm.url.is_some() && !scope.is_empty() {
                        continue;
                    }
                    out.insert(ScopedPerm { scope: scope.to_string(), perm });
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Matching (rbac.md §3.3, §3.4)
// ---------------------------------------------------------------------------------------------

fn has(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x == item)
}

pub fn verb_matches(rule: &Rule, verb: &str) -> bool {
    has(&rule.verbs, "*") || has(&rule.verbs, verb)
}

pub fn group_matches(rule: &Rule, group: &str) -> bool {
    has(&rule.api_groups, "*") || has(&rule.api_groups, group)
}

/// `*` matches every resource and subresource; exact `resource[/sub]`; `*/sub` matches any
/// resource's `sub`. `pods` does not cover `pods/log`; `pods/*` is not a wildcard.
pub fn resource_matches(rule: &Rule, resource: &str, subresource: &str) -> bool {
    let combined = if subresource.is_empty() { resource.to_string() } else { format!("{resource}/{subresource}") };
    rule.resources
        .iter()
        .any(|r| r == "*" || *r == combined || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource)))
}

/// Empty `resourceNames` = any name; a nameless request never matches a name-restricted rule.
pub fn name_matches(rule: &Rule, name: &str) -> bool {
    rule.resource_names.is_empty() || (!name.is_empty() && has(&rule.resource_names, name))
}

/// `*` matches all; exact; or a trailing-`*` prefix match.
pub fn url_matches(rule: &Rule, path: &str) -> bool {
    rule.non_resource_urls
        .iter()
        .any(|u| u == "*" || u == path || (u.ends_with('*') && path.starts_with(&u[..u.len() - 1])))
}

/// Does this one rule allow the request?
pub fn rule_allows(rule: &Rule, req: &ApiRequest) -> bool {
    if !verb_matches(rule, &req.verb) {
        return false;
    }
    match &req.path {
        Some(path) => url_matches(rule, path),
        None => {
            group_matches(rule, &req.api_group)
                && resource_matches(rule, &req.resource, &req.subresource)
                && name_matches(rule, &req.name)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Atomic permissions
// ---------------------------------------------------------------------------------------------

/// One atomic grant inside a role: a verb on one group/resource (`resource/sub`), for one name
/// or any name; or a verb on one non-resource URL (pattern). Wildcards are kept literally.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Perm {
    pub verb: String,
    pub group: String,
    /// `resource` or `resource/subresource` (may be `*` or `*/sub` for wildcard grants).
    pub resource: String,
    /// `None` = any name.
    pub name: Option<String>,
    /// Non-resource URL (or pattern); resource fields empty when set.
    pub url: Option<String>,
}

impl Perm {
    pub fn resource(verb: &str, group: &str, resource: &str, name: Option<&str>) -> Perm {
        Perm {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            name: name.map(str::to_string),
            url: None,
        }
    }

    pub fn url(verb: &str, url: &str) -> Perm {
        Perm {
            verb: verb.to_string(),
            group: String::new(),
            resource: String::new(),
            name: None,
            url: Some(url.to_string()),
        }
    }

    /// The perm as a single rule.
    pub fn to_rule(&self) -> Rule {
        match &self.url {
            Some(u) => Rule { verbs: vec![self.verb.clone()], non_resource_urls: vec![u.clone()], ..Rule::default() },
            None => Rule {
                verbs: vec![self.verb.clone()],
                api_groups: vec![self.group.clone()],
                resources: vec![self.resource.clone()],
                resource_names: self.name.iter().cloned().collect(),
                non_resource_urls: Vec::new(),
            },
        }
    }

    pub fn is_wildcard(&self) -> bool {
        self.verb == "*"
            || self.group == "*"
            || self.resource == "*"
            || self.resource.starts_with("*/")
            || self.url.as_deref().is_some_and(|u| u.ends_with('*'))
    }

    /// (resource, subresource) split of `resource`.
    pub fn split_resource(&self) -> (&str, &str) {
        match self.resource.split_once('/') {
            Some((r, s)) => (r, s),
            None => (self.resource.as_str(), ""),
        }
    }

    /// Does the perm allow this request (ignoring namespace)?
    pub fn allows(&self, req: &ApiRequest) -> bool {
        rule_allows(&self.to_rule(), req)
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.url {
            return write!(f, "{} {}", self.verb, u);
        }
        let g = if self.group.is_empty() { "core" } else { &self.group };
        write!(f, "{} {}/{}", self.verb, g, self.resource)?;
        if let Some(n) = &self.name {
            write!(f, " name={n}")?;
        }
        Ok(())
    }
}

/// A perm with the scope its binding gives it: a namespace, or `""` for cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScopedPerm {
    pub scope: String,
    pub perm: Perm,
}

impl fmt::Display for ScopedPerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scope.is_empty() {
            write!(f, "{} (cluster-wide)", self.perm)
        } else {
            write!(f, "{} in {}", self.perm, self.scope)
        }
    }
}

/// Expand a rule into its atomic perms. The bool is true when the expansion was truncated.
pub fn rule_perms(rule: &Rule) -> (Vec<Perm>, bool) {
    let mut out = Vec::new();
    let mut truncated = false;
    if rule.is_non_resource() {
        for v in &rule.verbs {
            for u in &rule.non_resource_urls {
                out.push(Perm::url(v, u));
            }
        }
        return (out, false);
    }
    let names: Vec<Option<&str>> = if rule.resource_names.is_empty() {
        vec![None]
    } else {
        rule.resource_names.iter().map(|n| Some(n.as_str())).collect()
    };
    'outer: for v in &rule.verbs {
        for g in &rule.api_groups {
            for r in &rule.resources {
                for n in &names {
                    if out.len() >= MAX_PERMS_PER_RULE {
                        truncated = true;
                        break 'outer;
                    }
                    out.push(Perm::resource(v, g, r, *n));
                }
            }
        }
    }
    (out, truncated)
}

/// Does `outer` (a perm, possibly with wildcards) include everything `inner` grants?
pub fn perm_covers(outer: &Perm, inner: &Perm) -> bool {
    if outer.verb != "*" && outer.verb != inner.verb {
        return false;
    }
    match (&outer.url, &inner.url) {
        (Some(o), Some(i)) => o == "*" || o == i || (o.ends_with('*') && i.starts_with(&o[..o.len() - 1])),
        (None, None) => {
            let group_ok = outer.group == "*" || outer.group == inner.group;
            let res_ok = outer.resource == "*"
                || outer.resource == inner.resource
                || (outer.resource.starts_with("*/")
                    && inner.resource.split_once('/').map(|(_, s)| s) == outer.resource.strip_prefix("*/"));
            let name_ok = match (&outer.name, &inner.name) {
                (None, _) => true,
                (Some(o), Some(i)) => o == i,
                (Some(_), None) => false,
            };
            group_ok && res_ok && name_ok
        }
        _ => false,
    }
}

/// Does some rule cover `p`? (A perm is covered by a rule set if one rule covers it whole.)
pub fn rules_cover(rules: &[Rule], p: &Perm) -> bool {
    rules.iter().any(|r| rule_perms(r).0.iter().any(|rp| perm_covers(rp, p)))
}

/// Exact compaction (rbac.md §5 item 27): the returned rules grant exactly `perms`. Verbs with
/// identical name sets merge; resources with identical verbs and names merge; names union.
/// Subresources stay distinct; each rule keeps one API group. Sorted deterministically.
pub fn compact(perms: &BTreeSet<Perm>) -> Vec<Rule> {
    // Non-resource: url -> verbs, then verbs -> urls.
    let mut url_verbs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    // Resource: (group, resource) -> any-name verbs; (group, resource, verb) -> names.
    let mut any_verbs: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    let mut named: BTreeMap<(&str, &str, &str), BTreeSet<&str>> = BTreeMap::new();
    for p in perms {
        match (&p.url, &p.name) {
            (Some(u), _) => {
                url_verbs.entry(u).or_default().insert(&p.verb);
            }
            (None, None) => {
                any_verbs.entry((&p.group, &p.resource)).or_default().insert(&p.verb);
            }
            (None, Some(n)) => {
                named.entry((&p.group, &p.resource, &p.verb)).or_default().insert(n);
            }
        }
    }
    let mut rules = Vec::new();
    let mut verbs_urls: BTreeMap<BTreeSet<&str>, BTreeSet<&str>> = BTreeMap::new();
    for (u, vs) in url_verbs {
        verbs_urls.entry(vs).or_default().insert(u);
    }
    // (group, names, verbs) -> resources
    // (group, names, verbs) -> resources
    type MergeKey<'k> = (&'k str, BTreeSet<&'k str>, BTreeSet<&'k str>);
    let mut merged: BTreeMap<MergeKey<'_>, BTreeSet<&str>> = BTreeMap::new();
    for ((g, r), vs) in any_verbs {
        let verbs: BTreeSet<&str> = vs.into_iter().collect();
        merged.entry((g, BTreeSet::new(), verbs)).or_default().insert(r);
    }
    // named: (group, resource, names) -> verbs, but skip verbs already granted for any name.
    let mut named_by_names: BTreeMap<(&str, &str, BTreeSet<&str>), BTreeSet<&str>> = BTreeMap::new();
    for ((g, r, v), names) in named {
        if perms.contains(&Perm::resource(v, g, r, None)) {
            continue;
        }
        named_by_names.entry((g, r, names)).or_default().insert(v);
    }
    for ((g, r, names), verbs) in named_by_names {
        merged.entry((g, names, verbs)).or_default().insert(r);
    }
    let mut resource_rules: Vec<Rule> = merged
        .into_iter()
        .map(|((g, names, verbs), resources)| Rule {
            verbs: verbs.into_iter().map(str::to_string).collect(),
            api_groups: vec![g.to_string()],
            resources: resources.into_iter().map(str::to_string).collect(),
            resource_names: names.into_iter().map(str::to_string).collect(),
            non_resource_urls: Vec::new(),
        })
        .collect();
    resource_rules.sort_by(|a, b| {
        (&a.api_groups, &a.resources, &a.resource_names, &a.verbs).cmp(&(
            &b.api_groups,
            &b.resources,
            &b.resource_names,
            &b.verbs,
        ))
    });
    rules.extend(resource_rules);
    let mut url_rules: Vec<Rule> = verbs_urls
        .into_iter()
        .map(|(verbs, urls)| Rule {
            verbs: verbs.into_iter().map(str::to_string).collect(),
            non_resource_urls: urls.into_iter().map(str::to_string).collect(),
            ..Rule::default()
        })
        .collect();
    url_rules.sort_by(|a, b| (&a.non_resource_urls, &a.verbs).cmp(&(&b.non_resource_urls, &b.verbs)));
    rules.extend(url_rules);
    rules
}

/// Top-level `create`, `list`, `watch`, `deletecollection` never carry a usable name: a
/// name-restricted rule can never match them (rbac.md §3.3, §5 items 9, 15).
pub fn verb_takes_names(verb: &str, resource: &str) -> bool {
    let is_sub = resource.contains('/');
    !matches!(verb, "list" | "watch" | "deletecollection") && (verb != "create" || is_sub)
}

// ---------------------------------------------------------------------------------------------
// Evidence closure (what the evidence supports; shared by synth::rbac and repair)
// ---------------------------------------------------------------------------------------------

/// How evidence turns into permissions. Serializable so a config section can carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RbacOptions {
    /// Verb expansion applied to observed resource verbs. Default: audit2rbac's map
    /// (`watch→get,list`, `list→get,watch`, `update→get,patch`, `patch→get,update`). Empty = off.
    pub verb_expansion: BTreeMap<String, Vec<String>>,
    /// At this many distinct observed names for one verb/resource/namespace, grant any name
    /// instead of listing names. `0` = never widen (always list names).
    pub name_widen_threshold: usize,
}

impl Default for RbacOptions {
    fn default() -> Self {
        RbacOptions { verb_expansion: audit2rbac_verb_expansion(), name_widen_threshold: 5 }
    }
}

impl RbacOptions {
    /// No verb expansion and no name widening: exactly the observed tuples.
    pub fn exact() -> Self {
        RbacOptions { verb_expansion: BTreeMap::new(), name_widen_threshold: 0 }
    }
}

pub fn audit2rbac_verb_expansion() -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    m.insert("watch".to_string(), vec!["get".to_string(), "list".to_string()]);
    m.insert("list".to_string(), vec!["get".to_string(), "watch".to_string()]);
    m.insert("update".to_string(), vec!["get".to_string(), "patch".to_string()]);
    m.insert("patch".to_string(), vec!["get".to_string(), "update".to_string()]);
    m
}

/// The scoped perms the evidence supports under `opts`: names where every request of a
/// verb/resource/namespace carried one and fewer than the threshold were seen, any name
/// otherwise; verb expansion on top. Non-resource requests become exact URL perms (cluster).
pub fn evidence_perms<'a>(
    requests: impl IntoIterator<Item = &'a ApiRequest>,
    opts: &RbacOptions,
) -> BTreeSet<ScopedPerm> {
    type Key<'k> = (&'k str, &'k str, &'k str, String);
    let mut groups: BTreeMap<Key<'a>, (bool, BTreeSet<&'a str>)> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for r in requests {
        if let Some(path) = &r.path {
            out.insert(ScopedPerm { scope: String::new(), perm: Perm::url(&r.verb, path) });
            continue;
        }
        let entry = groups.entry((&r.namespace, &r.verb, &r.api_group, r.combined_resource())).or_default();
        if r.name.is_empty() {
            entry.0 = true;
        } else {
            entry.1.insert(&r.name);
        }
    }
    for ((ns, verb, group, resource), (nameless, names)) in groups {
        let any = nameless
            || !verb_takes_names(verb, &resource)
            || (opts.name_widen_threshold > 0 && names.len() >= opts.name_widen_threshold);
        let base: Vec<Option<&str>> = if any { vec![None] } else { names.iter().map(|n| Some(*n)).collect() };
        let mut verbs = vec![verb.to_string()];
        if let Some(extra) = opts.verb_expansion.get(verb) {
            verbs.extend(extra.iter().cloned());
        }
        for v in &verbs {
            for n in &base {
                let name = if verb_takes_names(v, &resource) { *n } else { None };
                out.insert(ScopedPerm { scope: ns.to_string(), perm: Perm::resource(v, group, &resource, name) });
            }
        }
    }
    // Drop named perms made redundant by an any-name perm of the same scope/verb/resource.
    let redundant: Vec<ScopedPerm> = out
        .iter()
        .filter(|sp| {
            sp.perm.name.is_some() && {
                let mut any = sp.perm.clone();
                any.name = None;
                out.contains(&ScopedPerm { scope: sp.scope.clone(), perm: any })
            }
        })
        .cloned()
        .collect();
    for r in redundant {
        out.remove(&r);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Bootstrap defaults (rbac.md §3.5)
// ---------------------------------------------------------------------------------------------

/// The default grants every cluster has: `system:discovery`, `system:public-info-viewer` and
/// `system:basic-user` with their bootstrap bindings (Kubernetes ≥ 1.14 policy).
pub fn bootstrap_policy() -> Policy {
    let url_rule = |urls: &[&str]| Rule {
        verbs: vec!["get".into()],
        non_resource_urls: urls.iter().map(|s| s.to_string()).collect(),
        ..Rule::default()
    };
    let cr = |name: &str, rules: Vec<Rule>| RoleObj {
        kind: RoleKind::ClusterRole,
        namespace: String::new(),
        name: name.to_string(),
        labels: BTreeMap::from([("kubernetes.io/bootstrapping".to_string(), "rbac-defaults".to_string())]),
        aggregation: None,
        rules,
    };
    let crb = |name: &str, groups: &[&str]| BindingObj {
        kind: BindingKind::ClusterRoleBinding,
        namespace: String::new(),
        name: name.to_string(),
        role_kind: RoleKind::ClusterRole,
        role_name: name.to_string(),
        subjects: groups.iter().map(|g| SubjectRef::Group(g.to_string())).collect(),
    };
    let roles = vec![
        cr(
            "system:discovery",
            vec![url_rule(&[
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ])],
        ),
        cr("system:public-info-viewer", vec![url_rule(&["/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        cr(
            "system:basic-user",
            vec![
                Rule {
                    verbs: vec!["create".into()],
                    api_groups: vec!["authorization.k8s.io".into()],
                    resources: vec!["selfsubjectaccessreviews".into(), "selfsubjectrulesreviews".into()],
                    ..Rule::default()
                },
                Rule {
                    verbs: vec!["create".into()],
                    api_groups: vec!["authentication.k8s.io".into()],
                    resources: vec!["selfsubjectreviews".into()],
                    ..Rule::default()
                },
            ],
        ),
    ];
    let bindings = vec![
        crb("system:discovery", &["system:authenticated"]),
        crb("system:public-info-viewer", &["system:authenticated", "system:unauthenticated"]),
        crb("system:basic-user", &["system:authenticated"]),
    ];
    Policy::new(roles, bindings)
}

// ---------------------------------------------------------------------------------------------
// Reading and validating objects from untrusted JSON
// ---------------------------------------------------------------------------------------------

/// A problem with a proposed or read object, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// Index of the object in the list it came from.
    pub index: usize,
    /// `Role/ns/name rules[2]` or `object[3]`.
    pub location: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// What `parse_objects` found: RBAC objects (with their index in the input), other objects it
/// ignored, and problems (already fixed in the returned objects, see each message).
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub roles: Vec<(usize, RoleObj)>,
    pub bindings: Vec<(usize, BindingObj)>,
    pub problems: Vec<Problem>,
}

impl Parsed {
    pub fn policy(&self) -> Policy {
        Policy::new(
            self.roles.iter().map(|(_, r)| r.clone()).collect(),
            self.bindings.iter().map(|(_, b)| b.clone()).collect(),
        )
    }
}

fn strings(v: Option<&Value>, loc: &str, field: &str, problems: &mut Vec<String>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => {
            problems.push(format!("{loc}.{field} must be a list of strings, got a string (read as one item)"));
            vec![s.clone()]
        }
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for it in items {
                match it {
                    Value::String(s) => out.push(s.clone()),
                    other => problems.push(format!("{loc}.{field}: ignored non-string item {other}")),
                }
            }
            out
        }
        Some(other) => {
            problems.push(format!("{loc}.{field} must be a list of strings, got {other} (ignored)"));
            Vec::new()
        }
    }
}

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

/// Parse and validate one rule in the context of a Role (`namespaced`) or ClusterRole. Returns
/// `None` when the rule is unusable (and says why). Fixes applied (always narrowing) are
/// reported as problems too.
fn parse_rule(v: &Value, loc: &str, namespaced: bool, problems: &mut Vec<String>) -> Option<Rule> {
    if !v.is_object() {
        problems.push(format!("{loc} is not an object (dropped)"));
        return None;
    }
    let mut rule = Rule {
        verbs: strings(v.get("verbs"), loc, "verbs", problems),
        api_groups: strings(v.get("apiGroups"), loc, "apiGroups", problems),
        resources: strings(v.get("resources"), loc, "resources", problems),
        resource_names: strings(v.get("resourceNames"), loc, "resourceNames", problems),
        non_resource_urls: strings(v.get("nonResourceURLs"), loc, "nonResourceURLs", problems),
    };
    if rule.verbs.is_empty() {
        problems.push(format!("{loc} has no verbs (dropped)"));
        return None;
    }
    if rule.is_non_resource() {
        if namespaced {
            problems.push(format!("{loc}: nonResourceURLs are not allowed in a Role (dropped)"));
            return None;
        }
        if !rule.api_groups.is_empty() || !rule.resources.is_empty() || !rule.resource_names.is_empty() {
            problems.push(format!(
                "{loc}: a rule has either nonResourceURLs or apiGroups/resources, not both (resource part dropped)"
            ));
            rule.api_groups.clear();
            rule.resources.clear();
            rule.resource_names.clear();
        }
        let before = rule.non_resource_urls.len();
        rule.non_resource_urls.retain(|u| {
            let star = u.find('*');
            (u.starts_with('/') || u == "*") && star.is_none_or(|i| i == u.len() - 1)
        });
        if rule.non_resource_urls.len() != before {
            problems.push(format!(
                "{loc}: nonResourceURLs must start with / and may use * only as the final character (invalid entries dropped)"
            ));
        }
        if rule.non_resource_urls.is_empty() {
            return None;
        }
        return Some(rule);
    }
    for g in &rule.api_groups {
        if g == "core" || g.contains('/') {
            problems.push(format!(
                "{loc}: apiGroup {g:?} matches nothing (the core group is \"\"; groups carry no version) (kept as written)"
            ));
        }
    }
    if rule.api_groups.is_empty() || rule.resources.is_empty() {
        problems.push(format!("{loc}: a resource rule needs apiGroups and resources (dropped)"));
        return None;
    }
    let before = rule.resources.len();
    rule.resources.retain(|r| {
        let parts: Vec<&str> = r.split('/').collect();
        match parts.as_slice() {
            [one] => !one.is_empty(),
            [res, sub] => !res.is_empty() && !sub.is_empty() && *sub != "*",
            _ => false,
        }
    });
    if rule.resources.len() != before {
        problems.push(format!(
            "{loc}: resources like `pods/*` or malformed entries are not RBAC wildcards (dropped; use `*` or name subresources)"
        ));
    }
    if rule.resources.is_empty() {
        return None;
    }
    if !rule.resource_names.is_empty() {
        let bad: Vec<String> = rule
            .verbs
            .iter()
            .filter(|v| matches!(v.as_str(), "list" | "watch" | "deletecollection" | "create"))
            .filter(|v| v.as_str() != "create" || rule.resources.iter().any(|r| !r.contains('/')))
            .cloned()
            .collect();
        if !bad.is_empty() {
            problems.push(format!(
                "{loc}: resourceNames can never match nameless {} requests (those verbs dropped from the rule)",
                bad.join("/")
            ));
            rule.verbs.retain(|v| !bad.contains(v));
            if rule.verbs.is_empty() {
                return None;
            }
        }
    }
    Some(rule)
}

fn parse_subject(
    v: &Value,
    binding_ns: &str,
    cluster: bool,
    loc: &str,
    problems: &mut Vec<String>,
) -> Option<SubjectRef> {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(name) = v.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
        problems.push(format!("{loc}: subject without name (dropped)"));
        return None;
    };
    match kind {
        "User" => Some(SubjectRef::User(name.to_string())),
        "Group" => Some(SubjectRef::Group(name.to_string())),
        "ServiceAccount" => {
            let ns = v.get("namespace").and_then(Value::as_str).unwrap_or("");
            if ns.is_empty() {
                if cluster {
                    problems.push(format!("{loc}: ServiceAccount subject needs a namespace (dropped)"));
                    return None;
                }
                Some(SubjectRef::ServiceAccount { namespace: binding_ns.to_string(), name: name.to_string() })
            } else {
                Some(SubjectRef::ServiceAccount { namespace: ns.to_string(), name: name.to_string() })
            }
        }
        other => {
            problems.push(format!("{loc}: unknown subject kind {other:?} (dropped)"));
            None
        }
    }
}

/// Read RBAC objects from JSON values (proposal or inventory). Never panics; anything unusable
/// is dropped and reported. Non-RBAC objects are reported as problems too (a Role proposal
/// must consist of RBAC objects only) unless `ignore_other` is set.
pub fn parse_objects(values: &[Value], ignore_other: bool) -> Parsed {
    let mut out = Parsed::default();
    for (index, v) in values.iter().enumerate() {
        let mut problems = Vec::new();
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let name = str_field(v, &["metadata", "name"]).unwrap_or("");
        let ns = str_field(v, &["metadata", "namespace"]).unwrap_or("");
        let is_rbac_kind = matches!(kind, "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding");
        let loc = if name.is_empty() { format!("object[{index}]") } else { format!("{kind}/{name}") };
        if !is_rbac_kind {
            if !ignore_other {
                out.problems.push(Problem {
                    index,
                    location: loc,
                    message: format!("kind {kind:?} is not an RBAC object (dropped)"),
                });
            }
            continue;
        }
        if api_version != RBAC_API_VERSION {
            problems.push(format!("apiVersion {api_version:?} should be {RBAC_API_VERSION} (read as such)"));
        }
        let namespaced = matches!(kind, "Role" | "RoleBinding");
        let mut usable = true;
        if name.is_empty() {
            problems.push("metadata.name is missing (dropped)".to_string());
            usable = false;
        }
        if namespaced && ns.is_empty() {
            problems.push("metadata.namespace is missing on a namespaced object (dropped)".to_string());
            usable = false;
        }
        if usable {
            match kind {
                "Role" | "ClusterRole" => {
                    let role_kind = if kind == "Role" { RoleKind::Role } else { RoleKind::ClusterRole };
                    let aggregation = if role_kind == RoleKind::ClusterRole {
                        v.get("aggregationRule").filter(|a| !a.is_null()).map(|a| {
                            a.get("clusterRoleSelectors")
                                .and_then(Value::as_array)
                                .map(|sels| sels.iter().map(parse_selector).collect())
                                .unwrap_or_default()
                        })
                    } else {
                        None
                    };
                    let mut rules = Vec::new();
                    match v.get("rules") {
                        None | Some(Value::Null) => {}
                        Some(Value::Array(items)) => {
                            for (i, r) in items.iter().enumerate() {
                                let rloc = format!("rules[{i}]");
                                if let Some(rule) = parse_rule(r, &rloc, namespaced, &mut problems) {
                                    rules.push(rule);
                                }
                            }
                        }
                        Some(_) => problems.push("rules must be a list (ignored)".to_string()),
                    }
                    out.roles.push((
                        index,
                        RoleObj {
                            kind: role_kind,
                            namespace: if namespaced { ns.to_string() } else { String::new() },
                            name: name.to_string(),
                            labels: labels_of(v),
                            aggregation,
                            rules,
                        },
                    ));
                }
                _ => {
                    let binding_kind =
                        if kind == "RoleBinding" { BindingKind::RoleBinding } else { BindingKind::ClusterRoleBinding };
                    let rk = str_field(v, &["roleRef", "kind"]).unwrap_or("");
                    let rn = str_field(v, &["roleRef", "name"]).unwrap_or("");
                    let role_kind = match rk {
                        "Role" if binding_kind == BindingKind::RoleBinding => Some(RoleKind::Role),
                        "ClusterRole" => Some(RoleKind::ClusterRole),
                        _ => None,
                    };
                    match role_kind {
                        Some(role_kind) if !rn.is_empty() => {
                            let mut subjects = Vec::new();
                            if let Some(items) = v.get("subjects").and_then(Value::as_array) {
                                for (i, s) in items.iter().enumerate() {
                                    let sloc = format!("subjects[{i}]");
                                    if let Some(sr) = parse_subject(
                                        s,
                                        ns,
                                        binding_kind == BindingKind::ClusterRoleBinding,
                                        &sloc,
                                        &mut problems,
                                    ) {
                                        subjects.push(sr);
                                    }
                                }
                            }
                            out.bindings.push((
                                index,
                                BindingObj {
                                    kind: binding_kind,
                                    namespace: if namespaced { ns.to_string() } else { String::new() },
                                    name: name.to_string(),
                                    role_kind,
                                    role_name: rn.to_string(),
                                    subjects,
                                },
                            ));
                        }
                        _ => problems.push(format!(
                            "roleRef {rk:?}/{rn:?} is invalid for a {kind} (a ClusterRoleBinding can only refer to a ClusterRole) (dropped)"
                        )),
                    }
                }
            }
        }
        for message in problems {
            out.problems.push(Problem { index, location: loc.clone(), message });
        }
    }
    out
}

fn parse_selector(v: &Value) -> Selector {
    let match_labels = v
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default();
    let match_expressions = v
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    let key = e.get("key").and_then(Value::as_str).unwrap_or("").to_string();
                    let op = e.get("operator").and_then(Value::as_str).unwrap_or("").to_string();
                    let vals = e
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|vs| vs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    (key, op, vals)
                })
                .collect()
        })
        .unwrap_or_default();
    Selector { match_labels, match_expressions }
}

/// The RBAC objects of an inventory as raw JSON (as read; typed value re-serialised if the raw
/// form is missing), in inventory order.
pub fn inventory_values(inv: &crate::model::Inventory) -> Vec<Value> {
    fn raw<T: serde::Serialize>(s: &crate::model::inventory::Sourced<T>, kind: &str) -> Value {
        let mut v =
            if s.raw.is_null() { serde_json::to_value(&s.object).unwrap_or(Value::Null) } else { s.raw.clone() };
        if let Some(m) = v.as_object_mut() {
            m.entry("kind").or_insert_with(|| json!(kind));
            m.entry("apiVersion").or_insert_with(|| json!(RBAC_API_VERSION));
        }
        v
    }
    let mut out = Vec::new();
    out.extend(inv.cluster_roles.iter().map(|s| raw(s, "ClusterRole")));
    out.extend(inv.roles.iter().map(|s| raw(s, "Role")));
    out.extend(inv.cluster_role_bindings.iter().map(|s| raw(s, "ClusterRoleBinding")));
    out.extend(inv.role_bindings.iter().map(|s| raw(s, "RoleBinding")));
    out
}

/// Key of a JSON object (kind, namespace, name).
pub fn value_key(v: &Value) -> ObjectKey {
    ObjectKey {
        kind: v.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
        namespace: str_field(v, &["metadata", "namespace"]).unwrap_or("").to_string(),
        name: str_field(v, &["metadata", "name"]).unwrap_or("").to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Coverage and excess
// ---------------------------------------------------------------------------------------------

/// The subject a target is about (workload targets use the workload's service account).
pub fn target_subject(snapshot: &Snapshot, target: &Target) -> Option<Subject> {
    match &target.scope {
        TargetScope::Subject(s) => Some(s.clone()),
        TargetScope::Workload(w) => snapshot
            .inventory
            .workload(w)
            .map(|wl| Subject::ServiceAccount { namespace: wl.id.namespace.clone(), name: wl.service_account.clone() }),
    }
}

/// The observed allowed requests of a subject that the default grants do not already allow:
/// what a proposal has to cover.
pub fn evidence_requests<'a>(snapshot: &'a Snapshot, subject: &Subject) -> Vec<&'a ApiRequest> {
    let user = UserInfo::for_subject(subject);
    let boot = bootstrap_policy();
    snapshot
        .observed
        .api
        .get(subject)
        .map(|p| p.allowed.keys().filter(|r| !boot.allows(&user, r)).collect())
        .unwrap_or_default()
}

/// Coverage: which requests `policy` allows for `user`, and the ones it does not.
pub fn coverage<'a>(policy: &Policy, user: &UserInfo, requests: &[&'a ApiRequest]) -> (usize, Vec<&'a ApiRequest>) {
    let mut covered = 0;
    let mut missing = Vec::new();
    for r in requests {
        if policy.allows(user, r) {
            covered += 1;
        } else {
            missing.push(*r);
        }
    }
    (covered, missing)
}

/// The observed requests a scoped perm grants. A cluster-wide list/watch (namespace `""`)
/// counts as use of the same perm in every namespace.
fn perm_usage<'a>(sp: &ScopedPerm, requests: &[&'a ApiRequest]) -> Vec<&'a ApiRequest> {
    requests
        .iter()
        .copied()
        .filter(|r| {
            let in_scope = if r.path.is_some() || sp.scope.is_empty() {
                r.path.is_none() || sp.scope.is_empty()
            } else {
                r.namespace == sp.scope || r.namespace.is_empty()
            };
            in_scope && sp.perm.allows(r)
        })
        .collect()
}

/// Excess: atomic grants of `policy` to `user` beyond the observed tuples, one line each,
/// sorted. Unused grants are listed plainly; wildcard grants are always listed (`[wildcard]`,
/// with how many observed requests they served); any-name grants of name-taking verbs whose
/// every use carried a name are listed with the names seen.
pub fn excess(policy: &Policy, user: &UserInfo, requests: &[&ApiRequest]) -> Vec<String> {
    let mut out = Vec::new();
    for sp in policy.scoped_perms(user) {
        let used = perm_usage(&sp, requests);
        if sp.perm.is_wildcard() {
            out.push(format!("{sp} [wildcard; serves {} observed request(s)]", used.len()));
        } else if used.is_empty() {
            out.push(sp.to_string());
        } else if sp.perm.url.is_none()
            && sp.perm.name.is_none()
            && verb_takes_names(&sp.perm.verb, &sp.perm.resource)
            && used.iter().all(|r| !r.name.is_empty())
        {
            let names: BTreeSet<&str> = used.iter().map(|r| r.name.as_str()).collect();
            let shown: Vec<&str> = names.iter().take(5).copied().collect();
            let more = if names.len() > 5 { format!(" and {} more", names.len() - 5) } else { String::new() };
            out.push(format!("{sp} [any name; observed only {}{more}]", shown.join(", ")));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Generation helpers shared with synth::rbac (placement of perms into objects)
// ---------------------------------------------------------------------------------------------

/// Standard metadata for a generated object.
pub fn generated_metadata(name: &str, namespace: Option<&str>, subject: &Subject) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        m.insert("namespace".into(), json!(ns));
    }
    m.insert("labels".into(), json!({ MANAGED_BY_LABEL: MANAGED_BY_VALUE, "kubeguard.io/subject": subject.slug() }));
    Value::Object(m)
}

pub fn role_json(kind: RoleKind, name: &str, namespace: Option<&str>, subject: &Subject, rules: &[Rule]) -> Value {
    json!({
        "apiVersion": RBAC_API_VERSION,
        "kind": match kind { RoleKind::Role => "Role", RoleKind::ClusterRole => "ClusterRole" },
        "metadata": generated_metadata(name, namespace, subject),
        "rules": rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
    })
}

pub fn binding_json(
    kind: BindingKind,
    name: &str,
    namespace: Option<&str>,
    subject: &Subject,
    role_kind: RoleKind,
    role_name: &str,
) -> Value {
    json!({
        "apiVersion": RBAC_API_VERSION,
        "kind": match kind { BindingKind::RoleBinding => "RoleBinding", BindingKind::ClusterRoleBinding => "ClusterRoleBinding" },
        "metadata": generated_metadata(name, namespace, subject),
        "roleRef": {
            "apiGroup": RBAC_GROUP,
            "kind": match role_kind { RoleKind::Role => "Role", RoleKind::ClusterRole => "ClusterRole" },
            "name": role_name,
        },
        "subjects": [SubjectRef::from_subject(subject).to_json()],
    })
}

/// Place scoped perms into objects (rbac.md §5 items 19, 20): cluster-wide perms into one
/// ClusterRole + ClusterRoleBinding; perms seen in exactly one namespace into a Role +
/// RoleBinding there; perms seen with the same set of ≥ 2 namespaces into one ClusterRole bound
/// by RoleBindings in exactly those namespaces. Names start with `prefix`. Output order:
/// ClusterRoles, Roles, ClusterRoleBindings, RoleBindings, each sorted by (namespace, name).
pub fn place(perms: &BTreeSet<ScopedPerm>, subject: &Subject, prefix: &str) -> Vec<Value> {
    let mut cluster: BTreeSet<Perm> = BTreeSet::new();
    let mut by_perm: BTreeMap<&Perm, BTreeSet<&str>> = BTreeMap::new();
    for sp in perms {
        if sp.scope.is_empty() {
            cluster.insert(sp.perm.clone());
        } else if sp.perm.url.is_none() {
            by_perm.entry(&sp.perm).or_default().insert(&sp.scope);
        }
    }
    let mut single: BTreeMap<&str, BTreeSet<Perm>> = BTreeMap::new();
    let mut multi: BTreeMap<BTreeSet<&str>, BTreeSet<Perm>> = BTreeMap::new();
    for (perm, nss) in by_perm {
        if nss.len() == 1 {
            if let Some(ns) = nss.iter().next() {
                single.entry(ns).or_default().insert(perm.clone());
            }
        } else {
            multi.entry(nss).or_default().insert(perm.clone());
        }
    }
    let mut cluster_roles = Vec::new();
    let mut roles = Vec::new();
    let mut crbs = Vec::new();
    let mut rbs = Vec::new();
    if !cluster.is_empty() {
        cluster_roles.push(role_json(RoleKind::ClusterRole, prefix, None, subject, &compact(&cluster)));
        crbs.push(binding_json(BindingKind::ClusterRoleBinding, prefix, None, subject, RoleKind::ClusterRole, prefix));
    }
    for (nss, ps) in &multi {
        let joined: Vec<&str> = nss.iter().copied().collect();
        let digest = {
            use sha2::Digest;
            let d = sha2::Sha256::digest(joined.join(",").as_bytes());
            hex::encode(&d[..4])
        };
        let name = format!("{prefix}:shared-{digest}");
        cluster_roles.push(role_json(RoleKind::ClusterRole, &name, None, subject, &compact(ps)));
        for ns in nss {
            rbs.push(((*ns).to_string(), name.clone(), RoleKind::ClusterRole, name.clone()));
        }
    }
    for (ns, ps) in &single {
        roles.push(role_json(RoleKind::Role, prefix, Some(ns), subject, &compact(ps)));
        rbs.push(((*ns).to_string(), prefix.to_string(), RoleKind::Role, prefix.to_string()));
    }
    rbs.sort();
    let mut out = cluster_roles;
    out.extend(roles);
    out.extend(crbs);
    for (ns, name, rk, rn) in rbs {
        out.push(binding_json(BindingKind::RoleBinding, &name, Some(&ns), subject, rk, &rn));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// check (contract in guard/mod.rs)
// ---------------------------------------------------------------------------------------------

/// Verify (and with `repair`, fix) a Role proposal for `target`. See `guard::GuardOutcome`.
pub fn check(
    snapshot: &Snapshot,
    target: &Target,
    proposal: &[Value],
    original: &[Value],
    repair: bool,
) -> GuardOutcome {
    check_with(snapshot, target, proposal, original, repair, &RbacOptions::default())
}

/// `check` with explicit evidence-closure options (what counts as supported by evidence).
pub fn check_with(
    snapshot: &Snapshot,
    target: &Target,
    proposal: &[Value],
    original: &[Value],
    repair: bool,
    opts: &RbacOptions,
) -> GuardOutcome {
    let mut verdict = GuardVerdict::default();
    let Some(subject) = target_subject(snapshot, target) else {
        verdict.uncovered.push(format!("{target}: the workload is not in the inventory"));
        return GuardOutcome { manifests: proposal.to_vec(), verdict };
    };
    let user = UserInfo::for_subject(&subject);
    let requests = evidence_requests(snapshot, &subject);
    let parsed = parse_objects(proposal, false);
    let orig_parsed = parse_objects(original, true);
    let orig_policy = original_policy(snapshot, &orig_parsed);

    let mut manifests: Vec<Value> = proposal.to_vec();
    // Roles a proposal's bindings may refer to without containing them.
    let mut external = bootstrap_policy();
    external.extend(parse_objects(&inventory_values(&snapshot.inventory), true).policy());
    if repair {
        // Drop objects that are not usable RBAC objects; rewrite the others from their parse.
        let usable: BTreeSet<usize> =
            parsed.roles.iter().map(|(i, _)| *i).chain(parsed.bindings.iter().map(|(i, _)| *i)).collect();
        for p in &parsed.problems {
            verdict.repairs.push(format!("{p}"));
        }
        let support = support_set(&requests, opts, &orig_policy, &user);
        let allowed_subjects = allowed_subjects_for(&subject, &orig_parsed);
        let proposal_policy = parsed.policy();
        let me = SubjectRef::from_subject(&subject);
        let mut new = Vec::new();
        for (i, v) in proposal.iter().enumerate() {
            if !usable.contains(&i) {
                continue;
            }
            if let Some((_, role)) = parsed.roles.iter().find(|(j, _)| *j == i) {
                let scopes = role_scopes(role, &proposal_policy, &user);
                let (rules, removed) = repair_role(role, &scopes, &support);
                for r in removed {
                    verdict
                        .repairs
                        .push(format!("{}: removed {r} (not supported by evidence or original)", role.key()));
                }
                new.push(rewrite_rules(v, &rules));
            } else if let Some((_, b)) = parsed.bindings.iter().find(|(j, _)| *j == i) {
                let keep: Vec<&SubjectRef> = b.subjects.iter().filter(|s| allowed_subjects.contains(*s)).collect();
                for s in b.subjects.iter().filter(|s| !allowed_subjects.contains(*s)) {
                    verdict.repairs.push(format!("{}: removed subject {s} (not the target subject)", b.key()));
                }
                if keep.contains(&&me) && proposal_policy.role_of(b).is_none() {
                    // Binds the subject to a role outside the proposal: keep only if everything
                    // that role grants in the binding's scope is supported.
                    match external.role_of(b) {
                        None => {
                            verdict.repairs.push(format!(
                                "{}: refers to {:?} {:?}, which exists neither in the proposal nor in the inventory (binding dropped)",
                                b.key(),
                                b.role_kind,
                                b.role_name
                            ));
                            continue;
                        }
                        Some(role) => {
                            let unsupported: Vec<Perm> = role
                                .rules
                                .iter()
                                .flat_map(|r| rule_perms(r).0)
                                .filter(|p| !supported_in(&support, b.scope(), p))
                                .collect();
                            if !unsupported.is_empty() {
                                let shown: Vec<String> = unsupported.iter().take(5).map(Perm::to_string).collect();
                                verdict.repairs.push(format!(
                                    "{}: binds to {} which grants {} permission(s) not supported by evidence or original (e.g. {}); binding dropped",
                                    b.key(),
                                    role.key(),
                                    unsupported.len(),
                                    shown.join("; ")
                                ));
                                continue;
                            }
                        }
                    }
                }
                new.push(rewrite_binding(v, b, &keep));
            }
        }
        manifests = new;
    } else {
        for p in &parsed.problems {
            verdict.risks.push(crate::model::Finding {
                rule_id: "KG-RBAC-INVALID".to_string(),
                severity: crate::model::Severity::High,
                subject: p.location.clone(),
                message: p.message.clone(),
            });
        }
    }

    // Coverage in context: defaults + (refine) the rest of the inventory + the proposal.
    let final_parsed = parse_objects(&manifests, false);
    let context = context_policy(snapshot, target.task, original);
    let mut full = context.clone();
    full.extend(final_parsed.policy());
    let (mut covered, mut missing) = coverage(&full, &user, &requests);
    if repair && !missing.is_empty() {
        let restorable: Vec<&ApiRequest> = missing.iter().copied().filter(|r| orig_policy.allows(&user, r)).collect();
        if !restorable.is_empty() {
            let perms = evidence_perms(restorable.iter().copied(), &RbacOptions::exact());
            let prefix = format!("kubeguard:{}:restored", subject.slug());
            for sp in &perms {
                verdict.repairs.push(format!("restored {sp} (observed, allowed by the original)"));
            }
            manifests.extend(place(&perms, &subject, &prefix));
            let final_parsed = parse_objects(&manifests, false);
            let mut full = context.clone();
            full.extend(final_parsed.policy());
            (covered, missing) = coverage(&full, &user, &requests);
        }
    }
    verdict.observed = requests.len();
    verdict.covered = covered;
    verdict.uncovered = missing.iter().map(|r| r.to_string()).collect();
    let final_policy = with_referenced_roles(parse_objects(&manifests, false).policy(), &external);
    verdict.excess = excess(&final_policy, &user, &requests);
    let mut risks = super::risk::assess_policy(&final_policy);
    verdict.risks.append(&mut risks);
    if !original.is_empty() {
        let now: BTreeSet<(String, String)> =
            verdict.risks.iter().map(|f| (f.rule_id.clone(), object_of(&f.subject))).collect();
        verdict.risks_removed = super::risk::assess_values(original)
            .into_iter()
            .filter(|f| !now.contains(&(f.rule_id.clone(), object_of(&f.subject))))
            .collect();
    }
    GuardOutcome { manifests, verdict }
}

/// Add the roles that `p`'s bindings refer to but `p` lacks, taken from `external`.
fn with_referenced_roles(mut p: Policy, external: &Policy) -> Policy {
    let mut missing: Vec<RoleObj> = Vec::new();
    for b in p.bindings.iter().filter(|b| p.role_of(b).is_none()) {
        if let Some(r) = external.role_of(b)
            && !missing.iter().any(|m| m.key() == r.key())
        {
            missing.push(r.clone());
        }
    }
    if !missing.is_empty() {
        p.extend(Policy::new(missing, Vec::new()));
    }
    p
}

/// What the original objects grant: their roles, plus inventory roles their bindings refer to
/// (a refine that moves a subject off a shared role does not list the shared role itself).
fn original_policy(snapshot: &Snapshot, orig: &Parsed) -> Policy {
    let mut roles: Vec<RoleObj> = orig.roles.iter().map(|(_, r)| r.clone()).collect();
    let bindings: Vec<BindingObj> = orig.bindings.iter().map(|(_, b)| b.clone()).collect();
    if !bindings.is_empty() {
        let inv = parse_objects(&inventory_values(&snapshot.inventory), true).policy();
        for b in &bindings {
            if !roles.iter().any(|r| {
                r.kind == b.role_kind
                    && r.name == b.role_name
                    && (r.kind == RoleKind::ClusterRole || r.namespace == b.namespace)
            }) && let Some(r) = inv.role_of(b)
            {
                roles.push(r.clone());
            }
        }
    }
    Policy::new(roles, bindings)
}

/// The object part of a finding subject (`ClusterRole/x rules[1] via ...` → `ClusterRole/x`).
fn object_of(s: &str) -> String {
    s.split_whitespace().next().unwrap_or("").to_string()
}

/// The policy a proposal is evaluated in: bootstrap defaults, plus for refine every inventory
/// RBAC object the proposal does not replace.
pub fn context_policy(snapshot: &Snapshot, task: Task, original: &[Value]) -> Policy {
    let mut p = bootstrap_policy();
    if task == Task::Refine {
        let replaced: BTreeSet<ObjectKey> = original.iter().map(value_key).collect();
        let inv: Vec<Value> =
            inventory_values(&snapshot.inventory).into_iter().filter(|v| !replaced.contains(&value_key(v))).collect();
        p.extend(parse_objects(&inv, true).policy());
    }
    p
}

/// Subjects a repaired binding may keep: the target, plus whoever the same-named original
/// binding already had.
fn allowed_subjects_for(subject: &Subject, orig: &Parsed) -> BTreeSet<SubjectRef> {
    let mut s: BTreeSet<SubjectRef> = BTreeSet::from([SubjectRef::from_subject(subject)]);
    for (_, b) in &orig.bindings {
        s.extend(b.subjects.iter().cloned());
    }
    s
}

/// Everything the evidence (closure under `opts`) or the original (as granted to the subject)
/// supports, scoped.
fn support_set(requests: &[&ApiRequest], opts: &RbacOptions, orig: &Policy, user: &UserInfo) -> BTreeSet<ScopedPerm> {
    let mut s = evidence_perms(requests.iter().copied(), opts);
    s.extend(orig.scoped_perms(user));
    s
}

/// The scopes in which `role` is granted to `user` by the proposal's bindings.
fn role_scopes(role: &RoleObj, policy: &Policy, user: &UserInfo) -> BTreeSet<String> {
    policy
        .grants_for(user)
        .filter(|(_, r)| r.kind == role.kind && r.name == role.name && r.namespace == role.namespace)
        .map(|(b, _)| b.scope().to_string())
        .collect()
}

fn supported_in(support: &BTreeSet<ScopedPerm>, scope: &str, p: &Perm) -> bool {
    let exact = |s: &str| support.contains(&ScopedPerm { scope: s.to_string(), perm: p.clone() });
    if exact(scope) || exact("") {
        return true;
    }
    support.iter().any(|q| (q.scope == scope || q.scope.is_empty()) && perm_covers(&q.perm, p))
}

/// Intersect a role with the support set in every scope it is bound in. Returns the new rules
/// (unchanged when nothing is removed) and the removed perms.
fn repair_role(role: &RoleObj, scopes: &BTreeSet<String>, support: &BTreeSet<ScopedPerm>) -> (Vec<Rule>, Vec<Perm>) {
    if scopes.is_empty() || role.aggregation.is_some() {
        // Grants nothing to the subject (or is controller-managed): left as is.
        return (role.rules.clone(), Vec::new());
    }
    let all = |p: &Perm| scopes.iter().all(|s| supported_in(support, s, p));
    let mut kept: BTreeSet<Perm> = BTreeSet::new();
    let mut removed: Vec<Perm> = Vec::new();
    for rule in &role.rules {
        for p in rule_perms(rule).0 {
            if all(&p) {
                kept.insert(p);
            } else {
                removed.push(p);
            }
        }
    }
    if removed.is_empty() {
        return (role.rules.clone(), removed);
    }
    // What a removed wildcard covered and the support allows stays.
    for q in support {
        if rules_cover(&role.rules, &q.perm) && all(&q.perm) && !kept.iter().any(|k| perm_covers(k, &q.perm)) {
            kept.insert(q.perm.clone());
        }
    }
    removed.sort();
    removed.dedup();
    (compact(&kept), removed)
}

fn rewrite_rules(v: &Value, rules: &[Rule]) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), json!(RBAC_API_VERSION));
        if m.get("aggregationRule").is_none_or(|a| a.is_null()) {
            m.insert("rules".into(), json!(rules.iter().map(Rule::to_json).collect::<Vec<_>>()));
        }
    }
    v
}

fn rewrite_binding(v: &Value, b: &BindingObj, keep: &[&SubjectRef]) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), json!(RBAC_API_VERSION));
        let raw_len = m.get("subjects").and_then(Value::as_array).map_or(0, Vec::len);
        if keep.len() != b.subjects.len() || raw_len != keep.len() {
            m.insert("subjects".into(), json!(keep.iter().map(|s| s.to_json()).collect::<Vec<_>>()));
        }
    }
    v
}

#[cfg(test)]
#[path = "rbac_tests.rs"]
pub(crate) mod tests;
