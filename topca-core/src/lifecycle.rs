//! The states and kinds of the RA's objects, as enums with explicit numbers (the
//! numbers are what storage keeps) and state changes as methods returning `Result`.

use crate::error::TransitionError;

/// Declares `code()` and `from_code()` for an enum with explicit discriminants.
macro_rules! coded {
    ($name:ident { $($variant:ident),+ $(,)? }) => {
        impl $name {
            /// The number storage keeps for this value.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The value stored as `code`, if it is one.
            pub fn from_code(code: u8) -> Option<Self> {
                [$(Self::$variant),+].into_iter().find(|v| *v as u8 == code)
            }
        }
    };
}

/// What an account issues (manual: 单证书 / 双证书).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateType {
    /// One signing certificate.
    Single = 1,
    /// A signing certificate plus an encryption certificate whose key the KMC
    /// generates and escrows.
    Dual = 2,
}
coded!(CertificateType { Single, Dual });

/// What an issued certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateUsage {
    /// A user's signing certificate (the only one of a single account).
    Signing = 1,
    /// A user's encryption certificate, whose key the KMC escrows.
    Encryption = 2,
    /// A server (TLS) certificate.
    Server = 3,
    /// A delegated OCSP responder's certificate.
    OcspResponder = 4,
    /// The TopCA server's own TLS certificate, issued at its start.
    OwnTls = 5,
}
coded!(CertificateUsage {
    Signing,
    Encryption,
    Server,
    OcspResponder,
    OwnTls
});

/// How an account's requests are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerificationMode {
    /// Automatic (AA): approved as soon as submitted.
    Automatic = 1,
    /// An RA administrator approves or rejects each request.
    Manual = 2,
    /// The RA pre-registers holders; each receives a reference number and an
    /// authorization code and retrieves without waiting.
    Passcode = 3,
}
coded!(VerificationMode {
    Automatic,
    Manual,
    Passcode
});

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A new user certificate (申请).
    Application = 1,
    /// Renewal of a certificate close to expiry (更新).
    Renewal = 2,
    /// Replacement of a lost or damaged certificate with the same holder and end date (替换).
    Replacement = 3,
    /// A server certificate from a CSR.
    ServerApplication = 4,
}
coded!(RequestKind {
    Application,
    Renewal,
    Replacement,
    ServerApplication
});

/// Where a request stands.
///
/// ```text
/// AwaitingConfirmation ─confirm→ Submitted ─approve→ Approved ─retrieve→ Issued
///   (replacements: link mailed)       │                  ├─PIN expires→ Expired
///                                     └─reject→ Rejected └─(Locked ─RA unlock→ Approved)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Waiting for the RA.
    Submitted = 1,
    /// Approved; a PIN was issued and the certificate can be retrieved.
    Approved = 2,
    /// The certificate was issued.
    Issued = 3,
    /// The RA refused it.
    Rejected = 4,
    /// The PIN expired before retrieval.
    Expired = 5,
    /// Locked by too many wrong attempts under earlier versions, which locked a
    /// request for everyone; lockouts are now per source and expire, and an RA
    /// administrator unlocks requests left in this state.
    Locked = 6,
    /// A replacement whose confirmation link has been mailed but not yet used.
    AwaitingConfirmation = 7,
}
coded!(RequestState {
    Submitted,
    Approved,
    Issued,
    Rejected,
    Expired,
    Locked,
    AwaitingConfirmation,
});

impl RequestState {
    /// The state in words, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Submitted => "waiting for approval",
            Self::Approved => "approved",
            Self::Issued => "already issued",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Locked => "locked",
            Self::AwaitingConfirmation => "waiting for its confirmation link to be used",
        }
    }

    /// The holder confirmed a replacement through the mailed link and chose what to revoke.
    pub fn confirm(self) -> Result<Self, TransitionError> {
        self.step(Self::AwaitingConfirmation, Self::Submitted, "confirmed")
    }

    /// The RA approves the request.
    pub fn approve(self) -> Result<Self, TransitionError> {
        self.step(Self::Submitted, Self::Approved, "approved")
    }

    /// The RA rejects the request.
    pub fn reject(self) -> Result<Self, TransitionError> {
        self.step(Self::Submitted, Self::Rejected, "rejected")
    }

    /// The certificate is issued on retrieval.
    pub fn issue(self) -> Result<Self, TransitionError> {
        self.step(Self::Approved, Self::Issued, "retrieved")
    }

    /// An RA administrator unlocks a locked request of `kind`: a replacement
    /// waits for its confirmation link again, anything else is approved again.
    pub fn unlock(self, kind: RequestKind) -> Result<Self, TransitionError> {
        let to = if kind == RequestKind::Replacement {
            Self::AwaitingConfirmation
        } else {
            Self::Approved
        };
        self.step(Self::Locked, to, "unlocked")
    }

    /// The PIN's or the confirmation link's lifetime ended.
    pub fn expire(self) -> Result<Self, TransitionError> {
        self.step(Self::Approved, Self::Expired, "expired")
            .or_else(|_| self.step(Self::AwaitingConfirmation, Self::Expired, "expired"))
    }

    fn step(self, from: Self, to: Self, action: &'static str) -> Result<Self, TransitionError> {
        if self == from {
            Ok(to)
        } else {
            Err(TransitionError {
                what: "request",
                from: self.label(),
                action,
            })
        }
    }
}

