//! Rendering an `EvalReport`: an aligned Markdown table (readable as is in a terminal) with the
//! per-unit details, and JSON. Pure: returns strings; deterministic (rows come sorted).

use super::corpus::EvalReport;

fn pad_table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(Vec::len).unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|i| rows.iter().map(|r| r.get(i).map_or(0, |c| c.chars().count())).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
        if n == 0 {
            let sep: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("| {} |\n", sep.join(" | ")));
        }
    }
    out
}

fn f(x: f64) -> String {
    format!("{x:.3}")
}

/// Markdown: the summary table (corpus totals first, then per application) and the units.
pub fn markdown(r: &EvalReport) -> String {
    let mut out = format!(
        "# kubeguard eval\n\nCorpus `{}`. Units: Role = atomic grants after wildcard expansion; NetworkPolicy = allowed \
         connections (direction, peer, port, protocol); Deployment = hardening facts, resources within ±{:.0}%. \
         Micro = pooled counts, macro = mean over units. 0/0 counts as 1 (see README).\n\n",
        r.corpus,
        r.resource_tolerance * 100.0
    );
    let mut rows = vec![
        [
            "app", "engine", "task", "resource", "units", "TP", "FP", "FN", "P micro", "R micro", "F1 micro",
            "P macro", "R macro", "F1 macro",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut sorted: Vec<_> = r.rows.iter().collect();
    sorted.sort_by_key(|x| (x.app != "*", x.app.clone(), x.engine.clone(), x.task, x.kind));
    for row in sorted {
        let a = &row.aggregate;
        rows.push(vec![
            if row.app == "*" { "(all)".into() } else { row.app.clone() },
            row.engine.clone(),
            row.task.to_string(),
            row.kind.to_string(),
            a.units.to_string(),
            a.counts.tp.to_string(),
            a.counts.fp.to_string(),
            a.counts.fn_.to_string(),
            f(a.micro.precision),
            f(a.micro.recall),
            f(a.micro.f1),
            f(a.macro_.precision),
            f(a.macro_.recall),
            f(a.macro_.f1),
        ]);
    }
    out.push_str(&pad_table(&rows));
    out.push_str("\n## Units\n\n");
    let mut urows = vec![
        ["app", "engine", "task", "resource", "unit", "recommended", "TP", "FP", "FN", "P", "R", "F1"]
            .map(String::from)
            .to_vec(),
    ];
    for u in &r.units {
        let s = u.counts.scores();
        urows.push(vec![
            u.app.clone(),
            u.engine.clone(),
            u.task.to_string(),
            u.kind.to_string(),
            u.unit.clone(),
            if u.recommended { "yes".into() } else { "no (input stands)".into() },
            u.counts.tp.to_string(),
            u.counts.fp.to_string(),
            u.counts.fn_.to_string(),
            f(s.precision),
            f(s.recall),
            f(s.f1),
        ]);
    }
    out.push_str(&pad_table(&urows));
    if !r.errors.is_empty() {
        out.push_str("\n## Engine errors\n\n");
        for (t, e) in &r.errors {
            out.push_str(&format!("- {t}: {e}\n"));
        }
    }
    out
}

pub fn json(r: &EvalReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(r).map(|s| s + "\n")
}
