//! Provenance ingest: real SPADE CDM 18 output, SPADE JSON graph, Tetragon and Falco events
//! written to their documented schemas, attribution and malformed input.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kubeguard::model::{ContainerRef, RuntimeObservation, WorkloadKind, WorkloadRef};
use kubeguard::sources::IngestStats;
use kubeguard::sources::provenance::{self, Parsed};
use kubeguard::testsupport::shared_data;
use serde_json::{Value, json};

use super::support::{Snap, deployment};

fn parse_str(text: &str) -> (Parsed, IngestStats) {
    let mut stats = IngestStats::default();
    let (parsed, _) = provenance::parse_reader(&mut text.as_bytes(), "mem.json", &mut stats).unwrap();
    (parsed, stats)
}

fn has(parsed: &Parsed, o: &RuntimeObservation) -> bool {
    parsed.observations.iter().any(|r| &r.observation == o)
}

#[test]
fn real_spade_cdm18_parses_with_zero_errors_and_matches_spade_record_counts() {
    let Some(dir) = shared_data("provenance/spade-cdm18") else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 39);
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut records = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let mut stats = IngestStats::default();
        let (parsed, _) = provenance::parse_reader(&mut text.as_bytes(), &f.display().to_string(), &mut stats).unwrap();
        assert_eq!(stats.malformed, 0, "{}: {:?}", f.display(), stats.errors);
        // SPADE writes its own per-type counts into the EndMarker: they must equal ours.
        let end: Value = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| {
                v["datum"]
                    .as_object()
                    .and_then(|m| m.iter().find(|(k, _)| k.ends_with(".EndMarker")).map(|(_, b)| b.clone()))
            })
            .expect("every SPADE CDM file ends with an EndMarker");
        for (k, n) in end["recordCounts"].as_object().unwrap() {
            let key = if k.starts_with("EVENT_") {
                format!("Event/{k}")
            } else if k.starts_with("SUBJECT_") {
                format!("Subject/{k}")
            } else if k.starts_with("FILE_OBJECT_") {
                format!("FileObject/{k}")
            } else {
                k.clone()
            };
            let want: u64 = n.as_str().unwrap().parse().unwrap();
            assert_eq!(parsed.record_types.get(&key).copied().unwrap_or(0), want, "{}: {key}", f.display());
        }
        assert_eq!(stats.records, text.lines().filter(|l| !l.trim().is_empty()).count() as u64);
        records += stats.records;
        for (k, v) in parsed.record_types {
            if !k.contains('/') {
                *totals.entry(k).or_default() += v;
            }
        }
    }
    let sum: u64 = totals.values().sum();
    assert_eq!(sum, records);
    eprintln!("SPADE CDM18: {records} records in {} files: {totals:?}", files.len());
}

#[test]
fn cdm_files_are_attributed_by_name_and_yield_uid_write_and_principal_change() {
    let Some(dir) = shared_data("provenance/spade-cdm18") else { return };
    let tmp = tempfile::tempdir().unwrap();
    // `<ns>_<Kind>_<workload>_<container>` names the container; setresuid and rename traces.
    std::fs::copy(dir.join("setresuid.bin.json"), tmp.path().join("shop_Deployment_web_app.cdm.json")).unwrap();
    let sub = tmp.path().join("shop_web");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(dir.join("rename.bin.json"), sub.join("trace.json")).unwrap();
    std::fs::copy(dir.join("accept.bin.json"), tmp.path().join("unnamed.json")).unwrap();
    let snap = Snap::new(vec![deployment("web", json!({"containers": [{"name": "app", "image": "x"}]}))]);
    let (set, stats) =
        provenance::ingest(&[tmp.path().to_path_buf()], &snap.snapshot.inventory, false, &|_| {}).unwrap();
    let web = WorkloadRef { namespace: "shop".into(), kind: WorkloadKind::Deployment, name: "web".into() };
    let app = set.containers.get(&ContainerRef { workload: web.clone(), container: "app".into() }).unwrap();
    assert!(app.keys().any(|o| matches!(o, RuntimeObservation::PrivilegeChange { from_uid: Some(1000), .. })));
    assert!(app.keys().any(|o| matches!(o, RuntimeObservation::Process { uid: Some(1000), .. })));
    assert!(app.keys().any(|o| matches!(o, RuntimeObservation::FileRead { path } if path == "/etc/passwd")));
    let any = set.containers.get(&ContainerRef { workload: web, container: String::new() }).unwrap();
    assert!(any.keys().any(|o| matches!(o, RuntimeObservation::FileWrite { .. })), "rename writes: {any:?}");
    // the unnamed file cannot be attributed: counted and reported, not dropped silently
    assert_eq!(stats.malformed, 1);
    assert!(stats.errors[0].path.ends_with("unnamed.json"));
    assert!(stats.skipped > 0);
}

