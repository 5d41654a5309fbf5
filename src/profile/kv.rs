//! Context reduction for the LLM chains: the KubeGuard paper's key → value-set aggregation
//! (Algorithm 1, *KeyValueAggregationFromNestedJSON*: walk every record recursively, map each
//! key path to the set of unique values seen) over the per-workload/per-subject observation
//! records, plus our own structured profile (exact tuples with counts, which the key → value
//! sets cannot express because they lose which values occurred together).
//!
//! Pure: no I/O, no decisions about what to grant. Output is deterministic (sorted).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::model::{Connection, Evidence, FlowEndpoint, RuntimeObservation, WorkloadRef};
use crate::profile::{ApiProfile, FlowProfileSet, RuntimeProfileSet};

/// Key path (`objectRef.resource`, arrays flattened) → the set of unique scalar values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvAggregate {
    pub keys: BTreeMap<String, BTreeSet<String>>,
    /// Records folded in (counting repeats).
    pub records: u64,
}

impl KvAggregate {
    /// Fold one record (seen `count` times) into the aggregate.
    pub fn add(&mut self, record: &Value, count: u64) {
        self.records = self.records.saturating_add(count);
        walk(record, "", &mut self.keys);
    }

    /// Associative merge (same result as aggregating both inputs at once).
    pub fn merge(&mut self, other: KvAggregate) {
        self.records = self.records.saturating_add(other.records);
        for (k, vs) in other.keys {
            self.keys.entry(k).or_default().extend(vs);
        }
    }

    /// One line per key: `key: [v1, v2, …]`, at most `max_values` values per key (the rest
    /// summarised as a count so the model knows the set was cut).
    pub fn render(&self, max_values: usize) -> String {
        let mut out = String::new();
        for (k, vs) in &self.keys {
            let shown: Vec<&str> = vs.iter().take(max_values).map(String::as_str).collect();
            out.push_str(k);
            out.push_str(": [");
            out.push_str(&shown.join(", "));
            if vs.len() > shown.len() {
                out.push_str(&format!(", … +{} more", vs.len() - shown.len()));
            }
            out.push_str("]\n");
        }
        out
    }
}

fn walk(value: &Value, path: &str, keys: &mut BTreeMap<String, BTreeSet<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(v, &p, keys);
            }
        }
        // Lists of dicts merge element-wise into one key; scalar lists become sets.
        Value::Array(items) => {
            for item in items {
                walk(item, path, keys);
            }
        }
        Value::Null => {}
        Value::String(s) => {
            keys.entry(path.to_string()).or_default().insert(s.clone());
        }
        other => {
            keys.entry(path.to_string()).or_default().insert(other.to_string());
        }
    }
}

/// Aggregate `(record, count)` pairs.
pub fn aggregate(records: &[(Value, u64)]) -> KvAggregate {
    let mut agg = KvAggregate::default();
    for (r, c) in records {
        agg.add(r, *c);
    }
    agg
}

fn evidence_json(e: &Evidence) -> Value {
    json!({"count": e.count, "first_seen": e.first_seen.to_rfc3339(), "last_seen": e.last_seen.to_rfc3339()})
}

/// One record per distinct API request of a subject, shaped like an audit event's fields.
pub fn api_records(profile: &ApiProfile) -> Vec<(Value, u64)> {
    let mut out = Vec::new();
    let groups = [
        ("allowed", &profile.allowed),
        ("denied", &profile.denied),
        ("admission_rejected", &profile.admission_rejected),
    ];
    for (decision, map) in groups {
        for (req, ev) in map {
            let mut object_ref = serde_json::Map::new();
            for (k, v) in [
                ("apiGroup", &req.api_group),
                ("resource", &req.resource),
                ("subresource", &req.subresource),
                ("namespace", &req.namespace),
                ("name", &req.name),
            ] {
                if !v.is_empty() {
                    object_ref.insert(k.to_string(), Value::String(v.clone()));
                }
            }
            let mut rec = json!({"verb": req.verb, "decision": decision});
            if let Some(p) = &req.path {
                rec["requestURI"] = Value::String(p.clone());
            } else {
                rec["objectRef"] = Value::Object(object_ref);
            }
            out.push((rec, ev.count));
        }
    }
    out
}

fn endpoint_json(e: &FlowEndpoint) -> Value {
    match e {
        FlowEndpoint::Workload { namespace, kind, name, labels } => {
            json!({"namespace": namespace, "workload": format!("{kind}/{name}"), "labels": labels})
        }
        FlowEndpoint::Reserved { name } => json!({"reserved": name}),
        FlowEndpoint::External { cidr } => json!({"cidr": cidr}),
        FlowEndpoint::Unknown { ip } => json!({"ip": ip}),
    }
}

pub fn endpoint_is(e: &FlowEndpoint, w: &WorkloadRef) -> bool {
    matches!(e, FlowEndpoint::Workload { namespace, kind, name, .. }
        if namespace == &w.namespace && kind == w.kind.as_str() && name == &w.name)
}

/// Connections touching the workload, each as a record keyed `source__destination` like the
/// paper's Hubble aggregator.
pub fn flow_records(flows: &FlowProfileSet, workload: &WorkloadRef) -> Vec<(Value, u64)> {
    flows
        .connections
        .iter()
        .filter(|(c, _)| endpoint_is(&c.source, workload) || endpoint_is(&c.destination, workload))
        .map(|(c, ev)| (connection_json(c, workload), ev.count))
        .collect()
}

