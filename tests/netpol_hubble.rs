//! Hubble flow ingest: the real captures (cilium/hubble-otel testdata) parse with zero errors,
//! and the traps of the format (replies, missing `is_reply`, duplicate observation points,
//! ClusterIP pre-DNAT captures, named target ports, reserved identities, external grouping,
//! malformed lines) are handled.

use std::io::Write;

use kubeguard::model::{Connection, FlowEndpoint, FlowVerdict, Inventory, L4Protocol};
use kubeguard::sources::hubble::{self, FlowCounts, HubbleOptions};
use kubeguard::testsupport::shared_data;

#[test]
fn real_captures_parse_with_zero_errors() {
    let Some(dir) = shared_data("flows/hubble-otel") else { return };
    let (set, stats) = hubble::ingest(&[dir], &Inventory::default(), true, &|_| {}).expect("strict ingest");
    let counts = FlowCounts::of(&set, &stats);
    eprintln!("hubble-otel: {counts:?}, {} events folded into connections", stats.duplicates);
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    assert_eq!(stats.files, 9);
    assert_eq!(counts, FlowCounts { flows: 1916, connections: 689, edges: 32 });
    // Replies never become connections: no edge targets an ephemeral port.
    assert!(set.connections.keys().all(|c| c.port < 32768), "reply counted as a connection");
    // DNS from bookinfo to CoreDNS over UDP, attributed by the `workloads`-less pod name.
    assert!(set.connections.keys().any(|c| matches!(&c.destination,
        FlowEndpoint::Workload { namespace, name, .. } if namespace == "kube-system" && name == "coredns")
        && c.port == 53
        && c.protocol == L4Protocol::UDP));
    // Reserved identities are named, world addresses become CIDRs.
    assert!(set.connections.keys().any(|c| c.source == FlowEndpoint::Reserved { name: "host".into() }));
    assert!(
        set.connections.keys().any(|c| c.destination == FlowEndpoint::External { cidr: "35.246.31.234/32".into() })
    );
    // A label-only endpoint (no pod name) is folded into its workload.
    assert!(!set.connections.keys().any(|c| matches!(&c.source, FlowEndpoint::Workload { kind, .. } if kind == "Pod")));
}

fn flow(extra: &str, l4: &str, reply: Option<bool>) -> String {
    let reply = reply.map(|r| format!(",\"is_reply\":{r}")).unwrap_or_default();
    format!(
        "{{\"flow\":{{\"time\":\"2026-01-01T00:00:00Z\",\"verdict\":\"FORWARDED\",\"IP\":{{\"source\":\"10.0.0.1\",\"destination\":\"10.0.0.2\"}},\"l4\":{l4},\"source\":{{\"identity\":100,\"namespace\":\"a\",\"pod_name\":\"web-7d9c8b5f4-x2k9p\",\"labels\":[\"k8s:app=web\",\"k8s:io.kubernetes.pod.namespace=a\"]}},\"destination\":{{\"identity\":200,\"namespace\":\"a\",\"pod_name\":\"db-0\",\"labels\":[\"k8s:app=db\"]}}{reply}{extra}}}}}"
    )
}

fn ingest(text: &str) -> (kubeguard::profile::FlowProfileSet, kubeguard::sources::IngestStats) {
    hubble::ingest_str(text, "t.json", &Inventory::default(), &HubbleOptions::default()).expect("ingest")
}

