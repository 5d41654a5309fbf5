//! Watch-backed live inventory: one kube-runtime watcher + reflector store per kind, kept up to
//! date in the background, so a long-running view (the TUI) sees objects created, changed or
//! deleted after it started without reconnecting.
//!
//! Metadata first: Pods and ReplicaSets (the high-volume kinds, almost always run by a
//! controller) are watched as `PartialObjectMeta` only; the full object is fetched on demand, only
//! for the few that no modelled controller owns (bare pods, orphan ReplicaSets), and cached by
//! uid + resourceVersion. Every other kind is watched in full with `managedFields` dropped as
//! events arrive. The inventory itself is built by the same pure `assemble` as the one-shot
//! [`super::load_from`], so both give the same result for the same cluster state.
//!
//! It only reads, never decides anything, and stops its watchers when dropped.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ClusterError, Connection, Lists, assemble, controlled_by_workload, origin_path};
use crate::model::Inventory;

/// Last watch error per resource (plural), for reporting a cache that never became ready.
type Errors = Arc<Mutex<BTreeMap<String, String>>>;

/// The reflector stores of one live view.
struct Stores {
    namespaces: Store<Namespace>,
    service_accounts: Store<ServiceAccount>,
    roles: Store<Role>,
    role_bindings: Store<RoleBinding>,
    cluster_roles: Store<ClusterRole>,
    cluster_role_bindings: Store<ClusterRoleBinding>,
    network_policies: Store<NetworkPolicy>,
    services: Store<Service>,
    deployments: Store<Deployment>,
    stateful_sets: Store<StatefulSet>,
    daemon_sets: Store<DaemonSet>,
    jobs: Store<Job>,
    cron_jobs: Store<CronJob>,
    replica_sets: Store<PartialObjectMeta<ReplicaSet>>,
    pods: Store<PartialObjectMeta<Pod>>,
}

/// Full objects fetched on demand for metadata-only kinds: uid → (resourceVersion, object).
#[derive(Default)]
struct Details {
    pods: HashMap<String, (String, Pod)>,
    replica_sets: HashMap<String, (String, ReplicaSet)>,
}

/// A running set of watchers over one context (and optionally one namespace).
pub struct LiveInventory {
    conn: Connection,
    namespace: Option<String>,
    stores: Stores,
    changes: watch::Receiver<u64>,
    errors: Errors,
    details: tokio::sync::Mutex<Details>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LiveInventory {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Spawner<'a> {
    conn: &'a Connection,
    namespace: Option<&'a str>,
    tx: Arc<watch::Sender<u64>>,
    errors: Errors,
    tasks: Vec<JoinHandle<()>>,
    /// Per watched resource: resolves once its store holds the initial list.
    ready: Vec<(String, Ready)>,
}

type Ready = futures::future::BoxFuture<'static, bool>;

/// How often [`LiveInventory::start`] looks for watch errors while waiting for initial lists.
const READY_POLL: Duration = Duration::from_millis(50);

impl Spawner<'_> {
    fn namespaced<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self.namespace {
            Some(ns) => Api::namespaced(self.conn.client.clone(), ns),
            None => Api::all(self.conn.client.clone()),
        }
    }

    fn cluster<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::ClusterResourceScope>,
        K::DynamicType: Default,
    {
        Api::all(self.conn.client.clone())
    }

    /// Start a watcher + reflector on `api`; every applied change bumps the change counter.
    fn watch<K>(&mut self, api: Api<K>) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
    {
        let (reader, writer) = reflector::store();
        let resource = K::plural(&K::DynamicType::default()).to_string();
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default())
                .modify(|o: &mut K| o.meta_mut().managed_fields = None)
                .default_backoff(),
        );
        let store = reader.clone();
        self.ready.push((resource.clone(), Box::pin(async move { store.wait_until_ready().await.is_ok() })));
        let tx = self.tx.clone();
        let errors = self.errors.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) => {
                        tx.send_modify(|n| *n += 1);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("watch {resource}: {e}");
                        if let Ok(mut errs) = errors.lock() {
                            errs.insert(resource.clone(), e.to_string());
                        }
                    }
                }
            }
        }));
        reader
    }
}

