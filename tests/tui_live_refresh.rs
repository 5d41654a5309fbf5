//! Live-mode refreshes in the TUI's pure state machine (`Msg::Refreshed`, sent when the watch
//! caches or the evidence files change): the table takes the new rows, the selected and marked
//! workloads stay selected and marked by identity (not by row index), and a refresh that
//! arrives while another source is loading is ignored.

mod tui_support;

use std::sync::Arc;

use kubeguard::model::WorkloadKind;
use kubeguard::tui::rows;
use kubeguard::tui::state::{Loaded, Msg, update};
use tui_support::{press, snapshot, state, workload};

fn refreshed(snap: kubeguard::snapshot::Snapshot) -> Msg {
    let snap = Arc::new(snap);
    let rows = Arc::new(rows::build(&snap));
    Msg::Refreshed(Loaded { snapshot: snap, rows, banner: None, context: None })
}

fn selected_name(s: &kubeguard::tui::state::State) -> String {
    s.selected_row().map(|(_, r)| r.id.name.clone()).unwrap_or_default()
}

#[test]
fn refresh_keeps_selection_and_marks_by_identity() {
    let mut s = state();
    // Select `web` (third row when sorted by namespace/name) and mark it.
    while selected_name(&s) != "web" {
        press(&mut s, "j");
    }
    press(&mut s, "space");
    let marked_before: Vec<String> = s.marked.iter().map(|&i| s.rows[i].id.name.clone()).collect();
    assert_eq!(marked_before, ["web"]);

    // A workload appears before `web` in the table order: row indices shift by one.
    let mut snap = snapshot();
    snap.inventory.workloads.push(workload("shop", WorkloadKind::Deployment, "api", "api", "api"));
    let before = s.rows.len();
    update(&mut s, refreshed(snap));
    assert_eq!(s.rows.len(), before + 1);
    assert!(s.rows.iter().any(|r| r.id.name == "api"));
    assert_eq!(selected_name(&s), "web", "selection follows the workload, not the index");
    let marked: Vec<String> = s.marked.iter().map(|&i| s.rows[i].id.name.clone()).collect();
    assert_eq!(marked, ["web"]);

    // The selected workload disappears: the selection stays inside the table.
    let mut snap = snapshot();
    snap.inventory.workloads.retain(|w| w.id.name != "web");
    update(&mut s, refreshed(snap));
    assert!(s.rows.iter().all(|r| r.id.name != "web"));
    assert!(s.selected_row().is_some());
    assert!(s.marked.is_empty());
}

#[test]
fn refresh_during_a_load_is_ignored() {
    let mut s = state();
    s.loading = Some("connecting to context other…".into());
    let mut snap = snapshot();
    snap.inventory.workloads.clear();
    let rows_before = s.rows.len();
    update(&mut s, refreshed(snap));
    assert_eq!(s.rows.len(), rows_before, "a stale live refresh must not replace what is loading");
}
