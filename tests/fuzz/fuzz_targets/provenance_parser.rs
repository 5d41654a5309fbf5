//! Fuzz the provenance parser (SPADE graph JSON, CDM 17/18, Tetragon and Falco JSON). It must
//! never panic.
#![no_main]

use kubeguard::sources::IngestStats;
use kubeguard::sources::provenance::parse_reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut stats = IngestStats::default();
    let mut cursor = std::io::Cursor::new(data);
    let _ = parse_reader(&mut cursor, "fuzz.json", &mut stats);
});
