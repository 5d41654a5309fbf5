//! The one keymap registry of the TUI: every action with its default keys, description and the
//! views it applies to. It drives key dispatch (including multi-key chords such as `gg`), the
//! `?` help overlay, the hint bar and the README keys table, so they can never disagree.
//! User overrides from `[ui.keys]` are merged over the defaults; bad or conflicting entries
//! become warnings shown in the UI, never errors.
//!
//! Must not: perform actions (that is `update`), or know about rendering beyond plain text.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. `Global` bindings work in every view unless a view binds the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ctx {
    Global,
    Workloads,
    Detail,
    Chain,
    Step,
    Diff,
    Editor,
}

impl Ctx {
    pub fn title(self) -> &'static str {
        match self {
            Ctx::Global => "Everywhere",
            Ctx::Workloads => "Workloads",
            Ctx::Detail => "Detail",
            Ctx::Chain => "Chain progress",
            Ctx::Step => "Step inspector",
            Ctx::Diff => "Diff",
            Ctx::Editor => "Editor",
        }
    }
}

macro_rules! actions {
    ($($id:ident => $name:literal,)*) => {
        /// Every action the TUI can perform from a key.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ActionId { $($id,)* }

        impl ActionId {
            pub const ALL: &'static [ActionId] = &[$(ActionId::$id,)*];
            /// Stable snake_case name used in `[ui.keys]`.
            pub fn name(self) -> &'static str {
                match self { $(ActionId::$id => $name,)* }
            }
            pub fn from_name(name: &str) -> Option<ActionId> {
                match name { $($name => Some(ActionId::$id),)* _ => None }
            }
        }
    };
}

actions! {
    Quit => "quit",
    Help => "help",
    Back => "back",
    Cancel => "cancel",
    Filter => "filter",
    Command => "command",
    CycleTheme => "cycle_theme",
    ShowChain => "show_chain",
    Up => "up",
    Down => "down",
    PageUp => "page_up",
    PageDown => "page_down",
    Top => "top",
    Bottom => "bottom",
    Open => "open",
    Mark => "mark",
    ClearMarks => "clear_marks",
    AllNamespaces => "all_namespaces",
    SortName => "sort_name",
    SortNamespace => "sort_namespace",
    SortKind => "sort_kind",
    SortRisk => "sort_risk",
    SortApi => "sort_api",
    CreateRole => "create_role",
    RefineRole => "refine_role",
    CreateNetpol => "create_netpol",
    RefineNetpol => "refine_netpol",
    CreateDeploy => "create_deploy",
    RefineDeploy => "refine_deploy",
    ActionMenu => "action_menu",
    OpenDiff => "open_diff",
    ToggleSideBySide => "toggle_side_by_side",
    NextHunk => "next_hunk",
    PrevHunk => "prev_hunk",
    Edit => "edit",
    ExternalEdit => "external_edit",
    Save => "save",
    EditorSave => "editor_save",
    EditorCancel => "editor_cancel",
}

/// One normalised key press. Character keys carry their case in the char and never SHIFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match ev.code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    /// Parse `j`, `G`, `ctrl-c`, `shift-n` (= `N`), `space`, `esc`, `enter`, `pgdn`, `f5`...
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && lower.starts_with("ctrl-") {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[5..];
            } else if rest.len() > 1 && lower.starts_with("alt-") {
                mods |= KeyModifiers::ALT;
                rest = &rest[4..];
            } else if rest.len() > 1 && lower.starts_with("shift-") {
                mods |= KeyModifiers::SHIFT;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "esc" | "escape" => KeyCode::Esc,
            "enter" | "return" => KeyCode::Enter,
            "space" => KeyCode::Char(' '),
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].chars().all(|c| c.is_ascii_digit()) => {
                KeyCode::F(f[1..].parse().map_err(|_| format!("bad function key `{s}`"))?)
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        let c = if mods.contains(KeyModifiers::SHIFT) && !mods.contains(KeyModifiers::CONTROL) {
                            mods.remove(KeyModifiers::SHIFT);
                            c.to_ascii_uppercase()
                        } else {
                            c
                        };
                        KeyCode::Char(c)
                    }
                    _ => return Err(format!("unknown key `{s}`")),
                }
            }
        };
        if let KeyCode::Char(_) = code {
            mods.remove(KeyModifiers::SHIFT);
        }
        Ok(Key { code, mods })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("del"),
            KeyCode::F(n) => write!(f, "f{n}"),
            _ => f.write_str("?"),
        }
    }
}

