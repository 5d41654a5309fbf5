//! Rendering: draws `&State` into a frame. Every view (workloads, detail, chain progress, step
//! inspector, diff, editor) and overlay (help, action menu, confirm) lives here. Styles come only
//! from the theme's semantic slots; meaning is always also in text (`+`/`-` markers, `[HIGH]`
//! badges, `>` selection marker) so the mono theme loses nothing.
//!
//! Must not: mutate state, do I/O, or compute per-row data (rows are precomputed).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use crate::model::{Severity, StepStatus};

use super::diff::{DiffModel, RowKind, Side};
use super::highlight::Segment;
use super::rows::{COLUMNS, col};
use super::state::{DiffState, InputKind, JobStatus, MENU, Overlay, Route, State, ToastLevel};
use super::theme::{Slot, Theme};

/// Width of the verdict panel beside the diff on wide terminals.
const VERDICT_WIDTH: u16 = 40;

pub fn render(s: &State, f: &mut Frame) {
    let t = &s.theme;
    let area = f.area();
    f.render_widget(Block::default().style(t.base()), area);
    let banner = u16::from(s.banner.is_some());
    let [header, banner_area, main, hints, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner),
        Constraint::Min(1),
        Constraint::Length(2),
        Constraint::Length(1),
    ])
    .areas(area);
    render_header(s, f, header);
    if let Some(b) = &s.banner {
        f.render_widget(
            Paragraph::new(Line::from(vec![Span::styled(format!(" [!] {b}"), t.slot(Slot::Warning))])),
            banner_area,
        );
    }
    match s.route() {
        Route::Workloads => render_workloads(s, f, main),
        Route::Detail => render_detail(s, f, main),
        Route::Chain => render_chain(s, f, main),
        Route::Step => render_step(s, f, main),
        Route::Diff => render_diff(s, f, main),
        Route::Editor => render_editor(s, f, main),
    }
    render_hints(s, f, hints);
    render_status(s, f, status);
    match &s.overlay {
        Some(Overlay::Help { scroll }) => render_help(s, f, area, *scroll),
        Some(Overlay::Menu { selected }) => render_menu(s, f, area, *selected),
        Some(Overlay::ConfirmOverwrite { path }) => {
            let text = format!("{} exists. Overwrite? [y]es / [n]o", path.display());
            let r = centered(area, (text.chars().count() as u16 + 4).min(area.width), 3);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(text).style(t.base()).block(
                    Block::default().borders(Borders::ALL).title(" confirm ").border_style(t.slot(Slot::Warning)),
                ),
                r,
            );
        }
        None => {}
    }
}