impl LiveInventory {
    /// Start watching every kind the inventory holds and wait (up to `timeout`) until each cache
    /// has its initial list. An error names the first kind that could not be listed.
    pub async fn start(
        conn: &Connection,
        namespace: Option<&str>,
        timeout: Duration,
    ) -> Result<LiveInventory, ClusterError> {
        let (tx, rx) = watch::channel(0u64);
        let mut sp = Spawner {
            conn,
            namespace,
            tx: Arc::new(tx),
            errors: Arc::new(Mutex::new(BTreeMap::new())),
            tasks: Vec::new(),
            ready: Vec::new(),
        };
        let stores = Stores {
            namespaces: sp.watch(sp.cluster()),
            service_accounts: sp.watch(sp.namespaced()),
            roles: sp.watch(sp.namespaced()),
            role_bindings: sp.watch(sp.namespaced()),
            cluster_roles: sp.watch(sp.cluster()),
            cluster_role_bindings: sp.watch(sp.cluster()),
            network_policies: sp.watch(sp.namespaced()),
            services: sp.watch(sp.namespaced()),
            deployments: sp.watch(sp.namespaced()),
            stateful_sets: sp.watch(sp.namespaced()),
            daemon_sets: sp.watch(sp.namespaced()),
            jobs: sp.watch(sp.namespaced()),
            cron_jobs: sp.watch(sp.namespaced()),
            // Metadata only: the full object is fetched on demand for uncontrolled ones.
            replica_sets: sp.watch(sp.namespaced::<PartialObjectMeta<ReplicaSet>>()),
            pods: sp.watch(sp.namespaced::<PartialObjectMeta<Pod>>()),
        };
        let live = LiveInventory {
            conn: conn.clone(),
            namespace: namespace.map(str::to_string),
            stores,
            changes: rx,
            errors: sp.errors,
            details: tokio::sync::Mutex::new(Details::default()),
            tasks: sp.tasks,
        };
        live.wait_ready(sp.ready, timeout).await?;
        Ok(live)
    }

    /// Wait for every store's initial list. The first watch error of a store that is not ready
    /// yet (e.g. 403: the context may not list that kind) fails at once, as a one-shot list would.
    async fn wait_ready(&self, ready: Vec<(String, Ready)>, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let error = |resource: &str| self.errors.lock().ok().and_then(|e| e.get(resource).cloned());
        for (resource, mut wait) in ready {
            let failure = loop {
                tokio::select! {
                    ok = &mut wait => break (!ok).then(|| "the watch stopped".to_string()),
                    _ = tokio::time::sleep(READY_POLL) => {
                        if let Some(message) = error(&resource) {
                            break Some(message);
                        }
                        if tokio::time::Instant::now() >= deadline {
                            break Some(format!("no initial list within {} s", timeout.as_secs()));
                        }
                    }
                }
            };
            if let Some(message) = failure {
                return Err(ClusterError::Watch { context: self.conn.context.clone(), resource, message });
            }
        }
        Ok(())
    }

    /// The connection the watchers use.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// A receiver whose value changes whenever any cache changed (an object applied or
    /// deleted, or a re-list completed). `changed().await` to wait for the next change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// The inventory as the caches hold it now. Fetches full objects only for bare Pods and
    /// orphan ReplicaSets not fetched at their current resourceVersion yet; an object deleted
    /// in between is left out.
    pub async fn inventory(&self) -> Result<Inventory, ClusterError> {
        let s = &self.stores;
        let mut details = self.details.lock().await;
        let pods = fetch_uncontrolled(&self.conn, &s.pods.state(), &mut details.pods).await?;
        let replica_sets = fetch_uncontrolled(&self.conn, &s.replica_sets.state(), &mut details.replica_sets).await?;
        drop(details);
        let lists = Lists {
            namespaces: state(&s.namespaces),
            service_accounts: state(&s.service_accounts),
            roles: state(&s.roles),
            role_bindings: state(&s.role_bindings),
            cluster_roles: state(&s.cluster_roles),
            cluster_role_bindings: state(&s.cluster_role_bindings),
            network_policies: state(&s.network_policies),
            services: state(&s.services),
            deployments: state(&s.deployments),
            stateful_sets: state(&s.stateful_sets),
            daemon_sets: state(&s.daemon_sets),
            jobs: state(&s.jobs),
            cron_jobs: state(&s.cron_jobs),
            replica_sets,
            pods,
        };
        Ok(assemble(lists, self.namespace.as_deref(), &origin_path(&self.conn)))
    }
}

fn state<K>(store: &Store<K>) -> Vec<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store.state().iter().map(|o| (**o).clone()).collect()
}

/// Full objects for the metadata-only entries no modelled controller owns, via `cache`
/// (uid → (resourceVersion, object)); entries no longer in `metas` are evicted.
async fn fetch_uncontrolled<K>(
    conn: &Connection,
    metas: &[Arc<PartialObjectMeta<K>>],
    cache: &mut HashMap<String, (String, K)>,
) -> Result<Vec<K>, ClusterError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for m in metas {
        if controlled_by_workload(m.metadata.owner_references.as_deref()) {
            continue;
        }
        let (Some(uid), Some(ns)) = (m.metadata.uid.clone(), m.namespace()) else { continue };
        let rv = m.resource_version().unwrap_or_default();
        seen.push(uid.clone());
        if let Some((cached_rv, obj)) = cache.get(&uid)
            && *cached_rv == rv
        {
            out.push(obj.clone());
            continue;
        }
        let api: Api<K> = Api::namespaced(conn.client.clone(), &ns);
        match api.get_opt(&m.name_any()).await {
            Ok(Some(mut obj)) => {
                obj.meta_mut().managed_fields = None;
                cache.insert(uid, (rv, obj.clone()));
                out.push(obj);
            }
            Ok(None) => {}
            Err(source) => {
                return Err(ClusterError::List {
                    context: conn.context.clone(),
                    resource: K::plural(&K::DynamicType::default()).to_string(),
                    source,
                });
            }
        }
    }
    cache.retain(|uid, _| seen.contains(uid));
    Ok(out)
}