/// A sequence of keys (`g g`).
pub type Chord = Vec<Key>;

fn chord_text(chord: &Chord) -> String {
    chord.iter().map(Key::to_string).collect::<Vec<_>>().join("")
}

/// A default binding as declared in the registry.
struct Default {
    action: ActionId,
    /// Each entry is one chord; keys inside a chord are separated by spaces (`"g g"`).
    keys: &'static [&'static str],
    desc: &'static str,
    ctx: &'static [Ctx],
    /// Shown in the hint bar of these contexts.
    hint: bool,
}

use ActionId as A;
use Ctx as C;

const DEFAULTS: &[Default] = &[
    Default { action: A::Quit, keys: &["q"], desc: "quit", ctx: &[C::Workloads], hint: true },
    Default { action: A::Help, keys: &["?"], desc: "help", ctx: &[C::Global], hint: true },
    Default {
        action: A::Back,
        keys: &["esc"],
        desc: "back (in chains: first cancels a running one)",
        ctx: &[C::Detail, C::Chain, C::Step, C::Diff],
        hint: true,
    },
    Default { action: A::Cancel, keys: &["ctrl-c"], desc: "cancel running chains", ctx: &[C::Global], hint: false },
    Default {
        action: A::Cancel,
        keys: &["esc"],
        desc: "clear filter, else cancel running chains",
        ctx: &[C::Workloads],
        hint: false,
    },
    Default { action: A::Filter, keys: &["/"], desc: "filter (/!x inverts)", ctx: &[C::Workloads], hint: true },
    Default {
        action: A::Command,
        keys: &[":"],
        desc: "command (:ns :ctx :theme :deploy :sa ...)",
        ctx: &[C::Global],
        hint: true,
    },
    Default {
        action: A::CycleTheme,
        keys: &["t"],
        desc: "next theme",
        ctx: &[C::Workloads, C::Detail, C::Diff],
        hint: false,
    },
    Default {
        action: A::ShowChain,
        keys: &["p"],
        desc: "chain progress",
        ctx: &[C::Workloads, C::Detail, C::Diff],
        hint: true,
    },
    Default { action: A::Up, keys: &["k", "up"], desc: "up", ctx: &[C::Global], hint: false },
    Default { action: A::Down, keys: &["j", "down"], desc: "down", ctx: &[C::Global], hint: false },
    Default { action: A::PageUp, keys: &["ctrl-b", "pgup"], desc: "page up", ctx: &[C::Global], hint: false },
    Default { action: A::PageDown, keys: &["ctrl-f", "pgdn"], desc: "page down", ctx: &[C::Global], hint: false },
    Default { action: A::Top, keys: &["g g", "home"], desc: "top", ctx: &[C::Global], hint: false },
    Default { action: A::Bottom, keys: &["G", "end"], desc: "bottom", ctx: &[C::Global], hint: false },
    Default { action: A::Open, keys: &["enter", "l"], desc: "open details", ctx: &[C::Workloads], hint: true },
    Default { action: A::Mark, keys: &["space"], desc: "mark", ctx: &[C::Workloads], hint: true },
    Default { action: A::ClearMarks, keys: &["ctrl-\\"], desc: "clear marks", ctx: &[C::Workloads], hint: false },
    Default { action: A::AllNamespaces, keys: &["0"], desc: "all namespaces", ctx: &[C::Workloads], hint: false },
    Default { action: A::SortName, keys: &["N"], desc: "sort by name", ctx: &[C::Workloads], hint: false },
    Default { action: A::SortNamespace, keys: &["P"], desc: "sort by namespace", ctx: &[C::Workloads], hint: false },
    Default { action: A::SortKind, keys: &["K"], desc: "sort by kind", ctx: &[C::Workloads], hint: false },
    Default { action: A::SortRisk, keys: &["R"], desc: "sort by risk", ctx: &[C::Workloads], hint: false },
    Default { action: A::SortApi, keys: &["A"], desc: "sort by API calls", ctx: &[C::Workloads], hint: false },
    Default { action: A::RefineRole, keys: &["r r"], desc: "refine Role", ctx: &[C::Workloads, C::Detail], hint: true },
    Default { action: A::CreateRole, keys: &["c r"], desc: "create Role", ctx: &[C::Workloads, C::Detail], hint: true },
    Default {
        action: A::RefineNetpol,
        keys: &["r n"],
        desc: "refine NetworkPolicy",
        ctx: &[C::Workloads, C::Detail],
        hint: true,
    },
    Default {
        action: A::CreateNetpol,
        keys: &["c n"],
        desc: "create NetworkPolicy",
        ctx: &[C::Workloads, C::Detail],
        hint: true,
    },
    Default {
        action: A::RefineDeploy,
        keys: &["r d"],
        desc: "refine Deployment",
        ctx: &[C::Workloads, C::Detail],
        hint: true,
    },
    Default {
        action: A::CreateDeploy,
        keys: &["c d"],
        desc: "create Deployment",
        ctx: &[C::Workloads, C::Detail],
        hint: true,
    },
    Default { action: A::ActionMenu, keys: &["m"], desc: "action menu", ctx: &[C::Workloads, C::Detail], hint: true },
    Default {
        action: A::OpenDiff,
        keys: &["d", "enter"],
        desc: "open diff of the result",
        ctx: &[C::Chain],
        hint: true,
    },
    Default { action: A::Open, keys: &["i"], desc: "inspect step prompt and answer", ctx: &[C::Chain], hint: true },
    Default {
        action: A::ToggleSideBySide,
        keys: &["V", "|"],
        desc: "side-by-side / unified",
        ctx: &[C::Diff],
        hint: true,
    },
    Default { action: A::NextHunk, keys: &["]", "n"], desc: "next hunk", ctx: &[C::Diff], hint: true },
    Default { action: A::PrevHunk, keys: &["[", "shift-tab"], desc: "previous hunk", ctx: &[C::Diff], hint: true },
    Default { action: A::Edit, keys: &["e"], desc: "edit suggestion", ctx: &[C::Diff], hint: true },
    Default { action: A::ExternalEdit, keys: &["E"], desc: "edit in $EDITOR", ctx: &[C::Diff], hint: true },
    Default { action: A::Save, keys: &["w", "ctrl-s"], desc: "save to file", ctx: &[C::Diff], hint: true },
    Default {
        action: A::EditorSave,
        keys: &["ctrl-s"],
        desc: "validate, re-check and return",
        ctx: &[C::Editor],
        hint: true,
    },
    Default { action: A::EditorCancel, keys: &["esc"], desc: "discard edits", ctx: &[C::Editor], hint: true },
];

