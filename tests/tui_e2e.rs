//! End-to-end: the real `kubeguard` binary in tmux on the bundled demo. Keys go in with
//! `send-keys`, screens come out with `capture-pane`; the app writes `idle N` / `busy N` to
//! `KUBEGUARD_TUI_STATUS` (N = key events handled) so the test waits for it instead of sleeping.
//! tmux comes from tests/tui/setup.sh; without it the tests fail under CI=true and skip elsewhere.

mod common;

use common::tmux::{Session, ensure_tmux};

fn selected_line(screen: &str) -> String {
    screen.lines().find(|l| l.starts_with("│>")).unwrap_or_default().to_string()
}

#[test]
fn filter_refine_diff_edit_save_on_the_demo() {
    if !ensure_tmux() {
        return;
    }
    let mut s = Session::start("flow", 120, 40, &[], "--demo");
    let screen = s.wait_for("Workloads (");
    assert!(screen.contains(" demo "), "{screen}");

    // filter down to one workload; it is selected
    s.keys(&["/"]);
    s.type_text("catalog");
    s.keys(&["Enter"]);
    let screen = s.capture(false);
    assert!(screen.contains("Workloads (1/"), "{screen}");
    assert!(selected_line(&screen).contains("catalog"), "{screen}");

    // refine its Role; the chain runs to the end
    s.keys(&["r", "r"]);
    let screen = s.wait_for("[DONE");
    assert!(screen.contains("refine role for ServiceAccount shop/catalog"), "{screen}");

    // open the diff: markers and the guard's verdict are there
    s.keys(&["Enter"]);
    let screen = s.wait_for("guard verdict");
    assert!(screen.contains("coverage "), "{screen}");
    assert!(screen.lines().any(|l| l.contains(" - ") || l.contains(" + ")), "{screen}");

    // edit one line: append a comment to the first line, validate with ctrl-s
    s.keys(&["e"]);
    s.wait_for("edit suggestion");
    s.keys(&["End"]);
    s.type_text("  # reviewed-in-e2e");
    s.keys(&["C-s"]);
    let screen = s.wait_for("[EDITED]");
    assert!(screen.contains("guard verdict"), "{screen}");

    // save: the default path is offered; the file holds exactly the edited text
    s.keys(&["w"]);
    let screen = s.wait_for("save to:");
    assert!(screen.contains("kubeguard-out/role-refine-sa-shop-catalog.yaml"), "{screen}");
    s.keys(&["Enter"]);
    let screen = s.wait_for("saved to ");
    let path = s.dir.path().join("kubeguard-out/role-refine-sa-shop-catalog.yaml");
    let saved = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}\n{screen}", path.display()));
    let first = saved.lines().next().unwrap();
    assert!(first.ends_with("  # reviewed-in-e2e"), "{saved}");
    assert!(saved.contains("kind: Role"), "{saved}");
    let docs = kubeguard::tui::yaml::parse_manifests(&saved).expect("saved file is valid YAML manifests");
    assert!(docs.iter().any(|d| d["kind"] == "Role"));
    assert!(
        screen.contains(&std::fs::canonicalize(&path).unwrap().display().to_string()),
        "shows where it went:\n{screen}"
    );

    // saving again asks before overwriting; `n` keeps the file
    s.keys(&["w", "Enter"]);
    s.wait_for("Overwrite?");
    s.keys(&["n"]);
    s.wait_for("not saved");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), saved);

    s.keys(&["Escape", "Escape"]);
    s.send(&["q"]);
    s.wait_for("EXITED 0");
}

/// SGR parameters of every escape sequence in `line`.
fn sgr_params(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("\x1b[") {
        rest = &rest[i + 2..];
        let end = rest.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(rest.len());
        if rest[end..].starts_with('m') {
            out.extend(rest[..end].split(';').map(str::to_string));
        }
        rest = &rest[end.min(rest.len())..];
    }
    out
}

fn strip(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn no_color_keeps_selection_visible() {
    if !ensure_tmux() {
        return;
    }
    let mut s = Session::start("nocolor", 100, 30, &[("NO_COLOR", "1")], "--demo");
    s.wait_for("Workloads (");
    let raw = s.capture(true);
    let colours: Vec<String> = sgr_params(&raw)
        .into_iter()
        .filter(|p| {
            p.parse::<u32>().is_ok_and(|n| (30..=38).contains(&n) || (40..=48).contains(&n) || (90..=107).contains(&n))
        })
        .collect();
    assert!(colours.is_empty(), "NO_COLOR screen has colour sequences {colours:?}");
    let sel = raw.lines().find(|l| strip(l).starts_with("│>")).expect("a selected row with the > marker");
    let params = sgr_params(sel);
    assert!(params.iter().any(|p| p == "7"), "selection is reverse video: {params:?} in {sel:?}");
    assert!(params.iter().any(|p| p == "1"), "selection is bold: {params:?}");
    s.send(&["q"]);
    s.wait_for("EXITED 0");
}

#[test]
fn no_color_diff_keeps_markers() {
    if !ensure_tmux() {
        return;
    }
    let mut s = Session::start("nocolordiff", 100, 30, &[("NO_COLOR", "1")], "--demo");
    s.wait_for("Workloads (");
    s.keys(&["/"]);
    s.type_text("catalog");
    s.keys(&["Enter", "r", "r"]);
    s.wait_for("[DONE");
    s.keys(&["Enter"]);
    let screen = s.wait_for("guard verdict");
    let marked: Vec<&str> = screen.lines().filter(|l| l.contains(" - ") || l.contains(" + ")).collect();
    assert!(!marked.is_empty(), "diff markers without colour:\n{screen}");
    let raw = s.capture(true);
    assert!(!sgr_params(&raw).iter().any(|p| p.starts_with("38") || p.starts_with("48")), "no colour in the diff");
    s.keys(&["Escape", "Escape"]);
    s.send(&["q"]);
}
