//! In-container provenance: SPADE (JSON graph storage and CDM 17/18 JSON records), Tetragon JSON
//! events and Falco JSON alerts, normalised into `RuntimeObservation`s (process uids, file
//! writes/reads, capabilities, bind/listen, privilege changes, privileged syscalls) per container
//! and attributed to workloads of the inventory.
//!
//! Attribution: Tetragon and Falco carry the pod (`process.pod` / `k8s.ns.name` + `k8s.pod.name`);
//! the pod name is mapped to its owning workload by stripping ReplicaSet/pod hashes against the
//! inventory (`workload_for_pod`). SPADE and CDM have no pod: their files are attributed by a
//! **path component** named `<namespace>_<workload>[_<container>]` or
//! `<namespace>_<Kind>_<workload>[_<container>]` (the file stem before the first `.`, or any parent
//! directory; `_` cannot occur in Kubernetes names, so the split is unambiguous), e.g.
//! `provenance/shop_Deployment_cart_app.cdm.json` or `provenance/shop_cart/trace.json`. A SPADE/CDM
//! file without such a component is parsed, but its observations are counted as skipped and one
//! error names the file. Tetragon/Falco events without a pod (host processes) are skipped.
//!
//! Must not decide anything (no hardening logic here) and must not keep whole inputs in memory
//! beyond one file's id tables (SPADE/CDM edges refer to vertices by id).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::input::{self, Line};
use super::{IngestStats, InputError};
use crate::model::runtime::is_privileged_syscall;
use crate::model::{ContainerRef, Evidence, Inventory, RuntimeObservation, Timestamp, WorkloadKind, WorkloadRef};
use crate::profile::RuntimeProfileSet;

/// Which format a record was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordFormat {
    SpadeJson,
    Cdm,
    Tetragon,
    Falco,
}

/// Where a raw observation happened, as precisely as the record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The record names its pod (Tetragon, Falco).
    Pod { namespace: String, pod: String, container: String, workload: Option<(String, String)> },
    /// The record has no pod (SPADE, CDM): attributed from the file path.
    File,
    /// A Tetragon/Falco event of a host process (no pod): out of scope, counted as skipped.
    Host,
}

/// One normalised observation before attribution.
#[derive(Debug, Clone, PartialEq)]
pub struct RawObservation {
    pub origin: Origin,
    pub observation: RuntimeObservation,
    pub at: Timestamp,
    pub example: Option<String>,
}

/// Everything parsed from one input stream.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Records per type: CDM datum type (`Event`, `Subject`, ...), SPADE vertex/edge type,
    /// Tetragon event key (`process_exec`, ...), `falco`.
    pub record_types: BTreeMap<String, u64>,
    pub formats: BTreeMap<String, u64>,
    pub observations: Vec<RawObservation>,
}

/// Read evidence files (directories recursively) into per-container runtime profiles.
pub fn ingest(
    paths: &[PathBuf],
    inventory: &Inventory,
    strict: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(RuntimeProfileSet, IngestStats), InputError> {
    let files = input::expand(paths, &["json", "jsonl", "ndjson", "log", "gz", "cdm", "txt"])?;
    let mut set = RuntimeProfileSet::default();
    let mut stats = IngestStats::default();
    let mut consumed = 0u64;
    for file in files {
        let label = file.display().to_string();
        let mut reader = input::open(&file)?;
        let before = stats.errors.len();
        let before_malformed = stats.malformed;
        let (parsed, bytes) = parse_reader(&mut *reader, &label, &mut stats)
            .map_err(|source| InputError::Io { path: label.clone(), source })?;
        stats.files += 1;
        stats.bytes += bytes;
        consumed += bytes;
        progress(consumed);
        if strict
            && stats.malformed > before_malformed
            && let Some(e) = stats.errors.get(before).cloned()
        {
            return Err(InputError::Malformed(e));
        }
        let file_target = file_container(&file, inventory);
        let mut unplaced = 0u64;
        for raw in parsed.observations {
            let container = match &raw.origin {
                Origin::Pod { namespace, pod, container, workload } => {
                    let w = match workload {
                        Some((kind, name)) => workload_named(inventory, namespace, Some(kind), name)
                            .or_else(|| Some(workload_for_pod(inventory, namespace, pod))),
                        None => Some(workload_for_pod(inventory, namespace, pod)),
                    };
                    w.map(|workload| ContainerRef { workload, container: container.clone() })
                }
                Origin::File => file_target.clone(),
                Origin::Host => {
                    stats.skipped += 1;
                    continue;
                }
            };
            match container {
                Some(c) => {
                    let entry = set.containers.entry(c).or_default();
                    let ev = Evidence::one(raw.at, raw.example.as_deref());
                    match entry.get_mut(&raw.observation) {
                        Some(e) => e.merge(&ev),
                        None => {
                            entry.insert(raw.observation, ev);
                        }
                    }
                }
                None => unplaced += 1,
            }
        }
        if unplaced > 0 {
            stats.skipped += unplaced;
            stats.error(
                &label,
                0,
                format!(
                    "{unplaced} SPADE/CDM observations cannot be attributed: name the file or a folder \
                     <namespace>_<workload>[_<container>] (or <namespace>_<Kind>_<workload>[_<container>])"
                ),
            );
        }
    }
    Ok((set, stats))
}

/// Parse one stream of any supported format. Returns the parsed records and the bytes read.
/// Malformed records are counted in `stats` with `path` and line.
pub fn parse_reader<R: BufRead + ?Sized>(
    reader: &mut R,
    path: &str,
    stats: &mut IngestStats,
) -> std::io::Result<(Parsed, u64)> {
    let mut parsed = Parsed::default();
    let mut graph = GraphState::default();
    let bytes = input::for_each_line(reader, |line_no, line| {
        stats.lines += 1;
        let text = match line {
            Line::TooLong(n) => {
                stats.error(path, line_no, format!("line of {n} bytes exceeds the limit"));
                return;
            }
            Line::Text(t) => t,
        };
        let Ok(text) = std::str::from_utf8(text) else {
            stats.error(path, line_no, "not UTF-8");
            return;
        };
        // SPADE's JSON storage (`spade/storage/JSON.java`) writes `[`, then one element per line
        // with the separator *before* it (`,{…}`), then `]`; trailing commas are accepted too.
        let mut t = text.trim();
        t = t.strip_prefix('[').unwrap_or(t).trim_start();
        t = t.strip_prefix(',').unwrap_or(t).trim_start();
        t = t.strip_suffix(',').unwrap_or(t).trim_end();
        if (t.ends_with(']') && !t.ends_with("]]") && !t.starts_with('{')) || t.ends_with("}]") {
            t = t.strip_suffix(']').unwrap_or(t).trim_end();
        }
        if t.is_empty() {
            return;
        }
        let value: Value = match serde_json::from_str(t) {
            Ok(v) => v,
            Err(e) => {
                stats.error(path, line_no, format!("invalid JSON: {e}"));
                return;
            }
        };
        match classify_and_parse(&value, line_no, &mut graph, &mut parsed) {
            Ok(()) => stats.records += 1,
            Err(msg) => stats.error(path, line_no, msg),
        }
    })?;
    graph.resolve(&mut parsed, path, stats);
    Ok((parsed, bytes))
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_string()).or_default() += 1;
}

