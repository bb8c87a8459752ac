//! CRLs across the nodes of one database. Every node serves the newest CRL
//! stored: it looks for a newer one at most every [`CRL_CHECK_SECS`] (by number,
//! without reading the CRL). One node at a time publishes, holding the lease
//! [`CRL_PUBLISHER`] (see [`crate::cluster_lease`]); a node that finds another
//! publishing waits for that CRL instead of making its own. Every
//! [`CRL_TICK_SECS`] each node looks for a revoked certificate (revoked on any
//! node) that the newest CRLs do not list and, if it finds one, publishes: a
//! revocation is in the CRL every node serves within [`CRL_TICK_SECS`] +
//! [`CRL_CHECK_SECS`] (plus the time to sign), under a minute. The node that
//! revoked serves a CRL made after the revocation at its next request.

use std::time::{Duration, Instant, SystemTime};

use topca_core::{
    crl::{self, Crl, CrlInfo},
    error::StoreError,
    store::{CertificateStore, CrlStore},
};

use crate::{AppError, AppState, cluster_lease::with_lease};

/// Seconds between two looks for revocations newer than the newest CRL.
pub const CRL_TICK_SECS: u64 = 15;
/// Seconds a node serves its copy of a CRL before asking for a newer stored one.
pub const CRL_CHECK_SECS: u64 = 5;
/// The lease held while publishing a CRL.
pub const CRL_PUBLISHER: &str = "crl_publisher";
/// How long the publisher's lease lasts unless given back (a crashed
/// publisher's lapses after this).
pub const CRL_PUBLISHER_PERIOD: Duration = Duration::from_secs(60);
/// How long a request waits for another node's CRL before serving the newest
/// stored one as it is.
const WAIT_FOR_PUBLISHER: Duration = Duration::from_secs(10);
/// Pause between two looks at the store while another node publishes.
const POLL: Duration = Duration::from_millis(200);
/// How far before the newest CRL a background look checks revocations (longer
/// than any revocation's transaction).
const REVOCATION_MARGIN: Duration = Duration::from_secs(60);

/// How long a full CRL is valid; a new one is made at the latest halfway through.
pub const CRL_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// How long a delta CRL is valid.
pub const DELTA_VALIDITY: Duration = Duration::from_secs(3600);

/// A full CRL or a delta CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlKind {
    /// Every revoked certificate.
    Full,
    /// What was revoked since the newest full CRL.
    Delta,
}

impl CrlKind {
    fn is_delta(self) -> bool {
        self == Self::Delta
    }

    fn validity(self) -> Duration {
        match self {
            Self::Full => CRL_VALIDITY,
            Self::Delta => DELTA_VALIDITY,
        }
    }
}

/// A node's copy of the newest CRL of one kind.
#[derive(Debug, Default)]
pub struct CachedCrl {
    crl: Option<Crl>,
    /// When the store was last asked for a newer one.
    checked: Option<Instant>,
    /// After a revocation on this node: the next CRL served is one made at or
    /// after this time (so it was made after the revocation was committed).
    made_after: Option<SystemTime>,
}

impl CachedCrl {
    /// After a revocation committed on this node by `now`: the next request
    /// serves a CRL made since (a newer stored one, or one it makes).
    pub fn forget(&mut self, now: SystemTime) {
        self.crl = None;
        self.made_after = Some(now);
    }
}

/// The full CRL this node serves now, without making one: its copy, else the
/// newest stored (for the metrics).
pub(crate) fn cached(state: &AppState) -> Option<Crl> {
    let copy = cache(state, CrlKind::Full)
        .lock()
        .ok()
        .and_then(|c| c.crl.clone());
    copy.or_else(|| {
        state
            .store
            .latest_crl(false)
            .ok()
            .flatten()
            .and_then(|record| Crl::from_record(record).ok())
    })
}

