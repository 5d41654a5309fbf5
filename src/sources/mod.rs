//! Input parsers, one format each: they turn bytes into typed values and attribute them, and
//! never decide anything. Streaming with bounded memory; every bad record is counted and
//! reported with file and line, never a panic and never silently dropped.

pub mod audit;
pub mod cluster;
pub mod hubble;
pub mod input;
pub mod manifests;
pub mod metrics;
pub mod provenance;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A problem with one record of one input, located by file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct SourceError {
    pub path: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

/// Counters every ingest reports. Only the first `MAX_KEPT_ERRORS` errors are kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestStats {
    pub files: usize,
    pub bytes: u64,
    pub lines: u64,
    /// Records accepted (events, flows, objects...).
    pub records: u64,
    /// Records folded into another (same auditID, reply packets...).
    pub duplicates: u64,
    /// Records skipped on purpose (out of scope), not errors.
    pub skipped: u64,
    pub malformed: u64,
    pub errors: Vec<SourceError>,
    /// Things the user should know that are not errors (defaults applied, objects ignored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

pub const MAX_KEPT_ERRORS: usize = 100;

impl IngestStats {
    pub fn error(&mut self, path: &str, line: usize, message: impl Into<String>) {
        self.malformed += 1;
        if self.errors.len() < MAX_KEPT_ERRORS {
            self.errors.push(SourceError { path: path.to_string(), line, message: message.into() });
        }
    }

    pub fn merge(&mut self, other: IngestStats) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.lines += other.lines;
        self.records += other.records;
        self.duplicates += other.duplicates;
        self.skipped += other.skipped;
        self.malformed += other.malformed;
        for e in other.errors {
            if self.errors.len() < MAX_KEPT_ERRORS {
                self.errors.push(e);
            }
        }
        for n in other.notes {
            if self.notes.len() < MAX_KEPT_ERRORS {
                self.notes.push(n);
            }
        }
    }
}

/// Fatal input errors (cannot open, strict mode violation).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Malformed(SourceError),
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}