fn render_header(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let mut spans = vec![Span::styled(" kubeguard ", t.title().add_modifier(Modifier::REVERSED))];
    let sep = || Span::styled(" │ ", t.slot(Slot::Muted));
    spans.push(Span::styled(
        format!(" {}", if s.source_label.is_empty() { "…" } else { &s.source_label }),
        t.slot(Slot::Fg),
    ));
    spans.push(sep());
    spans.push(Span::styled(format!("ns: {}", s.scope.namespace.as_deref().unwrap_or("all")), t.slot(Slot::Accent)));
    if let Some(c) = &s.context {
        spans.push(sep());
        spans.push(Span::styled(format!("ctx: {c}"), t.slot(Slot::Fg)));
    }
    spans.push(sep());
    spans.push(Span::styled(format!("engine: {}", s.settings.engine), t.slot(Slot::Muted)));
    if s.settings.read_only {
        spans.push(sep());
        spans.push(Span::styled("read-only", t.slot(Slot::Muted)));
    }
    if !s.filter.text.is_empty() {
        spans.push(sep());
        spans.push(Span::styled(format!("/{}", s.filter.text), t.slot(Slot::Label)));
    }
    if !s.marked.is_empty() {
        spans.push(sep());
        spans.push(Span::styled(format!("{} marked", s.marked.len()), t.slot(Slot::Label)));
    }
    spans.push(sep());
    spans.push(if s.busy() {
        Span::styled(s.loading.clone().unwrap_or_else(|| "[BUSY]".to_string()), t.slot(Slot::Warning))
    } else {
        Span::styled("[IDLE]", t.slot(Slot::Muted))
    });
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn block<'a>(t: &Theme, title: String) -> Block<'a> {
    Block::default().borders(Borders::ALL).border_style(t.border()).title(Span::styled(title, t.title()))
}

fn sev_slot(s: Option<Severity>) -> Slot {
    match s {
        Some(Severity::Critical | Severity::High) => Slot::RiskHigh,
        Some(Severity::Medium) => Slot::RiskMed,
        Some(_) => Slot::RiskLow,
        None => Slot::Muted,
    }
}

/// Column widths; columns are dropped by priority until the rest fit.
fn visible_columns(width: u16) -> Vec<(usize, u16)> {
    let widths: [u16; 12] = [12, 11, 16, 12, 16, 5, 5, 10, 18, 6, 5, 7];
    let priority = [
        col::NAME,
        col::NAMESPACE,
        col::RISK,
        col::NETPOL,
        col::SA,
        col::KIND,
        col::RULES,
        col::API,
        col::ROLES,
        col::PEERS,
        col::SERVICES,
        col::WINDOW,
    ];
    let avail = width.saturating_sub(2 + 3);
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for c in priority {
        let w = widths[c] + 1;
        if used + w <= avail {
            used += w;
            chosen.push(c);
        }
    }
    chosen.sort_unstable();
    let spare = avail.saturating_sub(used);
    chosen.into_iter().map(|c| (c, widths[c] + if c == col::NAME { spare } else { 0 })).collect()
}

fn render_workloads(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let title = format!(" Workloads ({}/{}) ", s.view.len(), s.rows.len());
    let cols = visible_columns(area.width);
    let mut widths = vec![Constraint::Length(2)];
    widths.extend(cols.iter().map(|(_, w)| Constraint::Length(*w)));
    let header = Row::new(
        std::iter::once(Cell::from("")).chain(cols.iter().map(|(c, _)| Cell::from(COLUMNS[*c]))).collect::<Vec<_>>(),
    )
    .style(t.slot(Slot::Label));
    let height = usize::from(area.height.saturating_sub(3));
    let end = (s.offset + height).min(s.view.len());
    let rows = s.view[s.offset.min(end)..end].iter().enumerate().map(|(k, &ri)| {
        let r = &s.rows[ri];
        let selected = s.offset + k == s.selected;
        let marked = s.marked.contains(&ri);
        let lead = format!("{}{}", if selected { ">" } else { " " }, if marked { "*" } else { " " });
        let mut cells = vec![Cell::from(lead)];
        for (c, _) in &cols {
            let text = r.cells[*c].as_str();
            let cell = match *c {
                col::RISK => Cell::from(Span::styled(text, t.slot(sev_slot(r.risk)))),
                col::SERVICES if r.public => Cell::from(Span::styled(text, t.slot(Slot::ExposurePublic))),
                col::NETPOL if text.contains("open") => Cell::from(Span::styled(text, t.slot(Slot::Warning))),
                _ => Cell::from(text),
            };
            cells.push(cell);
        }
        let row = Row::new(cells);
        if selected {
            row.style(t.selection())
        } else if marked {
            row.style(t.slot(Slot::Secondary))
        } else {
            row
        }
    });
    let mut tb = block(t, title);
    if s.rows.is_empty() {
        let msg = if s.loading.is_some() { "loading…" } else { "no workloads in this snapshot" };
        f.render_widget(Paragraph::new(msg).style(t.slot(Slot::Muted)).block(tb), area);
        return;
    }
    if s.view.is_empty() {
        tb = tb.title_bottom(Span::styled(" no match: esc clears the filter ", t.slot(Slot::Warning)));
    }
    f.render_widget(Table::new(rows, widths).header(header).block(tb).column_spacing(1), area);
}

fn dline<'a>(t: &Theme, l: &'a [(Slot, String)]) -> Line<'a> {
    Line::from(l.iter().map(|(slot, text)| Span::styled(text.as_str(), t.slot(*slot))).collect::<Vec<_>>())
}

fn render_detail(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let Some((i, lines)) = &s.detail else { return };
    let title = s.rows.get(*i).map(|r| format!(" {} ", r.id)).unwrap_or_default();
    let height = usize::from(area.height.saturating_sub(2));
    let start = s.detail_scroll.min(lines.len().saturating_sub(1));
    let text: Vec<Line> = lines.iter().skip(start).take(height).map(|l| dline(t, l)).collect();
    f.render_widget(Paragraph::new(text).block(block(t, title)), area);
}

