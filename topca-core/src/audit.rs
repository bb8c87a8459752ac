//! The append-only audit log: every state change is an entry (who, what, on what,
//! when, outcome), and entries are hash-chained so an edited, removed or reordered
//! entry is detected by [`verify_chain`].
//!
//! `hash(n) = SHA-256("TopCA audit v1" ‖ hash(n-1) ‖ encode(record n))`, with the
//! genesis previous hash all zeros and every field length-prefixed, so no two
//! different records encode alike.

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::AuditError;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An end user, identified by e-mail.
    User(String),
    /// An administrator, identified by login name.
    Admin(String),
    /// TopCA itself (schedules, start-up).
    System,
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
}

impl AuditAction {
    const ALL: [Self; 23] = [
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
            | Self::CrlIssued => AuditArea::Ra,
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
    /// The kind number storage keeps (1 user, 2 administrator, 3 system) and the name.
    pub fn to_parts(&self) -> (u8, &str) {
        match self {
            Self::User(email) => (1, email),
            Self::Admin(name) => (2, name),
            Self::System => (3, ""),
        }
    }

    /// The actor stored as `kind` and `name`, if `kind` is one.
    pub fn from_parts(kind: u8, name: String) -> Option<Self> {
        match kind {
            1 => Some(Self::User(name)),
            2 => Some(Self::Admin(name)),
            3 => Some(Self::System),
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
    /// Chains `record` after `previous` (or starts the log).
    pub fn append(previous: Option<&AuditEntry>, record: AuditRecord) -> Self {
        let (sequence, previous_hash) = match previous {
            Some(p) => (p.sequence + 1, p.hash),
            None => (1, [0u8; 32]),
        };
        let hash = entry_hash(sequence, &previous_hash, &record);
        Self {
            sequence,
            record,
            previous_hash,
            hash,
        }
    }
}

/// Checks a whole log, oldest first. With `head` (the newest hash, kept apart from
/// the log, e.g. in the last CRL or a sealed file), cutting off the end is detected too.
pub fn verify_chain(entries: &[AuditEntry], head: Option<[u8; 32]>) -> Result<(), AuditError> {
    let mut expected_previous = [0u8; 32];
    for (i, entry) in entries.iter().enumerate() {
        let expected_sequence = i as u64 + 1;
        if entry.sequence != expected_sequence || entry.previous_hash != expected_previous {
            return Err(AuditError::Broken {
                sequence: entry.sequence,
            });
        }
        if entry_hash(entry.sequence, &entry.previous_hash, &entry.record) != entry.hash {
            return Err(AuditError::Altered {
                sequence: entry.sequence,
            });
        }
        expected_previous = entry.hash;
    }
    match head {
        Some(head) if head != expected_previous => Err(AuditError::Truncated),
        _ => Ok(()),
    }
}

fn entry_hash(sequence: u64, previous: &[u8; 32], record: &AuditRecord) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"TopCA audit v1");
    h.update(previous);
    h.update(sequence.to_be_bytes());
    let since_epoch = record
        .at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    h.update(since_epoch.as_secs().to_be_bytes());
    h.update(since_epoch.subsec_nanos().to_be_bytes());
    let (kind, who) = record.actor.to_parts();
    h.update([kind]);
    field(&mut h, who);
    h.update(record.action.code().to_be_bytes());
    field(&mut h, &record.target);
    h.update([record.outcome.code()]);
    field(&mut h, &record.detail);
    h.finalize().into()
}

fn field(h: &mut Sha256, value: &str) {
    h.update((value.len() as u64).to_be_bytes());
    h.update(value.as_bytes());
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

    fn log(n: u64) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 1..=n {
            let entry = AuditEntry::append(entries.last(), record(i));
            entries.push(entry);
        }
        entries
    }

    #[test]
    fn an_untouched_log_verifies() {
        let entries = log(5);
        assert_eq!(entries[4].sequence, 5);
        assert_eq!(verify_chain(&entries, Some(entries[4].hash)), Ok(()));
        assert_eq!(verify_chain(&[], None), Ok(()));
    }

    #[test]
    fn an_edited_entry_is_detected() {
        let mut entries = log(5);
        entries[2].record.outcome = Outcome::Failure;
        assert_eq!(
            verify_chain(&entries, None),
            Err(AuditError::Altered { sequence: 3 })
        );
        let mut entries = log(5);
        entries[1].record.actor = Actor::Admin("someone else".into());
        assert_eq!(
            verify_chain(&entries, None),
            Err(AuditError::Altered { sequence: 2 })
        );
    }

    #[test]
    fn a_removed_or_reordered_entry_is_detected() {
        let mut entries = log(5);
        entries.remove(2);
        assert_eq!(
            verify_chain(&entries, None),
            Err(AuditError::Broken { sequence: 4 })
        );
        let mut entries = log(5);
        entries.swap(1, 2);
        assert_eq!(
            verify_chain(&entries, None),
            Err(AuditError::Broken { sequence: 3 })
        );
    }

    #[test]
    fn a_cut_off_end_is_detected_against_the_head() {
        let entries = log(5);
        let head = entries[4].hash;
        assert_eq!(
            verify_chain(&entries[..4], Some(head)),
            Err(AuditError::Truncated)
        );
    }

    #[test]
    fn rehashing_an_edit_without_the_following_entries_still_fails() {
        let mut entries = log(3);
        entries[0].record.detail = "forged".into();
        entries[0].hash = entry_hash(1, &[0u8; 32], &entries[0].record);
        assert_eq!(
            verify_chain(&entries, None),
            Err(AuditError::Broken { sequence: 2 })
        );
    }
}
