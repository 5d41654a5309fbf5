//! The only write path to a live cluster: server-side apply of recommended manifests
//! (field manager `kubeguard`). Every object is first sent as a server-side dry-run; only when
//! all dry-runs pass is the user asked, naming the kubeconfig context and the namespaces, and
//! only an explicit `y`/`yes` applies. Nothing is written on any other answer, on an empty
//! answer or on end of input.
//!
//! A binding's `roleRef` is immutable, so a RoleBinding/ClusterRoleBinding whose `roleRef`
//! differs from the one on the server cannot be applied in place: it is shown in the
//! confirmation as a replacement (delete + create), both halves are dry-run (the create under a
//! server-generated name, as the original still exists), and once confirmed the old binding is
//! deleted (precondition: the resourceVersion that was dry-run) and the new one created.
//!
//! It never decides *what* to apply (engines and the guard do), never applies without the
//! dry-run and the confirmation, and never prints object bodies (which may hold secrets) —
//! only kind, namespace and name.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};

use crate::sources::cluster::Connection;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("manifest {index} is not a Kubernetes object: {message}")]
    Invalid { index: usize, message: String },
    #[error("{object}: the server does not serve this kind: {source}")]
    Resolve { object: String, source: kube::Error },
    #[error("{object}: server-side dry-run rejected it: {source}")]
    DryRun { object: String, source: kube::Error },
    #[error("{object}: apply failed: {source}")]
    Apply { object: String, source: kube::Error },
    #[error("cannot read the confirmation: {0}")]
    Io(#[from] std::io::Error),
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedObject {
    /// `Kind namespace/name` (or `Kind name` for cluster-scoped objects).
    pub object: String,
    /// `created`, `configured` or `unchanged` (from the dry-run / apply response).
    pub change: String,
}

/// The outcome of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub context: String,
    pub namespaces: Vec<String>,
    /// The dry-run result per object, in manifest order.
    pub dry_run: Vec<AppliedObject>,
    /// Whether the user confirmed (false → nothing was written).
    pub confirmed: bool,
    /// The real apply result per object (empty when not confirmed).
    pub applied: Vec<AppliedObject>,
}

struct Prepared {
    api: Api<DynamicObject>,
    name: String,
    label: String,
    body: serde_json::Value,
    existing_rv: Option<String>,
    /// `Some(old → new)` when this binding's immutable roleRef changes: delete + create.
    replace: Option<String>,
}

/// `Kind/name` of a binding's roleRef.
fn role_ref(v: &serde_json::Value) -> Option<String> {
    let r = v.get("roleRef")?;
    Some(format!("{}/{}", r.get("kind")?.as_str()?, r.get("name")?.as_str()?))
}

/// Whether `body` is an RBAC binding whose roleRef differs from `existing`'s: `old → new`.
pub fn role_ref_change(existing: &serde_json::Value, body: &serde_json::Value) -> Option<String> {
    let is_binding = matches!(body.get("kind").and_then(|k| k.as_str()), Some("RoleBinding" | "ClusterRoleBinding"))
        && body.get("apiVersion").and_then(|a| a.as_str()).is_some_and(|a| a.starts_with("rbac.authorization.k8s.io/"));
    let group = |v: &serde_json::Value| {
        v.pointer("/roleRef/apiGroup").and_then(|g| g.as_str()).unwrap_or("rbac.authorization.k8s.io").to_string()
    };
    let (old, new) = (role_ref(existing)?, role_ref(body)?);
    (is_binding && (old != new || group(existing) != group(body))).then(|| format!("{old} → {new}"))
}