fn step_badge(st: &Option<StepStatus>) -> (&'static str, Slot) {
    match st {
        None | Some(StepStatus::Queued) => ("queued", Slot::Muted),
        Some(StepStatus::Running) => ("running", Slot::Warning),
        Some(StepStatus::Done) => ("done", Slot::Success),
        Some(StepStatus::Failed(_)) => ("FAILED", Slot::Error),
        Some(StepStatus::Cancelled) => ("cancelled", Slot::Muted),
    }
}

fn job_slot(st: &JobStatus) -> Slot {
    match st {
        JobStatus::Queued => Slot::Muted,
        JobStatus::Running => Slot::Warning,
        JobStatus::Done => Slot::Success,
        JobStatus::Failed(_) => Slot::Error,
        JobStatus::Cancelled => Slot::Muted,
    }
}

fn secs(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

fn render_chain(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let [list, steps] = if area.width >= 100 {
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area)
    };
    let lines: Vec<Line> = s
        .jobs
        .values()
        .enumerate()
        .map(|(i, j)| {
            let elapsed = match (&j.status, j.started_ms) {
                (JobStatus::Running, Some(st)) => s.now_ms.saturating_sub(st),
                _ => j.elapsed_ms,
            };
            let sel = i == s.chain_selected;
            let line = Line::from(vec![
                Span::raw(if sel { "> " } else { "  " }),
                Span::styled(format!("[{:<9}] ", j.status.badge()), t.slot(job_slot(&j.status))),
                Span::raw(format!("{} ", j.target)),
                Span::styled(secs(elapsed), t.slot(Slot::Muted)),
            ]);
            if sel { line.style(t.selection()) } else { line }
        })
        .collect();
    let start = s.chain_selected.saturating_sub(usize::from(list.height.saturating_sub(3)));
    f.render_widget(
        Paragraph::new(lines.into_iter().skip(start).collect::<Vec<_>>())
            .block(block(t, format!(" Chains ({}) ", s.jobs.len()))),
        list,
    );
    let Some(job) = s.selected_job() else { return };
    let mut out: Vec<Line> = Vec::new();
    if let JobStatus::Failed(e) = &job.status {
        out.push(Line::from(Span::styled(format!("error: {e}"), t.slot(Slot::Error))));
    }
    for (i, st) in job.steps.iter().enumerate() {
        let (badge, slot) = step_badge(&st.status);
        let mut spans = vec![
            Span::styled(format!("[{badge:<9}] "), t.slot(slot)),
            Span::raw(format!("{}. {} ", i + 1, st.name)),
            Span::styled(secs(st.elapsed_ms), t.slot(Slot::Muted)),
        ];
        if st.prompt_tokens + st.completion_tokens > 0 {
            spans.push(Span::styled(
                format!("  tokens {}→{}", st.prompt_tokens, st.completion_tokens),
                t.slot(Slot::Muted),
            ));
        }
        out.push(Line::from(spans));
        for n in &st.notes {
            out.push(Line::from(Span::styled(format!("      note: {n}"), t.slot(Slot::Muted))));
        }
    }
    // the streamed text of the latest step that has any, tail only
    if let Some(st) = job.steps.iter().rev().find(|st| !st.answer.is_empty()) {
        out.push(Line::from(Span::styled(format!("── {} (streamed) ──", st.name), t.slot(Slot::Label))));
        let room = usize::from(steps.height.saturating_sub(2)).saturating_sub(out.len()).max(1);
        let lines: Vec<&str> = st.answer.lines().collect();
        for l in &lines[lines.len().saturating_sub(room)..] {
            out.push(Line::from(Span::raw(*l)));
        }
    }
    if let Some(r) = &job.result {
        out.push(Line::from(Span::styled(
            format!(
                "result: {} manifest(s) by {}, coverage {}/{}",
                r.manifests.len(),
                r.engine,
                r.verdict.covered,
                r.verdict.observed
            ),
            t.slot(Slot::Success),
        )));
    }
    f.render_widget(Paragraph::new(out).block(block(t, " Steps ".to_string())), steps);
}