#[test]
fn cdm17_namespace_is_dispatched_on_the_last_segment() {
    let line = r#"{"datum":{"com.bbn.tc.schema.avro.cdm17.Principal":{"uuid":"p1","type":"PRINCIPAL_LOCAL","userId":"0","groupIds":["0"],"properties":{"map":{"euid":"0"}}}},"CDMVersion":"17"}
{"datum":{"com.bbn.tc.schema.avro.cdm17.Subject":{"uuid":"s1","type":"SUBJECT_PROCESS","cid":7,"localPrincipal":"p1","startTimestampNanos":1529357007956000000,"cmdLine":{"string":"/usr/sbin/nginx -g daemon off;"},"properties":{"map":{"name":"nginx"}}}},"CDMVersion":"17"}
{"datum":{"com.bbn.tc.schema.avro.cdm17.NetFlowObject":{"uuid":"n1","localAddress":"0.0.0.0","localPort":80,"remoteAddress":"","remotePort":0,"ipProtocol":{"int":6}}},"CDMVersion":"17"}
{"datum":{"com.bbn.tc.schema.avro.cdm17.Event":{"uuid":"e1","type":"EVENT_BIND","subject":{"com.bbn.tc.schema.avro.cdm17.UUID":"s1"},"predicateObject":{"com.bbn.tc.schema.avro.cdm17.UUID":"n1"},"timestampNanos":1529357007960000000,"properties":{"map":{}}}},"CDMVersion":"17"}
{"datum":{"com.bbn.tc.schema.avro.cdm17.Event":{"uuid":"e2","type":"EVENT_OPEN","subject":{"com.bbn.tc.schema.avro.cdm17.UUID":"s1"},"predicateObject":{"com.bbn.tc.schema.avro.cdm17.UUID":"f1"},"predicateObjectPath":{"string":"/var/log/nginx/access.log"},"timestampNanos":1529357007970000000,"properties":{"map":{"flags":"O_WRONLY|O_APPEND|O_CREAT"}}}},"CDMVersion":"17"}"#;
    let (parsed, stats) = parse_str(line);
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    assert!(has(
        &parsed,
        &RuntimeObservation::Process { binary: "/usr/sbin/nginx".into(), uid: Some(0), euid: Some(0), gid: Some(0) }
    ));
    assert!(has(&parsed, &RuntimeObservation::Listen { port: 80, protocol: "TCP".into() }));
    assert!(has(&parsed, &RuntimeObservation::FileWrite { path: "/var/log/nginx/access.log".into() }));
}

