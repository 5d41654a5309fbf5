//! Chains as data: the chains file (`prompts/chains.toml`), one minijinja template per step
//! (strict undefined: a missing variable is an error, never an empty string) and the JSON
//! Schemas of the declared outputs. Defaults are embedded in the binary; a file with the same
//! name in the user's prompts folder overrides it, and every step reports where it came from.
//!
//! Must not call models or read snapshots; it only loads, checks and renders text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{ResourceKind, Task};

/// The embedded defaults: (file name, content).
pub const EMBEDDED: &[(&str, &str)] = &[
    ("chains.toml", include_str!("../../prompts/chains.toml")),
    ("system.j2", include_str!("../../prompts/system.j2")),
    ("role-analyse-manifest.j2", include_str!("../../prompts/role-analyse-manifest.j2")),
    ("role-analyse-logs.j2", include_str!("../../prompts/role-analyse-logs.j2")),
    ("role-generate.j2", include_str!("../../prompts/role-generate.j2")),
    ("role-refine.j2", include_str!("../../prompts/role-refine.j2")),
    ("networkpolicy-analyse-manifest.j2", include_str!("../../prompts/networkpolicy-analyse-manifest.j2")),
    ("networkpolicy-analyse-logs.j2", include_str!("../../prompts/networkpolicy-analyse-logs.j2")),
    ("networkpolicy-generate.j2", include_str!("../../prompts/networkpolicy-generate.j2")),
    ("networkpolicy-refine.j2", include_str!("../../prompts/networkpolicy-refine.j2")),
    ("deployment-analyse-manifest.j2", include_str!("../../prompts/deployment-analyse-manifest.j2")),
    ("deployment-analyse-logs.j2", include_str!("../../prompts/deployment-analyse-logs.j2")),
    ("deployment-generate.j2", include_str!("../../prompts/deployment-generate.j2")),
    ("deployment-refine.j2", include_str!("../../prompts/deployment-refine.j2")),
    ("schemas/analysis.schema.json", include_str!("../../prompts/schemas/analysis.schema.json")),
    ("schemas/role.schema.json", include_str!("../../prompts/schemas/role.schema.json")),
    ("schemas/networkpolicy.schema.json", include_str!("../../prompts/schemas/networkpolicy.schema.json")),
    ("schemas/deployment.schema.json", include_str!("../../prompts/schemas/deployment.schema.json")),
];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: cannot read: {source}")]
    Io { file: String, source: std::io::Error },
    #[error("no chain for {task} {kind} in {file}")]
    NoChain { task: Task, kind: ResourceKind, file: String },
    #[error("template {file}: {message}")]
    Render { file: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    Json,
    Yaml,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    name: String,
    template: String,
    output: OutputKind,
    #[serde(default)]
    schema: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainFile {
    task: Task,
    kind: ResourceKind,
    steps: Vec<StepFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainsFile {
    system: String,
    chain: Vec<ChainFile>,
}

/// A loaded file and where it came from (`embedded:prompts/x` or an override path).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub text: String,
    pub origin: String,
}

/// One step, ready to render.
#[derive(Debug, Clone)]
pub struct StepDef {
    pub name: String,
    pub template: String,
    pub template_source: String,
    pub output: OutputKind,
    pub schema: Option<serde_json::Value>,
    pub schema_source: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ChainDef {
    pub task: Task,
    pub kind: ResourceKind,
    pub steps: Vec<StepDef>,
}

/// All six chains plus the system template, loaded and checked.
#[derive(Debug, Clone)]
pub struct Library {
    files: BTreeMap<String, Source>,
    system: String,
    chains: Vec<ChainDef>,
}

fn load_file(name: &str, overrides: Option<&Path>) -> Result<Source, PromptError> {
    if let Some(dir) = overrides {
        let p: PathBuf = dir.join(name);
        match std::fs::read_to_string(&p) {
            Ok(text) => return Ok(Source { text, origin: p.display().to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(PromptError::Io { file: p.display().to_string(), source }),
        }
    }
    EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, t)| Source { text: (*t).to_string(), origin: format!("embedded:prompts/{n}") })
        .ok_or_else(|| PromptError::Invalid { file: name.to_string(), message: "no such prompt file".into() })
}

fn safe_name(name: &str, file: &str) -> Result<(), PromptError> {
    if name.is_empty() || name.starts_with('/') || name.split('/').any(|p| p == ".." || p.is_empty()) {
        return Err(PromptError::Invalid { file: file.to_string(), message: format!("bad file name {name:?}") });
    }
    Ok(())
}

fn env_for(files: &BTreeMap<String, Source>) -> minijinja::Environment<'_> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Prompts are plain text: no HTML escaping, keep trailing newlines.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    for (name, src) in files {
        if name.ends_with(".j2") {
            let _ = env.add_template(name.as_str(), src.text.as_str());
        }
    }
    env
}