fn render_step(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let Some(job) = s.selected_job() else { return };
    let mut out: Vec<Line> = Vec::new();
    if job.steps.is_empty() {
        out.push(Line::from(Span::styled("this engine reported no steps", t.slot(Slot::Muted))));
    }
    for (i, st) in job.steps.iter().enumerate() {
        let (badge, slot) = step_badge(&st.status);
        out.push(Line::from(vec![
            Span::styled(format!("## {}. {} ", i + 1, st.name), t.slot(Slot::Label)),
            Span::styled(format!("[{badge}]"), t.slot(slot)),
        ]));
        if !st.template_source.is_empty() {
            out.push(Line::from(Span::styled(format!("template: {}", st.template_source), t.slot(Slot::Muted))));
        }
        out.push(Line::from(Span::styled("--- prompt ---", t.slot(Slot::Secondary))));
        if st.prompt.is_empty() {
            out.push(Line::from(Span::styled("(no prompt: deterministic step)", t.slot(Slot::Muted))));
        }
        out.extend(st.prompt.lines().map(|l| Line::from(l.to_string())));
        out.push(Line::from(Span::styled("--- answer ---", t.slot(Slot::Secondary))));
        out.extend(st.answer.lines().map(|l| Line::from(l.to_string())));
        out.push(Line::from(""));
    }
    let scroll = s.step_scroll.min(out.len().saturating_sub(1)) as u16;
    f.render_widget(
        Paragraph::new(out).scroll((scroll, 0)).wrap(Wrap { trim: false }).block(block(t, format!(" {} ", job.target))),
        area,
    );
}

/// Styled spans of one side's line: highlighting, the change background, and emphasis on the
/// changed words.
fn side_spans<'a>(
    t: &Theme,
    hl: &'a [Vec<Segment>],
    lines: &'a [String],
    side: &Side,
    change: Option<Style>,
) -> Vec<Span<'a>> {
    let fallback;
    let segs: &[Segment] = match hl.get(side.line) {
        Some(s) => s,
        None => {
            fallback = vec![(Style::default(), lines.get(side.line).cloned().unwrap_or_default())];
            return fallback.into_iter().map(|(st, s)| Span::styled(s, st)).collect();
        }
    };
    let mut out = Vec::new();
    let mut offset = 0usize;
    for (style, text) in segs {
        let mut st = *style;
        if let Some(c) = change {
            st = st.bg(c.bg.unwrap_or(ratatui::style::Color::Reset));
            if t.syntect == "none" {
                st = st.fg(c.fg.unwrap_or(ratatui::style::Color::Reset));
            }
        }
        let (start, end) = (offset, offset + text.len());
        offset = end;
        let mut cut = start;
        for &(es, ee) in &side.emph {
            if ee <= cut || es >= end {
                continue;
            }
            let (a, b) = (es.max(cut), ee.min(end));
            if a > cut
                && let Some(p) = text.get(cut - start..a - start)
            {
                out.push(Span::styled(p, st));
            }
            if let Some(p) = text.get(a - start..b - start) {
                out.push(Span::styled(p, st.add_modifier(t.emphasis())));
            }
            cut = b;
        }
        if cut < end
            && let Some(p) = text.get(cut - start..)
        {
            out.push(Span::styled(p, st));
        }
    }
    out
}

fn render_diff(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let Some(d) = &s.diff else { return };
    let wide = area.width >= 100;
    let [diff_area, verdict_area] = if wide {
        Layout::horizontal([Constraint::Min(20), Constraint::Length(VERDICT_WIDTH)]).areas(area)
    } else {
        Layout::vertical([Constraint::Min(5), Constraint::Length(7)]).areas(area)
    };
    let title = format!(
        " {} {}{} ",
        d.target,
        if d.edited { "[EDITED] " } else { "" },
        d.model.as_ref().map(|m| format!("+{} -{}", m.added, m.removed)).unwrap_or_default()
    );
    match &d.model {
        None => f.render_widget(
            Paragraph::new("building diff…").style(t.slot(Slot::Muted)).block(block(t, title)),
            diff_area,
        ),
        Some(m) if m.is_empty() => f.render_widget(
            Paragraph::new("no change: the suggestion equals the current manifest")
                .style(t.slot(Slot::Muted))
                .block(block(t, title)),
            diff_area,
        ),
        Some(m) => {
            let sbs = s.side_by_side_active() && !m.one_sided();
            let inner_h = usize::from(diff_area.height.saturating_sub(2));
            let inner_w = diff_area.width.saturating_sub(2);
            let lines =
                if sbs { sbs_lines(t, m, d.scroll, inner_h, inner_w) } else { unified_lines(t, m, d.scroll, inner_h) };
            let mode = if sbs { "side-by-side" } else { "unified" };
            f.render_widget(
                Paragraph::new(lines)
                    .block(block(t, title).title_bottom(Span::styled(format!(" {mode} "), t.slot(Slot::Muted)))),
                diff_area,
            );
        }
    }
    render_verdict(s, d, f, verdict_area);
}

