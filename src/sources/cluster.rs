//! Live cluster source (kube-rs): connects with a kubeconfig context, reads what exists
//! (workloads, bare pods, service accounts, Roles/ClusterRoles/bindings, NetworkPolicies,
//! Services, Namespaces) into an [`Inventory`], and runs API discovery into an [`ApiCatalog`]
//! (resources, scopes, subresources and verbs, CRDs included) so RBAC wildcards and names can
//! be resolved against what the server really serves.
//!
//! It only reads. It never writes to the cluster (that is `crate::apply`), never decides
//! anything, and strips `metadata.managedFields` from every object it keeps. Output is sorted
//! so the same cluster state gives the same inventory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Pod, PodSpec, PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub mod live;

use crate::model::inventory::Sourced;
use crate::model::{Inventory, ManifestOrigin, Workload, WorkloadKind, WorkloadRef};

/// Errors talking to a cluster. Messages name the context and the resource.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("cannot build a client for context {context}: {message}")]
    Client { context: String, message: String },
    #[error("listing {resource} in context {context} failed: {source}")]
    List { context: String, resource: String, source: kube::Error },
    #[error("watching {resource} in context {context} failed: {message}")]
    Watch { context: String, resource: String, message: String },
    #[error("API discovery in context {context} failed: {source}")]
    Discovery { context: String, source: kube::Error },
}

/// A connected client plus the names needed to label what it reads and to confirm writes.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    /// The kubeconfig context in use (explicit or current).
    pub context: String,
    /// The context's default namespace (`default` when unset).
    pub default_namespace: String,
    /// The API server URL.
    pub server: String,
}

/// Connect using `$KUBECONFIG` / `~/.kube/config` (or `kubeconfig` when given) and `context`
/// (the current context when `None`).
pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Connection, ClusterError> {
    let kc = match kubeconfig {
        Some(p) => Kubeconfig::read_from(p).map_err(|e| ClusterError::Kubeconfig(format!("{}: {e}", p.display())))?,
        None => Kubeconfig::read().map_err(|e| ClusterError::Kubeconfig(e.to_string()))?,
    };
    let context_name = match context {
        Some(c) => c.to_string(),
        None => kc
            .current_context
            .clone()
            .ok_or_else(|| ClusterError::Kubeconfig("no current-context and no --context given".to_string()))?,
    };
    if !kc.contexts.iter().any(|c| c.name == context_name) {
        return Err(ClusterError::Kubeconfig(format!("context {context_name:?} not found in kubeconfig")));
    }
    let options = KubeConfigOptions { context: Some(context_name.clone()), cluster: None, user: None };
    let config = Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| ClusterError::Client { context: context_name.clone(), message: e.to_string() })?;
    let default_namespace = config.default_namespace.clone();
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config)
        .map_err(|e| ClusterError::Client { context: context_name.clone(), message: e.to_string() })?;
    Ok(Connection { client, context: context_name, default_namespace, server })
}

/// The contract entry point: read the inventory of the current (or named) context, restricted to
/// `namespace` for namespaced kinds when given. Cluster-scoped RBAC objects are always read.
pub async fn load(context: Option<&str>, namespace: Option<&str>) -> Result<Inventory, ClusterError> {
    let conn = connect(None, context).await?;
    load_from(&conn, namespace).await
}

/// [`load`] over an existing connection: one paginated list per kind (for a cache that stays
/// up to date, see [`live::LiveInventory`]).
pub async fn load_from(conn: &Connection, namespace: Option<&str>) -> Result<Inventory, ClusterError> {
    let r = Reader { conn, namespace };
    let lists = Lists {
        namespaces: r.list_cluster().await?,
        service_accounts: r.list_namespaced().await?,
        roles: r.list_namespaced().await?,
        role_bindings: r.list_namespaced().await?,
        cluster_roles: r.list_cluster().await?,
        cluster_role_bindings: r.list_cluster().await?,
        network_policies: r.list_namespaced().await?,
        services: r.list_namespaced().await?,
        deployments: r.list_namespaced().await?,
        stateful_sets: r.list_namespaced().await?,
        daemon_sets: r.list_namespaced().await?,
        replica_sets: r.list_namespaced().await?,
        jobs: r.list_namespaced().await?,
        cron_jobs: r.list_namespaced().await?,
        pods: r.list_namespaced().await?,
    };
    Ok(assemble(lists, namespace, &origin_path(conn)))
}

