//! Frame time of the TUI's workloads view with 10,000 workloads on a 120×40 TestBackend, against
//! a named peer on the same input: a plain ratatui `Table` given every row (the naive way, with
//! `TableState` scrolling). Besides criterion's estimates, prints median, p99 and worst of 2,000
//! consecutive frames while the selection moves (each frame = one key + one draw), the numbers
//! the issue asks for. Run: `cargo bench --bench render`.

#[path = "../tests/tui_support/mod.rs"]
mod tui_support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Constraint;
use ratatui::widgets::{Block, Borders, Row, Table, TableState};

use kubeguard::tui::state::{Msg, State, update};
use kubeguard::tui::view;

const N: usize = 10_000;
const W: u16 = 120;
const H: u16 = 40;

fn ours() -> (State, Terminal<TestBackend>) {
    let s = tui_support::state_with(tui_support::big_snapshot(N), W, H, "dark");
    (s, Terminal::new(TestBackend::new(W, H)).unwrap())
}

/// The peer: every row handed to ratatui's Table each frame (cells borrowed, no formatting).
fn peer_draw(s: &State, t: &mut Terminal<TestBackend>, ts: &mut TableState) {
    t.draw(|f| {
        let rows = s.view.iter().map(|&i| Row::new(s.rows[i].cells.iter().map(String::as_str)));
        let widths = [Constraint::Length(12); 12];
        let table = Table::new(rows, widths)
            .block(Block::default().borders(Borders::ALL))
            .row_highlight_style(s.theme.selection());
        f.render_stateful_widget(table, f.area(), ts);
    })
    .unwrap();
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let n = v.len();
    (v[n / 2], v[(n * 99) / 100], v[n - 1])
}

fn main() {
    let t0 = Instant::now();
    let snap = tui_support::big_snapshot(N);
    let build = Instant::now();
    let rows = kubeguard::tui::rows::build(&snap);
    let build = build.elapsed();
    assert_eq!(rows.len(), N);
    eprintln!("fixture {N} workloads in {:?}; table precompute (once per snapshot): {build:?}", t0.elapsed());

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("workloads_view_10k");
    {
        let (mut s, mut t) = ours();
        g.bench_function("kubeguard_visible_rows", |b| {
            b.iter(|| {
                update(&mut s, Msg::Key(tui_support::key("j")));
                t.draw(|f| view::render(black_box(&s), f)).unwrap();
            })
        });
    }
    {
        let (s, mut t) = ours();
        let mut ts = TableState::default().with_selected(0);
        g.bench_function("peer_ratatui_table_all_rows", |b| {
            b.iter(|| {
                ts.select_next();
                peer_draw(black_box(&s), &mut t, &mut ts);
            })
        });
    }
    g.finish();
    c.final_summary();

    // median / p99 / worst over consecutive frames
    let frames = 2_000;
    let (mut s, mut t) = ours();
    let mut ours_t = Vec::with_capacity(frames);
    for i in 0..frames {
        let k = if i % 500 == 499 { "G" } else { "j" };
        let st = Instant::now();
        update(&mut s, Msg::Key(tui_support::key(k)));
        t.draw(|f| view::render(&s, f)).unwrap();
        ours_t.push(st.elapsed());
    }
    let (s2, mut t2) = ours();
    let mut ts = TableState::default().with_selected(0);
    let mut peer_t = Vec::with_capacity(frames);
    for _ in 0..frames {
        let st = Instant::now();
        ts.select_next();
        peer_draw(&s2, &mut t2, &mut ts);
        peer_t.push(st.elapsed());
    }
    let (om, op, ow) = stats(ours_t);
    let (pm, pp, pw) = stats(peer_t);
    println!("workloads view, {N} workloads, {W}x{H}, {frames} frames (key + draw):");
    println!("  kubeguard: median {om:?}  p99 {op:?}  worst {ow:?}");
    println!("  peer (ratatui Table, all rows): median {pm:?}  p99 {pp:?}  worst {pw:?}");
    println!("  ratio peer/kubeguard (median): {:.1}x", pm.as_secs_f64() / om.as_secs_f64().max(1e-9));
    println!(
        "  goal < 5 ms per frame: {}",
        if ow < Duration::from_millis(5) {
            "met (worst)"
        } else if om < Duration::from_millis(5) {
            "met (median), not worst"
        } else {
            "NOT met"
        }
    );
}
