//! Ingest audit logs with `kubeguard::sources::audit::ingest` and print counts and timing (used
//! by `benches/audit_ingest.sh`; not a user command).
//!
//! `cargo run --release --example audit_ingest -- FILE...`

use std::path::PathBuf;
use std::time::Instant;

use kubeguard::model::{Inventory, SubjectClass};
use kubeguard::sources::audit;

fn main() {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: audit_ingest FILE...");
        std::process::exit(2);
    }
    let start = Instant::now();
    match audit::ingest(&paths, &Inventory::default(), false, &|_| {}) {
        Ok((set, stats)) => {
            let secs = start.elapsed().as_secs_f64();
            let s = audit::summary(&set);
            let workloads = set.of_class(SubjectClass::WorkloadServiceAccount).count();
            println!(
                "bytes={} seconds={secs:.3} mb_per_s={:.1} lines={} events={} folded={} requests={} skipped={} malformed={} subjects={} workload_sas={} allowed_tuples={} denied_tuples={} admission_rejected_tuples={} unresolved_tuples={}",
                stats.bytes,
                stats.bytes as f64 / 1e6 / secs,
                stats.lines,
                stats.records,
                stats.duplicates,
                stats.records - stats.duplicates,
                stats.skipped,
                stats.malformed,
                s.subjects,
                workloads,
                s.allowed_tuples,
                s.denied_tuples,
                s.admission_rejected_tuples,
                s.unresolved_tuples
            );
            for e in stats.errors.iter().take(10) {
                eprintln!("{e}");
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