fn marker(t: &Theme, c: char) -> Span<'static> {
    match c {
        '+' => Span::styled("+", t.diff_add().add_modifier(Modifier::BOLD)),
        '-' => Span::styled("-", t.diff_del().add_modifier(Modifier::BOLD)),
        _ => Span::raw(" "),
    }
}

fn unified_lines<'a>(t: &Theme, m: &'a DiffModel, scroll: usize, height: usize) -> Vec<Line<'a>> {
    m.unified
        .iter()
        .skip(scroll)
        .take(height)
        .map(|u| match (&u.side, u.marker) {
            (None, _) => Line::from(Span::styled(u.header.as_str(), t.slot(Slot::Accent))),
            (Some(side), '+') => {
                let mut v = vec![
                    Span::styled(format!("{:>4} ", side.line + 1), t.slot(Slot::Muted)),
                    marker(t, '+'),
                    Span::raw(" "),
                ];
                v.extend(side_spans(t, &m.new_hl, &m.new_lines, side, Some(t.diff_add())));
                Line::from(v)
            }
            (Some(side), c) => {
                let change = (c == '-').then(|| t.diff_del());
                let mut v = vec![
                    Span::styled(format!("{:>4} ", side.line + 1), t.slot(Slot::Muted)),
                    marker(t, c),
                    Span::raw(" "),
                ];
                v.extend(side_spans(t, &m.old_hl, &m.old_lines, side, change));
                Line::from(v)
            }
        })
        .collect()
}

fn pad_to(spans: &mut Vec<Span<'_>>, width: usize) {
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    if used < width {
        spans.push(Span::raw(" ".repeat(width - used)));
    } else if used > width {
        // trim from the end, keeping styles
        let mut left = width;
        let mut out = Vec::new();
        for sp in spans.drain(..) {
            if left == 0 {
                break;
            }
            let n = sp.content.chars().count();
            if n <= left {
                left -= n;
                out.push(sp);
            } else {
                let cut: String = sp.content.chars().take(left.saturating_sub(1)).collect();
                out.push(Span::styled(format!("{cut}…"), sp.style));
                left = 0;
            }
        }
        *spans = out;
    }
}

fn sbs_lines<'a>(t: &Theme, m: &'a DiffModel, scroll: usize, height: usize, width: u16) -> Vec<Line<'a>> {
    // same content width on both sides; cap at the longest line so wide screens keep no gulf
    let half = usize::from(width.saturating_sub(1)) / 2;
    let longest = m.old_width.max(m.new_width) + 7;
    let side_w = half.min(longest).max(8);
    m.rows
        .iter()
        .skip(scroll)
        .take(height)
        .map(|r| {
            if r.kind == RowKind::HunkHeader {
                return Line::from(Span::styled(r.header.as_str(), t.slot(Slot::Accent)));
            }
            let (lm, rm) = match r.kind {
                RowKind::Changed => ('-', '+'),
                RowKind::Removed => ('-', ' '),
                RowKind::Added => (' ', '+'),
                _ => (' ', ' '),
            };
            let mut left: Vec<Span> = Vec::new();
            if let Some(side) = &r.left {
                left.push(Span::styled(format!("{:>4} ", side.line + 1), t.slot(Slot::Muted)));
                left.push(marker(t, lm));
                left.push(Span::raw(" "));
                left.extend(side_spans(t, &m.old_hl, &m.old_lines, side, (lm == '-').then(|| t.diff_del())));
            }
            pad_to(&mut left, side_w);
            let mut right: Vec<Span> = Vec::new();
            if let Some(side) = &r.right {
                right.push(Span::styled(format!("{:>4} ", side.line + 1), t.slot(Slot::Muted)));
                right.push(marker(t, rm));
                right.push(Span::raw(" "));
                right.extend(side_spans(t, &m.new_hl, &m.new_lines, side, (rm == '+').then(|| t.diff_add())));
            }
            pad_to(&mut right, side_w);
            let mut all = left;
            all.push(Span::styled("│", t.border()));
            all.extend(right);
            Line::from(all)
        })
        .collect()
}

