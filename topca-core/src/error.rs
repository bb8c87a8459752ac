//! The crate's one error type and the cause-specific enums it wraps.
//!
//! Every variant's `Display` is a plain sentence that can be shown to the person who
//! caused it; internal detail (library error values) stays in `source()` for logs.

use thiserror::Error;

/// Any failure reported by `topca-core`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A key could not be generated, imported, exported or used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A certificate signing request was refused.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// A distinguished name was malformed.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The request breaks the issuing policy (profile, validity, key type).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A certificate or bundle could not be encoded or decoded.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// A password or one-time code was refused or could not be processed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The audit log failed verification.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A state change is not allowed from the current state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A registration authority operation was refused.
    #[error(transparent)]
    Ra(#[from] RaError),
    /// The store failed or refused a change.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A mail could not be sent.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// The key management centre refused or failed.
    #[error(transparent)]
    Kmc(#[from] KmcError),
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// Why a password or one-time code was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// The password is shorter than the policy allows.
    #[error("the password must have at least {min} characters")]
    PasswordTooShort {
        /// Minimum length in characters.
        min: usize,
    },
    /// The password is longer than the policy allows.
    #[error("the password must have at most {max} characters")]
    PasswordTooLong {
        /// Maximum length in characters.
        max: usize,
    },
    /// A stored hash is not an Argon2id PHC string, or hashing failed.
    #[error("the stored password hash is not valid")]
    Hashing,
    /// The random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// Where the audit chain was found broken.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditError {
    /// An entry's content does not match its hash: it was edited.
    #[error("audit entry {sequence} was altered")]
    Altered {
        /// Sequence number of the entry.
        sequence: u64,
    },
    /// An entry does not follow the previous one: entries were removed or reordered.
    #[error("the audit log is broken at entry {sequence}: entries were removed or reordered")]
    Broken {
        /// Sequence number expected at the break.
        sequence: u64,
    },
    /// The log ends before the recorded head: the end was cut off.
    #[error(
        "the audit log was truncated: entry {sequence} is missing, the checkpoint covers {head} entries"
    )]
    Truncated {
        /// The first missing sequence number.
        sequence: u64,
        /// The sequence number of the recorded head.
        head: u64,
    },
    /// The entry at the recorded head verifies on its own but has another value:
    /// the log was rewritten with recomputed values.
    #[error(
        "the audit log was rewritten with recomputed hashes from entry {sequence} on: entry {head} differs from the signed checkpoint"
    )]
    Rewritten {
        /// The first entry that may have been rewritten (the first one without a
        /// valid keyed value, or the checkpointed entry itself).
        sequence: u64,
        /// Sequence number of the checkpointed head.
        head: u64,
    },
    /// A checkpoint's signature does not verify with the CA certificate.
    #[error(
        "the audit checkpoint at entry {sequence} is forged: its signature does not verify with the CA certificate"
    )]
    CheckpointForged {
        /// Sequence number the checkpoint claims.
        sequence: u64,
    },
    /// The checkpoint file holds a line that is not a checkpoint.
    #[error("the audit checkpoint file is unreadable")]
    CheckpointUnreadable,
}

/// A state change that the current state does not allow.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("a {what} that is {from} cannot be {action}")]
pub struct TransitionError {
    /// What changes state ("request", "certificate").
    pub what: &'static str,
    /// The current state, in words.
    pub from: &'static str,
    /// The refused action, in words ("approved", "revoked"…).
    pub action: &'static str,
}