#[test]
fn spade_json_graph_yields_uid_writes_binds_and_setuid() {
    // SPADE JSON storage: one array, one element per line, edges child → parent.
    let graph = r#"[
{"type":"Process","id":"1","annotations":{"pid":"10","name":"web","command line":"/app/web --port 80","start time":"1700000000.5"}},
{"type":"Agent","id":"2","annotations":{"uid":"1001","euid":"1001","gid":"1001"}},
{"type":"Artifact","id":"3","annotations":{"subtype":"file","path":"/tmp/cache/x"}},
{"type":"Artifact","id":"4","annotations":{"subtype":"network socket","local address":"0.0.0.0","local port":"80","protocol":"6"}},
{"type":"Artifact","id":"5","annotations":{"subtype":"file","path":"/etc/app.conf"}},
{"type":"Process","id":"6","annotations":{"pid":"10","name":"web"}},
{"type":"Agent","id":"7","annotations":{"uid":"1001","euid":"0","gid":"1001"}},
{"type":"WasControlledBy","from":"1","to":"2","annotations":{}},
{"type":"WasControlledBy","from":"6","to":"7","annotations":{}},
{"type":"WasGeneratedBy","from":"3","to":"1","annotations":{"operation":"write","time":"1700000001.0","event id":"9"}},
{"type":"WasGeneratedBy","from":"4","to":"1","annotations":{"operation":"bind","time":"1700000001.1"}},
{"type":"Used","from":"1","to":"5","annotations":{"operation":"read","time":"1700000001.2"}},
{"type":"WasTriggeredBy","from":"6","to":"1","annotations":{"operation":"setuid","time":"1700000002.0"}},
{"type":"Used","from":"1","to":"99","annotations":{"operation":"read"}}
]"#;
    let (parsed, stats) = parse_str(graph);
    assert!(has(
        &parsed,
        &RuntimeObservation::Process { binary: "/app/web".into(), uid: Some(1001), euid: Some(1001), gid: Some(1001) }
    ));
    assert!(has(&parsed, &RuntimeObservation::FileWrite { path: "/tmp/cache/x".into() }));
    assert!(has(&parsed, &RuntimeObservation::FileRead { path: "/etc/app.conf".into() }));
    assert!(has(&parsed, &RuntimeObservation::Listen { port: 80, protocol: "TCP".into() }));
    assert!(has(&parsed, &RuntimeObservation::PrivilegeChange { from_uid: Some(1001), to_uid: Some(0) }));
    // the dangling edge (to vertex 99) is reported with its line
    assert_eq!(stats.malformed, 1);
    assert_eq!(stats.errors[0].line, 15);
    assert_eq!(parsed.record_types.get("WasGeneratedBy"), Some(&2));
}

fn tetragon_pod() -> Value {
    json!({"namespace": "shop", "name": "web-6d4cf56db6-x7k2p",
           "container": {"id": "containerd://abc", "name": "nginx", "image": {"id": "sha256:1", "name": "nginx:1.25"}},
           "pod_labels": {"app": "web"}, "workload": "web", "workload_kind": "Deployment"})
}

