//! New-order limits shared by every node: each new order is counted in the
//! store against its account and each of its identifiers, in fixed windows of
//! an hour ([`topca_core::store::AcmeStore::count_acme_order`]), so that two
//! servers on one database refuse the order past the limit alike. A refused
//! order counts for nothing.

use std::time::{Duration, UNIX_EPOCH};

use topca_core::store::{AcmeOrderLimit, AcmeStore};

use super::{AcmeProblem, OrderLimits};
use crate::AppState;

/// The length of a counting window.
pub(super) const WINDOW: Duration = Duration::from_secs(3600);

/// Counts a new order of `account` for `names` against `limits`, or says
/// until when (`rateLimited`, with the seconds to the next window) it may not.
pub(super) fn count_new_order(
    state: &AppState,
    limits: OrderLimits,
    account: &str,
    names: &[String],
) -> Result<(), AcmeProblem> {
    let since_epoch = state
        .ca
        .environment()
        .clock()
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let window_secs = WINDOW.as_secs();
    let window = i64::try_from(since_epoch / window_secs).unwrap_or(i64::MAX);
    let retry_after = window_secs - since_epoch % window_secs;
    let mut keys = Vec::with_capacity(names.len() + 1);
    keys.push(AcmeOrderLimit {
        key: format!("account:{account}"),
        limit: limits.per_account,
    });
    keys.extend(names.iter().map(|name| AcmeOrderLimit {
        key: format!("identifier:{name}"),
        limit: limits.per_identifier,
    }));
    match state.store.count_acme_order(&keys, window)? {
        None => Ok(()),
        Some(0) => Err(AcmeProblem::rate_limited(
            format!(
                "too many new orders for this account: {} an hour",
                limits.per_account
            ),
            retry_after,
        )),
        Some(index) => {
            let name = names.get(index - 1).map_or("an identifier", String::as_str);
            Err(AcmeProblem::rate_limited(
                format!(
                    "too many new orders for {name}: {} an hour, whichever account",
                    limits.per_identifier
                ),
                retry_after,
            ))
        }
    }
}
