//! The headless face: command-line definition (clap) and the subcommands `recommend`,
//! `verify`, `eval`, `info` and `serve`. With no subcommand the binary opens the TUI. This
//! module parses arguments and presents results; the work is done by the library.

pub mod args;
pub mod eval;
pub mod info;
pub mod inputs;
pub mod recommend;
pub mod verify;

use std::io::Write;

pub use args::{Cli, Command};

use crate::sources::InputError;

/// Process exit codes (documented in the README and `--help`).
pub mod exit {
    /// Success; for `verify`: full coverage and no finding at or above the threshold.
    pub const OK: i32 = 0;
    /// Error: unreadable input, bad configuration, engine failure.
    pub const ERROR: i32 = 1;
    /// Usage error (clap).
    pub const USAGE: i32 = 2;
    /// `verify`/`recommend --check`: findings at or above `--fail-on`, or coverage gaps.
    pub const FINDINGS: i32 = 3;
    /// Malformed input records with `--strict`.
    pub const MALFORMED: i32 = 4;
}

/// Run the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let code = match cli.command {
        None => {
            drop(out);
            drop(err);
            return crate::tui::run(&cli.tui);
        }
        Some(Command::Recommend(a)) => recommend::run(&a, &mut out, &mut err)?,
        Some(Command::Verify(a)) => verify::run(&a, &mut out, &mut err)?,
        Some(Command::Info(a)) => info::run(&a, &cli.tui.llm, &mut out)?,
        Some(Command::Demo(args::DemoCommand::Export { dir, force })) => {
            let written = crate::demo::export(&dir, force)?;
            for p in written {
                writeln!(out, "{}", p.display())?;
            }
            writeln!(err, "read it back with: kubeguard --snapshot {}", dir.display())?;
            exit::OK
        }
        Some(Command::Eval(a)) => eval::run(&a, &mut out, &mut err)?,
        Some(Command::Serve(a)) => {
            drop(out);
            drop(err);
            return crate::serve::run(&a);
        }
    };
    out.flush()?;
    Ok(code)
}

/// The config file, if any (defaults otherwise), with warnings for unknown keys.
pub fn load_config() -> anyhow::Result<(crate::config::Config, Vec<String>)> {
    let paths = crate::config::Paths::resolve()?;
    Ok(crate::config::load(&paths.config_file)?)
}

/// Report a fatal input error on `err` and pick the exit code: malformed input (strict) is 4,
/// anything else (unreadable path) is 1.
pub fn input_error(e: &InputError, err: &mut dyn Write) -> i32 {
    let _ = writeln!(err, "error: {e}");
    match e {
        InputError::Malformed(_) => exit::MALFORMED,
        InputError::Io { .. } | InputError::Invalid { .. } => exit::ERROR,
    }
}
