//! The append-only audit log: every state change is an entry (who, what, on what,
//! when, outcome), and entries are chained so an edited, removed or reordered
//! entry is detected by [`verify_chain`].
//!
//! Keyed entries (written when the store holds an [`AuditKey`]):
//! `value(n) = HMAC-SHA-256(audit key, "TopCA audit v2" ‖ value(n-1) ‖ n ‖ encode(record n))`.
//! The audit key is derived from the KMC master key, which is never in the
//! database, so whoever can only write to the database cannot recompute a value.
//! Entries written before keying (or by a store without the key) carry the plain
//! `SHA-256("TopCA audit v1" ‖ value(n-1) ‖ n ‖ encode(record n))`; a log may start
//! with such entries, but once a keyed entry appears every later one must be keyed.
//! The genesis previous value is all zeros and every field is length-prefixed, so
//! no two different records encode alike.

use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{error::AuditError, kmc::MasterKey};

/// The key audit entries are MACed under, derived from the KMC master key.
pub struct AuditKey(Zeroizing<[u8; 32]>);

impl AuditKey {
    /// The audit key of the deployment whose KMC master key is `master`
    /// (HMAC-SHA-256 of the label "topca audit key v1" under the master key), so
    /// every node holding the master key holds the audit key and nothing new is
    /// distributed.
    ///
    /// The master key computes it once when it is loaded (in its token, when
    /// it is in one); only this sub-key is kept in memory.
    pub fn derive(master: &MasterKey) -> Self {
        Self(master.audit_key().clone())
    }
}

/// The label the audit key is derived under.
pub(crate) const AUDIT_KEY_LABEL: &[u8] = b"topca audit key v1";

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An end user, identified by e-mail.
    User(String),
    /// An administrator, identified by login name.
    Admin(String),
    /// TopCA itself (schedules, start-up).
    System,
    /// A machine client, identified by its name.
    Client(String),
}

/// What was done. Numbers are stored; they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditAction {
    /// A CA was created or imported.
    CaCreated = 1,
    /// An account was created.
    AccountCreated = 2,
    /// An account's settings changed.
    AccountUpdated = 3,
    /// A certificate request was submitted.
    RequestSubmitted = 10,
    /// A request was approved (PIN issued).
    RequestApproved = 11,
    /// A request was rejected.
    RequestRejected = 12,
    /// A retrieval attempt failed (wrong PIN or password).
    RetrievalFailed = 13,
    /// A request locked after too many failures (for the source that failed).
    RequestLocked = 14,
    /// An RA administrator unlocked a request.
    RequestUnlocked = 15,
    /// An approved request's PIN was replaced by a new one, mailed again (the
    /// old PIN stops working).
    PinResent = 16,
    /// A certificate was issued.
    CertificateIssued = 20,
    /// A certificate was revoked.
    CertificateRevoked = 21,
    /// A CRL was issued.
    CrlIssued = 22,
    /// An encryption key pair was generated and escrowed.
    KeyEscrowed = 30,
    /// A key recovery was requested.
    RecoveryRequested = 31,
    /// A key recovery was approved (authorization code issued).
    RecoveryApproved = 32,
    /// An escrowed key was delivered again.
    KeyRecovered = 33,
    /// A key recovery was rejected.
    RecoveryRejected = 34,
    /// An administrator logged in (or failed to).
    AdminLogin = 40,
    /// An administrator account was created.
    AdminCreated = 41,
    /// An administrator's roles, lockout or bound certificate changed.
    AdminUpdated = 42,
    /// A CA setting changed (for example the CRL schedule).
    SettingChanged = 43,
    /// Administrator sessions were ended by a super administrator.
    SessionsEnded = 44,
    /// A machine client was added (its token shown once).
    ClientAdded = 24,
    /// A machine client was revoked.
    ClientRevoked = 25,
    /// An ACME account was created (RFC 8555 §7.3).
    AcmeAccountCreated = 26,
    /// An ACME account's key was rolled over (RFC 8555 §7.3.5).
    AcmeAccountKeyChanged = 27,
    /// An ACME account was deactivated by its holder (RFC 8555 §7.3.6).
    AcmeAccountDeactivated = 28,
}

