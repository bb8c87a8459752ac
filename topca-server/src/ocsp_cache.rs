//! Pre-signed OCSP (RFC 5019, the lightweight profile), as large public CAs
//! answer: a request about one certificate without a nonce is answered with a
//! response signed ahead of time, without signing.
//!
//! - Every node keeps responses in memory ([`OcspCache`], bounded by
//!   [`MEMORY_CAPACITY`]); every response is also in the store (table
//!   `ocsp_responses`), so another node serves it without signing.
//! - A miss (a certificate just issued, or pushed out of memory) reads the store,
//!   else signs, stores and keeps the response: never an error.
//! - One node at a time (the lease [`PRESIGNER`]) signs, at every background
//!   tick, responses missing for unexpired certificates and renews those past
//!   half their validity ([`OCSP_VALIDITY`]), at most [`PER_TICK`] per round on
//!   every core, rounds repeated for up to [`TICK_BUDGET`]. Missing responses
//!   are looked for in notBefore order from a cursor (an index range; see
//!   [`STRAGGLERS`]), and among every certificate each [`FULL_SWEEP`];
//!   renewals through an index on nextUpdate.
//! - A revocation is answered at once on the node that revoked (it signs anew
//!   after the revocation committed); the other nodes read the responses stored
//!   since their last tick, and the lease holder signs anew any revocation whose
//!   stored response still says good (the revoking node crashed).
//! - A request with a nonce, or about several certificates, or naming one by
//!   another hash than SHA-1, is signed when asked, the nonce echoed.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

use topca_core::{
    client::Clients,
    error::StoreError,
    ocsp::{CachedResponse, OcspCache, OcspResponder, Presigned},
    store::{CertificateStore, OcspStore},
};

use topca_store::DieselStore;

use crate::{AppError, AppState, cluster_lease::with_lease};

/// How long a response stays fresh (its nextUpdate); renewed from half of it.
pub const OCSP_VALIDITY: Duration = Duration::from_secs(3600);
/// The most responses a node keeps in memory. A P-256 CA's response with its
/// responder certificate is about 820 bytes of DER, about 1.1 KB kept (the DER,
/// its ETag, the serial and the map's slot): 25,000 are about 28 MB; a miss is
/// read from the store, still without signing.
pub const MEMORY_CAPACITY: usize = 25_000;
/// The most responses one round of the background job signs.
pub const PER_TICK: usize = 2048;
/// How long the background job keeps signing rounds when behind.
const TICK_BUDGET: Duration = Duration::from_secs(10);
/// The lease held while pre-signing.
pub const PRESIGNER: &str = "ocsp_presigner";
/// How long the pre-signer's lease lasts unless given back.
const PRESIGNER_PERIOD: Duration = Duration::from_secs(60);
/// How far back a look at revocations or stored responses reaches before the
/// previous one (longer than any transaction, and the nodes' clock skew).
const MARGIN: Duration = Duration::from_secs(60);
/// The most stored "revoked" responses read in one look for other nodes' work.
const PULL_LIMIT: usize = 10_000;
/// How long responses of expired certificates stay stored past their nextUpdate.
const KEEP_EXPIRED: Duration = Duration::from_secs(24 * 3600);
/// How often the pre-signer looks at every unexpired certificate again instead
/// of those issued since its last look. A certificate stored with an older
/// notBefore (a node whose clock lagged by more than [`STRAGGLERS`]) is found
/// then, and is signed when asked meanwhile.
const FULL_SWEEP: Duration = Duration::from_secs(3600);

/// How far back of the newest certificate a look for missing responses starts
/// again: longer than a certificate takes from its notBefore being written to
/// being stored, and than the nodes' clocks differ. A certificate stored later
/// still is found at the next [`FULL_SWEEP`], and signed when asked meanwhile.
const STRAGGLERS: Duration = Duration::from_secs(10);

/// How far this node's pre-signer has looked at the certificates.
#[derive(Debug, Clone, Copy)]
struct Looked {
    /// Every certificate with an earlier notBefore was looked at.
    from: SystemTime,
    /// When the look from the start began.
    swept: SystemTime,
}

