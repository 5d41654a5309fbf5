//! The TUI's state machine: `State`, the messages that change it (`Msg`) and the effects it asks
//! for (`Effect`). `update(&mut State, Msg) -> Vec<Effect>` is pure: no I/O, no clock, no
//! terminal. The executor (`exec`) runs effects on tokio tasks and feeds results back as
//! messages; tests drive `update` directly.
//!
//! Must not: perform I/O, spawn tasks, read the environment or the time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui_textarea::TextArea;
use serde_json::Value;

use crate::guard::GuardOutcome;
use crate::model::{
    GuardVerdict, ProgressEvent, Recommendation, ResourceKind, StepStatus, Target, TargetScope, Task, WorkloadKind,
};
use crate::snapshot::Snapshot;

use super::detail::{self, DLine};
use super::diff::DiffModel;
use super::keymap::{ActionId, Ctx, Dispatch, Key, Keymap};
use super::rows::{self, Filter, Scope, SortKey, WorkloadRow};
use super::theme::{Theme, ThemeSet};
use super::yaml;

pub type JobId = u64;

/// Rows taken by everything around the workloads table (header, table header, borders, hints, status).
pub const CHROME_ROWS: u16 = 7;

/// Where to load the snapshot from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRequest {
    Demo {
        banner: Option<String>,
    },
    Snapshot(PathBuf),
    /// Explicit input files (`--manifests`, `--audit-log`...).
    Inputs,
    /// Live cluster; falls back to the demo with a banner when unreachable.
    Cluster {
        context: Option<String>,
        namespace: Option<String>,
    },
}

pub struct Loaded {
    pub snapshot: Arc<Snapshot>,
    pub rows: Arc<Vec<WorkloadRow>>,
    /// Shown above the table (e.g. "no cluster reachable: showing the demo").
    pub banner: Option<String>,
    pub context: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    Done(Box<Recommendation>),
    Failed(String),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed(String),
    Cancelled,
}

impl JobStatus {
    pub fn is_active(&self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Running)
    }
    pub fn badge(&self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Done => "DONE",
            JobStatus::Failed(_) => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepView {
    pub name: String,
    pub status: Option<StepStatus>,
    pub elapsed_ms: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub prompt: String,
    pub template_source: String,
    pub answer: String,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub target: Target,
    pub status: JobStatus,
    pub steps: Vec<StepView>,
    pub result: Option<Recommendation>,
    pub started_ms: Option<u64>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Workloads,
    Detail,
    Chain,
    Step,
    Diff,
    Editor,
}

impl Route {
    pub fn ctx(self) -> Ctx {
        match self {
            Route::Workloads => Ctx::Workloads,
            Route::Detail => Ctx::Detail,
            Route::Chain => Ctx::Chain,
            Route::Step => Ctx::Step,
            Route::Diff => Ctx::Diff,
            Route::Editor => Ctx::Editor,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Command,
    SavePath,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLine {
    pub kind: InputKind,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help { scroll: u16 },
    Menu { selected: usize },
    ConfirmOverwrite { path: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastLevel {
    Info,
    Warn,
    Error,
}

pub struct DiffState {
    pub job: JobId,
    pub target: Target,
    pub original_text: String,
    pub original: Vec<Value>,
    /// Current suggestion text (the engine's, or the user's edit).
    pub text: String,
    pub manifests: Vec<Value>,
    pub edited: bool,
    pub model: Option<DiffModel>,
    /// Content hash the model / verdict were requested for (latest wins).
    pub hash: u64,
    pub verdict: GuardVerdict,
    /// Extra context of the verdict: engine findings and removed permissions.
    pub removed: Vec<(String, crate::model::Severity)>,
    pub checking: bool,
    pub guard_note: Option<String>,
    pub scroll: usize,
    pub side_by_side: bool,
    pub saved_to: Option<PathBuf>,
}

pub struct EditorState {
    pub textarea: TextArea<'static>,
    pub error: Option<String>,
}

/// Settings fixed at start (from CLI + config).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub save_dir: PathBuf,
    /// Below this terminal width the diff is unified.
    pub side_by_side_min_width: u16,
    pub read_only: bool,
    pub engine: String,
    pub mouse: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            save_dir: PathBuf::from("kubeguard-out"),
            side_by_side_min_width: 110,
            read_only: true,
            engine: "deterministic".to_string(),
            mouse: false,
        }
    }
}

pub struct State {
    pub settings: Settings,
    pub keymap: Keymap,
    pub themes: ThemeSet,
    pub theme: Theme,
    /// Colours disabled (NO_COLOR / --no-color): theme switching stays on mono.
    pub no_color: bool,
    pub width: u16,
    pub height: u16,
    pub now_ms: u64,

    pub loading: Option<String>,
    pub source_label: String,
    pub context: Option<String>,
    pub banner: Option<String>,
    pub snapshot: Option<Arc<Snapshot>>,
    pub rows: Arc<Vec<WorkloadRow>>,
    pub view: Vec<usize>,
    pub scope: Scope,
    pub filter: Filter,
    pub sort: SortKey,
    pub sort_desc: bool,
    pub selected: usize,
    pub offset: usize,
    pub marked: BTreeSet<usize>,

    pub routes: Vec<Route>,
    pub overlay: Option<Overlay>,
    pub input: Option<InputLine>,
    pub pending: Vec<Key>,
    pub last_command: Option<String>,

    pub detail: Option<(usize, Vec<DLine>)>,
    pub detail_scroll: usize,

    pub jobs: BTreeMap<JobId, Job>,
    pub next_job: JobId,
    pub chain_selected: usize,
    pub step_selected: usize,
    pub step_scroll: usize,

    pub diff: Option<DiffState>,
    pub editor: Option<EditorState>,
    pub saving: bool,

    pub toast: Option<(ToastLevel, String)>,
    pub warnings: Vec<String>,
    pub quit: bool,
}

pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Milliseconds since the app started (for elapsed times of running jobs).
    Tick(u64),
    Loaded(Result<Loaded, String>),
    /// Live mode: the cluster or the evidence changed; same source, new snapshot and rows.
    Refreshed(Loaded),
    JobStarted(JobId),
    Progress(JobId, Vec<ProgressEvent>),
    JobFinished(JobId, JobEnd, u64),
    DiffBuilt(JobId, u64, DiffModel),
    GuardChecked(JobId, u64, Result<Option<GuardOutcome>, String>),
    SaveExists(PathBuf),
    Saved(Result<PathBuf, String>),
    ExternalEdited(Result<String, String>),
}

pub enum Effect {
    Load(SourceRequest),
    RunJob {
        id: JobId,
        target: Target,
        snapshot: Arc<Snapshot>,
    },
    Cancel(Vec<JobId>),
    BuildDiff {
        job: JobId,
        hash: u64,
        original: String,
        suggestion: String,
        syntect: String,
    },
    GuardCheck {
        job: JobId,
        hash: u64,
        target: Target,
        proposal: Vec<Value>,
        original: Vec<Value>,
        snapshot: Arc<Snapshot>,
    },
    Save {
        path: PathBuf,
        content: String,
        overwrite: bool,
    },
    ExternalEdit {
        text: String,
    },
    Quit,
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Load(r) => write!(f, "Load({r:?})"),
            Effect::RunJob { id, target, .. } => write!(f, "RunJob({id}, {target})"),
            Effect::Cancel(ids) => write!(f, "Cancel({ids:?})"),
            Effect::BuildDiff { job, .. } => write!(f, "BuildDiff({job})"),
            Effect::GuardCheck { job, .. } => write!(f, "GuardCheck({job})"),
            Effect::Save { path, overwrite, .. } => write!(f, "Save({}, overwrite={overwrite})", path.display()),
            Effect::ExternalEdit { .. } => write!(f, "ExternalEdit"),
            Effect::Quit => write!(f, "Quit"),
        }
    }
}

