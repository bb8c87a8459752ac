//! What the RA mails, as data; `topca-mail` renders and sends it (SMTP or a file
//! outbox), tests record it. Clear secrets (PINs) exist only here, on their way out.

use std::{sync::Mutex, time::SystemTime};

use zeroize::Zeroizing;

use crate::{
    error::MailError,
    kmc::RecoveryId,
    lifecycle::RequestKind,
    ra::{Language, RequestRef},
};

/// A message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The recipient's address.
    pub to: String,
    /// The language to render it in.
    pub language: Language,
    /// What to say.
    pub mail: Mail,
}

/// What happened in a key recovery, as told to the holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryStep {
    /// A KMC administrator asked to recover the key.
    Requested,
    /// A KMC administrator refused the recovery.
    Rejected,
    /// The key was delivered, enveloped for this signing certificate.
    Delivered {
        /// The signing certificate's serial, upper-case hex.
        signing_serial: String,
    },
    /// A wrong authorization code was entered.
    WrongCode {
        /// Attempts left before the recovery locks.
        attempts_left: u8,
    },
    /// The recovery locked after too many wrong codes.
    Locked,
}

/// The messages of the certificate service.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mail {
    /// The application was registered (manual 2.3: 证书注册确认邮件).
    RegistrationConfirmation {
        /// The request's public reference.
        request: RequestRef,
        /// The holder's name.
        holder: String,
        /// Where to follow the request.
        service_url: String,
    },
    /// A replacement was asked for: confirm it through this link (证书替换).
    ReplacementConfirmation {
        /// The request's public reference.
        request: RequestRef,
        /// The holder's name.
        holder: String,
        /// The confirmation link, with its single-use token: only in this mail.
        link: Zeroizing<String>,
    },
    /// A holder was pre-registered (passcode mode): the reference number and the
    /// authorization code to retrieve with, no approval needed.
    Passcode {
        /// The reference (the request's public reference).
        request: RequestRef,
        /// The holder's name.
        holder: String,
        /// The authorization code, in clear: only in this mail.
        code: Zeroizing<String>,
        /// The retrieval page.
        retrieve_url: String,
    },
    /// The request was approved: here is the PIN (身份识别码) to retrieve with.
    /// `kind` tells an application, a renewal and a replacement apart.
    RequestApproved {
        /// The request's public reference.
        request: RequestRef,
        /// What the request asked for.
        kind: RequestKind,
        /// The holder's name.
        holder: String,
        /// The PIN, in clear: only in this mail.
        pin: Zeroizing<String>,
        /// The retrieval page.
        retrieve_url: String,
    },
    /// A server certificate was approved and issued; it is attached as PEM.
    ServerCertificateIssued {
        /// The request's public reference.
        request: RequestRef,
        /// The server name.
        server: String,
        /// The serial, upper-case hex.
        serial: String,
        /// The certificate, PEM.
        pem: String,
    },
    /// A certificate was revoked.
    CertificateRevoked {
        /// The serial, upper-case hex.
        serial: String,
        /// The holder's name.
        holder: String,
        /// Why.
        reason: crate::lifecycle::RevocationReason,
    },
    /// A KMC key recovery was approved: the authorization code to recover the
    /// encryption key and certificate with (single use, expiring).
    KeyRecoveryCode {
        /// The recovery request number.
        recovery: RecoveryId,
        /// The holder's name.
        holder: String,
        /// The encryption certificate's serial, upper-case hex.
        serial: String,
        /// The authorization code, in clear: only in this mail.
        code: Zeroizing<String>,
        /// When the code stops working.
        expires: SystemTime,
        /// The recovery page.
        recover_url: String,
    },
    /// A step of a key recovery of the holder's encryption key (the approval is
    /// [`Mail::KeyRecoveryCode`]).
    KeyRecoveryNotice {
        /// The recovery request.
        recovery: RecoveryId,
        /// The holder's name.
        holder: String,
        /// The encryption certificate's serial, upper-case hex.
        serial: String,
        /// What happened.
        step: RecoveryStep,
    },
    /// A certificate ends soon (within the renewal window): renew it.
    CertificateExpiring {
        /// The serial, upper-case hex.
        serial: String,
        /// The holder's name.
        holder: String,
        /// End of validity.
        not_after: SystemTime,
        /// The renewal page.
        renew_url: String,
    },
    /// A key the CA made in bulk issuance: the password of the PKCS#12 file the
    /// RA administrator hands over (the file itself never travels by mail).
    Pkcs12Password {
        /// The request's public reference.
        request: RequestRef,
        /// The holder's name.
        holder: String,
        /// The certificate's serial, upper-case hex.
        serial: String,
        /// The password, in clear: only in this mail.
        password: Zeroizing<String>,
    },
    /// The request was rejected.
    RequestRejected {
        /// The request's public reference.
        request: RequestRef,
        /// The holder's name.
        holder: String,
        /// The administrator's reason.
        reason: String,
    },
}

