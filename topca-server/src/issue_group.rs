//! Group commit for single machine-client calls (`POST /api/v1/certificates`).
//!
//! Each call is authenticated and its CSR verified on its own; then it joins
//! a queue. The first call to find no one issuing becomes the leader: on the
//! blocking pool it takes every call waiting (up to [`MAX_GROUP`]) and issues
//! them together through [`Clients::issue_group`] (one reservation
//! transaction, committed before any signature, and one storing transaction
//! for the lot), hands each caller its own result, and goes on with the calls
//! that arrived meanwhile until the queue is empty. No call waits for others
//! to arrive: alone, a call is issued at once; under load, the calls that
//! queue while a group is issued form the next group, so the number of SQLite
//! write transactions per certificate falls as the load grows instead of the
//! writers queueing on the database's lock one certificate at a time.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use topca_core::{
    Certificate, CertificateRequest, ProfileKind,
    client::{Clients, MachineClient, SingleRequest, Templates},
};

use crate::{AppError, AppState};

/// The most calls issued in one group.
pub const MAX_GROUP: usize = 64;

/// The calls waiting to be issued, and whether a leader is issuing.
#[derive(Default)]
pub struct IssueQueue {
    inner: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    calls: Vec<Call>,
    leading: bool,
}

/// One waiting call and where its answer goes.
struct Call {
    client: MachineClient,
    csr: CertificateRequest,
    profile: Option<ProfileKind>,
    answer: oneshot::Sender<Result<Certificate, topca_core::Error>>,
}

impl IssueQueue {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Issues `csr` for `client` under `profile` (its default when `None`) with
/// the calls waiting at the same time: see the module documentation.
pub async fn issue(
    state: &Arc<AppState>,
    client: MachineClient,
    csr: CertificateRequest,
    profile: Option<ProfileKind>,
) -> Result<Certificate, AppError> {
    let (answer, answered) = oneshot::channel();
    let lead = {
        let mut waiting = state.issue_queue.lock();
        waiting.calls.push(Call {
            client,
            csr,
            profile,
            answer,
        });
        !std::mem::replace(&mut waiting.leading, true)
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

/// The leader's loop: issues groups until no call waits.
fn lead_groups(state: &AppState) {
    let _guard = Leading(&state.issue_queue);
    let clients = Clients::new(&state.ca, &state.store);
    let mut templates = Templates::new(&state.ca);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    loop {
        let calls: Vec<Call> = {
            let mut waiting = state.issue_queue.lock();
            if waiting.calls.is_empty() {
                waiting.leading = false;
                return;
            }
            let take = waiting.calls.len().min(MAX_GROUP);
            waiting.calls.drain(..take).collect()
        };
        let requests: Vec<SingleRequest<'_>> = calls
            .iter()
            .map(|call| SingleRequest {
                client: &call.client,
                csr: &call.csr,
                profile: call.profile,
            })
            .collect();
        let results = clients.issue_group(&requests, &mut templates, threads);
        drop(requests);
        for (call, result) in calls.into_iter().zip(results) {
            // A caller that went away (its connection closed) needs no answer;
            // its certificate is stored and audited all the same.
            let _ = call.answer.send(result);
        }
    }
}

/// Should a leader's loop unwind (a panic in the issuance), its queue is
/// released rather than left with no leader: the calls it holds and those
/// waiting are answered with an internal error (their senders dropped), and
/// the next call leads again.
struct Leading<'q>(&'q IssueQueue);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut waiting = self.0.lock();
            waiting.calls.clear();
            waiting.leading = false;
        }
    }
}
