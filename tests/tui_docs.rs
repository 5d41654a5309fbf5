//! The README's TUI keys table is generated from the keymap registry. Run with
//! `KUBEGUARD_BLESS=1` to rewrite it after changing bindings.

use std::collections::BTreeMap;

use kubeguard::tui::keymap::Keymap;

#[test]
fn readme_keys_table_matches_the_registry() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- keys:start -->\n", "<!-- keys:end -->");
    let a = readme.find(start).expect("keys:start marker") + start.len();
    let b = readme.find(end).expect("keys:end marker");
    let (km, warnings) = Keymap::new(&BTreeMap::new());
    assert!(warnings.is_empty(), "default keymap has conflicts: {warnings:?}");
    let table = km.markdown();
    if std::env::var("KUBEGUARD_BLESS").is_ok_and(|v| v == "1") {
        let updated = format!("{}{}{}", &readme[..a], table, &readme[b..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(&readme[a..b], table, "README keys table is stale: run KUBEGUARD_BLESS=1 cargo test --test tui_docs");
}