/// Why a key could not be generated, imported, exported or used.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The algorithm name is not one TopCA supports.
    #[error(
        "unknown key algorithm \"{0}\"; use one of rsa2048, rsa3072, rsa4096, p256, p384, ed25519, sm2"
    )]
    UnknownAlgorithm(String),
    /// The public key's algorithm or curve is not supported.
    #[error("the key uses an unsupported algorithm or curve ({0})")]
    UnsupportedAlgorithm(String),
    /// An RSA key is too small (or too large) to be accepted.
    #[error("RSA keys must be between 2048 and 8192 bits; this one has {0} bits")]
    RsaKeySize(usize),
    /// An RSA public exponent other than an odd value from 3 upward was given.
    #[error("the RSA public exponent is not acceptable")]
    RsaExponent,
    /// The key bytes are not a valid key of the named algorithm.
    #[error("the key is malformed or not a valid {0} key")]
    Malformed(&'static str),
    /// The PKCS#8 document could not be read.
    #[error("the private key file is not a valid PKCS#8 document")]
    Pkcs8,
    /// An encrypted private key could not be decrypted with the given passphrase.
    #[error("the private key could not be decrypted: wrong passphrase or damaged file")]
    Decryption,
    /// A private key could not be encrypted.
    #[error("the private key could not be encrypted")]
    Encryption,
    /// Key generation failed in the crypto backend.
    #[error("key generation failed")]
    Generation,
    /// The signing operation failed in the crypto backend.
    #[error("the signing operation failed")]
    Signing,
    /// A signature did not verify under the given public key.
    #[error("the signature does not verify")]
    BadSignature,
    /// The private key does not belong to the certificate it was given with.
    #[error("the private key does not match the CA certificate")]
    CertificateKeyMismatch,
    /// The signature algorithm does not match the key.
    #[error("the signature algorithm {signature} cannot be used with a {key} key")]
    AlgorithmMismatch {
        /// The signature algorithm named in the signed object.
        signature: String,
        /// The key's algorithm.
        key: String,
    },
    /// A PKCS#11 URI could not be read or names no key.
    #[error("the PKCS#11 URI is not usable: {0}")]
    Pkcs11Uri(String),
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("the PKCS#11 module could not be loaded: {0}")]
    Pkcs11Module(String),
    /// No present token has the label or serial the URI names.
    #[error("no PKCS#11 token \"{0}\" is present")]
    TokenNotFound(String),
    /// No PIN was given for the token.
    #[error("no PIN for the PKCS#11 token: {0}")]
    PinMissing(String),
    /// The token refused the PIN.
    #[error("the PKCS#11 token refused the PIN")]
    WrongPin,
    /// The token locked its user PIN after too many wrong ones.
    #[error("the PKCS#11 token's user PIN is locked")]
    PinLocked,
    /// The token holds no key by that name.
    #[error("the PKCS#11 token holds no key {0}")]
    KeyNotFound(String),
    /// Every session is in use (the pool of this many, or the token's own limit).
    #[error("all {0} PKCS#11 sessions are in use")]
    TooManySessions(usize),
    /// The token or its sessions went away and could not be re-opened.
    #[error("the PKCS#11 token was lost and could not be re-opened ({0})")]
    TokenLost(String),
    /// The token refused or failed an operation.
    #[error("the PKCS#11 token failed: {0}")]
    Pkcs11(String),
    /// The private key is held in a token and cannot be exported.
    #[error("the private key is held in a PKCS#11 token and cannot be exported")]
    NotExportable,
    /// The token does not mark the key sensitive and non-extractable.
    #[error("the token does not keep the key sensitive and non-extractable; it is not used")]
    NotSensitive,
}

/// Why a PKCS#10 certificate signing request was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrError {
    /// The input is neither a PEM nor a DER PKCS#10 request.
    #[error("the request is not a valid PKCS#10 certificate signing request (PEM or DER)")]
    Malformed,
    /// The request's version is not v1 (0).
    #[error("the request has an unsupported version")]
    Version,
    /// The request's self-signature does not verify.
    #[error("the request's signature does not verify: it was altered or signed with another key")]
    BadSignature,
    /// The request's key is unacceptable.
    #[error("the request's key is not acceptable: {0}")]
    Key(KeyError),
    /// The request's extension request attribute could not be decoded.
    #[error("the request's extensions could not be read")]
    Extensions,
}

