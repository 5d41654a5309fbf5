//! Network observations: connections between endpoints, as reconstructed from flow logs.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum L4Protocol {
    TCP,
    UDP,
    SCTP,
    ICMP,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Direction {
    Ingress,
    Egress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FlowVerdict {
    Forwarded,
    Dropped,
    /// Would have been dropped (policy audit mode).
    Audit,
    Other,
}

/// One side of a connection, attributed as precisely as the evidence allows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FlowEndpoint {
    /// A pod owned by a known workload (or a bare pod: kind `Pod`).
    Workload {
        namespace: String,
        kind: String,
        name: String,
        /// Pod labels as observed (used to build selectors when the inventory lacks the workload).
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
    },
    /// A Cilium reserved identity: `kube-dns` is not reserved but is named here too when
    /// recognised; others are `host`, `remote-node`, `world`, `kube-apiserver`, `health`, `ingress`...
    Reserved { name: String },
    /// Outside the cluster, grouped into a CIDR (`203.0.113.0/24`).
    External { cidr: String },
    /// Not attributable (IP only).
    Unknown { ip: String },
}

impl fmt::Display for FlowEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowEndpoint::Workload { namespace, kind, name, .. } => write!(f, "{kind} {namespace}/{name}"),
            FlowEndpoint::Reserved { name } => write!(f, "reserved:{name}"),
            FlowEndpoint::External { cidr } => write!(f, "{cidr}"),
            FlowEndpoint::Unknown { ip } => write!(f, "unknown {ip}"),
        }
    }
}

/// A connection (not a packet): source opened it to destination on `port`/`protocol`.
/// `port` is the destination (post-DNAT, i.e. pod) port; 0 for ICMP.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Connection {
    pub source: FlowEndpoint,
    pub destination: FlowEndpoint,
    pub port: u16,
    pub protocol: L4Protocol,
    pub verdict: FlowVerdict,
}
