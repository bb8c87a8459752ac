//! ACME Renewal Information (ARI, RFC 9773): `GET /acme/renewal-info/{certID}`
//! suggests when to renew a certificate this CA issued: the last third of its
//! validity but its final sixth, or at once (a window already past) once it is
//! revoked. The certificate is found by the serial of the certID (the part
//! after the dot); the key identifier before it is not needed to find it.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde_json::json;
use topca_core::{
    format_rfc3339,
    store::{CertificateStatus, CertificateStore},
};

use super::{AcmeProblem, Reply, answer, directory_url, jws::unb64};
use crate::AppState;

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
        let (start, end) = if record.status == CertificateStatus::Revoked {
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
