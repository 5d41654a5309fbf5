//! Guard for hardened workload specs: Pod Security Standards (baseline and restricted, as
//! `k8s.io/pod-security-admission/policy/check_*.go` define them) plus evidence checks — a
//! proposal that would break observed behaviour (run a root process as non-root, make a written
//! path read-only, drop a used capability, forbid an observed privilege change, unmount the
//! service-account token of a workload that calls the API, remove a host namespace or hostPath
//! the workload uses) is flagged and repaired by restoring the original value. It also strips
//! what neither the evidence nor the original support (added capabilities, privileged,
//! host namespaces, hostPath volumes) and restores any security field the user set that the
//! proposal loosened.
//!
//! Also owns the shared per-container evidence summary (`ContainerEvidence`) and the minimal
//! strategic-merge patch (`strategic_patch`) that `synth::deploy` uses.
//!
//! Pure: no I/O. Must not invent hardening (that is `synth::deploy`): repairs only restore the
//! original or add what the evidence needs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::GuardOutcome;
use crate::model::{
    ContainerRef, Evidence, Finding, GuardVerdict, RuntimeObservation, Severity, Subject, Target, TargetScope,
    Workload, WorkloadRef,
};
use crate::snapshot::Snapshot;

// ---------------------------------------------------------------------------------------------
// Constants

/// Capabilities containerd/CRI-O grant by default (moby `oci/caps/defaults.go`).
pub const RUNTIME_DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// PSS baseline: capabilities that may be added.
pub const BASELINE_ALLOWED_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// PSS baseline: sysctls in the safe set (newest policy version).
pub const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// PSS restricted: allowed volume types.
pub const RESTRICTED_VOLUME_TYPES: &[&str] =
    &["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

pub use crate::model::runtime::RUNTIME_DEFAULT_BLOCKED_SYSCALLS;

/// Syscalls that show a need for `privileged` (the ones the runtime default refuses to an
/// unprivileged container).
pub const PRIVILEGED_NEED_SYSCALLS: &[&str] = RUNTIME_DEFAULT_BLOCKED_SYSCALLS;

/// Where the service-account token is mounted.
pub const TOKEN_DIRS: &[&str] =
    &["/var/run/secrets/kubernetes.io/serviceaccount", "/run/secrets/kubernetes.io/serviceaccount"];

/// Device and pseudo-filesystem paths every container may touch; not root-filesystem writes and
/// not device access.
pub fn is_pseudo_path(p: &str) -> bool {
    const EXACT: &[&str] = &[
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/console",
        "/dev/ptmx",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/termination-log",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
    ];
    const PREFIX: &[&str] = &["/proc/", "/sys/", "/dev/pts/", "/dev/fd/", "/dev/shm/", "/dev/mqueue/"];
    EXACT.contains(&p) || PREFIX.iter().any(|x| p.starts_with(x)) || p == "/proc" || p == "/sys"
}

/// A device node outside the standard set (evidence for `privileged`).
pub fn is_device_access(p: &str) -> bool {
    p.starts_with("/dev/") && !is_pseudo_path(p)
}

/// `path` is `dir` or below it.
pub fn under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        return true;
    }
    path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

// ---------------------------------------------------------------------------------------------
// Evidence summary per container

/// (binary, uid, euid, gid) of an observed process.
pub type ProcessKey = (String, Option<u32>, Option<u32>, Option<u32>);

/// A security field and the test for its "tight" value.
type TightField = (&'static str, fn(&Value) -> bool);

/// Runtime evidence of one container, with unattributed-container evidence of the same workload
/// folded in (it may come from any container, so it constrains all of them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerEvidence {
    /// (binary, uid, euid, gid) → evidence.
    pub processes: BTreeMap<ProcessKey, Evidence>,
    pub writes: BTreeMap<String, Evidence>,
    pub reads: BTreeMap<String, Evidence>,
    /// (capability, allowed) → evidence.
    pub capabilities: BTreeMap<(String, bool), Evidence>,
    /// (port, protocol) → evidence.
    pub listens: BTreeMap<(u16, String), Evidence>,
    /// (from uid, to uid) → evidence.
    pub privilege_changes: BTreeMap<(Option<u32>, Option<u32>), Evidence>,
    pub syscalls: BTreeMap<String, Evidence>,
    /// Everything merged: count and window.
    pub total: Evidence,
}

impl ContainerEvidence {
    pub fn is_empty(&self) -> bool {
        self.total.count == 0
    }

    /// File accesses were traced (a tracer that records files was active for this container).
    pub fn files_traced(&self) -> bool {
        !self.writes.is_empty() || !self.reads.is_empty()
    }

    /// File reads were traced (needed before "no token read" or "no hostPath access" means
    /// anything: a write-only file policy cannot see reads).
    pub fn reads_traced(&self) -> bool {
        !self.reads.is_empty()
    }

    pub fn root_processes(&self) -> Vec<(&str, &Evidence)> {
        self.processes
            .iter()
            .filter(|((_, uid, euid, _), _)| *uid == Some(0) || *euid == Some(0))
            .map(|((b, ..), e)| (b.as_str(), e))
            .collect()
    }

    /// Effective uids of processes (euid, else uid), when known.
    pub fn uids(&self) -> BTreeSet<u32> {
        self.processes.keys().filter_map(|(_, uid, euid, _)| euid.or(*uid)).collect()
    }

    pub fn gids(&self) -> BTreeSet<u32> {
        self.processes.keys().filter_map(|(.., gid)| *gid).collect()
    }

    pub fn unknown_uid_processes(&self) -> u64 {
        self.processes.iter().filter(|((_, u, e, _), _)| u.is_none() && e.is_none()).map(|(_, e)| e.count).sum()
    }

    pub fn process_evidence(&self) -> Evidence {
        let mut acc = Evidence::default();
        for e in self.processes.values() {
            acc.merge(e);
        }
        acc
    }

    /// Capabilities the container was seen using successfully, plus NET_BIND_SERVICE for binds
    /// below `unprivileged_port_start`.
    pub fn needed_capabilities(&self, unprivileged_port_start: u16) -> BTreeMap<String, Evidence> {
        let mut out: BTreeMap<String, Evidence> = BTreeMap::new();
        for ((cap, allowed), e) in &self.capabilities {
            if *allowed {
                out.entry(cap.clone()).or_default().merge(e);
            }
        }
        for ((port, _), e) in &self.listens {
            if *port < unprivileged_port_start {
                out.entry("NET_BIND_SERVICE".to_string()).or_default().merge(e);
            }
        }
        out
    }

    pub fn token_reads(&self) -> Vec<(&str, &Evidence)> {
        self.reads
            .iter()
            .chain(self.writes.iter())
            .filter(|(p, _)| TOKEN_DIRS.iter().any(|d| under(p, d)))
            .map(|(p, e)| (p.as_str(), e))
            .collect()
    }

