//! Screen snapshots of every view with ratatui's TestBackend at 80×24 and 120×40 (text), plus
//! style checks for the mono (NO_COLOR) theme: selection and diff markers must survive without
//! colour.

mod tui_support;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;

use kubeguard::tui::diff::DiffModel;
use kubeguard::tui::state::{Effect, Msg, State, update};
use kubeguard::tui::view;
use tui_support::*;

fn draw(s: &State) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(s.width, s.height)).unwrap();
    t.draw(|f| view::render(s, f)).unwrap();
    t
}

fn build_diff(s: &mut State, fx: Vec<Effect>) {
    for e in fx {
        if let Effect::BuildDiff { job, hash, original, suggestion, syntect } = e {
            update(s, Msg::DiffBuilt(job, hash, DiffModel::build(&original, &suggestion, &syntect)));
        }
    }
}

/// Drive a state to each view; returns (name, state) pairs.
fn screens(w: u16, h: u16, theme: &str) -> Vec<(&'static str, State)> {
    let mut out = Vec::new();
    let s = state_with(snapshot(), w, h, theme);
    out.push(("workloads", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "j space j");
    out.push(("workloads_marked", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "j enter");
    out.push(("detail", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "j");
    let fx = press(&mut s, "r r");
    let (id, target) = run_ids(&fx)[0].clone();
    update(&mut s, Msg::JobStarted(id));
    update(&mut s, Msg::Progress(id, scripted_events(&target)));
    out.push(("chain", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "j");
    let fx = press(&mut s, "r r");
    let (id, target) = run_ids(&fx)[0].clone();
    update(&mut s, Msg::Progress(id, scripted_events(&target)));
    press(&mut s, "i");
    out.push(("step", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "j");
    let fx = press(&mut s, "r r");
    let (id, target) = run_ids(&fx)[0].clone();
    update(&mut s, Msg::JobFinished(id, JobEnd::Done(Box::new(recommendation(target))), 1500));
    let fx = press(&mut s, "enter");
    build_diff(&mut s, fx);
    out.push(("diff", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "j");
    let fx = press(&mut s, "r r");
    let (id, target) = run_ids(&fx)[0].clone();
    update(&mut s, Msg::JobFinished(id, JobEnd::Done(Box::new(recommendation(target))), 1500));
    let fx = press(&mut s, "enter");
    build_diff(&mut s, fx);
    press(&mut s, "e");
    press(&mut s, "text:x: [");
    press(&mut s, "ctrl-s");
    out.push(("editor_error", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "?");
    out.push(("help", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "m");
    out.push(("menu", s));

    let mut s = state_with(snapshot(), w, h, theme);
    press(&mut s, "/");
    press(&mut s, "text:nomatch");
    out.push(("filter_empty", s));
    out
}

#[test]
fn every_view_at_80x24() {
    for (name, s) in screens(80, 24, "dark") {
        insta::assert_snapshot!(format!("80x24_{name}"), draw(&s).backend());
    }
}

#[test]
fn every_view_at_120x40() {
    for (name, s) in screens(120, 40, "dark") {
        insta::assert_snapshot!(format!("120x40_{name}"), draw(&s).backend());
    }
}

fn cells_with(t: &Terminal<TestBackend>, pred: impl Fn(&ratatui::buffer::Cell) -> bool) -> Vec<(u16, u16, String)> {
    let buf = t.backend().buffer();
    let mut v = Vec::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            if pred(c) {
                v.push((x, y, c.symbol().to_string()));
            }
        }
    }
    v
}

#[test]
fn mono_theme_keeps_selection_and_markers_without_colour() {
    for (name, s) in screens(120, 40, "mono") {
        let t = draw(&s);
        let coloured = cells_with(&t, |c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset);
        assert!(coloured.is_empty(), "{name}: mono must not colour anything: {:?}", &coloured[..coloured.len().min(5)]);
        match name {
            "workloads" => {
                let rev = cells_with(&t, |c| c.modifier.contains(Modifier::REVERSED | Modifier::BOLD));
                let rows: std::collections::BTreeMap<u16, String> =
                    rev.iter().fold(Default::default(), |mut m, (_, y, s)| {
                        m.entry(*y).or_default().push_str(s);
                        m
                    });
                let row = rows.values().find(|r| r.contains("postgres")).cloned().unwrap_or_default();
                assert!(row.contains("postgres"), "selected row is reversed+bold: {row}");
                assert!(row.starts_with('>'), "selection also has a text marker");
            }
            "diff" => {
                let text = format!("{}", t.backend());
                assert!(
                    text.contains("-   - delete") || text.contains("- - delete") || text.contains("-   -"),
                    "{text}"
                );
                let emph = cells_with(&t, |c| c.modifier.contains(Modifier::UNDERLINED | Modifier::BOLD));
                assert!(!emph.is_empty(), "changed words are emphasised without colour");
            }
            _ => {}
        }
    }
}

#[test]
fn colour_themes_mark_diff_lines_with_colour_and_markers() {
    let (_, s) = screens(120, 40, "colorblind").into_iter().find(|(n, _)| *n == "diff").unwrap();
    let t = draw(&s);
    let theme = &s.theme;
    let dels = cells_with(&t, |c| c.bg == theme.diff_del_bg);
    let adds = cells_with(&t, |c| c.bg == theme.diff_add_bg);
    assert!(!dels.is_empty() && !adds.is_empty());
    let text = format!("{}", t.backend());
    assert!(text.contains(" - ") && text.contains(" + "), "markers always shown");
}
