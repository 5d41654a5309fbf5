//! The diff model behind the diff view: line diff of the current manifest against the
//! suggestion (similar, patience), grouped into hunks with 3 lines of context, paired into
//! side-by-side rows (removed and added lines of one change paired by position, as delta does),
//! with word-level emphasis inside paired lines when they are similar enough (token ratio ≥ 0.4,
//! delta's max-line-distance 0.6), plus the unified form and YAML highlighting per side.
//! Built once per (content, theme) off the UI task; rendering only reads it.
//!
//! Must not: draw (that is `view`), decide what to diff (that is `update`).

use similar::{Algorithm, DiffTag, TextDiff};

use super::highlight::{Segment, highlight_yaml};

pub const CONTEXT_LINES: usize = 3;

/// Byte ranges within one line.
pub type Ranges = Vec<(usize, usize)>;
/// Paired lines with a lower word similarity are shown as whole-line changes.
pub const MIN_PAIR_RATIO: f32 = 0.4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    HunkHeader,
    Context,
    /// A removed line paired with an added one.
    Changed,
    Removed,
    Added,
}

/// One side of a row: 0-based line index into the old or new text, plus emphasised byte ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub line: usize,
    pub emph: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: RowKind,
    pub left: Option<Side>,
    pub right: Option<Side>,
    /// For hunk headers: `@@ -a,b +c,d @@`.
    pub header: String,
}

/// A unified-diff line: ' ', '-', '+' or '@' (hunk header).
#[derive(Debug, Clone, PartialEq)]
pub struct ULine {
    pub marker: char,
    /// Old side for ' ' and '-', new side for '+'.
    pub side: Option<Side>,
    pub header: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiffModel {
    pub old_lines: Vec<String>,
    pub new_lines: Vec<String>,
    pub old_hl: Vec<Vec<Segment>>,
    pub new_hl: Vec<Vec<Segment>>,
    pub rows: Vec<Row>,
    pub unified: Vec<ULine>,
    /// Index of each hunk header in `rows` and in `unified`.
    pub hunks_rows: Vec<usize>,
    pub hunks_unified: Vec<usize>,
    pub added: usize,
    pub removed: usize,
    /// Longest line (chars) on each side, to size columns.
    pub old_width: usize,
    pub new_width: usize,
    /// Syntect theme the highlighting was made with.
    pub syntect: String,
}

impl DiffModel {
    pub fn build(old: &str, new: &str, syntect_theme: &str) -> DiffModel {
        let old_lines: Vec<String> = old.lines().map(str::to_string).collect();
        let new_lines: Vec<String> = new.lines().map(str::to_string).collect();
        let diff = TextDiff::configure().algorithm(Algorithm::Patience).diff_lines(old, new);
        let mut m = DiffModel {
            old_hl: highlight_yaml(old, syntect_theme),
            new_hl: highlight_yaml(new, syntect_theme),
            old_width: old_lines.iter().map(|l| l.chars().count()).max().unwrap_or(0),
            new_width: new_lines.iter().map(|l| l.chars().count()).max().unwrap_or(0),
            old_lines,
            new_lines,
            rows: Vec::new(),
            unified: Vec::new(),
            hunks_rows: Vec::new(),
            hunks_unified: Vec::new(),
            added: 0,
            removed: 0,
            syntect: syntect_theme.to_string(),
        };
        for group in diff.grouped_ops(CONTEXT_LINES) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
            let (os, oe) = (first.old_range().start, last.old_range().end);
            let (ns, ne) = (first.new_range().start, last.new_range().end);
            let header = format!("@@ -{},{} +{},{} @@", os + 1, oe - os, ns + 1, ne - ns);
            m.hunks_rows.push(m.rows.len());
            m.hunks_unified.push(m.unified.len());
            m.rows.push(Row { kind: RowKind::HunkHeader, left: None, right: None, header: header.clone() });
            m.unified.push(ULine { marker: '@', side: None, header });
            for op in group {
                let (tag, o, n) = op.as_tag_tuple();
                match tag {
                    DiffTag::Equal => {
                        for (i, j) in o.zip(n) {
                            m.rows.push(Row {
                                kind: RowKind::Context,
                                left: Some(Side { line: i, emph: Vec::new() }),
                                right: Some(Side { line: j, emph: Vec::new() }),
                                header: String::new(),
                            });
                            m.unified.push(ULine {
                                marker: ' ',
                                side: Some(Side { line: i, emph: Vec::new() }),
                                header: String::new(),
                            });
                        }
                    }
                    DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => m.push_change(o, n),
                }
            }
        }
        m
    }