    pub fn accesses_under(&self, dir: &str) -> Vec<(&str, &Evidence, bool)> {
        let mut out: Vec<(&str, &Evidence, bool)> =
            self.writes.iter().filter(|(p, _)| under(p, dir)).map(|(p, e)| (p.as_str(), e, true)).collect();
        out.extend(self.reads.iter().filter(|(p, _)| under(p, dir)).map(|(p, e)| (p.as_str(), e, false)));
        out
    }

    /// Observed syscalls that need `privileged` / host namespaces, and device accesses.
    pub fn privileged_needs(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .syscalls
            .keys()
            .filter(|s| PRIVILEGED_NEED_SYSCALLS.contains(&s.as_str()))
            .map(|s| format!("syscall {s}"))
            .collect();
        out.extend(
            self.reads.keys().chain(self.writes.keys()).filter(|p| is_device_access(p)).map(|p| format!("device {p}")),
        );
        out.sort();
        out.dedup();
        out
    }
}

/// Summarise the runtime profile of `container` of `workload` (plus container-less evidence).
pub fn evidence_for(snapshot: &Snapshot, workload: &WorkloadRef, container: &str) -> ContainerEvidence {
    let mut ev = ContainerEvidence::default();
    for name in [container, ""] {
        let key = ContainerRef { workload: workload.clone(), container: name.to_string() };
        let Some(obs) = snapshot.observed.runtime.containers.get(&key) else { continue };
        for (o, e) in obs {
            ev.total.merge(e);
            match o {
                RuntimeObservation::Process { binary, uid, euid, gid } => {
                    ev.processes.entry((binary.clone(), *uid, *euid, *gid)).or_default().merge(e)
                }
                RuntimeObservation::FileWrite { path } => ev.writes.entry(path.clone()).or_default().merge(e),
                RuntimeObservation::FileRead { path } => ev.reads.entry(path.clone()).or_default().merge(e),
                RuntimeObservation::Capability { name, allowed } => {
                    ev.capabilities.entry((name.clone(), *allowed)).or_default().merge(e)
                }
                RuntimeObservation::Listen { port, protocol } => {
                    ev.listens.entry((*port, protocol.clone())).or_default().merge(e)
                }
                RuntimeObservation::PrivilegeChange { from_uid, to_uid } => {
                    ev.privilege_changes.entry((*from_uid, *to_uid)).or_default().merge(e)
                }
                RuntimeObservation::Syscall { name } => ev.syscalls.entry(name.clone()).or_default().merge(e),
            }
        }
        if container.is_empty() {
            break;
        }
    }
    ev
}

/// API requests made by the service account (allowed + denied + admission-rejected).
pub fn service_account_calls(snapshot: &Snapshot, namespace: &str, sa: &str) -> Evidence {
    let subject = Subject::ServiceAccount { namespace: namespace.to_string(), name: sa.to_string() };
    let mut acc = Evidence::default();
    if let Some(p) = snapshot.observed.api.get(&subject) {
        for e in p.allowed.values().chain(p.denied.values()).chain(p.admission_rejected.values()) {
            acc.merge(e);
        }
    }
    acc
}

/// Was an audit log read at all (so "no API calls" means something)?
pub fn audit_observed(snapshot: &Snapshot) -> bool {
    snapshot.report.audit.records > 0 || !snapshot.observed.api.subjects.is_empty()
}

// ---------------------------------------------------------------------------------------------
// Object paths

/// JSON pointer of the pod spec inside a workload object of `kind`.
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        "Pod" => Some("/spec"),
        _ => None,
    }
}

/// Dotted path prefix of the pod spec (`spec.template.spec`) for evidence paths.
pub fn pod_spec_path(kind: &str) -> &'static str {
    match kind {
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        "Pod" => "spec",
        _ => "spec.template.spec",
    }
}

/// JSON pointer of the pod template metadata (annotations), when there is one.
fn pod_meta_pointer(kind: &str) -> &'static str {
    match kind {
        "CronJob" => "/spec/jobTemplate/spec/template/metadata",
        "Pod" => "/metadata",
        _ => "/spec/template/metadata",
    }
}

pub const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

fn kind_of(v: &Value) -> &str {
    v.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn containers<'a>(spec: &'a Value, list: &str) -> Vec<&'a Value> {
    spec.get(list).and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
}

fn cname(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or("")
}

fn bool_at(v: &Value, ptr: &str) -> Option<bool> {
    v.pointer(ptr).and_then(Value::as_bool)
}