fn origin_path(conn: &Connection) -> String {
    format!("cluster:{}", conn.context)
}

/// Everything an inventory is built from, as read from the server (one-shot lists or watch
/// caches). Pods and ReplicaSets run by a modelled controller may be left out by the caller:
/// they are skipped anyway.
#[derive(Debug, Default)]
pub(crate) struct Lists {
    pub namespaces: Vec<Namespace>,
    pub service_accounts: Vec<ServiceAccount>,
    pub roles: Vec<Role>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_roles: Vec<ClusterRole>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub network_policies: Vec<NetworkPolicy>,
    pub services: Vec<Service>,
    pub deployments: Vec<Deployment>,
    pub stateful_sets: Vec<StatefulSet>,
    pub daemon_sets: Vec<DaemonSet>,
    pub replica_sets: Vec<ReplicaSet>,
    pub jobs: Vec<Job>,
    pub cron_jobs: Vec<CronJob>,
    pub pods: Vec<Pod>,
}

/// Pure: build the inventory from what was read. Sorts every list by (namespace, name) and
/// strips `managedFields`, so the same cluster state gives the same inventory however it was read.
pub(crate) fn assemble(l: Lists, namespace: Option<&str>, origin_path: &str) -> Inventory {
    let mut inv = Inventory::default();
    let mut namespaces = l.namespaces;
    if let Some(ns) = namespace {
        namespaces.retain(|n| n.metadata.name.as_deref() == Some(ns));
    }
    inv.namespaces = sourced(namespaces, origin_path);
    inv.service_accounts = sourced(l.service_accounts, origin_path);
    inv.roles = sourced(l.roles, origin_path);
    inv.role_bindings = sourced(l.role_bindings, origin_path);
    inv.cluster_roles = sourced(l.cluster_roles, origin_path);
    inv.cluster_role_bindings = sourced(l.cluster_role_bindings, origin_path);
    inv.network_policies = sourced(l.network_policies, origin_path);
    inv.services = sourced(l.services, origin_path);

    let mut workloads = Vec::new();
    for d in sorted(l.deployments) {
        let spec = d.spec.clone().unwrap_or_default();
        workloads.push((WorkloadKind::Deployment, d.metadata.clone(), spec.template, Some(spec.selector), to_raw(&d)));
    }
    for s in sorted(l.stateful_sets) {
        let spec = s.spec.clone().unwrap_or_default();
        workloads.push((WorkloadKind::StatefulSet, s.metadata.clone(), spec.template, Some(spec.selector), to_raw(&s)));
    }
    for s in sorted(l.daemon_sets) {
        let spec = s.spec.clone().unwrap_or_default();
        workloads.push((WorkloadKind::DaemonSet, s.metadata.clone(), spec.template, Some(spec.selector), to_raw(&s)));
    }
    for s in sorted(l.replica_sets) {
        let spec = s.spec.clone().unwrap_or_default();
        workloads.push((
            WorkloadKind::ReplicaSet,
            s.metadata.clone(),
            spec.template.unwrap_or_default(),
            Some(spec.selector),
            to_raw(&s),
        ));
    }
    for j in sorted(l.jobs) {
        let spec = j.spec.clone().unwrap_or_default();
        workloads.push((WorkloadKind::Job, j.metadata.clone(), spec.template, spec.selector, to_raw(&j)));
    }
    for c in sorted(l.cron_jobs) {
        let spec = c.spec.clone().unwrap_or_default();
        let template = PodTemplateSpec {
            metadata: spec.job_template.spec.as_ref().and_then(|s| s.template.metadata.clone()),
            spec: spec.job_template.spec.as_ref().and_then(|s| s.template.spec.clone()),
        };
        workloads.push((WorkloadKind::CronJob, c.metadata.clone(), template, None, to_raw(&c)));
    }
    for p in sorted(l.pods) {
        let template = PodTemplateSpec { metadata: Some(pod_template_meta(&p.metadata)), spec: p.spec.clone() };
        workloads.push((WorkloadKind::Pod, p.metadata.clone(), template, None, to_raw(&p)));
    }
    let mut index = 0;
    for (kind, meta, template, selector, raw) in workloads {
        // Objects run by a modelled controller (ReplicaSet of a Deployment, Pod of a ReplicaSet,
        // Job of a CronJob...) are that controller's workload, not a separate one.
        if controlled_by_workload(meta.owner_references.as_deref()) {
            continue;
        }
        if let Some(w) = workload(kind, &meta, template, selector, raw, origin_path, index) {
            inv.workloads.push(w);
            index += 1;
        }
    }
    inv.workloads.sort_by(|a, b| a.id.cmp(&b.id));
    inv
}