/// Stable content hash (FNV-1a) for latest-wins jobs. No time in it.
pub fn content_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The target for one workload row and one action.
pub fn target_for(row: &WorkloadRow, kind: ResourceKind, task: Task) -> Target {
    let scope = match kind {
        ResourceKind::Role => TargetScope::Subject(crate::model::Subject::ServiceAccount {
            namespace: row.id.namespace.clone(),
            name: row.service_account.clone(),
        }),
        _ => TargetScope::Workload(row.id.clone()),
    };
    Target { scope, kind, task }
}

/// The default file a suggestion is saved to.
pub fn default_save_path(dir: &std::path::Path, target: &Target) -> PathBuf {
    let who = match &target.scope {
        TargetScope::Subject(s) => s.slug(),
        TargetScope::Workload(w) => {
            crate::model::inventory::dns_label(&format!("{}-{}-{}", w.kind.as_str(), w.namespace, w.name))
        }
    };
    dir.join(format!("{}-{}-{}.yaml", target.kind, target.task, who))
}

fn action_target(a: ActionId) -> Option<(ResourceKind, Task)> {
    Some(match a {
        ActionId::CreateRole => (ResourceKind::Role, Task::Create),
        ActionId::RefineRole => (ResourceKind::Role, Task::Refine),
        ActionId::CreateNetpol => (ResourceKind::NetworkPolicy, Task::Create),
        ActionId::RefineNetpol => (ResourceKind::NetworkPolicy, Task::Refine),
        ActionId::CreateDeploy => (ResourceKind::Deployment, Task::Create),
        ActionId::RefineDeploy => (ResourceKind::Deployment, Task::Refine),
        _ => return None,
    })
}

/// The six actions of the action menu, in order.
pub const MENU: &[ActionId] = &[
    ActionId::RefineRole,
    ActionId::CreateRole,
    ActionId::RefineNetpol,
    ActionId::CreateNetpol,
    ActionId::RefineDeploy,
    ActionId::CreateDeploy,
];

impl State {
    pub fn new(settings: Settings, keymap: Keymap, themes: ThemeSet, theme: Theme, no_color: bool) -> State {
        State {
            settings,
            keymap,
            themes,
            theme,
            no_color,
            width: 80,
            height: 24,
            now_ms: 0,
            loading: None,
            source_label: String::new(),
            context: None,
            banner: None,
            snapshot: None,
            rows: Arc::new(Vec::new()),
            view: Vec::new(),
            scope: Scope::default(),
            filter: Filter::default(),
            sort: SortKey::Namespace,
            sort_desc: false,
            selected: 0,
            offset: 0,
            marked: BTreeSet::new(),
            routes: vec![Route::Workloads],
            overlay: None,
            input: None,
            pending: Vec::new(),
            last_command: None,
            detail: None,
            detail_scroll: 0,
            jobs: BTreeMap::new(),
            next_job: 1,
            chain_selected: 0,
            step_selected: 0,
            step_scroll: 0,
            diff: None,
            editor: None,
            saving: false,
            toast: None,
            warnings: Vec::new(),
            quit: false,
        }
    }