/// The CRL of `kind` to serve: this node's copy while `fresh` says it is (and no
/// newer one is stored), else a newer stored one that covers every revocation,
/// else a new one published under the lease.
pub(crate) fn serve(
    state: &AppState,
    kind: CrlKind,
    fresh: &dyn Fn(&Crl) -> bool,
) -> Result<Crl, AppError> {
    let mut cached = cache(state, kind)
        .lock()
        .map_err(|e| crate::AppError::internal_because("read the CRL", &e))?;
    let checked_lately = cached
        .checked
        .is_some_and(|t| t.elapsed() < Duration::from_secs(CRL_CHECK_SECS));
    if !checked_lately {
        cached.checked = Some(Instant::now());
        let newest = state.store.latest_crl_info(kind.is_delta()).map_err(db)?;
        if let (Some(mine), Some(newest)) = (&cached.crl, newest)
            && newest.number > mine.info.number
        {
            cached.crl = stored(state, kind)?;
        }
    }
    let made_after = cached.made_after;
    let fresh = |c: &Crl| fresh(c) && made_after.is_none_or(|t| c.info.this_update >= t);
    if let Some(crl) = cached.crl.as_ref().filter(|c| fresh(c)) {
        return Ok(crl.clone());
    }
    let crl = renew(state, kind, &fresh)?;
    if fresh(&crl) {
        cached.made_after = None;
    }
    cached.crl = Some(crl.clone());
    Ok(crl)
}

/// Publishes a CRL of `kind` made at or after `since` unless another node did
/// (a super administrator's "issue now", `topca-server ca crl`).
pub fn publish_since(state: &AppState, kind: CrlKind, since: SystemTime) -> Result<Crl, AppError> {
    let crl = renew(state, kind, &|c| c.info.this_update >= since)?;
    remember(state, kind, &crl)?;
    Ok(crl)
}

/// One background look: when a certificate revoked (on any node) is in neither
/// the newest full nor the newest delta CRL and this node gets the lease,
/// publishes the next CRL (a delta CRL when the CA publishes them and the
/// revocation came after the full CRL, else a full one) and serves it. Returns
/// whether it published; `false` also when another node holds the lease (it
/// publishes, or this node does at the next look).
pub fn tick(state: &AppState) -> Result<bool, AppError> {
    if missing_from_newest(state)?.is_none() {
        return Ok(false);
    }
    let published = with_lease(state, CRL_PUBLISHER, CRL_PUBLISHER_PERIOD, || {
        // Another node may have published between the look and the lease.
        missing_from_newest(state)?
            .map(|kind| publish(state, kind).map(|crl| (kind, crl)))
            .transpose()
    })?
    .flatten();
    let Some((kind, crl)) = published else {
        return Ok(false);
    };
    remember(state, kind, &crl)?;
    Ok(true)
}

/// A stored CRL that is `fresh` and covers every revocation, else a new one
/// published under the lease; while another node holds the lease, waits (up to
/// [`WAIT_FOR_PUBLISHER`]) for its CRL, then serves the newest stored one.
fn renew(state: &AppState, kind: CrlKind, fresh: &dyn Fn(&Crl) -> bool) -> Result<Crl, AppError> {
    let deadline = Instant::now() + WAIT_FOR_PUBLISHER;
    loop {
        let made = with_lease(
            state,
            CRL_PUBLISHER,
            CRL_PUBLISHER_PERIOD,
            || match usable_stored(state, kind, fresh)? {
                Some(crl) => Ok(crl),
                None => publish(state, kind),
            },
        )?;
        if let Some(crl) = made {
            return Ok(crl);
        }
        if let Some(crl) = usable_stored(state, kind, fresh)? {
            return Ok(crl);
        }
        if Instant::now() >= deadline {
            // The publisher is slow or gone (its lease lapses): the newest
            // stored CRL is signed and still valid until its nextUpdate.
            return stored(state, kind)?.ok_or_else(|| AppError::internal("make the CRL"));
        }
        std::thread::sleep(POLL);
    }
}

/// The newest stored CRL of `kind` if it is `fresh` and, for the kind that
/// follows revocations (the delta CRL when the CA publishes them, else the full
/// one), no certificate was revoked after it was made.
fn usable_stored(
    state: &AppState,
    kind: CrlKind,
    fresh: &dyn Fn(&Crl) -> bool,
) -> Result<Option<Crl>, AppError> {
    let Some(crl) = stored(state, kind)?.filter(|c| fresh(c)) else {
        return Ok(None);
    };
    let follows_revocations = kind.is_delta() || !state.publishes_deltas();
    if follows_revocations
        && state
            .store
            .revoked_since(crl.info.this_update)
            .map_err(db)?
    {
        return Ok(None);
    }
    Ok(Some(crl))
}

