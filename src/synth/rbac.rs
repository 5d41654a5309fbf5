//! Deterministic RBAC engine: least-privilege Roles/ClusterRoles and bindings per subject from
//! the audit profile (*create*), and tightening of a subject's existing RBAC (*refine*). Every
//! proposal goes through `guard::rbac::check` before it is returned.
//!
//! Owns: placement and naming of generated objects, refine's split of shared roles, evidence
//! per rule, findings for denied / admission-rejected requests. Must not: do I/O, grant denied
//! requests, or (refine) add any permission the original objects did not grant.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::engine::EngineError;
use crate::guard::rbac::{
    self as g, BindingKind, BindingObj, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Perm, Policy, RbacOptions, RoleKind,
    RoleObj, ScopedPerm, SubjectRef, UserInfo,
};
use crate::guard::risk;
use crate::model::{
    ApiRequest, Evidence, Finding, Recommendation, ResourceKind, RuleEvidence, Severity, Subject, Target, TargetScope,
    Task,
};
use crate::snapshot::Snapshot;

pub const ENGINE_NAME: &str = "deterministic";

/// Identities that are served by other authorizers or are the control plane itself: reported,
/// never given generated Roles (rbac.md §5 item 4).
pub fn is_reserved_identity(subject: &Subject) -> bool {
    match subject {
        Subject::User { name } => {
            name.starts_with("system:node:")
                || name.starts_with("system:kube-")
                || name == "system:apiserver"
                || name == "system:anonymous"
                || name.is_empty()
        }
        _ => false,
    }
}

/// Bootstrap / well-known roles that must never be edited in place (shared by design).
fn is_well_known_role(name: &str) -> bool {
    matches!(name, "cluster-admin" | "admin" | "edit" | "view") || name.starts_with("system:")
}

/// Targets for the RBAC engine. *create*: every subject with observed allowed requests beyond
/// the default grants (reserved control-plane identities excluded). *refine*: every service
/// account or user that an inventory binding names explicitly.
pub fn targets(snapshot: &Snapshot, task: Task) -> Vec<Target> {
    let mut subjects: BTreeSet<Subject> = BTreeSet::new();
    match task {
        Task::Create => {
            for (s, p) in &snapshot.observed.api.subjects {
                if is_reserved_identity(s) || matches!(s, Subject::Group { .. }) {
                    continue;
                }
                if !g::evidence_requests(snapshot, s).is_empty() || !p.denied.is_empty() {
                    subjects.insert(s.clone());
                }
            }
        }
        Task::Refine => {
            let parsed = g::parse_objects(&g::inventory_values(&snapshot.inventory), true);
            for (_, b) in &parsed.bindings {
                for s in &b.subjects {
                    match s {
                        SubjectRef::ServiceAccount { namespace, name } => {
                            subjects
                                .insert(Subject::ServiceAccount { namespace: namespace.clone(), name: name.clone() });
                        }
                        SubjectRef::User(n) => {
                            subjects.insert(Subject::User { name: n.clone() });
                        }
                        SubjectRef::Group(_) => {}
                    }
                }
            }
        }
    }
    subjects.into_iter().map(|s| Target { scope: TargetScope::Subject(s), kind: ResourceKind::Role, task }).collect()
}

/// Deterministic recommendation with default options (see `RbacOptions::default`).
pub fn recommend(snapshot: &Snapshot, target: &Target) -> Result<Recommendation, EngineError> {
    recommend_with(snapshot, target, &RbacOptions::default())
}

pub fn recommend_with(snapshot: &Snapshot, target: &Target, opts: &RbacOptions) -> Result<Recommendation, EngineError> {
    if target.kind != ResourceKind::Role {
        return Err(EngineError::NotApplicable(format!("{target}: the RBAC engine only makes Roles")));
    }
    let subject = g::target_subject(snapshot, target)
        .ok_or_else(|| EngineError::NotApplicable(format!("{target}: workload not in the inventory")))?;
    match target.task {
        Task::Create => create(snapshot, target, &subject, opts),
        Task::Refine => refine(snapshot, target, &subject, opts),
    }
}

