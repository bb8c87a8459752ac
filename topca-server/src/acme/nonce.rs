//! Replay nonces (RFC 8555 §6.5): 128 random bits kept in the store for an
//! hour, spent by deleting them, so each is good once on whichever node.

use std::time::Duration;

use topca_core::store::AcmeStore;

use super::{AcmeProblem, random_id};
use crate::AppState;

/// How long an unspent nonce stays good.
const LIFETIME: Duration = Duration::from_secs(3600);

/// A new nonce, stored.
pub(super) fn fresh(state: &AppState) -> Result<String, AcmeProblem> {
    let nonce = random_id(state)?;
    let expires = state.ca.environment().clock().now() + LIFETIME;
    state.store.put_acme_nonce(&nonce, expires)?;
    Ok(nonce)
}

/// Spends `nonce`: whether it was good.
pub(super) fn take(state: &AppState, nonce: &str) -> Result<bool, AcmeProblem> {
    if nonce.is_empty() || nonce.len() > 64 {
        return Ok(false);
    }
    let now = state.ca.environment().clock().now();
    Ok(state.store.take_acme_nonce(nonce, now)?)
}