// ---------------------------------------------------------------------------------------------
// Pod Security Standards

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PssLevel {
    Baseline,
    Restricted,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PssViolation {
    pub level: PssLevel,
    /// Check id as in pod-security-admission (`hostNamespaces`, `runAsNonRoot`...).
    pub check: &'static str,
    pub message: String,
}

/// Every PSS violation of a pod spec (with the pod template's annotations for AppArmor).
pub fn pss_violations(spec: &Value, annotations: Option<&Map<String, Value>>) -> Vec<PssViolation> {
    let mut v = Vec::new();
    let mut add = |level, check, message: String| v.push(PssViolation { level, check, message });
    use PssLevel::*;
    let all: Vec<(&str, &Value)> =
        CONTAINER_LISTS.iter().flat_map(|l| containers(spec, l).into_iter().map(move |c| (*l, c))).collect();
    // baseline
    for f in ["hostNetwork", "hostPID", "hostIPC"] {
        if bool_at(spec, &format!("/{f}")) == Some(true) {
            add(Baseline, "hostNamespaces", format!("{f}=true"));
        }
    }
    let psc = spec.get("securityContext");
    if bool_at(spec, "/securityContext/windowsOptions/hostProcess") == Some(true) {
        add(Baseline, "hostProcess", "pod windowsOptions.hostProcess=true".into());
    }
    for (_, c) in &all {
        let n = cname(c);
        if bool_at(c, "/securityContext/windowsOptions/hostProcess") == Some(true) {
            add(Baseline, "hostProcess", format!("container {n}: hostProcess=true"));
        }
        if bool_at(c, "/securityContext/privileged") == Some(true) {
            add(Baseline, "privileged", format!("container {n}: privileged=true"));
        }
        for cap in caps(c, "add") {
            if !BASELINE_ALLOWED_CAPS.contains(&cap.as_str()) {
                add(Baseline, "capabilities_baseline", format!("container {n}: adds {cap}"));
            }
        }
        for p in c.get("ports").and_then(Value::as_array).into_iter().flatten() {
            if p.get("hostPort").and_then(Value::as_i64).is_some_and(|x| x != 0) {
                add(
                    Baseline,
                    "hostPorts",
                    format!("container {n}: hostPort {}", p.get("hostPort").unwrap_or(&Value::Null)),
                );
            }
        }
        if c.pointer("/securityContext/procMount").and_then(Value::as_str).is_some_and(|p| p != "Default") {
            add(Baseline, "procMount", format!("container {n}: procMount not Default"));
        }
        if seccomp_type(c.get("securityContext")) == Some("Unconfined") {
            add(Baseline, "seccompProfile_baseline", format!("container {n}: seccompProfile Unconfined"));
        }
        if apparmor_type(c.get("securityContext")) == Some("Unconfined") {
            add(Baseline, "appArmorProfile", format!("container {n}: appArmorProfile Unconfined"));
        }
        selinux(c.get("securityContext"), &format!("container {n}"), &mut add);
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            for h in ["httpGet", "tcpSocket"] {
                if c.pointer(&format!("/{probe}/{h}/host")).and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
                    add(Baseline, "hostProbesAndHostLifecycle", format!("container {n}: {probe}.{h}.host set"));
                }
            }
        }
        for hook in ["postStart", "preStop"] {
            for h in ["httpGet", "tcpSocket"] {
                if c.pointer(&format!("/lifecycle/{hook}/{h}/host"))
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
                {
                    add(
                        Baseline,
                        "hostProbesAndHostLifecycle",
                        format!("container {n}: lifecycle.{hook}.{h}.host set"),
                    );
                }
            }
        }
    }
    if seccomp_type(psc) == Some("Unconfined") {
        add(Baseline, "seccompProfile_baseline", "pod seccompProfile Unconfined".into());
    }
    if apparmor_type(psc) == Some("Unconfined") {
        add(Baseline, "appArmorProfile", "pod appArmorProfile Unconfined".into());
    }
    if let Some(ann) = annotations {
        for (k, val) in ann {
            if k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                && let Some(s) = val.as_str()
                && s != "runtime/default"
                && !s.starts_with("localhost/")
            {
                add(Baseline, "appArmorProfile", format!("annotation {k}={s}"));
            }
        }
    }
    selinux(psc, "pod", &mut add);
    for s in spec.pointer("/securityContext/sysctls").and_then(Value::as_array).into_iter().flatten() {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        if !SAFE_SYSCTLS.contains(&name) {
            add(Baseline, "sysctls", format!("unsafe sysctl {name}"));
        }
    }
    for vol in spec.get("volumes").and_then(Value::as_array).into_iter().flatten() {
        let vname = cname(vol);
        if vol.get("hostPath").is_some() {
            add(Baseline, "hostPathVolumes", format!("volume {vname}: hostPath"));
        }
        if let Some(obj) = vol.as_object() {
            for k in obj.keys() {
                if k != "name" && !RESTRICTED_VOLUME_TYPES.contains(&k.as_str()) {
                    add(Restricted, "restrictedVolumes", format!("volume {vname}: type {k}"));
                }
            }
        }
    }
    // restricted
    let pod_non_root = bool_at(spec, "/securityContext/runAsNonRoot");
    let pod_seccomp = seccomp_type(psc);
    if spec.pointer("/securityContext/runAsUser").and_then(Value::as_i64) == Some(0) {
        add(Restricted, "runAsUser", "pod runAsUser=0".into());
    }
    if pod_non_root == Some(false) {
        add(Restricted, "runAsNonRoot", "pod runAsNonRoot=false".into());
    }
    for (_, c) in &all {
        let n = cname(c);
        let sc = c.get("securityContext");
        if bool_at(c, "/securityContext/allowPrivilegeEscalation") != Some(false) {
            add(Restricted, "allowPrivilegeEscalation", format!("container {n}: allowPrivilegeEscalation not false"));
        }
        match bool_at(c, "/securityContext/runAsNonRoot") {
            Some(false) => add(Restricted, "runAsNonRoot", format!("container {n}: runAsNonRoot=false")),
            None if pod_non_root != Some(true) => {
                add(Restricted, "runAsNonRoot", format!("container {n}: runAsNonRoot not true (pod or container)"))
            }
            _ => {}
        }
        if c.pointer("/securityContext/runAsUser").and_then(Value::as_i64) == Some(0) {
            add(Restricted, "runAsUser", format!("container {n}: runAsUser=0"));
        }
        let st = seccomp_type(sc);
        let ok = |t: Option<&str>| matches!(t, Some("RuntimeDefault") | Some("Localhost"));
        if !(ok(st) || (st.is_none() && ok(pod_seccomp))) {
            add(
                Restricted,
                "seccompProfile_restricted",
                format!("container {n}: seccompProfile not RuntimeDefault/Localhost"),
            );
        }
        if !caps(c, "drop").iter().any(|d| d == "ALL") {
            add(Restricted, "capabilities_restricted", format!("container {n}: capabilities.drop lacks ALL"));
        }
        for cap in caps(c, "add") {
            if cap != "NET_BIND_SERVICE" {
                add(Restricted, "capabilities_restricted", format!("container {n}: adds {cap}"));
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

fn selinux(sc: Option<&Value>, who: &str, add: &mut impl FnMut(PssLevel, &'static str, String)) {
    let Some(o) = sc.and_then(|s| s.get("seLinuxOptions")) else { return };
    let t = o.get("type").and_then(Value::as_str).unwrap_or("");
    if !t.is_empty() && !["container_t", "container_init_t", "container_kvm_t", "container_engine_t"].contains(&t) {
        add(PssLevel::Baseline, "seLinuxOptions", format!("{who}: seLinuxOptions.type {t}"));
    }
    for f in ["user", "role"] {
        if o.get(f).and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
            add(PssLevel::Baseline, "seLinuxOptions", format!("{who}: seLinuxOptions.{f} set"));
        }
    }
}

fn seccomp_type(sc: Option<&Value>) -> Option<&str> {
    sc?.get("seccompProfile")?.get("type")?.as_str()
}

fn apparmor_type(sc: Option<&Value>) -> Option<&str> {
    sc?.get("appArmorProfile")?.get("type")?.as_str()
}

/// Capability names of `capabilities.<which>`, upper-case without `CAP_`.
pub fn caps(container: &Value, which: &str) -> Vec<String> {
    container
        .pointer(&format!("/securityContext/capabilities/{which}"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter().filter_map(Value::as_str).map(|s| s.trim_start_matches("CAP_").to_ascii_uppercase()).collect()
        })
        .unwrap_or_default()
}

/// Capabilities a container effectively holds under its securityContext.
pub fn effective_caps(container: &Value) -> BTreeSet<String> {
    if bool_at(container, "/securityContext/privileged") == Some(true) {
        return ["ALL".to_string()].into_iter().collect();
    }
    let drop = caps(container, "drop");
    let mut set: BTreeSet<String> = if drop.iter().any(|d| d == "ALL") {
        BTreeSet::new()
    } else {
        RUNTIME_DEFAULT_CAPS.iter().map(|s| s.to_string()).filter(|c| !drop.contains(c)).collect()
    };
    set.extend(caps(container, "add"));
    set
}

fn holds(set: &BTreeSet<String>, cap: &str) -> bool {
    set.contains("ALL") || set.contains(cap)
}

/// PSS violations turned into findings for `subject`.
pub fn pss_findings(workload: &Value, subject: &str) -> Vec<Finding> {
    let kind = kind_of(workload);
    let Some(spec) = pod_spec_pointer(kind).and_then(|p| workload.pointer(p)) else { return Vec::new() };
    let ann = workload.pointer(&format!("{}/annotations", pod_meta_pointer(kind))).and_then(Value::as_object);
    pss_violations(spec, ann)
        .into_iter()
        .map(|v| Finding {
            rule_id: format!(
                "KG-PSS-{}-{}",
                if v.level == PssLevel::Baseline { "BASELINE" } else { "RESTRICTED" },
                v.check.to_ascii_uppercase().replace('_', "-")
            ),
            severity: if v.level == PssLevel::Baseline { Severity::High } else { Severity::Medium },
            subject: subject.to_string(),
            message: v.message,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Strategic-merge patch

fn merge_key(list: &str) -> Option<&'static str> {
    match list {
        "containers" | "initContainers" | "ephemeralContainers" | "volumes" | "env" | "imagePullSecrets" => {
            Some("name")
        }
        "volumeMounts" => Some("mountPath"),
        "ports" => Some("containerPort"),
        _ => None,
    }
}

fn diff_value(key: &str, orig: Option<&Value>, new: &Value) -> Option<Value> {
    match (orig, new) {
        (Some(o), n) if o == n => None,
        (Some(Value::Object(o)), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, nv) in n {
                if let Some(d) = diff_value(k, o.get(k), nv) {
                    out.insert(k.clone(), d);
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            if out.is_empty() { None } else { Some(Value::Object(out)) }
        }
        (Some(Value::Array(o)), Value::Array(n)) => match merge_key(key) {
            Some(mk) => {
                let mut out = Vec::new();
                for ne in n {
                    let k = ne.get(mk);
                    match o.iter().find(|oe| oe.get(mk) == k && k.is_some()) {
                        Some(oe) => {
                            if let Some(Value::Object(mut d)) = diff_value("", Some(oe), ne) {
                                if let Some(k) = k {
                                    d.insert(mk.to_string(), k.clone());
                                }
                                out.push(Value::Object(d));
                            }
                        }
                        None => out.push(ne.clone()),
                    }
                }
                for oe in o {
                    let k = oe.get(mk);
                    if k.is_some() && !n.iter().any(|ne| ne.get(mk) == k) {
                        let mut d = Map::new();
                        if let Some(k) = k {
                            d.insert(mk.to_string(), k.clone());
                        }
                        d.insert("$patch".into(), Value::String("delete".into()));
                        out.push(Value::Object(d));
                    }
                }
                if out.is_empty() { None } else { Some(Value::Array(out)) }
            }
            None => Some(new.clone()),
        },
        _ => Some(new.clone()),
    }
}

/// The minimal strategic-merge patch turning `original` into `proposed` (both full objects):
/// `apiVersion`, `kind`, `metadata.name/namespace` to identify the target (so it works with
/// `kubectl patch --type strategic` and kustomize `patches`), then only changed fields. Keyed
/// lists merge by their Kubernetes merge keys (containers/volumes by `name`, volumeMounts by
/// `mountPath`); removed entries are `$patch: delete`; removed fields are `null`.
pub fn strategic_patch(original: &Value, proposed: &Value) -> Value {
    let mut out = Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = proposed.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    let mut meta = Map::new();
    for k in ["name", "namespace"] {
        if let Some(v) = proposed.pointer(&format!("/metadata/{k}")) {
            meta.insert(k.to_string(), v.clone());
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    let spec = diff_value("spec", original.get("spec"), proposed.get("spec").unwrap_or(&Value::Null));
    out.insert("spec".into(), spec.unwrap_or_else(|| json!({})));
    Value::Object(out)
}

/// Apply a patch made by `strategic_patch` (the subset of strategic-merge semantics it uses).
pub fn apply_strategic_patch(target: &Value, patch: &Value) -> Value {
    fn apply(key: &str, t: &Value, p: &Value) -> Value {
        match (t, p) {
            (Value::Object(to), Value::Object(po)) => {
                let mut out = to.clone();
                for (k, pv) in po {
                    if pv.is_null() {
                        out.remove(k);
                    } else {
                        let nv = match out.get(k) {
                            Some(tv) => apply(k, tv, pv),
                            None => strip_directives(pv),
                        };
                        out.insert(k.clone(), nv);
                    }
                }
                Value::Object(out)
            }
            (Value::Array(ta), Value::Array(pa)) => match merge_key(key) {
                Some(mk) => {
                    let mut out = ta.clone();
                    for pe in pa {
                        let k = pe.get(mk);
                        let pos = out.iter().position(|te| te.get(mk) == k);
                        if pe.get("$patch").and_then(Value::as_str) == Some("delete") {
                            if let Some(i) = pos {
                                out.remove(i);
                            }
                        } else if let Some(i) = pos {
                            out[i] = apply("", &out[i], pe);
                        } else {
                            out.push(strip_directives(pe));
                        }
                    }
                    Value::Array(out)
                }
                None => p.clone(),
            },
            _ => p.clone(),
        }
    }
    fn strip_directives(v: &Value) -> Value {
        v.clone()
    }
    let mut patch = patch.clone();
    if let Some(o) = patch.as_object_mut() {
        o.remove("metadata");
    }
    apply("", target, &patch)
}

// ---------------------------------------------------------------------------------------------
// The check

/// The workload a target is about, from the snapshot inventory.
pub fn target_workload<'a>(snapshot: &'a Snapshot, target: &Target) -> Option<&'a Workload> {
    match &target.scope {
        TargetScope::Workload(w) => snapshot.inventory.workload(w),
        TargetScope::Subject(_) => None,
    }
}

/// Guard a hardened workload proposal. `proposal[0]` is the full workload object (a second entry,
/// the patch, is recomputed); `original` is the workload as deployed (for create too: it is the
/// object being hardened; when empty, the inventory's raw object is used). Returns
/// `[repaired full object, minimal strategic-merge patch]`.
pub fn check(
    snapshot: &Snapshot,
    target: &Target,
    proposal: &[Value],
    original: &[Value],
    repair: bool,
) -> GuardOutcome {
    let mut verdict = GuardVerdict::default();
    let workload = target_workload(snapshot, target);
    let orig: Value = original
        .iter()
        .find(|o| pod_spec_pointer(kind_of(o)).is_some())
        .cloned()
        .or_else(|| workload.map(|w| w.raw.clone()))
        .unwrap_or(Value::Null);
    let Some(prop) = proposal.iter().find(|o| pod_spec_pointer(kind_of(o)).is_some()).cloned() else {
        verdict.uncovered.push("proposal holds no workload object".into());
        return GuardOutcome { manifests: proposal.to_vec(), verdict };
    };
    let wref = match &target.scope {
        TargetScope::Workload(w) => w.clone(),
        TargetScope::Subject(_) => {
            verdict.uncovered.push("deployment guard needs a workload target".into());
            return GuardOutcome { manifests: proposal.to_vec(), verdict };
        }
    };
    let sa = workload.map(|w| w.service_account.clone()).unwrap_or_else(|| "default".into());
    let mut ctx = Ctx::new(snapshot, &wref, &sa, &prop);
    ctx.orig_spec = spec_of(&orig, &ctx.kind).cloned().unwrap_or(Value::Null);
    // Behaviour the original already breaks (inconsistent evidence) is not the proposal's fault.
    let preexisting: BTreeSet<String> =
        if orig.is_null() { BTreeSet::new() } else { breaks(&orig, &ctx).into_iter().map(|b| b.what).collect() };
    let subject = format!("{} {}/{}", kind_of(&prop), wref.namespace, wref.name);
    let mut fixed = prop.clone();
    if repair {
        restore_loosened(&mut fixed, &orig, &mut verdict.repairs);
        strip_excess(&mut fixed, &orig, &ctx, &mut verdict.repairs);
        for b in breaks(&fixed, &ctx).into_iter().filter(|b| !preexisting.contains(&b.what)) {
            if apply_fix(&mut fixed, &orig, &b.fix) {
                verdict.repairs.push(format!("{} — repaired: {}", b.what, b.fix.describe()));
            }
        }
    }
    let final_breaks: Vec<Break> =
        breaks(&fixed, &ctx).into_iter().filter(|b| !preexisting.contains(&b.what)).collect();
    verdict.observed = ctx.observed_behaviours();
    verdict.uncovered = final_breaks.iter().map(|b| b.what.clone()).collect();
    verdict.covered = verdict.observed.saturating_sub(final_breaks.len());
    if !repair {
        verdict.excess = excess_lines(&fixed, &orig, &ctx);
    }
    verdict.risks = pss_findings(&fixed, &subject);
    if !orig.is_null() {
        let before = pss_findings(&orig, &subject);
        verdict.risks_removed = before.into_iter().filter(|f| !verdict.risks.contains(f)).collect();
    }
    let patch = if orig.is_null() { fixed.clone() } else { strategic_patch(&orig, &fixed) };
    GuardOutcome { manifests: vec![fixed, patch], verdict }
}

struct Ctx {
    kind: String,
    /// Evidence per container name (containers and init containers).
    evidence: BTreeMap<String, ContainerEvidence>,
    sa_calls: Evidence,
    audit: bool,
    sa: String,
    orig_spec: Value,
}

impl Ctx {
    fn new(snapshot: &Snapshot, w: &WorkloadRef, sa: &str, prop: &Value) -> Ctx {
        let kind = kind_of(prop).to_string();
        let mut evidence = BTreeMap::new();
        if let Some(spec) = pod_spec_pointer(&kind).and_then(|p| prop.pointer(p)) {
            for l in CONTAINER_LISTS {
                for c in containers(spec, l) {
                    evidence.insert(cname(c).to_string(), evidence_for(snapshot, w, cname(c)));
                }
            }
        }
        Ctx {
            kind,
            evidence,
            sa_calls: service_account_calls(snapshot, &w.namespace, sa),
            audit: audit_observed(snapshot),
            sa: sa.to_string(),
            orig_spec: Value::Null,
        }
    }

    fn observed_behaviours(&self) -> usize {
        let per: usize = self
            .evidence
            .values()
            .map(|e| {
                e.processes.len()
                    + e.writes.len()
                    + e.capabilities.keys().filter(|(_, a)| *a).count()
                    + e.listens.len()
                    + e.privilege_changes.len()
                    + e.syscalls.len()
                    + e.token_reads().len()
            })
            .sum();
        per + usize::from(self.sa_calls.count > 0)
    }
}

/// One observed behaviour the proposal breaks, and how to repair it.
struct Break {
    what: String,
    fix: Fix,
}

enum Fix {
    /// Restore `ptr` (relative to the pod spec, or to a container when `container` is set) from
    /// the original, removing it when the original lacks it.
    Restore {
        container: Option<String>,
        ptr: String,
    },
    AddCap {
        container: String,
        cap: String,
    },
    RestoreVolume {
        name: String,
    },
}

impl Fix {
    fn describe(&self) -> String {
        match self {
            Fix::Restore { container: Some(c), ptr } => format!("container {c} {ptr} restored to the original"),
            Fix::Restore { container: None, ptr } => format!("pod {ptr} restored to the original"),
            Fix::AddCap { container, cap } => format!("container {container} capabilities.add += {cap}"),
            Fix::RestoreVolume { name } => format!("volume {name} and its mounts restored"),
        }
    }
}

fn spec_mut<'a>(obj: &'a mut Value, kind: &str) -> Option<&'a mut Value> {
    pod_spec_pointer(kind).and_then(|p| obj.pointer_mut(p))
}

fn spec_of<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    pod_spec_pointer(kind).and_then(|p| obj.pointer(p))
}

fn find_container<'a>(spec: &'a Value, name: &str) -> Option<&'a Value> {
    CONTAINER_LISTS.iter().flat_map(|l| containers(spec, l)).find(|c| cname(c) == name)
}

fn find_container_mut<'a>(spec: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    for l in CONTAINER_LISTS {
        if let Some(arr) = spec.get(*l).and_then(Value::as_array)
            && let Some(i) = arr.iter().position(|c| cname(c) == name)
        {
            return spec.get_mut(*l).and_then(|a| a.get_mut(i));
        }
    }
    None
}

