//! Deterministic engine: turns a profile (plus, for refine, the current objects) into a
//! least-privilege proposal with evidence per rule, with no LLM. Pure: no I/O. The guard
//! verifies what it produces like any other proposal.

pub mod deploy;
pub mod netpol;
pub mod rbac;