impl std::fmt::Debug for Mail {
    /// Never prints a PIN.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RegistrationConfirmation { request, .. } => {
                write!(f, "RegistrationConfirmation({})", request.0)
            }
            Self::RequestApproved { request, kind, .. } => {
                write!(f, "RequestApproved({}, {kind:?}, pin: …)", request.0)
            }
            Self::KeyRecoveryCode {
                recovery, serial, ..
            } => write!(f, "KeyRecoveryCode({recovery}, {serial}, code: …)"),
            Self::KeyRecoveryNotice {
                recovery,
                serial,
                step,
                ..
            } => write!(f, "KeyRecoveryNotice({recovery}, {serial}, {step:?})"),
            Self::CertificateExpiring { serial, .. } => write!(f, "CertificateExpiring({serial})"),
            Self::ServerCertificateIssued {
                request, serial, ..
            } => {
                write!(f, "ServerCertificateIssued({}, {serial})", request.0)
            }
            Self::ReplacementConfirmation { request, .. } => {
                write!(f, "ReplacementConfirmation({}, link: …)", request.0)
            }
            Self::Passcode { request, .. } => write!(f, "Passcode({}, code: …)", request.0),
            Self::CertificateRevoked { serial, reason, .. } => {
                write!(f, "CertificateRevoked({serial}, {reason:?})")
            }
            Self::RequestRejected {
                request, reason, ..
            } => write!(f, "RequestRejected({}, {reason:?})", request.0),
            Self::Pkcs12Password {
                request, serial, ..
            } => write!(f, "Pkcs12Password({}, {serial}, password: …)", request.0),
        }
    }
}

/// Sends mail.
pub trait Mailer: Send + Sync {
    /// Sends one message.
    fn send(&self, envelope: &Envelope) -> Result<(), MailError>;
}

/// A mailer that keeps what it is given (for tests and for embedding without mail).
#[derive(Debug, Default)]
pub struct RecordingMailer {
    sent: Mutex<Vec<Envelope>>,
    refuse: Mutex<bool>,
}

impl RecordingMailer {
    /// Every message sent so far, oldest first.
    pub fn sent(&self) -> Vec<Envelope> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Makes the next sends fail as an unreachable server would (or succeed again).
    pub fn set_unreachable(&self, unreachable: bool) {
        if let Ok(mut r) = self.refuse.lock() {
            *r = unreachable;
        }
    }
}

impl Mailer for RecordingMailer {
    fn send(&self, envelope: &Envelope) -> Result<(), MailError> {
        if self.refuse.lock().map(|r| *r).unwrap_or(false) {
            return Err(MailError::Unreachable(
                "recording mailer set unreachable".into(),
            ));
        }
        self.sent
            .lock()
            .map(|mut s| s.push(envelope.clone()))
            .map_err(|_| MailError::Unreachable("recording mailer poisoned".into()))
    }
}
