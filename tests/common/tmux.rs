//! tmux driver for the real `kubeguard` binary: keys go in with `send-keys`, screens come out
//! with `capture-pane`; the app writes `idle N` / `busy N` to `KUBEGUARD_TUI_STATUS` (N = key
//! events handled) so tests wait for it instead of sleeping. tmux comes from tests/tui/setup.sh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(90);

pub fn have_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
}

pub fn ensure_tmux() -> bool {
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

pub struct Session {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub status: PathBuf,
    pub keys: u64,
}

impl Session {
    pub fn start(tag: &str, width: u16, height: u16, env: &[(&str, &str)], args: &str) -> Session {
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

    pub fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", &self.name];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&Command::new("tmux").args(&args).output().unwrap().stdout).to_string()
    }

    /// Wait until the app handled every key sent so far and nothing is in flight.
    pub fn wait_idle(&self) {
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
    pub fn keys(&mut self, keys: &[&str]) {
        self.send(keys);
        self.wait_idle();
    }

    /// Send keys without waiting (the last one may end the app).
    pub fn send(&mut self, keys: &[&str]) {
        for k in keys {
            let ok = Command::new("tmux").args(["send-keys", "-t", &self.name, k]).status().unwrap();
            assert!(ok.success());
            self.keys += 1;
        }
    }

    /// Literal text, one event per character.
    pub fn type_text(&mut self, text: &str) {
        let ok = Command::new("tmux").args(["send-keys", "-t", &self.name, "-l", text]).status().unwrap();
        assert!(ok.success());
        self.keys += text.chars().count() as u64;
        self.wait_idle();
    }

    /// Wait until some screen line satisfies `pred`; returns the screen.
    pub fn wait_for_line(&self, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture(false);
            if screen.lines().any(&pred) {
                return screen;
            }
            if start.elapsed() > WAIT {
                panic!("no matching line appeared:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_for(&self, needle: &str) -> String {
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