/// Why a distinguished name was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// A required attribute is missing or empty.
    #[error("the {0} of the name is required")]
    Missing(&'static str),
    /// An attribute is longer than RFC 5280 allows.
    #[error("the {attribute} of the name is longer than {max} characters")]
    TooLong {
        /// Which attribute.
        attribute: &'static str,
        /// Its maximum length in characters.
        max: usize,
    },
    /// The country is not two ASCII letters.
    #[error("the country must be a two-letter code such as CN")]
    Country,
    /// An e-mail address is not of the form local@domain in ASCII.
    #[error("\"{0}\" is not a valid e-mail address")]
    Email(String),
    /// A control character appears in an attribute.
    #[error("the {0} of the name contains a control character")]
    ControlCharacter(&'static str),
    /// A DNS name or IP address in the subject alternative names is invalid.
    #[error("\"{0}\" is not a valid DNS name or IP address")]
    AltName(String),
}

/// Why the issuing policy refused a request.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// A validity period of zero length or beyond the limit.
    #[error("the validity period must be between 1 day and {max_days} days")]
    Validity {
        /// The longest validity the profile allows.
        max_days: u32,
    },
    /// The certificate would start after it ends, or end after its issuer.
    #[error("the certificate would end before it starts")]
    EmptyValidity,
    /// The issuing CA itself has expired or is not yet valid.
    #[error("the issuing CA certificate is not valid at this time")]
    IssuerNotValid,
    /// The key type cannot serve the profile (for example an Ed25519 encryption key).
    #[error("a {key} key cannot be used for {profile} certificates")]
    KeyNotAllowed {
        /// The key algorithm.
        key: String,
        /// The profile.
        profile: &'static str,
    },
    /// A TLS server certificate needs at least one DNS name or IP address.
    #[error("a server certificate needs at least one DNS name or IP address")]
    NoServerName,
    /// The CA cannot issue CA certificates under its path length constraint.
    #[error("this CA may not issue further CA certificates")]
    PathLength,
    /// A URL configured for the CA is not an http(s) URL.
    #[error("\"{0}\" is not an http or https URL")]
    Url(String),
    /// The operation needs a profile of another kind.
    #[error("this needs a {expected} profile, not a {given} one")]
    WrongProfile {
        /// The kind needed.
        expected: &'static str,
        /// The kind given.
        given: &'static str,
    },
    /// The signed certificate failed its post-signing check.
    #[error("the signed certificate failed its self-check and was discarded")]
    PostIssuanceCheck,
    /// An issuance template did not reproduce the checked encoding and was not made.
    #[error("the issuance template does not match the checked encoding and was refused")]
    TemplateCheck,
    /// An RSA key whose public exponent is not 65537 (small exponents such as 3
    /// invite padding and broadcast attacks; no client needs another).
    #[error("RSA keys must use the public exponent 65537; this key uses {exponent}")]
    RsaExponent {
        /// The key's public exponent.
        exponent: u64,
    },
    /// A name the account's server certificate policy does not allow.
    #[error("\"{name}\" is not allowed in this account's server certificates: {reason}")]
    NameNotAllowed {
        /// The offending name, as it would be signed.
        name: String,
        /// Which rule refuses it.
        reason: NameRefusal,
    },
    /// More names than the account's server certificate policy allows.
    #[error(
        "the certificate would carry {count} names; this account allows at most {max} per server certificate"
    )]
    TooManyNames {
        /// Names the certificate would carry.
        count: usize,
        /// The account's limit.
        max: u32,
    },
}

/// Which rule of an account's server certificate policy refuses a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum NameRefusal {
    /// The account has no allowed domains yet.
    #[error("the account has no allowed domains; an RA administrator must set them first")]
    NoDomains,
    /// The name is not one of the account's domains nor below one.
    #[error("it is outside the account's allowed domains")]
    OutsideDomains,
    /// Wildcard names are not allowed for the account.
    #[error("wildcard names are not allowed for this account")]
    Wildcard,
    /// IP addresses are not allowed for the account.
    #[error("IP addresses are not allowed for this account")]
    IpAddress,
}

