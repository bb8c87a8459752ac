//! Issuance that is recorded before it is signed: prepare the TBSCertificate,
//! reserve its serial with the TBS hash in the store, sign, and store the
//! certificate with its audit entry (see [`crate::store::IssuanceStore`]).
//!
//! Requests go through the RA, which stores the certificate with the request
//! change; [`issue_unattached`] stores a certificate tied to no request (an OCSP
//! responder's, the server's own TLS certificate).

use sha2::{Digest, Sha256};

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ca::{CertificateAuthority, IssueRequest},
    certificate::Certificate,
    error::Error,
    lifecycle::CertificateUsage,
    observe,
    profile::Profile,
    ra::{AccountId, RequestId},
    store::{CertificateRecord, CertificateStatus, IssuanceStore, Reservation},
};

/// Who an issuance is for, recorded with its reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// Who asked.
    pub actor: Actor,
    /// The account, if any.
    pub account: Option<AccountId>,
    /// The request, if any.
    pub request: Option<RequestId>,
}

/// Prepares `request` under `profile`, reserves its serial with the SHA-256 of
/// its TBSCertificate for `requester`, then signs. The caller stores the
/// certificate (which closes the reservation); if it never does, the
/// reservation stays open for the operator to see.
pub fn sign_recorded(
    ca: &CertificateAuthority,
    store: &dyn IssuanceStore,
    request: IssueRequest,
    profile: &Profile,
    requester: &Requester,
) -> Result<Certificate, Error> {
    let started = std::time::Instant::now();
    let signed = sign_recorded_unobserved(ca, store, request, profile, requester);
    ca.environment()
        .observer()
        .issuance(observe::Outcome::of(&signed), started.elapsed());
    signed
}

/// [`sign_recorded`] without telling the observer.
fn sign_recorded_unobserved(
    ca: &CertificateAuthority,
    store: &dyn IssuanceStore,
    request: IssueRequest,
    profile: &Profile,
    requester: &Requester,
) -> Result<Certificate, Error> {
    let prepared = ca.prepare(request, profile)?;
    store.reserve_issuance(&Reservation {
        serial: prepared.serial_hex(),
        tbs_sha256: Sha256::digest(prepared.tbs_der()).into(),
        profile: profile.kind(),
        requester: requester.actor.clone(),
        account: requester.account,
        request: requester.request,
        reserved_at: ca.environment().clock().now(),
        issued: false,
    })?;
    prepared.issue()
}

/// Issues a certificate tied to no account or request: recorded before it is
/// signed, then stored with a `CertificateIssued` audit entry by `actor` whose
/// detail is `detail`, in one transaction.
pub fn issue_unattached(
    ca: &CertificateAuthority,
    store: &dyn IssuanceStore,
    request: IssueRequest,
    profile: &Profile,
    usage: CertificateUsage,
    (actor, detail): (Actor, String),
) -> Result<Certificate, Error> {
    let requester = Requester {
        actor: actor.clone(),
        account: None,
        request: None,
    };
    let certificate = sign_recorded(ca, store, request, profile, &requester)?;
    let name = certificate.subject().common_name.unwrap_or_default();
    let record = CertificateRecord {
        serial: certificate.serial_hex(),
        account: None,
        request: None,
        holder_name: name,
        email: String::new(),
        subject: certificate.subject_text(),
        issuer: certificate.issuer_text(),
        usage,
        not_before: certificate.not_before(),
        not_after: certificate.not_after(),
        status: CertificateStatus::Valid,
        revocation: None,
        der: certificate.der().to_vec(),
    };
    store.store_certificate(
        record,
        AuditRecord {
            at: ca.environment().clock().now(),
            actor,
            action: AuditAction::CertificateIssued,
            target: certificate.serial_hex(),
            outcome: Outcome::Success,
            detail,
        },
    )?;
    Ok(certificate)
}
