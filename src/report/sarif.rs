//! SARIF 2.1.0 output for code-scanning UIs: one result per finding (engine findings, guard
//! risk findings, uncovered observed behaviour), located at the original object's file and line
//! when the recommendation replaces existing objects. Pure and deterministic.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::model::{ManifestOrigin, Recommendation, Severity};
use crate::snapshot::Snapshot;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// Where an object of the recommendation's `original` list was read from.
fn origin_of(snapshot: &Snapshot, object: &Value) -> Option<ManifestOrigin> {
    let kind = object.get("kind")?.as_str()?;
    let name = object.pointer("/metadata/name")?.as_str()?;
    let ns = object.pointer("/metadata/namespace").and_then(Value::as_str);
    let inv = &snapshot.inventory;
    let same = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.name.as_deref() == Some(name) && (ns.is_none() || m.namespace.as_deref() == ns)
    };
    match kind {
        "Role" => inv.roles.iter().find(|o| same(&o.object.metadata)).map(|o| o.origin.clone()),
        "ClusterRole" => inv.cluster_roles.iter().find(|o| same(&o.object.metadata)).map(|o| o.origin.clone()),
        "RoleBinding" => inv.role_bindings.iter().find(|o| same(&o.object.metadata)).map(|o| o.origin.clone()),
        "ClusterRoleBinding" => {
            inv.cluster_role_bindings.iter().find(|o| same(&o.object.metadata)).map(|o| o.origin.clone())
        }
        "NetworkPolicy" => inv.network_policies.iter().find(|o| same(&o.object.metadata)).map(|o| o.origin.clone()),
        "ServiceAccount" => inv.service_accounts.iter().find(|o| same(&o.object.metadata)).map(|o| o.origin.clone()),
        _ => inv
            .workloads
            .iter()
            .find(|w| w.id.kind.as_str() == kind && w.id.name == name && ns.is_none_or(|n| n == w.id.namespace))
            .map(|w| w.origin.clone()),
    }
}

pub fn render(snapshot: &Snapshot, recs: &[Recommendation]) -> String {
    let mut rules: BTreeMap<String, Severity> = BTreeMap::new();
    let mut results = Vec::new();
    for rec in recs {
        let location = rec.original.iter().find_map(|o| origin_of(snapshot, o));
        let locations = match &location {
            Some(o) => json!([{
                "physicalLocation": {
                    "artifactLocation": {"uri": o.path},
                    "region": {"startLine": o.line.max(1)}
                }
            }]),
            None => json!([]),
        };
        let mut push = |rule_id: &str, severity: Severity, text: String| {
            let e = rules.entry(rule_id.to_string()).or_insert(severity);
            if severity > *e {
                *e = severity;
            }
            results.push(json!({
                "ruleId": rule_id,
                "level": level(severity),
                "message": {"text": text},
                "locations": locations.clone(),
                "properties": {"target": rec.target.to_string(), "severity": severity.to_string(), "engine": rec.engine},
            }));
        };
        for f in rec.findings.iter().chain(&rec.verdict.risks) {
            push(&f.rule_id, f.severity, format!("{}: {}", f.subject, f.message));
        }
        for u in &rec.verdict.uncovered {
            push("KG-GUARD-UNCOVERED", Severity::High, format!("{}: observed behaviour not covered: {u}", rec.target));
        }
    }
    let rule_defs: Vec<Value> = rules
        .iter()
        .map(|(id, sev)| {
            json!({
                "id": id,
                "shortDescription": {"text": id},
                "defaultConfiguration": {"level": level(*sev)},
            })
        })
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubeguard",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/kubeguard/kubeguard",
                "rules": rule_defs,
            }},
            "results": results,
        }]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn sarif_has_rules_and_results() {
        let snap = Snapshot { label: "demo".into(), ..Snapshot::default() };
        let mut rec = fixtures::rec();
        rec.verdict.uncovered.push("get core/configmaps in shop".into());
        let text = render(&snap, &[rec]);
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["version"], "2.1.0");
        let results = v["runs"][0]["results"].as_array().expect("results");
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["ruleId"], "KG-RBAC-DENIED");
        assert_eq!(results[0]["level"], "note");
        assert_eq!(results[1]["level"], "error");
        let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 2);
    }

    #[test]
    fn sarif_locates_originals() {
        let (inv, _) = crate::sources::manifests::load_str(
            "k8s/role.yaml",
            "# c\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: catalog-reader, namespace: shop}\nrules: []\n",
            true,
        )
        .expect("load");
        let snap = Snapshot { label: "x".into(), inventory: inv, ..Snapshot::default() };
        let mut rec = fixtures::rec();
        rec.original = vec![json!({"kind": "Role", "metadata": {"name": "catalog-reader", "namespace": "shop"}})];
        let v: Value = serde_json::from_str(&render(&snap, &[rec])).expect("json");
        let loc = &v["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "k8s/role.yaml");
        assert_eq!(loc["region"]["startLine"], 2);
    }
}
