//! Key recovery requests: created by one KMC administrator, approved by another,
//! then used once by the holder with a mailed authorization code.

use std::time::SystemTime;

use crate::{error::TransitionError, secret::CodeHash};

/// A recovery request's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecoveryId(pub u64);

/// Where a recovery request stands.
///
/// ```text
/// Requested ─approve (another admin)→ Approved ─code used→ Used
///     └─reject→ Rejected                 ├─5 wrong codes→ Locked
///                                        └─code expires→ Expired
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecoveryState {
    /// Waiting for a second KMC administrator.
    Requested = 1,
    /// Approved; the authorization code was mailed and works until it expires.
    Approved = 2,
    /// The holder recovered the key; the code is spent.
    Used = 3,
    /// A KMC administrator refused it.
    Rejected = 4,
    /// The authorization code expired unused.
    Expired = 5,
    /// Too many wrong authorization codes.
    Locked = 6,
}

impl RecoveryState {
    /// The number storage keeps for this state.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The state stored as `code`, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        [
            Self::Requested,
            Self::Approved,
            Self::Used,
            Self::Rejected,
            Self::Expired,
            Self::Locked,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// The state in words, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Requested => "waiting for a second KMC administrator",
            Self::Approved => "approved",
            Self::Used => "already used",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Locked => "locked",
        }
    }

    /// A second KMC administrator approves it.
    pub fn approve(self) -> Result<Self, TransitionError> {
        self.step(Self::Requested, Self::Approved, "approved")
    }

    /// A KMC administrator refuses it.
    pub fn reject(self) -> Result<Self, TransitionError> {
        self.step(Self::Requested, Self::Rejected, "rejected")
    }

    /// The holder used the code.
    pub fn spend(self) -> Result<Self, TransitionError> {
        self.step(Self::Approved, Self::Used, "used")
    }

    /// The code's lifetime ended.
    pub fn expire(self) -> Result<Self, TransitionError> {
        self.step(Self::Approved, Self::Expired, "expired")
    }

    /// Too many wrong codes.
    pub fn lock(self) -> Result<Self, TransitionError> {
        self.step(Self::Approved, Self::Locked, "locked")
    }

    fn step(self, from: Self, to: Self, action: &'static str) -> Result<Self, TransitionError> {
        if self == from {
            Ok(to)
        } else {
            Err(TransitionError {
                what: "key recovery",
                from: self.label(),
                action,
            })
        }
    }
}

/// A recovery request before the store numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecovery {
    /// The encryption certificate whose key is recovered (serial, upper-case hex).
    pub encryption_serial: String,
    /// The holder's e-mail, where the code goes.
    pub email: String,
    /// The holder's name.
    pub holder_name: String,
    /// The KMC administrator who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: SystemTime,
    /// Why (free text, for the audit trail).
    pub reason: String,
}

impl NewRecovery {
    /// The stored recovery request this becomes under `id`: `Requested`, version 1
    /// (for stores).
    pub fn into_recovery(self, id: RecoveryId) -> Recovery {
        Recovery {
            id,
            encryption_serial: self.encryption_serial,
            email: self.email,
            holder_name: self.holder_name,
            requested_by: self.requested_by,
            requested_at: self.requested_at,
            reason: self.reason,
            state: RecoveryState::Requested,
            decided_by: None,
            code: None,
            code_expires: None,
            failed_attempts: 0,
            version: 1,
        }
    }
}

/// A stored recovery request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Its number.
    pub id: RecoveryId,
    /// The encryption certificate whose key is recovered.
    pub encryption_serial: String,
    /// The holder's e-mail.
    pub email: String,
    /// The holder's name.
    pub holder_name: String,
    /// The KMC administrator who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: SystemTime,
    /// Why.
    pub reason: String,
    /// Where it stands.
    pub state: RecoveryState,
    /// The KMC administrator who approved or rejected it.
    pub decided_by: Option<String>,
    /// The authorization code's hash (never the code).
    pub code: Option<CodeHash>,
    /// When the code stops working.
    pub code_expires: Option<SystemTime>,
    /// Wrong codes so far.
    pub failed_attempts: u8,
    /// Compare-and-set version, bumped by every update.
    pub version: u64,
}