/// Why a certificate or bundle could not be encoded or decoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// The input is not a valid certificate.
    #[error("the data is not a valid X.509 certificate (PEM or DER)")]
    Certificate(#[source] der::Error),
    /// The input is not a valid PKCS#7 certificate bundle.
    #[error("the data is not a valid PKCS#7 certificate bundle")]
    Pkcs7(#[source] der::Error),
    /// An ASN.1 structure could not be encoded.
    #[error("an ASN.1 structure could not be encoded")]
    Der(#[from] der::Error),
    /// A CRL entry or time cannot be written.
    #[error("the CRL could not be written: {0}")]
    Crl(String),
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Self::Encoding(EncodingError::Der(e))
    }
}

/// Why the registration authority refused an operation, in the user's terms.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RaError {
    /// An administrator's log-in was refused: unknown name, wrong password or a
    /// lockout, deliberately not told apart.
    #[error(
        "the administrator name or password is wrong, or the administrator is locked out after too many wrong passwords (try again in 15 minutes)"
    )]
    WrongLogin,
    /// No live administrator session: none given, unknown, expired, ended, or
    /// its administrator is locked out or gone.
    #[error("log in as an administrator first (the session has ended)")]
    NoSession,
    /// A client certificate offered for administrator log-in was refused.
    #[error("this certificate cannot log in: {0}")]
    CertificateLoginRefused(&'static str),
    /// No administrator has that name.
    #[error("no administrator has that name")]
    UnknownAdmin,
    /// A super administrator tried to remove their own super-administrator role.
    #[error("you cannot remove your own super-administrator role; ask another super administrator")]
    OwnSuperRole,
    /// A super administrator tried to delete their own account.
    #[error("you cannot delete your own administrator account; ask another super administrator")]
    OwnAccount,
    /// A dual-certificate account retrieved, but the RA has no KMC.
    #[error(
        "this account issues dual certificates, but no key management centre is configured; ask your administrator"
    )]
    KmcNotConfigured,
    /// No account has that identifier.
    #[error("the account does not exist")]
    UnknownAccount,
    /// A machine client's API token is missing, malformed, unknown or revoked
    /// (deliberately not told apart).
    #[error("the API token is missing, wrong or revoked")]
    ClientTokenRefused,
    /// No machine client has that name or number.
    #[error("no machine client has that name")]
    UnknownClient,
    /// No CMP/EST credential has that reference, or no ACME EAB key that key
    /// identifier.
    #[error("no CMP credential or EAB key has that reference")]
    UnknownCredential,
    /// A machine client asked for a profile it was not given.
    #[error("this client may not use that profile")]
    ProfileNotAllowed,
    /// No request has that number.
    #[error("no request has this number")]
    UnknownRequest,
    /// A required form field is empty or invalid.
    #[error("{field}: {problem}")]
    InvalidField {
        /// The field, as labelled on the form.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The PIN or the user password is wrong; the request locks when none are left.
    #[error("the PIN or the user password is wrong ({attempts_left} attempts left)")]
    WrongPinOrPassword {
        /// Attempts left before the request locks.
        attempts_left: u8,
    },
    /// The request is locked for this client after too many wrong attempts (or was
    /// locked for everyone by an earlier version).
    #[error(
        "this request is locked after too many wrong attempts from your address; try again later or ask your RA administrator to unlock it"
    )]
    Locked,
    /// The PIN's lifetime ended.
    #[error("the PIN has expired; ask your RA administrator for a new one")]
    PinExpired,
    /// The request is not in a state that allows this (not approved yet, already issued…).
    #[error("this request is {0}")]
    WrongState(&'static str),
    /// Server certificates are only issued after an administrator's approval.
    #[error("server certificates need an account whose requests an administrator approves")]
    ServerNeedsApproval,
    /// The subscriber agreement was not accepted.
    #[error("the subscriber agreement must be accepted")]
    AgreementNotAccepted,
    /// O and OU belong to the account and cannot change on renewal.
    #[error(
        "the organization (O) and department (OU) cannot be changed; apply for a new certificate instead"
    )]
    OrganizationFixed,
    /// The certificate is not within its renewal window.
    #[error("only valid certificates ending within {days} days can be renewed")]
    NotRenewable {
        /// The window, in days.
        days: u32,
    },
    /// The administrator lacks the role this needs.
    #[error("this needs the {0} role")]
    NotPermitted(&'static str),
    /// The operation needs an account in passcode mode.
    #[error("this account does not use passcode mode")]
    NotPasscodeAccount,
    /// No certificate matches.
    #[error("the certificate was not found")]
    UnknownCertificate,
    /// The certificate is already revoked.
    #[error("the certificate is already revoked")]
    AlreadyRevoked,
    /// The user password does not match the certificate's.
    #[error("the user password is wrong")]
    WrongPassword,
    /// The reason cannot be chosen by a certificate holder.
    #[error("this revocation reason cannot be chosen here")]
    ReasonNotAllowed,
    /// The holder has an open request or a valid certificate in the account.
    #[error(
        "this holder is registered in the account already (an open request or a valid certificate for the same e-mail)"
    )]
    AlreadyRegistered,
    /// Bulk issuance serves single-certificate accounts only.
    #[error(
        "bulk issuance serves single-certificate accounts; holders of a dual-certificate account retrieve their certificates themselves"
    )]
    BulkNeedsSingle,
}

