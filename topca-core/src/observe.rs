//! A hook for operational metrics: the core tells an [`Observer`] when it signed
//! a certificate or revoked one, and how long that took. The core keeps no
//! counters and does no I/O itself; the server's metrics implement the trait.

use std::time::Duration;

/// How an observed operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Done,
    /// It was refused or failed.
    Failed,
}

impl Outcome {
    /// The outcome of `result`.
    pub fn of<T, E>(result: &Result<T, E>) -> Self {
        if result.is_ok() {
            Self::Done
        } else {
            Self::Failed
        }
    }
}

/// Told of issuances and revocations as they happen (called on the thread doing
/// the work, so implementations must be cheap and must not block).
pub trait Observer: Send + Sync {
    /// A certificate was prepared, recorded and signed (or that failed), in `took`.
    fn issuance(&self, outcome: Outcome, took: Duration);
    /// A certificate was revoked (or that failed), in `took`.
    fn revocation(&self, outcome: Outcome, took: Duration);
}

/// The observer that ignores everything (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn issuance(&self, _outcome: Outcome, _took: Duration) {}
    fn revocation(&self, _outcome: Outcome, _took: Duration) {}
}
