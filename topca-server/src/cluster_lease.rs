//! Named leases between the nodes of one database, so that a job runs on one
//! node at a time: publishing a CRL, rotating the OCSP responder.
//!
//! A lease is the setting `lease.<name>` holding `<token> <expiry>`: a random
//! token of the holder and the end of the lease in Unix seconds by the holder's
//! clock (the nodes' clocks are assumed to agree within seconds, as certificate
//! times already require). It is taken by compare and set, so of several nodes
//! taking it at once exactly one succeeds; it is given back when the job ends,
//! and a holder that crashed loses it when it lapses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use topca_core::{Error, OsRandom, RandomSource, store::AdminStore};

use crate::{AppError, AppState};

/// A lease this node holds (until [`Lease::release`] or its expiry).
#[derive(Debug)]
#[must_use = "a lease is given back with Lease::release"]
pub struct Lease {
    setting: String,
    token: String,
    value: String,
}

impl Lease {
    /// Takes the lease `name` in `store` at `now` for `period`, unless another
    /// node holds it unexpired (`None` then).
    pub fn take(
        store: &dyn AdminStore,
        now: SystemTime,
        name: &str,
        period: Duration,
    ) -> Result<Option<Self>, Error> {
        let setting = format!("lease.{name}");
        let now = unix_seconds(now);
        let mut token = [0u8; 16];
        OsRandom.fill(&mut token)?;
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        let value = format!("{token} {}", now.saturating_add(period.as_secs()));
        let held = store.claim_setting(&setting, &value)?;
        // Lapsed or given back: replaced only if nobody replaced it first.
        if held != value
            && (expiry(&held) > now || !store.replace_setting(&setting, &held, &value)?)
        {
            return Ok(None);
        }
        Ok(Some(Self {
            setting,
            token,
            value,
        }))
    }

    /// Gives the lease back at once, if this node still holds it (a holder that
    /// outlived its lease leaves alone the one who took it over).
    pub fn release(self, store: &dyn AdminStore) -> Result<(), Error> {
        store.replace_setting(&self.setting, &self.value, &format!("{} 0", self.token))?;
        Ok(())
    }
}

/// Runs `work` while holding the lease `name` (taken for `period`); `None`, and
/// `work` not run, when another node holds it.
pub fn with_lease<T>(
    state: &AppState,
    name: &str,
    period: Duration,
    work: impl FnOnce() -> Result<T, AppError>,
) -> Result<Option<T>, AppError> {
    let now = state.ca.environment().clock().now();
    let Some(lease) = Lease::take(&state.store, now, name, period)? else {
        return Ok(None);
    };
    let result = work();
    // If giving it back fails, the lease lapses at its expiry.
    if let Err(e) = lease.release(&state.store) {
        tracing::warn!(lease = name, error = %e, "cannot give a lease back; it lapses at its expiry");
    }
    result.map(Some)
}

/// The expiry of a stored lease value; a damaged value counts as lapsed.
fn expiry(value: &str) -> u64 {
    value
        .split_once(' ')
        .and_then(|(_, expiry)| expiry.parse().ok())
        .unwrap_or(0)
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