/// A resolved binding (defaults merged with user overrides).
#[derive(Debug, Clone)]
pub struct Binding {
    pub action: ActionId,
    pub chords: Vec<Chord>,
    pub desc: &'static str,
    pub ctx: Vec<Ctx>,
    pub hint: bool,
}

impl Binding {
    pub fn keys_text(&self) -> String {
        self.chords.iter().map(chord_text).collect::<Vec<_>>().join(" / ")
    }
}

/// Result of feeding one key to the keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    Action(ActionId),
    /// The key starts a chord; wait for the next.
    Pending,
    Unbound,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

impl Keymap {
    /// Defaults merged with overrides (`action name` → list of chords). Returns warnings.
    pub fn new(overrides: &BTreeMap<String, Vec<String>>) -> (Keymap, Vec<String>) {
        let mut warnings = Vec::new();
        let mut bindings: Vec<Binding> = DEFAULTS
            .iter()
            .map(|d| Binding {
                action: d.action,
                chords: d.keys.iter().filter_map(|k| parse_chord(k).ok()).collect(),
                desc: d.desc,
                ctx: d.ctx.to_vec(),
                hint: d.hint,
            })
            .collect();
        for (name, keys) in overrides {
            let Some(action) = ActionId::from_name(name) else {
                warnings.push(format!("[ui.keys] unknown action `{name}` ignored"));
                continue;
            };
            let mut chords = Vec::new();
            for k in keys {
                match parse_chord(k) {
                    Ok(c) => chords.push(c),
                    Err(e) => warnings.push(format!("[ui.keys] {name}: {e}; ignored")),
                }
            }
            if chords.is_empty() {
                continue;
            }
            let mut first = true;
            for b in bindings.iter_mut().filter(|b| b.action == action) {
                b.chords = if first { chords.clone() } else { Vec::new() };
                first = false;
            }
        }
        let km = Keymap { bindings };
        warnings.extend(km.conflicts());
        (km, warnings)
    }

