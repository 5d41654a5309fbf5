//! Output of recommendations: manifests as multi-document YAML with each rule's evidence as a
//! comment beside it, and reports as JSON, Markdown and SARIF 2.1.0. Rendering is pure and
//! deterministic (same recommendations → same bytes); `write` does the only I/O: atomic file
//! writes that never overwrite an existing file without confirmation.
//!
//! Must not decide anything about the recommendations themselves.

pub mod markdown;
pub mod sarif;
pub mod write;
pub mod yaml;

use serde::Serialize;

use crate::model::{Recommendation, Severity, TargetScope, inventory::dns_label};
use crate::snapshot::Snapshot;

/// Output formats (mirrors `cli::args::OutputFormat`, kept here so the library does not depend
/// on clap types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Markdown,
    Sarif,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Markdown => "md",
            Format::Sarif => "sarif",
        }
    }
}

/// Render recommendations in `format`.
pub fn render(format: Format, snapshot: &Snapshot, recs: &[Recommendation]) -> String {
    match format {
        Format::Yaml => manifests_yaml(recs),
        Format::Json => json(snapshot, recs),
        Format::Markdown => markdown::render(snapshot, recs),
        Format::Sarif => sarif::render(snapshot, recs),
    }
}

/// Stable file stem for a recommendation: `role-create-sa-shop-frontend`.
pub fn file_stem(rec: &Recommendation) -> String {
    let who = match &rec.target.scope {
        TargetScope::Subject(s) => s.slug(),
        TargetScope::Workload(w) => dns_label(&format!("{}-{}-{}", w.namespace, w.kind.as_str(), w.name)),
    };
    format!("{}-{}-{}", rec.target.kind, rec.target.task, who)
}

/// The evidence comments of one manifest of a recommendation, keyed by node path.
pub fn comments_for(rec: &Recommendation, manifest: usize) -> yaml::Comments {
    let mut comments = yaml::Comments::new();
    for e in rec.evidence.iter().filter(|e| e.manifest == manifest) {
        comments.entry(e.path.clone()).or_default().push(format!("evidence: {} ({})", e.what, e.evidence.summary()));
    }
    comments
}

/// One recommendation as a YAML stream: a header comment, then every manifest as its own
/// document with evidence comments beside rules/peers/fields.
pub fn recommendation_yaml(rec: &Recommendation) -> String {
    let mut out = String::new();
    out.push_str(&format!("# kubeguard: {} (engine: {})\n", rec.target, rec.engine));
    let v = &rec.verdict;
    out.push_str(&format!(
        "# guard: {}/{} observed covered, {} uncovered, {} excess, {} risk finding(s)\n",
        v.covered,
        v.observed,
        v.uncovered.len(),
        v.excess.len(),
        v.risks.len()
    ));
    for (what, severity) in &rec.removed {
        out.push_str(&format!("# removed ({severity}): {}\n", what.replace('\n', " ")));
    }
    for f in &rec.findings {
        out.push_str(&format!(
            "# finding {} ({}): {}: {}\n",
            f.rule_id,
            f.severity,
            f.subject,
            f.message.replace('\n', " ")
        ));
    }
    if rec.manifests.is_empty() {
        out.push_str("# no manifest: nothing observed needs one\n");
    }
    for (i, m) in rec.manifests.iter().enumerate() {
        out.push_str("---\n");
        out.push_str(&yaml::to_yaml(m, &comments_for(rec, i)));
    }
    out
}

/// All recommendations as one YAML stream (documents in recommendation order).
pub fn manifests_yaml(recs: &[Recommendation]) -> String {
    let mut out = String::new();
    for rec in recs {
        out.push_str(&recommendation_yaml(rec));
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    snapshot: &'a str,
    summary: Summary,
    recommendations: &'a [Recommendation],
}

/// Counts over a set of recommendations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub recommendations: usize,
    pub manifests: usize,
    pub observed: usize,
    pub covered: usize,
    pub uncovered: usize,
    pub removed: usize,
    pub findings_by_severity: std::collections::BTreeMap<Severity, usize>,
}

impl Summary {
    pub fn of(recs: &[Recommendation]) -> Summary {
        let mut s = Summary { recommendations: recs.len(), ..Summary::default() };
        for r in recs {
            s.manifests += r.manifests.len();
            s.observed += r.verdict.observed;
            s.covered += r.verdict.covered;
            s.uncovered += r.verdict.uncovered.len();
            s.removed += r.removed.len();
            for f in r.findings.iter().chain(&r.verdict.risks) {
                *s.findings_by_severity.entry(f.severity).or_default() += 1;
            }
        }
        s
    }