impl AuditAction {
    const ALL: [Self; 28] = [
        Self::CaCreated,
        Self::AccountCreated,
        Self::AccountUpdated,
        Self::RequestSubmitted,
        Self::RequestApproved,
        Self::RequestRejected,
        Self::RetrievalFailed,
        Self::RequestLocked,
        Self::RequestUnlocked,
        Self::PinResent,
        Self::CertificateIssued,
        Self::CertificateRevoked,
        Self::CrlIssued,
        Self::KeyEscrowed,
        Self::RecoveryRequested,
        Self::RecoveryApproved,
        Self::KeyRecovered,
        Self::RecoveryRejected,
        Self::AdminLogin,
        Self::AdminCreated,
        Self::AdminUpdated,
        Self::SettingChanged,
        Self::SessionsEnded,
        Self::ClientAdded,
        Self::ClientRevoked,
        Self::AcmeAccountCreated,
        Self::AcmeAccountKeyChanged,
        Self::AcmeAccountDeactivated,
    ];

    /// Which part of the CA the action belongs to (who may read it).
    pub fn area(self) -> AuditArea {
        match self {
            Self::AccountCreated
            | Self::AccountUpdated
            | Self::RequestSubmitted
            | Self::RequestApproved
            | Self::RequestRejected
            | Self::RetrievalFailed
            | Self::RequestLocked
            | Self::RequestUnlocked
            | Self::PinResent
            | Self::CertificateIssued
            | Self::CertificateRevoked
            | Self::CrlIssued
            | Self::ClientAdded
            | Self::ClientRevoked
            | Self::AcmeAccountCreated
            | Self::AcmeAccountKeyChanged
            | Self::AcmeAccountDeactivated => AuditArea::Ra,
            Self::KeyEscrowed
            | Self::RecoveryRequested
            | Self::RecoveryApproved
            | Self::KeyRecovered
            | Self::RecoveryRejected => AuditArea::Kmc,
            Self::CaCreated
            | Self::AdminLogin
            | Self::AdminCreated
            | Self::AdminUpdated
            | Self::SettingChanged
            | Self::SessionsEnded => AuditArea::Operations,
        }
    }

    /// The number storage keeps for this action.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The action stored as `code`, if it is one.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }
}

/// The part of the CA an audited action belongs to: RA administrators read the
/// RA's, KMC administrators the KMC's, super administrators every entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditArea {
    /// Accounts, requests, certificates and CRLs.
    Ra,
    /// Escrowed keys and key recovery.
    Kmc,
    /// The CA itself, administrators, log-ins, sessions and settings.
    Operations,
}

/// Whether the action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It was done.
    Success = 1,
    /// It was refused or failed.
    Failure = 2,
}

impl Outcome {
    /// The number storage keeps.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The outcome stored as `code`, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        [Self::Success, Self::Failure]
            .into_iter()
            .find(|o| o.code() == code)
    }
}

impl Actor {
    /// The kind number storage keeps (1 user, 2 administrator, 3 system,
    /// 4 machine client) and the name.
    pub fn to_parts(&self) -> (u8, &str) {
        match self {
            Self::User(email) => (1, email),
            Self::Admin(name) => (2, name),
            Self::System => (3, ""),
            Self::Client(name) => (4, name),
        }
    }

    /// The actor stored as `kind` and `name`, if `kind` is one.
    pub fn from_parts(kind: u8, name: String) -> Option<Self> {
        match kind {
            1 => Some(Self::User(name)),
            2 => Some(Self::Admin(name)),
            3 => Some(Self::System),
            4 => Some(Self::Client(name)),
            _ => None,
        }
    }
}

/// What happened, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When.
    pub at: SystemTime,
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: AuditAction,
    /// On what (a request number, a serial, an account).
    pub target: String,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// Anything else worth keeping (never a secret).
    pub detail: String,
}

/// A record in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub sequence: u64,
    /// The record.
    pub record: AuditRecord,
    /// The previous entry's hash (zeros for the first).
    pub previous_hash: [u8; 32],
    /// This entry's hash.
    pub hash: [u8; 32],
}

impl AuditEntry {
    /// Chains `record` after `previous` (or starts the log): keyed under `key`,
    /// or with the plain hash of unkeyed logs when there is no key.
    pub fn append(
        previous: Option<&AuditEntry>,
        record: AuditRecord,
        key: Option<&AuditKey>,
    ) -> Self {
        let (sequence, previous_hash) = match previous {
            Some(p) => (p.sequence + 1, p.hash),
            None => (1, [0u8; 32]),
        };
        let hash = match key {
            Some(key) => entry_mac(key, sequence, &previous_hash, &record),
            None => entry_hash(sequence, &previous_hash, &record),
        };
        Self {
            sequence,
            record,
            previous_hash,
            hash,
        }
    }
}

/// What [`verify_chain`] found in an intact log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainReport {
    /// Entries checked.
    pub entries: u64,
    /// How many of the oldest entries carry the plain (unkeyed) hash: those written
    /// before the log was keyed. Zero for a log keyed from the start.
    pub unkeyed: u64,
}