    /// Same chord bound to two different actions in one context, or a chord that is a prefix of
    /// another in the same context (the longer one could never fire).
    pub fn conflicts(&self) -> Vec<String> {
        let mut seen: std::collections::HashMap<(Ctx, Chord), ActionId> = std::collections::HashMap::new();
        let mut out = Vec::new();
        for b in &self.bindings {
            for c in &b.ctx {
                for chord in &b.chords {
                    if let Some(prev) = seen.get(&(*c, chord.clone()))
                        && *prev != b.action
                    {
                        out.push(format!(
                            "key `{}` bound to both {} and {} in {}",
                            chord_text(chord),
                            prev.name(),
                            b.action.name(),
                            c.title()
                        ));
                    }
                    seen.entry((*c, chord.clone())).or_insert(b.action);
                }
            }
        }
        let all: Vec<(Ctx, Chord, ActionId)> = seen.iter().map(|((c, ch), a)| (*c, ch.clone(), *a)).collect();
        out.sort();
        let mut hidden = Vec::new();
        for (c, short, a) in &all {
            for (c2, long, b) in &all {
                if c == c2 && long.len() > short.len() && long.starts_with(short) {
                    hidden.push(format!(
                        "key `{}` ({}) hides `{}` ({}) in {}",
                        chord_text(short),
                        a.name(),
                        chord_text(long),
                        b.name(),
                        c.title()
                    ));
                }
            }
        }
        hidden.sort();
        out.extend(hidden);
        out
    }

    /// Feed `key` with the chord buffer `pending` in context `ctx`. On `Pending` the caller
    /// keeps the key in the buffer; otherwise it clears the buffer.
    pub fn dispatch(&self, ctx: Ctx, pending: &[Key], key: Key) -> Dispatch {
        let mut seq: Vec<Key> = pending.to_vec();
        seq.push(key);
        let r = self.lookup(ctx, &seq);
        if r == Dispatch::Unbound && !pending.is_empty() {
            return self.lookup(ctx, &[key]);
        }
        r
    }

    fn lookup(&self, ctx: Ctx, seq: &[Key]) -> Dispatch {
        let mut prefix = false;
        for scope in [ctx, Ctx::Global] {
            for b in self.bindings.iter().filter(|b| b.ctx.contains(&scope)) {
                for chord in &b.chords {
                    if chord.as_slice() == seq {
                        return Dispatch::Action(b.action);
                    }
                    if chord.len() > seq.len() && chord.starts_with(seq) {
                        prefix = true;
                    }
                }
            }
            if prefix {
                return Dispatch::Pending;
            }
        }
        Dispatch::Unbound
    }

    /// Bindings active in `ctx` (context-specific first, then global), for help and hints.
    pub fn for_ctx(&self, ctx: Ctx) -> Vec<&Binding> {
        let mut out: Vec<&Binding> =
            self.bindings.iter().filter(|b| b.ctx.contains(&ctx) && !b.chords.is_empty()).collect();
        if ctx != Ctx::Global {
            out.extend(self.bindings.iter().filter(|b| b.ctx.contains(&Ctx::Global) && !b.chords.is_empty()));
        }
        out
    }

    /// `key desc` pairs for the hint bar of `ctx` (first chord only).
    pub fn hints(&self, ctx: Ctx) -> Vec<(String, &'static str)> {
        self.for_ctx(ctx)
            .into_iter()
            .filter(|b| b.hint)
            .filter_map(|b| b.chords.first().map(|c| (chord_text(c), b.desc)))
            .collect()
    }

    /// First chord of an action in a context, for messages (`press rr to refine`).
    pub fn key_for(&self, ctx: Ctx, action: ActionId) -> String {
        self.for_ctx(ctx)
            .into_iter()
            .find(|b| b.action == action)
            .and_then(|b| b.chords.first())
            .map(chord_text)
            .unwrap_or_else(|| format!(":{}", action.name()))
    }

