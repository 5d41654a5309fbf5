//! Evaluation: precision, recall and F1 of recommendations against ground truth, on atomic
//! units (README "Evaluation").
//!
//! Owns the unit definitions (`rbac`: atomic grants after wildcard expansion against a
//! discovery table; `netpol`: allowed connections computed with `guard::netpol`'s evaluator;
//! `deploy`: hardening facts with a resource tolerance), the scoring arithmetic (this file),
//! the corpus runner (`corpus`, the only part that reads files) and the report renderers
//! (`report`), and `predicted`, which scores manifests produced outside kubeguard with the same
//! units. It must not change recommendations nor read anything but the corpus it is given.
//!
//! Conventions for empty sets (0/0), fixed here and documented in the README:
//! precision = 1 when nothing was predicted (no false claim was made), recall = 1 when the
//! truth is empty (nothing was missed), F1 = 0 when precision + recall = 0. So an empty
//! prediction against an empty truth scores 1/1/1, an empty prediction against a non-empty
//! truth 1/0/0 and a non-empty prediction against an empty truth 0/1/0.

pub mod corpus;
pub mod deploy;
pub mod netpol;
pub mod predicted;
pub mod rbac;
pub mod report;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Counts of one comparison: true positives, false positives, false negatives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Counts {
    /// Compare two sets of atomic units exactly.
    pub fn of_sets<T: Ord>(predicted: &BTreeSet<T>, truth: &BTreeSet<T>) -> Counts {
        let tp = predicted.intersection(truth).count() as u64;
        Counts { tp, fp: predicted.len() as u64 - tp, fn_: truth.len() as u64 - tp }
    }

    pub fn add(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }

    pub fn scores(&self) -> Scores {
        let precision = ratio(self.tp, self.tp + self.fp);
        let recall = ratio(self.tp, self.tp + self.fn_);
        Scores { precision, recall, f1: f1(precision, recall) }
    }
}

/// 0/0 = 1 (see the module note).
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 { 1.0 } else { num as f64 / den as f64 }
}

/// Harmonic mean; 0 when both are 0.
pub fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Micro (pooled counts) and macro (mean of per-unit scores; macro F1 is the mean of the
/// per-unit F1s, not the F1 of the mean precision and recall) over a set of units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub units: usize,
    pub counts: Counts,
    pub micro: Scores,
    pub macro_: Scores,
}

impl Aggregate {
    pub fn of(per_unit: &[Counts]) -> Aggregate {
        let mut counts = Counts::default();
        let mut sum = Scores::default();
        for c in per_unit {
            counts.add(*c);
            let s = c.scores();
            sum.precision += s.precision;
            sum.recall += s.recall;
            sum.f1 += s.f1;
        }
        let n = per_unit.len();
        let macro_ = if n == 0 {
            Scores { precision: 1.0, recall: 1.0, f1: 1.0 }
        } else {
            let d = n as f64;
            Scores { precision: sum.precision / d, recall: sum.recall / d, f1: sum.f1 / d }
        };
        Aggregate { units: n, counts, micro: counts.scores(), macro_ }
    }
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {message}")]
    Corpus { path: String, message: String },
    #[error(transparent)]
    Input(#[from] crate::sources::InputError),
    #[error("engine: {0}")]
    Engine(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn counts_and_scores_by_hand() {
        let p: BTreeSet<u8> = [1, 2, 3, 4].into();
        let t: BTreeSet<u8> = [3, 4, 5].into();
        let c = Counts::of_sets(&p, &t);
        assert_eq!(c, Counts { tp: 2, fp: 2, fn_: 1 });
        let s = c.scores();
        assert!(close(s.precision, 0.5));
        assert!(close(s.recall, 2.0 / 3.0));
        assert!(close(s.f1, 4.0 / 7.0)); // 2·0.5·0.667/(1.1667)
    }

    #[test]
    fn empty_conventions() {
        let e: BTreeSet<u8> = BTreeSet::new();
        let x: BTreeSet<u8> = [1].into();
        let both = Counts::of_sets(&e, &e).scores();
        assert_eq!((both.precision, both.recall, both.f1), (1.0, 1.0, 1.0));
        let missed = Counts::of_sets(&e, &x).scores();
        assert_eq!((missed.precision, missed.recall, missed.f1), (1.0, 0.0, 0.0));
        let invented = Counts::of_sets(&x, &e).scores();
        assert_eq!((invented.precision, invented.recall, invented.f1), (0.0, 1.0, 0.0));
        let disjoint = Counts { tp: 0, fp: 1, fn_: 1 }.scores();
        assert_eq!(disjoint.f1, 0.0);
    }

    #[test]
    fn micro_differs_from_macro() {
        // unit a: 1 tp, 0 fp, 0 fn (P=R=F1=1); unit b: 1 tp, 3 fp, 1 fn (P=.25, R=.5, F1=1/3)
        let a = Counts { tp: 1, fp: 0, fn_: 0 };
        let b = Counts { tp: 1, fp: 3, fn_: 1 };
        let agg = Aggregate::of(&[a, b]);
        assert_eq!(agg.counts, Counts { tp: 2, fp: 3, fn_: 1 });
        assert!(close(agg.micro.precision, 0.4));
        assert!(close(agg.micro.recall, 2.0 / 3.0));
        assert!(close(agg.micro.f1, 0.5));
        assert!(close(agg.macro_.precision, 0.625));
        assert!(close(agg.macro_.recall, 0.75));
        assert!(close(agg.macro_.f1, (1.0 + 1.0 / 3.0) / 2.0));
    }
}
