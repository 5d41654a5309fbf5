//! Helpers shared by several integration-test binaries: `tmux` drives the real `kubeguard`
//! binary in a terminal, `harness` starts/stops the real kube-apiserver of `tests/cluster/`.
//! Each test binary uses only part of it.
#![allow(dead_code)]

pub mod harness;
pub mod tmux;

/// A missing external prerequisite: fails under `CI=true`, otherwise prints why the test is
/// skipped. Returns `false` so callers can `return` on it.
pub fn prerequisite_missing(test: &str, reason: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: prerequisite missing under CI=true: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}
