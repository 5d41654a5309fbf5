//! Fuzz the Hubble flow parser (JSON lines, `hubble observe -o json` and the gRPC
//! `GetFlowsResponse` envelope) against a small inventory. It must never panic.
#![no_main]

use kubeguard::sources::hubble::ingest_str;
use kubeguard::sources::manifests::load_str;
use libfuzzer_sys::fuzz_target;

const INVENTORY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}
";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok((inventory, _)) = load_str("inventory.yaml", INVENTORY, true) else { return };
    let _ = ingest_str(text, "fuzz.json", &inventory, &Default::default());
});
