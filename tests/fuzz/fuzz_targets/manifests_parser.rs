//! Fuzz the manifest loader (multi-document YAML and JSON, `kind: List`, every workload and
//! RBAC kind), lenient and strict. It must never panic; strict fails iff lenient counted errors.
#![no_main]

use kubeguard::sources::manifests::load_str;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lenient = load_str("fuzz.yaml", text, false);
    let strict = load_str("fuzz.yaml", text, true);
    if let Ok((_, stats)) = &lenient {
        assert_eq!(stats.malformed == 0, strict.is_ok(), "strict and lenient disagree");
    }
});