    pub fn route(&self) -> Route {
        self.routes.last().copied().unwrap_or(Route::Workloads)
    }

    /// Rows of the workloads table that fit on screen.
    pub fn list_height(&self) -> usize {
        usize::from(self.height.saturating_sub(CHROME_ROWS)).max(1)
    }

    pub fn selected_row(&self) -> Option<(usize, &WorkloadRow)> {
        let i = *self.view.get(self.selected)?;
        self.rows.get(i).map(|r| (i, r))
    }

    pub fn job_list(&self) -> Vec<&Job> {
        self.jobs.values().collect()
    }

    pub fn selected_job(&self) -> Option<&Job> {
        self.jobs.values().nth(self.chain_selected)
    }

    pub fn running_jobs(&self) -> Vec<JobId> {
        self.jobs.values().filter(|j| j.status.is_active()).map(|j| j.id).collect()
    }

    /// Whether anything is in flight (tests wait for this to be false).
    pub fn busy(&self) -> bool {
        self.loading.is_some()
            || !self.running_jobs().is_empty()
            || self.saving
            || self.diff.as_ref().is_some_and(|d| d.model.is_none() || d.checking)
    }

    pub fn side_by_side_active(&self) -> bool {
        self.diff.as_ref().is_some_and(|d| d.side_by_side) && self.width >= self.settings.side_by_side_min_width
    }

    fn toast(&mut self, level: ToastLevel, text: impl Into<String>) {
        self.toast = Some((level, text.into()));
    }

    fn refresh_view(&mut self) {
        let keep = self.selected_row().map(|(i, _)| i);
        self.view = rows::select(&self.rows, &self.scope, &self.filter, self.sort, self.sort_desc);
        self.selected = keep.and_then(|k| self.view.iter().position(|&i| i == k)).unwrap_or(0);
        self.clamp_list();
    }

    fn clamp_list(&mut self) {
        let n = self.view.len();
        if n == 0 {
            self.selected = 0;
            self.offset = 0;
            return;
        }
        self.selected = self.selected.min(n - 1);
        let h = self.list_height();
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + h {
            self.offset = self.selected + 1 - h;
        }
        self.offset = self.offset.min(n.saturating_sub(h));
    }

    fn push(&mut self, r: Route) {
        if self.route() != r {
            self.routes.push(r);
        }
    }

    fn back(&mut self) {
        if self.routes.len() > 1 {
            self.routes.pop();
        }
    }
}

/// Apply one message. Pure.
pub fn update(s: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(k) => on_key(s, k),
        Msg::Mouse(m) => on_mouse(s, m),
        Msg::Resize(w, h) => {
            s.width = w;
            s.height = h;
            s.clamp_list();
            Vec::new()
        }
        Msg::Tick(now) => {
            s.now_ms = now;
            Vec::new()
        }
        Msg::Loaded(res) => {
            s.loading = None;
            match res {
                Ok(l) => {
                    s.source_label = l.snapshot.label.clone();
                    s.banner = l.banner;
                    if l.context.is_some() {
                        s.context = l.context;
                    }
                    s.snapshot = Some(l.snapshot);
                    s.rows = l.rows;
                    s.marked.clear();
                    s.detail = None;
                    s.refresh_view();
                }
                Err(e) => s.toast(ToastLevel::Error, format!("could not load: {e}")),
            }
            Vec::new()
        }
        Msg::Refreshed(l) => {
            // Only while showing the live source it came from (not during a reload).
            if s.loading.is_none() && s.snapshot.is_some() {
                let selected = s.selected_row().map(|(_, r)| r.id.clone());
                let marked: BTreeSet<_> =
                    s.marked.iter().filter_map(|&i| s.rows.get(i).map(|r| r.id.clone())).collect();
                s.source_label = l.snapshot.label.clone();
                s.snapshot = Some(l.snapshot);
                s.rows = l.rows;
                s.marked = s.rows.iter().enumerate().filter(|(_, r)| marked.contains(&r.id)).map(|(i, _)| i).collect();
                s.refresh_view();
                if let Some(pos) = selected.and_then(|id| s.view.iter().position(|&i| s.rows[i].id == id)) {
                    s.selected = pos;
                    s.clamp_list();
                }
            }
            Vec::new()
        }
        Msg::JobStarted(id) => {
            if let Some(j) = s.jobs.get_mut(&id)
                && j.status == JobStatus::Queued
            {
                j.status = JobStatus::Running;
                j.started_ms = Some(s.now_ms);
            }
            Vec::new()
        }
        Msg::Progress(id, events) => {
            if let Some(j) = s.jobs.get_mut(&id) {
                for e in events {
                    apply_progress(j, e);
                }
            }
            Vec::new()
        }
        Msg::JobFinished(id, end, elapsed) => {
            let mut open = false;
            if let Some(j) = s.jobs.get_mut(&id) {
                j.elapsed_ms = elapsed;
                match end {
                    JobEnd::Done(r) => {
                        j.status = JobStatus::Done;
                        j.result = Some(*r);
                        open = true;
                    }
                    JobEnd::Failed(e) => {
                        j.status = JobStatus::Failed(e.clone());
                        for st in j.steps.iter_mut().filter(|st| st.status == Some(StepStatus::Running)) {
                            st.status = Some(StepStatus::Failed(e.clone()));
                        }
                    }
                    JobEnd::Cancelled => {
                        j.status = JobStatus::Cancelled;
                        for st in j
                            .steps
                            .iter_mut()
                            .filter(|st| !matches!(st.status, Some(StepStatus::Done) | Some(StepStatus::Failed(_))))
                        {
                            st.status = Some(StepStatus::Cancelled);
                        }
                    }
                }
                let label = j.target.to_string();
                let text = format!("{label}: {}", j.status.badge().to_lowercase());
                let level = if matches!(j.status, JobStatus::Failed(_)) { ToastLevel::Error } else { ToastLevel::Info };
                s.toast(level, text);
            }
            let _ = open;
            Vec::new()
        }
        Msg::DiffBuilt(job, hash, model) => {
            if let Some(d) = s.diff.as_mut()
                && d.job == job
                && d.hash == hash
            {
                d.model = Some(model);
                d.scroll = d.scroll.min(d.model.as_ref().map(|m| m.len(d.side_by_side)).unwrap_or(0));
            }
            Vec::new()
        }
        Msg::GuardChecked(job, hash, res) => {
            if let Some(d) = s.diff.as_mut()
                && d.job == job
                && d.hash == hash
            {
                d.checking = false;
                match res {
                    Ok(Some(outcome)) => {
                        d.verdict = outcome.verdict;
                        d.guard_note = Some("guard re-checked the edited suggestion".to_string());
                    }
                    Ok(None) => {
                        d.guard_note =
                            Some("guard not available for this kind in this build: verdict not re-checked".to_string())
                    }
                    Err(e) => d.guard_note = Some(format!("guard failed: {e}")),
                }
            }
            Vec::new()
        }
        Msg::SaveExists(path) => {
            s.saving = false;
            s.overlay = Some(Overlay::ConfirmOverwrite { path });
            Vec::new()
        }
        Msg::Saved(res) => {
            s.saving = false;
            match res {
                Ok(p) => {
                    s.toast(ToastLevel::Info, format!("saved to {}", p.display()));
                    if let Some(d) = s.diff.as_mut() {
                        d.saved_to = Some(p);
                    }
                }
                Err(e) => s.toast(ToastLevel::Error, format!("save failed: {e}")),
            }
            Vec::new()
        }
        Msg::ExternalEdited(res) => match res {
            Ok(text) => apply_edit(s, text.clone()).unwrap_or_else(|e| {
                // keep the user's text: open it in the inline editor at the error
                open_editor(s, &text, Some(e));
                Vec::new()
            }),
            Err(e) => {
                s.toast(ToastLevel::Error, format!("external editor: {e}"));
                Vec::new()
            }
        },
    }
}

