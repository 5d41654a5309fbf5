//! YAML syntax highlighting: a small syntect → ratatui adapter (syntect-tui is stuck on an older
//! ratatui). Produces owned styled segments per line; highlighting stops past
//! `MAX_HIGHLIGHT_CHARS` per line (the rest is plain) so pathological lines stay cheap.
//!
//! Must not: know about diffs or themes beyond the syntect theme name.

use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, ThemeSet};
use syntect::parsing::SyntaxSet;

pub const MAX_HIGHLIGHT_CHARS: usize = 400;

/// One styled piece of a line.
pub type Segment = (Style, String);

fn syntaxes() -> &'static SyntaxSet {
    static S: OnceLock<SyntaxSet> = OnceLock::new();
    S.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn themes() -> &'static ThemeSet {
    static T: OnceLock<ThemeSet> = OnceLock::new();
    T.get_or_init(ThemeSet::load_defaults)
}

/// syntect style → ratatui style (foreground only: the diff owns backgrounds).
pub fn convert(style: syntect::highlighting::Style) -> Style {
    let f = style.foreground;
    let mut s = Style::default().fg(Color::Rgb(f.r, f.g, f.b));
    if style.font_style.contains(FontStyle::BOLD) {
        s = s.add_modifier(Modifier::BOLD);
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        s = s.add_modifier(Modifier::ITALIC);
    }
    if style.font_style.contains(FontStyle::UNDERLINE) {
        s = s.add_modifier(Modifier::UNDERLINED);
    }
    s
}

/// Highlight `text` as YAML with the named syntect theme. `none` or an unknown theme gives
/// unstyled segments. One entry per line of `text` (without line endings).
pub fn highlight_yaml(text: &str, theme: &str) -> Vec<Vec<Segment>> {
    let plain = |text: &str| text.lines().map(|l| vec![(Style::default(), l.to_string())]).collect();
    let Some(theme) = themes().themes.get(theme) else {
        return plain(text);
    };
    let ss = syntaxes();
    let Some(syntax) = ss.find_syntax_by_extension("yaml") else {
        return plain(text);
    };
    let mut h = HighlightLines::new(syntax, theme);
    let mut out = Vec::new();
    for line in text.lines() {
        let (head, tail) = split_at_chars(line, MAX_HIGHLIGHT_CHARS);
        let with_nl = format!("{head}\n");
        let mut segs: Vec<Segment> = match h.highlight_line(&with_nl, ss) {
            Ok(ranges) => ranges
                .into_iter()
                .map(|(st, s)| (convert(st), s.trim_end_matches('\n').to_string()))
                .filter(|(_, s)| !s.is_empty())
                .collect(),
            Err(_) => vec![(Style::default(), head.to_string())],
        };
        if !tail.is_empty() {
            segs.push((Style::default(), tail.to_string()));
        }
        out.push(segs);
    }
    out
}

fn split_at_chars(s: &str, n: usize) -> (&str, &str) {
    match s.char_indices().nth(n) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_keys_differently_from_values_and_keeps_text() {
        let text = "kind: Role\nrules:\n- verbs: [get]\n";
        let lines = highlight_yaml(text, "base16-ocean.dark");
        assert_eq!(lines.len(), 3);
        for (l, orig) in lines.iter().zip(text.lines()) {
            assert_eq!(l.iter().map(|(_, s)| s.as_str()).collect::<String>(), orig);
        }
        let styles: std::collections::BTreeSet<String> = lines[0].iter().map(|(s, _)| format!("{:?}", s.fg)).collect();
        assert!(styles.len() >= 2, "key and value should differ: {:?}", lines[0]);
    }

    #[test]
    fn none_theme_is_plain_and_long_lines_are_cut() {
        let lines = highlight_yaml("a: b", "none");
        assert_eq!(lines, vec![vec![(Style::default(), "a: b".to_string())]]);
        let long = format!("k: {}", "é".repeat(1000));
        let lines = highlight_yaml(&long, "base16-ocean.dark");
        assert_eq!(lines[0].iter().map(|(_, s)| s.as_str()).collect::<String>(), long);
        assert_eq!(lines[0].last().unwrap().0, Style::default());
    }
}
