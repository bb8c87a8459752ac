//! Key recovery requests: created by one KMC administrator, approved by another,
//! then used once by the holder with a mailed authorization code.

use std::time::SystemTime;

use crate::{
    certificate::hex_lower, error::KmcError, error::TransitionError, random::RandomSource,
    secret::CodeHash,
};

/// A recovery request's public identifier: 128 random bits, written as 32
/// lower-case hex digits in URLs, forms, the API and the authorization code, so
/// that no one can name a recovery they were not told about.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecoveryId([u8; 16]);

impl RecoveryId {
    /// A fresh identifier from `random`.
    pub fn generate(random: &dyn RandomSource) -> Result<Self, KmcError> {
        let mut bytes = [0u8; 16];
        random.fill(&mut bytes).map_err(|_| KmcError::Random)?;
        Ok(Self(bytes))
    }

    /// The identifier written as 32 hex digits (either case), if `text` is one.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// The identifier as 32 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }
}

impl std::fmt::Display for RecoveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for RecoveryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryId({})", self.to_hex())
    }
}

/// An authorization code as mailed: the recovery's identifier, then the secret in
/// groups of four (`<32 hex digits>-7KQ4-M9XD-2PRT`), so that a wrong secret
/// still counts against its recovery.
#[derive(Debug)]
pub struct RecoveryCode<'a> {
    /// The recovery the code names.
    pub recovery: RecoveryId,
    /// The secret part, as typed.
    pub secret: &'a str,
}

impl<'a> RecoveryCode<'a> {
    /// Splits a typed code; `None` if it is not `identifier-secret`.
    pub fn parse(code: &'a str) -> Option<Self> {
        let (id, secret) = code.trim().split_once('-')?;
        let secret = secret.trim();
        if secret.is_empty() {
            return None;
        }
        Some(Self {
            recovery: RecoveryId::parse(id)?,
            secret,
        })
    }

    /// The code text for a recovery and a secret.
    pub fn format(recovery: RecoveryId, secret: &str) -> String {
        format!("{recovery}-{secret}")
    }
}

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

/// A recovery request before the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecovery {
    /// Its public identifier, drawn at random by the KMC.
    pub id: RecoveryId,
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
    /// The stored recovery request this becomes: `Requested`, version 1 (for
    /// stores).
    pub fn into_recovery(self) -> Recovery {
        Recovery {
            id: self.id,
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
    /// Its public identifier.
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
    /// Authorization codes tried so far (each counted before it is checked).
    pub failed_attempts: u8,
    /// Compare-and-set version, bumped by every update.
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn recovery_ids_are_random_128_bit_hex_and_codes_name_them() {
        let a = RecoveryId::generate(&OsRandom).unwrap();
        let b = RecoveryId::generate(&OsRandom).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_hex().len(), 32);
        assert_eq!(RecoveryId::parse(&a.to_hex().to_uppercase()), Some(a));
        for bad in [
            "",
            "1",
            "17",
            &a.to_hex()[1..],
            "zz".repeat(16).as_str(),
            "é".repeat(16).as_str(),
        ] {
            assert_eq!(RecoveryId::parse(bad), None, "{bad}");
        }
        let text = RecoveryCode::format(a, "7KQ4-M9XD-2PRT");
        let code = RecoveryCode::parse(&text).unwrap();
        assert_eq!((code.recovery, code.secret), (a, "7KQ4-M9XD-2PRT"));
        assert!(
            RecoveryCode::parse("12-7KQ4-M9XD-2PRT").is_none(),
            "old numbers"
        );
        assert!(RecoveryCode::parse(&format!("{a}-")).is_none());
    }
}