fn apply_progress(j: &mut Job, e: ProgressEvent) {
    let step = |j: &mut Job, i: usize| -> usize {
        while j.steps.len() <= i {
            j.steps.push(StepView { name: format!("step {}", j.steps.len() + 1), ..Default::default() });
        }
        i
    };
    if j.status == JobStatus::Queued {
        j.status = JobStatus::Running;
    }
    match e {
        ProgressEvent::Plan { steps, .. } => {
            j.steps = steps
                .into_iter()
                .map(|name| StepView { name, status: Some(StepStatus::Queued), ..Default::default() })
                .collect();
        }
        ProgressEvent::Step { index, status, elapsed_ms, .. } => {
            let i = step(j, index);
            j.steps[i].status = Some(status);
            j.steps[i].elapsed_ms = elapsed_ms;
        }
        ProgressEvent::Prompt { index, prompt, template_source, .. } => {
            let i = step(j, index);
            j.steps[i].prompt = prompt;
            j.steps[i].template_source = template_source;
        }
        ProgressEvent::Chunk { index, text, .. } => {
            let i = step(j, index);
            j.steps[i].answer.push_str(&text);
        }
        ProgressEvent::Tokens { index, prompt, completion, .. } => {
            let i = step(j, index);
            j.steps[i].prompt_tokens += prompt;
            j.steps[i].completion_tokens += completion;
        }
        ProgressEvent::Note { index, text, .. } => {
            let i = step(j, index);
            j.steps[i].notes.push(text);
        }
    }
}

