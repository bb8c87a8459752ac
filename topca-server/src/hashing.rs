//! The password-hashing gate: every request that checks a password or PIN with
//! Argon2 (about 19 MiB and tens of milliseconds each) passes through it. At
//! most one check per core runs at a time; a bounded number of requests wait
//! their turn for a bounded time; beyond that the answer is 503 with
//! `Retry-After`, so a flood of log-ins costs neither memory nor the other
//! requests' threads.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::http::StatusCode;
use tokio::sync::Semaphore;

use crate::{AppError, AppState};

/// How long a request waits for its turn by default.
const WAIT: Duration = Duration::from_secs(10);
/// Requests that may wait per running check, by default.
const QUEUE_PER_PERMIT: usize = 16;

/// Bounds concurrent password hashing: `permits` at a time, at most `queue`
/// more waiting, each for at most `wait`.
#[derive(Debug)]
pub struct HashingGate {
    permits: Semaphore,
    admitted: AtomicUsize,
    capacity: usize,
    wait: Duration,
}

/// A turn to hash: the permit and the place in the gate, given back when dropped.
#[derive(Debug)]
pub struct Turn<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    _place: Place<'a>,
}

/// A place in the gate (running or waiting), given back when dropped.
#[derive(Debug)]
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashingGate {
    /// `permits` checks at a time, `queue` more waiting up to `wait` each.
    pub fn new(permits: usize, queue: usize, wait: Duration) -> Self {
        let permits = permits.max(1);
        Self {
            permits: Semaphore::new(permits),
            admitted: AtomicUsize::new(0),
            capacity: permits + queue,
            wait,
        }
    }

    /// One check per core of this machine, 16 waiting per core for up to 10 s.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, cores * QUEUE_PER_PERMIT, WAIT)
    }

    fn busy(&self) -> AppError {
        AppError::limited(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is busy checking other passwords; try again in a moment",
            self.wait.as_secs().max(1),
        )
    }

    /// Waits for a turn to hash; 503 with `Retry-After` when the queue is full
    /// or the wait runs out.
    pub async fn enter(&self) -> Result<Turn<'_>, AppError> {
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        let place = Place(&self.admitted);
        if admitted >= self.capacity {
            return Err(self.busy());
        }
        let permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| self.busy())?
            .map_err(|_| self.busy())?;
        Ok(Turn {
            _permit: permit,
            _place: place,
        })
    }

    /// Checks running or waiting for their turn now.
    pub fn queued(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Runs `work` (which checks a password: blocking) off the async threads
    /// in a turn of this gate ([`HashingGate::enter`]).
    pub async fn run<T, F>(&self, state: &Arc<AppState>, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, AppError> + Send + 'static,
    {
        let _turn = self.enter().await?;
        crate::state::blocking(state, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_the_permits_and_the_queue_requests_get_503_with_retry_after() {
        let gate = HashingGate::new(1, 1, Duration::from_millis(300));
        let running = gate.enter().await.expect("the first runs");
        // The second waits its turn and, the first holding on, times out.
        let waited = gate.enter().await.expect_err("the wait runs out");
        assert_eq!(waited.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(waited.retry_after, Some(1));
        // While one waits, a third finds the queue full at once.
        let (waiting, full) = tokio::join!(gate.enter(), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.enter().await
        });
        assert!(waiting.is_err(), "the waiting one timed out too");
        assert_eq!(
            full.expect_err("the queue is full").status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(running);
        // Places are given back: a new request runs.
        assert!(gate.enter().await.is_ok());
    }
}