fn classify_and_parse(v: &Value, line: usize, graph: &mut GraphState, parsed: &mut Parsed) -> Result<(), String> {
    let Some(obj) = v.as_object() else { return Err("record is not a JSON object".into()) };
    if let Some(datum) = obj.get("datum") {
        bump(&mut parsed.formats, "cdm");
        return graph.cdm_record(datum, line, parsed);
    }
    if obj.contains_key("type") && (obj.contains_key("id") || obj.contains_key("from")) {
        bump(&mut parsed.formats, "spade-json");
        return graph.spade_element(obj, line, parsed);
    }
    if obj.contains_key("output") && obj.contains_key("rule") {
        bump(&mut parsed.formats, "falco");
        bump(&mut parsed.record_types, "falco");
        return falco_alert(obj, parsed);
    }
    if let Some((key, body)) = obj.iter().find(|(k, _)| k.starts_with("process_")) {
        bump(&mut parsed.formats, "tetragon");
        bump(&mut parsed.record_types, key);
        return tetragon_event(key, body, obj.get("time").and_then(Value::as_str), parsed);
    }
    Err("unrecognised record: expected SPADE JSON, CDM (`datum`), Tetragon (`process_*`) or Falco (`rule`+`output`)"
        .into())
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn u32_of(v: Option<&Value>) -> Option<u32> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|x| u32::try_from(x).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Seconds as a float string (`"1529357007.956"`) → timestamp.
fn seconds_ts(s: &str) -> Timestamp {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x < 1e11 => Timestamp((x * 1e6).round() as i64),
        _ => Timestamp(0),
    }
}

fn nanos_ts(n: Option<i64>) -> Timestamp {
    match n {
        Some(n) if n > 0 => Timestamp(n / 1000),
        _ => Timestamp(0),
    }
}

fn normalise_syscall(name: &str) -> String {
    let mut n = name;
    for prefix in ["__x64_sys_", "__arm64_sys_", "__ia32_sys_", "__se_sys_", "ksys_", "sys_", "__sys_", "do_"] {
        if let Some(rest) = n.strip_prefix(prefix) {
            n = rest;
            break;
        }
    }
    match n {
        "path_mount" | "mount_setattr" | "fsmount" => "mount".to_string(),
        "load_module" => "init_module".to_string(),
        other => other.to_string(),
    }
}

fn is_write_flags(flags: &str) -> bool {
    ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"].iter().any(|f| flags.contains(f))
}

fn push(parsed: &mut Parsed, origin: &Origin, observation: RuntimeObservation, at: Timestamp, example: Option<&str>) {
    parsed.observations.push(RawObservation {
        origin: origin.clone(),
        observation,
        at,
        example: example.map(str::to_string),
    });
}

// ---------------------------------------------------------------------------------------------
// SPADE JSON graph + CDM: id tables resolved at the end of each file

/// (line, type, from, to, annotations)
type SpadeEdge = (usize, String, String, String, Map<String, Value>);
/// (uid, euid, gid)
type Ids = (Option<u32>, Option<u32>, Option<u32>);

#[derive(Debug, Default)]
struct GraphState {
    // SPADE JSON
    vertices: HashMap<String, (String, Map<String, Value>)>,
    edges: Vec<SpadeEdge>,
    // CDM
    subjects: HashMap<String, CdmSubject>,
    principals: HashMap<String, Ids>,
    objects: HashMap<String, CdmObject>,
    events: Vec<CdmEvent>,
}

#[derive(Debug, Default, Clone)]
struct CdmSubject {
    principal: Option<String>,
    binary: String,
    start: Timestamp,
}