/// Set (or remove, with `None`) the value at a JSON pointer, creating objects on the way.
/// Array elements are addressed by index (an index past the end is an error: nothing happens).
pub fn set_pointer(root: &mut Value, ptr: &str, value: Option<Value>) {
    let parts: Vec<&str> = ptr.split('/').skip(1).collect();
    let Some((last, head)) = parts.split_last() else { return };
    let mut cur = root;
    for p in head {
        if let Value::Array(arr) = cur {
            let Some(next) = p.parse::<usize>().ok().and_then(|i| arr.get_mut(i)) else { return };
            cur = next;
            continue;
        }
        if !cur.is_object() {
            if value.is_none() {
                return;
            }
            *cur = Value::Object(Map::new());
        }
        let Some(obj) = cur.as_object_mut() else { return };
        if !obj.contains_key(*p) {
            if value.is_none() {
                return;
            }
            obj.insert(p.to_string(), Value::Object(Map::new()));
        }
        let Some(next) = obj.get_mut(*p) else { return };
        cur = next;
    }
    if let Value::Array(arr) = cur {
        if let Ok(i) = last.parse::<usize>()
            && i < arr.len()
        {
            match value {
                Some(v) => arr[i] = v,
                None => {
                    arr.remove(i);
                }
            }
        }
        return;
    }
    if !cur.is_object() {
        if value.is_none() {
            return;
        }
        *cur = Value::Object(Map::new());
    }
    if let Some(obj) = cur.as_object_mut() {
        match value {
            Some(v) => {
                obj.insert(last.to_string(), v);
            }
            None => {
                obj.remove(*last);
            }
        }
    }
}

