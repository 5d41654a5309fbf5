//! Themes: semantic colour slots (never raw colours in widgets) each paired with a syntect
//! theme for YAML highlighting. Built-in themes are `themes/*.toml` embedded at build time;
//! user themes are `<config dir>/themes/<name>.toml` (same format, any slot may be omitted and
//! falls back to the `base` theme, `dark` by default). `NO_COLOR` / `--no-color` select `mono`,
//! where every colour is the terminal default and meaning is carried by modifiers and text.
//!
//! Must not: read the environment or the config itself (the caller passes names and folders).

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// Built-in themes, embedded at compile time.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
];

/// Semantic slots. Widgets ask for a slot, the theme answers with a style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    Fg,
    Muted,
    Accent,
    Secondary,
    Label,
    Success,
    Warning,
    Error,
    RiskHigh,
    RiskMed,
    RiskLow,
    ExposurePublic,
    ExposureInternal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    /// Where it came from: `embedded` or a file path.
    pub source: String,
    /// syntect theme name from the default set, or `none` for no highlighting.
    pub syntect: String,
    pub bg: Color,
    pub fg: Color,
    pub muted: Color,
    pub accent: Color,
    pub secondary: Color,
    pub label: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub success: Color,
    pub warning: Color,
    pub error: Color,
    pub diff_add_fg: Color,
    pub diff_add_bg: Color,
    pub diff_del_fg: Color,
    pub diff_del_bg: Color,
    pub diff_ctx_fg: Color,
    pub risk_high: Color,
    pub risk_med: Color,
    pub risk_low: Color,
    pub exposure_public: Color,
    pub exposure_internal: Color,
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("{source_name}: {message}")]
    Parse { source_name: String, message: String },
    #[error("unknown theme `{0}`")]
    Unknown(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    base: Option<String>,
    syntect: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, String>,
}

impl Theme {
    fn blank(name: &str) -> Theme {
        let r = Color::Reset;
        Theme {
            name: name.to_string(),
            source: "embedded".to_string(),
            syntect: "none".to_string(),
            bg: r,
            fg: r,
            muted: r,
            accent: r,
            secondary: r,
            label: r,
            selection_fg: r,
            selection_bg: r,
            success: r,
            warning: r,
            error: r,
            diff_add_fg: r,
            diff_add_bg: r,
            diff_del_fg: r,
            diff_del_bg: r,
            diff_ctx_fg: r,
            risk_high: r,
            risk_med: r,
            risk_low: r,
            exposure_public: r,
            exposure_internal: r,
        }
    }

    /// True when no slot carries a colour (mono): emphasis must come from modifiers.
    pub fn is_mono(&self) -> bool {
        self.syntect == "none"
            && [self.fg, self.selection_bg, self.selection_fg, self.diff_add_bg, self.diff_del_bg, self.accent]
                .iter()
                .all(|c| *c == Color::Reset)
    }

    fn slot_mut(&mut self, key: &str) -> Option<&mut Color> {
        Some(match key {
            "bg" => &mut self.bg,
            "fg" => &mut self.fg,
            "muted" => &mut self.muted,
            "accent" => &mut self.accent,
            "secondary" => &mut self.secondary,
            "label" => &mut self.label,
            "selection_fg" => &mut self.selection_fg,
            "selection_bg" => &mut self.selection_bg,
            "success" => &mut self.success,
            "warning" => &mut self.warning,
            "error" => &mut self.error,
            "diff_add_fg" => &mut self.diff_add_fg,
            "diff_add_bg" => &mut self.diff_add_bg,
            "diff_del_fg" => &mut self.diff_del_fg,
            "diff_del_bg" => &mut self.diff_del_bg,
            "diff_ctx_fg" => &mut self.diff_ctx_fg,
            "risk_high" => &mut self.risk_high,
            "risk_med" => &mut self.risk_med,
            "risk_low" => &mut self.risk_low,
            "exposure_public" => &mut self.exposure_public,
            "exposure_internal" => &mut self.exposure_internal,
            _ => return None,
        })
    }

