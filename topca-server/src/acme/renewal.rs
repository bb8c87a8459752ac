//! ACME Renewal Information (ARI, RFC 9773): `GET /acme/renewal-info/{certID}`
//! suggests when to renew a certificate this CA issued: the last third of its
//! validity but its final sixth, or at once (a window already past) once it is
//! revoked or was issued before the operator's renewal cut-off. The certificate is found by the serial of the certID (the part
//! after the dot); the key identifier before it is not needed to find it.
//!
//! TopCA cannot replace its issuing CA in place (a CA is made or imported once,
//! before the first start), so there is no retired issuing key to detect.
//! Instead an operator who must have certificates replaced early (a key or
//! algorithm to move away from, a CA about to be swapped, a wrong profile)
//! sets a renewal cut-off with `topca-server acme renew-before`: every
//! certificate issued before it, on every node (the cut-off is a setting in
//! the store), is told to renew now, as a revoked one is.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde_json::json;
use topca_core::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ca::BACKDATE,
    format_rfc3339, format_utc,
    store::{AdminStore, AuditStore, CertificateStatus, CertificateStore},
};

use super::{AcmeProblem, Reply, answer, directory_url, jws::unb64};
use crate::{
    AppState,
    setup::{Options, SetupError, open_store},
};

/// The setting holding the renewal cut-off: seconds since the Unix epoch, or
/// empty for none.
pub const RENEW_BEFORE: &str = "acme_renew_before";

/// The audit target of a change of the cut-off.
const RENEW_BEFORE_TARGET: &str = "ACME renewal cut-off";

/// The cut-off stored in `value`, if one is set.
fn cutoff(value: Option<String>) -> Option<SystemTime> {
    let seconds: u64 = value?.trim().parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Whether a certificate whose notBefore is `not_before` was issued before
/// `cutoff` (notBefore is backdated by [`BACKDATE`]). Both are whole seconds:
/// one issued within the cut-off's second counts as before it (renewed once
/// more rather than missed).
fn issued_before(not_before: SystemTime, cutoff: SystemTime) -> bool {
    not_before + BACKDATE <= cutoff
}

/// `acme renew-before`: sets the renewal cut-off to `at` (`None` clears it),
/// audited as a setting change by the command line; the lines to print.
pub fn set_renew_before(
    options: &Options,
    at: Option<SystemTime>,
) -> Result<Vec<String>, SetupError> {
    let store = open_store(options)?;
    let (value, detail, line) = match at {
        Some(at) => {
            let seconds = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            let shown = format_utc(UNIX_EPOCH + Duration::from_secs(seconds));
            (
                seconds.to_string(),
                format!("certificates issued before {shown}"),
                format!(
                    "ACME renewal information now tells clients to renew every certificate issued before {shown}"
                ),
            )
        }
        None => (
            String::new(),
            "cleared".to_owned(),
            "ACME renewal cut-off cleared: renewal windows follow each certificate's validity"
                .to_owned(),
        ),
    };
    store
        .put_setting(RENEW_BEFORE, &value)
        .map_err(topca_core::Error::from)?;
    store
        .append_audit(AuditRecord {
            at: SystemTime::now(),
            actor: Actor::Admin("command line".to_owned()),
            action: AuditAction::SettingChanged,
            target: RENEW_BEFORE_TARGET.to_owned(),
            outcome: Outcome::Success,
            detail,
        })
        .map_err(topca_core::Error::from)?;
    Ok(vec![line])
}

/// How long a client should wait before asking again (seconds).
const RETRY_AFTER: u64 = 6 * 3600;

/// `GET /acme/renewal-info/{certID}`.
pub(super) async fn renewal_info(
    State(state): State<Arc<AppState>>,
    Path(cert_id): Path<String>,
) -> Response {
    let index = directory_url(&state, "");
    answer(state, index, move |s| {
        let (_, serial) = cert_id
            .split_once('.')
            .ok_or_else(|| AcmeProblem::malformed("a certID is keyIdentifier.serial"))?;
        let serial: String = unb64(serial, "the certID's serial")?
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let record = s
            .store
            .certificate(&serial)?
            .ok_or_else(|| AcmeProblem::not_found("certificate"))?;
        let renew_now = record.status == CertificateStatus::Revoked
            || cutoff(s.store.setting(RENEW_BEFORE)?)
                .is_some_and(|at| issued_before(record.not_before, at));
        let (start, end) = if renew_now {
            let now = s.ca.environment().clock().now();
            (
                now - Duration::from_secs(2 * 3600),
                now - Duration::from_secs(3600),
            )
        } else {
            let life = record
                .not_after
                .duration_since(record.not_before)
                .unwrap_or_default();
            (
                record.not_before + life / 3 * 2,
                record.not_before + life / 6 * 5,
            )
        };
        let mut reply = Reply::json(
            StatusCode::OK,
            json!({"suggestedWindow": {
                "start": format_rfc3339(start),
                "end": format_rfc3339(end),
            }}),
        );
        reply.retry_after = Some(RETRY_AFTER);
        Ok(reply)
    })
    .await
}