fn on_mouse(s: &mut State, m: MouseEvent) -> Vec<Effect> {
    if !s.settings.mouse {
        return Vec::new();
    }
    let action = match m.kind {
        MouseEventKind::ScrollDown => ActionId::Down,
        MouseEventKind::ScrollUp => ActionId::Up,
        MouseEventKind::Down(_) if s.route() == Route::Workloads => {
            // header (1) + border (1) + table header (1) = first data row at y=3
            let row = usize::from(m.row).checked_sub(3 + usize::from(s.banner.is_some()));
            if let Some(r) = row.map(|r| r + s.offset).filter(|r| *r < s.view.len()) {
                s.selected = r;
                s.clamp_list();
            }
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    on_action(s, action)
}

fn on_key(s: &mut State, k: KeyEvent) -> Vec<Effect> {
    if k.kind == crossterm::event::KeyEventKind::Release {
        return Vec::new();
    }
    // confirmations first
    if let Some(Overlay::ConfirmOverwrite { path }) = s.overlay.clone() {
        return match k.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                s.overlay = None;
                save_effect(s, path, true)
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                s.overlay = None;
                s.toast(ToastLevel::Info, "not saved");
                Vec::new()
            }
            _ => Vec::new(),
        };
    }
    if s.input.is_some() {
        return on_input_key(s, k);
    }
    if s.route() == Route::Editor {
        return on_editor_key(s, k);
    }
    match s.overlay.clone() {
        Some(Overlay::Help { scroll }) => {
            match k.code {
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') => s.overlay = None,
                KeyCode::Char('j') | KeyCode::Down => {
                    s.overlay = Some(Overlay::Help { scroll: scroll.saturating_add(1) })
                }
                KeyCode::Char('k') | KeyCode::Up => {
                    s.overlay = Some(Overlay::Help { scroll: scroll.saturating_sub(1) })
                }
                _ => {}
            }
            return Vec::new();
        }
        Some(Overlay::Menu { selected }) => {
            match k.code {
                KeyCode::Esc => s.overlay = None,
                KeyCode::Char('j') | KeyCode::Down => {
                    s.overlay = Some(Overlay::Menu { selected: (selected + 1) % MENU.len() })
                }
                KeyCode::Char('k') | KeyCode::Up => {
                    s.overlay = Some(Overlay::Menu { selected: (selected + MENU.len() - 1) % MENU.len() })
                }
                KeyCode::Enter => {
                    s.overlay = None;
                    return on_action(s, MENU[selected]);
                }
                KeyCode::Char(c) if c.is_ascii_digit() => {
                    let i = c.to_digit(10).unwrap_or(0) as usize;
                    if (1..=MENU.len()).contains(&i) {
                        s.overlay = None;
                        return on_action(s, MENU[i - 1]);
                    }
                }
                _ => {}
            }
            return Vec::new();
        }
        _ => {}
    }
    let key = Key::from_event(&k);
    match s.keymap.dispatch(s.route().ctx(), &s.pending, key) {
        Dispatch::Pending => {
            if s.pending.is_empty() || s.keymap.dispatch(s.route().ctx(), &[], s.pending[0]) == Dispatch::Pending {
                s.pending.push(key);
            } else {
                s.pending = vec![key];
            }
            Vec::new()
        }
        Dispatch::Action(a) => {
            s.pending.clear();
            on_action(s, a)
        }
        Dispatch::Unbound => {
            s.pending.clear();
            Vec::new()
        }
    }
}

fn on_input_key(s: &mut State, k: KeyEvent) -> Vec<Effect> {
    let Some(mut input) = s.input.take() else { return Vec::new() };
    match k.code {
        KeyCode::Esc => {
            if input.kind == InputKind::Filter {
                s.filter = Filter::default();
                s.refresh_view();
            }
            return Vec::new();
        }
        KeyCode::Enter => {
            return match input.kind {
                InputKind::Filter => Vec::new(),
                InputKind::Command => run_command(s, input.text.trim()),
                InputKind::SavePath => {
                    let p = input.text.trim();
                    if p.is_empty() {
                        s.toast(ToastLevel::Warn, "no path given: not saved");
                        Vec::new()
                    } else {
                        save_effect(s, PathBuf::from(p), false)
                    }
                }
            };
        }
        KeyCode::Backspace => {
            input.text.pop();
        }
        KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => input.text.clear(),
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Vec::new(),
        KeyCode::Char(c) => input.text.push(c),
        _ => {}
    }
    if input.kind == InputKind::Filter {
        s.filter = Filter { text: input.text.clone() };
        s.refresh_view();
    }
    s.input = Some(input);
    Vec::new()
}

fn on_editor_key(s: &mut State, k: KeyEvent) -> Vec<Effect> {
    let key = Key::from_event(&k);
    match s.keymap.dispatch(Ctx::Editor, &[], key) {
        Dispatch::Action(ActionId::EditorSave) => {
            let text = s.editor.as_ref().map(|e| e.textarea.lines().join("\n")).unwrap_or_default();
            match apply_edit(s, text + "\n") {
                Ok(effects) => {
                    s.editor = None;
                    if s.route() == Route::Editor {
                        s.routes.pop();
                    }
                    effects
                }
                Err(e) => {
                    if let Some(ed) = s.editor.as_mut() {
                        ed.error = Some(e);
                    }
                    Vec::new()
                }
            }
        }
        Dispatch::Action(ActionId::EditorCancel) => {
            s.editor = None;
            s.routes.pop();
            s.toast(ToastLevel::Info, "edit discarded");
            Vec::new()
        }
        _ => {
            if let Some(ed) = s.editor.as_mut() {
                ed.textarea.input(k);
                ed.error = None;
            }
            Vec::new()
        }
    }
}

/// Parse edited text; on success make it the suggestion and ask for a new diff and guard check.
/// On error returns the located message and leaves the suggestion unchanged.
fn apply_edit(s: &mut State, text: String) -> Result<Vec<Effect>, String> {
    let manifests = yaml::parse_manifests(&text).map_err(|e| e.to_string())?;
    let snapshot = s.snapshot.clone();
    let theme = s.theme.syntect.clone();
    let Some(d) = s.diff.as_mut() else { return Ok(Vec::new()) };
    d.text = text;
    d.manifests = manifests;
    d.edited = true;
    d.hash = content_hash(&[&d.original_text, &d.text, &theme]);
    d.model = None;
    d.checking = snapshot.is_some();
    d.saved_to = None;
    let mut fx = vec![Effect::BuildDiff {
        job: d.job,
        hash: d.hash,
        original: d.original_text.clone(),
        suggestion: d.text.clone(),
        syntect: theme,
    }];
    if let Some(snapshot) = snapshot {
        fx.push(Effect::GuardCheck {
            job: d.job,
            hash: d.hash,
            target: d.target.clone(),
            proposal: d.manifests.clone(),
            original: d.original.clone(),
            snapshot,
        });
    }
    s.toast(ToastLevel::Info, "edit accepted: re-checking with the guard");
    Ok(fx)
}