/// Checks a whole log, oldest first. With `key`, every keyed entry's MAC is checked
/// and plain-hashed entries are accepted only before the first keyed one; without
/// it, only plain hashes are accepted. With `head` (a sequence number and the value
/// of that entry, kept apart from the log, e.g. in a signed checkpoint), a log
/// shorter than the head or differing from it is detected too.
pub fn verify_chain(
    entries: &[AuditEntry],
    key: Option<&AuditKey>,
    head: Option<(u64, [u8; 32])>,
) -> Result<ChainReport, AuditError> {
    let mut expected_previous = [0u8; 32];
    let mut unkeyed = 0u64;
    let mut keyed_seen = false;
    for (i, entry) in entries.iter().enumerate() {
        let expected_sequence = i as u64 + 1;
        if entry.sequence != expected_sequence || entry.previous_hash != expected_previous {
            return Err(AuditError::Broken {
                sequence: expected_sequence,
            });
        }
        let keyed_ok = key.is_some_and(|key| {
            entry_mac(key, entry.sequence, &entry.previous_hash, &entry.record) == entry.hash
        });
        if keyed_ok {
            keyed_seen = true;
        } else if keyed_seen
            || entry_hash(entry.sequence, &entry.previous_hash, &entry.record) != entry.hash
        {
            return Err(AuditError::Altered {
                sequence: entry.sequence,
            });
        } else {
            unkeyed += 1;
        }
        if let Some((sequence, value)) = head
            && sequence == entry.sequence
            && value != entry.hash
        {
            // Whoever rewrote the log could only recompute plain hashes: the
            // first entry no key vouches for is where the rewrite can start.
            let first_unkeyed = if unkeyed > 0 { 1 } else { sequence };
            return Err(AuditError::Rewritten {
                sequence: first_unkeyed,
                head: sequence,
            });
        }
        expected_previous = entry.hash;
    }
    let length = entries.len() as u64;
    match head {
        Some((sequence, _)) if sequence > length => Err(AuditError::Truncated {
            sequence: length + 1,
            head: sequence,
        }),
        _ => Ok(ChainReport {
            entries: length,
            unkeyed,
        }),
    }
}

fn entry_mac(key: &AuditKey, sequence: u64, previous: &[u8; 32], record: &AuditRecord) -> [u8; 32] {
    let mut mac = hmac(&key.0);
    mac.update(b"TopCA audit v2");
    mac.update(previous);
    mac.update(&encode(sequence, record));
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA-256 under a 32-byte key (zero-padded to the block, as HMAC does).
fn hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    <Hmac<Sha256> as KeyInit>::new(&(*block).into())
}

fn entry_hash(sequence: u64, previous: &[u8; 32], record: &AuditRecord) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"TopCA audit v1");
    h.update(previous);
    h.update(encode(sequence, record));
    h.finalize().into()
}

/// The sequence number and record, every field length-prefixed.
fn encode(sequence: u64, record: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&sequence.to_be_bytes());
    let since_epoch = record
        .at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    out.extend_from_slice(&since_epoch.as_secs().to_be_bytes());
    out.extend_from_slice(&since_epoch.subsec_nanos().to_be_bytes());
    let (kind, who) = record.actor.to_parts();
    out.push(kind);
    field(&mut out, who);
    out.extend_from_slice(&record.action.code().to_be_bytes());
    field(&mut out, &record.target);
    out.push(record.outcome.code());
    field(&mut out, &record.detail);
    out
}