    /// Highest severity among all findings, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings_by_severity.keys().next_back().copied()
    }
}

/// The JSON report: tool, snapshot label, summary and every recommendation in full.
pub fn json(snapshot: &Snapshot, recs: &[Recommendation]) -> String {
    let report = JsonReport {
        tool: "kubeguard",
        version: env!("CARGO_PKG_VERSION"),
        snapshot: &snapshot.label,
        summary: Summary::of(recs),
        recommendations: recs,
    };
    let mut s = serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// Parse a severity name (`info`, `low`, `medium`, `high`, `critical`).
pub fn parse_severity(s: &str) -> Option<Severity> {
    Some(match s.to_ascii_lowercase().as_str() {
        "info" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => return None,
    })
}

#[cfg(test)]
pub(crate) mod fixtures {
    use crate::model::*;
    use serde_json::json;

    /// A hand-built recommendation with two rules, evidence, a finding and a removal.
    pub fn rec() -> Recommendation {
        let target = Target {
            scope: TargetScope::Subject(Subject::ServiceAccount { namespace: "shop".into(), name: "catalog".into() }),
            kind: ResourceKind::Role,
            task: Task::Refine,
        };
        let ev = |n| Evidence {
            count: n,
            first_seen: Timestamp(1_772_442_000_000_000),
            last_seen: Timestamp(1_772_445_600_000_000),
            example: None,
        };
        Recommendation {
            target,
            engine: "deterministic".into(),
            manifests: vec![json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "catalog-reader", "namespace": "shop"},
                "rules": [
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]},
                    {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["catalog-overrides"], "verbs": ["get"]}
                ]
            })],
            original: vec![],
            evidence: vec![
                RuleEvidence {
                    manifest: 0,
                    path: "rules[0]".into(),
                    what: "list,watch configmaps in shop".into(),
                    evidence: ev(9),
                },
                RuleEvidence {
                    manifest: 0,
                    path: "rules[1]".into(),
                    what: "get configmaps catalog-overrides".into(),
                    evidence: ev(12),
                },
            ],
            findings: vec![Finding {
                rule_id: "KG-RBAC-DENIED".into(),
                severity: Severity::Info,
                subject: "ServiceAccount shop/catalog".into(),
                message: "1 denied request".into(),
            }],
            removed: vec![("create core/pods/exec in shop".into(), Severity::Critical)],
            verdict: GuardVerdict {
                observed: 2,
                covered: 2,
                risks_removed: vec![Finding {
                    rule_id: "KG-RBAC-EXEC".into(),
                    severity: Severity::Critical,
                    subject: "Role shop/catalog-reader rules[1]".into(),
                    message: "exec into pods".into(),
                }],
                ..GuardVerdict::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_stream_has_evidence_beside_rules_and_reparses() {
        let rec = fixtures::rec();
        let text = recommendation_yaml(&rec);
        assert!(text.starts_with("# kubeguard: refine role for ServiceAccount shop/catalog (engine: deterministic)\n"));
        assert!(text.contains("# removed (critical): create core/pods/exec in shop\n"));
        assert!(text.contains("rules:\n# evidence: list,watch configmaps in shop (9x, first 2026-03-02T09:00:00Z, last 2026-03-02T10:00:00Z)\n- apiGroups:"), "{text}");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("parses");
        assert_eq!(docs, rec.manifests);
    }

    #[test]
    fn json_report_round_trips_and_is_deterministic() {
        let snap = Snapshot { label: "t".into(), ..Snapshot::default() };
        let recs = vec![fixtures::rec()];
        let a = json(&snap, &recs);
        assert_eq!(a, json(&snap, &recs));
        let v: serde_json::Value = serde_json::from_str(&a).expect("valid json");
        assert_eq!(v["summary"]["removed"], 1);
        let back: Recommendation = serde_json::from_value(v["recommendations"][0].clone()).expect("recommendation");
        assert_eq!(back, recs[0]);
    }

    #[test]
    fn file_stems_are_stable() {
        assert_eq!(file_stem(&fixtures::rec()), "role-refine-sa-shop-catalog");
    }

    #[test]
    fn summary_max_severity() {
        let s = Summary::of(&[fixtures::rec()]);
        assert_eq!(s.max_severity(), Some(Severity::Info));
        assert_eq!(parse_severity("HIGH"), Some(Severity::High));
        assert_eq!(parse_severity("severe"), None);
    }
}
