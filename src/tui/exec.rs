//! The effects executor and the terminal loop. Effects run on tokio tasks (engines with a
//! `CancellationToken` each, bounded by a semaphore; diff building and guard checks on the
//! blocking pool; file writes atomic via tempfile + rename) and report back as `Msg`s. The loop
//! drains every pending message, then draws at most once per `FRAME` when something changed.
//! Engine progress is batched per job (at most one message per `PROGRESS_BATCH`). In live mode
//! a follower task turns watch-cache changes and evidence-file growth into `Msg::Refreshed`.
//!
//! Must not: change `State` except through `update`; block the UI task on I/O.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::cli::args::InputArgs;
use crate::engine::{Engine, EngineError, ProgressSink};

use super::backend;
use super::diff::DiffModel;
use super::rows;
use super::state::{Effect, JobEnd, JobId, Loaded, Msg, State, update};
use super::view;

pub const FRAME: Duration = Duration::from_millis(16);
pub const PROGRESS_BATCH: Duration = Duration::from_millis(100);
const MAX_PARALLEL_JOBS: usize = 4;

/// Effects the loop itself must handle (they touch the terminal).
pub enum LoopAction {
    Quit,
    ExternalEdit(String),
}

pub struct Executor {
    tx: mpsc::UnboundedSender<Msg>,
    engine: Result<Arc<dyn Engine>, String>,
    input: InputArgs,
    cancels: HashMap<JobId, CancellationToken>,
    permits: Arc<Semaphore>,
    started: Instant,
    /// Stops the live-cluster follower of the current source (replaced on every load).
    live: Option<CancellationToken>,
    /// Tasks whose single completion message has not been processed yet.
    pub inflight: usize,
}

impl Executor {
    pub fn new(tx: mpsc::UnboundedSender<Msg>, engine: Result<Arc<dyn Engine>, String>, input: InputArgs) -> Executor {
        Executor {
            tx,
            engine,
            input,
            cancels: HashMap::new(),
            permits: Arc::new(Semaphore::new(MAX_PARALLEL_JOBS)),
            started: Instant::now(),
            live: None,
            inflight: 0,
        }
    }

    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Note that a message produced by one of our tasks was processed.
    pub fn completed(&mut self, msg: &Msg) {
        let done = match msg {
            Msg::Loaded(_) | Msg::DiffBuilt(..) | Msg::GuardChecked(..) | Msg::Saved(_) | Msg::SaveExists(_) => true,
            Msg::JobFinished(id, ..) => {
                self.cancels.remove(id);
                true
            }
            _ => false,
        };
        if done {
            self.inflight = self.inflight.saturating_sub(1);
        }
    }

    pub fn run(&mut self, effect: Effect) -> Option<LoopAction> {
        let tx = self.tx.clone();
        match effect {
            Effect::Quit => return Some(LoopAction::Quit),
            Effect::ExternalEdit { text } => return Some(LoopAction::ExternalEdit(text)),
            Effect::Cancel(ids) => {
                for id in ids {
                    if let Some(c) = self.cancels.get(&id) {
                        c.cancel();
                    }
                }
            }
            Effect::Load(req) => {
                self.inflight += 1;
                let input = self.input.clone();
                if let Some(old) = self.live.take() {
                    old.cancel();
                }
                let stop = CancellationToken::new();
                self.live = Some(stop.clone());
                tokio::spawn(async move {
                    let (res, live) = match backend::load(req, input).await {
                        Ok(src) => (loaded(src.snapshot, src.banner, src.context).await, src.live),
                        Err(e) => (Err(e), None),
                    };
                    let _ = tx.send(Msg::Loaded(res));
                    if let Some(live) = live {
                        follow_live(live, tx, stop).await;
                    }
                });
            }
            Effect::RunJob { id, target, snapshot } => {
                self.inflight += 1;
                let cancel = CancellationToken::new();
                self.cancels.insert(id, cancel.clone());
                let engine = self.engine.clone();
                let permits = self.permits.clone();
                let started = self.started;
                tokio::spawn(async move {
                    let t0 = started.elapsed();
                    let ms = move || u64::try_from((started.elapsed() - t0).as_millis()).unwrap_or(0);
                    let engine = match engine {
                        Ok(e) => e,
                        Err(e) => {
                            let _ = tx.send(Msg::JobFinished(id, JobEnd::Failed(e), 0));
                            return;
                        }
                    };
                    let _permit = tokio::select! {
                        p = permits.acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                        _ = cancel.cancelled() => {
                            let _ = tx.send(Msg::JobFinished(id, JobEnd::Cancelled, 0));
                            return;
                        }
                    };
                    let _ = tx.send(Msg::JobStarted(id));
                    let (ptx, prx) = mpsc::unbounded_channel();
                    let forward = tokio::spawn(forward_progress(id, prx, tx.clone()));
                    let fut = engine.propose(snapshot, target, ProgressSink::new(ptx), cancel.clone());
                    // cancellation by drop: a cancelled job's future is dropped and can never report
                    let end = tokio::select! {
                        r = fut => match r {
                            Ok(rec) => JobEnd::Done(Box::new(rec)),
                            Err(EngineError::Cancelled) => JobEnd::Cancelled,
                            Err(e) => JobEnd::Failed(e.to_string()),
                        },
                        _ = cancel.cancelled() => JobEnd::Cancelled,
                    };
                    let _ = forward.await;
                    let _ = tx.send(Msg::JobFinished(id, end, ms()));
                });
            }
            Effect::BuildDiff { job, hash, original, suggestion, syntect } => {
                self.inflight += 1;
                tokio::task::spawn_blocking(move || {
                    let m = DiffModel::build(&original, &suggestion, &syntect);
                    let _ = tx.send(Msg::DiffBuilt(job, hash, m));
                });
            }
            Effect::GuardCheck { job, hash, target, proposal, original, snapshot } => {
                self.inflight += 1;
                tokio::task::spawn_blocking(move || {
                    let r = backend::guard_check(&snapshot, &target, &proposal, &original);
                    let _ = tx.send(Msg::GuardChecked(job, hash, r));
                });
            }
            Effect::Save { path, content, overwrite } => {
                self.inflight += 1;
                tokio::task::spawn_blocking(move || {
                    let msg = match save_atomic(&path, &content, overwrite) {
                        Ok(p) => Msg::Saved(Ok(p)),
                        Err(SaveError::Exists) => Msg::SaveExists(path),
                        Err(SaveError::Io(e)) => Msg::Saved(Err(e)),
                    };
                    let _ = tx.send(msg);
                });
            }
        }
        None
    }
}