fn field(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u64).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> AuditRecord {
        AuditRecord {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + n),
            actor: if n.is_multiple_of(2) {
                Actor::Admin("ra-admin".into())
            } else {
                Actor::User("张三@example.com".into())
            },
            action: AuditAction::RequestApproved,
            target: format!("request {n}"),
            outcome: Outcome::Success,
            detail: "天诚安信 / 技术部".into(),
        }
    }

    fn key() -> AuditKey {
        AuditKey::derive(&MasterKey::from_bytes([7u8; 32]))
    }

    /// `plain` entries with plain hashes, then `keyed` entries keyed under [`key`].
    fn upgraded_log(plain: u64, keyed: u64) -> Vec<AuditEntry> {
        let key = key();
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 1..=plain + keyed {
            let k = (i > plain).then_some(&key);
            let entry = AuditEntry::append(entries.last(), record(i), k);
            entries.push(entry);
        }
        entries
    }

    fn log(n: u64) -> Vec<AuditEntry> {
        upgraded_log(0, n)
    }

    fn verify(
        entries: &[AuditEntry],
        head: Option<(u64, [u8; 32])>,
    ) -> Result<ChainReport, AuditError> {
        verify_chain(entries, Some(&key()), head)
    }

    #[test]
    fn an_untouched_log_verifies() {
        let entries = log(5);
        assert_eq!(entries[4].sequence, 5);
        assert_eq!(
            verify(&entries, Some((5, entries[4].hash))),
            Ok(ChainReport {
                entries: 5,
                unkeyed: 0
            })
        );
        assert_eq!(
            verify(&[], None),
            Ok(ChainReport {
                entries: 0,
                unkeyed: 0
            })
        );
    }

    #[test]
    fn the_audit_key_depends_on_the_master_key() {
        let other = AuditKey::derive(&MasterKey::from_bytes([8u8; 32]));
        let entries = log(2);
        assert_eq!(
            verify_chain(&entries, Some(&other), None),
            Err(AuditError::Altered { sequence: 1 })
        );
        assert_eq!(format!("{:?}", key()), "AuditKey(..)");
    }

    #[test]
    fn an_edited_entry_is_detected() {
        let mut entries = log(5);
        entries[2].record.outcome = Outcome::Failure;
        assert_eq!(
            verify(&entries, None),
            Err(AuditError::Altered { sequence: 3 })
        );
        let mut entries = log(5);
        entries[1].record.actor = Actor::Admin("someone else".into());
        assert_eq!(
            verify(&entries, None),
            Err(AuditError::Altered { sequence: 2 })
        );
    }

    #[test]
    fn a_removed_or_reordered_entry_is_detected() {
        let mut entries = log(5);
        entries.remove(2);
        assert_eq!(
            verify(&entries, None),
            Err(AuditError::Broken { sequence: 3 })
        );
        let mut entries = log(5);
        entries.swap(1, 2);
        assert_eq!(
            verify(&entries, None),
            Err(AuditError::Broken { sequence: 2 })
        );
    }

    #[test]
    fn a_cut_off_end_is_detected_against_the_head() {
        let entries = log(5);
        let head = (5, entries[4].hash);
        assert_eq!(
            verify(&entries[..3], Some(head)),
            Err(AuditError::Truncated {
                sequence: 4,
                head: 5
            })
        );
    }

    #[test]
    fn rehashing_an_edit_without_the_following_entries_still_fails() {
        let mut entries = log(3);
        entries[0].record.detail = "forged".into();
        entries[0].hash = entry_hash(1, &[0u8; 32], &entries[0].record);
        assert_eq!(
            verify(&entries, None),
            Err(AuditError::Broken { sequence: 2 })
        );
    }

    /// Rewrites `entries` from the first on with recomputed plain hashes, as someone
    /// with the database but without the master key could.
    fn rewrite_plain(entries: &mut [AuditEntry]) {
        let mut previous = [0u8; 32];
        for entry in entries.iter_mut() {
            entry.previous_hash = previous;
            entry.hash = entry_hash(entry.sequence, &previous, &entry.record);
            previous = entry.hash;
        }
    }

    #[test]
    fn a_keyed_log_rewritten_with_plain_hashes_is_detected() {
        let mut entries = log(4);
        let head = (4, entries[3].hash);
        entries[1].record.detail = "forged".into();
        rewrite_plain(&mut entries);
        // Whole-log rewrite: the chain holds, only the checkpointed head exposes it.
        assert_eq!(
            verify(&entries, Some(head)),
            Err(AuditError::Rewritten {
                sequence: 1,
                head: 4
            })
        );
        // A plain-hashed tail after keyed entries is refused without any head.
        let mut entries = log(4);
        entries[2].record.detail = "forged".into();
        entries[2].previous_hash = entries[1].hash;
        entries[2].hash = entry_hash(3, &entries[1].hash, &entries[2].record);
        entries[3].previous_hash = entries[2].hash;
        entries[3].hash = entry_hash(4, &entries[2].hash, &entries[3].record);
        assert_eq!(
            verify(&entries, None),
            Err(AuditError::Altered { sequence: 3 })
        );
    }

    #[test]
    fn a_log_upgraded_to_keyed_entries_verifies_and_says_so() {
        let entries = upgraded_log(3, 2);
        assert_eq!(
            verify(&entries, None),
            Ok(ChainReport {
                entries: 5,
                unkeyed: 3
            })
        );
        // Without the key only the plain part verifies.
        assert_eq!(
            verify_chain(&entries, None, None),
            Err(AuditError::Altered { sequence: 4 })
        );
        // Editing an old plain entry still breaks the chain at the next entry.
        let mut edited = entries.clone();
        edited[0].record.detail = "forged".into();
        edited[0].hash = entry_hash(1, &[0u8; 32], &edited[0].record);
        assert_eq!(
            verify(&edited, None),
            Err(AuditError::Broken { sequence: 2 })
        );
    }
}