fn subject_findings(snapshot: &Snapshot, subject: &Subject) -> Vec<Finding> {
    let mut out = Vec::new();
    let who = subject.to_string();
    if is_reserved_identity(subject) {
        out.push(Finding {
            rule_id: "KG-RBAC-RESERVED-IDENTITY".into(),
            severity: Severity::Info,
            subject: who.clone(),
            message: "control-plane, node or anonymous identity: served by other authorizers or bootstrap policy; \
                      review instead of binding generated roles"
                .into(),
        });
    }
    let Some(profile) = snapshot.observed.api.get(subject) else { return out };
    if profile.groups.contains("system:masters") {
        out.push(Finding {
            rule_id: "KG-RBAC-SYSTEM-MASTERS".into(),
            severity: Severity::High,
            subject: who.clone(),
            message: "the API server reported this identity in group system:masters, which bypasses RBAC: no Role \
                      restricts it. The proposed roles take effect only once its credential no longer carries \
                      that group (e.g. a client certificate without O=system:masters)"
                .into(),
        });
    }
    for (r, e) in &profile.denied {
        out.push(Finding {
            rule_id: "KG-RBAC-DENIED-REQUEST".into(),
            severity: Severity::Medium,
            subject: who.clone(),
            message: format!("observed request denied by RBAC, not granted: {r} ({})", e.summary()),
        });
    }
    for (r, e) in &profile.admission_rejected {
        out.push(Finding {
            rule_id: "KG-RBAC-ADMISSION-REJECTED".into(),
            severity: Severity::Info,
            subject: who.clone(),
            message: format!(
                "403 with an allow decision (admission, escalation check or webhook refused it; RBAC allowed it): {r} ({})",
                e.summary()
            ),
        });
    }
    if !profile.credited_bindings.is_empty() {
        let mut credited: Vec<(&String, &Evidence)> = profile.credited_bindings.iter().collect();
        credited.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        let shown: Vec<String> = credited.iter().take(10).map(|(b, e)| format!("{b} ({}x)", e.count)).collect();
        let more = if credited.len() > 10 { format!(" and {} more", credited.len() - 10) } else { String::new() };
        out.push(Finding {
            rule_id: "KG-RBAC-CREDITED-BINDINGS".into(),
            severity: Severity::Info,
            subject: who.clone(),
            message: format!("the API server credited these bindings for allowed requests: {}{more}", shown.join(", ")),
        });
    }
    let user = UserInfo::for_subject(subject);
    let boot = g::bootstrap_policy();
    let defaults = profile.allowed.keys().filter(|r| boot.allows(&user, r)).count();
    if defaults > 0 {
        out.push(Finding {
            rule_id: "KG-RBAC-DEFAULT-GRANTS".into(),
            severity: Severity::Info,
            subject: who,
            message: format!(
                "{defaults} observed request(s) are allowed by the default grants (system:discovery, \
                 system:public-info-viewer, system:basic-user) and are not granted again"
            ),
        });
    }
    out
}

fn create(
    snapshot: &Snapshot,
    target: &Target,
    subject: &Subject,
    opts: &RbacOptions,
) -> Result<Recommendation, EngineError> {
    let requests = g::evidence_requests(snapshot, subject);
    let mut findings = subject_findings(snapshot, subject);
    if requests.is_empty() && findings.iter().all(|f| f.rule_id != "KG-RBAC-DENIED-REQUEST") {
        return Err(EngineError::NoEvidence(format!("{subject}: no allowed API requests beyond the default grants")));
    }
    let parsed = g::parse_objects(&g::inventory_values(&snapshot.inventory), true);
    let me = SubjectRef::from_subject(subject);
    let existing: Vec<String> =
        parsed.bindings.iter().filter(|(_, b)| b.subjects.contains(&me)).map(|(_, b)| b.label()).collect();
    if !existing.is_empty() {
        findings.push(Finding {
            rule_id: "KG-RBAC-EXISTING-BINDINGS".into(),
            severity: Severity::Info,
            subject: subject.to_string(),
            message: format!("the subject is already bound by {}; consider `refine` instead", existing.join(", ")),
        });
    }
    let perms = g::evidence_perms(requests.iter().copied(), opts);
    let prefix = format!("kubeguard:{}", subject.slug());
    let manifests = g::place(&perms, subject, &prefix);
    let outcome = g::check_with(snapshot, target, &manifests, &[], true, opts);
    let evidence = rule_evidence(snapshot, subject, &outcome.manifests);
    findings.sort();
    Ok(Recommendation {
        target: target.clone(),
        engine: ENGINE_NAME.to_string(),
        manifests: outcome.manifests,
        original: Vec::new(),
        evidence,
        findings,
        removed: Vec::new(),
        verdict: outcome.verdict,
    })
}