    fn push_change(&mut self, o: std::ops::Range<usize>, n: std::ops::Range<usize>) {
        let (olen, nlen) = (o.len(), n.len());
        self.removed += olen;
        self.added += nlen;
        let mut lefts = Vec::new();
        let mut rights = Vec::new();
        for k in 0..olen.max(nlen) {
            let l = (k < olen).then(|| o.start + k);
            let r = (k < nlen).then(|| n.start + k);
            let (le, re) = match (l, r) {
                (Some(a), Some(b)) => word_emphasis(&self.old_lines[a], &self.new_lines[b]),
                _ => (Vec::new(), Vec::new()),
            };
            let left = l.map(|line| Side { line, emph: le });
            let right = r.map(|line| Side { line, emph: re });
            let kind = match (&left, &right) {
                (Some(_), Some(_)) => RowKind::Changed,
                (Some(_), None) => RowKind::Removed,
                _ => RowKind::Added,
            };
            if let Some(s) = &left {
                lefts.push(s.clone());
            }
            if let Some(s) = &right {
                rights.push(s.clone());
            }
            self.rows.push(Row { kind, left, right, header: String::new() });
        }
        for s in lefts {
            self.unified.push(ULine { marker: '-', side: Some(s), header: String::new() });
        }
        for s in rights {
            self.unified.push(ULine { marker: '+', side: Some(s), header: String::new() });
        }
    }

    /// Nothing removed or nothing added: one column is enough.
    pub fn one_sided(&self) -> bool {
        self.added == 0 || self.removed == 0
    }

    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0
    }

    /// Rows of the chosen layout.
    pub fn len(&self, side_by_side: bool) -> usize {
        if side_by_side { self.rows.len() } else { self.unified.len() }
    }

    pub fn hunks(&self, side_by_side: bool) -> &[usize] {
        if side_by_side { &self.hunks_rows } else { &self.hunks_unified }
    }

    /// Index of the next (or previous) hunk start relative to `from`.
    pub fn hunk_from(&self, side_by_side: bool, from: usize, forward: bool) -> Option<usize> {
        let h = self.hunks(side_by_side);
        if forward { h.iter().copied().find(|&i| i > from) } else { h.iter().rev().copied().find(|&i| i < from) }
    }
}

/// Tokens for word emphasis: runs of word characters, runs of whitespace, and single other
/// characters (delta tokenises on `\w+`). Returns byte ranges.
fn tokens(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let class = |c: char| {
            if c.is_alphanumeric() || c == '_' {
                0
            } else if c.is_whitespace() {
                1
            } else {
                2
            }
        };
        let k = class(c);
        let mut end = i + c.len_utf8();
        if k != 2 {
            while let Some(&(j, d)) = it.peek() {
                if class(d) != k {
                    break;
                }
                end = j + d.len_utf8();
                it.next();
            }
        }
        out.push((i, end));
    }
    out
}