/// Why a certificate was revoked: RFC 5280 §5.3.1 CRLReason (value 7 is unused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// unspecified (0).
    Unspecified = 0,
    /// keyCompromise (1).
    KeyCompromise = 1,
    /// cACompromise (2).
    CaCompromise = 2,
    /// affiliationChanged (3).
    AffiliationChanged = 3,
    /// superseded (4).
    Superseded = 4,
    /// cessationOfOperation (5).
    CessationOfOperation = 5,
    /// certificateHold (6).
    CertificateHold = 6,
    /// removeFromCRL (8), delta CRLs only.
    RemoveFromCrl = 8,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn = 9,
    /// aACompromise (10).
    AaCompromise = 10,
}
coded!(RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
});

impl RevocationReason {
    /// The reasons a certificate holder may give (manual 2.7: the user picks one).
    pub const FOR_HOLDERS: [Self; 5] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
    ];

    /// The reason in English.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unspecified => "Unspecified",
            Self::KeyCompromise => "Key compromise",
            Self::CaCompromise => "CA compromise",
            Self::AffiliationChanged => "Affiliation changed",
            Self::Superseded => "Superseded",
            Self::CessationOfOperation => "Cessation of operation",
            Self::CertificateHold => "Certificate hold",
            Self::RemoveFromCrl => "Remove from CRL",
            Self::PrivilegeWithdrawn => "Privilege withdrawn",
            Self::AaCompromise => "AA compromise",
        }
    }

    /// The reason in Chinese.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unspecified => "未指定",
            Self::KeyCompromise => "密钥泄露",
            Self::CaCompromise => "CA 泄露",
            Self::AffiliationChanged => "隶属关系改变",
            Self::Superseded => "证书被取代",
            Self::CessationOfOperation => "停止使用",
            Self::CertificateHold => "证书冻结",
            Self::RemoveFromCrl => "从 CRL 中删除",
            Self::PrivilegeWithdrawn => "权限撤销",
            Self::AaCompromise => "AA 泄露",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for state in [
            RequestState::Submitted,
            RequestState::Approved,
            RequestState::Issued,
            RequestState::Rejected,
            RequestState::Expired,
            RequestState::Locked,
        ] {
            assert_eq!(RequestState::from_code(state.code()), Some(state));
        }
        assert_eq!(RequestState::from_code(0), None);
        assert_eq!(RevocationReason::from_code(7), None);
        assert_eq!(
            RevocationReason::from_code(1),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            VerificationMode::from_code(3),
            Some(VerificationMode::Passcode)
        );
        assert_eq!(CertificateType::Dual.code(), 2);
        assert_eq!(
            RequestKind::from_code(4),
            Some(RequestKind::ServerApplication)
        );
    }

    #[test]
    fn a_request_moves_only_along_its_lifecycle() {
        let approved = RequestState::Submitted.approve().unwrap();
        assert_eq!(approved.issue(), Ok(RequestState::Issued));
        assert!(approved.unlock(RequestKind::Application).is_err());
        assert_eq!(
            RequestState::Locked.unlock(RequestKind::Renewal),
            Ok(RequestState::Approved)
        );
        assert_eq!(
            RequestState::Locked.unlock(RequestKind::Replacement),
            Ok(RequestState::AwaitingConfirmation)
        );
        assert_eq!(approved.expire(), Ok(RequestState::Expired));
        assert_eq!(RequestState::Submitted.reject(), Ok(RequestState::Rejected));
        let err = RequestState::Issued.issue().unwrap_err();
        assert_eq!(
            err.to_string(),
            "a request that is already issued cannot be retrieved"
        );
        assert_eq!(
            RequestState::Submitted.issue().unwrap_err().to_string(),
            "a request that is waiting for approval cannot be retrieved"
        );
        assert!(RequestState::Rejected.approve().is_err());
        assert!(RequestState::Locked.issue().is_err());
        assert_eq!(
            RequestState::AwaitingConfirmation.confirm(),
            Ok(RequestState::Submitted)
        );
        assert!(RequestState::AwaitingConfirmation.approve().is_err());
        assert!(RequestState::Submitted.confirm().is_err());
        assert_eq!(
            RequestState::AwaitingConfirmation.expire(),
            Ok(RequestState::Expired)
        );
        assert!(
            RequestState::AwaitingConfirmation
                .unlock(RequestKind::Replacement)
                .is_err()
        );
        assert!(RequestState::Submitted.expire().is_err());
        assert_eq!(
            RequestState::from_code(7),
            Some(RequestState::AwaitingConfirmation)
        );
    }
}