/// Evidence for every rule of every role in `manifests`: the observed requests the rule allows
/// in the scopes where the role is bound to the subject.
pub fn rule_evidence(snapshot: &Snapshot, subject: &Subject, manifests: &[Value]) -> Vec<RuleEvidence> {
    let Some(profile) = snapshot.observed.api.get(subject) else { return Vec::new() };
    let user = UserInfo::for_subject(subject);
    let parsed = g::parse_objects(manifests, true);
    let policy = parsed.policy();
    let mut out = Vec::new();
    for (index, role) in &parsed.roles {
        let role = policy.role(role.kind, &role.namespace, &role.name).unwrap_or(role);
        let scopes: BTreeSet<&str> = policy
            .grants_for(&user)
            .filter(|(_, r)| r.kind == role.kind && r.name == role.name && r.namespace == role.namespace)
            .map(|(b, _)| b.scope())
            .collect();
        for (i, rule) in role.rules.iter().enumerate() {
            let mut ev = Evidence::default();
            let mut n = 0usize;
            for (r, e) in &profile.allowed {
                let in_scope = scopes.iter().any(|s| s.is_empty() || (r.is_resource_request() && r.namespace == *s));
                if in_scope && g::rule_allows(rule, r) {
                    ev.merge(e);
                    n += 1;
                }
            }
            let scope_text = if scopes.is_empty() {
                "not bound to the subject".to_string()
            } else {
                scopes.iter().map(|s| if s.is_empty() { "cluster-wide" } else { s }).collect::<Vec<_>>().join(", ")
            };
            out.push(RuleEvidence {
                manifest: *index,
                path: format!("rules[{i}]"),
                what: format!("{rule} ({scope_text}; {n} distinct request(s))"),
                evidence: ev,
            });
        }
    }
    out
}

/// Server-populated metadata that must not be written back.
fn strip_server_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink"] {
                meta.remove(k);
            }
            if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                ann.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
    }
    v
}

/// The perms of `role` that the subject's observed requests used, tightened: verb expansion and
/// name widening per `opts` where the original rule allows it, exact otherwise. Always a subset
/// of what `role` grants.
fn tightened_perms(role: &RoleObj, used: &[&ApiRequest], opts: &RbacOptions) -> BTreeSet<Perm> {
    let strip = |s: BTreeSet<ScopedPerm>| s.into_iter().map(|sp| sp.perm).collect::<BTreeSet<Perm>>();
    let mut kept: BTreeSet<Perm> = strip(g::evidence_perms(used.iter().copied(), opts))
        .into_iter()
        .filter(|p| g::rules_cover(&role.rules, p))
        .collect();
    for r in used {
        // the exact perm of each request, so nothing used is lost when a widened form is not covered
        let exact = strip(g::evidence_perms([*r], &RbacOptions::exact()));
        for p in exact {
            if kept.iter().any(|k| g::perm_covers(k, &p)) {
                continue;
            }
            if g::rules_cover(&role.rules, &p) {
                kept.insert(p);
            } else if r.is_resource_request() && !r.name.is_empty() {
                // e.g. list with a metadata.name field selector allowed by a name-restricted rule
                let named = Perm::resource(&r.verb, &r.api_group, &r.combined_resource(), Some(&r.name));
                if g::rules_cover(&role.rules, &named) {
                    kept.insert(named);
                }
            }
        }
    }
    let redundant: Vec<Perm> = kept
        .iter()
        .filter(|p| {
            p.name.is_some() && {
                let mut any = (*p).clone();
                any.name = None;
                kept.contains(&any)
            }
        })
        .cloned()
        .collect();
    for p in redundant {
        kept.remove(&p);
    }
    kept
}

fn role_label(role: &RoleObj) -> String {
    match role.kind {
        RoleKind::ClusterRole => format!("ClusterRole/{}", role.name),
        RoleKind::Role => format!("Role/{}/{}", role.namespace, role.name),
    }
}

