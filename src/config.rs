//! User configuration (`config.toml`) and the resolved paths kubeguard uses: config dir,
//! data dir, cache, theme and prompt override folders. Resolution order for the file:
//! `$KUBEGUARD_CONFIG`, then `$XDG_CONFIG_HOME/kubeguard/config.toml`, then
//! `~/.config/kubeguard/config.toml` (also on macOS). Unknown keys are warnings, not errors.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub ui: UiConfig,
    pub llm: LlmConfig,
    pub guard: GuardConfig,
    /// How RBAC evidence becomes permissions: `verb_expansion` (verb → extra verbs granted with
    /// it; `{}` = exactly the observed verbs) and `name_widen_threshold` (distinct names at which
    /// a rule grants any name; 0 = always list names).
    pub rbac: crate::guard::rbac::RbacOptions,
    /// NetworkPolicy engine: `force_ingress` / `force_egress` isolate a direction even when no
    /// connection in it was observed (default: leave it out of `policyTypes`, with a finding);
    /// `namespace_default_deny` adds a default-deny policy per namespace.
    pub netpol: crate::synth::netpol::NetpolOptions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiConfig {
    pub theme: String,
    pub mouse: bool,
    /// Folder suggestions are saved to by default (relative to the working directory).
    pub save_dir: Option<String>,
    /// Below this terminal width the diff view is unified instead of side by side.
    pub side_by_side_min_width: u16,
    /// Key overrides: action name → keys (`down = ["j", "ctrl-n"]`, chords as `"g g"`).
    pub keys: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            theme: "dark".to_string(),
            mouse: false,
            save_dir: None,
            side_by_side_min_width: 110,
            keys: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    /// OpenAI-compatible base URL (`http://127.0.0.1:8080/v1`). None = no LLM configured.
    pub base_url: Option<String>,
    pub model: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    /// Without it `OPENAI_API_KEY` is used when set.
    pub api_key_env: Option<String>,
    /// Azure OpenAI: the `api-version`; `model` is then the deployment id.
    pub azure_api_version: Option<String>,
    /// How the server is asked to constrain answers: `json_schema` (default), `json_object`
    /// (llama.cpp server) or `none`. Answers are always validated regardless.
    pub structured_output: Option<crate::chain::provider::StructuredOutput>,
    /// Sampling temperature (default 0, as in the paper).
    pub temperature: Option<f32>,
    /// Completion token limit per call (default 2048).
    pub max_tokens: Option<u32>,
    /// Sampling seed sent to servers that honour it (default 0).
    pub seed: Option<u64>,
    /// Whole-answer timeout per call in seconds (default 300).
    pub timeout_secs: Option<u64>,
    /// Retries of a failed call (rate limit, 5xx, broken stream; default 2).
    pub max_retries: Option<u32>,
    /// Re-prompts with the validation errors when an answer is invalid (default 2).
    pub max_repairs: Option<u32>,
    /// Reuse cached answers for identical requests (default true).
    pub cache: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuardConfig {
    /// Remove grants the evidence and the original do not support (default on).
    pub strip_unsupported: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig { strip_unsupported: true }
    }
}

/// Every path kubeguard resolves, for `kubeguard info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paths {
    pub config_file: PathBuf,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub themes_dir: PathBuf,
    pub prompts_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("cannot determine the home directory")]
    NoHome,
}

impl Paths {
    pub fn resolve() -> Result<Paths, ConfigError> {
        use etcetera::BaseStrategy;
        let strategy = etcetera::choose_base_strategy().map_err(|_| ConfigError::NoHome)?;
        let config_dir = strategy.config_dir().join("kubeguard");
        let config_file = match std::env::var_os("KUBEGUARD_CONFIG") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => config_dir.join("config.toml"),
        };
        let data_dir = strategy.data_dir().join("kubeguard");
        let cache_dir = strategy.cache_dir().join("kubeguard");
        Ok(Paths {
            themes_dir: config_dir.join("themes"),
            prompts_dir: config_dir.join("prompts"),
            config_file,
            config_dir,
            data_dir,
            cache_dir,
        })
    }
}

/// Load the config file if it exists (defaults otherwise). Returns warnings for unknown keys.
pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Config::default(), Vec::new())),
        Err(source) => return Err(ConfigError::Io { path: path.display().to_string(), source }),
    };
    parse(&text, &path.display().to_string())
}

pub fn parse(text: &str, path: &str) -> Result<(Config, Vec<String>), ConfigError> {
    let value: toml::Value =
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_string(), message: e.to_string() })?;
    let mut warnings = Vec::new();
    let known = serde_json::to_value(Config::default()).unwrap_or_default();
    if let (toml::Value::Table(t), serde_json::Value::Object(k)) = (&value, &known) {
        for (section, inner) in t {
            match k.get(section) {
                None => warnings.push(format!("{path}: unknown section [{section}]")),
                Some(serde_json::Value::Object(keys)) => {
                    if let toml::Value::Table(inner) = inner {
                        for key in inner.keys() {
                            if !keys.contains_key(key) {
                                warnings.push(format!("{path}: unknown key {section}.{key}"));
                            }
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }
    let config: Config = value
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Parse { path: path.to_string(), message: e.to_string() })?;
    Ok((config, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_section_sets_the_engine_options_and_unknown_keys_warn() {
        let (config, warnings) =
            parse("[rbac]\nname_widen_threshold = 2\nverb_expansion = { watch = [\"list\"] }\nbogus = 1\n", "c.toml")
                .expect("parses");
        assert_eq!(config.rbac.name_widen_threshold, 2);
        assert_eq!(config.rbac.verb_expansion.get("watch"), Some(&vec!["list".to_string()]));
        assert_eq!(config.rbac.verb_expansion.len(), 1, "a given map replaces the default one");
        assert_eq!(warnings, vec!["c.toml: unknown key rbac.bogus".to_string()]);
        let engine = crate::synth::DeterministicEngine::from_config(&config);
        assert_eq!(engine.rbac, config.rbac);
        // Without the section the defaults apply (audit2rbac's expansion, widening at 5 names).
        let (default, _) = parse("", "c.toml").expect("parses");
        assert_eq!(default.rbac, crate::guard::rbac::RbacOptions::default());
        assert_eq!(default.netpol, crate::synth::netpol::NetpolOptions::default());
    }

    #[test]
    fn netpol_section_sets_the_engine_options() {
        let (config, warnings) = parse("[netpol]\nforce_egress = true\n", "c.toml").expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(config.netpol.force_egress && !config.netpol.force_ingress && !config.netpol.namespace_default_deny);
        assert_eq!(crate::synth::DeterministicEngine::from_config(&config).netpol, config.netpol);
    }
}
