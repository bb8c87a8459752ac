//! Revocation (RFC 8555 §7.6) of a certificate issued through ACME, signed
//! either by the account that ordered it (`kid`) or by the certificate's own
//! key (`jwk`). It is revoked and audited like any other, so the next CRL and
//! OCSP answers name it.

use std::sync::Arc;

use axum::{body::Bytes, extract::State, http::Uri, response::Response};
use serde_json::Value;
use topca_core::{
    Certificate,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    lifecycle::RevocationReason,
    observe,
    store::{AcmeStore, CertificateStatus, CertificateStore, Revocation},
};

use super::{AcmeProblem, Reply, Signer, client_name, jws::unb64, signed};
use crate::AppState;

/// `POST /acme/revoke-cert` with `{"certificate": base64url DER, "reason": n}`.
pub(super) async fn revoke(State(state): State<Arc<AppState>>, uri: Uri, body: Bytes) -> Response {
    signed(state, uri, body, |s, request| {
        let payload = request.json()?;
        let der = payload
            .get("certificate")
            .and_then(Value::as_str)
            .ok_or_else(|| AcmeProblem::malformed("the payload has no certificate"))?;
        let certificate = Certificate::from_der(&unb64(der, "certificate")?)
            .map_err(|_| AcmeProblem::malformed("the certificate is not DER X.509"))?;
        let reason = match payload.get("reason") {
            None => RevocationReason::Unspecified,
            Some(code) => code
                .as_u64()
                .and_then(|c| u8::try_from(c).ok())
                .and_then(RevocationReason::from_code)
                .filter(|r| RevocationReason::FOR_HOLDERS.contains(r))
                .ok_or_else(AcmeProblem::bad_revocation_reason)?,
        };
        let serial = certificate.serial_hex();
        let refused = || AcmeProblem::unauthorized("this certificate is not yours to revoke");
        let record = s.store.certificate(&serial)?.ok_or_else(refused)?;
        if record.der != certificate.der() {
            return Err(refused());
        }
        let order = s
            .store
            .acme_order_by_certificate(&serial)?
            .ok_or_else(refused)?;
        let account = s.store.acme_account(&order.account)?.ok_or_else(refused)?;
        let allowed = match &request.signer {
            Signer::Account(signer) => signer.id == account.id,
            Signer::Key(key) => certificate
                .public_key()
                .is_ok_and(|certified| certified == key.key),
        };
        if !allowed {
            return Err(refused());
        }
        if record.status == CertificateStatus::Revoked {
            return Err(AcmeProblem::already_revoked());
        }
        let now = s.ca.environment().clock().now();
        let audit = AuditRecord {
            at: now,
            actor: Actor::Client(client_name(&account.profile)),
            action: AuditAction::CertificateRevoked,
            target: serial.clone(),
            outcome: Outcome::Success,
            detail: format!("{} (ACME)", reason.label()),
        };
        let started = std::time::Instant::now();
        let revoked = s.store.revoke_certificate(
            &Revocation {
                serial,
                at: now,
                reason,
            },
            audit,
        );
        s.ca.environment()
            .observer()
            .revocation(observe::Outcome::of(&revoked), started.elapsed());
        match revoked {
            Ok(_) => {}
            Err(topca_core::StoreError::AlreadyRevoked(_)) => {
                return Err(AcmeProblem::already_revoked());
            }
            Err(e) => return Err(e.into()),
        }
        s.crl_changed();
        Ok(Reply::empty())
    })
    .await
}