/// Removed permissions of `role` (as the original spelled them, wildcards included) with the
/// highest risk they had in any of the scopes the subject held them in.
fn removed_lines(role: &RoleObj, kept: &BTreeSet<Perm>, scopes: &BTreeSet<String>) -> Vec<(String, Severity)> {
    // Group removed atoms by (narrowed?, severity, risk ids), then compact each group back into
    // rules so one line lists e.g. `get,list,watch core/nodes,pods`.
    type Group = (bool, Severity, Vec<&'static str>);
    let mut groups: BTreeMap<Group, BTreeSet<Perm>> = BTreeMap::new();
    let mut out = Vec::new();
    for rule in &role.rules {
        let (perms, truncated) = g::rule_perms(rule);
        for p in perms {
            if kept.iter().any(|k| g::perm_covers(k, &p)) {
                continue;
            }
            let narrowed = kept.iter().any(|k| g::perm_covers(&p, k));
            let mut sev = Severity::Info;
            let mut ids = BTreeSet::new();
            for s in scopes {
                let scope = if s.is_empty() { None } else { Some(s.as_str()) };
                let (sv, found) = risk::perm_severity(&p, scope);
                sev = sev.max(sv);
                ids.extend(found);
            }
            groups.entry((narrowed, sev, ids.into_iter().collect())).or_default().insert(p);
        }
        if truncated {
            out.push((format!("{}: rule {rule} has too many combinations to list", role_label(role)), Severity::Info));
        }
    }
    let where_ = scopes.iter().map(|s| if s.is_empty() { "cluster-wide" } else { s }).collect::<Vec<_>>().join(", ");
    for ((narrowed, sev, ids), perms) in groups {
        let what = if narrowed { "narrowed to what was used" } else { "removed" };
        let risk_ids = if ids.is_empty() { String::new() } else { format!(" [{}]", ids.join(", ")) };
        for rule in g::compact(&perms) {
            out.push((format!("{}: {what}: {rule} ({where_}){risk_ids}", role_label(role)), sev));
        }
    }
    out
}

/// When the subject holds a ClusterRole only through ClusterRoleBindings but used it only for
/// namespaced resource requests, the namespaces it used it in: RoleBindings there suffice.
fn narrowable_to_namespaces(bindings: &[(usize, &BindingObj)], used: &[&ApiRequest]) -> Option<BTreeSet<String>> {
    if used.is_empty() || !bindings.iter().all(|(_, b)| b.kind == BindingKind::ClusterRoleBinding) {
        return None;
    }
    if used.iter().any(|r| !r.is_resource_request() || r.namespace.is_empty()) {
        return None;
    }
    Some(used.iter().map(|r| r.namespace.clone()).collect())
}

/// The removed-permission line for a cluster-wide grant narrowed to some namespaces, with the
/// risk the kept permissions had cluster-wide.
fn narrowing_line(
    bindings: &[(usize, &BindingObj)],
    nss: &BTreeSet<String>,
    kept: &BTreeSet<Perm>,
) -> (String, Severity) {
    let sev = kept.iter().map(|p| risk::perm_severity(p, None).0).max().unwrap_or(Severity::Info);
    let names: Vec<String> = bindings.iter().map(|(_, b)| b.label()).collect();
    let nss: Vec<&str> = nss.iter().map(String::as_str).collect();
    (
        format!(
            "{}: cluster-wide scope removed; the kept rules are bound by RoleBindings in {} only",
            names.join(", "),
            nss.join(", ")
        ),
        sev,
    )
}

fn refine(
    snapshot: &Snapshot,
    target: &Target,
    subject: &Subject,
    opts: &RbacOptions,
) -> Result<Recommendation, EngineError> {
    let inv_values = g::inventory_values(&snapshot.inventory);
    let parsed = g::parse_objects(&inv_values, true);
    let policy: Policy = parsed.policy();
    let me = SubjectRef::from_subject(subject);
    let user = UserInfo::for_subject(subject);
    let direct: Vec<(usize, &BindingObj)> =
        parsed.bindings.iter().filter(|(_, b)| b.subjects.contains(&me)).map(|(i, b)| (*i, b)).collect();
    if direct.is_empty() {
        return Err(EngineError::NotApplicable(format!(
            "{subject} has no RoleBinding or ClusterRoleBinding to refine"
        )));
    }
    let requests = g::evidence_requests(snapshot, subject);
    let mut findings = subject_findings(snapshot, subject);
    let mut removed: Vec<(String, Severity)> = Vec::new();
    let mut manifests: Vec<Value> = Vec::new();
    let mut original: Vec<Value> = Vec::new();
    let slug = subject.slug();

    // Group the subject's direct bindings by the role they grant.
    type RoleId = (RoleKind, String, String);
    let mut by_role: BTreeMap<RoleId, Vec<(usize, &BindingObj)>> = BTreeMap::new();
    for (i, b) in &direct {
        let ns = if b.role_kind == RoleKind::Role { b.namespace.clone() } else { String::new() };
        by_role.entry((b.role_kind, ns, b.role_name.clone())).or_default().push((*i, b));
    }
    for ((kind, ns, name), bindings) in &by_role {
        let Some(role) = policy.role(*kind, ns, name) else {
            for (i, b) in bindings {
                findings.push(Finding {
                    rule_id: "KG-RBAC-MISSING-ROLE".into(),
                    severity: Severity::Medium,
                    subject: b.label(),
                    message: format!("refers to {kind:?} {name:?}, which is not in the inventory; left unchanged"),
                });
                original.push(inv_values[*i].clone());
                manifests.push(strip_server_fields(&inv_values[*i]));
            }
            continue;
        };
        let role_index = parsed.roles.iter().find(|(_, r)| r.key() == role.key()).map(|(i, _)| *i);
        let scopes: BTreeSet<String> = bindings.iter().map(|(_, b)| b.scope().to_string()).collect();
        let used: Vec<&ApiRequest> = requests
            .iter()
            .copied()
            .filter(|r| {
                scopes.iter().any(|s| s.is_empty() || (r.is_resource_request() && r.namespace == *s))
                    && role.rules.iter().any(|rule| g::rule_allows(rule, r))
            })
            .collect();
        let kept = tightened_perms(role, &used, opts);
        removed.extend(removed_lines(role, &kept, &scopes));
        let other_subjects = parsed.bindings.iter().any(|(_, b)| {
            b.role_kind == role.kind
                && b.role_name == role.name
                && (role.kind == RoleKind::ClusterRole || b.namespace == role.namespace)
                && b.subjects.iter().any(|s| *s != me)
        });
        let shared = other_subjects || is_well_known_role(&role.name) || role.aggregation.is_some();
        let new_rules = g::compact(&kept);
        if !shared {
            let Some(ri) = role_index else { continue };
            original.push(inv_values[ri].clone());
            for (i, _) in bindings {
                original.push(inv_values[*i].clone());
            }
            if kept.is_empty() {
                findings.push(Finding {
                    rule_id: "KG-RBAC-UNUSED-ROLE".into(),
                    severity: Severity::Low,
                    subject: role_label(role),
                    message: format!(
                        "no observed request used it: delete it and {}",
                        bindings.iter().map(|(_, b)| b.label()).collect::<Vec<_>>().join(", ")
                    ),
                });
                continue;
            }
            let mut v = strip_server_fields(&inv_values[ri]);
            if let Some(m) = v.as_object_mut() {
                m.insert("rules".into(), json!(new_rules.iter().map(g::Rule::to_json).collect::<Vec<_>>()));
            }
            manifests.push(v);
            match (narrowable_to_namespaces(bindings, &used), bindings.first()) {
                (Some(nss), Some((first, _))) => {
                    // Only ClusterRoleBindings, only namespaced use: RoleBindings (same name,
                    // labels, annotations) in the namespaces used replace them.
                    let first = *first;
                    for ns in &nss {
                        let mut v = strip_server_fields(&inv_values[first]);
                        if let Some(m) = v.as_object_mut() {
                            m.insert("kind".into(), json!("RoleBinding"));
                            if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                                meta.insert("namespace".into(), json!(ns));
                            }
                            m.insert("subjects".into(), json!([me.to_json()]));
                        }
                        manifests.push(v);
                    }
                    removed.push(narrowing_line(bindings, &nss, &kept));
                }
                _ => {
                    for (i, _) in bindings {
                        manifests.push(strip_server_fields(&inv_values[*i]));
                    }
                }
            }
        } else {
            // Shared role: never shrink it under other subjects. The subject gets its own copy
            // with only what it used; its bindings move to the copy.
            let reason = if other_subjects {
                "bound to other subjects too"
            } else if role.aggregation.is_some() {
                "aggregated (rules are controller-managed)"
            } else {
                "a well-known role"
            };
            findings.push(Finding {
                rule_id: "KG-RBAC-SHARED-ROLE-SPLIT".into(),
                severity: Severity::Info,
                subject: role_label(role),
                message: format!(
                    "{reason}: left unchanged; {subject} gets a per-subject copy with only what it used and its \
                     bindings move to the copy"
                ),
            });
            for (i, b) in bindings {
                original.push(inv_values[*i].clone());
                let others: Vec<&SubjectRef> = b.subjects.iter().filter(|s| **s != me).collect();
                if !others.is_empty() {
                    let mut v = strip_server_fields(&inv_values[*i]);
                    if let Some(m) = v.as_object_mut() {
                        m.insert("subjects".into(), json!(others.iter().map(|s| s.to_json()).collect::<Vec<_>>()));
                    }
                    manifests.push(v);
                } else {
                    findings.push(Finding {
                        rule_id: "KG-RBAC-BINDING-REPLACED".into(),
                        severity: Severity::Info,
                        subject: b.label(),
                        message: format!("only bound {subject}: delete it (replaced by a per-subject binding)"),
                    });
                }
            }
            if kept.is_empty() {
                continue;
            }
            let copy_name = format!("kubeguard:{slug}:{}", role.name);
            let mut role_v = g::role_json(
                role.kind,
                &copy_name,
                if role.kind == RoleKind::Role { Some(role.namespace.as_str()) } else { None },
                subject,
                &new_rules,
            );
            if let Some(meta) = role_v.get_mut("metadata").and_then(Value::as_object_mut) {
                let mut labels: serde_json::Map<String, Value> = role
                    .labels
                    .iter()
                    .filter(|(k, _)| {
                        !k.starts_with("rbac.authorization.k8s.io/aggregate-to-") && *k != "kubernetes.io/bootstrapping"
                    })
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY_VALUE));
                labels.insert("kubeguard.io/subject".into(), json!(slug));
                meta.insert("labels".into(), Value::Object(labels));
                meta.insert("annotations".into(), json!({"kubeguard.io/derived-from": role_label(role)}));
            }
            manifests.push(role_v);
            if let Some(nss) = narrowable_to_namespaces(bindings, &used) {
                for ns in &nss {
                    manifests.push(g::binding_json(
                        BindingKind::RoleBinding,
                        &copy_name,
                        Some(ns),
                        subject,
                        role.kind,
                        &copy_name,
                    ));
                }
                removed.push(narrowing_line(bindings, &nss, &kept));
            } else {
                let mut seen = BTreeSet::new();
                for (_, b) in bindings {
                    let ns = if b.kind == BindingKind::RoleBinding { Some(b.namespace.as_str()) } else { None };
                    if seen.insert((b.kind, b.namespace.clone())) {
                        manifests.push(g::binding_json(b.kind, &copy_name, ns, subject, role.kind, &copy_name));
                    }
                }
            }
        }
    }
    // Grants through groups are not changed by refine: say so.
    for (b, role) in policy.grants_for(&user) {
        if b.subjects.contains(&me) || role.rules.is_empty() {
            continue;
        }
        if let Some(SubjectRef::Group(gname)) = b.subjects.iter().find(|s| s.applies_to(&user)) {
            findings.push(Finding {
                rule_id: "KG-RBAC-GROUP-GRANT".into(),
                severity: Severity::Info,
                subject: b.label(),
                message: format!(
                    "{subject} also receives {} through Group {gname}; not changed by refine",
                    role_label(role)
                ),
            });
        }
    }
    let outcome = g::check_with(snapshot, target, &manifests, &original, true, opts);
    let evidence = rule_evidence(snapshot, subject, &outcome.manifests);
    findings.sort();
    findings.dedup();
    removed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    removed.dedup();
    Ok(Recommendation {
        target: target.clone(),
        engine: ENGINE_NAME.to_string(),
        manifests: outcome.manifests,
        original,
        evidence,
        findings,
        removed,
        verdict: outcome.verdict,
    })
}

#[cfg(test)]
#[path = "rbac_tests.rs"]
mod tests;