/// A node's pre-signed responses and how far it followed the store.
#[derive(Debug)]
pub struct PresignedOcsp {
    /// The responses kept in memory.
    pub cache: OcspCache,
    /// Until when (thisUpdate) the stored responses were read.
    pulled: Mutex<Option<SystemTime>>,
    /// Until when revocations were checked for a revoked response.
    revocations: Mutex<Option<SystemTime>>,
    /// How far the certificates were looked at for missing responses.
    looked: Mutex<Option<Looked>>,
}

impl Default for PresignedOcsp {
    fn default() -> Self {
        Self {
            cache: OcspCache::new(MEMORY_CAPACITY),
            pulled: Mutex::default(),
            revocations: Mutex::default(),
            looked: Mutex::default(),
        }
    }
}

/// An OCSP answer: the DER, and the pre-signed response when it is one.
#[derive(Debug)]
pub struct Answer {
    /// The DER OCSPResponse.
    pub der: Arc<[u8]>,
    /// The pre-signed response served, for the HTTP caching headers.
    pub presigned: Option<Arc<CachedResponse>>,
}

/// The answer to one DER OCSP request if this node keeps a valid pre-signed
/// response for it in memory: no database, no signing, so it runs on the
/// caller's thread. `None` for anything else (and while the responder
/// certificate is due for replacement), which [`answer`] handles.
pub fn from_memory(state: &AppState, request: &[u8]) -> Option<Answer> {
    let started = Instant::now();
    let now = state.ca.environment().clock().now();
    let signer = state.ocsp.read().ok()?;
    if signer.due_for_rotation(now) {
        return None;
    }
    let responder = OcspResponder::new(&state.ca, &signer, &state.store, OCSP_VALIDITY);
    let serial = responder.presigned_serial(request)?;
    let kept = state.ocsp_presigned.cache.valid(&serial, now)?;
    state.metrics.ocsp_source(true);
    state
        .metrics
        .ocsp(topca_core::observe::Outcome::Done, started.elapsed());
    Some(Answer {
        der: Arc::clone(&kept.der),
        presigned: Some(kept),
    })
}

/// Answers one DER OCSP request: pre-signed when it can be, else signed now.
/// Replaces the responder certificate when due.
pub fn answer(state: &AppState, request: &[u8]) -> Result<Answer, AppError> {
    crate::ocsp_responder::rotate_if_due(state)?;
    let signer = state
        .ocsp
        .read()
        .map_err(|e| AppError::internal_because("answer OCSP", &e))?;
    let started = Instant::now();
    let responder = OcspResponder::new(&state.ca, &signer, &state.store, OCSP_VALIDITY);
    let presigned = responder
        .presigned_serial(request)
        .and_then(|serial| presigned(state, &responder, &serial));
    let answer = match presigned {
        Some((response, signed)) => {
            state.metrics.ocsp_source(!signed);
            Answer {
                der: Arc::clone(&response.der),
                presigned: Some(response),
            }
        }
        None => {
            state.metrics.ocsp_source(false);
            Answer {
                der: Arc::from(responder.respond(request)),
                presigned: None,
            }
        }
    };
    state
        .metrics
        .ocsp(topca_core::observe::Outcome::Done, started.elapsed());
    Ok(answer)
}

