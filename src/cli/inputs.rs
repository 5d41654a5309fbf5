//! Turning `InputArgs` into a loaded snapshot for the headless commands: which paths (flags,
//! `--snapshot DIR`, `--demo`), a progress spinner on stderr while reading (only on a TTY), and
//! a short ingest summary with the first malformed records (file:line) on stderr.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::InputArgs;
use crate::snapshot::{Snapshot, SnapshotInputs};
use crate::sources::InputError;

/// Why inputs could not be resolved (usage problems, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    #[error(
        "no inputs: give --manifests/--audit-log/--flows/--provenance/--metrics PATH, --snapshot DIR, or --demo (see --help)"
    )]
    Empty,
    #[error("--snapshot {0}: not a directory")]
    NotADirectory(PathBuf),
    #[error("--demo cannot be combined with other inputs")]
    DemoAndPaths,
    #[error(
        "--cluster reads the inventory from the cluster: it cannot be combined with --manifests, --snapshot or --demo"
    )]
    ClusterAndManifests,
}

/// What to load: the bundled demo or a set of paths.
#[derive(Debug, Clone)]
pub enum Source {
    Demo,
    Paths(SnapshotInputs),
    /// Live cluster inventory (kubeconfig context) plus evidence files.
    Cluster {
        context: Option<String>,
        inputs: SnapshotInputs,
    },
}

pub fn resolve(args: &InputArgs) -> Result<Source, InputsError> {
    if args.cluster && (args.demo || args.snapshot.is_some() || !args.manifests.is_empty()) {
        return Err(InputsError::ClusterAndManifests);
    }
    let mut inputs = match &args.snapshot {
        Some(dir) if !dir.is_dir() => return Err(InputsError::NotADirectory(dir.clone())),
        Some(dir) => SnapshotInputs::from_dir(dir),
        None => SnapshotInputs::default(),
    };
    inputs.manifests.extend(args.manifests.iter().cloned());
    inputs.audit_logs.extend(args.audit_log.iter().cloned());
    inputs.flows.extend(args.flows.iter().cloned());
    inputs.provenance.extend(args.provenance.iter().cloned());
    inputs.metrics.extend(args.metrics.iter().cloned());
    inputs.strict = args.strict;
    if args.demo {
        if !inputs.is_empty() || args.snapshot.is_some() {
            return Err(InputsError::DemoAndPaths);
        }
        return Ok(Source::Demo);
    }
    if args.cluster {
        return Ok(Source::Cluster { context: args.context.clone(), inputs });
    }
    if inputs.is_empty() && args.snapshot.is_none() {
        return Err(InputsError::Empty);
    }
    Ok(Source::Paths(inputs))
}

/// Load the snapshot, with a spinner on stderr when it is a terminal.
pub fn load(source: &Source) -> Result<Snapshot, InputError> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} reading {msg} ({binary_bytes} so far, {binary_bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let base = std::sync::Mutex::new((String::new(), 0u64, 0u64));
    let progress = |kind: &str, bytes: u64| {
        if let Ok(mut g) = base.lock() {
            // `bytes` is cumulative per kind; keep a running total across kinds.
            if g.0 != kind {
                g.2 += g.1;
                g.0 = kind.to_string();
                g.1 = 0;
                bar.set_message(kind.to_string());
            }
            g.1 = bytes;
            bar.set_position(g.2 + bytes);
        }
    };
    let result = match source {
        Source::Demo => crate::demo::load_with_progress(&progress),
        Source::Paths(inputs) => crate::snapshot::load(inputs, &progress),
        Source::Cluster { context, inputs } => {
            crate::sources::cluster::load_snapshot(context.as_deref(), inputs, &progress)
        }
    };
    bar.finish_and_clear();
    result
}

/// Print per-input counts, notes and the first malformed records to `err`.
pub fn print_summary(snapshot: &Snapshot, err: &mut dyn Write) {
    for (name, st) in snapshot.report.sources() {
        if st.files == 0 && st.records == 0 && st.malformed == 0 {
            continue;
        }
        let _ = writeln!(
            err,
            "{name}: {} file(s), {} record(s), {} duplicate(s), {} skipped, {} malformed",
            st.files, st.records, st.duplicates, st.skipped, st.malformed
        );
        for note in st.notes.iter().take(5) {
            let _ = writeln!(err, "  note: {note}");
        }
        for e in st.errors.iter().take(5) {
            let _ = writeln!(err, "  malformed: {e}");
        }
        if st.malformed > 5 {
            let _ = writeln!(err, "  … and {} more malformed record(s)", st.malformed - 5);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inputs() {
        assert!(matches!(resolve(&InputArgs::default()), Err(InputsError::Empty)));
        let demo = InputArgs { demo: true, ..InputArgs::default() };
        assert!(matches!(resolve(&demo), Ok(Source::Demo)));
        let both = InputArgs { demo: true, manifests: vec!["x".into()], ..InputArgs::default() };
        assert!(matches!(resolve(&both), Err(InputsError::DemoAndPaths)));
        let paths = InputArgs {
            manifests: vec!["k8s".into()],
            audit_log: vec!["a.log".into()],
            strict: true,
            ..InputArgs::default()
        };
        match resolve(&paths) {
            Ok(Source::Paths(i)) => {
                assert_eq!(i.manifests, vec![PathBuf::from("k8s")]);
                assert!(i.strict);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
