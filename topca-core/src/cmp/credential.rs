//! CMP shared secrets (RFC 9483 §4.1.5, MAC-based protection): the RA makes a
//! reference number and a secret per holder, shown once. The MAC needs the
//! secret itself, so it cannot be hashed: it is sealed (AES-256-GCM) under the
//! KMC master key, bound to its reference, like the mail outbox's contents.

use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ca::CertificateAuthority,
    certificate::Certificate,
    client::{ClientId, Clients, MachineClient},
    clock::Clock,
    csr::CertificateRequest,
    error::{Error, RaError},
    kmc::MasterKey,
    profile::ProfileKind,
    ra::AccountId,
    random::RandomSource,
    secret::OneTimeCode,
    store::{AccountStore, CmpStore, IssuanceStore},
};

/// Symbols in a reference number (about 40 bits: a name, not a secret).
const REFERENCE_SYMBOLS: usize = 8;
/// Symbols in a secret (about 119 bits).
const SECRET_SYMBOLS: usize = 24;

/// A CMP credential as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct CmpCredential {
    /// The reference number, sent as the senderKID (`openssl cmp -ref`).
    pub reference: String,
    /// The account it enrolls for.
    pub account: AccountId,
    /// The secret, sealed under the master key and bound to the reference.
    pub sealed_secret: Vec<u8>,
    /// When it was made.
    pub created: SystemTime,
}

impl std::fmt::Debug for CmpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmpCredential")
            .field("reference", &self.reference)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// A credential's secret in clear: shown once when made, opened for each MAC.
pub struct CmpSecret(Zeroizing<String>);

impl CmpSecret {
    /// The secret's text (`openssl cmp -secret pass:…`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a sealed secret is bound to.
fn binding(reference: &str) -> String {
    format!("cmp credential {reference}")
}

impl CmpCredential {
    /// Opens the secret with `master`.
    pub fn secret(&self, master: &MasterKey) -> Result<CmpSecret, Error> {
        let bytes = master.open_bytes(&self.sealed_secret, &binding(&self.reference))?;
        let text =
            String::from_utf8(bytes.to_vec()).map_err(|_| crate::error::KmcError::Damaged)?;
        Ok(CmpSecret(Zeroizing::new(text)))
    }
}

/// Makes a credential for `account`: a new reference and secret, the secret
/// sealed under `master`, stored with a `ClientAdded` audit entry by `actor`.
/// Returns it with the secret to show once.
pub fn add<S: CmpStore + AccountStore>(
    store: &S,
    master: &MasterKey,
    random: &dyn RandomSource,
    clock: &dyn Clock,
    actor: Actor,
    account: AccountId,
) -> Result<(CmpCredential, CmpSecret), Error> {
    let account = store.account(account)?.ok_or(RaError::UnknownAccount)?;
    let reference = OneTimeCode::generate(REFERENCE_SYMBOLS, random)?;
    let reference = reference.clear.to_string();
    let secret = OneTimeCode::generate(SECRET_SYMBOLS, random)?.clear;
    let sealed_secret = master.seal_bytes(secret.as_bytes(), &binding(&reference), random)?;
    let now = clock.now();
    let credential = CmpCredential {
        reference,
        account: account.id,
        sealed_secret,
        created: now,
    };
    let audit = AuditRecord {
        at: now,
        actor,
        action: AuditAction::ClientAdded,
        target: format!("CMP credential {}", credential.reference),
        outcome: Outcome::Success,
        detail: format!("account {}", account.id.0),
    };
    store.create_cmp_credential(&credential, audit)?;
    Ok((credential, CmpSecret(secret)))
}

/// The live credential `reference` whose secret is `secret` (EST's HTTP Basic
/// authentication): unknown references and wrong secrets are one refusal, the
/// secrets compared in constant time.
pub fn authenticate<S: CmpStore>(
    store: &S,
    master: &MasterKey,
    reference: &str,
    secret: &str,
) -> Result<CmpCredential, Error> {
    use subtle::ConstantTimeEq;
    let refused = || Error::from(RaError::ClientTokenRefused);
    let credential = store
        .cmp_credential(reference.trim())?
        .ok_or_else(refused)?;
    let known = credential.secret(master)?;
    if bool::from(known.as_str().as_bytes().ct_eq(secret.as_bytes())) {
        Ok(credential)
    } else {
        Err(refused())
    }
}

/// Issues `csr` for `account` under `profile` through the account's policy,
/// as a machine client named `actor` would (recorded before it is signed,
/// stored, audited with `actor` as the client).
pub fn issue<S: IssuanceStore + AccountStore>(
    ca: &CertificateAuthority,
    store: &S,
    account: AccountId,
    actor: &str,
    csr: &CertificateRequest,
    profile: ProfileKind,
) -> Result<Certificate, Error> {
    let account = store.account(account)?.ok_or(RaError::UnknownAccount)?;
    let client = MachineClient {
        id: ClientId(0),
        name: actor.to_owned(),
        account: account.id,
        profiles: vec![ProfileKind::TlsServer, ProfileKind::TlsClient],
        allowed_names: Vec::new(),
        validity_days: account.settings.validity_days,
        token_hash: [0; 32],
        created: ca.environment().clock().now(),
        revoked: None,
    };
    Clients::new(ca, store).issue(&client, csr, Some(profile))
}

/// Where a CMP transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// Begun; nothing issued (yet, or because it was refused).
    Open,
    /// A certificate was issued and waits for the certConf.
    Waiting,
    /// A request waits for an RA administrator's approval (the client polls).
    Pending,
    /// Finished (confirmed, implicitly confirmed, revoked, answered).
    Closed,
}

impl TransactionState {
    /// The stored label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Waiting => "waiting",
            Self::Pending => "pending",
            Self::Closed => "closed",
        }
    }

    /// The state of a stored label.
    pub fn from_label(label: &str) -> Option<Self> {
        [Self::Open, Self::Waiting, Self::Pending, Self::Closed]
            .into_iter()
            .find(|s| s.label() == label)
    }
}

/// A CMP transaction, kept so that a transactionID is used once and a
/// certConf answers the right certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmpTransaction {
    /// The transactionID.
    pub id: Vec<u8>,
    /// Who began it: `ref:REFERENCE` or `cert:SERIAL`.
    pub sender: String,
    /// The senderNonce of TopCA's last answer (the next recipNonce).
    pub nonce: Vec<u8>,
    /// The certificate issued in it, if any.
    pub serial: Option<String>,
    /// The RA request waiting for approval, if any.
    pub request: Option<crate::ra::RequestId>,
    /// Its state.
    pub state: TransactionState,
    /// When it began.
    pub started: SystemTime,
}