/// Dry-run every manifest, ask on `out`/`input`, and apply when confirmed. `manifests` are
/// JSON objects with apiVersion, kind and metadata.name (namespace when namespaced; a missing
/// namespace on a namespaced kind uses the connection's default namespace).
pub async fn apply(
    conn: &Connection,
    manifests: &[serde_json::Value],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<ApplyReport, ApplyError> {
    apply_with_prune(conn, manifests, &[], input, out).await
}

/// The objects a refine replaces that are not part of the proposal any more (same kind,
/// namespace and name): e.g. a ClusterRoleBinding narrowed into RoleBindings. These are deleted
/// after the same dry-run and confirmation.
pub fn pruned(original: &[serde_json::Value], proposal: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let key = |v: &serde_json::Value| {
        let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).unwrap_or("").to_string();
        (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
    };
    let keep: BTreeSet<_> = proposal.iter().map(key).collect();
    let mut seen = BTreeSet::new();
    original.iter().filter(|o| !keep.contains(&key(o)) && seen.insert(key(o))).cloned().collect()
}

/// [`apply`] plus deletion of `prune` (see [`pruned`]), dry-run and confirmed together.
pub async fn apply_with_prune(
    conn: &Connection,
    manifests: &[serde_json::Value],
    prune: &[serde_json::Value],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<ApplyReport, ApplyError> {
    let mut prepared = Vec::new();
    let mut namespaces = BTreeSet::new();
    for (index, m) in manifests.iter().enumerate() {
        let p = prepare(conn, index, m).await?;
        if let Some(ns) = p.body.pointer("/metadata/namespace").and_then(|v| v.as_str()) {
            namespaces.insert(ns.to_string());
        }
        prepared.push(p);
    }
    let mut deletions = Vec::new();
    for (index, m) in prune.iter().enumerate() {
        let p = prepare(conn, manifests.len() + index, m).await?;
        if let Some(ns) = p.body.pointer("/metadata/namespace").and_then(|v| v.as_str()) {
            namespaces.insert(ns.to_string());
        }
        deletions.push(p);
    }
    let force = PatchParams::apply("kubeguard").force();
    let dry = PatchParams::apply("kubeguard").force().dry_run();
    let mut dry_run = Vec::new();
    for p in &mut prepared {
        let existing = p.api.get_opt(&p.name).await.ok().flatten();
        p.existing_rv = existing.as_ref().and_then(|o| o.metadata.resource_version.clone());
        p.replace =
            existing.as_ref().and_then(|o| serde_json::to_value(o).ok()).and_then(|o| role_ref_change(&o, &p.body));
        if let Some(what) = &p.replace {
            dry_run_replace(p).await?;
            dry_run.push(AppliedObject {
                object: p.label.clone(),
                change: format!("replaced: roleRef {what} is immutable, delete + create"),
            });
            continue;
        }
        let result = p
            .api
            .patch(&p.name, &dry, &Patch::Apply(&p.body))
            .await
            .map_err(|source| ApplyError::DryRun { object: p.label.clone(), source })?;
        dry_run.push(AppliedObject { object: p.label.clone(), change: change(p.existing_rv.as_deref(), &result) });
    }
    let dry_delete = DeleteParams { dry_run: true, ..DeleteParams::default() };
    for p in &deletions {
        match p.api.delete(&p.name, &dry_delete).await {
            Ok(_) => dry_run.push(AppliedObject { object: p.label.clone(), change: "deleted".into() }),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => return Err(ApplyError::DryRun { object: p.label.clone(), source }),
        }
    }
    let namespaces: Vec<String> = namespaces.into_iter().collect();
    let ns_text = if namespaces.is_empty() { "(cluster-scoped only)".to_string() } else { namespaces.join(", ") };
    writeln!(out, "Server-side dry-run passed for {} object(s) in context {:?}:", dry_run.len(), conn.context)?;
    for d in &dry_run {
        writeln!(out, "  {} ({})", d.object, d.change)?;
    }
    write!(out, "Apply to context {:?} ({}), namespace(s) {ns_text}? [y/N] ", conn.context, conn.server)?;
    out.flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    let confirmed = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    let mut report = ApplyReport { context: conn.context.clone(), namespaces, dry_run, confirmed, applied: Vec::new() };
    if !confirmed {
        writeln!(out, "Not applied.")?;
        return Ok(report);
    }
    for p in &prepared {
        if p.replace.is_some() {
            let delete = DeleteParams {
                preconditions: Some(Preconditions { resource_version: p.existing_rv.clone(), uid: None }),
                ..DeleteParams::default()
            };
            delete_if_present(p, &delete)
                .await
                .map_err(|source| ApplyError::Apply { object: p.label.clone(), source })?;
        }
        let result = p
            .api
            .patch(&p.name, &force, &Patch::Apply(&p.body))
            .await
            .map_err(|source| ApplyError::Apply { object: p.label.clone(), source })?;
        let c = if p.replace.is_some() { "replaced".to_string() } else { change(p.existing_rv.as_deref(), &result) };
        writeln!(out, "  {} {c}", p.label)?;
        report.applied.push(AppliedObject { object: p.label.clone(), change: c });
    }
    for p in &deletions {
        match p.api.delete(&p.name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(source) => return Err(ApplyError::Apply { object: p.label.clone(), source }),
        }
        writeln!(out, "  {} deleted", p.label)?;
        report.applied.push(AppliedObject { object: p.label.clone(), change: "deleted".into() });
    }
    Ok(report)
}

/// Delete (or dry-run delete) `p`'s object; already gone is fine.
async fn delete_if_present(p: &Prepared, params: &DeleteParams) -> Result<(), kube::Error> {
    match p.api.delete(&p.name, params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Dry-run both halves of a replacement: deleting the current object, and creating the new
/// one under a server-generated name (the current one still exists during a dry-run).
async fn dry_run_replace(p: &Prepared) -> Result<(), ApplyError> {
    let dry_delete = DeleteParams {
        dry_run: true,
        preconditions: Some(Preconditions { resource_version: p.existing_rv.clone(), uid: None }),
        ..DeleteParams::default()
    };
    delete_if_present(p, &dry_delete).await.map_err(|source| ApplyError::DryRun { object: p.label.clone(), source })?;
    let mut body = p.body.clone();
    if let Some(meta) = body.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("name");
        meta.insert("generateName".into(), serde_json::Value::String(format!("{}-", p.name)));
    }
    let object: DynamicObject = serde_json::from_value(body)
        .map_err(|e| ApplyError::Invalid { index: 0, message: format!("{}: {e}", p.label) })?;
    let params = PostParams { dry_run: true, field_manager: Some("kubeguard".into()) };
    p.api.create(&params, &object).await.map_err(|source| ApplyError::DryRun { object: p.label.clone(), source })?;
    Ok(())
}

fn change(existing_rv: Option<&str>, result: &DynamicObject) -> String {
    match existing_rv {
        None => "created",
        Some(rv) if result.metadata.resource_version.as_deref() == Some(rv) => "unchanged",
        Some(_) => "configured",
    }
    .to_string()
}

async fn prepare(conn: &Connection, index: usize, m: &serde_json::Value) -> Result<Prepared, ApplyError> {
    let invalid = |message: &str| ApplyError::Invalid { index, message: message.to_string() };
    let api_version = m.get("apiVersion").and_then(|v| v.as_str()).ok_or_else(|| invalid("no apiVersion"))?;
    let kind = m.get("kind").and_then(|v| v.as_str()).ok_or_else(|| invalid("no kind"))?;
    let name = m
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("no metadata.name"))?
        .to_string();
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = discovery::pinned_kind(&conn.client, &gvk)
        .await
        .map_err(|source| ApplyError::Resolve { object: format!("{kind} {name}"), source })?;
    let mut body = m.clone();
    if let Some(meta) = body.get_mut("metadata").and_then(|v| v.as_object_mut()) {
        // Server-side apply rejects these; they are never ours to set.
        for k in ["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"] {
            meta.remove(k);
        }
    }
    if let Some(o) = body.as_object_mut() {
        o.remove("status");
    }
    let (api, label) = match caps.scope {
        Scope::Namespaced => {
            let ns = m
                .pointer("/metadata/namespace")
                .and_then(|v| v.as_str())
                .filter(|n| !n.is_empty())
                .unwrap_or(&conn.default_namespace)
                .to_string();
            if let Some(meta) = body.get_mut("metadata").and_then(|v| v.as_object_mut()) {
                meta.insert("namespace".into(), serde_json::Value::String(ns.clone()));
            }
            (Api::namespaced_with(conn.client.clone(), &ns, &ar), format!("{kind} {ns}/{name}"))
        }
        Scope::Cluster => (Api::all_with(conn.client.clone(), &ar), format!("{kind} {name}")),
    };
    Ok(Prepared { api, name, label, body, existing_rv: None, replace: None })
}

/// `kubeguard recommend --cluster --apply`: apply every recommendation's manifests (and prune
/// what refine replaced) after the dry-run and the confirmation read from `input`.
pub fn run_cli(
    context: Option<&str>,
    recs: &[crate::model::Recommendation],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut manifests = Vec::new();
    let mut prune = Vec::new();
    for rec in recs {
        if !rec.verdict.uncovered.is_empty() {
            writeln!(out, "not applying {}: it would break observed requests", rec.target)?;
            continue;
        }
        prune.extend(pruned(&rec.original, &rec.manifests));
        manifests.extend(rec.manifests.iter().cloned());
    }
    if manifests.is_empty() && prune.is_empty() {
        writeln!(out, "nothing to apply")?;
        return Ok(crate::cli::exit::OK);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let conn = crate::sources::cluster::connect(None, context).await?;
        let report = apply_with_prune(&conn, &manifests, &prune, input, out).await?;
        Ok(if report.confirmed { crate::cli::exit::OK } else { crate::cli::exit::ERROR })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binding(kind: &str, ref_kind: &str, ref_name: &str) -> serde_json::Value {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
            "metadata": {"namespace": "a", "name": "b"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref_name}})
    }

    #[test]
    fn detects_role_ref_changes_of_bindings_only() {
        let old = binding("RoleBinding", "Role", "broad");
        assert_eq!(
            role_ref_change(&old, &binding("RoleBinding", "Role", "narrow")).as_deref(),
            Some("Role/broad → Role/narrow")
        );
        assert_eq!(
            role_ref_change(&old, &binding("RoleBinding", "ClusterRole", "broad")).as_deref(),
            Some("Role/broad → ClusterRole/broad")
        );
        assert_eq!(role_ref_change(&old, &binding("RoleBinding", "Role", "broad")), None);
        // Same roleRef, other fields changed: an in-place apply.
        let mut subjects = binding("RoleBinding", "Role", "broad");
        subjects["subjects"] = json!([{"kind": "ServiceAccount", "name": "x", "namespace": "a"}]);
        assert_eq!(role_ref_change(&old, &subjects), None);
        // Not an RBAC binding, or no roleRef: never a replacement.
        let mut other = binding("Widget", "Role", "narrow");
        other["apiVersion"] = json!("example.com/v1");
        assert_eq!(role_ref_change(&old, &other), None);
        assert_eq!(role_ref_change(&json!({}), &binding("RoleBinding", "Role", "narrow")), None);
    }

    #[test]
    fn pruned_keeps_only_objects_missing_from_the_proposal() {
        let crb = json!({"kind": "ClusterRoleBinding", "metadata": {"name": "x"}});
        let rb = binding("RoleBinding", "Role", "narrow");
        assert_eq!(pruned(&[crb.clone(), rb.clone(), crb.clone()], std::slice::from_ref(&rb)), vec![crb]);
    }
}