fn open_editor(s: &mut State, text: &str, error: Option<String>) {
    let mut ta = TextArea::new(text.lines().map(str::to_string).collect());
    ta.set_cursor_line_style(ratatui::style::Style::default());
    if let Some(e) = &error
        && let Some(line) =
            e.strip_prefix("line ").and_then(|r| r.split(',').next()).and_then(|n| n.parse::<u16>().ok())
    {
        ta.move_cursor(ratatui_textarea::CursorMove::Jump(line.saturating_sub(1), 0));
    }
    s.editor = Some(EditorState { textarea: ta, error });
    s.push(Route::Editor);
}

fn save_effect(s: &mut State, path: PathBuf, overwrite: bool) -> Vec<Effect> {
    let Some(d) = s.diff.as_ref() else { return Vec::new() };
    s.saving = true;
    vec![Effect::Save { path, content: d.text.clone(), overwrite }]
}

fn page(s: &State) -> usize {
    s.list_height().max(2) - 1
}

fn move_sel(s: &mut State, delta: isize) {
    match s.route() {
        Route::Workloads => {
            let n = s.view.len();
            if n > 0 {
                s.selected = (s.selected as isize + delta).clamp(0, n as isize - 1) as usize;
            }
            s.clamp_list();
        }
        Route::Detail => {
            let n = s.detail.as_ref().map(|d| d.1.len()).unwrap_or(0);
            s.detail_scroll = (s.detail_scroll as isize + delta).clamp(0, n.saturating_sub(1) as isize) as usize;
        }
        Route::Chain => {
            let n = s.jobs.len();
            if n > 0 {
                s.chain_selected = (s.chain_selected as isize + delta).clamp(0, n as isize - 1) as usize;
            }
        }
        Route::Step => {
            s.step_scroll = (s.step_scroll as isize + delta).max(0) as usize;
        }
        Route::Diff => {
            let sbs = s.side_by_side_active();
            if let Some(d) = s.diff.as_mut() {
                let n = d.model.as_ref().map(|m| m.len(sbs)).unwrap_or(0);
                d.scroll = (d.scroll as isize + delta).clamp(0, n.saturating_sub(1) as isize) as usize;
            }
        }
        Route::Editor => {}
    }
}

fn on_action(s: &mut State, a: ActionId) -> Vec<Effect> {
    use ActionId as A;
    if let Some((kind, task)) = action_target(a) {
        return start_jobs(s, kind, task);
    }
    match a {
        A::Quit => {
            s.quit = true;
            let running = s.running_jobs();
            let mut fx = Vec::new();
            if !running.is_empty() {
                fx.push(Effect::Cancel(running));
            }
            fx.push(Effect::Quit);
            return fx;
        }
        A::Help => s.overlay = Some(Overlay::Help { scroll: 0 }),
        A::Back => {
            if s.route() == Route::Chain
                && let Some(j) = s.selected_job().filter(|j| j.status.is_active())
            {
                let id = j.id;
                s.toast(ToastLevel::Info, "cancelling…");
                return vec![Effect::Cancel(vec![id])];
            }
            s.back();
        }
        A::Cancel => {
            if s.route() == Route::Workloads && !s.filter.text.is_empty() {
                s.filter = Filter::default();
                s.refresh_view();
                return Vec::new();
            }
            let running = s.running_jobs();
            if running.is_empty() {
                if s.route() != Route::Workloads {
                    s.back();
                }
                return Vec::new();
            }
            s.toast(ToastLevel::Info, format!("cancelling {} running chain(s)…", running.len()));
            return vec![Effect::Cancel(running)];
        }
        A::Filter => s.input = Some(InputLine { kind: InputKind::Filter, text: s.filter.text.clone() }),
        A::Command => s.input = Some(InputLine { kind: InputKind::Command, text: String::new() }),
        A::CycleTheme => {
            if s.no_color {
                s.toast(ToastLevel::Info, "colours are off (NO_COLOR / --no-color): staying on mono");
            } else if let Some(t) = s.themes.next_after(&s.theme.name) {
                s.toast(ToastLevel::Info, format!("theme {} ({})", t.name, t.source));
                s.theme = t;
                return rebuild_diff(s);
            }
        }
        A::ShowChain => {
            if s.jobs.is_empty() {
                s.toast(
                    ToastLevel::Info,
                    format!("no chains yet: {} refines the Role", s.keymap.key_for(Ctx::Workloads, A::RefineRole)),
                );
            } else {
                s.push(Route::Chain);
            }
        }
        A::Up => move_sel(s, -1),
        A::Down => move_sel(s, 1),
        A::PageUp => move_sel(s, -(page(s) as isize)),
        A::PageDown => move_sel(s, page(s) as isize),
        A::Top => move_sel(s, isize::MIN / 2),
        A::Bottom => move_sel(s, isize::MAX / 2),
        A::Open => match s.route() {
            Route::Workloads => {
                if let (Some((i, _)), Some(snap)) = (s.selected_row(), s.snapshot.clone()) {
                    let row = &s.rows[i];
                    if let Some(w) = snap.inventory.workload(&row.id) {
                        s.detail = Some((i, detail::build(&snap, w)));
                        s.detail_scroll = 0;
                        s.push(Route::Detail);
                    }
                }
            }
            Route::Chain if s.selected_job().is_some() => {
                s.step_selected = 0;
                s.step_scroll = 0;
                s.push(Route::Step);
            }
            _ => {}
        },
        A::Mark => {
            if let Some((i, _)) = s.selected_row() {
                if !s.marked.remove(&i) {
                    s.marked.insert(i);
                }
                move_sel(s, 1);
            }
        }
        A::ClearMarks => s.marked.clear(),
        A::AllNamespaces => {
            s.scope.namespace = None;
            s.refresh_view();
        }
        A::SortName | A::SortNamespace | A::SortKind | A::SortRisk | A::SortApi => {
            let key = match a {
                A::SortName => SortKey::Name,
                A::SortKind => SortKey::Kind,
                A::SortRisk => SortKey::Risk,
                A::SortApi => SortKey::Api,
                _ => SortKey::Namespace,
            };
            if s.sort == key {
                s.sort_desc = !s.sort_desc;
            } else {
                s.sort = key;
                s.sort_desc = false;
            }
            s.refresh_view();
        }
        A::ActionMenu => s.overlay = Some(Overlay::Menu { selected: 0 }),
        A::OpenDiff => return open_diff(s),
        A::ToggleSideBySide => {
            let narrow = s.width < s.settings.side_by_side_min_width;
            if let Some(d) = s.diff.as_mut() {
                d.side_by_side = !d.side_by_side;
                d.scroll = 0;
                if narrow && d.side_by_side {
                    let min = s.settings.side_by_side_min_width;
                    s.toast(ToastLevel::Info, format!("terminal narrower than {min} columns: showing unified"));
                }
            }
        }
        A::NextHunk | A::PrevHunk => {
            let sbs = s.side_by_side_active();
            if let Some(d) = s.diff.as_mut()
                && let Some(m) = &d.model
                && let Some(h) = m.hunk_from(sbs, d.scroll, a == A::NextHunk)
            {
                d.scroll = h;
            }
        }
        A::Edit => {
            if let Some(text) = s.diff.as_ref().map(|d| d.text.clone()) {
                open_editor(s, &text, None);
            }
        }
        A::ExternalEdit => {
            if let Some(d) = s.diff.as_ref() {
                return vec![Effect::ExternalEdit { text: d.text.clone() }];
            }
        }
        A::Save => {
            if let Some(d) = s.diff.as_ref() {
                let path = d.saved_to.clone().unwrap_or_else(|| default_save_path(&s.settings.save_dir, &d.target));
                s.input = Some(InputLine { kind: InputKind::SavePath, text: path.display().to_string() });
            }
        }
        A::EditorSave | A::EditorCancel => {}
        A::CreateRole | A::RefineRole | A::CreateNetpol | A::RefineNetpol | A::CreateDeploy | A::RefineDeploy => {}
    }
    Vec::new()
}

