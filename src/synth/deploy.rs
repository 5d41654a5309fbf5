//! Deterministic hardening of a workload's pod spec from runtime evidence: securityContext
//! (runAsNonRoot/runAsUser/runAsGroup, readOnlyRootFilesystem with emptyDir mounts for observed
//! temp writes, allowPrivilegeEscalation, capabilities drop ALL + needed adds, seccompProfile
//! RuntimeDefault, removal of unused privileged/host namespaces/hostPath), the service-account
//! token automount, and resources from metrics with a configurable strategy (`ResourceStrategy`).
//!
//! Rules (deploy.md §5, §8): every changed field carries its evidence (window, counts, the
//! processes/paths it rests on) and a confidence note; a field whose evidence is missing is left
//! as it is and reported as unobserved ("no evidence" is unknown, never absence); refine never
//! loosens a field the user set. Output: `manifests[0]` the full hardened object,
//! `manifests[1]` a minimal strategic-merge patch against the original (only the hardened
//! fields). The proposal goes through `guard::deploy::check` before it is returned.
//!
//! Pure: no I/O. Must not parse inputs (that is `sources`) nor weaken the guard's verdict.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::engine::EngineError;
use crate::guard::deploy::{
    self as gd, CONTAINER_LISTS, ContainerEvidence, RUNTIME_DEFAULT_BLOCKED_SYSCALLS, is_pseudo_path, set_pointer,
    under,
};
use crate::model::{
    ContainerRef, Evidence, Finding, MetricSample, Recommendation, ResourceKind, RuleEvidence, Severity, Target,
    TargetScope, Task, Workload, inventory::dns_label,
};
use crate::snapshot::Snapshot;

/// How requests/limits are derived from a container's usage series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceStrategy {
    /// krr `simple`: CPU request = P95 of CPU cores, no CPU limit; memory request = limit =
    /// max working set × 1.15. Floors 10m / 100 MB; rounding up to 1m / 1 MiB.
    #[default]
    KrrSimple,
    /// krr `simple_limit`: CPU request P66, CPU limit P96; memory as `krr-simple`.
    KrrSimpleLimit,
    /// VPA-style target without histogram or decay: CPU and memory request = P90 × 1.15,
    /// no limits; floors 25m / 250 MB per pod, split across containers.
    VpaTarget,
}

impl ResourceStrategy {
    pub fn name(self) -> &'static str {
        match self {
            ResourceStrategy::KrrSimple => "krr-simple",
            ResourceStrategy::KrrSimpleLimit => "krr-simple-limit",
            ResourceStrategy::VpaTarget => "vpa-target",
        }
    }
}

/// Tunables (`[deploy]` in config.toml when wired; defaults documented in README ## Deployments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeployOptions {
    pub strategy: ResourceStrategy,
    /// Minimum samples per resource before resources are recommended (krr: 100).
    pub min_samples: usize,
    /// Minimum window in seconds (krr: 3 h).
    pub min_window_secs: i64,
    /// Memory headroom over the peak (krr: 0.15).
    pub memory_margin: f64,
    /// Directories whose writes may move to an emptyDir mount under readOnlyRootFilesystem.
    pub emptydir_dirs: Vec<String>,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            strategy: ResourceStrategy::KrrSimple,
            min_samples: 100,
            min_window_secs: 3 * 3600,
            memory_margin: 0.15,
            emptydir_dirs: ["/tmp", "/var/tmp", "/run", "/var/run", "/var/cache", "/var/log"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Workloads to harden: `create` for those whose pod template sets none of the hardened fields,
/// `refine` for those that set some.
pub fn targets(snapshot: &Snapshot, task: Task) -> Vec<Target> {
    snapshot
        .inventory
        .workloads
        .iter()
        .filter(|w| gd::pod_spec_pointer(w.id.kind.as_str()).is_some())
        .filter(|w| sets_hardening(w) == (task == Task::Refine))
        .map(|w| Target { scope: TargetScope::Workload(w.id.clone()), kind: ResourceKind::Deployment, task })
        .collect()
}

/// Does the workload's pod template set any field this module hardens?
pub fn sets_hardening(w: &Workload) -> bool {
    let Some(spec) = gd::pod_spec_pointer(w.id.kind.as_str()).and_then(|p| w.raw.pointer(p)) else { return false };
    if spec.get("securityContext").and_then(Value::as_object).is_some_and(|o| !o.is_empty())
        || spec.get("automountServiceAccountToken").is_some()
    {
        return true;
    }
    CONTAINER_LISTS.iter().any(|l| {
        spec.get(*l).and_then(Value::as_array).into_iter().flatten().any(|c| {
            c.get("securityContext").and_then(Value::as_object).is_some_and(|o| !o.is_empty())
                || c.get("resources").and_then(Value::as_object).is_some_and(|o| !o.is_empty())
        })
    })
}

pub fn recommend(snapshot: &Snapshot, target: &Target) -> Result<Recommendation, EngineError> {
    recommend_with(snapshot, target, &DeployOptions::default())
}

/// Accumulates the proposal, its evidence and findings.
struct Builder<'a> {
    snapshot: &'a Snapshot,
    opts: &'a DeployOptions,
    obj: Value,
    spec_ptr: &'static str,
    prefix: &'static str,
    subject: String,
    evidence: Vec<RuleEvidence>,
    findings: Vec<Finding>,
    removed: Vec<(String, Severity)>,
}

impl Builder<'_> {
    fn spec(&self) -> &Value {
        self.obj.pointer(self.spec_ptr).unwrap_or(&Value::Null)
    }

    fn set(&mut self, rel: &str, value: Option<Value>) {
        if let Some(spec) = self.obj.pointer_mut(self.spec_ptr) {
            set_pointer(spec, rel, value);
        }
    }

    fn cite(&mut self, rel_dotted: &str, what: String, evidence: Evidence) {
        self.evidence.push(RuleEvidence { manifest: 0, path: format!("{}.{rel_dotted}", self.prefix), what, evidence });
    }

    fn find(&mut self, rule: &str, severity: Severity, message: String) {
        self.findings.push(Finding { rule_id: rule.to_string(), severity, subject: self.subject.clone(), message });
    }
}

