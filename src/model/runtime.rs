//! In-container runtime evidence (processes, file writes, capabilities, sockets, uids) and
//! resource metric samples, attributed to a container of a workload.

use serde::{Deserialize, Serialize};

use super::{Timestamp, WorkloadRef};

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
}
