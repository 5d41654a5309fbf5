//! Deterministic engine: turns a profile (plus, for refine, the current objects) into a
//! least-privilege proposal with evidence per rule, with no LLM. Pure: no I/O. The guard
//! verifies what it produces like any other proposal.
//!
//! This module also holds the dispatch over resource kinds (`targets`, `recommend`) and
//! `DeterministicEngine`, the `engine::Engine` implementation every face uses by default.

pub mod deploy;
pub mod engine;
pub mod netpol;
pub mod rbac;

pub use engine::{DeterministicEngine, recommend, targets};