async fn loaded(
    snapshot: crate::snapshot::Snapshot,
    banner: Option<String>,
    context: Option<String>,
) -> Result<Loaded, String> {
    let snap = Arc::new(snapshot);
    let s2 = snap.clone();
    match tokio::task::spawn_blocking(move || rows::build(&s2)).await {
        Ok(r) => Ok(Loaded { snapshot: snap, rows: Arc::new(r), banner, context }),
        Err(e) => Err(e.to_string()),
    }
}

/// How often a live view checks its evidence files for appends and rotations.
pub const EVIDENCE_POLL: Duration = Duration::from_secs(2);
/// Changes arriving within this window are folded into one refresh.
pub const LIVE_SETTLE: Duration = Duration::from_millis(300);

/// Live mode: whenever a watch cache changes or an evidence file grows or rotates, rebuild the
/// snapshot and its rows and send them as `Msg::Refreshed`, until `stop`.
async fn follow_live(mut live: backend::Live, tx: mpsc::UnboundedSender<Msg>, stop: CancellationToken) {
    let mut changes = live.inventory.subscribe();
    changes.borrow_and_update();
    let mut stamp = backend::evidence_stamp(&live.inputs);
    let mut poll = tokio::time::interval(EVIDENCE_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let mut evidence_changed = false;
        tokio::select! {
            _ = stop.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
            _ = poll.tick() => {
                let inputs = live.inputs.clone();
                let now = tokio::task::spawn_blocking(move || backend::evidence_stamp(&inputs)).await.unwrap_or_default();
                if now == stamp {
                    continue;
                }
                stamp = now;
                evidence_changed = true;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(LIVE_SETTLE) => {}
        }
        changes.borrow_and_update();
        if evidence_changed {
            // Evidence is re-read whole; on large logs, back off so re-reading takes at most
            // about a fifth of the time.
            let t0 = Instant::now();
            if let Err(e) = live.reload_evidence().await {
                tracing::warn!("live evidence: {e}");
            }
            let next = EVIDENCE_POLL.max(t0.elapsed() * 4);
            poll.reset_at(tokio::time::Instant::now() + next);
        }
        let refreshed = match live.snapshot().await {
            Ok(snapshot) => loaded(snapshot, None, None).await,
            Err(e) => Err(e),
        };
        match refreshed {
            Ok(l) if !stop.is_cancelled() => {
                if tx.send(Msg::Refreshed(l)).is_err() {
                    return;
                }
            }
            Ok(_) => return,
            Err(e) => tracing::warn!("live refresh: {e}"),
        }
    }
}

/// Forward engine progress in batches: at most one message per `PROGRESS_BATCH` per job.
async fn forward_progress(
    id: JobId,
    mut rx: mpsc::UnboundedReceiver<crate::model::ProgressEvent>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + PROGRESS_BATCH;
        let mut closed = false;
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(e) => batch.push(e),
                    None => { closed = true; break; }
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        if tx.send(Msg::Progress(id, batch)).is_err() || closed {
            return;
        }
    }
}

#[derive(Debug)]
pub enum SaveError {
    Exists,
    Io(String),
}

