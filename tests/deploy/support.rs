//! Builders for inventories, runtime profiles and snapshots used by the deployment tests.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use kubeguard::model::{
    ApiRequest, ContainerRef, Evidence, Inventory, ManifestOrigin, MetricSample, ResourceKind, RuntimeObservation,
    Subject, Target, TargetScope, Task, Timestamp, Workload, WorkloadKind, WorkloadRef,
};
use kubeguard::profile::{ApiProfile, Observed};
use kubeguard::snapshot::Snapshot;
use serde_json::{Value, json};

pub const T0: i64 = 1_700_000_000_000_000; // µs

pub fn workload(raw: Value) -> Workload {
    let kind = WorkloadKind::parse(raw["kind"].as_str().unwrap()).unwrap();
    let ns = raw.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
    let name = raw.pointer("/metadata/name").and_then(Value::as_str).unwrap().to_string();
    let tpl_ptr = match kind {
        WorkloadKind::Pod => "",
        WorkloadKind::CronJob => "/spec/jobTemplate/spec/template",
        _ => "/spec/template",
    };
    let template: PodTemplateSpec = if tpl_ptr.is_empty() {
        serde_json::from_value(json!({"metadata": raw["metadata"], "spec": raw["spec"]})).unwrap()
    } else {
        serde_json::from_value(raw.pointer(tpl_ptr).cloned().unwrap()).unwrap()
    };
    let service_account =
        template.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".to_string());
    Workload {
        id: WorkloadRef { namespace: ns, kind, name },
        service_account,
        template,
        selector: Default::default(),
        origin: ManifestOrigin::default(),
        raw,
    }
}

/// A Deployment `shop/<name>` with the given pod spec.
pub fn deployment(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec}
        }
    })
}

pub fn wref(name: &str) -> WorkloadRef {
    WorkloadRef { namespace: "shop".into(), kind: WorkloadKind::Deployment, name: name.into() }
}

pub fn target(name: &str, task: Task) -> Target {
    Target { scope: TargetScope::Workload(wref(name)), kind: ResourceKind::Deployment, task }
}

/// Snapshot builder.
pub struct Snap {
    pub snapshot: Snapshot,
}

impl Snap {
    pub fn new(workloads: Vec<Value>) -> Snap {
        let inventory = Inventory { workloads: workloads.into_iter().map(workload).collect(), ..Default::default() };
        Snap {
            snapshot: Snapshot {
                label: "test".into(),
                inventory,
                observed: Observed::default(),
                report: Default::default(),
            },
        }
    }

    /// Record `obs` for container `container` of `shop/<name>`, `count` times spread over 4 h.
    pub fn observe(mut self, name: &str, container: &str, obs: RuntimeObservation, count: u64) -> Snap {
        let key = ContainerRef { workload: wref(name), container: container.into() };
        let e =
            Evidence { count, first_seen: Timestamp(T0), last_seen: Timestamp(T0 + 4 * 3_600_000_000), example: None };
        self.snapshot.observed.runtime.containers.entry(key).or_default().insert(obs, e);
        self
    }

    pub fn process(self, name: &str, container: &str, binary: &str, uid: u32) -> Snap {
        self.observe(
            name,
            container,
            RuntimeObservation::Process { binary: binary.into(), uid: Some(uid), euid: Some(uid), gid: Some(uid) },
            40,
        )
    }

    pub fn write(self, name: &str, container: &str, path: &str) -> Snap {
        self.observe(name, container, RuntimeObservation::FileWrite { path: path.into() }, 12)
    }

    pub fn read(self, name: &str, container: &str, path: &str) -> Snap {
        self.observe(name, container, RuntimeObservation::FileRead { path: path.into() }, 30)
    }

    /// An audit log was read: `sa` of shop made `calls` requests (0 = an unrelated SA did).
    pub fn audit(mut self, sa: &str, calls: u64) -> Snap {
        let subject = if calls > 0 {
            Subject::ServiceAccount { namespace: "shop".into(), name: sa.into() }
        } else {
            Subject::ServiceAccount { namespace: "kube-system".into(), name: "other".into() }
        };
        let mut p = ApiProfile::default();
        p.allowed.insert(
            ApiRequest::resource("get", "", "configmaps", "", "shop", "cfg"),
            Evidence { count: calls.max(1), first_seen: Timestamp(T0), last_seen: Timestamp(T0 + 1), example: None },
        );
        self.snapshot.observed.api.subjects.insert(subject, p);
        self.snapshot.report.audit.records += calls.max(1);
        self
    }

    pub fn metrics(mut self, name: &str, container: &str, samples: Vec<MetricSample>) -> Snap {
        let key = ContainerRef { workload: wref(name), container: container.into() };
        self.snapshot.observed.metrics.series.insert(key, samples);
        self
    }
}

/// A deterministic pseudo-random series: `n` samples every `step` seconds.
pub fn series(n: usize, step: i64, seed: u64) -> Vec<MetricSample> {
    let mut x = seed;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((x >> 33) as f64) / ((1u64 << 31) as f64)
    };
    (0..n)
        .map(|i| {
            let phase = (i as f64 / 60.0).sin();
            let cpu = 0.08 + 0.04 * phase + 0.05 * next() + if i % 97 == 0 { 0.3 } else { 0.0 };
            let mem = 90.0 * 1048576.0 + 20.0 * 1048576.0 * next() + if i == n / 2 { 60.0 * 1048576.0 } else { 0.0 };
            MetricSample {
                at: Timestamp(T0 + i as i64 * step * 1_000_000),
                cpu_cores: Some(cpu),
                memory_bytes: Some(mem),
            }
        })
        .collect()
}

/// Map of findings rule id → messages.
pub fn findings(rec: &kubeguard::model::Recommendation) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &rec.findings {
        m.entry(f.rule_id.clone()).or_default().push(f.message.clone());
    }
    m
}
