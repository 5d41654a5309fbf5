//! Against the real kube-apiserver of `tests/cluster/`:
//! - the watch-backed live inventory (`sources::cluster::live`) agrees with the one-shot
//!   `load_from`, and picks up a Role, binding and bare Pod created after it started (and a
//!   deletion) without reconnecting;
//! - `apply` replaces a binding whose immutable roleRef changed: shown as delete + create in the
//!   confirmation, both dry-run, nothing written on "n", and the real authorizer sees the new
//!   role's permissions (and not the old one's) after "y".
//!
//! Needs Go (tests/cluster/setup.sh): fails under CI=true without it, skips elsewhere.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::harness::{self, Harness, admin_apply, deployment, namespace, pod, role, role_binding, service_account};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use kubeguard::apply;
use kubeguard::model::Inventory;
use kubeguard::sources::cluster::{self, Connection, live::LiveInventory};
use serde_json::json;

/// One apiserver at a time on the shared cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn with_harness(test: &str, body: impl AsyncFnOnce(&Harness, Connection)) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bin = match harness::setup() {
        Ok(b) => b,
        Err(reason) => {
            common::prerequisite_missing(test, &reason);
            return;
        }
    };
    let state = tempfile::Builder::new().prefix("kubeguard-live-").tempdir().unwrap();
    let h = Harness::start(bin, &state.path().join("apiserver"), &[]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let admin = h.admin().await;
        body(&h, admin).await;
    });
    let stop = h.stop();
    eprintln!("{test}: harness stop {:.1}s", stop.as_secs_f64());
    assert!(stop < Duration::from_secs(10), "stop.sh took {stop:?}");
}

fn summary(inv: &Inventory) -> Vec<String> {
    let mut out: Vec<String> =
        inv.workloads.iter().map(|w| format!("workload {} sa={}", w.id, w.service_account)).collect();
    out.extend(inv.roles.iter().map(|r| format!("role {}", r.raw["metadata"]["name"])));
    out.extend(inv.role_bindings.iter().map(|r| format!("rolebinding {}", r.raw["metadata"]["name"])));
    out.extend(inv.cluster_roles.iter().map(|r| format!("clusterrole {}", r.raw["metadata"]["name"])));
    out.extend(inv.service_accounts.iter().map(|r| format!("sa {}", r.raw["metadata"]["name"])));
    out.extend(inv.namespaces.iter().map(|r| format!("ns {}", r.raw["metadata"]["name"])));
    out
}

/// Wait for the next change notification for which `pred` holds on the rebuilt inventory.
async fn until(live: &LiveInventory, what: &str, pred: impl Fn(&Inventory) -> bool) -> Inventory {
    let mut changes = live.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let inv = live.inventory().await.unwrap();
        if pred(&inv) {
            return inv;
        }
        if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
            panic!("{what}: not seen by the live inventory within 30 s:\n{:#?}", summary(&inv));
        }
    }
}

#[test]
fn live_inventory_follows_the_cluster() {
    with_harness("cluster_live::watch", async |h, admin| {
        for obj in [
            namespace("team"),
            service_account("team", "app"),
            deployment("team", "app", "app"),
            role("team", "reads", json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])),
        ] {
            admin_apply(&admin, &obj).await;
        }
        let t = Instant::now();
        let live = LiveInventory::start(&admin, None, Duration::from_secs(30)).await.unwrap();
        eprintln!("live caches ready in {:.2}s", t.elapsed().as_secs_f64());
        let first = live.inventory().await.unwrap();
        let once = cluster::load_from(&admin, None).await.unwrap();
        assert_eq!(summary(&first), summary(&once), "watch caches and one-shot lists disagree");
        assert!(first.roles.iter().all(|r| r.raw["metadata"].get("managedFields").is_none()));
        assert!(first.workloads.iter().all(|w| w.raw["metadata"].get("managedFields").is_none()));
        assert!(!summary(&first).iter().any(|l| l.contains("late-admin")));

        // Created after the caches started: a Role and binding, and a bare Pod (metadata-only
        // watch; its spec is fetched on demand for the service account).
        let t = Instant::now();
        for obj in [
            service_account("team", "late"),
            role("team", "late-admin", json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
            role_binding("team", "late-admin", "Role", "late-admin", "team", "late"),
            pod("team", "debug", "late"),
        ] {
            admin_apply(&admin, &obj).await;
        }
        let inv = until(&live, "Role team/late-admin and Pod team/debug", |inv| {
            let s = summary(inv);
            s.iter().any(|l| l == "role \"late-admin\"")
                && s.iter().any(|l| l == "rolebinding \"late-admin\"")
                && s.iter().any(|l| l == "workload Pod team/debug sa=late")
        })
        .await;
        eprintln!("created objects seen after {:.2}s", t.elapsed().as_secs_f64());
        let debug = inv.workloads.iter().find(|w| w.id.name == "debug").unwrap();
        assert_eq!(debug.service_account, "late", "bare pod spec fetched on demand");
        assert_eq!(summary(&inv), summary(&cluster::load_from(&admin, None).await.unwrap()));

        // A context that may not list everything fails fast, naming what it could not watch.
        let dir = tempfile::tempdir().unwrap();
        let token = h.mint_token("team", "app");
        let limited = cluster::connect(Some(&h.sa_kubeconfig(dir.path(), "team", "app", &token)), None).await.unwrap();
        let t = Instant::now();
        let err = LiveInventory::start(&limited, None, Duration::from_secs(30)).await.err().expect("forbidden");
        let text = err.to_string();
        assert!(text.contains("watching namespaces") && text.contains("forbidden"), "{text}");
        assert!(t.elapsed() < Duration::from_secs(10), "failed after {:?}, not at the first 403", t.elapsed());

        // Deleted: gone from the cache too.
        let roles: Api<Role> = Api::namespaced(admin.client.clone(), "team");
        roles.delete("late-admin", &DeleteParams::default()).await.unwrap();
        until(&live, "deletion of Role team/late-admin", |inv| {
            !summary(inv).iter().any(|l| l == "role \"late-admin\"")
        })
        .await;
    });
}

