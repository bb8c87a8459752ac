//! Group commit for single machine-client calls (`POST /api/v1/certificates`).
//!
//! Each call joins a queue with its token and CSR as they came. A call that
//! finds no leader waiting for work starts one (at most [`MAX_LEADERS`] run):
//! on the blocking pool a leader takes every call waiting (up to
//! [`MAX_GROUP`]), authenticates them (each distinct token looked up once, so
//! a revoked client is refused from the next group on), reads and verifies
//! the CSRs of the authenticated ones only (an unauthenticated caller costs
//! no signature check), and issues them together through
//! [`Clients::issue_group`] (one reservation transaction, committed before
//! any signature, and one storing transaction for the lot). It hands each
//! caller its own result, and goes on with the calls that arrived meanwhile,
//! ending after [`LINGER`] with none. No call waits for others to arrive: alone, a
//! call is issued at once; under load, the calls that queue while a group is
//! issued form the next group, so the number of SQLite write transactions per
//! certificate falls as the load grows instead of the writers queueing on the
//! database's lock one certificate at a time.

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;
use topca_core::{
    Certificate, CertificateRequest, ProfileKind,
    client::{ClientRegistry, MachineClient, SingleRequest, Templates},
    error::PolicyError,
};
use zeroize::Zeroizing;

use crate::{AppError, AppState};

/// The most calls issued in one group.
pub const MAX_GROUP: usize = 64;
/// The most leaders at once: two, so that one signs while the other writes
/// to the store.
const MAX_LEADERS: usize = 2;
/// How long a leader with nothing to issue waits for the next call before it
/// ends (keeping its templates and its thread across the gaps of a load).
const LINGER: Duration = Duration::from_millis(20);

/// The calls waiting to be issued, and their leaders.
#[derive(Default)]
pub struct IssueQueue {
    inner: Mutex<Waiting>,
    /// Wakes a leader waiting for calls.
    arrived: Condvar,
}

#[derive(Default)]
struct Waiting {
    calls: Vec<Call>,
    /// Leaders running.
    leaders: usize,
    /// Leaders among them waiting for calls.
    idle: usize,
}

/// One waiting call and where its answer goes.
struct Call {
    /// The API token presented (empty when none was).
    token: Zeroizing<String>,
    /// The CSR as sent, not yet read.
    csr: String,
    profile: Option<ProfileKind>,
    answer: oneshot::Sender<Result<Certificate, topca_core::Error>>,
}

impl IssueQueue {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next calls for a leader (at most [`MAX_GROUP`]), waiting up to
    /// [`LINGER`] for one; none: the leader ends (counted out here).
    fn next_group(&self) -> Vec<Call> {
        let deadline = Instant::now() + LINGER;
        let mut waiting = self.lock();
        while waiting.calls.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                waiting.leaders = waiting.leaders.saturating_sub(1);
                return Vec::new();
            }
            waiting.idle += 1;
            waiting = self
                .arrived
                .wait_timeout(waiting, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            waiting.idle = waiting.idle.saturating_sub(1);
        }
        let take = waiting.calls.len().min(MAX_GROUP);
        waiting.calls.drain(..take).collect()
    }
}

/// Issues the certificate asked for by `csr` (PEM or DER) for the machine
/// client whose API token is `token`, under `profile` (its default when
/// `None`), with the calls waiting at the same time: see the module
/// documentation.
pub async fn issue(
    state: &Arc<AppState>,
    token: Zeroizing<String>,
    csr: String,
    profile: Option<ProfileKind>,
) -> Result<Certificate, AppError> {
    let (answer, answered) = oneshot::channel();
    let lead = {
        let mut waiting = state.issue_queue.lock();
        waiting.calls.push(Call {
            token,
            csr,
            profile,
            answer,
        });
        if waiting.idle > 0 {
            state.issue_queue.arrived.notify_one();
            false
        } else if waiting.leaders < MAX_LEADERS {
            waiting.leaders += 1;
            true
        } else {
            false
        }
    };
    if lead {
        let state = Arc::clone(state);
        // The leader's own call is among those it issues: awaiting the answer
        // below covers it too, so the task's handle is not needed.
        drop(tokio::task::spawn_blocking(move || lead_groups(&state)));
    }
    match answered.await {
        Ok(result) => Ok(result?),
        Err(e) => Err(AppError::internal_because("issue the certificate", &e)),
    }
}

/// A leader's loop: issues groups until no call came for [`LINGER`].
fn lead_groups(state: &AppState) {
    let _guard = Leading(&state.issue_queue);
    let env = state.ca.environment();
    let registry = ClientRegistry::new(&state.store, env.random(), env.clock());
    let mut templates = Templates::new(&state.ca);
    // The leaders share the cores: each signs a group on its share of them
    // (one on two cores), so that no thread is started for a small group.
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .div_ceil(MAX_LEADERS);
    loop {
        let calls = state.issue_queue.next_group();
        if calls.is_empty() {
            return;
        }
        let tokens: Vec<&str> = calls.iter().map(|call| call.token.as_str()).collect();
        let read: Vec<Result<(MachineClient, CertificateRequest), topca_core::Error>> = registry
            .authenticate_each(&tokens)
            .into_iter()
            .zip(&calls)
            .map(|(client, call)| {
                let client = client?;
                let csr = CertificateRequest::parse(call.csr.as_bytes())?;
                Ok((client, csr))
            })
            .collect();
        drop(tokens);
        let requests: Vec<SingleRequest<'_>> = read
            .iter()
            .zip(&calls)
            .filter_map(|(read, call)| {
                let (client, csr) = read.as_ref().ok()?;
                Some(SingleRequest {
                    client,
                    csr,
                    profile: call.profile,
                })
            })
            .collect();
        let mut issued = crate::ocsp_cache::issuing(state, |clients| {
            clients.issue_group(&requests, &mut templates, threads)
        })
        .into_iter();
        drop(requests);
        for (call, read) in calls.into_iter().zip(read) {
            let result = read.and_then(|_| {
                issued
                    .next()
                    .unwrap_or_else(|| Err(PolicyError::PostIssuanceCheck.into()))
            });
            // A caller that went away (its connection closed) needs no answer;
            // its certificate is stored and audited all the same.
            let _ = call.answer.send(result);
        }
    }
}

/// Should a leader's loop unwind (a panic in the issuance), it is counted
/// out; if it was the last, the calls waiting are answered with an internal
/// error (their senders dropped) rather than left with no leader, and the
/// next call leads again.
struct Leading<'q>(&'q IssueQueue);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut waiting = self.0.lock();
            waiting.leaders = waiting.leaders.saturating_sub(1);
            if waiting.leaders == 0 {
                waiting.calls.clear();
            }
        }
    }
}
