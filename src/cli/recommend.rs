//! `kubeguard recommend`: inputs → snapshot → targets of the requested kind and task (filtered
//! by `--for` and `--namespace`) → engine → stdout in `--format`, and with `--out DIR` one YAML
//! file per recommendation plus `report.md`, `report.json` and `report.sarif`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::args::{OutputFormat, RecommendArgs};
use super::exit;
use crate::engine::{EngineError, ProgressSink};
use crate::model::{Recommendation, Severity, Subject, Target, TargetScope};
use crate::report::{self, Format, Summary};
use crate::snapshot::Snapshot;

pub fn format_of(f: OutputFormat) -> Format {
    match f {
        OutputFormat::Yaml => Format::Yaml,
        OutputFormat::Json => Format::Json,
        OutputFormat::Markdown => Format::Markdown,
        OutputFormat::Sarif => Format::Sarif,
    }
}

/// True when the target passes `--for` (any of) and `--namespace`.
pub fn selected(target: &Target, only: &[String], namespace: Option<&str>) -> bool {
    let (ns, name, subject) = match &target.scope {
        TargetScope::Subject(Subject::ServiceAccount { namespace, name }) => {
            (Some(namespace.as_str()), name.as_str(), None)
        }
        TargetScope::Subject(s @ Subject::User { name }) | TargetScope::Subject(s @ Subject::Group { name }) => {
            (None, name.as_str(), Some(s))
        }
        TargetScope::Workload(w) => (Some(w.namespace.as_str()), w.name.as_str(), None),
    };
    if let Some(want) = namespace
        && ns != Some(want)
    {
        return false;
    }
    if only.is_empty() {
        return true;
    }
    only.iter().any(|o| match (o.split_once(':'), subject) {
        (Some(("user", n)), Some(Subject::User { name })) => n == name,
        (Some(("group", n)), Some(Subject::Group { name })) => n == name,
        _ => match o.split_once('/') {
            Some((want_ns, want_name)) => ns == Some(want_ns) && name == want_name,
            None => name == o,
        },
    })
}

/// Run the engine over every target in order. Targets the engine declines (no evidence / not
/// applicable) are listed on stderr and skipped; other errors fail the run.
pub fn run_engine(
    engine: Arc<dyn crate::engine::Engine>,
    snapshot: Arc<Snapshot>,
    targets: &[Target],
    err: &mut dyn Write,
) -> anyhow::Result<Vec<Recommendation>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut recs = Vec::new();
    for target in targets {
        let fut = engine.propose(snapshot.clone(), target.clone(), ProgressSink::discard(), CancellationToken::new());
        match rt.block_on(fut) {
            Ok(rec) => recs.push(rec),
            Err(e @ (EngineError::NoEvidence(_) | EngineError::NotApplicable(_))) => {
                let _ = writeln!(err, "skipped {target}: {e}");
            }
            Err(e) => return Err(anyhow::anyhow!("{target}: {e}")),
        }
    }
    Ok(recs)
}

/// Highest severity over findings, guard risks and (as `high`) coverage gaps.
pub fn worst(recs: &[Recommendation]) -> Option<Severity> {
    let s = Summary::of(recs);
    let gaps = recs.iter().any(|r| !r.verdict.uncovered.is_empty()).then_some(Severity::High);
    s.max_severity().max(gaps)
}

pub fn run(args: &RecommendArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    if args.apply && !args.input.cluster {
        let _ = writeln!(err, "error: --apply writes to a live cluster: add --cluster (and --context NAME)");
        return Ok(exit::USAGE);
    }
    let fail_on = match &args.fail_on {
        Some(s) => match report::parse_severity(s) {
            Some(sev) => Some(sev),
            None => {
                let _ = writeln!(err, "error: --fail-on {s}: expected info, low, medium, high or critical");
                return Ok(exit::USAGE);
            }
        },
        None => None,
    };
    let source = match super::inputs::resolve(&args.input) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let (config, warnings) = super::load_config()?;
    for w in warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    let engine = crate::engine::select(args.engine, &args.llm, &config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let snapshot = match super::inputs::load(&source) {
        Ok(s) => s,
        Err(e) => return Ok(super::input_error(&e, err)),
    };
    super::inputs::print_summary(&snapshot, err);
    let targets: Vec<Target> = crate::synth::targets(&snapshot, args.kind, args.task)
        .into_iter()
        .filter(|t| selected(t, &args.only, args.namespace.as_deref()))
        .collect();
    if targets.is_empty() {
        let _ = writeln!(err, "no {} targets for task {} in {}", args.kind, args.task, snapshot.label);
    }
    let snapshot = Arc::new(snapshot);
    let recs = run_engine(engine, snapshot.clone(), &targets, err)?;
    let format = format_of(args.format);
    match &args.out {
        None => {
            out.write_all(report::render(format, &snapshot, &recs).as_bytes())?;
        }
        Some(dir) => {
            let mut files: Vec<(PathBuf, String)> = Vec::new();
            for rec in &recs {
                files.push((dir.join(format!("{}.yaml", report::file_stem(rec))), report::recommendation_yaml(rec)));
            }
            for f in [Format::Markdown, Format::Json, Format::Sarif] {
                files.push((dir.join(format!("report.{}", f.extension())), report::render(f, &snapshot, &recs)));
            }
            let policy = crate::report::write::policy_for(args.force);
            let written =
                crate::report::write::write_files(&files, policy, &mut crate::report::write::ask_on_terminal)?;
            for p in written {
                let _ = writeln!(out, "{}", p.display());
            }
        }
    }
    let s = Summary::of(&recs);
    let _ = writeln!(
        err,
        "{} recommendation(s), {} manifest(s); guard: {}/{} observed covered; {} permission(s) removed",
        s.recommendations, s.manifests, s.covered, s.observed, s.removed
    );
    if args.apply {
        let stdin = std::io::stdin();
        return crate::apply::run_cli(args.input.context.as_deref(), &recs, &mut stdin.lock(), err);
    }
    if let (Some(threshold), Some(w)) = (fail_on, worst(&recs))
        && w >= threshold
    {
        let _ = writeln!(err, "findings at or above {threshold}: exit {}", exit::FINDINGS);
        return Ok(exit::FINDINGS);
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResourceKind, Task, WorkloadKind, WorkloadRef};

    fn t(scope: TargetScope) -> Target {
        Target { scope, kind: ResourceKind::Role, task: Task::Create }
    }

    #[test]
    fn for_and_namespace_filters() {
        let sa = t(TargetScope::Subject(Subject::ServiceAccount { namespace: "shop".into(), name: "cart".into() }));
        let user = t(TargetScope::Subject(Subject::User { name: "alice".into() }));
        let w = t(TargetScope::Workload(WorkloadRef {
            namespace: "shop".into(),
            kind: WorkloadKind::Deployment,
            name: "web".into(),
        }));
        assert!(selected(&sa, &[], None));
        assert!(selected(&sa, &["shop/cart".into()], Some("shop")));
        assert!(!selected(&sa, &["shop/web".into()], None));
        assert!(!selected(&sa, &[], Some("other")));
        assert!(selected(&user, &["user:alice".into()], None));
        assert!(!selected(&user, &["user:bob".into()], None));
        assert!(!selected(&user, &[], Some("shop")), "users are not in a namespace");
        assert!(selected(&w, &["shop/web".into()], None));
        assert!(selected(&w, &["web".into()], None));
    }
}
