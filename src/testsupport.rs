//! Helpers for tests and benches: locating the shared real-world inputs that live beside the
//! repository (`../shared/data`) and are never copied into it.

use std::path::PathBuf;

/// Path of `../shared/data/<rel>` relative to the crate root, if it exists. When it does not:
/// under CI (`CI=true`) this panics with a clear message (a missing input must fail loudly);
/// elsewhere it prints why and returns `None` so the caller can skip.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel);
    if p.exists() {
        return Some(p);
    }
    let msg = format!("shared input {} is missing (expected beside the repository)", p.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}