    /// Parse a theme file. `resolve_base` gives the theme named in `base` (or `dark`).
    pub fn parse(
        text: &str,
        source_name: &str,
        resolve_base: &dyn Fn(&str) -> Option<Theme>,
    ) -> Result<Theme, ThemeError> {
        let perr = |message: String| ThemeError::Parse { source_name: source_name.to_string(), message };
        let file: ThemeFile = toml::from_str(text).map_err(|e| perr(e.to_string()))?;
        let name = file.name.clone().unwrap_or_else(|| {
            Path::new(source_name).file_stem().and_then(|s| s.to_str()).unwrap_or("custom").to_string()
        });
        let mut theme = match &file.base {
            Some(b) => resolve_base(b).ok_or_else(|| perr(format!("unknown base theme `{b}`")))?,
            None => resolve_base("dark").unwrap_or_else(|| Theme::blank(&name)),
        };
        theme.name = name;
        if let Some(s) = file.syntect {
            theme.syntect = s;
        }
        for (k, v) in &file.colors {
            let c = parse_color(v).ok_or_else(|| perr(format!("colors.{k}: bad colour `{v}`")))?;
            *theme.slot_mut(k).ok_or_else(|| perr(format!("unknown colour slot `{k}`")))? = c;
        }
        Ok(theme)
    }

    pub fn slot(&self, slot: Slot) -> Style {
        let c = match slot {
            Slot::Fg => self.fg,
            Slot::Muted => self.muted,
            Slot::Accent => self.accent,
            Slot::Secondary => self.secondary,
            Slot::Label => self.label,
            Slot::Success => self.success,
            Slot::Warning => self.warning,
            Slot::Error => self.error,
            Slot::RiskHigh => self.risk_high,
            Slot::RiskMed => self.risk_med,
            Slot::RiskLow => self.risk_low,
            Slot::ExposurePublic => self.exposure_public,
            Slot::ExposureInternal => self.exposure_internal,
        };
        let style = Style::default().fg(c);
        match slot {
            Slot::RiskHigh | Slot::Error | Slot::ExposurePublic | Slot::Label => style.add_modifier(Modifier::BOLD),
            Slot::Muted if self.is_mono() => style.add_modifier(Modifier::DIM),
            _ => style,
        }
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }

    /// The selected row: colours where the theme has them, always BOLD, REVERSED in mono.
    pub fn selection(&self) -> Style {
        let s = Style::default().fg(self.selection_fg).bg(self.selection_bg).add_modifier(Modifier::BOLD);
        if self.selection_bg == Color::Reset { s.add_modifier(Modifier::REVERSED) } else { s }
    }

    pub fn border(&self) -> Style {
        Style::default().fg(self.muted)
    }

    pub fn title(&self) -> Style {
        Style::default().fg(self.accent).add_modifier(Modifier::BOLD)
    }

    pub fn diff_add(&self) -> Style {
        Style::default().fg(self.diff_add_fg).bg(self.diff_add_bg)
    }

    pub fn diff_del(&self) -> Style {
        Style::default().fg(self.diff_del_fg).bg(self.diff_del_bg)
    }

    /// Emphasis for changed words inside a changed line: works without colour too.
    pub fn emphasis(&self) -> Modifier {
        Modifier::BOLD | Modifier::UNDERLINED
    }
}