#[derive(Debug, Clone)]
enum CdmObject {
    File { path: Option<String>, device: bool },
    Net { local_port: Option<u16>, protocol: String },
}

#[derive(Debug, Clone)]
struct CdmEvent {
    line: usize,
    uuid: String,
    kind: String,
    subject: Option<String>,
    object: Option<String>,
    object_path: Option<String>,
    object2: Option<String>,
    flags: String,
    operation: String,
    at: Timestamp,
}

/// CDM unions are `{"<namespace>.UUID": "…"}` / `{"string": "…"}` / `{"long": n}`: take the value.
fn union_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.values().next().and_then(|x| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn union_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::Object(m) => m.values().next().and_then(Value::as_i64),
        _ => None,
    }
}

impl GraphState {
    fn cdm_record(&mut self, datum: &Value, line: usize, parsed: &mut Parsed) -> Result<(), String> {
        let Some(m) = datum.as_object() else { return Err("CDM `datum` is not an object".into()) };
        if m.len() != 1 {
            return Err(format!("CDM `datum` must have exactly one key, has {}", m.len()));
        }
        let Some((key, body)) = m.iter().next() else { return Err("empty CDM datum".into()) };
        let kind = key.rsplit('.').next().unwrap_or(key);
        let uuid = body.get("uuid").and_then(Value::as_str).map(str::to_string);
        match kind {
            "Subject" => {
                let uuid = uuid.ok_or("CDM Subject without uuid")?;
                let props = body.get("properties").and_then(|p| p.get("map"));
                let cmd = union_str(body.get("cmdLine"));
                let name = props.and_then(|p| p.get("name")).and_then(Value::as_str).map(str::to_string);
                let binary = cmd
                    .as_deref()
                    .and_then(|c| c.split_whitespace().next())
                    .map(str::to_string)
                    .or(name)
                    .unwrap_or_default();
                let start = nanos_ts(union_i64(body.get("startTimestampNanos")));
                let subj = CdmSubject {
                    principal: union_str(body.get("localPrincipal")),
                    binary,
                    start: if start.0 == 0 {
                        props
                            .and_then(|p| p.get("seen time"))
                            .and_then(Value::as_str)
                            .map(seconds_ts)
                            .unwrap_or_default()
                    } else {
                        start
                    },
                };
                // A later record for the same uuid refines (keeps known fields).
                let e = self.subjects.entry(uuid).or_default();
                if subj.principal.is_some() {
                    e.principal = subj.principal;
                }
                if !subj.binary.is_empty() {
                    e.binary = subj.binary;
                }
                if e.start.0 == 0 {
                    e.start = subj.start;
                }
            }
            "Principal" => {
                let uuid = uuid.ok_or("CDM Principal without uuid")?;
                let uid = u32_of(body.get("userId"));
                let euid = body.get("properties").and_then(|p| p.get("map")).and_then(|m| u32_of(m.get("euid")));
                let gid = body.get("groupIds").and_then(Value::as_array).and_then(|a| u32_of(a.first()));
                self.principals.insert(uuid, (uid, euid, gid));
            }
            "FileObject" => {
                let uuid = uuid.ok_or("CDM FileObject without uuid")?;
                let path = body
                    .get("baseObject")
                    .and_then(|b| b.get("properties"))
                    .and_then(|p| p.get("map"))
                    .and_then(|m| m.get("path"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let t = body.get("type").and_then(Value::as_str).unwrap_or("");
                let device = t.contains("CHAR") || t.contains("BLOCK");
                self.objects.insert(uuid, CdmObject::File { path, device });
            }
            "NetFlowObject" => {
                let uuid = uuid.ok_or("CDM NetFlowObject without uuid")?;
                let local_port = union_i64(body.get("localPort")).and_then(|p| u16::try_from(p).ok());
                let protocol = match union_i64(body.get("ipProtocol")) {
                    Some(6) => "TCP",
                    Some(17) => "UDP",
                    Some(132) => "SCTP",
                    _ => "",
                }
                .to_string();
                self.objects.insert(uuid, CdmObject::Net { local_port, protocol });
            }
            "Event" => {
                let kind = body.get("type").and_then(Value::as_str).ok_or("CDM Event without type")?.to_string();
                let props = body.get("properties").and_then(|p| p.get("map"));
                let prop = |k: &str| props.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
                self.events.push(CdmEvent {
                    line,
                    uuid: uuid.unwrap_or_default(),
                    kind,
                    subject: union_str(body.get("subject")),
                    object: union_str(body.get("predicateObject")),
                    object_path: union_str(body.get("predicateObjectPath")),
                    object2: union_str(body.get("predicateObject2")),
                    flags: prop("flags"),
                    operation: prop("operation"),
                    at: nanos_ts(union_i64(body.get("timestampNanos"))),
                });
            }
            _ => {}
        }
        bump(&mut parsed.record_types, kind);
        // Sub-types as SPADE's EndMarker `recordCounts` spell them (EVENT_*, SUBJECT_*, FILE_OBJECT_*).
        if matches!(kind, "Event" | "Subject" | "FileObject")
            && let Some(t) = body.get("type").and_then(Value::as_str)
        {
            bump(&mut parsed.record_types, &format!("{kind}/{t}"));
        }
        Ok(())
    }

    fn spade_element(&mut self, obj: &Map<String, Value>, line: usize, parsed: &mut Parsed) -> Result<(), String> {
        let ty = obj.get("type").and_then(Value::as_str).ok_or("SPADE element without string `type`")?.to_string();
        let ann = match obj.get("annotations") {
            Some(Value::Object(m)) => m.clone(),
            None => Map::new(),
            Some(_) => return Err("SPADE `annotations` is not an object".into()),
        };
        let id_of = |k: &str| match obj.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if obj.contains_key("from") {
            let from = id_of("from").ok_or("SPADE edge without `from`")?;
            let to = id_of("to").ok_or("SPADE edge without `to`")?;
            self.edges.push((line, ty.clone(), from, to, ann));
        } else {
            let id = id_of("id").ok_or("SPADE vertex without `id`")?;
            self.vertices.insert(id, (ty.clone(), ann));
        }
        bump(&mut parsed.record_types, &ty);
        Ok(())
    }

    fn resolve(self, parsed: &mut Parsed, path: &str, stats: &mut IngestStats) {
        self.resolve_spade(parsed, path, stats);
        self.resolve_cdm(parsed);
    }

    fn resolve_spade(&self, parsed: &mut Parsed, path: &str, stats: &mut IngestStats) {
        if self.vertices.is_empty() && self.edges.is_empty() {
            return;
        }
        let origin = Origin::File;
        let ann_str = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        // uid/euid/gid of a process: its own annotations, else its controlling agent's.
        let mut agent_of: HashMap<&str, &str> = HashMap::new();
        for (_, ty, from, to, _) in &self.edges {
            if ty == "WasControlledBy" || ty == "WasAssociatedWith" {
                agent_of.insert(from.as_str(), to.as_str());
            }
        }
        let ids = |pid: &str| -> (Option<u32>, Option<u32>, Option<u32>) {
            let own = self.vertices.get(pid).map(|(_, a)| a);
            let agent = agent_of.get(pid).and_then(|a| self.vertices.get(*a)).map(|(_, a)| a);
            let pick = |k: &str| own.and_then(|a| u32_of(a.get(k))).or_else(|| agent.and_then(|a| u32_of(a.get(k))));
            (pick("uid"), pick("euid"), pick("gid"))
        };
        let is_process = |t: &str| t == "Process" || t == "Activity";
        let mut vids: Vec<&String> = self.vertices.keys().collect();
        vids.sort();
        for id in vids {
            let Some((ty, ann)) = self.vertices.get(id) else { continue };
            if !is_process(ty) {
                continue;
            }
            let (uid, euid, gid) = ids(id);
            let binary = ann_str(ann, "exe")
                .or_else(|| ann_str(ann, "command line").and_then(|c| c.split_whitespace().next().map(str::to_string)))
                .or_else(|| ann_str(ann, "name"))
                .unwrap_or_default();
            let at = ann_str(ann, "start time").or_else(|| ann_str(ann, "seen time")).map(|s| seconds_ts(&s));
            push(
                parsed,
                &origin,
                RuntimeObservation::Process { binary, uid, euid, gid },
                at.unwrap_or_default(),
                Some(id),
            );
        }
        for (line, ty, from, to, ann) in &self.edges {
            let op = ann_str(ann, "operation").unwrap_or_default();
            let at = ann_str(ann, "time").map(|s| seconds_ts(&s)).unwrap_or_default();
            let example = ann_str(ann, "event id");
            let ex = example.as_deref();
            let (Some((from_ty, from_ann)), Some((to_ty, to_ann))) = (self.vertices.get(from), self.vertices.get(to))
            else {
                stats.error(path, *line, format!("SPADE edge {ty} refers to an unknown vertex"));
                continue;
            };
            // The artifact end of the edge (if any).
            let artifact = if from_ty == "Artifact" || from_ty == "Entity" {
                Some(from_ann)
            } else if to_ty == "Artifact" || to_ty == "Entity" {
                Some(to_ann)
            } else {
                None
            };
            let path_of = |a: &Map<String, Value>| ann_str(a, "path");
            let subtype = artifact.and_then(|a| ann_str(a, "subtype")).unwrap_or_default();
            let op_l = op.to_ascii_lowercase();
            if is_privileged_syscall(op_l.as_str()) {
                push(parsed, &origin, RuntimeObservation::Syscall { name: op_l.clone() }, at, ex);
            }
            match op_l.as_str() {
                "setuid" | "setgid" | "setresuid" | "setresgid" | "setreuid" | "setregid" | "setfsuid" | "setfsgid" => {
                    // child (from) → parent (to): the new process state is `from`.
                    let (old, new) = if is_process(from_ty) && is_process(to_ty) {
                        (ids(to), ids(from))
                    } else {
                        ((None, None, None), (None, None, None))
                    };
                    push(
                        parsed,
                        &origin,
                        RuntimeObservation::PrivilegeChange { from_uid: old.1.or(old.0), to_uid: new.1.or(new.0) },
                        at,
                        ex,
                    );
                }
                "bind" | "accept" | "listen" => {
                    if let Some(port) =
                        artifact.and_then(|a| ann_str(a, "local port")).and_then(|p| p.parse::<u16>().ok())
                    {
                        let protocol = artifact.and_then(|a| ann_str(a, "protocol")).unwrap_or_default();
                        push(
                            parsed,
                            &origin,
                            RuntimeObservation::Listen { port, protocol: protocol_name(&protocol) },
                            at,
                            ex,
                        );
                    }
                }
                _ => {}
            }
            let Some(a) = artifact else { continue };
            let Some(p) = path_of(a) else { continue };
            if subtype.contains("socket") || subtype.contains("pipe") || subtype == "memory" {
                continue;
            }
            let write_ops = [
                "write", "create", "rename", "unlink", "truncate", "link", "mknod", "chmod", "update", "tee", "splice",
                "vmsplice", "symlink",
            ];
            let generated = ty == "WasGeneratedBy";
            let write = write_ops.contains(&op_l.as_str())
                || (op_l == "open" && is_write_flags(&ann_str(ann, "flags").unwrap_or_default()))
                || (generated && op_l.is_empty());
            let obs = if write {
                RuntimeObservation::FileWrite { path: p }
            } else {
                RuntimeObservation::FileRead { path: p }
            };
            push(parsed, &origin, obs, at, ex);
        }
    }

    fn resolve_cdm(&self, parsed: &mut Parsed) {
        if self.subjects.is_empty() && self.events.is_empty() {
            return;
        }
        let origin = Origin::File;
        let ids_of = |s: &CdmSubject| s.principal.as_ref().and_then(|p| self.principals.get(p)).copied();
        let mut sids: Vec<&String> = self.subjects.keys().collect();
        sids.sort();
        for sid in sids {
            let Some(s) = self.subjects.get(sid) else { continue };
            let (uid, euid, gid) = ids_of(s).unwrap_or((None, None, None));
            push(
                parsed,
                &origin,
                RuntimeObservation::Process { binary: s.binary.clone(), uid, euid, gid },
                s.start,
                Some(sid),
            );
        }
        for e in &self.events {
            let ex = Some(e.uuid.as_str()).filter(|u| !u.is_empty());
            let subject = e.subject.as_ref().and_then(|s| self.subjects.get(s));
            let object = e.object.as_ref().and_then(|o| self.objects.get(o));
            let file_path = match object {
                Some(CdmObject::File { path, .. }) => e.object_path.clone().or_else(|| path.clone()),
                None => e.object_path.clone(),
                _ => None,
            };
            let kind = e.kind.trim_start_matches("EVENT_");
            let op = e.operation.to_ascii_lowercase();
            match kind {
                "WRITE"
                | "CREATE_OBJECT"
                | "RENAME"
                | "UNLINK"
                | "TRUNCATE"
                | "LINK"
                | "MODIFY_FILE_ATTRIBUTES"
                | "UPDATE" => {
                    if let Some(p) = file_path {
                        push(parsed, &origin, RuntimeObservation::FileWrite { path: p }, e.at, ex);
                    }
                    // rename/link also touch the second object
                    if matches!(kind, "RENAME" | "LINK")
                        && let Some(Some(CdmObject::File { path: Some(p2), .. })) =
                            e.object2.as_ref().map(|o| self.objects.get(o))
                    {
                        push(parsed, &origin, RuntimeObservation::FileWrite { path: p2.clone() }, e.at, ex);
                    }
                }
                "OPEN" => {
                    if let Some(p) = file_path {
                        let obs = if is_write_flags(&e.flags) {
                            RuntimeObservation::FileWrite { path: p }
                        } else {
                            RuntimeObservation::FileRead { path: p }
                        };
                        push(parsed, &origin, obs, e.at, ex);
                    }
                }
                "READ" | "EXECUTE" | "LOADLIBRARY" | "MMAP" => {
                    if let Some(p) = file_path {
                        push(parsed, &origin, RuntimeObservation::FileRead { path: p }, e.at, ex);
                    }
                }
                "BIND" | "ACCEPT" => {
                    if let Some(CdmObject::Net { local_port: Some(port), protocol }) = object {
                        push(
                            parsed,
                            &origin,
                            RuntimeObservation::Listen { port: *port, protocol: protocol.clone() },
                            e.at,
                            ex,
                        );
                    }
                }
                "CHANGE_PRINCIPAL" => {
                    let from = subject.and_then(ids_of).and_then(|(u, eu, _)| eu.or(u));
                    push(
                        parsed,
                        &origin,
                        RuntimeObservation::PrivilegeChange { from_uid: from, to_uid: None },
                        e.at,
                        ex,
                    );
                }
                "MODULE_LOAD" => {
                    push(parsed, &origin, RuntimeObservation::Syscall { name: "init_module".into() }, e.at, ex)
                }
                "MOUNT" => push(parsed, &origin, RuntimeObservation::Syscall { name: "mount".into() }, e.at, ex),
                _ => {}
            }
            if !op.is_empty() && is_privileged_syscall(op.as_str()) {
                push(parsed, &origin, RuntimeObservation::Syscall { name: op.clone() }, e.at, ex);
            }
            if let Some(CdmObject::File { device: true, path: Some(p) }) = object
                && !matches!(kind, "OPEN" | "READ" | "WRITE")
            {
                push(parsed, &origin, RuntimeObservation::FileRead { path: p.clone() }, e.at, ex);
            }
            let _ = e.line;
        }
    }
}

fn protocol_name(p: &str) -> String {
    match p.trim() {
        "6" | "tcp" | "TCP" | "IPPROTO_TCP" => "TCP".into(),
        "17" | "udp" | "UDP" | "IPPROTO_UDP" => "UDP".into(),
        "132" | "sctp" | "SCTP" | "IPPROTO_SCTP" => "SCTP".into(),
        other => other.to_ascii_uppercase(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tetragon

fn tetragon_origin(process: &Value) -> Origin {
    let pod = process.get("pod");
    match pod {
        Some(pod) if pod.is_object() => Origin::Pod {
            namespace: str_at(pod, &["namespace"]).unwrap_or("").to_string(),
            pod: str_at(pod, &["name"]).unwrap_or("").to_string(),
            container: str_at(pod, &["container", "name"]).unwrap_or("").to_string(),
            workload: str_at(pod, &["workload"])
                .filter(|w| !w.is_empty())
                .map(|w| (str_at(pod, &["workload_kind"]).unwrap_or("").to_string(), w.to_string())),
        },
        _ => Origin::Host,
    }
}

fn tetragon_ids(process: &Value) -> (Option<u32>, Option<u32>, Option<u32>) {
    let creds = process.get("process_credentials");
    let uid = creds.and_then(|c| u32_of(c.get("uid"))).or_else(|| u32_of(process.get("uid")));
    let euid = creds.and_then(|c| u32_of(c.get("euid")));
    let gid = creds.and_then(|c| u32_of(c.get("gid")));
    (uid, euid, gid)
}

fn tetragon_event(key: &str, body: &Value, time: Option<&str>, parsed: &mut Parsed) -> Result<(), String> {
    let process = body.get("process").ok_or_else(|| format!("Tetragon {key} without `process`"))?;
    let origin = tetragon_origin(process);
    let at = time.and_then(Timestamp::parse_rfc3339).unwrap_or_default();
    let example = process.get("exec_id").and_then(Value::as_str);
    let binary = process.get("binary").and_then(Value::as_str).unwrap_or("").to_string();
    let (uid, euid, gid) = tetragon_ids(process);
    match key {
        "process_exec" => {
            push(parsed, &origin, RuntimeObservation::Process { binary, uid, euid, gid }, at, example);
            // setuid/setgid binaries and file capabilities raising privileges at exec.
            let props = process.get("binary_properties");
            let raised = props
                .and_then(|p| p.get("privileges_changed"))
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            let setuid = props.and_then(|p| u32_of(p.get("setuid")));
            let parent_uid = body.get("parent").and_then(|p| tetragon_ids(p).0);
            let effective = euid.or(uid);
            let upward = match (parent_uid, effective) {
                (Some(p), Some(e)) => e < p && e == 0,
                _ => false,
            };
            if raised || setuid.is_some() || upward {
                push(
                    parsed,
                    &origin,
                    RuntimeObservation::PrivilegeChange { from_uid: parent_uid.or(uid), to_uid: setuid.or(effective) },
                    at,
                    example,
                );
            }
        }
        "process_kprobe" | "process_tracepoint" | "process_uprobe" | "process_lsm" => {
            push(parsed, &origin, RuntimeObservation::Process { binary, uid, euid, gid }, at, example);
            let func = body
                .get("function_name")
                .or_else(|| body.get("event"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let args: Vec<Value> = body.get("args").and_then(Value::as_array).cloned().unwrap_or_default();
            let ret = body.get("return").and_then(|r| r.get("int_arg")).and_then(Value::as_i64);
            kprobe_observations(&func, &args, ret, &origin, at, example, parsed);
        }
        _ => {}
    }
    Ok(())
}

fn kprobe_observations(
    func: &str,
    args: &[Value],
    ret: Option<i64>,
    origin: &Origin,
    at: Timestamp,
    example: Option<&str>,
    parsed: &mut Parsed,
) {
    let name = normalise_syscall(func);
    // capabilities
    for a in args {
        if let Some(cap) = a.get("capability_arg") {
            let cname = cap.get("name").and_then(Value::as_str).map(str::to_string).or_else(|| {
                cap.get("value")
                    .and_then(Value::as_u64)
                    .and_then(|v| CAPABILITY_NAMES.get(v as usize))
                    .map(|s| s.to_string())
            });
            if let Some(c) = cname {
                let c = c.trim_start_matches("CAP_").to_ascii_uppercase();
                push(
                    parsed,
                    origin,
                    RuntimeObservation::Capability { name: c, allowed: ret.is_none_or(|r| r == 0) },
                    at,
                    example,
                );
            }
        }
    }
    if name == "cap_capable" || name.ends_with("capable") {
        if let Some(v) = args.iter().find_map(|a| a.get("int_arg").and_then(Value::as_u64))
            && !args.iter().any(|a| a.get("capability_arg").is_some())
            && let Some(c) = CAPABILITY_NAMES.get(v as usize)
        {
            push(
                parsed,
                origin,
                RuntimeObservation::Capability { name: c.to_string(), allowed: ret.is_none_or(|r| r == 0) },
                at,
                example,
            );
        }
        return;
    }
    // sockets: bind/listen
    if name.contains("listen") || name.contains("bind") {
        for a in args {
            if let Some(s) = a.get("sock_arg") {
                if let Some(port) = u32_of(s.get("sport")).and_then(|p| u16::try_from(p).ok()) {
                    let proto = s.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    push(
                        parsed,
                        origin,
                        RuntimeObservation::Listen { port, protocol: protocol_name(proto) },
                        at,
                        example,
                    );
                }
            } else if let Some(s) = a.get("sockaddr_arg")
                && let Some(port) = u32_of(s.get("sport").or_else(|| s.get("port"))).and_then(|p| u16::try_from(p).ok())
            {
                push(parsed, origin, RuntimeObservation::Listen { port, protocol: "TCP".into() }, at, example);
            }
        }
    }
    // privilege changes
    if matches!(
        name.as_str(),
        "setuid" | "setgid" | "setresuid" | "setresgid" | "setreuid" | "setregid" | "commit_creds"
    ) {
        let to = args.iter().find_map(|a| a.get("int_arg").and_then(Value::as_i64)).and_then(|v| u32::try_from(v).ok());
        push(parsed, origin, RuntimeObservation::PrivilegeChange { from_uid: None, to_uid: to }, at, example);
    }
    if is_privileged_syscall(name.as_str()) {
        push(parsed, origin, RuntimeObservation::Syscall { name: name.clone() }, at, example);
    }
    // files
    let file_path = args.iter().find_map(|a| {
        a.get("file_arg").or_else(|| a.get("path_arg")).and_then(|f| f.get("path")).and_then(Value::as_str).map(|p| {
            (
                p.to_string(),
                a.get("file_arg")
                    .or_else(|| a.get("path_arg"))
                    .and_then(|f| f.get("flags"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        })
    });
    if let Some((p, flags)) = file_path {
        let mask = args.iter().find_map(|a| a.get("int_arg").and_then(Value::as_i64));
        let l = name.to_ascii_lowercase();
        let write = [
            "write", "truncate", "unlink", "rename", "create", "mkdir", "rmdir", "symlink", "link", "chmod", "chown",
            "setattr", "mknod",
        ]
        .iter()
        .any(|w| l.contains(w))
            || (l == "security_file_permission" && mask.is_some_and(|m| m & 2 != 0))
            || (l.contains("open") && is_write_flags(&flags))
            || (l == "fd_install" && is_write_flags(&flags));
        let obs =
            if write { RuntimeObservation::FileWrite { path: p } } else { RuntimeObservation::FileRead { path: p } };
        push(parsed, origin, obs, at, example);
    }
}

/// Linux capability numbers (include/uapi/linux/capability.h), without `CAP_`.
pub const CAPABILITY_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

// ---------------------------------------------------------------------------------------------
// Falco

fn falco_alert(obj: &Map<String, Value>, parsed: &mut Parsed) -> Result<(), String> {
    let fields = match obj.get("output_fields") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err("Falco `output_fields` is not an object".into()),
        None => return Err("Falco alert without `output_fields`".into()),
    };
    let f = |k: &str| fields.get(k).and_then(|v| if v.is_null() { None } else { Some(v) });
    let fs = |k: &str| f(k).and_then(Value::as_str).map(str::to_string);
    let origin = match (fs("k8s.ns.name"), fs("k8s.pod.name")) {
        (Some(namespace), Some(pod)) => Origin::Pod {
            namespace,
            pod,
            container: fs("container.name").or_else(|| fs("k8s.container.name")).unwrap_or_default(),
            workload: None,
        },
        _ => Origin::Host,
    };
    let at = obj.get("time").and_then(Value::as_str).and_then(Timestamp::parse_rfc3339).unwrap_or_default();
    let rule = obj.get("rule").and_then(Value::as_str).unwrap_or("");
    let example = Some(rule);
    let uid = u32_of(f("user.uid")).or_else(|| if fs("user.name").as_deref() == Some("root") { Some(0) } else { None });
    let binary = fs("proc.exepath").or_else(|| fs("proc.exe")).or_else(|| fs("proc.name")).unwrap_or_default();
    if uid.is_some() || !binary.is_empty() {
        push(
            parsed,
            &origin,
            RuntimeObservation::Process { binary, uid, euid: None, gid: u32_of(f("group.gid")) },
            at,
            example,
        );
    }
    let evt = fs("evt.type").unwrap_or_default();
    let evt_name = normalise_syscall(&evt);
    if is_privileged_syscall(evt_name.as_str()) {
        push(parsed, &origin, RuntimeObservation::Syscall { name: evt_name.clone() }, at, example);
    }
    if matches!(evt_name.as_str(), "setuid" | "setgid" | "setresuid" | "setresgid" | "setreuid" | "setregid") {
        push(
            parsed,
            &origin,
            RuntimeObservation::PrivilegeChange { from_uid: uid, to_uid: u32_of(f("evt.arg.uid")) },
            at,
            example,
        );
    }
    if let Some(port) = u32_of(f("fd.sport")).or_else(|| u32_of(f("fd.lport"))).and_then(|p| u16::try_from(p).ok())
        && matches!(evt_name.as_str(), "bind" | "listen" | "accept" | "accept4")
    {
        push(
            parsed,
            &origin,
            RuntimeObservation::Listen { port, protocol: protocol_name(&fs("fd.l4proto").unwrap_or_default()) },
            at,
            example,
        );
    }
    let path = fs("fd.name").or_else(|| fs("fs.path.name")).or_else(|| fs("evt.arg.path"));
    if let Some(p) = path.filter(|p| p.starts_with('/')) {
        let flags = fs("evt.arg.flags").unwrap_or_default();
        let rule_l = rule.to_ascii_lowercase();
        let write = f("evt.is_open_write").and_then(Value::as_bool).unwrap_or(false)
            || is_write_flags(&flags)
            || [
                "rename",
                "renameat",
                "renameat2",
                "unlink",
                "unlinkat",
                "mkdir",
                "mkdirat",
                "creat",
                "truncate",
                "ftruncate",
                "write",
                "pwrite",
                "symlink",
                "link",
                "chmod",
                "fchmod",
                "fchmodat",
            ]
            .contains(&evt_name.as_str())
            || rule_l.contains("write")
            || rule_l.contains("modif")
            || rule_l.contains("create")
            || rule_l.contains("delete");
        let obs =
            if write { RuntimeObservation::FileWrite { path: p } } else { RuntimeObservation::FileRead { path: p } };
        push(parsed, &origin, obs, at, example);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Attribution

/// Characters Kubernetes uses for generated name suffixes (`rand.SafeEncodeString`).
const SAFE_CHARS: &str = "bcdfghjklmnpqrstvwxz2456789";

fn is_safe(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.chars().all(|c| SAFE_CHARS.contains(c))
}

/// Does `pod` look like a pod of a workload of `kind` named `name`?
fn pod_matches(kind: WorkloadKind, name: &str, pod: &str) -> bool {
    if kind == WorkloadKind::Pod {
        return pod == name;
    }
    let Some(rest) = pod.strip_prefix(name).and_then(|r| r.strip_prefix('-')) else { return false };
    let parts: Vec<&str> = rest.split('-').collect();
    match kind {
        WorkloadKind::Deployment => parts.len() == 2 && is_safe(parts[0], 1, 10) && is_safe(parts[1], 5, 5),
        WorkloadKind::StatefulSet => {
            parts.len() == 1 && !parts[0].is_empty() && parts[0].chars().all(|c| c.is_ascii_digit())
        }
        WorkloadKind::DaemonSet | WorkloadKind::ReplicaSet | WorkloadKind::Job => {
            parts.len() == 1 && is_safe(parts[0], 5, 5)
        }
        WorkloadKind::CronJob => {
            parts.len() == 2
                && parts[0].chars().all(|c| c.is_ascii_digit())
                && !parts[0].is_empty()
                && is_safe(parts[1], 5, 5)
        }
        WorkloadKind::Pod => false,
    }
}

/// The workload owning pod `pod` in `namespace`: the inventory workload whose naming pattern
/// matches (longest name wins); without a match, hashes are stripped by shape
/// (`name-<hash>-<5>` → Deployment, `name-<n>` → StatefulSet) and otherwise the bare Pod is used.
pub fn workload_for_pod(inventory: &Inventory, namespace: &str, pod: &str) -> WorkloadRef {
    let best = inventory
        .workloads
        .iter()
        .filter(|w| w.id.namespace == namespace && pod_matches(w.id.kind, &w.id.name, pod))
        .max_by(|a, b| a.id.name.len().cmp(&b.id.name.len()).then_with(|| b.id.cmp(&a.id)));
    if let Some(w) = best {
        return w.id.clone();
    }
    let parts: Vec<&str> = pod.rsplitn(3, '-').collect();
    if parts.len() == 3 && is_safe(parts[0], 5, 5) && is_safe(parts[1], 6, 10) {
        return WorkloadRef {
            namespace: namespace.to_string(),
            kind: WorkloadKind::Deployment,
            name: parts[2].to_string(),
        };
    }
    if let Some((base, ord)) = pod.rsplit_once('-')
        && !ord.is_empty()
        && ord.chars().all(|c| c.is_ascii_digit())
        && !base.is_empty()
    {
        return WorkloadRef {
            namespace: namespace.to_string(),
            kind: WorkloadKind::StatefulSet,
            name: base.to_string(),
        };
    }
    WorkloadRef { namespace: namespace.to_string(), kind: WorkloadKind::Pod, name: pod.to_string() }
}

/// A workload by namespace, optional kind and name (inventory first; a named kind is trusted
/// even when the inventory lacks the workload).
fn workload_named(inventory: &Inventory, namespace: &str, kind: Option<&str>, name: &str) -> Option<WorkloadRef> {
    let parsed_kind = kind.and_then(WorkloadKind::parse);
    let found = inventory
        .workloads
        .iter()
        .find(|w| w.id.namespace == namespace && w.id.name == name && parsed_kind.is_none_or(|k| k == w.id.kind));
    if let Some(w) = found {
        return Some(w.id.clone());
    }
    parsed_kind.map(|k| WorkloadRef { namespace: namespace.to_string(), kind: k, name: name.to_string() })
}

/// Parse `<ns>_<workload>[_<container>]` or `<ns>_<Kind>_<workload>[_<container>]`.
pub fn parse_container_spec(spec: &str, inventory: &Inventory) -> Option<ContainerRef> {
    let parts: Vec<&str> = spec.split('_').collect();
    if parts.len() < 2 || parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let (ns, kind, name, container) = match parts.as_slice() {
        [ns, kind, name, c] if WorkloadKind::parse(kind).is_some() => (*ns, Some(*kind), *name, *c),
        [ns, kind, name] if WorkloadKind::parse(kind).is_some() => (*ns, Some(*kind), *name, ""),
        [ns, name, c] => (*ns, None, *name, *c),
        [ns, name] => (*ns, None, *name, ""),
        _ => return None,
    };
    let workload = workload_named(inventory, ns, kind, name).or_else(|| {
        // Unknown to the inventory and no kind: assume a Deployment (the common case).
        if inventory.workloads.is_empty() {
            Some(WorkloadRef { namespace: ns.to_string(), kind: WorkloadKind::Deployment, name: name.to_string() })
        } else {
            None
        }
    })?;
    Some(ContainerRef { workload, container: container.to_string() })
}

/// The container a SPADE/CDM file is attributed to: the file stem (before the first `.`) or the
/// nearest parent folder named by `parse_container_spec`.
pub fn file_container(path: &Path, inventory: &Inventory) -> Option<ContainerRef> {
    let stem = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('.').next()).unwrap_or("");
    if let Some(c) = parse_container_spec(stem, inventory) {
        return Some(c);
    }
    path.ancestors()
        .skip(1)
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()))
        .find_map(|n| parse_container_spec(n, inventory))
}