/// Sorted by (namespace, name), `managedFields` dropped.
fn sorted<K: Resource>(mut items: Vec<K>) -> Vec<K> {
    for o in &mut items {
        o.meta_mut().managed_fields = None;
    }
    items.sort_by_key(|a| (a.namespace(), a.name_any()));
    items
}

fn sourced<K: Serialize + Resource>(items: Vec<K>, origin_path: &str) -> Vec<Sourced<K>> {
    sorted(items)
        .into_iter()
        .enumerate()
        .map(|(document, object)| {
            let raw = to_raw(&object);
            Sourced { object, origin: ManifestOrigin { path: origin_path.to_string(), line: 0, document }, raw }
        })
        .collect()
}

struct Reader<'a> {
    conn: &'a Connection,
    namespace: Option<&'a str>,
}

impl Reader<'_> {
    async fn list_namespaced<K>(&self) -> Result<Vec<K>, ClusterError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = match self.namespace {
            Some(ns) => Api::namespaced(self.conn.client.clone(), ns),
            None => Api::all(self.conn.client.clone()),
        };
        self.list_all(api).await
    }

    async fn list_cluster<K>(&self) -> Result<Vec<K>, ClusterError>
    where
        K: Resource<Scope = k8s_openapi::ClusterResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
        K::DynamicType: Default,
    {
        self.list_all(Api::all(self.conn.client.clone())).await
    }

    /// Paginated list (500 per page), `managedFields` stripped.
    async fn list_all<K>(&self, api: Api<K>) -> Result<Vec<K>, ClusterError>
    where
        K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let mut out = Vec::new();
        let mut params = ListParams::default().limit(500);
        loop {
            let page = api.list(&params).await.map_err(|source| ClusterError::List {
                context: self.conn.context.clone(),
                resource: K::plural(&K::DynamicType::default()).to_string(),
                source,
            })?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            out.extend(page.items.into_iter().map(|mut o| {
                o.meta_mut().managed_fields = None;
                o
            }));
            match next {
                Some(c) => params = params.continue_token(&c),
                None => break,
            }
        }
        Ok(out)
    }
}

/// The object as JSON with `apiVersion`/`kind` set (k8s-openapi serialises them) and without
/// `managedFields` or `status`-free noise removed elsewhere.
fn to_raw<K: Serialize>(object: &K) -> serde_json::Value {
    let mut v = serde_json::to_value(object).unwrap_or(serde_json::Value::Null);
    if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
    }
    v
}

fn pod_template_meta(meta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta { labels: meta.labels.clone(), annotations: meta.annotations.clone(), ..ObjectMeta::default() }
}

pub(crate) fn controlled_by_workload(owners: Option<&[OwnerReference]>) -> bool {
    owners.unwrap_or_default().iter().any(|o| o.controller == Some(true) && WorkloadKind::parse(&o.kind).is_some())
}