#[test]
fn tetragon_events_are_normalised_and_attributed() {
    let pod = tetragon_pod();
    let mut pod_no_workload = pod.clone();
    pod_no_workload.as_object_mut().unwrap().remove("workload");
    let events = [
        json!({"process_exec": {"process": {"exec_id": "a", "pid": 10, "uid": 101, "cwd": "/", "binary": "/usr/sbin/nginx",
            "arguments": "-g daemon off;", "flags": "execve", "start_time": "2024-01-01T00:00:00Z",
            "process_credentials": {"uid": 101, "gid": 101, "euid": 101, "egid": 101}, "pod": pod},
            "parent": {"exec_id": "p", "pid": 1, "uid": 101, "binary": "/docker-entrypoint.sh"}},
            "node_name": "n1", "time": "2024-01-01T00:00:00Z"}),
        json!({"process_exec": {"process": {"exec_id": "b", "pid": 11, "uid": 101, "binary": "/usr/bin/sudo",
            "process_credentials": {"uid": 101, "euid": 0}, "binary_properties": {"setuid": 0,
            "privileges_changed": ["PRIVILEGES_RAISED_EXEC_FILE_SETUID"]}, "pod": pod_no_workload},
            "parent": {"exec_id": "a", "uid": 101}}, "node_name": "n1", "time": "2024-01-01T00:00:01Z"}),
        json!({"process_kprobe": {"process": {"exec_id": "a", "uid": 101, "binary": "/usr/sbin/nginx", "pod": pod},
            "function_name": "cap_capable", "args": [{"user_ns_arg": {"level": 0}}, {"capability_arg": {"value": 10, "name": "CAP_NET_BIND_SERVICE"}}],
            "return": {"int_arg": 0}, "action": "KPROBE_ACTION_POST", "policy_name": "caps"}, "time": "2024-01-01T00:00:02Z"}),
        json!({"process_kprobe": {"process": {"exec_id": "a", "uid": 101, "binary": "/usr/sbin/nginx", "pod": pod},
            "function_name": "cap_capable", "args": [{"capability_arg": {"value": 21}}], "return": {"int_arg": -1}},
            "time": "2024-01-01T00:00:02Z"}),
        json!({"process_kprobe": {"process": {"exec_id": "a", "uid": 101, "binary": "/usr/sbin/nginx", "pod": pod},
            "function_name": "security_file_permission", "args": [{"file_arg": {"path": "/var/cache/nginx/client_temp/1"}}, {"int_arg": 2}],
            "return": {"int_arg": 0}}, "time": "2024-01-01T00:00:03Z"}),
        json!({"process_kprobe": {"process": {"exec_id": "a", "uid": 101, "binary": "/usr/sbin/nginx", "pod": pod},
            "function_name": "security_file_permission", "args": [{"file_arg": {"path": "/etc/nginx/nginx.conf"}}, {"int_arg": 4}]},
            "time": "2024-01-01T00:00:03Z"}),
        json!({"process_kprobe": {"process": {"exec_id": "a", "uid": 101, "binary": "/usr/sbin/nginx", "pod": pod},
            "function_name": "inet_csk_listen_start", "args": [{"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM",
            "protocol": "IPPROTO_TCP", "saddr": "0.0.0.0", "sport": 80}}]}, "time": "2024-01-01T00:00:04Z"}),
        json!({"process_kprobe": {"process": {"exec_id": "a", "uid": 101, "binary": "/usr/sbin/nginx", "pod": pod},
            "function_name": "__x64_sys_mount", "args": []}, "time": "2024-01-01T00:00:05Z"}),
        json!({"process_exit": {"process": {"exec_id": "a", "uid": 101, "binary": "/usr/sbin/nginx", "pod": pod}, "status": 0},
            "time": "2024-01-01T00:00:06Z"}),
    ];
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tetragon.log");
    std::fs::write(&file, text).unwrap();
    let snap = Snap::new(vec![deployment("web", json!({"containers": [{"name": "nginx", "image": "nginx"}]}))]);
    let (set, stats) = provenance::ingest(&[file], &snap.snapshot.inventory, true, &|_| {}).unwrap();
    assert_eq!(stats.malformed, 0);
    assert_eq!(stats.records, events.len() as u64);
    let key = ContainerRef {
        workload: WorkloadRef { namespace: "shop".into(), kind: WorkloadKind::Deployment, name: "web".into() },
        container: "nginx".into(),
    };
    assert_eq!(set.containers.len(), 1, "all attributed to shop/web nginx: {:?}", set.containers.keys());
    let obs = &set.containers[&key];
    let want = [
        RuntimeObservation::Process {
            binary: "/usr/sbin/nginx".into(),
            uid: Some(101),
            euid: Some(101),
            gid: Some(101),
        },
        RuntimeObservation::PrivilegeChange { from_uid: Some(101), to_uid: Some(0) },
        RuntimeObservation::Capability { name: "NET_BIND_SERVICE".into(), allowed: true },
        RuntimeObservation::Capability { name: "SYS_ADMIN".into(), allowed: false },
        RuntimeObservation::FileWrite { path: "/var/cache/nginx/client_temp/1".into() },
        RuntimeObservation::FileRead { path: "/etc/nginx/nginx.conf".into() },
        RuntimeObservation::Listen { port: 80, protocol: "TCP".into() },
        RuntimeObservation::Syscall { name: "mount".into() },
    ];
    for w in &want {
        assert!(obs.contains_key(w), "missing {w:?} in {obs:?}");
    }
}

