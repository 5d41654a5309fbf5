//! The trust boundary: exact Kubernetes semantics (RBAC authorizer matching, NetworkPolicy
//! evaluation, Pod Security checks), coverage (every observed allowed request/flow is still
//! allowed), excess (what is granted beyond the evidence), risk findings and repair. It never
//! widens privileges beyond evidence plus what the original manifest already granted.

pub mod deploy;
pub mod netpol;
pub mod rbac;
pub mod risk;
