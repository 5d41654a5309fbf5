//! The headless face: command-line definition (clap) and the subcommands `recommend`,
//! `verify`, `eval`, `info` and `serve`. With no subcommand the binary opens the TUI. This
//! module parses arguments and presents results; the work is done by the library.

pub mod args;

pub use args::{Cli, Command};

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
    match cli.command {
        None => crate::tui::run(&cli.tui),
        Some(_) => anyhow::bail!("this subcommand is not built yet"),
    }
}