async fn allowed(conn: &Connection, ns: &str, sa: &str, verb: &str, resource: &str) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("system:serviceaccount:{ns}:{sa}")),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                group: Some(String::new()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(conn.client.clone());
    api.create(&PostParams::default(), &review).await.unwrap().status.is_some_and(|s| s.allowed)
}

#[test]
fn apply_replaces_a_binding_whose_role_ref_changed() {
    with_harness("cluster_live::role_ref", async |_h, admin| {
        for obj in [
            namespace("shop"),
            service_account("shop", "web"),
            role("shop", "broad", json!([{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["*"]}])),
            role("shop", "narrow", json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])),
            role_binding("shop", "web", "Role", "broad", "shop", "web"),
        ] {
            admin_apply(&admin, &obj).await;
        }
        assert!(allowed(&admin, "shop", "web", "delete", "secrets").await);
        let bindings: Api<RoleBinding> = Api::namespaced(admin.client.clone(), "shop");
        let before = bindings.get("web").await.unwrap();

        // The proposal keeps the binding's name but points it at the narrow Role.
        let proposal = vec![role_binding("shop", "web", "Role", "narrow", "shop", "web")];
        let t = Instant::now();
        let mut shown = Vec::new();
        let declined = apply::apply(&admin, &proposal, &mut "n\n".as_bytes(), &mut shown).await.unwrap();
        let prompt = String::from_utf8(shown).unwrap();
        assert!(!declined.confirmed && declined.applied.is_empty(), "{declined:?}");
        assert!(
            prompt.contains(
                "RoleBinding shop/web (replaced: roleRef Role/broad → Role/narrow is immutable, delete + create)"
            ),
            "{prompt}"
        );
        let unchanged = bindings.get("web").await.unwrap();
        assert_eq!(unchanged.metadata.uid, before.metadata.uid, "declined: nothing written");
        assert_eq!(unchanged.role_ref.name, "broad");
        let list = bindings.list(&Default::default()).await.unwrap();
        assert_eq!(list.items.len(), 1, "the dry-run create under a generated name left nothing behind");

        let mut shown = Vec::new();
        let report = apply::apply(&admin, &proposal, &mut "y\n".as_bytes(), &mut shown).await.unwrap();
        assert!(report.confirmed, "{report:?}");
        assert_eq!(report.applied.iter().map(|a| a.change.as_str()).collect::<Vec<_>>(), ["replaced"]);
        let after = bindings.get("web").await.unwrap();
        assert_eq!(after.role_ref.name, "narrow");
        assert_ne!(after.metadata.uid, before.metadata.uid, "a new object");
        assert!(allowed(&admin, "shop", "web", "get", "configmaps").await);
        assert!(!allowed(&admin, "shop", "web", "delete", "secrets").await, "the broad Role no longer applies");
        eprintln!("roleRef replace (dry-run, decline, apply, checks): {:.2}s", t.elapsed().as_secs_f64());

        // Applying the same again is an in-place no-op, not another replacement.
        let mut shown = Vec::new();
        let again = apply::apply(&admin, &proposal, &mut "y\n".as_bytes(), &mut shown).await.unwrap();
        assert_eq!(again.applied.iter().map(|a| a.change.as_str()).collect::<Vec<_>>(), ["unchanged"]);
    });
}