fn apply_fix(fixed: &mut Value, orig: &Value, fix: &Fix) -> bool {
    let kind = kind_of(fixed).to_string();
    let orig_spec = spec_of(orig, &kind).cloned().unwrap_or(Value::Null);
    let Some(spec) = spec_mut(fixed, &kind) else { return false };
    match fix {
        Fix::Restore { container, ptr } => {
            let (target, source) = match container {
                Some(c) => (find_container_mut(spec, c), find_container(&orig_spec, c)),
                None => (Some(spec), Some(&orig_spec)),
            };
            let Some(target) = target else { return false };
            let original = source.and_then(|s| s.pointer(ptr)).cloned();
            if target.pointer(ptr) == original.as_ref() {
                return false;
            }
            set_pointer(target, ptr, original);
            true
        }
        Fix::AddCap { container, cap } => {
            let Some(c) = find_container_mut(spec, container) else { return false };
            let mut add = caps(c, "add");
            if add.contains(cap) {
                return false;
            }
            add.push(cap.clone());
            add.sort();
            set_pointer(c, "/securityContext/capabilities/add", Some(json!(add)));
            true
        }
        Fix::RestoreVolume { name } => {
            let Some(vol) =
                orig_spec.get("volumes").and_then(Value::as_array).and_then(|a| a.iter().find(|v| cname(v) == name))
            else {
                return false;
            };
            let mut vols = spec.get("volumes").and_then(Value::as_array).cloned().unwrap_or_default();
            vols.retain(|v| cname(v) != name);
            vols.push(vol.clone());
            set_pointer(spec, "/volumes", Some(Value::Array(vols)));
            for l in CONTAINER_LISTS {
                for oc in containers(&orig_spec, l) {
                    for m in oc.get("volumeMounts").and_then(Value::as_array).into_iter().flatten() {
                        if m.get("name").and_then(Value::as_str) == Some(name.as_str())
                            && let Some(c) = find_container_mut(spec, cname(oc))
                        {
                            let mut mounts =
                                c.get("volumeMounts").and_then(Value::as_array).cloned().unwrap_or_default();
                            if !mounts.iter().any(|x| x.get("mountPath") == m.get("mountPath")) {
                                mounts.push(m.clone());
                                set_pointer(c, "/volumeMounts", Some(Value::Array(mounts)));
                            }
                        }
                    }
                }
            }
            true
        }
    }
}

