//! `kubeguard eval --corpus DIR [--engine deterministic|llm|hybrid]... [--predicted FILE]
//! [--app APP]... [--task T]... [--kind K]... [--format markdown|json]`:
//! runs each engine over the corpus and prints the precision/recall/F1 table. The work is in
//! `crate::eval`; this file only picks engines and presents the report.

use std::io::Write;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::args::{EngineChoice, EvalArgs, OutputFormat};
use super::exit;
use crate::engine::ProgressSink;
use crate::eval::corpus::{self, EvalReport};

fn engine_name(c: EngineChoice) -> &'static str {
    match c {
        EngineChoice::Deterministic => "deterministic",
        EngineChoice::Llm => "llm",
        EngineChoice::Hybrid => "hybrid",
    }
}

pub fn run(args: &EvalArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let Some(dir) = &args.corpus else {
        let _ = writeln!(err, "error: eval needs --corpus DIR (layout: see README, Evaluation)");
        return Ok(exit::USAGE);
    };
    if matches!(args.format, OutputFormat::Yaml | OutputFormat::Sarif) {
        let _ = writeln!(err, "error: eval prints --format markdown (a terminal table) or json");
        return Ok(exit::USAGE);
    }
    let mut choices = args.engine.clone();
    if choices.is_empty() && args.predicted.is_none() {
        choices.push(EngineChoice::Deterministic);
    }
    choices.dedup();
    let (config, warnings) = super::load_config()?;
    for w in warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    let scope = corpus::Scope { apps: args.app.clone(), tasks: args.task.clone(), kinds: args.kind.clone() };
    let mut report: Option<EvalReport> = None;
    let mut merge = |r: EvalReport| {
        report = Some(match report.take() {
            None => r,
            Some(mut acc) => {
                acc.units.extend(r.units);
                acc.errors.extend(r.errors);
                acc.rows = corpus::rows(&acc.units);
                acc
            }
        });
    };
    if let Some(file) = &args.predicted {
        let name =
            format!("predicted:{}", file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
        let r = crate::eval::predicted::load(file).and_then(|objects| {
            corpus::evaluate_scope(dir, &scope, &name, &crate::eval::predicted::proposer(&objects, &name))
        });
        match r {
            Ok(r) => merge(r),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return Ok(exit::ERROR);
            }
        }
    }
    for choice in choices {
        let name = engine_name(choice);
        let r = if choice == EngineChoice::Deterministic {
            corpus::evaluate_scope(dir, &scope, name, &corpus::deterministic)
        } else {
            let engine = match crate::engine::select(choice, &args.llm, &config) {
                Ok(e) => e,
                Err(e) => {
                    let _ = writeln!(err, "error: --engine {name}: {e}");
                    return Ok(exit::ERROR);
                }
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let propose = |s: &Arc<crate::snapshot::Snapshot>, t: &crate::model::Target| {
                rt.block_on(engine.propose(s.clone(), t.clone(), ProgressSink::discard(), CancellationToken::new()))
            };
            corpus::evaluate_scope(dir, &scope, name, &propose)
        };
        match r {
            Ok(r) => merge(r),
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return Ok(exit::ERROR);
            }
        }
    }
    let Some(report) = report else { return Ok(exit::ERROR) };
    match args.format {
        OutputFormat::Json => out.write_all(crate::eval::report::json(&report)?.as_bytes())?,
        _ => out.write_all(crate::eval::report::markdown(&report).as_bytes())?,
    }
    Ok(exit::OK)
}