fn confidence(ev: &Evidence, n_threshold: u64) -> &'static str {
    if ev.count >= n_threshold && ev.first_seen.0 != 0 && ev.last_seen.0 - ev.first_seen.0 >= 3_600_000_000 {
        "high"
    } else if ev.count >= 3 {
        "medium"
    } else {
        "low"
    }
}

fn window(ev: &Evidence) -> String {
    if ev.first_seen.0 == 0 || ev.last_seen.0 == 0 {
        return format!("{} events, window unknown", ev.count);
    }
    format!("{} events over {}", ev.count, human_duration((ev.last_seen.0 - ev.first_seen.0) / 1_000_000))
}

fn human_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

pub fn recommend_with(
    snapshot: &Snapshot,
    target: &Target,
    opts: &DeployOptions,
) -> Result<Recommendation, EngineError> {
    if target.kind != ResourceKind::Deployment {
        return Err(EngineError::NotApplicable(format!("{target} is not a deployment target")));
    }
    let TargetScope::Workload(wref) = &target.scope else {
        return Err(EngineError::NotApplicable(format!("{target}: deployment hardening needs a workload")));
    };
    let workload = snapshot
        .inventory
        .workload(wref)
        .ok_or_else(|| EngineError::NotApplicable(format!("{wref} is not in the inventory")))?;
    let kind = wref.kind.as_str();
    let spec_ptr =
        gd::pod_spec_pointer(kind).ok_or_else(|| EngineError::NotApplicable(format!("{kind} has no pod spec")))?;
    let original = workload.raw.clone();
    if original.pointer(spec_ptr).is_none() {
        return Err(EngineError::NotApplicable(format!("{wref} has no pod spec at {spec_ptr}")));
    }
    let mut b = Builder {
        snapshot,
        opts,
        obj: original.clone(),
        spec_ptr,
        prefix: gd::pod_spec_path(kind),
        subject: format!("{wref}"),
        evidence: Vec::new(),
        findings: Vec::new(),
        removed: Vec::new(),
    };
    let mut evs: BTreeMap<String, ContainerEvidence> = BTreeMap::new();
    for list in ["containers", "initContainers"] {
        let n = b.spec().get(list).and_then(Value::as_array).map_or(0, Vec::len);
        for i in 0..n {
            let name = b.spec().pointer(&format!("/{list}/{i}/name")).and_then(Value::as_str).unwrap_or("").to_string();
            let ev = gd::evidence_for(snapshot, wref, &name);
            harden_container(&mut b, list, i, &name, &ev);
            resources(&mut b, list, i, &name, workload, n);
            evs.insert(name, ev);
        }
    }
    pod_level(&mut b, workload, &evs);
    let proposal = b.obj.clone();
    let outcome = crate::guard::deploy::check(snapshot, target, &[proposal], std::slice::from_ref(&original), true);
    let mut findings = b.findings;
    findings.sort();
    findings.dedup();
    Ok(Recommendation {
        target: target.clone(),
        engine: "deterministic".into(),
        manifests: outcome.manifests,
        original: vec![original],
        evidence: b.evidence,
        findings,
        removed: b.removed,
        verdict: outcome.verdict,
    })
}

// ---------------------------------------------------------------------------------------------
// Container securityContext

