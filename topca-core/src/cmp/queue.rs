//! EST enrollment that waits for an RA administrator (RFC 7030 §4.2.3): the
//! first request with a CSR registers a server application of the
//! credential's account and is answered "202, retry later"; the same CSR sent
//! again finds it, and gets the certificate once an administrator approved it.
//! The application is found again by a transaction whose ID is the SHA-256 of
//! the CSR, in the CMP transactions table.

use sha2::{Digest, Sha256};

use super::credential::{CmpTransaction, TransactionState};
use crate::{
    certificate::Certificate,
    csr::CertificateRequest,
    error::{Error, RaError, StoreError},
    lifecycle::RequestState,
    ra::{AccountId, RegistrationAuthority, RequestRef},
    secret::OneTimeCode,
    store::{CertificateStore, CmpStore, RequestStore},
};

/// Where an enrollment waiting for approval stands.
#[derive(Debug)]
pub enum Queued {
    /// Waiting for an administrator: the application's reference.
    Waiting(RequestRef),
    /// Approved: the certificate.
    Issued(Box<Certificate>),
    /// Rejected, with the reason given.
    Rejected(String),
}

/// The first call with `csr` registers a server application for `account`
/// through `ra` (the CSR must name an e-mail address: the RA mails the
/// holder), on behalf of the authenticated client `sender` (as the audit log
/// names it: a credential or a TLS client certificate); later calls with the
/// same CSR by the same sender tell where it stands.
pub fn enroll_after_approval<S: CmpStore + RequestStore + CertificateStore>(
    ra: &RegistrationAuthority<'_>,
    store: &S,
    account: AccountId,
    sender: &str,
    csr: &CertificateRequest,
    now: std::time::SystemTime,
    random: &dyn crate::random::RandomSource,
) -> Result<Queued, Error> {
    let id = Sha256::new_with_prefix(b"TopCA EST approval\0")
        .chain_update(csr.der())
        .finalize()
        .to_vec();
    if let Some(transaction) = store.cmp_transaction(&id)? {
        if transaction.sender != sender {
            return Err(RaError::WrongState("another credential's request").into());
        }
        let request = transaction
            .request
            .map(|r| store.request(r))
            .transpose()?
            .flatten()
            .ok_or(RaError::UnknownRequest)?;
        if let Some(serial) = &request.issued_serial {
            let record = store.certificate(serial)?.ok_or(StoreError::NotFound)?;
            return Ok(Queued::Issued(Box::new(Certificate::from_der(
                &record.der,
            )?)));
        }
        if request.state == RequestState::Rejected {
            return Ok(Queued::Rejected(request.reject_reason.unwrap_or_default()));
        }
        return Ok(Queued::Waiting(request.reference));
    }
    let email = csr
        .email()
        .map(str::to_owned)
        .ok_or_else(|| RaError::InvalidField {
            field: "CSR e-mail address",
            problem: "a request waiting for approval needs an emailAddress (the holder is mailed)"
                .to_owned(),
        })?;
    let password = OneTimeCode::generate(24, random)?.clear;
    let request = ra.apply_server(account, csr, &email, &password, true)?;
    store.start_cmp_transaction(&CmpTransaction {
        id,
        sender: sender.to_owned(),
        nonce: Vec::new(),
        serial: None,
        request: Some(request.id),
        state: TransactionState::Pending,
        started: now,
    })?;
    Ok(Queued::Waiting(request.reference))
}