impl Library {
    /// Load the embedded defaults, overridden file by file from `overrides` when given.
    pub fn load(overrides: Option<&Path>) -> Result<Library, PromptError> {
        let chains_src = load_file("chains.toml", overrides)?;
        let parsed: ChainsFile = toml::from_str(&chains_src.text)
            .map_err(|e| PromptError::Invalid { file: chains_src.origin.clone(), message: e.to_string() })?;
        let mut files = BTreeMap::new();
        safe_name(&parsed.system, &chains_src.origin)?;
        files.insert(parsed.system.clone(), load_file(&parsed.system, overrides)?);
        let mut chains = Vec::new();
        for c in &parsed.chain {
            if chains.iter().any(|d: &ChainDef| d.task == c.task && d.kind == c.kind) {
                return Err(PromptError::Invalid {
                    file: chains_src.origin.clone(),
                    message: format!("chain {} {} listed twice", c.task, c.kind),
                });
            }
            if c.steps.is_empty() {
                return Err(PromptError::Invalid {
                    file: chains_src.origin.clone(),
                    message: format!("chain {} {} has no steps", c.task, c.kind),
                });
            }
            let mut steps = Vec::new();
            for s in &c.steps {
                safe_name(&s.template, &chains_src.origin)?;
                let t = load_file(&s.template, overrides)?;
                let template_source = t.origin.clone();
                files.insert(s.template.clone(), t);
                let (schema, schema_source) = match &s.schema {
                    Some(name) => {
                        let rel = format!("schemas/{name}");
                        safe_name(&rel, &chains_src.origin)?;
                        let src = load_file(&rel, overrides)?;
                        let v: serde_json::Value = serde_json::from_str(&src.text)
                            .map_err(|e| PromptError::Invalid { file: src.origin.clone(), message: e.to_string() })?;
                        jsonschema::validator_for(&v)
                            .map_err(|e| PromptError::Invalid { file: src.origin.clone(), message: e.to_string() })?;
                        (Some(v), Some(src.origin))
                    }
                    None if s.output == OutputKind::Json => {
                        return Err(PromptError::Invalid {
                            file: chains_src.origin.clone(),
                            message: format!("step {} declares json output without a schema", s.name),
                        });
                    }
                    None => (None, None),
                };
                steps.push(StepDef {
                    name: s.name.clone(),
                    template: s.template.clone(),
                    template_source,
                    output: s.output,
                    schema,
                    schema_source,
                });
            }
            chains.push(ChainDef { task: c.task, kind: c.kind, steps });
        }
        // Every template must compile.
        let mut env = minijinja::Environment::new();
        for (name, src) in &files {
            if name.ends_with(".j2") {
                env.add_template(name.as_str(), src.text.as_str())
                    .map_err(|e| PromptError::Render { file: src.origin.clone(), message: e.to_string() })?;
            }
        }
        Ok(Library { files, system: parsed.system, chains })
    }