/// Emphasised byte ranges on each side of a paired line, or none when the lines are too
/// different (then the whole line is the change).
pub fn word_emphasis(a: &str, b: &str) -> (Ranges, Ranges) {
    let (ta, tb) = (tokens(a), tokens(b));
    let wa: Vec<&str> = ta.iter().map(|&(s, e)| &a[s..e]).collect();
    let wb: Vec<&str> = tb.iter().map(|&(s, e)| &b[s..e]).collect();
    let ops = similar::capture_diff_slices(Algorithm::Myers, &wa, &wb);
    let same: usize = ops.iter().filter(|o| o.tag() == DiffTag::Equal).map(|o| o.old_range().len()).sum();
    let total = wa.len() + wb.len();
    let ratio = if total == 0 { 1.0 } else { (2 * same) as f32 / total as f32 };
    if ratio < MIN_PAIR_RATIO {
        return (Vec::new(), Vec::new());
    }
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for op in ops {
        let (tag, o, n) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            continue;
        }
        if !o.is_empty() {
            push_range(&mut l, ta[o.start].0, ta[o.end - 1].1, a);
        }
        if !n.is_empty() {
            push_range(&mut r, tb[n.start].0, tb[n.end - 1].1, b);
        }
    }
    (l, r)
}

/// Add a range (trimmed of surrounding whitespace), merging with the previous one when only
/// whitespace separates them; pure whitespace is not emphasised.
fn push_range(v: &mut Vec<(usize, usize)>, s: usize, e: usize, text: &str) {
    let Some(t) = text.get(s..e) else { return };
    if t.trim().is_empty() {
        return;
    }
    let s = s + (t.len() - t.trim_start().len());
    let e = e - (t.len() - t.trim_end().len());
    if let Some(last) = v.last_mut()
        && text.get(last.1..s).is_some_and(|gap| gap.trim().is_empty())
    {
        last.1 = e;
        return;
    }
    v.push((s, e));
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "kind: Role\nrules:\n- verbs: [get, list, delete]\n  resources: [pods]\n- verbs: ['*']\n  resources: [secrets]\n";
    const NEW: &str = "kind: Role\nrules:\n- verbs: [get, list]\n  resources: [pods]\n";

    #[test]
    fn pairs_changed_lines_and_emphasises_words() {
        let m = DiffModel::build(OLD, NEW, "none");
        assert_eq!((m.removed, m.added), (3, 1));
        assert_eq!(m.hunks_rows.len(), 1);
        let changed: Vec<&Row> = m.rows.iter().filter(|r| r.kind == RowKind::Changed).collect();
        assert_eq!(changed.len(), 1);
        let l = changed[0].left.as_ref().unwrap();
        assert_eq!(m.old_lines[l.line], "- verbs: [get, list, delete]");
        let emph: Vec<&str> = l.emph.iter().map(|&(s, e)| &m.old_lines[l.line][s..e]).collect();
        assert_eq!(emph, vec![", delete"]);
        assert_eq!(m.rows.iter().filter(|r| r.kind == RowKind::Removed).count(), 2);
        let markers: String = m.unified.iter().map(|u| u.marker).collect();
        assert_eq!(markers, "@  -+ --");
    }

    #[test]
    fn dissimilar_lines_get_no_word_emphasis() {
        let (l, r) = word_emphasis("apiVersion: v1", "- name: completely different words");
        assert!(l.is_empty() && r.is_empty());
    }

    #[test]
    fn create_diff_is_one_sided_and_hunks_navigate() {
        let m = DiffModel::build("", NEW, "none");
        assert!(m.one_sided());
        assert_eq!(m.added, 4);
        let long_old: String = (0..40).map(|i| format!("k{i}: v\n")).collect();
        let long_new = long_old.replace("k3: v", "k3: w").replace("k30: v", "k30: w");
        let m = DiffModel::build(&long_old, &long_new, "none");
        assert_eq!(m.hunks_rows.len(), 2);
        let second = m.hunk_from(true, m.hunks_rows[0], true).unwrap();
        assert_eq!(second, m.hunks_rows[1]);
        assert_eq!(m.hunk_from(true, second, false), Some(m.hunks_rows[0]));
        assert_eq!(m.hunk_from(true, second, true), None);
    }
}