fn render_verdict(s: &State, d: &DiffState, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let v = &d.verdict;
    let mut out: Vec<Line> = Vec::new();
    let full = v.is_complete_coverage();
    out.push(Line::from(vec![
        Span::styled("coverage ", t.slot(Slot::Label)),
        Span::styled(
            format!("{}/{} {}", v.covered, v.observed, if full { "[OK]" } else { "[GAPS]" }),
            t.slot(if full { Slot::Success } else { Slot::Error }),
        ),
    ]));
    if d.checking {
        out.push(Line::from(Span::styled("re-checking…", t.slot(Slot::Warning))));
    }
    if let Some(n) = &d.guard_note {
        out.push(Line::from(Span::styled(n.as_str(), t.slot(Slot::Muted))));
    }
    let list = |out: &mut Vec<Line>, title: &str, items: Vec<(String, Slot)>| {
        if items.is_empty() {
            return;
        }
        out.push(Line::from(Span::styled(format!("{title} ({})", items.len()), t.slot(Slot::Label))));
        for (i, slot) in items {
            out.push(Line::from(Span::styled(format!(" {i}"), t.slot(slot))));
        }
    };
    list(&mut out, "uncovered", v.uncovered.iter().map(|u| (format!("[BREAKS] {u}"), Slot::Error)).collect());
    list(&mut out, "excess", v.excess.iter().map(|e| (format!("[EXCESS] {e}"), Slot::Warning)).collect());
    list(
        &mut out,
        "risks removed",
        v.risks_removed
            .iter()
            .map(|r| (format!("[{}] {}", super::facts::severity_badge(Some(r.severity)), r.message), Slot::Success))
            .collect(),
    );
    list(
        &mut out,
        "removed",
        d.removed
            .iter()
            .map(|(r, sev)| (format!("[{}] {r}", super::facts::severity_badge(Some(*sev))), sev_slot(Some(*sev))))
            .collect(),
    );
    list(
        &mut out,
        "risks left",
        v.risks
            .iter()
            .map(|r| {
                (
                    format!("[{}] {}", super::facts::severity_badge(Some(r.severity)), r.message),
                    sev_slot(Some(r.severity)),
                )
            })
            .collect(),
    );
    list(&mut out, "repairs", v.repairs.iter().map(|r| (r.clone(), Slot::Muted)).collect());
    if let Some(p) = &d.saved_to {
        out.push(Line::from(Span::styled(format!("saved to {}", p.display()), t.slot(Slot::Success))));
    }
    f.render_widget(
        Paragraph::new(out).wrap(Wrap { trim: false }).block(block(t, " guard verdict ".to_string())),
        area,
    );
}

fn render_editor(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let Some(ed) = &s.editor else { return };
    let err_h = u16::from(ed.error.is_some()) * 2;
    let [edit, err] = Layout::vertical([Constraint::Min(3), Constraint::Length(err_h)]).areas(area);
    let mut ta = ed.textarea.clone();
    ta.set_block(block(t, " edit suggestion — ctrl-s validate & re-check, esc discard ".to_string()));
    ta.set_style(t.base());
    ta.set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
    ta.set_line_number_style(t.slot(Slot::Muted));
    f.render_widget(&ta, edit);
    if let Some(e) = &ed.error {
        f.render_widget(
            Paragraph::new(Span::styled(format!("[ERROR] {e}"), t.slot(Slot::Error))).wrap(Wrap { trim: false }),
            err,
        );
    }
}

