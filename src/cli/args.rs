//! Argument definitions shared by the binary and by tests (so `--help` is testable).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::{ResourceKind, Task};

#[derive(Debug, Parser)]
#[command(
    name = "kubeguard",
    version,
    about = "Least-privilege Roles, NetworkPolicies and hardened Deployments from what your cluster actually does",
    long_about = "kubeguard reads manifests and runtime logs (API-server audit logs, Hubble flows, \
provenance, metrics) and recommends least-privilege configuration. Every suggestion is checked by \
the guard with exact Kubernetes semantics: nothing observed may break, nothing unobserved may be \
granted without being flagged.\n\nWith no subcommand it opens the TUI: on the current cluster when \
reachable, on --snapshot DIR, or on the bundled demo (--demo, also the fallback).",
    after_help = "Examples:\n  kubeguard --demo\n  kubeguard recommend --manifests k8s/ --audit-log audit.log --kind role --task refine --out hardened/\n  kubeguard verify --manifests k8s/ --audit-log audit.log\n\nExit codes: 0 ok, 1 error, 2 usage, 3 findings (verify/--fail-on), 4 malformed input with --strict."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub tui: TuiArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate least-privilege manifests (create) or tighten existing ones (refine).
    Recommend(RecommendArgs),
    /// Check what is deployed now against the evidence: coverage, excess and risks.
    Verify(VerifyArgs),
    /// Score recommendations against ground truth (precision, recall, F1).
    Eval(EvalArgs),
    /// Print every resolved path (config, data, cache, themes, prompts) and the active settings.
    Info(InfoArgs),
    /// Run long-lived receivers (audit webhook) that feed kubeguard continuously.
    Serve(ServeArgs),
    /// The bundled demo snapshot (`kubeguard demo export DIR` writes it out as a snapshot folder).
    #[command(subcommand)]
    Demo(DemoCommand),
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Write the demo snapshot folder (manifests/, audit/, flows/, provenance/, metrics/) to DIR,
    /// to read it back with `--snapshot DIR` or to look at the inputs.
    Export {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

/// Where the evidence comes from. Every path may be a file, a directory (read recursively),
/// or `-` for stdin; gzip is detected automatically.
#[derive(Debug, Clone, Default, Args)]
pub struct InputArgs {
    /// Manifests: YAML/JSON files or directories (multi-document, `kind: List`, `kubectl get -o yaml`).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub manifests: Vec<PathBuf>,
    /// API-server audit logs (audit.k8s.io Event JSON lines or EventList documents).
    #[arg(long = "audit-log", value_name = "PATH", num_args = 1..)]
    pub audit_log: Vec<PathBuf>,
    /// Hubble flow logs (`hubble observe -o json`).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub flows: Vec<PathBuf>,
    /// In-container provenance: SPADE JSON/CDM, Tetragon or Falco JSON events.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub provenance: Vec<PathBuf>,
    /// Resource metrics: Prometheus range-query JSON, PodMetrics JSON or `kubectl top` CSV.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub metrics: Vec<PathBuf>,
    /// A snapshot folder with manifests/, audit/, flows/, provenance/, metrics/ subfolders.
    #[arg(long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,
    /// Use the bundled demo snapshot.
    #[arg(long)]
    pub demo: bool,
    /// Read the inventory from the live cluster of the current kubeconfig context.
    #[arg(long)]
    pub cluster: bool,
    /// Kubeconfig context (live mode).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Treat malformed input records as fatal (exit 4) instead of counting and skipping them.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
    Markdown,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum EngineChoice {
    /// Verified answer with no LLM (default).
    #[default]
    Deterministic,
    /// The KubeGuard prompt chain; its output is checked and repaired by the guard.
    Llm,
    /// Run both; report where they agree and differ; output the guarded LLM answer.
    Hybrid,
}

/// LLM provider selection (overrides config.toml `[llm]`).
#[derive(Debug, Clone, Default, Args)]
pub struct LlmArgs {
    /// OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (Ollama: http://localhost:11434/v1).
    #[arg(long = "llm-base-url", value_name = "URL", env = "KUBEGUARD_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// Model name as the server knows it.
    #[arg(long = "llm-model", value_name = "NAME", env = "KUBEGUARD_LLM_MODEL")]
    pub llm_model: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Which resource to recommend.
    #[arg(long, value_enum, default_value = "role")]
    pub kind: ResourceKind,
    /// create: for subjects/workloads that have none; refine: tighten what exists.
    #[arg(long, value_enum, default_value = "create")]
    pub task: Task,
    /// Only this subject/workload: `ns/name` (service account or workload), `user:NAME`.
    #[arg(long = "for", value_name = "WHO")]
    pub only: Vec<String>,
    /// Only this namespace.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// Write manifests and the report into this folder (atomic writes; asks before overwriting).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite existing files in --out without asking.
    #[arg(long)]
    pub force: bool,
    /// Output format on stdout (and of the report file).
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: OutputFormat,
    #[arg(long, value_enum, default_value = "deterministic")]
    pub engine: EngineChoice,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Apply to the live cluster (server-side dry-run first, then an explicit confirmation).
    #[arg(long)]
    pub apply: bool,
    /// Exit 3 when the result has findings at or above this severity.
    #[arg(long = "fail-on", value_name = "SEVERITY")]
    pub fail_on: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Which resource kinds to verify (default: all that have evidence).
    #[arg(long, value_enum)]
    pub kind: Vec<ResourceKind>,
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: OutputFormat,
    /// Exit 3 when findings at or above this severity exist (default: high).
    #[arg(long = "fail-on", value_name = "SEVERITY", default_value = "high")]
    pub fail_on: String,
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Corpus folder (one application per subfolder with inputs and ground truth).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub engine: Vec<EngineChoice>,
    /// Also score an externally produced manifest file or folder (e.g. audit2rbac's Roles and
    /// bindings) with the same units; it is reported as engine `predicted:<file name>`. Without
    /// --engine, only the file is scored.
    #[arg(long, value_name = "FILE")]
    pub predicted: Option<PathBuf>,
    /// Only these applications of the corpus (folder names; repeatable).
    #[arg(long, value_name = "APP")]
    pub app: Vec<String>,
    /// Only these tasks (repeatable; default both).
    #[arg(long, value_enum)]
    pub task: Vec<Task>,
    /// Only these resources (repeatable; default all three).
    #[arg(long, value_enum)]
    pub kind: Vec<ResourceKind>,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Listen address for the audit webhook (HTTPS), e.g. 127.0.0.1:8443.
    #[arg(long = "audit-webhook", value_name = "ADDR")]
    pub audit_webhook: Option<String>,
    /// Folder for the rotating audit log written by the receiver.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// PEM certificate (chain) for the webhook; default: a self-signed one generated at start.
    #[arg(long = "tls-cert", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long = "tls-key", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require a client certificate signed by this PEM CA (mTLS); others fail the handshake.
    #[arg(long = "client-ca", value_name = "PEM")]
    pub client_ca: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` with the token in this file (401 otherwise).
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// TUI options (used when no subcommand is given).
#[derive(Debug, Clone, Default, Args)]
pub struct TuiArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Start in this namespace.
    #[arg(long, short = 'n', value_name = "NS", global = true)]
    pub namespace: Option<String>,
    /// Theme name (dark, light, mono, colorblind, or a user theme).
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// No colours (same as NO_COLOR=1): the mono theme.
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Capture the mouse (wheel scroll, click). Off by default so terminal copy/paste works.
    #[arg(long)]
    pub mouse: bool,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[arg(long, value_enum, default_value = "deterministic")]
    pub engine: EngineChoice,
}