fn start_jobs(s: &mut State, kind: ResourceKind, task: Task) -> Vec<Effect> {
    let Some(snapshot) = s.snapshot.clone() else {
        s.toast(ToastLevel::Warn, "nothing loaded yet");
        return Vec::new();
    };
    let rows: Vec<usize> = if s.route() == Route::Workloads && !s.marked.is_empty() {
        s.marked.iter().copied().collect()
    } else if s.route() == Route::Detail {
        s.detail.as_ref().map(|d| vec![d.0]).unwrap_or_default()
    } else {
        s.selected_row().map(|(i, _)| vec![i]).unwrap_or_default()
    };
    let mut targets: BTreeSet<Target> = BTreeSet::new();
    for i in rows {
        if let Some(r) = s.rows.get(i) {
            if kind == ResourceKind::Deployment && r.id.kind == WorkloadKind::Pod && task == Task::Refine {
                // a bare Pod is still a valid target; engines decide applicability
            }
            targets.insert(target_for(r, kind, task));
        }
    }
    if targets.is_empty() {
        s.toast(ToastLevel::Warn, "no workload selected");
        return Vec::new();
    }
    let first_new = s.jobs.len();
    let mut fx = Vec::new();
    for t in targets {
        let id = s.next_job;
        s.next_job += 1;
        s.jobs.insert(
            id,
            Job {
                id,
                target: t.clone(),
                status: JobStatus::Queued,
                steps: Vec::new(),
                result: None,
                started_ms: None,
                elapsed_ms: 0,
            },
        );
        fx.push(Effect::RunJob { id, target: t, snapshot: snapshot.clone() });
    }
    s.chain_selected = first_new;
    s.marked.clear();
    s.push(Route::Chain);
    fx
}

fn open_diff(s: &mut State) -> Vec<Effect> {
    let Some(job) = s.selected_job().cloned() else { return Vec::new() };
    let Some(rec) = job.result.clone() else {
        let text = match &job.status {
            JobStatus::Failed(e) => format!("no result: {e}"),
            other => format!("no result yet ({})", other.badge().to_lowercase()),
        };
        s.toast(ToastLevel::Warn, text);
        return Vec::new();
    };
    let original_text = yaml::to_yaml(&rec.original);
    let text = yaml::to_yaml(&rec.manifests);
    let syntect = s.theme.syntect.clone();
    let hash = content_hash(&[&original_text, &text, &syntect]);
    let reuse = s.diff.as_ref().is_some_and(|d| d.job == job.id);
    if !reuse {
        s.diff = Some(DiffState {
            job: job.id,
            target: rec.target.clone(),
            original_text: original_text.clone(),
            original: rec.original.clone(),
            text: text.clone(),
            manifests: rec.manifests.clone(),
            edited: false,
            model: None,
            hash,
            verdict: rec.verdict.clone(),
            removed: rec.removed.clone(),
            checking: false,
            guard_note: None,
            scroll: 0,
            side_by_side: true,
            saved_to: None,
        });
    }
    s.push(Route::Diff);
    if reuse {
        return Vec::new();
    }
    vec![Effect::BuildDiff { job: job.id, hash, original: original_text, suggestion: text, syntect }]
}

