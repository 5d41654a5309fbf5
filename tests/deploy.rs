//! Deployment hardening end to end: provenance and metrics ingest, `synth::deploy`,
//! `guard::deploy`, and the resource strategies against the VPA and krr reference formulas.

#[path = "deploy/demo.rs"]
mod demo;
#[path = "deploy/guard.rs"]
mod guard;
#[path = "deploy/metrics.rs"]
mod metrics;
#[path = "deploy/provenance.rs"]
mod provenance;
#[path = "deploy/resources.rs"]
mod resources;
#[path = "deploy/support.rs"]
mod support;
#[path = "deploy/synth.rs"]
mod synth;