fn render_hints(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    let ctx = if s.input.is_some() { None } else { Some(s.route().ctx()) };
    let mut spans: Vec<Span> = Vec::new();
    match ctx {
        None => {
            spans.push(Span::styled("enter", t.slot(Slot::Accent)));
            spans.push(Span::raw(" apply  "));
            spans.push(Span::styled("esc", t.slot(Slot::Accent)));
            spans.push(Span::raw(" cancel"));
        }
        Some(ctx) => {
            for (k, d) in s.keymap.hints(ctx) {
                spans.push(Span::styled(format!("<{k}>"), t.slot(Slot::Accent)));
                spans.push(Span::styled(format!(" {d}  "), t.slot(Slot::Muted)));
            }
        }
    }
    if !s.pending.is_empty() {
        let p: String = s.pending.iter().map(|k| k.to_string()).collect();
        spans.insert(0, Span::styled(format!("[{p}…] "), t.slot(Slot::Label)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)).wrap(Wrap { trim: true }), area);
}

fn render_status(s: &State, f: &mut Frame, area: Rect) {
    let t = &s.theme;
    if let Some(inp) = &s.input {
        let prefix = match inp.kind {
            InputKind::Filter => "/",
            InputKind::Command => ":",
            InputKind::SavePath => "save to: ",
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(prefix, t.slot(Slot::Accent)),
                Span::raw(inp.text.as_str()),
                Span::styled("█", t.slot(Slot::Accent)),
            ])),
            area,
        );
        return;
    }
    let line = match &s.toast {
        Some((lvl, msg)) => {
            let (tag, slot) = match lvl {
                ToastLevel::Info => ("", Slot::Fg),
                ToastLevel::Warn => ("[WARN] ", Slot::Warning),
                ToastLevel::Error => ("[ERROR] ", Slot::Error),
            };
            Line::from(Span::styled(format!("{tag}{msg}"), t.slot(slot)))
        }
        None if !s.warnings.is_empty() => Line::from(Span::styled(
            format!("[WARN] {} (and {} more, see ?)", s.warnings[0], s.warnings.len() - 1),
            t.slot(Slot::Warning),
        )),
        None => Line::from(Span::styled(format!("theme {} · ? for help", s.theme.name), t.slot(Slot::Muted))),
    };
    f.render_widget(Paragraph::new(line), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

fn render_help(s: &State, f: &mut Frame, area: Rect, scroll: u16) {
    let t = &s.theme;
    let ctx = s.route().ctx();
    let mut lines: Vec<Line> = vec![Line::from(Span::styled(format!("Keys in {}", ctx.title()), t.slot(Slot::Label)))];
    for b in s.keymap.for_ctx(ctx) {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<18}", b.keys_text()), t.slot(Slot::Accent)),
            Span::raw(b.desc),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("Commands", t.slot(Slot::Label))));
    for c in [
        ":ns NAME | :ns all",
        ":ctx NAME (live cluster)",
        ":theme NAME",
        ":deploy :sts :ds :job :cj :pod :all",
        ":sa NAME   :role   :netpol",
        ":chain   :help   :q   (:- repeats)",
    ] {
        lines.push(Line::from(format!("  {c}")));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        if s.settings.mouse {
            "mouse on: Shift+drag still selects text in most terminals"
        } else {
            "mouse off (--mouse to enable): terminal copy/paste works"
        },
        t.slot(Slot::Muted),
    )));
    for w in &s.warnings {
        lines.push(Line::from(Span::styled(format!("[WARN] {w}"), t.slot(Slot::Warning))));
    }
    let r = centered(area, 70, area.height.saturating_sub(2));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(Text::from(lines))
            .style(t.base())
            .scroll((scroll, 0))
            .block(block(t, " help — esc closes ".to_string())),
        r,
    );
}

fn render_menu(s: &State, f: &mut Frame, area: Rect, selected: usize) {
    let t = &s.theme;
    let ctx = s.route().ctx();
    let lines: Vec<Line> = MENU
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let desc = s.keymap.for_ctx(ctx).into_iter().find(|b| b.action == *a).map(|b| b.desc).unwrap_or(a.name());
            let line = Line::from(format!(
                "{} {}. {:<24} {}",
                if i == selected { ">" } else { " " },
                i + 1,
                desc,
                s.keymap.key_for(ctx, *a)
            ));
            if i == selected { line.style(t.selection()) } else { line }
        })
        .collect();
    let who = if s.marked.is_empty() {
        "selected workload".to_string()
    } else {
        format!("{} marked workloads", s.marked.len())
    };
    let r = centered(area, 44, MENU.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).style(t.base()).block(block(t, format!(" actions: {who} "))), r);
}