    pub fn chain(&self, task: Task, kind: ResourceKind) -> Result<&ChainDef, PromptError> {
        self.chains.iter().find(|c| c.task == task && c.kind == kind).ok_or(PromptError::NoChain {
            task,
            kind,
            file: self.files.get("chains.toml").map(|s| s.origin.clone()).unwrap_or_else(|| "chains.toml".into()),
        })
    }

    pub fn chains(&self) -> &[ChainDef] {
        &self.chains
    }

    /// Origin of the system template.
    pub fn system_source(&self) -> String {
        self.files.get(&self.system).map(|s| s.origin.clone()).unwrap_or_default()
    }

    /// Render a template with the given context (strict: undefined variables fail).
    pub fn render(&self, template: &str, ctx: &serde_json::Value) -> Result<String, PromptError> {
        let origin = self.files.get(template).map(|s| s.origin.clone()).unwrap_or_else(|| template.to_string());
        let env = env_for(&self.files);
        let t = env
            .get_template(template)
            .map_err(|e| PromptError::Render { file: origin.clone(), message: e.to_string() })?;
        t.render(minijinja::Value::from_serialize(ctx))
            .map_err(|e| PromptError::Render { file: origin, message: format!("{e:#}") })
    }

    pub fn render_system(&self, ctx: &serde_json::Value) -> Result<String, PromptError> {
        self.render(&self.system.clone(), ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> serde_json::Value {
        serde_json::json!({
            "task": "create", "kind": "role", "who": "ServiceAccount shop/api", "namespace": "shop",
            "manifest": "{}", "current": "[]", "aggregated_logs": "verb: [get]\n", "profile": "[]",
            "legend": "", "log_records": 1, "name_hint": "kubeguard-x",
            "steps": {"analyse_manifest": "{}", "analyse_logs": "{}"}
        })
    }

    #[test]
    fn all_six_chains_load_and_render() {
        let lib = Library::load(None).unwrap();
        for task in [Task::Create, Task::Refine] {
            for kind in [ResourceKind::Role, ResourceKind::NetworkPolicy, ResourceKind::Deployment] {
                let c = lib.chain(task, kind).unwrap();
                assert_eq!(c.steps.len(), 3);
                let mut ctx = ctx();
                ctx["kind"] = serde_json::json!(kind.to_string());
                for s in &c.steps {
                    assert!(s.template_source.starts_with("embedded:prompts/"));
                    let text = lib.render(&s.template, &ctx).unwrap();
                    assert!(text.contains("# Expected output"), "{}", s.template);
                }
                // Refine chains receive the current manifest; create chains do not.
                let last = lib.render(&c.steps[2].template, &ctx).unwrap();
                assert_eq!(last.contains("<current>"), task == Task::Refine);
            }
        }
        assert!(lib.render_system(&ctx()).unwrap().contains("UNTRUSTED DATA"));
    }

    #[test]
    fn strict_undefined_fails_loudly() {
        let lib = Library::load(None).unwrap();
        let mut c = ctx();
        c.as_object_mut().unwrap().remove("profile");
        let err = lib.render("role-generate.j2", &c).unwrap_err().to_string();
        assert!(err.contains("role-generate.j2"), "{err}");
    }

    #[test]
    fn overrides_win_and_report_their_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("role-generate.j2"), "custom {{ who }} # Expected output").unwrap();
        let lib = Library::load(Some(dir.path())).unwrap();
        let step = &lib.chain(Task::Create, ResourceKind::Role).unwrap().steps[2];
        assert_eq!(step.template_source, dir.path().join("role-generate.j2").display().to_string());
        assert!(lib.render(&step.template, &ctx()).unwrap().starts_with("custom ServiceAccount shop/api"));
        // A broken override is reported with its path.
        std::fs::write(dir.path().join("role-generate.j2"), "{% if %}").unwrap();
        let err = Library::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("role-generate.j2"), "{err}");
        std::fs::write(dir.path().join("chains.toml"), "system = \"../x\"\nchain = []").unwrap();
        assert!(Library::load(Some(dir.path())).is_err());
    }
}
