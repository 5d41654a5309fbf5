//! kubeguard: least-privilege Kubernetes configuration from what the cluster actually does.
//!
//! Data flows one way: `sources` parse inputs into an `Inventory` and observations,
//! `profile` aggregates them per subject/workload, engines (`synth` deterministic, `chain`
//! LLM) propose, `guard` verifies and repairs, and the faces (`tui`, `cli`, via `report`)
//! present. Pure core, I/O at the edges.

pub mod apply;
pub mod chain;
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod eval;
pub mod guard;
pub mod model;
pub mod profile;
pub mod report;
pub mod serve;
pub mod snapshot;
pub mod sources;
pub mod synth;
pub mod testsupport;
pub mod tui;
