//! Requests that wait for an RA administrator (RFC 9483 §4.4): a p10cr sent to
//! `/.well-known/cmp/p/approval` becomes a server application of the sender's
//! account (an account with administrator approval), answered "waiting"; the
//! client polls (pollReq/pollRep) until an administrator approves it, then
//! gets the certificate and confirms it as usual.

use der::asn1::Int;

use super::{
    Failure, FailureInfo,
    credential::TransactionState,
    message::{self, Protect, Reply, tag},
    responder::{Incoming, Responder},
};
use crate::{
    certificate::Certificate,
    csr::CertificateRequest,
    lifecycle::RequestState,
    ra::RegistrationAuthority,
    secret::OneTimeCode,
    store::{AccountStore, CertificateStore, CmpStore, IssuanceStore, RequestStore},
};

/// Seconds a client waits between polls.
const POLL_SECONDS: u8 = 1;

/// The certReqId of a p10cr (RFC 9483 §4.1.4).
pub(super) fn p10_id() -> Result<Int, Failure> {
    Int::new(&[0xFF]).map_err(|_| Failure::new(FailureInfo::SystemFailure, "encoding failed"))
}

impl<S> Responder<'_, S>
where
    S: CmpStore + IssuanceStore + AccountStore + CertificateStore + RequestStore,
{
    /// p10cr (4) on the approval path: registers a server application for the
    /// sender's account (the RA mails the CSR's e-mail address as for any
    /// application) and answers "waiting".
    pub(super) fn apply_for_approval(
        &self,
        ra: &RegistrationAuthority<'_>,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
    ) -> Result<Vec<u8>, Failure> {
        let account = incoming.sender.account().ok_or_else(|| {
            Failure::new(
                FailureInfo::NotAuthorized,
                "the signer's certificate belongs to no account",
            )
        })?;
        let csr = CertificateRequest::from_der(incoming.body).map_err(|e| {
            Failure::new(
                FailureInfo::BadPop,
                format!("the PKCS#10 request is refused: {e}"),
            )
        })?;
        let email = csr.email().map(str::to_owned).ok_or_else(|| {
            Failure::new(
                FailureInfo::BadCertTemplate,
                "a request waiting for approval needs an e-mail address in the CSR (emailAddress)",
            )
        })?;
        let mut transaction = self.begin(incoming, reply, TransactionState::Open)?;
        // The application's user password (it protects revocation on the web);
        // never shown: a CMP client revokes with rr.
        let password = OneTimeCode::generate(24, self.ca.environment().random())
            .map_err(crate::Error::from)?
            .clear;
        let request = ra.apply_server(account, &csr, &email, &password, true)?;
        transaction.request = Some(request.id);
        transaction.state = TransactionState::Pending;
        self.store.update_cmp_transaction(&transaction)?;
        Ok(message::waiting_rep(&p10_id()?))
    }

    /// pollReq (25): the certificate once an administrator approved the
    /// request, a refusal once one rejected it, else pollRep.
    pub(super) fn poll(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
        protect: &Protect,
    ) -> Result<Vec<u8>, Failure> {
        let nothing = || {
            Failure::new(
                FailureInfo::BadRequest,
                "no request of this transaction waits: nothing to poll",
            )
        };
        let mut transaction = self
            .store
            .cmp_transaction(&reply.transaction_id)?
            .ok_or_else(nothing)?;
        if transaction.sender != incoming.sender.name() {
            return Err(Failure::new(
                FailureInfo::NotAuthorized,
                "another sender's transaction",
            ));
        }
        if transaction.state != TransactionState::Pending {
            return Err(nothing());
        }
        let nonce = incoming.header.recip_nonce.as_ref().map(|n| n.as_bytes());
        if nonce != Some(transaction.nonce.as_slice()) {
            return Err(Failure::new(
                FailureInfo::BadRecipientNonce,
                "the recipNonce is not the senderNonce of the last answer",
            ));
        }
        let request = transaction
            .request
            .map(|id| self.store.request(id))
            .transpose()?
            .flatten()
            .ok_or_else(nothing)?;
        transaction.nonce = reply.sender_nonce.clone();
        let id = p10_id()?;
        if let Some(serial) = request.issued_serial.clone() {
            let record = self.store.certificate(&serial)?.ok_or_else(|| {
                Failure::new(FailureInfo::SystemFailure, "the certificate is gone")
            })?;
            let certificate = Certificate::from_der(&record.der).map_err(|_| {
                Failure::new(FailureInfo::SystemFailure, "the certificate is damaged")
            })?;
            transaction.serial = Some(serial);
            transaction.state = TransactionState::Waiting;
            self.store.update_cmp_transaction(&transaction)?;
            return Ok(message::cert_rep(
                tag::CP,
                &id,
                &certificate,
                &self.ca_pubs(protect),
            ));
        }
        if request.state == RequestState::Rejected {
            transaction.state = TransactionState::Closed;
            self.store.update_cmp_transaction(&transaction)?;
            return Err(Failure::new(
                FailureInfo::NotAuthorized,
                format!(
                    "an RA administrator rejected the request: {}",
                    request.reject_reason.unwrap_or_default()
                ),
            ));
        }
        self.store.update_cmp_transaction(&transaction)?;
        Ok(message::poll_rep(
            &id,
            POLL_SECONDS,
            &format!(
                "waiting for an RA administrator to approve request {}",
                request.reference.0
            ),
        ))
    }
}
