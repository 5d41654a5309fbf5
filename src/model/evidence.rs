//! Evidence counters: how often something was observed and when. Merging is associative and
//! commutative so profiles built from shards combine into the same result as one pass.

use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch (UTC). `0` means "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parse RFC 3339 (`2024-01-02T03:04:05.123456Z`, offsets allowed). `None` when malformed.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let dt = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        let micros = dt.unix_timestamp_nanos() / 1_000;
        i64::try_from(micros).ok().map(Timestamp)
    }

    /// RFC 3339 in UTC with microseconds, or `"unknown"` for 0.
    pub fn to_rfc3339(self) -> String {
        if self.0 == 0 {
            return "unknown".to_string();
        }
        let nanos = i128::from(self.0) * 1_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(dt) => {
                dt.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| "unknown".to_string())
            }
            Err(_) => "unknown".to_string(),
        }
    }
}

/// Count plus first/last seen, plus one example id (the smallest, so merging stays deterministic).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Evidence {
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// e.g. an audit `auditID` or a flow uuid; the lexicographically smallest seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

impl Evidence {
    pub fn one(at: Timestamp, example: Option<&str>) -> Self {
        Evidence { count: 1, first_seen: at, last_seen: at, example: example.map(str::to_string) }
    }

    /// Record one more observation.
    pub fn observe(&mut self, at: Timestamp, example: Option<&str>) {
        self.merge(&Evidence::one(at, example));
    }

    /// Associative, commutative merge. Unknown timestamps (0) never win min/max.
    pub fn merge(&mut self, other: &Evidence) {
        self.count = self.count.saturating_add(other.count);
        self.first_seen = min_known(self.first_seen, other.first_seen);
        self.last_seen = max_known(self.last_seen, other.last_seen);
        self.example = match (self.example.take(), &other.example) {
            (Some(a), Some(b)) => Some(if *b < a { b.clone() } else { a }),
            (Some(a), None) => Some(a),
            (None, b) => b.clone(),
        };
    }

    /// One-line human summary: `12× 2024-01-01T… → 2024-01-02T…`.
    pub fn summary(&self) -> String {
        format!("{}x, first {}, last {}", self.count, self.first_seen.to_rfc3339(), self.last_seen.to_rfc3339())
    }
}

fn min_known(a: Timestamp, b: Timestamp) -> Timestamp {
    match (a.0, b.0) {
        (0, _) => b,
        (_, 0) => a,
        _ => a.min(b),
    }
}

fn max_known(a: Timestamp, b: Timestamp) -> Timestamp {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_associative_and_commutative() {
        let a = Evidence::one(Timestamp(5), Some("b"));
        let b = Evidence::one(Timestamp(0), Some("a"));
        let c = Evidence::one(Timestamp(9), None);
        let mut ab_c = a.clone();
        ab_c.merge(&b);
        ab_c.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut a_bc = a.clone();
        a_bc.merge(&bc);
        assert_eq!(ab_c, a_bc);
        let mut c_b_a = c.clone();
        c_b_a.merge(&b);
        c_b_a.merge(&a);
        assert_eq!(ab_c, c_b_a);
        assert_eq!(ab_c.count, 3);
        assert_eq!(ab_c.first_seen, Timestamp(5));
        assert_eq!(ab_c.last_seen, Timestamp(9));
        assert_eq!(ab_c.example.as_deref(), Some("a"));
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::parse_rfc3339("2023-03-20T10:15:30.123456Z").expect("valid");
        assert_eq!(t.to_rfc3339(), "2023-03-20T10:15:30.123456Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
    }
}
