//! Domain types shared by every layer: what exists (inventory), what happened (observations),
//! who did it (subjects and workloads), the aggregated profile, the targets an engine works on,
//! and what engines and the guard hand back (recommendations, findings, progress events).
//!
//! This module owns *types only*. It does no I/O and holds no policy: parsing lives in
//! `sources`, aggregation in `profile`, decisions in `synth`/`chain`, checking in `guard`.

pub mod api;
pub mod evidence;
pub mod flow;
pub mod inventory;
pub mod recommendation;
pub mod runtime;
pub mod subject;
pub mod target;

pub use api::{ApiRequest, RequestOutcome};
pub use evidence::{Evidence, Timestamp};
pub use flow::{Connection, Direction, FlowEndpoint, FlowVerdict, L4Protocol};
pub use inventory::{Inventory, ManifestOrigin, Workload, WorkloadKind, WorkloadRef};
pub use recommendation::{Finding, GuardVerdict, ProgressEvent, Recommendation, RuleEvidence, Severity, StepStatus};
pub use runtime::{ContainerRef, MetricSample, RuntimeObservation};
pub use subject::{Subject, SubjectClass};
pub use target::{ResourceKind, Target, TargetScope, Task};
