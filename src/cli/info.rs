//! `kubeguard info`: every resolved path (config file, config/data/cache dirs, user theme and
//! prompt override folders), the active settings and whether an LLM is configured. Never prints
//! secrets: only the *name* of the API-key variable and whether it is set.

use std::io::Write;

use serde::Serialize;

use super::args::InfoArgs;
use super::exit;
use crate::config::{Config, Paths};

#[derive(Debug, Serialize)]
struct Info {
    version: &'static str,
    paths: Paths,
    config_file_exists: bool,
    config_warnings: Vec<String>,
    config: Config,
    user_themes: Vec<String>,
    user_prompts: Vec<String>,
    llm: LlmInfo,
    demo_files: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct LlmInfo {
    configured: bool,
    base_url: Option<String>,
    model: Option<String>,
    api_key_env: Option<String>,
    api_key_set: bool,
}

fn list(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

pub fn run(args: &InfoArgs, llm: &super::args::LlmArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let paths = Paths::resolve()?;
    let (config, config_warnings) = crate::config::load(&paths.config_file)?;
    let configured = crate::engine::llm_configured(llm, &config);
    let api_key_env = config.llm.api_key_env.clone();
    let api_key_set = api_key_env.as_deref().is_some_and(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    let info = Info {
        version: env!("CARGO_PKG_VERSION"),
        config_file_exists: paths.config_file.exists(),
        user_themes: list(&paths.themes_dir),
        user_prompts: list(&paths.prompts_dir),
        llm: LlmInfo {
            configured: configured.is_some(),
            base_url: configured.as_ref().map(|c| c.0.clone()),
            model: configured.as_ref().map(|c| c.1.clone()),
            api_key_env,
            api_key_set,
        },
        demo_files: crate::demo::FILES.iter().map(|(p, _)| *p).collect(),
        paths,
        config,
        config_warnings,
    };
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&info)?)?;
        return Ok(exit::OK);
    }
    let p = &info.paths;
    writeln!(out, "kubeguard {}", info.version)?;
    writeln!(
        out,
        "config file:   {} ({})",
        p.config_file.display(),
        if info.config_file_exists { "found" } else { "not found: defaults in use" }
    )?;
    for w in &info.config_warnings {
        writeln!(out, "  warning: {w}")?;
    }
    writeln!(out, "config dir:    {}", p.config_dir.display())?;
    writeln!(out, "data dir:      {}", p.data_dir.display())?;
    writeln!(out, "cache dir:     {}", p.cache_dir.display())?;
    writeln!(out, "themes dir:    {} ({} user theme file(s))", p.themes_dir.display(), info.user_themes.len())?;
    writeln!(out, "prompts dir:   {} ({} override file(s))", p.prompts_dir.display(), info.user_prompts.len())?;
    writeln!(out, "theme:         {}", info.config.ui.theme)?;
    match (&info.llm.base_url, &info.llm.model) {
        (Some(url), Some(model)) => writeln!(out, "llm:           {model} at {url}")?,
        _ => writeln!(
            out,
            "llm:           not configured (set [llm] base_url and model in the config file, or --llm-base-url/--llm-model); the deterministic engine is used"
        )?,
    }
    if let Some(var) = &info.llm.api_key_env {
        writeln!(out, "api key:       ${var} {}", if info.llm.api_key_set { "is set" } else { "is NOT set" })?;
    }
    writeln!(out, "demo snapshot: bundled ({} files)", info.demo_files.len())?;
    Ok(exit::OK)
}
