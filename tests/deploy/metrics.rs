//! Metrics ingest: Prometheus range queries, PodMetrics, `kubectl top`.

use kubeguard::model::{ContainerRef, WorkloadKind, WorkloadRef};
use kubeguard::sources::metrics::{self, parse_quantity};
use serde_json::json;

use super::support::{Snap, deployment};

fn web(container: &str) -> ContainerRef {
    ContainerRef {
        workload: WorkloadRef { namespace: "shop".into(), kind: WorkloadKind::Deployment, name: "web".into() },
        container: container.into(),
    }
}

fn ingest_files(files: &[(&str, String)]) -> (kubeguard::profile::MetricsSet, kubeguard::sources::IngestStats) {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(tmp.path().join(name), text).unwrap();
    }
    let snap = Snap::new(vec![deployment("web", json!({"containers": [{"name": "nginx"}]}))]);
    metrics::ingest(&[tmp.path().to_path_buf()], &snap.snapshot.inventory, false, &|_| {}).unwrap()
}

#[test]
fn prometheus_counter_becomes_cores_and_joins_memory() {
    let cpu = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "container_cpu_usage_seconds_total", "namespace": "shop", "pod": "web-6d4cf56db6-x7k2p",
                    "container": "nginx", "job": "kubelet"},
         "values": [[1700000000, "100"], [1700000060, "106"], [1700000120, "118"], [1700000180, "3"]]},
        {"metric": {"__name__": "container_cpu_usage_seconds_total", "namespace": "shop", "pod": "web-6d4cf56db6-x7k2p",
                    "container": "POD"}, "values": [[1700000000, "1"]]},
        {"metric": {"__name__": "container_cpu_usage_seconds_total", "namespace": "shop", "pod": "web-6d4cf56db6-x7k2p",
                    "container": ""}, "values": [[1700000000, "1"]]}
    ]}});
    let mem = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "container_memory_working_set_bytes", "namespace": "shop", "pod": "web-6d4cf56db6-x7k2p",
                    "container": "nginx"},
         "values": [[1700000060, "1048576"], [1700000120, "2097152"], [1700000180, "bad"]]}
    ]}});
    let (set, stats) = ingest_files(&[("cpu.json", cpu.to_string()), ("mem.json", mem.to_string())]);
    assert_eq!(stats.skipped, 2, "POD and pod-level series skipped");
    assert_eq!(stats.malformed, 1, "{:?}", stats.errors);
    let s = &set.series[&web("nginx")];
    let cpu: Vec<f64> = s.iter().filter_map(|x| x.cpu_cores).collect();
    assert_eq!(cpu.len(), 3);
    assert!((cpu[0] - 0.1).abs() < 1e-9 && (cpu[1] - 0.2).abs() < 1e-9);
    assert!((cpu[2] - 0.05).abs() < 1e-9, "counter reset: increase since reset 3/60");
    // joined: the sample at t+60 carries both
    assert_eq!(s[0].memory_bytes, Some(1048576.0));
    assert!(s[0].cpu_cores.is_some());
}

#[test]
fn rated_series_need_a_file_name_hint() {
    let rated = json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"namespace": "shop", "pod": "web-6d4cf56db6-x7k2p", "container": "nginx"},
         "values": [[1700000000, "0.25"], [1700000060, "0.5"]]}]}});
    let (set, stats) = ingest_files(&[("web-cpu-rate.json", rated.to_string()), ("unknown.json", rated.to_string())]);
    assert_eq!(stats.malformed, 1);
    assert!(stats.errors[0].path.ends_with("unknown.json"));
    let cpu: Vec<f64> = set.series[&web("nginx")].iter().filter_map(|x| x.cpu_cores).collect();
    assert_eq!(cpu, vec![0.25, 0.5]);
}

#[test]
fn pod_metrics_single_and_list() {
    let single = json!({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "web-6d4cf56db6-x7k2p", "namespace": "shop"}, "timestamp": "2024-01-01T00:00:00Z", "window": "30s",
        "containers": [{"name": "nginx", "usage": {"cpu": "250m", "memory": "64Mi"}}]});
    let list = json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": [
        {"metadata": {"name": "web-6d4cf56db6-q9k2z", "namespace": "shop"}, "timestamp": "2024-01-01T00:01:00Z",
         "containers": [{"name": "nginx", "usage": {"cpu": "1500000n", "memory": "1Gi"}}, {"name": "broken"}]}]});
    let (set, stats) = ingest_files(&[("a.json", single.to_string()), ("b.json", list.to_string())]);
    assert_eq!(stats.records, 2);
    assert_eq!(stats.malformed, 1);
    let s = &set.series[&web("nginx")];
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].cpu_cores, Some(0.25));
    assert_eq!(s[0].memory_bytes, Some(64.0 * 1048576.0));
    assert!((s[1].cpu_cores.unwrap() - 0.0015).abs() < 1e-12);
}

#[test]
fn kubectl_top_table_and_csv() {
    let table = "# time: 2024-01-01T00:00:00Z\nNAMESPACE   POD                        NAME    CPU(cores)   MEMORY(bytes)\n\
                 shop        web-6d4cf56db6-x7k2p       nginx   3m           12Mi\n";
    let csv = "# namespace: shop\nPOD,NAME,CPU(cores),MEMORY(bytes)\nweb-6d4cf56db6-x7k2p,nginx,5m,14Mi\nweb-6d4cf56db6-x7k2p,nginx,oops\n";
    let (set, stats) = ingest_files(&[("top.txt", table.into()), ("top.csv", csv.into())]);
    assert_eq!(stats.records, 2);
    assert_eq!(stats.malformed, 1);
    assert_eq!(stats.errors[0].line, 4);
    let s = &set.series[&web("nginx")];
    let cpu: Vec<f64> = s.iter().filter_map(|x| x.cpu_cores).collect();
    assert!(cpu.contains(&0.003) && cpu.contains(&0.005));
}

#[test]
fn quantities() {
    assert_eq!(parse_quantity("100m"), Some(0.1));
    assert_eq!(parse_quantity("2"), Some(2.0));
    assert_eq!(parse_quantity("128Mi"), Some(134217728.0));
    assert_eq!(parse_quantity("1G"), Some(1e9));
    assert_eq!(parse_quantity("1e3"), Some(1000.0));
    assert!((parse_quantity("12345n").unwrap() - 12345e-9).abs() < 1e-18);
    assert_eq!(parse_quantity("-1"), None);
    assert_eq!(parse_quantity("x"), None);
}
