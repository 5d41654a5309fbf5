//! The full-screen TUI: browse workloads with their RBAC and network exposure, run create/refine
//! for Roles, NetworkPolicies and Deployments through any `engine::Engine`, follow each chain step
//! by step, review a side-by-side highlighted diff with the guard's verdict, edit and save.
//!
//! Layout: `state` (pure `update`), `exec` (effects on tokio tasks + the terminal loop), `view`
//! (drawing), `keymap` (the one registry behind keys, help and hints), `theme`, `rows` (the
//! precomputed workloads table), `detail`, `diff` + `highlight` + `yaml` (review), `facts`
//! (display-only inventory facts), `backend` (the seam to snapshot/engine/guard).
//!
//! Must not: write to stdout while the terminal is in raw mode (logs go to a file), apply
//! anything to a cluster, or overwrite a file without confirmation.

pub mod backend;
pub mod detail;
pub mod diff;
pub mod exec;
pub mod facts;
pub mod highlight;
pub mod keymap;
pub mod rows;
pub mod state;
pub mod theme;
pub mod view;
pub mod yaml;

use std::path::PathBuf;

use crate::cli::args::TuiArgs;
use crate::config::{self, Config, Paths};

use self::keymap::Keymap;
use self::state::{Settings, State};
use self::theme::{ThemeSet, colour_disabled};

/// Environment variable naming a file where the TUI writes `idle N` / `busy N` (tests wait on it).
pub const STATUS_FILE_ENV: &str = "KUBEGUARD_TUI_STATUS";
/// Environment variable overriding the log file.
pub const LOG_FILE_ENV: &str = "KUBEGUARD_LOG";

/// Build the initial state from arguments and config (no terminal, no I/O besides reading
/// theme files). Returns the state and the effects to start with.
pub fn initial_state(args: &TuiArgs, cfg: &Config, paths: Option<&Paths>, mut warnings: Vec<String>) -> State {
    let no_color = colour_disabled(args.no_color, std::env::var("NO_COLOR").ok().as_deref());
    let themes = ThemeSet::load(paths.map(|p| p.themes_dir.as_path()));
    warnings.extend(themes.warnings.iter().cloned());
    let wanted = if no_color { "mono".to_string() } else { args.theme.clone().unwrap_or_else(|| cfg.ui.theme.clone()) };
    let theme = match themes.get(&wanted) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!("{e}; using dark"));
            themes
                .get("dark")
                .or_else(|_| themes.get("mono"))
                .unwrap_or_else(|_| ThemeSet::load(None).themes[0].clone())
        }
    };
    let (keymap, kw) = Keymap::new(&cfg.ui.keys);
    warnings.extend(kw);
    let settings = Settings {
        save_dir: cfg.ui.save_dir.clone().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("kubeguard-out")),
        side_by_side_min_width: cfg.ui.side_by_side_min_width,
        read_only: true,
        engine: String::new(),
        mouse: args.mouse || cfg.ui.mouse,
    };
    let mut s = State::new(settings, keymap, themes, theme, no_color);
    s.warnings = warnings;
    s.scope.namespace = args.namespace.clone();
    s
}

fn init_logging(paths: Option<&Paths>) -> Option<PathBuf> {
    let path = std::env::var_os(LOG_FILE_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| paths.map(|p| p.data_dir.join("tui.log")))?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUBEGUARD_LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    Some(path)
}

/// Open the TUI. Returns the process exit code.
pub fn run(args: &TuiArgs) -> anyhow::Result<i32> {
    let paths = Paths::resolve().ok();
    let mut warnings = Vec::new();
    let cfg = match paths.as_ref().map(|p| config::load(&p.config_file)) {
        Some(Ok((c, w))) => {
            warnings.extend(w);
            c
        }
        Some(Err(e)) => {
            warnings.push(format!("config ignored: {e}"));
            Config::default()
        }
        None => Config::default(),
    };
    let log = init_logging(paths.as_ref());
    tracing::info!(?log, "kubeguard TUI starting");
    let mut state = initial_state(args, &cfg, paths.as_ref(), warnings);
    let engine = backend::engine(args, &cfg);
    state.settings.engine = match &engine {
        Ok(e) => e.name(),
        Err(_) => "none".to_string(),
    };
    if let Err(e) = &engine {
        state.warnings.push(format!("actions unavailable: {e}"));
    }
    let request = backend::request_from_args(args);
    state.loading = Some("loading…".to_string());
    let status = std::env::var_os(STATUS_FILE_ENV).filter(|p| !p.is_empty()).map(|p| exec::StatusFile::new(p.into()));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut terminal = ratatui::try_init()?; // installs a panic hook that restores the terminal
    let mouse = state.settings.mouse;
    if mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    }
    let result = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut executor = exec::Executor::new(tx, engine, args.input.clone());
        exec::run_loop(&mut state, &mut terminal, &mut executor, &mut rx, status, vec![state::Effect::Load(request)])
            .await
    });
    if mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    }
    ratatui::restore();
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    result?;
    Ok(crate::cli::exit::OK)
}
