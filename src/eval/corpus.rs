//! The corpus runner: reads a corpus folder (layout in the README, "Evaluation"), loads each
//! application's snapshot per task, asks an engine for every target, and scores the outcome
//! against the application's `truth/` manifests with the unit definitions of `rbac`, `netpol`
//! and `deploy`. The only part of `eval` that reads files; it never writes any.
//!
//! Layout per application folder `APP/`: `manifests/` (inputs of the create task), `refine/`
//! (over-permissive inputs of the refine task), `audit/`, `flows/`, `provenance/`, `metrics/`
//! (logs, shared by both tasks) and `truth/` (ground truth). Instead of (or besides) each of
//! `manifests/`, `refine/` and `truth/`, a file `manifests.paths` / `refine.paths` /
//! `truth.paths` lists files or folders, one per line, relative to `APP/` (`#` comments), so
//! public manifests can be referenced rather than copied.
//!
//! The prediction for a unit is, for a Role, the recommendation's objects (the subject's whole
//! set of bindings; role references may resolve to roles left in the input); otherwise the
//! state after applying the recommendation to the input:
//! the input objects, with those the recommendation rewrites (same kind, namespace, name)
//! replaced and its new objects added. When the engine declines a target (no evidence, not
//! applicable) or a unit has no target, the input stands as it is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{Aggregate, Counts, EvalError};
use crate::engine::EngineError;
use crate::guard::netpol::{NetEndpoint, PolicySet, universe, workload_endpoint};
use crate::model::{Inventory, Recommendation, ResourceKind, Subject, Target, TargetScope, Task};
use crate::snapshot::{Snapshot, SnapshotInputs};

/// Produces a recommendation for a target (an engine).
pub type Propose<'a> = dyn Fn(&Arc<Snapshot>, &Target) -> Result<Recommendation, EngineError> + 'a;

/// The deterministic engine, by kind.
pub fn deterministic(snapshot: &Arc<Snapshot>, target: &Target) -> Result<Recommendation, EngineError> {
    match target.kind {
        ResourceKind::Role => crate::synth::rbac::recommend(snapshot, target),
        ResourceKind::NetworkPolicy => crate::synth::netpol::recommend(snapshot, target),
        ResourceKind::Deployment => crate::synth::deploy::recommend(snapshot, target),
    }
}

/// Score of one unit (a subject for Role, a workload otherwise).
#[derive(Debug, Clone, Serialize)]
pub struct UnitResult {
    pub app: String,
    pub engine: String,
    pub task: Task,
    pub kind: ResourceKind,
    pub unit: String,
    /// False when the engine produced nothing for this unit (the input stands).
    pub recommended: bool,
    pub counts: Counts,
}

/// Aggregate over a group of units; `app` is `*` for the whole corpus.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub app: String,
    pub engine: String,
    pub task: Task,
    pub kind: ResourceKind,
    #[serde(flatten)]
    pub aggregate: Aggregate,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub corpus: String,
    pub resource_tolerance: f64,
    pub rows: Vec<Row>,
    pub units: Vec<UnitResult>,
    /// Engine errors other than "declined" (target, message).
    pub errors: Vec<(String, String)>,
}

/// One application of the corpus.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub dir: PathBuf,
}

/// Application folders (those with `truth/` or `truth.paths`), sorted by name.
pub fn discover(corpus: &Path) -> Result<Vec<App>, EvalError> {
    let err = |e: std::io::Error| EvalError::Corpus { path: corpus.display().to_string(), message: e.to_string() };
    let mut apps = Vec::new();
    for entry in std::fs::read_dir(corpus).map_err(err)? {
        let dir = entry.map_err(err)?.path();
        if dir.join("truth").is_dir() || dir.join("truth.paths").is_file() {
            let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            apps.push(App { name, dir });
        }
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    if apps.is_empty() {
        return Err(EvalError::Corpus {
            path: corpus.display().to_string(),
            message: "no application folder with truth/ or truth.paths".into(),
        });
    }
    Ok(apps)
}

/// `APP/<what>/` if present plus every path listed in `APP/<what>.paths`.
pub fn paths_of(app: &Path, what: &str) -> Result<Vec<PathBuf>, EvalError> {
    let mut out = Vec::new();
    let dir = app.join(what);
    if dir.exists() {
        out.push(dir);
    }
    let list = app.join(format!("{what}.paths"));
    if list.is_file() {
        let text = std::fs::read_to_string(&list)
            .map_err(|e| EvalError::Corpus { path: list.display().to_string(), message: e.to_string() })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let p = app.join(line);
            if !p.exists() {
                return Err(EvalError::Corpus {
                    path: format!("{}:{}", list.display(), i + 1),
                    message: format!("{} does not exist", p.display()),
                });
            }
            out.push(p);
        }
    }
    Ok(out)
}