#[test]
fn connections_not_packets() {
    let syn = "{\"TCP\":{\"source_port\":40000,\"destination_port\":5432,\"flags\":{\"SYN\":true}}}";
    let synack = "{\"TCP\":{\"source_port\":5432,\"destination_port\":40000,\"flags\":{\"SYN\":true,\"ACK\":true}}}";
    let ack = "{\"TCP\":{\"source_port\":40000,\"destination_port\":5432,\"flags\":{\"ACK\":true}}}";
    // Same SYN at two observation points, a reply without is_reply (SYN/ACK), a reply with it,
    // and a later ACK of the same 5-tuple: one connection.
    let text = [
        flow(",\"trace_observation_point\":\"TO_STACK\"", syn, Some(false)),
        flow(",\"trace_observation_point\":\"TO_ENDPOINT\"", syn, Some(false)),
        flow("", synack, None),
        flow("", synack, Some(true)),
        flow("", ack, None),
    ]
    .join("\n");
    let (set, stats) = ingest(&text);
    assert_eq!(stats.records, 5);
    assert_eq!(set.connections.len(), 1);
    let (c, e) = set.connections.iter().next().expect("one");
    assert_eq!((c.port, c.protocol, e.count), (5432, L4Protocol::TCP, 1));
    // Pod-name hashes stripped: Deployment web, StatefulSet db.
    assert!(matches!(&c.source, FlowEndpoint::Workload { kind, name, .. } if kind == "Deployment" && name == "web"));
    assert!(
        matches!(&c.destination, FlowEndpoint::Workload { kind, name, .. } if kind == "StatefulSet" && name == "db")
    );
    // A second source port is a second connection on the same edge.
    let (set, _) = ingest(&format!("{text}\n{}", flow("", &syn.replace("40000", "40001"), Some(false))));
    assert_eq!(set.connections.values().next().expect("edge").count, 2);
}

#[test]
fn udp_without_is_reply_uses_the_listening_side() {
    // StatsD on 8125 (UDP ≥ 1024 must not be lost) and its reply direction.
    let q = "{\"UDP\":{\"source_port\":51000,\"destination_port\":8125}}";
    let r = "{\"UDP\":{\"source_port\":8125,\"destination_port\":51000}}";
    let (set, _) = ingest(&[flow("", q, None), flow("", r, None)].join("\n"));
    assert_eq!(set.connections.len(), 1);
    assert_eq!(set.connections.keys().next().expect("c").port, 8125);
}

#[test]
fn dropped_flows_keep_their_reason() {
    let syn = "{\"TCP\":{\"source_port\":40000,\"destination_port\":22,\"flags\":{\"SYN\":true}}}";
    let text = flow(",\"drop_reason_desc\":\"POLICY_DENIED\"", syn, Some(false)).replace("FORWARDED", "DROPPED");
    let (set, _) = ingest(&text);
    let c: &Connection = set.connections.keys().next().expect("c");
    assert_eq!(c.verdict, FlowVerdict::Dropped);
    assert_eq!(set.drop_reasons[c].iter().next().map(String::as_str), Some("POLICY_DENIED"));
}

#[test]
fn malformed_lines_are_counted_with_file_and_line_and_strict_fails() {
    let good = flow("", "{\"TCP\":{\"source_port\":1,\"destination_port\":80}}", Some(false));
    let text = format!(
        "{good}\n{{not json\n\n{{\"flow\":{{\"l4\":{{\"TCP\":{{\"destination_port\":70000}}}},\"verdict\":\"FORWARDED\"}}}}\n[1,2]\n{good}\n"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("f.json.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&p).expect("create"), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).expect("write");
    enc.finish().expect("finish");
    let (set, stats) =
        hubble::ingest(std::slice::from_ref(&p), &Inventory::default(), false, &|_| {}).expect("lenient");
    assert_eq!(stats.malformed, 3, "{:?}", stats.errors);
    let lines: Vec<usize> = stats.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 4, 5]);
    assert!(stats.errors[0].path.ends_with("f.json.gz"));
    assert_eq!(set.connections.len(), 1);
    let err = hubble::ingest(&[p], &Inventory::default(), true, &|_| {}).expect_err("strict");
    assert!(err.to_string().contains(":2:"), "{err}");
}

