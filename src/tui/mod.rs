//! (to be written: the full-screen TUI)

/// Open the TUI. Returns the process exit code.
pub fn run(_args: &crate::cli::args::TuiArgs) -> anyhow::Result<i32> {
    anyhow::bail!("the TUI is not built yet")
}
