//! Fuzz the audit-log parser: any bytes, in line or whole-document layout, with tiny and
//! large chunk sizes, lenient and strict. It must never panic.
#![no_main]

use kubeguard::sources::audit::{IngestOptions, ingest_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (knob, body) = match data.split_first() {
        Some((k, rest)) => (*k, rest),
        None => (0, data),
    };
    let options = IngestOptions {
        chunk_bytes: 1 + usize::from(knob % 64) * 16,
        window: 1 + usize::from(knob >> 6),
        max_in_flight: 4,
        max_document_bytes: 1 << 20,
    };
    let lenient = ingest_bytes("fuzz", body, false, &options);
    let strict = ingest_bytes("fuzz", body, true, &options);
    // Lenient mode never fails on content; strict fails exactly when lenient counted an error.
    if let Ok((_, stats)) = &lenient {
        assert_eq!(stats.malformed == 0, strict.is_ok(), "strict and lenient disagree");
    } else {
        panic!("lenient ingest failed on in-memory input: {lenient:?}");
    }
});