/// Every object of an inventory as JSON (workloads, RBAC, policies, services, namespaces).
pub fn inventory_values(inv: &Inventory) -> Vec<Value> {
    let mut out: Vec<Value> = inv.workloads.iter().map(|w| w.raw.clone()).collect();
    out.extend(inv.service_accounts.iter().map(|s| s.raw.clone()));
    out.extend(inv.roles.iter().map(|s| s.raw.clone()));
    out.extend(inv.cluster_roles.iter().map(|s| s.raw.clone()));
    out.extend(inv.role_bindings.iter().map(|s| s.raw.clone()));
    out.extend(inv.cluster_role_bindings.iter().map(|s| s.raw.clone()));
    out.extend(inv.network_policies.iter().map(|s| s.raw.clone()));
    out.extend(inv.namespaces.iter().map(|s| s.raw.clone()));
    out
}

fn targets(snapshot: &Snapshot, kind: ResourceKind, task: Task) -> Vec<Target> {
    match kind {
        ResourceKind::Role => crate::synth::rbac::targets(snapshot, task),
        ResourceKind::NetworkPolicy => crate::synth::netpol::targets(snapshot, task),
        ResourceKind::Deployment => crate::synth::deploy::targets(snapshot, task),
    }
}

/// Which part of a corpus to evaluate; empty lists mean "all".
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub apps: Vec<String>,
    pub tasks: Vec<Task>,
    pub kinds: Vec<ResourceKind>,
}

/// Evaluate every application of `corpus` with one engine named `engine`.
pub fn evaluate(corpus: &Path, engine: &str, propose: &Propose<'_>) -> Result<EvalReport, EvalError> {
    evaluate_scope(corpus, &Scope::default(), engine, propose)
}

/// Evaluate the applications, tasks and resources of `scope`; an unknown application name is
/// an error.
pub fn evaluate_scope(
    corpus: &Path,
    scope: &Scope,
    engine: &str,
    propose: &Propose<'_>,
) -> Result<EvalReport, EvalError> {
    let only = &scope.apps;
    let mut apps = discover(corpus)?;
    if let Some(missing) = only.iter().find(|n| !apps.iter().any(|a| &a.name == *n)) {
        return Err(EvalError::Corpus {
            path: corpus.display().to_string(),
            message: format!("no application `{missing}` in the corpus"),
        });
    }
    if !only.is_empty() {
        apps.retain(|a| only.contains(&a.name));
    }
    let mut units = Vec::new();
    let mut errors = Vec::new();
    for app in &apps {
        let truth_paths = paths_of(&app.dir, "truth")?;
        let (truth_inv, _) = crate::sources::manifests::load(&truth_paths, false)?;
        let truth = inventory_values(&truth_inv);
        for task in [Task::Create, Task::Refine] {
            if !scope.tasks.is_empty() && !scope.tasks.contains(&task) {
                continue;
            }
            let inputs = paths_of(&app.dir, if task == Task::Create { "manifests" } else { "refine" })?;
            if inputs.is_empty() {
                continue;
            }
            let mut si = SnapshotInputs::from_dir(&app.dir);
            si.manifests = inputs;
            let mut snapshot = crate::snapshot::load(&si, &|_, _| {})?;
            snapshot.label = app.name.clone();
            let snapshot = Arc::new(snapshot);
            for kind in [ResourceKind::Role, ResourceKind::NetworkPolicy, ResourceKind::Deployment] {
                if !scope.kinds.is_empty() && !scope.kinds.contains(&kind) {
                    continue;
                }
                let mut recs: BTreeMap<TargetScope, Recommendation> = BTreeMap::new();
                for t in targets(&snapshot, kind, task) {
                    match propose(&snapshot, &t) {
                        Ok(r) => {
                            recs.insert(t.scope.clone(), r);
                        }
                        Err(EngineError::NoEvidence(_) | EngineError::NotApplicable(_)) => {}
                        Err(e) => errors.push((format!("{}: {t}", app.name), e.to_string())),
                    }
                }
                let scored = score(&snapshot, kind, &recs, &truth);
                units.extend(scored.into_iter().map(|(unit, recommended, counts)| UnitResult {
                    app: app.name.clone(),
                    engine: engine.to_string(),
                    task,
                    kind,
                    unit,
                    recommended,
                    counts,
                }));
            }
        }
    }
    Ok(EvalReport {
        corpus: corpus.display().to_string(),
        resource_tolerance: super::deploy::RESOURCE_TOLERANCE,
        rows: rows(&units),
        units,
        errors,
    })
}

