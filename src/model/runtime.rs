//! In-container runtime evidence (processes, file writes, capabilities, sockets, uids) and
//! resource metric samples, attributed to a container of a workload.

use serde::{Deserialize, Serialize};

use super::{Timestamp, WorkloadRef};

/// Syscalls the container runtime's default seccomp profile refuses (to a container without
/// CAP_SYS_ADMIN and friends): observing one shows a need for `privileged`.
pub const RUNTIME_DEFAULT_BLOCKED_SYSCALLS: &[&str] = &[
    "init_module",
    "finit_module",
    "delete_module",
    "mount",
    "umount",
    "umount2",
    "setns",
    "unshare",
    "bpf",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "iopl",
    "ioperm",
    "pivot_root",
];

/// Further syscalls worth recording because they need a capability (`SYS_PTRACE`,
/// `SYS_CHROOT`, `MKNOD`) even though the runtime default allows them to a privileged caller.
pub const CAPABILITY_SYSCALLS: &[&str] = &["ptrace", "chroot", "mknod", "mknodat"];

/// Whether a (normalised) syscall name is one the sources record as a `Syscall` observation.
pub fn is_privileged_syscall(name: &str) -> bool {
    RUNTIME_DEFAULT_BLOCKED_SYSCALLS.contains(&name) || CAPABILITY_SYSCALLS.contains(&name)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContainerRef {
    pub workload: WorkloadRef,
    /// Container name; `""` when the source does not say.
    pub container: String,
}

/// One normalised runtime fact. Sources map SPADE, Tetragon and Falco records onto these.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuntimeObservation {
    /// A process ran with these ids.
    Process { binary: String, uid: Option<u32>, euid: Option<u32>, gid: Option<u32> },
    /// A file was written, created, renamed, truncated or unlinked.
    FileWrite { path: String },
    /// A file was read (used for token-read detection and hostPath use).
    FileRead { path: String },
    /// A capability was exercised (`NET_BIND_SERVICE`, no `CAP_` prefix).
    Capability { name: String, allowed: bool },
    /// A socket bound/listened on a port.
    Listen { port: u16, protocol: String },
    /// A setuid/setgid transition or setuid-binary execution raised privileges.
    PrivilegeChange { from_uid: Option<u32>, to_uid: Option<u32> },
    /// A privileged syscall family (mount, init_module, setns, unshare, ptrace...).
    Syscall { name: String },
}

/// One resource usage sample for a container.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    pub at: Timestamp,
    /// CPU in cores (rate), when this sample carries CPU.
    pub cpu_cores: Option<f64>,
    /// Memory working set in bytes, when this sample carries memory.
    pub memory_bytes: Option<f64>,
    /// Which replica (pod) it came from: a stable hash of `namespace/pod`, 0 when unknown.
    /// Lets sizing take per-pod statistics (krr: max over pods of per-pod P95).
    #[serde(default)]
    pub replica: u64,
}

impl MetricSample {
    /// Stable replica id for a pod (FNV-1a of `namespace/pod`; never 0).
    pub fn replica_of(namespace: &str, pod: &str) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in namespace.bytes().chain(std::iter::once(b'/')).chain(pod.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h.max(1)
    }
}
