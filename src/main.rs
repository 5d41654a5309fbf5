//! The `kubeguard` binary: installs the TLS crypto provider, parses the command line and hands
//! off to the CLI subcommands or the TUI. All work is in the library.

use clap::Parser;
use kubeguard::cli::{Cli, exit};

fn main() {
    // One rustls crypto provider for kube and async-openai (see stack.md §1.3).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let code = match kubeguard::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::ERROR
        }
    };
    std::process::exit(code);
}