/// Why the store failed or refused a change.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// Another caller changed the object first; nothing was written.
    #[error("the record was changed by someone else in the meantime; please try again")]
    Conflict,
    /// A certificate with that serial number is already stored.
    #[error("a certificate with serial {0} already exists")]
    DuplicateSerial(String),
    /// The referenced object does not exist.
    #[error("the record does not exist")]
    NotFound,
    /// The certificate is revoked already.
    #[error("certificate {0} is already revoked")]
    AlreadyRevoked(String),
    /// A certificate was to be stored whose serial was not reserved before it
    /// was signed.
    #[error("certificate {0} was not recorded before it was signed; it is not stored")]
    NotReserved(String),
    /// A certificate was to be stored whose TBSCertificate is not the one
    /// recorded when its serial was reserved.
    #[error("certificate {0} is not the one recorded before signing; it is not stored")]
    TbsMismatch(String),
    /// The storage backend failed (details in the log).
    #[error("the database is unavailable; please try again later")]
    Backend(String),
}

/// Why the key management centre refused or failed.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmcError {
    /// The escrowed key was sealed under another master key.
    #[error("the escrowed key was sealed under another KMC master key")]
    WrongMasterKey,
    /// The escrowed key does not open: altered, or not the key it claims to be.
    #[error("the escrowed key is damaged or belongs to another certificate")]
    Damaged,
    /// The random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The key cannot be used this way.
    #[error("{0}")]
    UnsuitableKey(&'static str),
    /// No key is escrowed for that certificate.
    #[error(
        "no escrowed key belongs to this certificate; only encryption certificates of dual accounts have one"
    )]
    NotEscrowed,
    /// No recovery request has that identifier.
    #[error("no key recovery request has this identifier")]
    UnknownRecovery,
    /// The administrator may not act as a key recovery agent (for the reason
    /// given).
    #[error("this administrator may not take part in a key recovery: {0}")]
    NotAnAgent(&'static str),
    /// The administrator was created or given the kmc role through the console
    /// too recently to act as a key recovery agent.
    #[error(
        "this administrator was created or given the kmc role through the console recently and may take part in key recoveries from {until} on"
    )]
    AgentQuarantined {
        /// When the quarantine ends (UTC, as text).
        until: String,
    },
    /// The authorization code could not be mailed to the holder, so the approval
    /// was withdrawn.
    #[error(
        "the authorization code could not be mailed to the holder, so the approval was withdrawn; request the recovery again once mail works"
    )]
    CodeNotMailed,
    /// The administrator who asked for a recovery tried to approve it.
    #[error(
        "a key recovery must be approved by a different KMC administrator than the one who requested it"
    )]
    SameAdministrator,
    /// The recovery request is not in a state that allows the action.
    #[error("this key recovery is {0}")]
    RecoveryState(&'static str),
    /// The authorization code is wrong.
    #[error("the authorization code is wrong ({attempts_left} attempts left)")]
    WrongCode {
        /// Attempts left before the recovery locks.
        attempts_left: u8,
    },
    /// The authorization code has been used.
    #[error("this authorization code has already been used")]
    CodeUsed,
    /// The authorization code expired.
    #[error("the authorization code has expired; ask your KMC administrator for a new recovery")]
    CodeExpired,
    /// Too many wrong codes.
    #[error("this key recovery is locked after too many wrong codes; ask your KMC administrator")]
    RecoveryLocked,
    /// The chosen certificate is not a valid signing certificate of the key's holder.
    #[error(
        "choose one of your own valid signing certificates, issued under the same account before the recovery was requested, to receive the key"
    )]
    NotHoldersSigningCertificate,
    /// The PKCS#11 token sealing escrowed keys did not answer.
    #[error("the PKCS#11 token sealing escrowed keys did not answer: {0}")]
    Token(String),
}

/// Why a mail could not be sent.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailError {
    /// The mail server refused the message or the address.
    #[error("the mail server refused the message to {0}")]
    Refused(String),
    /// The mail server could not be reached.
    #[error("the mail server could not be reached; the mail can be sent again later")]
    Unreachable(String),
    /// The mail outbox directory could not be written.
    #[error("the mail outbox {0} could not be written; check that it exists and is writable")]
    Outbox(String),
}

/// Result type of `topca-core`.
pub type Result<T, E = Error> = core::result::Result<T, E>;