/// The pre-signed response for `serial` (and whether it was signed now): kept
/// in memory, else stored, else signed, stored and kept. `None` when `serial`
/// is no stored certificate or signing failed (the caller signs an answer).
fn presigned(
    state: &AppState,
    responder: &OcspResponder<'_>,
    serial: &str,
) -> Option<(Arc<CachedResponse>, bool)> {
    let cache = &state.ocsp_presigned.cache;
    let now = state.ca.environment().clock().now();
    if let Some(kept) = cache.valid(serial, now) {
        return Some((kept, false));
    }
    match state.store.ocsp_response(serial) {
        Ok(Some(stored)) if now < stored.next_update => {
            return cache.put(stored).map(|kept| (kept, false));
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read a stored OCSP response; signing"),
    }
    let signed = match responder.presign(serial) {
        Ok(signed) => signed?,
        Err(e) => {
            tracing::warn!(error = %e, "cannot pre-sign an OCSP response; answering directly");
            return None;
        }
    };
    if let Err(e) = state
        .store
        .put_ocsp_responses(std::slice::from_ref(&signed))
    {
        tracing::warn!(error = %e, "cannot store an OCSP response; other nodes sign their own");
    }
    cache.put(signed).map(|kept| (kept, true))
}

/// Runs `issue` with machine-client issuance that signs each new
/// certificate's OCSP response along with it ([`Clients::presigning_ocsp`]),
/// or without while the responder certificate is due for replacement (the
/// background job signs those responses then).
pub fn issuing<R>(state: &AppState, issue: impl FnOnce(&Clients<'_, DieselStore>) -> R) -> R {
    let clients = Clients::new(&state.ca, &state.store);
    let now = state.ca.environment().clock().now();
    match state.ocsp.read() {
        Ok(signer) if !signer.due_for_rotation(now) => {
            let responder = OcspResponder::new(&state.ca, &signer, &state.store, OCSP_VALIDITY);
            issue(&clients.presigning_ocsp(&responder, &state.ocsp_presigned.cache))
        }
        _ => issue(&clients),
    }
}

/// After a revocation committed on this node: the responses of the
/// certificates revoked lately are signed anew at once, so this node answers
/// "revoked" from now on (and the other nodes after their next tick).
/// Failures are logged: the next tick retries.
pub fn after_revocation(state: &AppState) {
    let now = state.ca.environment().clock().now();
    if let Err(e) = resign_revoked(state, now.checked_sub(MARGIN).unwrap_or(now)) {
        tracing::error!(
            error = e.detail.as_deref().unwrap_or(&e.message),
            "cannot sign the OCSP responses of a revocation; the next tick retries"
        );
    }
}

/// One background round: takes in the revocations other nodes answered since
/// the last round (for the serials kept in memory), then, holding [`PRESIGNER`],
/// signs anew revocations still answered good, signs the responses missing or
/// due, and drops the stored responses of certificates long expired. Returns how
/// many responses it signed (0 also when another node holds the lease).
pub fn tick(state: &AppState) -> Result<usize, AppError> {
    let now = state.ca.environment().clock().now();
    pull(state, now)?;
    let signed = with_lease(state, PRESIGNER, PRESIGNER_PERIOD, || {
        let since = {
            let mut checked = state
                .ocsp_presigned
                .revocations
                .lock()
                .map_err(|e| AppError::internal_because("check revocations", &e))?;
            let since = checked.unwrap_or(now.checked_sub(OCSP_VALIDITY).unwrap_or(now));
            *checked = Some(now);
            since.checked_sub(MARGIN).unwrap_or(since)
        };
        let mut signed = resign_revoked(state, since)?;
        let mut looked = match *looked_so_far(state)? {
            Some(l) if now < l.swept + FULL_SWEEP => l,
            _ => Looked {
                from: SystemTime::UNIX_EPOCH,
                swept: now,
            },
        };
        let newest = state.store.newest_not_before().map_err(db)?;
        let started = Instant::now();
        loop {
            let (round, caught_up) = presign_due(state, &mut looked, newest)?;
            signed += round;
            if caught_up || started.elapsed() >= TICK_BUDGET {
                break;
            }
        }
        *looked_so_far(state)? = Some(looked);
        state
            .store
            .prune_ocsp_responses(now.checked_sub(KEEP_EXPIRED).unwrap_or(now))
            .map_err(db)?;
        Ok(signed)
    })?;
    Ok(signed.unwrap_or(0))
}

/// Takes in the "revoked" responses other nodes stored since the last look, for
/// the serials this node keeps (renewed responses are read from the store when
/// the kept one expires).
fn pull(state: &AppState, now: SystemTime) -> Result<(), AppError> {
    let mut pulled = state
        .ocsp_presigned
        .pulled
        .lock()
        .map_err(|e| AppError::internal_because("read stored OCSP responses", &e))?;
    let since = pulled.unwrap_or(now);
    let since = since.checked_sub(MARGIN).unwrap_or(since);
    let stored = state
        .store
        .revoked_ocsp_responses_since(since, PULL_LIMIT)
        .map_err(db)?;
    // A full page: the next look goes on from its newest.
    *pulled = Some(match stored.last() {
        Some(last) if stored.len() == PULL_LIMIT => last.this_update + MARGIN,
        _ => now,
    });
    let cache = &state.ocsp_presigned.cache;
    for response in stored {
        if cache.contains(&response.serial) {
            cache.put(response);
        }
    }
    Ok(())
}

/// Signs anew the certificates revoked at or after `since` whose stored
/// response is not "revoked"; how many.
fn resign_revoked(state: &AppState, since: SystemTime) -> Result<usize, AppError> {
    let mut serials = Vec::new();
    state
        .store
        .for_each_revoked(Some(since), &mut |r| {
            serials.push(r.serial.clone());
            Ok(())
        })
        .map_err(db)?;
    let cache = &state.ocsp_presigned.cache;
    let mut stale = Vec::new();
    for serial in serials {
        match state.store.ocsp_response(&serial).map_err(db)? {
            // Another node signed it anew already.
            Some(stored) if stored.revoked => {
                if cache.contains(&serial) {
                    cache.put(stored);
                }
            }
            _ => stale.push(serial),
        }
    }
    sign_and_keep(state, &stale)
}

/// How far this node's pre-signer has looked, locked.
fn looked_so_far(state: &AppState) -> Result<MutexGuard<'_, Option<Looked>>, AppError> {
    state
        .ocsp_presigned
        .looked
        .lock()
        .map_err(|e| AppError::internal_because("pre-sign OCSP responses", &e))
}

/// One round: signs the responses missing for certificates issued from
/// `looked.from` on (oldest first) and then those due for renewal, at most
/// [`PER_TICK`], moving `looked.from` on; how many, and whether nothing was
/// left (then `looked.from` goes to `newest`, the newest notBefore stored
/// when the tick began, less [`STRAGGLERS`]).
fn presign_due(
    state: &AppState,
    looked: &mut Looked,
    newest: Option<SystemTime>,
) -> Result<(usize, bool), AppError> {
    let now = state.ca.environment().clock().now();
    let missing = state
        .store
        .certificates_missing_ocsp(looked.from, now, PER_TICK)
        .map_err(db)?;
    let room = PER_TICK.saturating_sub(missing.len());
    let due = if room > 0 {
        state
            .store
            .ocsp_responses_due(now, now + OCSP_VALIDITY / 2, room)
            .map_err(db)?
    } else {
        Vec::new()
    };
    let caught_up = missing.len() < PER_TICK && due.len() < room;
    // Everything older than the cursor was found by this round or an earlier
    // one, but for certificates still on their way to the store.
    let cursor = if caught_up {
        newest
    } else {
        missing.last().map(|(_, at)| *at)
    };
    if let Some(at) = cursor {
        looked.from = looked
            .from
            .max(at.checked_sub(STRAGGLERS).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    let serials: Vec<String> = missing
        .into_iter()
        .map(|(serial, _)| serial)
        .chain(due)
        .collect();
    Ok((sign_and_keep(state, &serials)?, caught_up))
}

/// Signs the responses of `serials` on every core, stores them and keeps them
/// in memory; how many.
fn sign_and_keep(state: &AppState, serials: &[String]) -> Result<usize, AppError> {
    if serials.is_empty() {
        return Ok(0);
    }
    let signer = state
        .ocsp
        .read()
        .map_err(|e| AppError::internal_because("pre-sign OCSP responses", &e))?;
    let responder = OcspResponder::new(&state.ca, &signer, &state.store, OCSP_VALIDITY);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = serials.len().div_ceil(cores).max(1);
    let signed: Vec<Presigned> = std::thread::scope(|scope| {
        let workers: Vec<_> = serials
            .chunks(chunk)
            .map(|part| {
                let responder = &responder;
                scope.spawn(move || {
                    part.iter()
                        .map(|serial| responder.presign(serial))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| AppError::internal("pre-sign OCSP responses"))?
                    .map_err(AppError::from)
            })
            .collect::<Result<Vec<_>, AppError>>()
    })?
    .into_iter()
    .flatten()
    .flatten()
    .collect();
    state.store.put_ocsp_responses(&signed).map_err(db)?;
    let count = signed.len();
    for response in signed {
        state.ocsp_presigned.cache.put(response);
    }
    Ok(count)
}

fn db(e: StoreError) -> AppError {
    topca_core::Error::from(e).into()
}
