//! Markdown report: a summary table, then per recommendation the guard verdict, evidence per
//! rule, findings, removed permissions and the proposed manifests. Pure and deterministic.

use std::fmt::Write as _;

use crate::model::Recommendation;
use crate::snapshot::Snapshot;

use super::{Summary, recommendation_yaml};

/// Escape a table cell (pipes and newlines).
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn render(snapshot: &Snapshot, recs: &[Recommendation]) -> String {
    let mut out = String::new();
    let s = Summary::of(recs);
    let _ = writeln!(out, "# kubeguard report\n");
    let _ = writeln!(out, "Snapshot: `{}`\n", snapshot.label);
    let _ = writeln!(out, "| recommendations | manifests | observed | covered | uncovered | removed permissions |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |\n",
        s.recommendations, s.manifests, s.observed, s.covered, s.uncovered, s.removed
    );
    if !s.findings_by_severity.is_empty() {
        let parts: Vec<String> = s.findings_by_severity.iter().rev().map(|(sev, n)| format!("{n} {sev}")).collect();
        let _ = writeln!(out, "Findings: {}\n", parts.join(", "));
    }
    let stats: Vec<String> = snapshot
        .report
        .sources()
        .iter()
        .filter(|(_, st)| st.files > 0 || st.records > 0)
        .map(|(name, st)| format!("{name}: {} files, {} records, {} malformed", st.files, st.records, st.malformed))
        .collect();
    if !stats.is_empty() {
        let _ = writeln!(out, "Inputs: {}\n", stats.join("; "));
    }
    for rec in recs {
        render_one(&mut out, rec);
    }
    out
}

fn render_one(out: &mut String, rec: &Recommendation) {
    let v = &rec.verdict;
    let _ = writeln!(out, "## {}\n", rec.target);
    let _ = writeln!(out, "- engine: `{}`", rec.engine);
    let _ = writeln!(
        out,
        "- guard: {}/{} observed covered{}",
        v.covered,
        v.observed,
        if v.is_complete_coverage() { " (complete)" } else { " (INCOMPLETE)" }
    );
    for u in &v.uncovered {
        let _ = writeln!(out, "  - uncovered: {}", cell(u));
    }
    for e in &v.excess {
        let _ = writeln!(out, "  - excess: {}", cell(e));
    }
    for r in &v.repairs {
        let _ = writeln!(out, "  - repaired: {}", cell(r));
    }
    let _ = writeln!(out);
    if !rec.evidence.is_empty() {
        let _ = writeln!(out, "| manifest | where | what | count | first seen | last seen |");
        let _ = writeln!(out, "|---:|---|---|---:|---|---|");
        for e in &rec.evidence {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} | {} |",
                e.manifest,
                cell(&e.path),
                cell(&e.what),
                e.evidence.count,
                e.evidence.first_seen.to_rfc3339(),
                e.evidence.last_seen.to_rfc3339()
            );
        }
        let _ = writeln!(out);
    }
    let findings: Vec<_> = rec.findings.iter().chain(&v.risks).collect();
    if !findings.is_empty() {
        let _ = writeln!(out, "| severity | rule | subject | message |");
        let _ = writeln!(out, "|---|---|---|---|");
        for f in findings {
            let _ = writeln!(out, "| {} | `{}` | {} | {} |", f.severity, f.rule_id, cell(&f.subject), cell(&f.message));
        }
        let _ = writeln!(out);
    }
    if !rec.removed.is_empty() {
        let _ = writeln!(out, "Removed permissions:\n");
        let _ = writeln!(out, "| risk | permission |");
        let _ = writeln!(out, "|---|---|");
        for (what, sev) in &rec.removed {
            let _ = writeln!(out, "| {sev} | {} |", cell(what));
        }
        let _ = writeln!(out);
    }
    if !v.risks_removed.is_empty() {
        let _ = writeln!(out, "Risks removed:\n");
        for f in &v.risks_removed {
            let _ = writeln!(out, "- {} `{}` {}: {}", f.severity, f.rule_id, cell(&f.subject), cell(&f.message));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "```yaml\n{}```\n", recommendation_yaml(rec));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn markdown_has_summary_evidence_and_manifest() {
        let snap = Snapshot { label: "demo".into(), ..Snapshot::default() };
        let md = render(&snap, &[fixtures::rec()]);
        assert!(md.starts_with("# kubeguard report\n\nSnapshot: `demo`\n"));
        assert!(md.contains("| 1 | 1 | 2 | 2 | 0 | 1 |"));
        assert!(md.contains(
            "| 0 | `rules[1]` | get configmaps catalog-overrides | 12 | 2026-03-02T09:00:00Z | 2026-03-02T10:00:00Z |"
        ));
        assert!(md.contains("| critical | create core/pods/exec in shop |"));
        assert!(md.contains("```yaml\n# kubeguard: refine role"));
    }
}