/// Issues and stores the next CRL of `kind`. When another node stored one with
/// the same number first (its lease lapsed while it signed), that one is taken.
fn publish(state: &AppState, kind: CrlKind) -> Result<Crl, AppError> {
    let made = match kind {
        CrlKind::Full => crl::publish(&state.ca, &state.store, kind.validity()),
        CrlKind::Delta => crl::publish_delta(&state.ca, &state.store, kind.validity()),
    };
    match made {
        Err(topca_core::Error::Store(StoreError::Conflict)) => {
            stored(state, kind)?.ok_or_else(|| AppError::internal("make the CRL"))
        }
        other => Ok(other?),
    }
}

/// The newest stored CRL of `kind`.
fn stored(state: &AppState, kind: CrlKind) -> Result<Option<Crl>, AppError> {
    Ok(state
        .store
        .latest_crl(kind.is_delta())
        .map_err(db)?
        .map(Crl::from_record)
        .transpose()?)
}

/// Which CRL to publish because a certificate revoked lately is listed in
/// neither the newest full nor the newest delta CRL; `None` when every one is
/// (or no CRL was published yet: the first request makes one). Revocations from
/// [`REVOCATION_MARGIN`] before the newest CRL on are looked at: a revocation is
/// dated before its transaction commits, so a CRL made meanwhile can miss one
/// dated before it.
fn missing_from_newest(state: &AppState) -> Result<Option<CrlKind>, AppError> {
    let (full, delta) = (
        state.store.latest_crl_info(false).map_err(db)?,
        state.store.latest_crl_info(true).map_err(db)?,
    );
    let Some(newest) = [full, delta].iter().flatten().map(|c| c.this_update).max() else {
        return Ok(None);
    };
    let since = newest.checked_sub(REVOCATION_MARGIN).unwrap_or(newest);
    let mut lately = Vec::new();
    state
        .store
        .for_each_revoked(Some(since), &mut |r| {
            lately.push((r.serial.clone(), r.at));
            Ok(())
        })
        .map_err(db)?;
    if lately.is_empty() {
        return Ok(None);
    }
    let serials: Vec<&str> = lately.iter().map(|(s, _)| s.as_str()).collect();
    let listed_in = |kind: CrlKind| -> Result<Vec<bool>, AppError> {
        match stored(state, kind)? {
            Some(crl) => Ok(crl.lists(&serials)?),
            None => Ok(vec![false; serials.len()]),
        }
    };
    let in_full = listed_in(CrlKind::Full)?;
    // A delta CRL counts only over the newest full CRL.
    let delta_current = delta.is_some_and(|d| full.is_some_and(|f| d.delta_base == Some(f.number)));
    let in_delta = if delta_current {
        listed_in(CrlKind::Delta)?
    } else {
        vec![false; serials.len()]
    };
    let missing: Vec<SystemTime> = lately
        .iter()
        .zip(in_full.iter().zip(&in_delta))
        .filter(|(_, (full, delta))| !**full && !**delta)
        .map(|((_, at), _)| *at)
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    // A delta CRL lists what was revoked since its base was made.
    let delta_covers = |f: CrlInfo| missing.iter().all(|at| *at >= f.this_update);
    Ok(Some(match full {
        Some(f) if state.publishes_deltas() && delta_covers(f) => CrlKind::Delta,
        _ => CrlKind::Full,
    }))
}

/// Makes `crl` this node's copy of its kind.
fn remember(state: &AppState, kind: CrlKind, crl: &Crl) -> Result<(), AppError> {
    let mut cached = cache(state, kind)
        .lock()
        .map_err(|e| crate::AppError::internal_because("keep the CRL", &e))?;
    cached.crl = Some(crl.clone());
    cached.checked = Some(Instant::now());
    Ok(())
}

fn cache(state: &AppState, kind: CrlKind) -> &std::sync::Mutex<CachedCrl> {
    match kind {
        CrlKind::Full => &state.crl,
        CrlKind::Delta => &state.delta_crl,
    }
}

fn db(e: StoreError) -> AppError {
    topca_core::Error::from(e).into()
}