fn rebuild_diff(s: &mut State) -> Vec<Effect> {
    let syntect = s.theme.syntect.clone();
    let Some(d) = s.diff.as_mut() else { return Vec::new() };
    if d.model.as_ref().is_some_and(|m| m.syntect == syntect) {
        return Vec::new();
    }
    d.hash = content_hash(&[&d.original_text, &d.text, &syntect]);
    d.model = None;
    vec![Effect::BuildDiff {
        job: d.job,
        hash: d.hash,
        original: d.original_text.clone(),
        suggestion: d.text.clone(),
        syntect,
    }]
}

/// `:ns [name]`, `:ctx name`, `:theme name`, `:deploy|:sts|:ds|:job|:cronjob|:pod|:all`,
/// `:sa [name]`, `:role`, `:netpol`, `:chain`, `:help`, `:q`. `-` repeats the previous command.
fn run_command(s: &mut State, cmd: &str) -> Vec<Effect> {
    let cmd = if cmd == "-" { s.last_command.clone().unwrap_or_default() } else { cmd.to_string() };
    let mut parts = cmd.split_whitespace();
    let head = parts.next().unwrap_or("").trim_start_matches(':').to_lowercase();
    let arg = parts.next().map(str::to_string);
    if !head.is_empty() {
        s.last_command = Some(cmd.clone());
    }
    let kind = |k: WorkloadKind| Some(k);
    let set_kind = |s: &mut State, k: Option<WorkloadKind>| {
        s.scope.kind = k;
        s.scope.with_roles = false;
        s.scope.with_policies = false;
        s.routes.truncate(1);
        s.refresh_view();
    };
    match head.as_str() {
        "" => {}
        "q" | "quit" | "q!" => return on_action(s, ActionId::Quit),
        "help" | "?" => s.overlay = Some(Overlay::Help { scroll: 0 }),
        "ns" | "namespace" => {
            match arg.as_deref() {
                None | Some("all") | Some("*") => s.scope.namespace = None,
                Some(n) => {
                    if !s.rows.iter().any(|r| r.id.namespace == n) {
                        s.toast(ToastLevel::Warn, format!("no workloads in namespace {n}"));
                    }
                    s.scope.namespace = Some(n.to_string());
                }
            }
            s.routes.truncate(1);
            s.refresh_view();
        }
        "ctx" | "context" => {
            let Some(c) = arg else {
                s.toast(
                    ToastLevel::Info,
                    format!("context: {}", s.context.clone().unwrap_or_else(|| "none (not live)".to_string())),
                );
                return Vec::new();
            };
            s.loading = Some(format!("connecting to context {c}…"));
            return vec![Effect::Load(SourceRequest::Cluster {
                context: Some(c),
                namespace: s.scope.namespace.clone(),
            })];
        }
        "theme" => match arg {
            None => s.toast(ToastLevel::Info, format!("themes: {}", s.themes.names().join(", "))),
            Some(_) if s.no_color => {
                s.toast(ToastLevel::Info, "colours are off (NO_COLOR / --no-color): staying on mono")
            }
            Some(n) => match s.themes.get(&n) {
                Ok(t) => {
                    s.theme = t;
                    return rebuild_diff(s);
                }
                Err(e) => s.toast(ToastLevel::Error, e.to_string()),
            },
        },
        "deploy" | "deployment" | "deployments" | "dp" => set_kind(s, kind(WorkloadKind::Deployment)),
        "sts" | "statefulset" | "statefulsets" => set_kind(s, kind(WorkloadKind::StatefulSet)),
        "ds" | "daemonset" | "daemonsets" => set_kind(s, kind(WorkloadKind::DaemonSet)),
        "job" | "jobs" => set_kind(s, kind(WorkloadKind::Job)),
        "cj" | "cronjob" | "cronjobs" => set_kind(s, kind(WorkloadKind::CronJob)),
        "po" | "pod" | "pods" => set_kind(s, kind(WorkloadKind::Pod)),
        "all" | "workloads" | "wl" => {
            s.scope = Scope { namespace: s.scope.namespace.clone(), ..Scope::default() };
            s.routes.truncate(1);
            s.refresh_view();
        }
        "sa" | "serviceaccount" => {
            s.scope.service_account = arg;
            s.routes.truncate(1);
            s.refresh_view();
        }
        "role" | "roles" | "rbac" => {
            s.scope.with_roles = !s.scope.with_roles;
            s.routes.truncate(1);
            s.refresh_view();
        }
        "netpol" | "np" | "networkpolicy" => {
            s.scope.with_policies = !s.scope.with_policies;
            s.routes.truncate(1);
            s.refresh_view();
        }
        "chain" | "chains" => return on_action(s, ActionId::ShowChain),
        other => s.toast(ToastLevel::Warn, format!("unknown command :{other} (try :help)")),
    }
    Vec::new()
}
