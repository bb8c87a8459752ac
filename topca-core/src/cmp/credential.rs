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
    /// When an RA administrator revoked it (`None` while live).
    pub revoked: Option<SystemTime>,
    /// When it last authenticated a request (kept to the minute).
    pub last_used: Option<SystemTime>,
}

impl std::fmt::Debug for CmpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmpCredential")
            .field("reference", &self.reference)
            .field("account", &self.account)
            .field("revoked", &self.revoked)
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
        revoked: None,
        last_used: None,
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

/// Revokes the live credential `reference` (a `ClientRevoked` audit entry by
/// `actor`): from then on CMP MACs and EST HTTP Basic with it are refused,
/// on every node (each request reads the credential from the database).
/// [`RaError::UnknownCredential`] for an unknown reference,
/// [`RaError::WrongState`] for one revoked already.
pub fn revoke<S: CmpStore>(
    store: &S,
    clock: &dyn Clock,
    actor: Actor,
    reference: &str,
) -> Result<CmpCredential, Error> {
    let reference = reference.trim();
    let known = store
        .cmp_credential(reference)?
        .ok_or(RaError::UnknownCredential)?;
    let now = clock.now();
    let audit = AuditRecord {
        at: now,
        actor,
        action: AuditAction::ClientRevoked,
        target: format!("CMP credential {}", known.reference),
        outcome: Outcome::Success,
        detail: format!("account {}", known.account.0),
    };
    store
        .revoke_cmp_credential(&known.reference, now, audit)
        .map_err(|e| match e {
            crate::error::StoreError::NotFound => Error::from(RaError::UnknownCredential),
            crate::error::StoreError::Conflict => RaError::WrongState("revoked already").into(),
            other => other.into(),
        })
}

/// How long a credential's last use may be out of date: a use within this of
/// the recorded one is not written again.
const LAST_USE_PRECISION: std::time::Duration = std::time::Duration::from_secs(60);

/// The live credential `reference`, if any (a revoked one counts as none).
pub fn live<S: CmpStore>(store: &S, reference: &str) -> Result<Option<CmpCredential>, Error> {
    Ok(store
        .cmp_credential(reference.trim())?
        .filter(|c| c.revoked.is_none()))
}

/// Records that `credential` authenticated a request at `now` (written at
/// most once a minute per credential).
pub fn note_use<S: CmpStore>(
    store: &S,
    credential: &CmpCredential,
    now: SystemTime,
) -> Result<(), Error> {
    let recent = credential
        .last_used
        .and_then(|at| now.duration_since(at).ok())
        .is_some_and(|age| age < LAST_USE_PRECISION);
    if !recent {
        store.cmp_credential_used(&credential.reference, now)?;
    }
    Ok(())
}

/// The live credential `reference` whose secret is `secret` (EST's HTTP Basic
/// authentication): unknown and revoked references and wrong secrets are one
/// refusal, the secrets compared in constant time; the use is recorded.
pub fn authenticate<S: CmpStore>(
    store: &S,
    master: &MasterKey,
    clock: &dyn Clock,
    reference: &str,
    secret: &str,
) -> Result<CmpCredential, Error> {
    use subtle::ConstantTimeEq;
    let refused = || Error::from(RaError::ClientTokenRefused);
    let credential = live(store, reference)?.ok_or_else(refused)?;
    let known = credential.secret(master)?;
    if bool::from(known.as_str().as_bytes().ct_eq(secret.as_bytes())) {
        note_use(store, &credential, clock.now())?;
        Ok(credential)
    } else {
        Err(refused())
    }
}

/// A limit on wrong shared secrets (CMP MACs, EST HTTP Basic), kept by the
/// server for one request's source address: it decides before a secret is
/// checked and counts what failed.
pub trait SecretGuard {
    /// `Err(seconds)` when secrets for `reference` may not be tried from this
    /// source now (with the seconds to wait).
    fn may_try(&self, reference: &str) -> Result<(), u64>;
    /// Counts a failure for `reference`: a wrong secret, or an unknown or
    /// revoked reference.
    fn failed(&self, reference: &str);
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