/// `#rrggbb`, `reset`/`default`, a named ANSI colour (`red`, `lightblue`...) or an index `123`.
pub fn parse_color(s: &str) -> Option<Color> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(hex) = t.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    if let Ok(i) = t.parse::<u8>() {
        return Some(Color::Indexed(i));
    }
    Some(match t.as_str() {
        "reset" | "default" | "none" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

/// All themes available: built-ins, then user files from `user_dir` (a user file with a
/// built-in's name replaces it). Errors in user files become warnings.
#[derive(Debug, Clone)]
pub struct ThemeSet {
    pub themes: Vec<Theme>,
    pub warnings: Vec<String>,
}

impl ThemeSet {
    pub fn load(user_dir: Option<&Path>) -> ThemeSet {
        let mut themes: Vec<Theme> = Vec::new();
        let mut warnings = Vec::new();
        for (name, text) in BUILTIN {
            let snapshot = themes.clone();
            let resolve = |n: &str| snapshot.iter().find(|t| t.name == n).cloned();
            match Theme::parse(text, name, &resolve) {
                Ok(t) => themes.push(t),
                Err(e) => warnings.push(format!("built-in theme: {e}")),
            }
        }
        if let Some(dir) = user_dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut files: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for path in files {
                let shown = path.display().to_string();
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        warnings.push(format!("{shown}: {e}"));
                        continue;
                    }
                };
                let snapshot = themes.clone();
                let resolve = |n: &str| snapshot.iter().find(|t| t.name == n).cloned();
                match Theme::parse(&text, &shown, &resolve) {
                    Ok(mut t) => {
                        t.source = shown;
                        themes.retain(|x| x.name != t.name);
                        themes.push(t);
                    }
                    Err(e) => warnings.push(e.to_string()),
                }
            }
        }
        ThemeSet { themes, warnings }
    }

    pub fn get(&self, name: &str) -> Result<Theme, ThemeError> {
        self.themes.iter().find(|t| t.name == name).cloned().ok_or_else(|| ThemeError::Unknown(name.to_string()))
    }

    pub fn names(&self) -> Vec<String> {
        self.themes.iter().map(|t| t.name.clone()).collect()
    }

    /// The theme after `current` in order (wrapping).
    pub fn next_after(&self, current: &str) -> Option<Theme> {
        let i = self.themes.iter().position(|t| t.name == current).map(|i| i + 1).unwrap_or(0);
        self.themes.get(i % self.themes.len().max(1)).cloned()
    }
}

/// Whether colours are off: `--no-color`, or `NO_COLOR` set to a non-empty value.
pub fn colour_disabled(flag: bool, no_color_env: Option<&str>) -> bool {
    flag || no_color_env.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_pair_a_syntect_theme() {
        let set = ThemeSet::load(None);
        assert!(set.warnings.is_empty(), "{:?}", set.warnings);
        assert_eq!(set.names(), vec!["dark", "light", "mono", "colorblind"]);
        let ts = syntect::highlighting::ThemeSet::load_defaults();
        for t in &set.themes {
            assert!(t.syntect == "none" || ts.themes.contains_key(&t.syntect), "{} → {}", t.name, t.syntect);
        }
        let mono = set.get("mono").unwrap();
        assert!(mono.is_mono());
        assert!(mono.selection().add_modifier.contains(Modifier::REVERSED));
        assert!(!set.get("dark").unwrap().is_mono());
    }

    #[test]
    fn colourblind_theme_avoids_red_green_diffs() {
        let t = ThemeSet::load(None).get("colorblind").unwrap();
        let is_blueish = |c: Color| matches!(c, Color::Rgb(r, _, b) if b > r);
        let is_orangeish = |c: Color| matches!(c, Color::Rgb(r, g, b) if r > b && r > g);
        assert!(is_blueish(t.diff_add_fg), "{:?}", t.diff_add_fg);
        assert!(is_orangeish(t.diff_del_fg), "{:?}", t.diff_del_fg);
    }

    #[test]
    fn user_theme_overrides_slots_over_base_and_bad_files_warn() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.toml"), "base = \"light\"\n[colors]\naccent = \"#ff0000\"\n").unwrap();
        std::fs::write(dir.path().join("broken.toml"), "[colors]\nnope = \"#ff0000\"\n").unwrap();
        let set = ThemeSet::load(Some(dir.path()));
        let mine = set.get("mine").unwrap();
        let light = set.get("light").unwrap();
        assert_eq!(mine.accent, Color::Rgb(255, 0, 0));
        assert_eq!(mine.fg, light.fg);
        assert_eq!(mine.syntect, light.syntect);
        assert!(mine.source.ends_with("mine.toml"));
        assert!(set.warnings.iter().any(|w| w.contains("broken.toml") && w.contains("nope")), "{:?}", set.warnings);
    }

    #[test]
    fn no_color_rules() {
        assert!(colour_disabled(true, None));
        assert!(colour_disabled(false, Some("1")));
        assert!(!colour_disabled(false, Some("")));
        assert!(!colour_disabled(false, None));
        assert_eq!(parse_color("#0a0b0c"), Some(Color::Rgb(10, 11, 12)));
        assert_eq!(parse_color("bogus"), None);
    }
}