#[test]
fn falco_alerts_are_normalised() {
    let alerts = [
        json!({"output": "File below /etc opened for writing", "priority": "Error", "rule": "Write below etc",
            "source": "syscall", "tags": ["filesystem"], "time": "2024-01-01T00:00:00.000000000Z", "hostname": "n1",
            "output_fields": {"container.id": "abc", "container.name": "app", "evt.time": 1704067200000000000u64,
            "fd.name": "/etc/app/state", "k8s.ns.name": "shop", "k8s.pod.name": "api-5d8f7c9b6d-x7k2p",
            "proc.cmdline": "python app.py", "proc.name": "python", "user.name": "root", "user.loginuid": -1}}),
        json!({"output": "Shell spawned", "priority": "Notice", "rule": "Terminal shell in container", "source": "syscall",
            "time": "2024-01-01T00:00:01Z", "output_fields": {"k8s.ns.name": "shop", "k8s.pod.name": "api-5d8f7c9b6d-x7k2p",
            "container.name": "app", "proc.name": "bash", "user.uid": 1000, "evt.type": "execve"}}),
        json!({"output": "ptrace", "priority": "Warning", "rule": "PTRACE attached", "source": "syscall",
            "time": "2024-01-01T00:00:02Z", "output_fields": {"k8s.ns.name": "shop", "k8s.pod.name": "api-5d8f7c9b6d-x7k2p",
            "container.name": "app", "proc.name": "gdb", "evt.type": "ptrace", "user.uid": 0}}),
    ];
    let text: String = alerts.iter().map(|e| format!("{e}\n")).collect();
    let (parsed, stats) = parse_str(&text);
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    assert!(has(&parsed, &RuntimeObservation::FileWrite { path: "/etc/app/state".into() }));
    assert!(has(
        &parsed,
        &RuntimeObservation::Process { binary: "python".into(), uid: Some(0), euid: None, gid: None }
    ));
    assert!(has(
        &parsed,
        &RuntimeObservation::Process { binary: "bash".into(), uid: Some(1000), euid: None, gid: None }
    ));
    assert!(has(&parsed, &RuntimeObservation::Syscall { name: "ptrace".into() }));
    // the pod name is attributed by stripping its hashes (no inventory entry needed)
    let inv = Snap::new(vec![]).snapshot.inventory;
    assert_eq!(
        provenance::workload_for_pod(&inv, "shop", "api-5d8f7c9b6d-x7k2p"),
        WorkloadRef { namespace: "shop".into(), kind: WorkloadKind::Deployment, name: "api".into() }
    );
}

#[test]
fn malformed_lines_are_counted_with_file_and_line_and_strict_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("shop_web.json");
    std::fs::write(
        &f,
        "{\"process_exec\":{\"process\":{\"uid\":1}}}\nnot json\n{\"something\":1}\n{\"datum\":{\"a\":{},\"b\":{}}}\n",
    )
    .unwrap();
    let inv = Snap::new(vec![]).snapshot.inventory;
    let (_, stats) = provenance::ingest(std::slice::from_ref(&f), &inv, false, &|_| {}).unwrap();
    assert_eq!(stats.records, 1);
    assert_eq!(stats.malformed, 3);
    let lines: Vec<usize> = stats.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4]);
    assert!(stats.errors.iter().all(|e| e.path.ends_with("shop_web.json")));
    let err = provenance::ingest(&[f], &inv, true, &|_| {}).unwrap_err();
    assert!(err.to_string().contains(":2:"), "{err}");
}

#[test]
fn pods_are_mapped_to_their_owners_against_the_inventory() {
    let snap = Snap::new(vec![
        deployment("web", json!({"containers": []})),
        deployment("web-api", json!({"containers": []})),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop"},
               "spec": {"template": {"spec": {"containers": []}}}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "shop"},
               "spec": {"template": {"spec": {"containers": []}}}}),
    ]);
    let inv = &snap.snapshot.inventory;
    let w = |p: &str| provenance::workload_for_pod(inv, "shop", p);
    assert_eq!(w("web-api-7c9d8f6b5-qwx2z").name, "web-api");
    assert_eq!(w("web-7c9d8f6b5-qwx2z").name, "web");
    assert_eq!(w("db-0").kind, WorkloadKind::StatefulSet);
    assert_eq!(w("agent-x7k2p").kind, WorkloadKind::DaemonSet);
    assert_eq!(w("lonely").kind, WorkloadKind::Pod);
    // a suffix with vowels is not a generated hash
    assert_eq!(w("web-aaaaaaa-bbbbb").kind, WorkloadKind::Pod);
}