fn effective_service_account(spec: Option<&PodSpec>) -> String {
    spec.and_then(|s| s.service_account_name.clone().or_else(|| s.service_account.clone()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

fn workload(
    kind: WorkloadKind,
    meta: &ObjectMeta,
    mut template: PodTemplateSpec,
    selector: Option<LabelSelector>,
    raw: serde_json::Value,
    origin_path: &str,
    document: usize,
) -> Option<Workload> {
    let name = meta.name.clone()?;
    let namespace = meta.namespace.clone().unwrap_or_else(|| "default".to_string());
    if let Some(m) = template.metadata.as_mut() {
        m.managed_fields = None;
    }
    let selector = selector.unwrap_or_else(|| LabelSelector {
        match_labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
        match_expressions: None,
    });
    Some(Workload {
        id: WorkloadRef { namespace, kind, name },
        service_account: effective_service_account(template.spec.as_ref()),
        template,
        selector,
        origin: ManifestOrigin { path: origin_path.to_string(), line: 0, document },
        raw,
    })
}

/// A snapshot for the headless commands: the live inventory of `context` plus the evidence
/// files in `inputs` (manifests in `inputs` are ignored: the cluster is the inventory). Sync:
/// runs its own runtime, so it must not be called from inside one (async callers use
/// [`load_from`] and `snapshot::load`).
pub fn load_snapshot(
    context: Option<&str>,
    inputs: &crate::snapshot::SnapshotInputs,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<crate::snapshot::Snapshot, crate::sources::InputError> {
    let invalid =
        |e: ClusterError| crate::sources::InputError::Invalid { path: "cluster".into(), message: e.to_string() };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| crate::sources::InputError::Io { path: "tokio runtime".into(), source })?;
    let (conn, inventory) = rt
        .block_on(async {
            let conn = connect(None, context).await?;
            let inv = load_from(&conn, None).await?;
            Ok::<_, ClusterError>((conn, inv))
        })
        .map_err(invalid)?;
    progress("cluster", 0);
    let evidence = crate::snapshot::SnapshotInputs { manifests: Vec::new(), ..inputs.clone() };
    let mut snapshot = crate::snapshot::load(&evidence, progress)?;
    snapshot.label = format!("cluster:{}", conn.context);
    snapshot.inventory = inventory;
    Ok(snapshot)
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// One API resource as the server serves it (all versions of a group folded together: RBAC is
/// version-agnostic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResourceInfo {
    /// API group (`""` = core).
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    pub kind: String,
    /// Plural resource name as used in RBAC rules.
    pub plural: String,
    pub namespaced: bool,
    /// Verbs the resource supports (`get`, `list`, `watch`, `create`, ...), sorted.
    pub verbs: Vec<String>,
    /// Subresource name → its verbs (`status` → [get, patch, update], `exec` → [create, get]).
    pub subresources: BTreeMap<String, Vec<String>>,
}

/// The verb × resource × group × scope table of one server, sorted by (group, plural).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCatalog {
    pub resources: Vec<ApiResourceInfo>,
    /// Whether aggregated discovery (2 requests) worked, or the per-group fallback was used.
    pub aggregated: bool,
}

impl ApiCatalog {
    pub fn get(&self, group: &str, plural: &str) -> Option<&ApiResourceInfo> {
        self.resources
            .binary_search_by(|r| (r.group.as_str(), r.plural.as_str()).cmp(&(group, plural)))
            .ok()
            .map(|i| &self.resources[i])
    }

    /// Scope of a resource: `Some(true)` namespaced, `Some(false)` cluster-scoped, `None` unknown.
    pub fn is_namespaced(&self, group: &str, plural: &str) -> Option<bool> {
        self.get(group, plural).map(|r| r.namespaced)
    }

    /// All served groups, sorted.
    pub fn groups(&self) -> BTreeSet<&str> {
        self.resources.iter().map(|r| r.group.as_str()).collect()
    }

    /// Expand one RBAC rule's `apiGroups` × `resources` × `verbs` (with `*`, `*/sub`) into the
    /// concrete (group, resource-or-resource/sub, verb) triples this server serves. Only verbs
    /// the resource supports are produced for `*`; listed verbs are kept even when unsupported
    /// (RBAC does not check them), so the result is what the rule can actually be used for.
    pub fn expand_rule(
        &self,
        groups: &[String],
        resources: &[String],
        verbs: &[String],
    ) -> Vec<(String, String, String)> {
        let any_group = groups.iter().any(|g| g == "*");
        let any_verb = verbs.iter().any(|v| v == "*");
        let mut out = BTreeSet::new();
        for r in &self.resources {
            if !any_group && !groups.contains(&r.group) {
                continue;
            }
            let mut candidates: Vec<(String, &Vec<String>)> = vec![(r.plural.clone(), &r.verbs)];
            for (sub, sub_verbs) in &r.subresources {
                candidates.push((format!("{}/{sub}", r.plural), sub_verbs));
            }
            for (combined, supported) in candidates {
                let sub = combined.split_once('/').map(|(_, s)| s);
                let matches = resources
                    .iter()
                    .any(|e| e == "*" || *e == combined || (sub.is_some() && e.strip_prefix("*/") == sub));
                if !matches {
                    continue;
                }
                let vs: Vec<&String> = if any_verb { supported.iter().collect() } else { verbs.iter().collect() };
                for v in vs {
                    out.insert((r.group.clone(), combined.clone(), v.clone()));
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Run discovery: aggregated first (Kubernetes ≥ 1.26), falling back to per-group discovery.
pub async fn discover(conn: &Connection) -> Result<ApiCatalog, ClusterError> {
    let (discovery, aggregated) = match Discovery::new(conn.client.clone()).run_aggregated().await {
        Ok(d) => (d, true),
        Err(_) => (
            Discovery::new(conn.client.clone())
                .run()
                .await
                .map_err(|source| ClusterError::Discovery { context: conn.context.clone(), source })?,
            false,
        ),
    };
    let mut by_key: BTreeMap<(String, String), ApiResourceInfo> = BTreeMap::new();
    for group in discovery.groups() {
        let preferred = group.preferred_version_or_latest().to_string();
        let mut versions: Vec<String> = group.versions().map(str::to_string).collect();
        versions.sort_by_key(|v| v != &preferred);
        for version in &versions {
            for (ar, caps) in group.versioned_resources(version) {
                let entry = by_key.entry((ar.group.clone(), ar.plural.clone())).or_insert_with(|| ApiResourceInfo {
                    group: ar.group.clone(),
                    versions: Vec::new(),
                    kind: ar.kind.clone(),
                    plural: ar.plural.clone(),
                    namespaced: matches!(caps.scope, Scope::Namespaced),
                    verbs: Vec::new(),
                    subresources: BTreeMap::new(),
                });
                if !entry.versions.contains(&ar.version) {
                    entry.versions.push(ar.version.clone());
                }
                merge_sorted(&mut entry.verbs, &caps.operations);
                for (sub, sub_caps) in &caps.subresources {
                    merge_sorted(entry.subresources.entry(sub.plural.clone()).or_default(), &sub_caps.operations);
                }
            }
        }
    }
    Ok(ApiCatalog { resources: by_key.into_values().collect(), aggregated })
}

fn merge_sorted(into: &mut Vec<String>, add: &[String]) {
    let set: BTreeSet<String> = into.iter().chain(add.iter()).cloned().collect();
    *into = set.into_iter().collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> ApiCatalog {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut pods_subs = BTreeMap::new();
        pods_subs.insert("exec".to_string(), s(&["create", "get"]));
        pods_subs.insert("log".to_string(), s(&["get"]));
        let mut deploy_subs = BTreeMap::new();
        deploy_subs.insert("scale".to_string(), s(&["get", "patch", "update"]));
        ApiCatalog {
            resources: vec![
                ApiResourceInfo {
                    group: "".into(),
                    versions: s(&["v1"]),
                    kind: "Pod".into(),
                    plural: "pods".into(),
                    namespaced: true,
                    verbs: s(&["create", "delete", "get", "list", "watch"]),
                    subresources: pods_subs,
                },
                ApiResourceInfo {
                    group: "apps".into(),
                    versions: s(&["v1"]),
                    kind: "Deployment".into(),
                    plural: "deployments".into(),
                    namespaced: true,
                    verbs: s(&["get", "list"]),
                    subresources: deploy_subs,
                },
            ],
            aggregated: true,
        }
    }

    #[test]
    fn expands_wildcards_and_subresource_patterns() {
        let c = catalog();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let all = c.expand_rule(&s(&["*"]), &s(&["*"]), &s(&["get"]));
        assert!(all.contains(&("".into(), "pods/log".into(), "get".into())));
        assert!(all.contains(&("apps".into(), "deployments/scale".into(), "get".into())));
        assert_eq!(all.len(), 5);
        let scale = c.expand_rule(&s(&["*"]), &s(&["*/scale"]), &s(&["*"]));
        assert_eq!(scale.len(), 3, "{scale:?}");
        // plain `pods` does not cover `pods/exec`.
        let pods = c.expand_rule(&s(&[""]), &s(&["pods"]), &s(&["create"]));
        assert_eq!(pods, vec![("".to_string(), "pods".to_string(), "create".to_string())]);
        assert_eq!(c.is_namespaced("apps", "deployments"), Some(true));
        assert_eq!(c.is_namespaced("apps", "nope"), None);
    }

    #[test]
    fn assemble_sorts_strips_and_folds_controlled_objects() {
        fn obj<K: DeserializeOwned>(v: serde_json::Value) -> K {
            serde_json::from_value(v).unwrap()
        }
        let deploy = |ns: &str, name: &str| -> Deployment {
            obj(serde_json::json!({"metadata": {"namespace": ns, "name": name,
                    "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
                "spec": {"selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"serviceAccountName": name, "containers": []}}}}))
        };
        let pod = |name: &str, owner: Option<&str>| -> Pod {
            let owners = owner.map(|o| serde_json::json!([{"apiVersion": "apps/v1", "kind": o, "name": "x", "uid": "u", "controller": true}]));
            obj(serde_json::json!({"metadata": {"namespace": "a", "name": name, "ownerReferences": owners},
                "spec": {"containers": []}}))
        };
        let lists = Lists {
            deployments: vec![deploy("b", "web"), deploy("a", "zeta"), deploy("a", "api")],
            pods: vec![pod("web-abc", Some("ReplicaSet")), pod("debug", None)],
            ..Lists::default()
        };
        let inv = assemble(lists, None, "cluster:test");
        let ids: Vec<String> = inv.workloads.iter().map(|w| w.id.to_string()).collect();
        assert_eq!(ids, ["Deployment a/api", "Deployment a/zeta", "Pod a/debug", "Deployment b/web"], "{ids:?}");
        assert!(inv.workloads.iter().all(|w| w.raw["metadata"].get("managedFields").is_none()));
        let debug = inv.workloads.iter().find(|w| w.id.name == "debug").unwrap();
        assert_eq!(debug.service_account, "default");
        assert_eq!(inv.workloads[0].service_account, "api");
        assert!(inv.workloads.iter().all(|w| w.origin.path == "cluster:test"));
    }

    #[test]
    fn controlled_objects_are_not_separate_workloads() {
        let owner = |kind: &str, controller| OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: "x".into(),
            uid: "u".into(),
            controller: Some(controller),
            block_owner_deletion: None,
        };
        assert!(controlled_by_workload(Some(&[owner("ReplicaSet", true)])));
        assert!(!controlled_by_workload(Some(&[owner("ReplicaSet", false)])));
        assert!(!controlled_by_workload(Some(&[owner("MyOperator", true)])));
        assert!(!controlled_by_workload(None));
    }
}