fn harden_container(b: &mut Builder<'_>, list: &str, i: usize, name: &str, ev: &ContainerEvidence) {
    let cptr = format!("/{list}/{i}");
    let cpath = format!("{list}[{i}]");
    let c = b.spec().pointer(&cptr).cloned().unwrap_or(Value::Null);
    let pod = b.spec().clone();
    if ev.is_empty() {
        b.find(
            "KG-DEPLOY-UNOBSERVED",
            Severity::Info,
            format!(
                "container {name}: no runtime evidence; runAsNonRoot, readOnlyRootFilesystem, allowPrivilegeEscalation, \
                 capabilities, seccompProfile and privileged left as they are"
            ),
        );
        return;
    }
    let procs = ev.process_evidence();
    let sc_bool = |f: &str| c.pointer(&format!("/securityContext/{f}")).and_then(Value::as_bool);
    let pod_bool = |f: &str| pod.pointer(&format!("/securityContext/{f}")).and_then(Value::as_bool);

    // --- runAsNonRoot / runAsUser / runAsGroup
    if procs.count == 0 {
        b.find(
            "KG-DEPLOY-UNOBSERVED",
            Severity::Info,
            format!("container {name}: no process observed; runAsNonRoot left as is"),
        );
    } else {
        let roots = ev.root_processes();
        let uids = ev.uids();
        let unknown = ev.unknown_uid_processes();
        let effective_non_root = sc_bool("runAsNonRoot").or(pod_bool("runAsNonRoot")) == Some(true);
        if let Some((bin, e)) = roots.first() {
            let msg = format!(
                "container {name}: {bin} observed running as uid 0 ({}); runAsNonRoot{} not set — the image must change \
                 user first",
                e.summary(),
                if effective_non_root { " is already true but contradicts the evidence;" } else { "" }
            );
            b.find("KG-DEPLOY-ROOT-OBSERVED", Severity::Medium, msg);
        } else if uids.is_empty() {
            b.find(
                "KG-DEPLOY-UNOBSERVED",
                Severity::Info,
                format!("container {name}: {} processes observed without uids; runAsNonRoot left as is", procs.count),
            );
        } else {
            let conf = if unknown > 0 { "medium (some processes had no uid)" } else { confidence(&procs, 10) };
            let bins: Vec<&str> = ev.processes.keys().map(|(b, ..)| b.as_str()).take(5).collect();
            if !effective_non_root {
                b.set(&format!("{cptr}/securityContext/runAsNonRoot"), Some(json!(true)));
                b.cite(
                    &format!("{cpath}.securityContext.runAsNonRoot"),
                    format!(
                        "every observed process ran as non-root uid {uids:?} ({}; {}); confidence {conf}",
                        bins.join(", "),
                        window(&procs)
                    ),
                    procs.clone(),
                );
            }
            let user_set = c.pointer("/securityContext/runAsUser").is_some()
                || pod.pointer("/securityContext/runAsUser").is_some();
            if !user_set && uids.len() == 1 {
                let uid = uids.iter().next().copied().unwrap_or(0);
                b.set(&format!("{cptr}/securityContext/runAsUser"), Some(json!(uid)));
                b.cite(
                    &format!("{cpath}.securityContext.runAsUser"),
                    format!(
                        "all observed processes ran as uid {uid} (numeric, so the kubelet can verify runAsNonRoot even when \
                         the image USER is a name; kube-score/Checkov advise ≥ 10000); confidence {conf}"
                    ),
                    procs.clone(),
                );
                let gids = ev.gids();
                let group_set = c.pointer("/securityContext/runAsGroup").is_some()
                    || pod.pointer("/securityContext/runAsGroup").is_some();
                if !group_set && gids.len() == 1 && !gids.contains(&0) {
                    let gid = gids.iter().next().copied().unwrap_or(0);
                    b.set(&format!("{cptr}/securityContext/runAsGroup"), Some(json!(gid)));
                    b.cite(
                        &format!("{cpath}.securityContext.runAsGroup"),
                        format!("all observed processes ran with gid {gid}; confidence {conf}"),
                        procs.clone(),
                    );
                }
            } else if !user_set && uids.len() > 1 {
                b.find(
                    "KG-DEPLOY-SEVERAL-UIDS",
                    Severity::Info,
                    format!("container {name}: processes ran as several uids {uids:?}; runAsUser not pinned"),
                );
            }
        }
    }

    // --- readOnlyRootFilesystem
    if sc_bool("readOnlyRootFilesystem") != Some(true) {
        read_only_root(b, &cptr, &cpath, name, &c, ev);
    }

    // --- allowPrivilegeEscalation
    if sc_bool("allowPrivilegeEscalation") != Some(false) {
        if procs.count == 0 {
            b.find(
                "KG-DEPLOY-UNOBSERVED",
                Severity::Info,
                format!("container {name}: no process observed; allowPrivilegeEscalation left as is"),
            );
        } else if let Some(((from, to), e)) = ev.privilege_changes.iter().next() {
            b.find(
                "KG-DEPLOY-PRIVILEGE-CHANGE",
                Severity::Medium,
                format!(
                    "container {name}: privilege change {} → {} observed ({}); allowPrivilegeEscalation left as is",
                    from.map_or("?".into(), |u| u.to_string()),
                    to.map_or("?".into(), |u| u.to_string()),
                    e.summary()
                ),
            );
        } else {
            b.set(&format!("{cptr}/securityContext/allowPrivilegeEscalation"), Some(json!(false)));
            b.cite(
                &format!("{cpath}.securityContext.allowPrivilegeEscalation"),
                format!(
                    "no setuid/setgid transition or setuid-binary execution among the observed processes ({}); confidence {}",
                    window(&procs),
                    confidence(&procs, 10)
                ),
                procs.clone(),
            );
        }
    }

    // --- privileged
    if sc_bool("privileged") == Some(true) {
        let needs = ev.privileged_needs();
        let caps_used: Vec<String> = ev
            .capabilities
            .keys()
            .filter(|(cap, ok)| *ok && !gd::RUNTIME_DEFAULT_CAPS.contains(&cap.as_str()))
            .map(|(cap, _)| cap.clone())
            .collect();
        if procs.count == 0 || !ev.files_traced() {
            b.find(
                "KG-DEPLOY-UNOBSERVED",
                Severity::Info,
                format!(
                    "container {name}: privileged=true kept: processes and file/device access were not both traced"
                ),
            );
        } else if !needs.is_empty() || !caps_used.is_empty() {
            b.find(
                "KG-DEPLOY-PRIVILEGED-NEEDED",
                Severity::High,
                format!(
                    "container {name}: privileged=true kept: observed {}",
                    needs.into_iter().chain(caps_used).collect::<Vec<_>>().join(", ")
                ),
            );
        } else {
            b.set(&format!("{cptr}/securityContext/privileged"), Some(json!(false)));
            b.cite(
                &format!("{cpath}.securityContext.privileged"),
                format!(
                    "no module loading, mount, setns/unshare, device access or non-default capability observed ({}); \
                     confidence {}",
                    window(&ev.total),
                    confidence(&ev.total, 50)
                ),
                ev.total.clone(),
            );
            b.removed.push((format!("container {name}: privileged: true"), Severity::Critical));
        }
    }

    // --- capabilities (on the current state: privileged may just have been removed)
    let c = b.spec().pointer(&cptr).cloned().unwrap_or(Value::Null);
    capabilities(b, &cptr, &cpath, name, &c, &pod, ev);

    // --- seccompProfile
    let ctype = c.pointer("/securityContext/seccompProfile/type").and_then(Value::as_str);
    let ptype = pod.pointer("/securityContext/seccompProfile/type").and_then(Value::as_str);
    let effective = ctype.or(ptype);
    if !matches!(effective, Some("RuntimeDefault") | Some("Localhost")) {
        let refused: Vec<&String> =
            ev.syscalls.keys().filter(|s| RUNTIME_DEFAULT_BLOCKED_SYSCALLS.contains(&s.as_str())).collect();
        if procs.count == 0 {
            b.find(
                "KG-DEPLOY-UNOBSERVED",
                Severity::Info,
                format!("container {name}: no process observed; seccompProfile left as is"),
            );
        } else if !refused.is_empty() {
            b.find(
                "KG-DEPLOY-SECCOMP-SYSCALLS",
                Severity::Medium,
                format!(
                    "container {name}: observed syscalls the runtime default profile refuses ({}); seccompProfile left as is",
                    refused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
        } else {
            b.set(&format!("{cptr}/securityContext/seccompProfile"), Some(json!({"type": "RuntimeDefault"})));
            b.cite(
                &format!("{cpath}.securityContext.seccompProfile"),
                format!(
                    "none of the observed syscalls ({} traced privileged syscalls) is refused by RuntimeDefault; confidence \
                     medium (only privileged syscall families are traced; a Localhost profile is never generated)",
                    ev.syscalls.len()
                ),
                procs.clone(),
            );
        }
    }
}

/// The emptyDir mount point for a written path, if it lies under an emptyDir-able directory.
fn emptydir_for(path: &str, dirs: &[String]) -> Option<String> {
    for d in dirs {
        if under(path, d) && path != d.as_str() {
            if d == "/var/cache" || d == "/var/log" {
                // mount the application's own subdirectory, not the whole tree
                let rest = path.strip_prefix(d.as_str()).unwrap_or("").trim_start_matches('/');
                return match rest.split_once('/') {
                    Some((sub, _)) => Some(format!("{d}/{sub}")),
                    None => Some(d.clone()),
                };
            }
            return Some(d.clone());
        }
    }
    // per-user caches: …/.cache/…
    path.find("/.cache/").map(|i| path[..i + "/.cache".len()].to_string())
}

fn read_only_root(b: &mut Builder<'_>, cptr: &str, cpath: &str, name: &str, c: &Value, ev: &ContainerEvidence) {
    if !ev.files_traced() {
        b.find(
            "KG-DEPLOY-UNOBSERVED",
            Severity::Info,
            format!("container {name}: file access was not traced; readOnlyRootFilesystem left as is"),
        );
        return;
    }
    let mounts: Vec<String> = c
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("mountPath").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut blocking: Vec<&str> = Vec::new();
    let mut to_mount: BTreeMap<String, Evidence> = BTreeMap::new();
    let mut writes = Evidence::default();
    for (p, e) in &ev.writes {
        writes.merge(e);
        if is_pseudo_path(p) || mounts.iter().any(|m| under(p, m)) {
            continue;
        }
        match emptydir_for(p, &b.opts.emptydir_dirs) {
            Some(dir) => to_mount.entry(dir).or_default().merge(e),
            None => blocking.push(p),
        }
    }
    if !blocking.is_empty() {
        let shown: Vec<&str> = blocking.iter().take(5).copied().collect();
        b.find(
            "KG-DEPLOY-ROOTFS-WRITES",
            Severity::Low,
            format!(
                "container {name}: writes to the root filesystem outside mountable directories ({}{}); \
                 readOnlyRootFilesystem left as is",
                shown.join(", "),
                if blocking.len() > 5 { format!(", and {} more", blocking.len() - 5) } else { String::new() }
            ),
        );
        return;
    }
    let all_files = {
        let mut acc = writes.clone();
        for e in ev.reads.values() {
            acc.merge(e);
        }
        acc
    };
    b.set(&format!("{cptr}/securityContext/readOnlyRootFilesystem"), Some(json!(true)));
    b.cite(
        &format!("{cpath}.securityContext.readOnlyRootFilesystem"),
        format!(
            "{} written paths, all on volumes, pseudo filesystems or new emptyDir mounts ({} file events traced, {}); \
             confidence {}",
            ev.writes.len(),
            all_files.count,
            window(&all_files),
            confidence(&all_files, 20)
        ),
        all_files.clone(),
    );
    for (dir, e) in to_mount {
        let vname = format!("kg-{}", dns_label(dir.trim_start_matches('/')));
        let vname: String = vname.chars().take(63).collect();
        let mut vols = b.spec().get("volumes").and_then(Value::as_array).cloned().unwrap_or_default();
        if !vols.iter().any(|v| v.get("name").and_then(Value::as_str) == Some(vname.as_str())) {
            vols.push(json!({"name": vname, "emptyDir": {}}));
            b.set("/volumes", Some(Value::Array(vols)));
        }
        let mut ms =
            b.spec().pointer(&format!("{cptr}/volumeMounts")).and_then(Value::as_array).cloned().unwrap_or_default();
        let idx = ms.len();
        ms.push(json!({"name": vname, "mountPath": dir}));
        b.set(&format!("{cptr}/volumeMounts"), Some(Value::Array(ms)));
        let examples: Vec<&str> = ev.writes.keys().filter(|p| under(p, &dir)).take(3).map(String::as_str).collect();
        b.cite(
            &format!("{cpath}.volumeMounts[{idx}]"),
            format!(
                "emptyDir at {dir} for observed writes ({}); confidence medium: an emptyDir hides whatever the image ships in {dir}",
                examples.join(", ")
            ),
            e,
        );
    }
}

fn capabilities(
    b: &mut Builder<'_>,
    cptr: &str,
    cpath: &str,
    name: &str,
    c: &Value,
    pod: &Value,
    ev: &ContainerEvidence,
) {
    let procs = ev.process_evidence();
    let drop = gd::caps(c, "drop");
    let add = gd::caps(c, "add");
    let cap_traced = !ev.capabilities.is_empty();
    let all_non_root = procs.count > 0 && ev.root_processes().is_empty() && ev.unknown_uid_processes() == 0;
    if bool_at(c, "/securityContext/privileged") == Some(true) {
        return;
    }
    if !(cap_traced || all_non_root) {
        b.find(
            "KG-DEPLOY-UNOBSERVED",
            Severity::Info,
            format!(
                "container {name}: capability use was not traced{}; capabilities left as they are",
                if procs.count > 0 && !all_non_root { " and processes ran as root (or without uid)" } else { "" }
            ),
        );
        return;
    }
    let port_start = pod
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some("net.ipv4.ip_unprivileged_port_start"))
        .and_then(|s| s.get("value").and_then(Value::as_str))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024u16);
    let needed = ev.needed_capabilities(port_start);
    let held = gd::effective_caps(c);
    let mut new_add: Vec<String> = Vec::new();
    for (cap, e) in &needed {
        if held.contains(cap) || held.contains("ALL") {
            new_add.push(cap.clone());
        } else {
            b.find(
                "KG-DEPLOY-CAP-NOT-HELD",
                Severity::Info,
                format!("container {name}: {cap} observed ({}) but not granted now; not added", e.summary()),
            );
        }
    }
    for ((cap, allowed), e) in &ev.capabilities {
        if !allowed {
            b.find(
                "KG-DEPLOY-CAP-DENIED",
                Severity::Info,
                format!(
                    "container {name}: {cap} was denied ({}); not added — the workload ran without it",
                    e.summary()
                ),
            );
        }
    }
    let drop_all = drop.iter().any(|d| d == "ALL");
    let add_set: BTreeSet<&String> = add.iter().collect();
    let new_set: BTreeSet<&String> = new_add.iter().collect();
    if drop_all && add_set == new_set {
        return;
    }
    for cap in add.iter().filter(|c| !new_set.contains(c)) {
        b.removed.push((format!("container {name}: capabilities.add {cap}"), cap_severity(cap)));
    }
    if !drop_all {
        b.removed.push((
            format!("container {name}: runtime default capabilities (drop: [ALL])"),
            if all_non_root { Severity::Low } else { Severity::Medium },
        ));
    }
    b.set(&format!("{cptr}/securityContext/capabilities/drop"), Some(json!(["ALL"])));
    b.set(
        &format!("{cptr}/securityContext/capabilities/add"),
        if new_add.is_empty() { None } else { Some(json!(new_add)) },
    );
    let basis = if cap_traced {
        format!("{} capability checks traced", ev.capabilities.values().map(|e| e.count).sum::<u64>())
    } else {
        "all processes ran as non-root, so no capability was effective".to_string()
    };
    b.cite(
        &format!("{cpath}.securityContext.capabilities.drop"),
        format!("drop ALL: {basis} ({}); confidence {}", window(&procs), confidence(&procs, 10)),
        procs.clone(),
    );
    for (cap, e) in &needed {
        if new_add.contains(cap) {
            let why = if cap == "NET_BIND_SERVICE" && ev.listens.keys().any(|(p, _)| *p < port_start) {
                let ports: Vec<String> =
                    ev.listens.keys().filter(|(p, _)| *p < port_start).map(|(p, pr)| format!("{p}/{pr}")).collect();
                format!("bind below {port_start}: {}", ports.join(", "))
            } else {
                "exercised with verdict allow".to_string()
            };
            b.cite(
                &format!("{cpath}.securityContext.capabilities.add"),
                format!("add {cap}: {why} ({}); confidence {}", e.summary(), confidence(e, 3)),
                e.clone(),
            );
        }
    }
}