/// Write `content` to `path` atomically (temp file in the same folder + rename). Without
/// `overwrite` an existing file is never replaced. Returns the absolute path written.
pub fn save_atomic(path: &Path, content: &str, overwrite: bool) -> Result<PathBuf, SaveError> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| SaveError::Io(format!("{shown}: {e}"));
    if path.exists() && !overwrite {
        return Err(SaveError::Exists);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
    tmp.write_all(content.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    if overwrite {
        tmp.persist(path).map_err(|e| io(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists { SaveError::Exists } else { io(e.error) }
        })?;
    }
    Ok(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Where tests can watch for `idle N` / `busy N` (N = key events processed) instead of sleeping.
pub struct StatusFile {
    path: PathBuf,
    last: String,
}

impl StatusFile {
    pub fn new(path: PathBuf) -> StatusFile {
        StatusFile { path, last: String::new() }
    }

    pub fn write(&mut self, busy: bool, keys: u64) {
        let text = format!("{} {keys}\n", if busy { "busy" } else { "idle" });
        if text == self.last {
            return;
        }
        let tmp = self.path.with_extension("tmp");
        if std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, &self.path)).is_ok() {
            self.last = text;
        }
    }
}

fn to_msg(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) => Some(Msg::Key(k)),
        Event::Mouse(m) => Some(Msg::Mouse(m)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}

/// Leave the terminal to `$EDITOR` (or `$VISUAL`, else `vi`) on a temp copy of `text`; returns
/// the edited text. The caller has restored the terminal and dropped the event stream.
fn external_edit(text: &str) -> Result<String, String> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| std::env::var("EDITOR").ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    let mut f = tempfile::Builder::new().prefix("kubeguard-").suffix(".yaml").tempfile().map_err(|e| e.to_string())?;
    f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    f.flush().map_err(|e| e.to_string())?;
    let mut parts = editor.split_whitespace();
    let prog = parts.next().unwrap_or("vi");
    let status = std::process::Command::new(prog)
        .args(parts)
        .arg(f.path())
        .status()
        .map_err(|e| format!("cannot run {editor}: {e}"))?;
    if !status.success() {
        return Err(format!("{editor} exited with {status}"));
    }
    std::fs::read_to_string(f.path()).map_err(|e| e.to_string())
}

fn set_mouse(on: bool) {
    let mut out = std::io::stdout();
    let _ = if on {
        crossterm::execute!(out, crossterm::event::EnableMouseCapture)
    } else {
        crossterm::execute!(out, crossterm::event::DisableMouseCapture)
    };
}

/// Run the UI until quit. The terminal is already initialised.
pub async fn run_loop(
    state: &mut State,
    terminal: &mut DefaultTerminal,
    exec: &mut Executor,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    mut status: Option<StatusFile>,
    first: Vec<Effect>,
) -> anyhow::Result<()> {
    let mut events = EventStream::new();
    let mut keys: u64 = 0;
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    if let Ok(size) = terminal.size() {
        update(state, Msg::Resize(size.width, size.height));
    }
    let mut pending_effects = first;
    loop {
        // run effects
        let mut actions = Vec::new();
        for e in pending_effects.drain(..) {
            if let Some(a) = exec.run(e) {
                actions.push(a);
            }
        }
        for a in actions {
            match a {
                LoopAction::Quit => return Ok(()),
                LoopAction::ExternalEdit(text) => {
                    drop(events);
                    if state.settings.mouse {
                        set_mouse(false);
                    }
                    ratatui::restore();
                    let res = tokio::task::spawn_blocking(move || external_edit(&text))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    *terminal = ratatui::try_init()?;
                    if state.settings.mouse {
                        set_mouse(true);
                    }
                    terminal.clear()?;
                    events = EventStream::new();
                    pending_effects.extend(update(state, Msg::ExternalEdited(res)));
                    dirty = true;
                }
            }
        }
        if !pending_effects.is_empty() {
            continue;
        }
        if state.quit {
            return Ok(());
        }
        // draw when due
        let since = last_draw.map(|t| t.elapsed()).unwrap_or(FRAME);
        if dirty && since >= FRAME {
            terminal.draw(|f| view::render(state, f))?;
            last_draw = Some(Instant::now());
            dirty = false;
        }
        if let Some(st) = status.as_mut() {
            st.write(dirty || state.busy() || exec.inflight > 0, keys);
        }
        let wait = if dirty { FRAME.saturating_sub(since) } else { Duration::from_secs(3600) };
        let mut msgs: Vec<Msg> = Vec::new();
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if matches!(ev, Event::Key(_)) {
                        keys += 1;
                    }
                    msgs.extend(to_msg(ev));
                }
                Some(Err(e)) => tracing::warn!("terminal event error: {e}"),
                None => return Ok(()),
            },
            m = rx.recv() => if let Some(m) = m { msgs.push(m) },
            _ = tick.tick() => if state.busy() { msgs.push(Msg::Tick(exec.now_ms())) },
            _ = tokio::time::sleep(wait), if dirty => {}
        }
        // drain whatever else is already queued: render only the latest state
        while let Ok(m) = rx.try_recv() {
            msgs.push(m);
        }
        if !msgs.is_empty() {
            dirty = true;
        }
        for m in msgs {
            exec.completed(&m);
            pending_effects.extend(update(state, m));
        }
    }
}