    /// Markdown table of every binding, grouped by context (the README keys table).
    pub fn markdown(&self) -> String {
        let mut out = String::from("| Where | Keys | Action |\n|---|---|---|\n");
        for ctx in [Ctx::Global, Ctx::Workloads, Ctx::Detail, Ctx::Chain, Ctx::Step, Ctx::Diff, Ctx::Editor] {
            for b in self.bindings.iter().filter(|b| b.ctx.contains(&ctx) && !b.chords.is_empty()) {
                let keys = b
                    .chords
                    .iter()
                    .map(|c| format!("`{}`", chord_text(c).replace('|', "\\|")))
                    .collect::<Vec<_>>()
                    .join(" ");
                out.push_str(&format!("| {} | {} | {} |\n", ctx.title(), keys, b.desc));
            }
        }
        out
    }
}

fn parse_chord(s: &str) -> Result<Chord, String> {
    let chord: Result<Chord, String> = s.split_whitespace().map(Key::parse).collect();
    match chord {
        Ok(c) if c.is_empty() => Err("empty key".to_string()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    #[test]
    fn parses_keys_and_normalises_shift() {
        assert_eq!(k("G"), k("shift-g"));
        assert_eq!(k("ctrl-c").mods, KeyModifiers::CONTROL);
        assert_eq!(k("space").code, KeyCode::Char(' '));
        assert!(Key::parse("nonsense").is_err());
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&ev), k("G"));
    }

    #[test]
    fn chords_wait_then_fire_and_fall_back() {
        let (km, warnings) = Keymap::new(&BTreeMap::new());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(km.dispatch(Ctx::Workloads, &[], k("g")), Dispatch::Pending);
        assert_eq!(km.dispatch(Ctx::Workloads, &[k("g")], k("g")), Dispatch::Action(ActionId::Top));
        assert_eq!(km.dispatch(Ctx::Workloads, &[k("r")], k("r")), Dispatch::Action(ActionId::RefineRole));
        // a broken chord retries the last key on its own
        assert_eq!(km.dispatch(Ctx::Workloads, &[k("g")], k("j")), Dispatch::Action(ActionId::Down));
        assert_eq!(km.dispatch(Ctx::Diff, &[], k("x")), Dispatch::Unbound);
        // context-specific beats global: enter opens in the chain view, opens the diff there
        assert_eq!(km.dispatch(Ctx::Chain, &[], k("d")), Dispatch::Action(ActionId::OpenDiff));
    }

    #[test]
    fn overrides_replace_defaults_and_bad_entries_warn() {
        let mut o = BTreeMap::new();
        o.insert("down".to_string(), vec!["ctrl-n".to_string()]);
        o.insert("no_such_action".to_string(), vec!["x".to_string()]);
        o.insert("up".to_string(), vec!["bogus-key".to_string()]);
        o.insert("help".to_string(), vec!["j".to_string()]);
        let (km, warnings) = Keymap::new(&o);
        assert_eq!(km.dispatch(Ctx::Workloads, &[], k("ctrl-n")), Dispatch::Action(ActionId::Down));
        assert!(warnings.iter().any(|w| w.contains("no_such_action")));
        assert!(warnings.iter().any(|w| w.contains("bogus-key")));
        // `j` is now help; `k` still up (bad override ignored)
        assert_eq!(km.dispatch(Ctx::Workloads, &[], k("j")), Dispatch::Action(ActionId::Help));
        assert_eq!(km.dispatch(Ctx::Workloads, &[], k("k")), Dispatch::Action(ActionId::Up));
        let mut o2 = BTreeMap::new();
        o2.insert("mark".to_string(), vec!["q".to_string()]);
        let (_, w2) = Keymap::new(&o2);
        assert!(w2.iter().any(|w| w.contains("bound to both")), "{w2:?}");
    }

    #[test]
    fn help_and_hints_come_from_the_registry() {
        let (km, _) = Keymap::new(&BTreeMap::new());
        let hints = km.hints(Ctx::Diff);
        assert!(hints.iter().any(|(k, d)| k == "e" && *d == "edit suggestion"));
        assert!(!hints.iter().any(|(_, d)| *d == "mark"));
        let md = km.markdown();
        assert!(md.contains("| Workloads | `rr` | refine Role |"), "{md}");
        assert_eq!(km.key_for(Ctx::Workloads, ActionId::RefineRole), "rr");
    }
}
