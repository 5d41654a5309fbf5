//! Fuzz the metrics parser (Prometheus query results, metrics-server PodMetrics, kubectl top). It must never
//! panic.
#![no_main]

use kubeguard::sources::IngestStats;
use kubeguard::sources::metrics::parse_document;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut stats = IngestStats::default();
    let _ = parse_document(data, std::path::Path::new("fuzz.json"), &mut stats);
});