/// Score every unit of `kind` in `snapshot` given the recommendations per target scope.
pub fn score(
    snapshot: &Snapshot,
    kind: ResourceKind,
    recs: &BTreeMap<TargetScope, Recommendation>,
    truth: &[Value],
) -> Vec<(String, bool, Counts)> {
    let inv = &snapshot.inventory;
    let input = inventory_values(inv);
    let kept = |scope: &TargetScope| -> (bool, Vec<Value>) {
        match recs.get(scope) {
            Some(r) => (true, applied(&input, &r.manifests)),
            None => (false, input.clone()),
        }
    };
    let mut out = Vec::new();
    match kind {
        ResourceKind::Role => {
            let mut subjects: BTreeSet<Subject> = super::rbac::bound_subjects(truth);
            let namespaces: BTreeSet<&str> = inv.workloads.iter().map(|w| w.id.namespace.as_str()).collect();
            for w in &inv.workloads {
                subjects.insert(Subject::ServiceAccount {
                    namespace: w.id.namespace.clone(),
                    name: w.service_account.clone(),
                });
            }
            for scope in recs.keys() {
                if let TargetScope::Subject(s @ Subject::ServiceAccount { namespace, .. }) = scope
                    && namespaces.contains(namespace.as_str())
                {
                    subjects.insert(s.clone());
                }
            }
            let mut disc = super::rbac::Discovery::builtin();
            disc.learn_objects(truth);
            disc.learn_objects(&input);
            for profile in snapshot.observed.api.subjects.values() {
                for req in profile.allowed.keys().chain(profile.denied.keys()).chain(profile.unresolved.keys()) {
                    if !req.namespace.is_empty() {
                        disc.namespaces.insert(req.namespace.clone());
                    }
                    let r = if req.subresource.is_empty() {
                        req.resource.clone()
                    } else {
                        format!("{}/{}", req.resource, req.subresource)
                    };
                    disc.learn_resource(&req.api_group, &r);
                }
            }
            // Namespaces come from the inputs and the truth only, so that the truth's units
            // do not depend on what an engine proposed; resources named by proposals count.
            let namespaces = disc.namespaces.clone();
            for r in recs.values() {
                disc.learn_objects(&r.manifests);
            }
            disc.namespaces = namespaces;
            let input_roles: Vec<Value> =
                input.iter().filter(|o| matches!(kind_of(o), "Role" | "ClusterRole")).cloned().collect();
            for s in subjects {
                let scope = TargetScope::Subject(s.clone());
                // An RBAC recommendation is the subject's complete set of bindings (refine
                // replaces the old ones); its roleRefs may point at roles left in the input.
                let (recommended, pred) = match recs.get(&scope) {
                    Some(r) => (true, r.manifests.clone()),
                    None => (false, input.clone()),
                };
                let p = super::rbac::grants(&s, &pred, &input_roles, &disc);
                let t = super::rbac::grants(&s, truth, &[], &disc);
                out.push((s.to_string(), recommended, Counts::of_sets(&p, &t)));
            }
        }
        ResourceKind::NetworkPolicy => {
            let u = universe(snapshot);
            let truth_set = PolicySet::from_values(truth);
            for w in &inv.workloads {
                let me = workload_endpoint(inv, w);
                if !matches!(me, NetEndpoint::Pod(_)) {
                    continue;
                }
                let dirs = super::netpol::isolated_directions(&truth_set, &me);
                if dirs.is_empty() {
                    continue;
                }
                let label = w.id.to_string();
                let scope = TargetScope::Workload(w.id.clone());
                let (recommended, pred) = kept(&scope);
                let pred_set = PolicySet::from_values(&pred);
                let p = super::netpol::connections(&pred_set, &me, &label, &u, &dirs);
                let t = super::netpol::connections(&truth_set, &me, &label, &u, &dirs);
                out.push((label, recommended, Counts::of_sets(&p, &t)));
            }
        }
        ResourceKind::Deployment => {
            for w in &inv.workloads {
                let Some(t) = truth.iter().find(|o| {
                    kind_of(o) == w.id.kind.as_str()
                        && o.pointer("/metadata/name").and_then(Value::as_str) == Some(w.id.name.as_str())
                        && o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default")
                            == w.id.namespace
                }) else {
                    continue;
                };
                let scope = TargetScope::Workload(w.id.clone());
                let (recommended, pred) = match recs.get(&scope).and_then(|r| r.manifests.first()) {
                    Some(m) => (true, m.clone()),
                    None => (false, w.raw.clone()),
                };
                let c = super::deploy::compare(
                    &super::deploy::facts(&pred),
                    &super::deploy::facts(t),
                    super::deploy::RESOURCE_TOLERANCE,
                );
                out.push((w.id.to_string(), recommended, c));
            }
        }
    }
    out
}

/// The objects after applying `manifests` over `input`: an object with the same kind,
/// namespace and name is replaced, others are added.
pub fn applied(input: &[Value], manifests: &[Value]) -> Vec<Value> {
    let key = |o: &Value| {
        (
            kind_of(o).to_string(),
            o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string(),
            o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(),
        )
    };
    let replaced: BTreeSet<_> = manifests.iter().map(key).collect();
    input.iter().filter(|o| !replaced.contains(&key(o))).chain(manifests).cloned().collect()
}

fn kind_of(o: &Value) -> &str {
    o.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// Per-application rows and corpus totals (`*`), per engine × task × kind.
pub fn rows(units: &[UnitResult]) -> Vec<Row> {
    let mut groups: BTreeMap<(String, String, Task, ResourceKind), Vec<Counts>> = BTreeMap::new();
    for u in units {
        for app in [u.app.clone(), "*".to_string()] {
            groups.entry((u.engine.clone(), app, u.task, u.kind)).or_default().push(u.counts);
        }
    }
    groups
        .into_iter()
        .map(|((engine, app, task, kind), c)| Row { app, engine, task, kind, aggregate: Aggregate::of(&c) })
        .collect()
}