fn connection_json(c: &Connection, workload: &WorkloadRef) -> Value {
    let direction = if endpoint_is(&c.destination, workload) { "ingress" } else { "egress" };
    json!({
        "direction": direction,
        "source": endpoint_json(&c.source),
        "destination": endpoint_json(&c.destination),
        "destination_port": c.port,
        "protocol": format!("{:?}", c.protocol),
        "verdict": format!("{:?}", c.verdict),
    })
}

/// Runtime facts of the workload's containers.
pub fn runtime_records(runtime: &RuntimeProfileSet, workload: &WorkloadRef) -> Vec<(Value, u64)> {
    let mut out = Vec::new();
    for (c, obs) in &runtime.containers {
        if &c.workload != workload {
            continue;
        }
        for (o, ev) in obs {
            let mut rec = serde_json::to_value(o).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut rec {
                m.insert("container".into(), Value::String(c.container.clone()));
            }
            out.push((rec, ev.count));
        }
    }
    out
}

/// Our structured profile as compact lines: exact tuples with counts and time window.
pub fn structured_api(profile: &ApiProfile) -> Vec<Value> {
    let mut out = Vec::new();
    for (decision, map) in [
        ("allowed", &profile.allowed),
        ("denied", &profile.denied),
        ("admission_rejected", &profile.admission_rejected),
    ] {
        for (req, ev) in map {
            out.push(json!({"decision": decision, "request": req.to_string(), "evidence": evidence_json(ev)}));
        }
    }
    out
}

pub fn structured_flows(flows: &FlowProfileSet, workload: &WorkloadRef) -> Vec<Value> {
    flows
        .connections
        .iter()
        .filter(|(c, _)| endpoint_is(&c.source, workload) || endpoint_is(&c.destination, workload))
        .map(|(c, ev)| {
            let direction = if endpoint_is(&c.destination, workload) { "ingress" } else { "egress" };
            let peer = if direction == "ingress" { &c.source } else { &c.destination };
            json!({
                "direction": direction,
                "peer": peer.to_string(),
                "port": c.port,
                "protocol": format!("{:?}", c.protocol),
                "verdict": format!("{:?}", c.verdict),
                "evidence": evidence_json(ev),
            })
        })
        .collect()
}

pub fn structured_runtime(runtime: &RuntimeProfileSet, workload: &WorkloadRef) -> Vec<Value> {
    let mut out = Vec::new();
    for (c, obs) in &runtime.containers {
        if &c.workload != workload {
            continue;
        }
        for (o, ev) in obs {
            let what = match o {
                RuntimeObservation::Process { binary, uid, .. } => format!("process {binary} uid={uid:?}"),
                RuntimeObservation::FileWrite { path } => format!("write {path}"),
                RuntimeObservation::FileRead { path } => format!("read {path}"),
                RuntimeObservation::Capability { name, allowed } => format!("capability {name} allowed={allowed}"),
                RuntimeObservation::Listen { port, protocol } => format!("listen {port}/{protocol}"),
                RuntimeObservation::PrivilegeChange { from_uid, to_uid } => {
                    format!("privilege change uid {from_uid:?} -> {to_uid:?}")
                }
                RuntimeObservation::Syscall { name } => format!("syscall {name}"),
            };
            out.push(json!({"container": c.container, "observed": what, "evidence": evidence_json(ev)}));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiRequest, Timestamp};

    #[test]
    fn keys_map_to_unique_value_sets_and_lists_merge() {
        let a = json!({"verb": "get", "objectRef": {"resource": "pods"}, "ports": [{"port": 80}, {"port": 443}]});
        let b = json!({"verb": "list", "objectRef": {"resource": "pods"}, "ports": [{"port": 80}], "x": null});
        let agg = aggregate(&[(a, 3), (b, 2)]);
        assert_eq!(agg.records, 5);
        assert_eq!(agg.keys["verb"], BTreeSet::from(["get".to_string(), "list".to_string()]));
        assert_eq!(agg.keys["objectRef.resource"].len(), 1);
        assert_eq!(agg.keys["ports.port"], BTreeSet::from(["443".to_string(), "80".to_string()]));
        assert!(!agg.keys.contains_key("x"));
        assert_eq!(agg.render(1), "objectRef.resource: [pods]\nports.port: [443, … +1 more]\nverb: [get, … +1 more]\n");
    }

    #[test]
    fn merge_equals_aggregating_everything() {
        let r1 = (json!({"a": 1, "b": ["x"]}), 1);
        let r2 = (json!({"a": 2, "c": {"d": true}}), 4);
        let mut left = aggregate(std::slice::from_ref(&r1));
        left.merge(aggregate(std::slice::from_ref(&r2)));
        assert_eq!(left, aggregate(&[r1, r2]));
    }

    #[test]
    fn api_profile_becomes_records_with_counts() {
        let mut p = ApiProfile::default();
        p.allowed.insert(ApiRequest::resource("get", "", "pods", "", "shop", ""), Evidence::one(Timestamp(1), None));
        p.denied.insert(ApiRequest::non_resource("get", "/metrics"), Evidence::one(Timestamp(2), None));
        let recs = api_records(&p);
        assert_eq!(recs.len(), 2);
        let agg = aggregate(&recs);
        assert_eq!(agg.keys["decision"], BTreeSet::from(["allowed".to_string(), "denied".to_string()]));
        assert_eq!(agg.keys["requestURI"], BTreeSet::from(["/metrics".to_string()]));
        assert_eq!(agg.keys["objectRef.namespace"], BTreeSet::from(["shop".to_string()]));
        assert_eq!(structured_api(&p).len(), 2);
    }
}