fn mounts_of(c: &Value) -> Vec<(String, String, bool)> {
    c.get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                m.get("mountPath").and_then(Value::as_str).unwrap_or("").to_string(),
                m.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
            )
        })
        .collect()
}

/// `net.ipv4.ip_unprivileged_port_start` of the pod (1024 when not set).
pub fn unprivileged_port_start(spec: &Value) -> u16 {
    spec.pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some("net.ipv4.ip_unprivileged_port_start"))
        .and_then(|s| s.get("value").and_then(Value::as_str))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// Observed behaviour the workload object `obj` would break.
fn breaks(obj: &Value, ctx: &Ctx) -> Vec<Break> {
    let mut out = Vec::new();
    let Some(spec) = spec_of(obj, &ctx.kind) else { return out };
    let pod_non_root = bool_at(spec, "/securityContext/runAsNonRoot");
    let pod_user = spec.pointer("/securityContext/runAsUser").and_then(Value::as_u64);
    let port_start = unprivileged_port_start(spec);
    for l in CONTAINER_LISTS {
        for c in containers(spec, l) {
            let n = cname(c).to_string();
            let Some(ev) = ctx.evidence.get(&n) else { continue };
            if ev.is_empty() {
                continue;
            }
            let restore = |ptr: &str| Fix::Restore { container: Some(n.clone()), ptr: ptr.to_string() };
            // root processes vs runAsNonRoot
            let non_root = bool_at(c, "/securityContext/runAsNonRoot").or(pod_non_root) == Some(true);
            if non_root && let Some((bin, e)) = ev.root_processes().first() {
                let fix = if bool_at(c, "/securityContext/runAsNonRoot").is_some() {
                    restore("/securityContext/runAsNonRoot")
                } else {
                    Fix::Restore { container: None, ptr: "/securityContext/runAsNonRoot".into() }
                };
                out.push(Break {
                    what: format!(
                        "container {n}: runAsNonRoot would refuse {bin}, observed as uid 0 ({})",
                        e.summary()
                    ),
                    fix,
                });
            }
            // runAsUser vs observed uids
            let user = c.pointer("/securityContext/runAsUser").and_then(Value::as_u64).or(pod_user);
            let uids = ev.uids();
            if let Some(u) = user
                && !uids.is_empty()
                && u32::try_from(u).is_ok_and(|u| !uids.contains(&u))
            {
                let fix = if c.pointer("/securityContext/runAsUser").is_some() {
                    restore("/securityContext/runAsUser")
                } else {
                    Fix::Restore { container: None, ptr: "/securityContext/runAsUser".into() }
                };
                out.push(Break {
                    what: format!("container {n}: runAsUser {u} differs from the observed uids {uids:?}"),
                    fix,
                });
            }
            // writes vs read-only root and read-only mounts
            let mounts = mounts_of(c);
            let ro_root = bool_at(c, "/securityContext/readOnlyRootFilesystem") == Some(true);
            for (path, e) in &ev.writes {
                if is_pseudo_path(path) {
                    continue;
                }
                let mount = mounts.iter().filter(|(_, mp, _)| under(path, mp)).max_by_key(|(_, mp, _)| mp.len());
                match mount {
                    Some((_, mp, true)) => {
                        let idx = mounts.iter().position(|(_, p, _)| p == mp).unwrap_or(0);
                        out.push(Break {
                            what: format!(
                                "container {n}: {path} is written ({}) but {mp} is mounted readOnly",
                                e.summary()
                            ),
                            fix: restore(&format!("/volumeMounts/{idx}/readOnly")),
                        });
                    }
                    Some(_) => {}
                    None if ro_root => out.push(Break {
                        what: format!(
                            "container {n}: readOnlyRootFilesystem would refuse the observed write to {path} ({})",
                            e.summary()
                        ),
                        fix: restore("/securityContext/readOnlyRootFilesystem"),
                    }),
                    None => {}
                }
            }
            // capabilities
            let eff = effective_caps(c);
            for (cap, e) in ev.needed_capabilities(port_start) {
                if !holds(&eff, &cap) {
                    out.push(Break {
                        what: format!("container {n}: capability {cap} is used ({}) but not granted", e.summary()),
                        fix: Fix::AddCap { container: n.clone(), cap },
                    });
                }
            }
            // privilege escalation
            if bool_at(c, "/securityContext/allowPrivilegeEscalation") == Some(false)
                && let Some(((from, to), e)) = ev.privilege_changes.iter().next()
            {
                out.push(Break {
                    what: format!(
                        "container {n}: allowPrivilegeEscalation=false would block the observed privilege change {} → {} ({})",
                        from.map_or("?".into(), |u| u.to_string()),
                        to.map_or("?".into(), |u| u.to_string()),
                        e.summary()
                    ),
                    fix: restore("/securityContext/allowPrivilegeEscalation"),
                });
            }
            // privileged
            if bool_at(c, "/securityContext/privileged") != Some(true) {
                let needs = ev.privileged_needs();
                let blocked: Vec<&String> = needs
                    .iter()
                    .filter(|s| {
                        s.strip_prefix("syscall ")
                            .is_none_or(|name| !holds(&eff, "SYS_ADMIN") || name.contains("module"))
                    })
                    .collect();
                if !blocked.is_empty() {
                    out.push(Break {
                        what: format!("container {n}: not privileged, but observed {}", join(&blocked)),
                        fix: restore("/securityContext/privileged"),
                    });
                }
            }
            // seccomp RuntimeDefault vs observed syscalls
            let st = seccomp_type(c.get("securityContext")).or_else(|| seccomp_type(spec.get("securityContext")));
            if st == Some("RuntimeDefault") && bool_at(c, "/securityContext/privileged") != Some(true) {
                let refused: Vec<&String> =
                    ev.syscalls.keys().filter(|s| RUNTIME_DEFAULT_BLOCKED_SYSCALLS.contains(&s.as_str())).collect();
                if !refused.is_empty() {
                    let fix = if seccomp_type(c.get("securityContext")).is_some() {
                        restore("/securityContext/seccompProfile")
                    } else {
                        Fix::Restore { container: None, ptr: "/securityContext/seccompProfile".into() }
                    };
                    out.push(Break {
                        what: format!(
                            "container {n}: seccomp RuntimeDefault refuses observed syscalls {}",
                            join(&refused)
                        ),
                        fix,
                    });
                }
            }
        }
    }
    // token automount
    if bool_at(spec, "/automountServiceAccountToken") == Some(false) {
        let reads: Vec<String> = ctx
            .evidence
            .iter()
            .flat_map(|(n, e)| e.token_reads().into_iter().map(move |(p, _)| format!("{n}:{p}")))
            .collect();
        if ctx.sa_calls.count > 0 || !reads.is_empty() {
            out.push(Break {
                what: format!(
                    "automountServiceAccountToken=false, but service account {} made API requests ({}) / token reads {}",
                    ctx.sa,
                    ctx.sa_calls.summary(),
                    if reads.is_empty() { "none".to_string() } else { reads.join(", ") }
                ),
                fix: Fix::Restore { container: None, ptr: "/automountServiceAccountToken".into() },
            });
        }
    }
    let _ = ctx.audit;
    // host namespaces
    let all_ev = || ctx.evidence.values();
    if bool_at(spec, "/hostPID") != Some(true) {
        let needs: Vec<String> = all_ev()
            .flat_map(|e| {
                e.syscalls
                    .keys()
                    .filter(|s| matches!(s.as_str(), "ptrace" | "setns"))
                    .cloned()
                    .chain(e.reads.keys().chain(e.writes.keys()).filter(|p| foreign_proc(p)).cloned())
            })
            .collect();
        if !needs.is_empty() {
            out.push(Break {
                what: format!("hostPID off, but observed {}", needs.join(", ")),
                fix: Fix::Restore { container: None, ptr: "/hostPID".into() },
            });
        }
    }
    if bool_at(spec, "/hostNetwork") != Some(true) {
        let needs: Vec<String> = all_ev()
            .flat_map(|e| {
                e.capabilities
                    .keys()
                    .filter(|(c, a)| *a && c == "NET_ADMIN")
                    .map(|(c, _)| format!("capability {c}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !needs.is_empty() {
            out.push(Break {
                what: format!("hostNetwork off, but observed {}", needs.join(", ")),
                fix: Fix::Restore { container: None, ptr: "/hostNetwork".into() },
            });
        }
    }
    // hostPath volumes: accesses under a path whose volume is gone
    let present: BTreeSet<&str> =
        spec.get("volumes").and_then(Value::as_array).into_iter().flatten().map(cname).collect();
    for vol in ctx.orig_spec.get("volumes").and_then(Value::as_array).into_iter().flatten() {
        let vname = cname(vol);
        if vol.get("hostPath").is_none() || present.contains(vname) {
            continue;
        }
        for l in CONTAINER_LISTS {
            for oc in containers(&ctx.orig_spec, l) {
                let Some(ev) = ctx.evidence.get(cname(oc)) else { continue };
                for (mname, mp, _) in mounts_of(oc) {
                    if mname != vname {
                        continue;
                    }
                    if let Some((p, e, _)) = ev.accesses_under(&mp).first() {
                        out.push(Break {
                            what: format!(
                                "hostPath volume {vname} removed, but container {} accessed {p} under {mp} ({})",
                                cname(oc),
                                e.summary()
                            ),
                            fix: Fix::RestoreVolume { name: vname.to_string() },
                        });
                    }
                }
            }
        }
    }
    out
}

/// `/proc/<pid>/…` of a process other than self (needs hostPID to see host processes).
fn foreign_proc(p: &str) -> bool {
    p.strip_prefix("/proc/")
        .and_then(|r| r.split('/').next())
        .is_some_and(|pid| !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()) && pid != "1")
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// Security fields whose value counts as "tighter" when set as given.
const TIGHT_FIELDS: &[TightField] = &[
    ("/securityContext/runAsNonRoot", |v| v.as_bool() == Some(true)),
    ("/securityContext/readOnlyRootFilesystem", |v| v.as_bool() == Some(true)),
    ("/securityContext/allowPrivilegeEscalation", |v| v.as_bool() == Some(false)),
    ("/securityContext/privileged", |v| v.as_bool() == Some(false)),
    ("/securityContext/seccompProfile", |v| {
        matches!(v.get("type").and_then(Value::as_str), Some("RuntimeDefault") | Some("Localhost"))
    }),
];

/// Refine never loosens: restore every security field the original set tightly and the
/// proposal loosened or dropped.
fn restore_loosened(fixed: &mut Value, orig: &Value, repairs: &mut Vec<String>) {
    let kind = kind_of(fixed).to_string();
    let Some(orig_spec) = spec_of(orig, &kind).cloned() else { return };
    let Some(spec) = spec_mut(fixed, &kind) else { return };
    let pod_fields: &[TightField] = &[
        ("/securityContext/runAsNonRoot", |v| v.as_bool() == Some(true)),
        ("/securityContext/seccompProfile", |v| {
            matches!(v.get("type").and_then(Value::as_str), Some("RuntimeDefault") | Some("Localhost"))
        }),
        ("/automountServiceAccountToken", |v| v.as_bool() == Some(false)),
        ("/hostNetwork", |v| v.as_bool() == Some(false)),
        ("/hostPID", |v| v.as_bool() == Some(false)),
        ("/hostIPC", |v| v.as_bool() == Some(false)),
    ];
    for (ptr, tight) in pod_fields {
        if let Some(ov) = orig_spec.pointer(ptr)
            && tight(ov)
            && spec.pointer(ptr).is_none_or(|pv| !tight(pv))
        {
            set_pointer(spec, ptr, Some(ov.clone()));
            repairs.push(format!("pod {ptr}: the user's value {ov} restored (refine never loosens)"));
        }
    }
    if let Some(u) = orig_spec.pointer("/securityContext/runAsUser").and_then(Value::as_u64)
        && u != 0
        && spec.pointer("/securityContext/runAsUser").and_then(Value::as_u64) == Some(0)
    {
        set_pointer(spec, "/securityContext/runAsUser", Some(json!(u)));
        repairs.push(format!("pod runAsUser: the user's value {u} restored (refine never loosens)"));
    }
    for l in CONTAINER_LISTS {
        for oc in containers(&orig_spec, l) {
            let n = cname(oc).to_string();
            let Some(c) = find_container_mut(spec, &n) else { continue };
            for (ptr, tight) in TIGHT_FIELDS {
                if let Some(ov) = oc.pointer(ptr)
                    && tight(ov)
                    && c.pointer(ptr).is_none_or(|pv| !tight(pv))
                {
                    set_pointer(c, ptr, Some(ov.clone()));
                    repairs.push(format!("container {n} {ptr}: the user's value {ov} restored (refine never loosens)"));
                }
            }
            let odrop = caps(oc, "drop");
            let mut drop = caps(c, "drop");
            if !drop.iter().any(|d| d == "ALL") {
                let missing: Vec<String> = odrop.iter().filter(|d| !drop.contains(d)).cloned().collect();
                if !missing.is_empty() {
                    drop.extend(missing.iter().cloned());
                    drop.sort();
                    set_pointer(c, "/securityContext/capabilities/drop", Some(json!(drop)));
                    repairs
                        .push(format!("container {n}: capabilities.drop {missing:?} restored (refine never loosens)"));
                }
            }
            if let Some(u) = oc.pointer("/securityContext/runAsUser").and_then(Value::as_u64)
                && u != 0
                && c.pointer("/securityContext/runAsUser").and_then(Value::as_u64) == Some(0)
            {
                set_pointer(c, "/securityContext/runAsUser", Some(json!(u)));
                repairs.push(format!("container {n} runAsUser: the user's value {u} restored (refine never loosens)"));
            }
        }
    }
}

/// Lines describing what `obj` grants beyond evidence and original.
fn excess_lines(obj: &Value, orig: &Value, ctx: &Ctx) -> Vec<String> {
    let mut copy = obj.clone();
    let mut lines = Vec::new();
    strip_excess(&mut copy, orig, ctx, &mut lines);
    lines
}

/// Remove grants neither the evidence nor the original support.
fn strip_excess(fixed: &mut Value, orig: &Value, ctx: &Ctx, repairs: &mut Vec<String>) {
    let kind = kind_of(fixed).to_string();
    let orig_spec = spec_of(orig, &kind).cloned().unwrap_or(Value::Null);
    let Some(spec) = spec_mut(fixed, &kind) else { return };
    let port_start = unprivileged_port_start(spec);
    for f in ["hostNetwork", "hostPID", "hostIPC"] {
        let ptr = format!("/{f}");
        if bool_at(spec, &ptr) == Some(true) && bool_at(&orig_spec, &ptr) != Some(true) {
            set_pointer(spec, &ptr, None);
            repairs.push(format!("pod {f}=true removed: not in the original, not supported by evidence"));
        }
    }
    // hostPath volumes that the original did not have
    let orig_vols: BTreeSet<String> = orig_spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some())
        .map(|v| cname(v).to_string())
        .collect();
    let new_host: Vec<String> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some() && !orig_vols.contains(cname(v)))
        .map(|v| cname(v).to_string())
        .collect();
    for name in new_host {
        if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
            vols.retain(|v| cname(v) != name);
        }
        for l in CONTAINER_LISTS {
            if let Some(cs) = spec.get_mut(*l).and_then(Value::as_array_mut) {
                for c in cs {
                    if let Some(ms) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                        ms.retain(|m| m.get("name").and_then(Value::as_str) != Some(name.as_str()));
                    }
                }
            }
        }
        repairs.push(format!("hostPath volume {name} removed: not in the original"));
    }
    for l in CONTAINER_LISTS {
        let Some(cs) = spec.get_mut(*l).and_then(Value::as_array_mut) else { continue };
        for c in cs {
            let n = cname(c).to_string();
            let oc = find_container(&orig_spec, &n);
            if bool_at(c, "/securityContext/privileged") == Some(true)
                && oc.and_then(|o| bool_at(o, "/securityContext/privileged")) != Some(true)
            {
                set_pointer(c, "/securityContext/privileged", None);
                repairs.push(format!("container {n}: privileged=true removed: not in the original"));
            }
            let orig_eff = oc.map(effective_caps).unwrap_or_else(|| {
                // a new container: the runtime default set is what it would have had
                RUNTIME_DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
            });
            let needed = ctx.evidence.get(&n).map(|e| e.needed_capabilities(port_start)).unwrap_or_default();
            let orig_add: BTreeSet<String> = oc.map(|o| caps(o, "add").into_iter().collect()).unwrap_or_default();
            let add = caps(c, "add");
            let keep: Vec<String> = add
                .iter()
                .filter(|cap| needed.contains_key(*cap) && holds(&orig_eff, cap) || orig_add.contains(*cap))
                .cloned()
                .collect();
            if keep.len() != add.len() {
                let gone: Vec<&String> = add.iter().filter(|c| !keep.contains(c)).collect();
                repairs.push(format!(
                    "container {n}: capabilities.add {} removed: neither used nor in the original",
                    join(&gone)
                ));
                let v = if keep.is_empty() { None } else { Some(json!(keep)) };
                set_pointer(c, "/securityContext/capabilities/add", v);
            }
        }
    }
}

/// Convenience for tests and the TUI: the PSS violations of a full workload object.
pub fn workload_pss(obj: &Value) -> Vec<PssViolation> {
    let kind = kind_of(obj);
    let Some(spec) = spec_of(obj, kind) else { return Vec::new() };
    let ann = obj.pointer(&format!("{}/annotations", pod_meta_pointer(kind))).and_then(Value::as_object);
    pss_violations(spec, ann)
}
