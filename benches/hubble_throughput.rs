//! Hubble ingest throughput on a flow log given as the first argument (or $KUBEGUARD_FLOWS):
//! prints bytes, flows, connections, edges, wall time and MB/s. Run through
//! `benches/netpol_throughput.sh`, which generates a ≥ 1 GB log, measures peak RSS with
//! /usr/bin/time and runs a named peer (jq) on the same input for the ratio.

use std::path::PathBuf;
use std::time::Instant;

use kubeguard::model::Inventory;
use kubeguard::sources::hubble::{self, FlowCounts};

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("KUBEGUARD_FLOWS").ok())
        .map(PathBuf::from);
    let Some(path) = path else {
        eprintln!("usage: hubble_throughput FLOW_LOG (or KUBEGUARD_FLOWS); see benches/netpol_throughput.sh");
        return;
    };
    let start = Instant::now();
    let (set, stats) = match hubble::ingest(std::slice::from_ref(&path), &Inventory::default(), false, &|_| {}) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ingest failed: {e}");
            std::process::exit(1);
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let counts = FlowCounts::of(&set, &stats);
    println!(
        "kubeguard hubble ingest: {} bytes, {} flows, {} connections, {} edges, {} malformed, {:.2} s, {:.1} MB/s",
        stats.bytes,
        counts.flows,
        counts.connections,
        counts.edges,
        stats.malformed,
        secs,
        stats.bytes as f64 / 1e6 / secs
    );
}