#[test]
fn bare_flows_reserved_identities_and_external_grouping() {
    let base = |src: &str, dst_ip: &str, dst: &str| {
        format!(
            "{{\"verdict\":\"FORWARDED\",\"IP\":{{\"source\":\"10.0.0.1\",\"destination\":\"{dst_ip}\"}},\"l4\":{{\"TCP\":{{\"source_port\":40000,\"destination_port\":443,\"flags\":{{\"SYN\":true}}}}}},\"source\":{src},\"destination\":{dst}}}"
        )
    };
    let web = "{\"namespace\":\"a\",\"pod_name\":\"web-1\",\"labels\":[\"k8s:app=web\"],\"workloads\":[{\"name\":\"web\",\"kind\":\"Deployment\"}]}";
    let text = [
        base(web, "203.0.113.5", "{\"identity\":2,\"labels\":[\"reserved:world\"]}"),
        base(web, "203.0.113.9", "{\"identity\":2,\"labels\":[\"reserved:world\"]}"),
        base(web, "198.51.100.7", "{\"identity\":2}"),
        base(web, "10.96.0.1", "{\"identity\":16777217,\"labels\":[\"reserved:kube-apiserver\",\"reserved:world\"]}"),
        base(web, "192.168.1.10", "{\"identity\":2,\"labels\":[\"reserved:world\"]}"),
        base(web, "192.168.1.11", "{\"identity\":2,\"labels\":[\"reserved:world\"]}"),
    ]
    .join("\n");
    let (set, _) = ingest(&text);
    let dsts: Vec<String> = set.connections.keys().map(|c| c.destination.to_string()).collect();
    assert!(dsts.contains(&"203.0.113.0/24".to_string()), "two public addresses grouped: {dsts:?}");
    assert!(dsts.contains(&"198.51.100.7/32".to_string()), "a lone address stays /32");
    assert!(dsts.contains(&"192.168.1.10/32".to_string()), "private addresses are never widened");
    assert!(dsts.contains(&"reserved:kube-apiserver".to_string()));
    assert!(set.reserved_ips["kube-apiserver"].contains("10.96.0.1"));
    // Workloads field names the workload.
    assert!(set.connections.keys().all(|c| c.source.to_string() == "Deployment a/web"));
}

#[test]
fn cluster_ip_destinations_map_to_the_backend_and_named_target_port() {
    let manifests = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: a}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db, version: v3}}
    spec: {containers: [{name: db, image: x, ports: [{name: pg, containerPort: 15432}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: a, labels: {team: data}}
spec:
  clusterIP: 10.96.5.5
  selector: {app: db}
  ports: [{port: 5432, targetPort: pg}]
"#;
    let (inv, _) = kubeguard::sources::manifests::load_str("m.yaml", manifests, true).expect("manifests");
    let text = "{\"flow\":{\"verdict\":\"FORWARDED\",\"IP\":{\"source\":\"10.0.0.1\",\"destination\":\"10.96.5.5\"},\"l4\":{\"TCP\":{\"source_port\":40000,\"destination_port\":5432,\"flags\":{\"SYN\":true}}},\"source\":{\"namespace\":\"a\",\"pod_name\":\"web-7d9c8b5f4-x2k9p\",\"labels\":[\"k8s:app=web\"]},\"destination\":{\"identity\":0}}}";
    let (set, _) = hubble::ingest_str(text, "t.json", &inv, &HubbleOptions::default()).expect("ingest");
    let c = set.connections.keys().next().expect("c");
    assert_eq!(c.destination.to_string(), "Deployment a/db");
    assert_eq!(c.port, 15432, "Service port 5432 → named targetPort pg → 15432 on the pod");
}

#[test]
fn progress_reports_bytes() {
    let Some(p) = shared_data("flows/hubble-otel/basic-sample-10-flows.json") else { return };
    let seen = std::sync::atomic::AtomicU64::new(0);
    let (_, stats) =
        hubble::ingest(&[p], &Inventory::default(), false, &|b| seen.store(b, std::sync::atomic::Ordering::Relaxed))
            .expect("ingest");
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), stats.bytes);
}
