//! End-to-end: the real `kubeguard` binary in tmux on the bundled demo. Keys go in with
//! `send-keys`, screens come out with `capture-pane`; the app writes `idle N` / `busy N` to
//! `KUBEGUARD_TUI_STATUS` (N = key events handled) so the test waits for it instead of sleeping.
//! tmux comes from tests/tui/setup.sh; without it the tests fail under CI=true and skip elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);

fn have_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
}

fn ensure_tmux() -> bool {
    if have_tmux() {
        return true;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tui/setup.sh");
    let _ = Command::new("bash").arg(script).status();
    if have_tmux() {
        return true;
    }
    let msg = "tmux is not installed (tests/tui/setup.sh could not install it)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    false
}

struct Session {
    name: String,
    dir: tempfile::TempDir,
    status: PathBuf,
    keys: u64,
}

impl Session {
    fn start(tag: &str, width: u16, height: u16, env: &[(&str, &str)], args: &str) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("status");
        let name = format!("kg-e2e-{tag}-{}", std::process::id());
        let mut envs = vec![
            format!("KUBEGUARD_TUI_STATUS={}", status.display()),
            format!("KUBEGUARD_LOG={}", dir.path().join("tui.log").display()),
            format!("KUBEGUARD_CONFIG={}", dir.path().join("config.toml").display()),
            format!("XDG_CONFIG_HOME={}", dir.path().join("xdg").display()),
            "TERM=xterm-256color".to_string(),
        ];
        envs.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        let cmd = format!(
            "cd {} && env -u NO_COLOR {} {} {args}; echo EXITED $?; sleep 600",
            dir.path().display(),
            envs.join(" "),
            env!("CARGO_BIN_EXE_kubeguard")
        );
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", &width.to_string(), "-y", &height.to_string(), &cmd])
            .status()
            .unwrap();
        assert!(ok.success(), "tmux new-session failed");
        let s = Session { name, dir, status, keys: 0 };
        s.wait_idle();
        s
    }

    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", &self.name];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&Command::new("tmux").args(&args).output().unwrap().stdout).to_string()
    }

    /// Wait until the app handled every key sent so far and nothing is in flight.
    fn wait_idle(&self) {
        let start = Instant::now();
        loop {
            let st = std::fs::read_to_string(&self.status).unwrap_or_default();
            let mut parts = st.split_whitespace();
            if parts.next() == Some("idle")
                && parts.next().and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= self.keys)
            {
                return;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "app not idle after {WAIT:?} (status {st:?}, keys sent {}):\n{}",
                    self.keys,
                    self.capture(false)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Named keys (`Enter`, `Escape`, `C-s`, `r`), one event each; waits until handled.
    fn keys(&mut self, keys: &[&str]) {
        self.send(keys);
        self.wait_idle();
    }

    /// Send keys without waiting (the last one may end the app).
    fn send(&mut self, keys: &[&str]) {
        for k in keys {
            let ok = Command::new("tmux").args(["send-keys", "-t", &self.name, k]).status().unwrap();
            assert!(ok.success());
            self.keys += 1;
        }
    }

    /// Literal text, one event per character.
    fn type_text(&mut self, text: &str) {
        let ok = Command::new("tmux").args(["send-keys", "-t", &self.name, "-l", text]).status().unwrap();
        assert!(ok.success());
        self.keys += text.chars().count() as u64;
        self.wait_idle();
    }

    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture(false);
            if screen.contains(needle) {
                return screen;
            }
            if needle == "[DONE" && screen.contains("[FAILED") {
                panic!("the chain failed:\n{screen}");
            }
            if start.elapsed() > WAIT {
                panic!("`{needle}` never appeared:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.name]).status();
    }
}

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