fn bool_at(v: &Value, ptr: &str) -> Option<bool> {
    v.pointer(ptr).and_then(Value::as_bool)
}

/// Risk of a capability (C-0046 / Polaris dangerous list).
pub fn cap_severity(cap: &str) -> Severity {
    match cap {
        "ALL" | "SYS_ADMIN" | "SYS_MODULE" | "SYS_RAWIO" | "BPF" => Severity::Critical,
        "NET_ADMIN" | "SYS_PTRACE" | "SYS_BOOT" | "MAC_ADMIN" | "MAC_OVERRIDE" | "PERFMON" | "DAC_READ_SEARCH" => {
            Severity::High
        }
        "NET_RAW" | "SETPCAP" | "SYS_TIME" => Severity::Medium,
        _ => Severity::Low,
    }
}

// ---------------------------------------------------------------------------------------------
// Pod level: token, host namespaces, hostPath

fn pod_level(b: &mut Builder<'_>, w: &Workload, evs: &BTreeMap<String, ContainerEvidence>) {
    let spec = b.spec().clone();
    let all_have = !evs.is_empty() && evs.values().all(|e| e.process_evidence().count > 0);
    let all_reads = !evs.is_empty() && evs.values().all(ContainerEvidence::reads_traced);
    let mut total = Evidence::default();
    for e in evs.values() {
        total.merge(&e.total);
    }

    // --- automountServiceAccountToken
    let pod_auto = spec.get("automountServiceAccountToken").and_then(Value::as_bool);
    let sa_auto = b
        .snapshot
        .inventory
        .service_accounts
        .iter()
        .find(|s| {
            s.object.metadata.namespace.as_deref() == Some(&w.id.namespace)
                && s.object.metadata.name.as_deref() == Some(&w.service_account)
        })
        .and_then(|s| s.object.automount_service_account_token);
    if pod_auto.or(sa_auto) != Some(false) {
        let calls = gd::service_account_calls(b.snapshot, &w.id.namespace, &w.service_account);
        let reads: Vec<String> =
            evs.iter().flat_map(|(n, e)| e.token_reads().into_iter().map(move |(p, _)| format!("{n}:{p}"))).collect();
        if !gd::audit_observed(b.snapshot) {
            b.find(
                "KG-DEPLOY-UNOBSERVED",
                Severity::Info,
                "no audit log: automountServiceAccountToken left as is".to_string(),
            );
        } else if calls.count > 0 {
            b.find(
                "KG-DEPLOY-TOKEN-USED",
                Severity::Info,
                format!(
                    "service account {}/{} made API requests ({}); token automount kept",
                    w.id.namespace,
                    w.service_account,
                    calls.summary()
                ),
            );
        } else if !reads.is_empty() {
            b.find(
                "KG-DEPLOY-TOKEN-USED",
                Severity::Info,
                format!("token file read ({}); token automount kept", reads.join(", ")),
            );
        } else if !all_reads {
            b.find(
                "KG-DEPLOY-UNOBSERVED",
                Severity::Info,
                "file reads not traced for every container, token reads unknown: automountServiceAccountToken left as is"
                    .to_string(),
            );
        } else {
            let audit = &b.snapshot.report.audit;
            b.set("/automountServiceAccountToken", Some(json!(false)));
            b.cite(
                "automountServiceAccountToken",
                format!(
                    "no API request by service account {}/{} in the audit log ({} events read) and no read of the token \
                     file in {} traced file events; confidence {}",
                    w.id.namespace,
                    w.service_account,
                    audit.records,
                    evs.values().map(|e| e.reads.values().map(|x| x.count).sum::<u64>()).sum::<u64>(),
                    confidence(&total, 50)
                ),
                total.clone(),
            );
            if w.service_account != "default" {
                b.find(
                    "KG-DEPLOY-TOKEN-SA",
                    Severity::Info,
                    format!(
                        "service account {} could also set automountServiceAccountToken: false if no workload using it needs it",
                        w.service_account
                    ),
                );
            }
        }
    }

    // --- host namespaces
    let mut syscalls: BTreeSet<&str> = BTreeSet::new();
    let mut foreign_proc = false;
    let mut net_admin = false;
    for e in evs.values() {
        syscalls.extend(e.syscalls.keys().map(String::as_str));
        foreign_proc |= e.reads.keys().chain(e.writes.keys()).any(|p| {
            p.strip_prefix("/proc/")
                .and_then(|r| r.split('/').next())
                .is_some_and(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()) && x != "1")
        });
        net_admin |= e.capabilities.keys().any(|(c, ok)| *ok && (c == "NET_ADMIN" || c == "NET_RAW"));
    }
    for (field, need, sev) in [
        (
            "hostPID",
            if syscalls.contains("ptrace") || syscalls.contains("setns") || foreign_proc {
                Some("ptrace/setns or /proc/<pid> access".to_string())
            } else {
                None
            },
            Severity::High,
        ),
        ("hostIPC", if syscalls.contains("setns") { Some("setns".to_string()) } else { None }, Severity::High),
        (
            "hostNetwork",
            if net_admin || syscalls.contains("setns") {
                Some("NET_ADMIN/NET_RAW use or setns".to_string())
            } else {
                None
            },
            Severity::High,
        ),
    ] {
        if spec.get(field).and_then(Value::as_bool) != Some(true) {
            continue;
        }
        if !all_have {
            b.find(
                "KG-DEPLOY-UNOBSERVED",
                Severity::Info,
                format!("{field}=true kept: not every container has runtime evidence"),
            );
        } else if let Some(n) = need {
            b.find("KG-DEPLOY-HOST-NEEDED", Severity::Medium, format!("{field}=true kept: observed {n}"));
        } else {
            b.set(&format!("/{field}"), None);
            let extra = if field == "hostNetwork" {
                "; confidence low: clients reaching the pod on the node's address and hostPort users must be checked"
            } else {
                ""
            };
            b.cite(
                field,
                format!(
                    "{field} removed: no host-namespace need observed ({}){extra}; confidence {}",
                    window(&total),
                    if extra.is_empty() { confidence(&total, 50) } else { "low" }
                ),
                total.clone(),
            );
            b.removed.push((format!("{field}: true"), sev));
        }
    }

    // --- hostPath volumes
    let vols = spec.get("volumes").and_then(Value::as_array).cloned().unwrap_or_default();
    for vol in vols.iter().filter(|v| v.get("hostPath").is_some()) {
        let vname = vol.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let host = vol.pointer("/hostPath/path").and_then(Value::as_str).unwrap_or("?").to_string();
        let mut users: Vec<(String, usize, String, bool)> = Vec::new();
        for l in CONTAINER_LISTS {
            for (ci, c) in spec.get(*l).and_then(Value::as_array).into_iter().flatten().enumerate() {
                for (mi, m) in c.get("volumeMounts").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    if m.get("name").and_then(Value::as_str) == Some(vname.as_str()) {
                        let _ = mi;
                        users.push((
                            c.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                            ci,
                            m.get("mountPath").and_then(Value::as_str).unwrap_or("").to_string(),
                            m.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
                        ));
                        let _ = l;
                    }
                }
            }
        }
        let traced = users.iter().all(|(n, ..)| evs.get(n).is_some_and(ContainerEvidence::reads_traced));
        if !traced {
            b.find(
                "KG-DEPLOY-UNOBSERVED",
                Severity::Info,
                format!("hostPath volume {vname} ({host}) kept: file reads not traced in every container mounting it"),
            );
            continue;
        }
        let mut accessed = Vec::new();
        let mut written = false;
        for (n, _, mp, _) in &users {
            if let Some(e) = evs.get(n) {
                for (p, _, w) in e.accesses_under(mp) {
                    accessed.push(format!("{n}:{p}"));
                    written |= w;
                }
            }
        }
        if accessed.is_empty() {
            let mut all = Evidence::default();
            for (n, ..) in &users {
                if let Some(e) = evs.get(n) {
                    all.merge(&e.total);
                }
            }
            let new_vols: Vec<Value> = b
                .spec()
                .get("volumes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|v| v.get("name").and_then(Value::as_str) != Some(vname.as_str()))
                .collect();
            b.set("/volumes", if new_vols.is_empty() { None } else { Some(Value::Array(new_vols)) });
            for l in CONTAINER_LISTS {
                let n = b.spec().get(*l).and_then(Value::as_array).map_or(0, Vec::len);
                for ci in 0..n {
                    let ptr = format!("/{l}/{ci}/volumeMounts");
                    if let Some(ms) = b.spec().pointer(&ptr).and_then(Value::as_array).cloned() {
                        let kept: Vec<Value> = ms
                            .iter()
                            .filter(|m| m.get("name").and_then(Value::as_str) != Some(vname.as_str()))
                            .cloned()
                            .collect();
                        if kept.len() != ms.len() {
                            b.set(&ptr, if kept.is_empty() { None } else { Some(Value::Array(kept)) });
                        }
                    }
                }
            }
            b.cite(
                "volumes",
                format!(
                    "hostPath volume {vname} ({host}) removed: no access under its mount paths ({}); confidence {}",
                    window(&all),
                    confidence(&all, 50)
                ),
                all,
            );
            b.removed.push((format!("hostPath volume {vname} ({host})"), Severity::High));
        } else if !written {
            for (n, ci, mp, ro) in &users {
                if *ro {
                    continue;
                }
                let list =
                    if spec.pointer(&format!("/containers/{ci}/name")).and_then(Value::as_str) == Some(n.as_str()) {
                        "containers"
                    } else {
                        "initContainers"
                    };
                let Some(ms) =
                    b.spec().pointer(&format!("/{list}/{ci}/volumeMounts")).and_then(Value::as_array).cloned()
                else {
                    continue;
                };
                if let Some(mi) =
                    ms.iter().position(|m| m.get("mountPath").and_then(Value::as_str) == Some(mp.as_str()))
                {
                    b.set(&format!("/{list}/{ci}/volumeMounts/{mi}/readOnly"), Some(json!(true)));
                    let ev = evs.get(n).map(|e| e.total.clone()).unwrap_or_default();
                    b.cite(
                        &format!("{list}[{ci}].volumeMounts[{mi}].readOnly"),
                        format!("hostPath {host} only read ({}); mount made readOnly", accessed.join(", ")),
                        ev,
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resources

/// Prometheus `quantile_over_time` percentile: linear interpolation at rank q·(n−1).
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let w = rank - lo as f64;
    Some(sorted[lo] * (1.0 - w) + sorted.get(hi).copied().unwrap_or(sorted[lo]) * w)
}

/// Sizing result for one container.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizing {
    pub cpu_request_m: Option<u64>,
    pub cpu_limit_m: Option<u64>,
    pub memory_request_mi: Option<u64>,
    pub memory_limit_mi: Option<u64>,
    pub cpu_samples: usize,
    pub memory_samples: usize,
    pub window_secs: i64,
    /// The statistic each number comes from, for the evidence note.
    pub basis: Vec<String>,
}

const MIB: f64 = 1024.0 * 1024.0;

fn ceil_m(cores: f64) -> u64 {
    (cores * 1000.0 - 1e-9).ceil().max(0.0) as u64
}

fn ceil_mi(bytes: f64) -> u64 {
    (bytes / MIB - 1e-9).ceil().max(0.0) as u64
}

/// Size one container from its samples with `strategy`. `containers` is the number of containers
/// in the pod (VPA floors are per pod, split evenly).
pub fn size(samples: &[MetricSample], opts: &DeployOptions, containers: usize) -> Sizing {
    let mut cpu: Vec<f64> = samples.iter().filter_map(|s| s.cpu_cores).filter(|x| x.is_finite()).collect();
    let mut mem: Vec<f64> = samples.iter().filter_map(|s| s.memory_bytes).filter(|x| x.is_finite()).collect();
    cpu.sort_by(f64::total_cmp);
    mem.sort_by(f64::total_cmp);
    let times: Vec<i64> = samples.iter().map(|s| s.at.0).filter(|t| *t != 0).collect();
    let window_secs = match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) => (b - a) / 1_000_000,
        _ => 0,
    };
    let mut s = Sizing {
        cpu_request_m: None,
        cpu_limit_m: None,
        memory_request_mi: None,
        memory_limit_mi: None,
        cpu_samples: cpu.len(),
        memory_samples: mem.len(),
        window_secs,
        basis: Vec::new(),
    };
    let margin = 1.0 + opts.memory_margin;
    let k = containers.max(1) as f64;
    match opts.strategy {
        ResourceStrategy::KrrSimple | ResourceStrategy::KrrSimpleLimit => {
            let (rq, lq) = if opts.strategy == ResourceStrategy::KrrSimple { (0.95, None) } else { (0.66, Some(0.96)) };
            if let Some(p) = percentile(&cpu, rq) {
                s.cpu_request_m = Some(ceil_m(p).max(10));
                s.basis.push(format!("CPU request = P{:.0} {:.4} cores (floor 10m)", rq * 100.0, p));
            }
            if let Some(q) = lq
                && let Some(p) = percentile(&cpu, q)
            {
                s.cpu_limit_m = Some(ceil_m(p).max(10).max(s.cpu_request_m.unwrap_or(0)));
                s.basis.push(format!("CPU limit = P{:.0} {:.4} cores", q * 100.0, p));
            }
            if let Some(max) = mem.last() {
                let mi = ceil_mi(max * margin).max(ceil_mi(100e6));
                s.memory_request_mi = Some(mi);
                s.memory_limit_mi = Some(mi);
                s.basis.push(format!("memory request = limit = max {:.1} MiB × {margin:.2} (floor 100 MB)", max / MIB));
            }
        }
        ResourceStrategy::VpaTarget => {
            if let Some(p) = percentile(&cpu, 0.9) {
                let floor = (25.0 / k).ceil() as u64;
                s.cpu_request_m = Some(ceil_m(p * margin).max(floor));
                s.basis.push(format!("CPU request = P90 {p:.4} cores × {margin:.2} (floor 25m per pod)"));
            }
            // VPA keeps one peak per 24 h aggregation interval, not every sample.
            let peaks = daily_peaks(samples);
            if let Some(p) = percentile(&peaks, 0.9) {
                let floor = ceil_mi(250e6 / k);
                s.memory_request_mi = Some(ceil_mi(p * margin).max(floor));
                s.basis.push(format!(
                    "memory request = P90 of {} daily peaks {:.1} MiB × {margin:.2} (floor 250 MB per pod)",
                    peaks.len(),
                    p / MIB
                ));
            }
        }
    }
    s
}

/// Peak memory per 24 h interval (counted from the first sample), sorted ascending.
fn daily_peaks(samples: &[MetricSample]) -> Vec<f64> {
    let start = samples.iter().map(|s| s.at.0).filter(|t| *t != 0).min().unwrap_or(0);
    let mut peaks: BTreeMap<i64, f64> = BTreeMap::new();
    for s in samples {
        if let Some(m) = s.memory_bytes.filter(|x| x.is_finite()) {
            let day = if s.at.0 == 0 { 0 } else { (s.at.0 - start) / 86_400_000_000 };
            let e = peaks.entry(day).or_insert(m);
            if m > *e {
                *e = m;
            }
        }
    }
    let mut v: Vec<f64> = peaks.into_values().collect();
    v.sort_by(f64::total_cmp);
    v
}

fn resources(b: &mut Builder<'_>, list: &str, i: usize, name: &str, w: &Workload, n_containers: usize) {
    if list != "containers" {
        return;
    }
    let key = ContainerRef { workload: w.id.clone(), container: name.to_string() };
    let Some(samples) = b.snapshot.observed.metrics.series.get(&key) else {
        b.find(
            "KG-DEPLOY-UNOBSERVED",
            Severity::Info,
            format!("container {name}: no metrics; resources left as they are"),
        );
        return;
    };
    let s = size(samples, b.opts, n_containers);
    let enough = |n: usize| n >= b.opts.min_samples && s.window_secs >= b.opts.min_window_secs;
    let sufficiency = format!(
        "{} CPU / {} memory samples over {} (need ≥ {} samples and ≥ {})",
        s.cpu_samples,
        s.memory_samples,
        human_duration(s.window_secs),
        b.opts.min_samples,
        human_duration(b.opts.min_window_secs)
    );
    let mut ev = Evidence::default();
    for smp in samples {
        ev.observe(smp.at, None);
    }
    let base = format!("/containers/{i}/resources");
    let path = format!("containers[{i}].resources");
    let cur = b.spec().pointer(&base).cloned().unwrap_or(Value::Null);
    let strategy = b.opts.strategy.name();
    if enough(s.cpu_samples) {
        if let Some(req) = s.cpu_request_m {
            b.set(&format!("{base}/requests/cpu"), Some(json!(format!("{req}m"))));
            let cur_limit =
                cur.pointer("/limits/cpu").and_then(Value::as_str).and_then(crate::sources::metrics::parse_quantity);
            match (s.cpu_limit_m, cur_limit) {
                (Some(l), _) => b.set(&format!("{base}/limits/cpu"), Some(json!(format!("{l}m")))),
                (None, Some(l)) if ceil_m(l) < req => {
                    b.set(&format!("{base}/limits/cpu"), Some(json!(format!("{req}m"))));
                    b.find(
                        "KG-DEPLOY-CPU-LIMIT-RAISED",
                        Severity::Low,
                        format!(
                            "container {name}: the CPU limit {}m was below the recommended request; raised to {req}m",
                            ceil_m(l)
                        ),
                    );
                }
                _ => {}
            }
            b.cite(
                &format!("{path}.requests.cpu"),
                format!(
                    "{strategy}: {}; {sufficiency}",
                    s.basis.iter().filter(|x| x.starts_with("CPU")).cloned().collect::<Vec<_>>().join("; ")
                ),
                ev.clone(),
            );
            delta_finding(b, name, "cpu", cur.pointer("/requests/cpu"), req as f64 / 1000.0);
        }
    } else {
        b.find(
            "KG-DEPLOY-METRICS-INSUFFICIENT",
            Severity::Medium,
            format!("container {name}: CPU not sized: {sufficiency}"),
        );
    }
    if enough(s.memory_samples) {
        if let Some(req) = s.memory_request_mi {
            b.set(&format!("{base}/requests/memory"), Some(json!(format!("{req}Mi"))));
            if let Some(l) = s.memory_limit_mi {
                b.set(&format!("{base}/limits/memory"), Some(json!(format!("{l}Mi"))));
            } else if let Some(l) =
                cur.pointer("/limits/memory").and_then(Value::as_str).and_then(crate::sources::metrics::parse_quantity)
                && ceil_mi(l) < req
            {
                b.set(&format!("{base}/limits/memory"), Some(json!(format!("{req}Mi"))));
            }
            b.cite(
                &format!("{path}.requests.memory"),
                format!(
                    "{strategy}: {}; {sufficiency}",
                    s.basis.iter().filter(|x| x.starts_with("memory")).cloned().collect::<Vec<_>>().join("; ")
                ),
                ev.clone(),
            );
            delta_finding(b, name, "memory", cur.pointer("/requests/memory"), req as f64 * MIB);
        }
    } else {
        b.find(
            "KG-DEPLOY-METRICS-INSUFFICIENT",
            Severity::Medium,
            format!("container {name}: memory not sized: {sufficiency}"),
        );
    }
}

/// krr severity of a change: CPU |Δ| ≥ 0.5 core critical, ≥ 0.25 warning(medium), ≥ 0.1 low;
/// memory ≥ 500 / 250 / 100 MiB.
fn delta_finding(b: &mut Builder<'_>, name: &str, res: &str, current: Option<&Value>, new: f64) {
    let cur = current.and_then(Value::as_str).and_then(crate::sources::metrics::parse_quantity);
    let Some(cur) = cur else {
        b.find("KG-DEPLOY-RESOURCES-NEW", Severity::Info, format!("container {name}: {res} request was unset"));
        return;
    };
    let d = (new - cur).abs();
    let (crit, warn, ok) = if res == "cpu" { (0.5, 0.25, 0.1) } else { (500.0 * MIB, 250.0 * MIB, 100.0 * MIB) };
    let sev = if d >= crit {
        Severity::High
    } else if d >= warn {
        Severity::Medium
    } else if d >= ok {
        Severity::Low
    } else {
        return;
    };
    b.find("KG-DEPLOY-RESOURCES-DELTA", sev, format!("container {name}: {res} request changes from {cur} to {new}"));
}
