//! CMP (RFC 4210/9480, Lightweight CMP Profile RFC 9483): TopCA as the RA
//! that devices and PKI clients such as `openssl cmp` enroll with.
//!
//! - [`asn1`]: the message structures (`der`-derived types).
//! - [`protection`]: MAC-based (PasswordBasedMac, PBMAC1) and signature-based
//!   protection.
//! - [`credential`]: per-holder shared secrets (reference + secret) made by the
//!   RA, the secret sealed under the KMC master key (the MAC needs it back).
//! - [`Responder`]: one request message in, one protected response out: ir, cr,
//!   kur, p10cr, certConf, rr and genm; every refusal is a protected error
//!   message with its PKIFailureInfo bit.
//!
//! Issuance goes through the account's policy like a machine client's
//! ([`crate::client::Clients`]), so the certificate is recorded before it is
//! signed, stored, audited and in the CRL and OCSP.

pub mod asn1;
pub mod credential;
mod enroll;
pub mod est;
mod message;
mod other;
mod poll;
pub mod protection;
pub mod queue;
mod responder;

pub use credential::{CmpCredential, CmpSecret, SecretGuard};
pub use responder::{MAX_MESSAGE, Responder};

use crate::error::Error;

/// PKIFailureInfo bits (RFC 4210 §5.2.3) TopCA answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureInfo {
    /// badAlg (0): an algorithm TopCA does not support.
    BadAlg = 0,
    /// badMessageCheck (1): the MAC or signature does not verify.
    BadMessageCheck = 1,
    /// badRequest (2): a transaction or message TopCA does not allow.
    BadRequest = 2,
    /// badCertId (4): no such certificate.
    BadCertId = 4,
    /// badDataFormat (5): unreadable DER.
    BadDataFormat = 5,
    /// badPOP (9): the proof of possession is missing or wrong.
    BadPop = 9,
    /// certRevoked (10): the certificate is revoked already.
    CertRevoked = 10,
    /// wrongIntegrity (12): a protection the message type may not use.
    WrongIntegrity = 12,
    /// badRecipientNonce (13): the recipNonce is not TopCA's last senderNonce.
    BadRecipientNonce = 13,
    /// badSenderNonce (18): no senderNonce.
    BadSenderNonce = 18,
    /// badCertTemplate (19): the template breaks the account's policy.
    BadCertTemplate = 19,
    /// signerNotTrusted (20): an unknown sender or certificate.
    SignerNotTrusted = 20,
    /// transactionIdInUse (21): a replayed or missing transactionID.
    TransactionIdInUse = 21,
    /// unsupportedVersion (22): a pvno other than 2 or 3.
    UnsupportedVersion = 22,
    /// notAuthorized (23): the sender may not do this.
    NotAuthorized = 23,
    /// systemFailure (25): TopCA failed.
    SystemFailure = 25,
}

/// Why a message was refused: its failure bit and the text sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The PKIFailureInfo bit.
    pub info: FailureInfo,
    /// The statusString.
    pub text: String,
}

impl Failure {
    /// A refusal for `info` saying `text`.
    pub fn new(info: FailureInfo, text: impl Into<String>) -> Self {
        Self {
            info,
            text: text.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        use crate::error::{RaError, StoreError};
        let info = match &e {
            Error::Policy(_) | Error::Name(_) => FailureInfo::BadCertTemplate,
            Error::Csr(_) => FailureInfo::BadPop,
            Error::Key(_) => FailureInfo::BadAlg,
            Error::Ra(RaError::ProfileNotAllowed) => FailureInfo::NotAuthorized,
            Error::Ra(_) => FailureInfo::BadRequest,
            Error::Store(StoreError::Conflict) => FailureInfo::TransactionIdInUse,
            _ => FailureInfo::SystemFailure,
        };
        let text = if info == FailureInfo::SystemFailure {
            "the CA could not complete the request".to_owned()
        } else {
            e.to_string()
        };
        Self { info, text }
    }
}

impl From<crate::error::StoreError> for Failure {
    fn from(e: crate::error::StoreError) -> Self {
        Error::from(e).into()
    }
}
