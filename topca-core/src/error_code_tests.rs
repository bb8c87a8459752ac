//! Every error variant has a listed code and a Chinese message.

use super::*;
use crate::error::TransitionError;

/// One value of every variant, so a new variant without a listed code fails.
fn one_of_each() -> Vec<Error> {
    let keys = || {
        vec![
            KeyError::UnknownAlgorithm("x".into()),
            KeyError::UnsupportedAlgorithm("x".into()),
            KeyError::RsaKeySize(1024),
            KeyError::RsaExponent,
            KeyError::Malformed("RSA"),
            KeyError::Pkcs8,
            KeyError::Decryption,
            KeyError::Encryption,
            KeyError::Generation,
            KeyError::Signing,
            KeyError::BadSignature,
            KeyError::CertificateKeyMismatch,
            KeyError::AlgorithmMismatch {
                signature: "a".into(),
                key: "b".into(),
            },
            KeyError::Pkcs11Uri("x".into()),
            KeyError::Pkcs11Module("x".into()),
            KeyError::TokenNotFound("x".into()),
            KeyError::PinMissing("x".into()),
            KeyError::WrongPin,
            KeyError::PinLocked,
            KeyError::KeyNotFound("x".into()),
            KeyError::TooManySessions(8),
            KeyError::TokenLost("x".into()),
            KeyError::Pkcs11("x".into()),
            KeyError::NotExportable,
            KeyError::NotSensitive,
        ]
    };
    let mut all: Vec<Error> = keys().into_iter().map(Error::Key).collect();
    all.extend(
        [
            CsrError::Malformed,
            CsrError::Version,
            CsrError::BadSignature,
            CsrError::Key(KeyError::RsaExponent),
            CsrError::Extensions,
        ]
        .map(Error::Csr),
    );
    all.extend(
        [
            NameError::Missing("CN"),
            NameError::TooLong {
                attribute: "CN",
                max: 64,
            },
            NameError::Country,
            NameError::Email("x".into()),
            NameError::ControlCharacter("CN"),
            NameError::AltName("x".into()),
        ]
        .map(Error::Name),
    );
    all.extend(
        [
            PolicyError::Validity { max_days: 1 },
            PolicyError::EmptyValidity,
            PolicyError::IssuerNotValid,
            PolicyError::KeyNotAllowed {
                key: "k".into(),
                profile: "p",
            },
            PolicyError::NoServerName,
            PolicyError::PathLength,
            PolicyError::Url("u".into()),
            PolicyError::WrongProfile {
                expected: "a",
                given: "b",
            },
            PolicyError::PostIssuanceCheck,
            PolicyError::TemplateCheck,
            PolicyError::RsaExponent { exponent: 3 },
            PolicyError::NameNotAllowed {
                name: "n".into(),
                reason: NameRefusal::Wildcard,
            },
            PolicyError::TooManyNames { count: 2, max: 1 },
        ]
        .map(Error::Policy),
    );
    let der_error = der::Error::from(der::ErrorKind::Failed);
    all.extend(
        [
            EncodingError::Certificate(der_error),
            EncodingError::Pkcs7(der_error),
            EncodingError::Der(der_error),
            EncodingError::Crl("c".into()),
        ]
        .map(Error::Encoding),
    );
    all.extend(
        [
            SecretError::PasswordTooShort { min: 8 },
            SecretError::PasswordTooLong { max: 8 },
            SecretError::Hashing,
            SecretError::Random,
        ]
        .map(Error::Secret),
    );
    all.extend(
        [
            AuditError::Altered { sequence: 1 },
            AuditError::Broken { sequence: 1 },
            AuditError::Truncated {
                sequence: 1,
                head: 2,
            },
            AuditError::Rewritten {
                sequence: 1,
                head: 2,
            },
            AuditError::CheckpointForged { sequence: 1 },
            AuditError::CheckpointUnreadable,
        ]
        .map(Error::Audit),
    );
    all.push(Error::Transition(TransitionError {
        what: "request",
        from: "issued",
        action: "approved",
    }));
    all.extend(
        [
            RaError::WrongLogin,
            RaError::NoSession,
            RaError::CertificateLoginRefused("x"),
            RaError::UnknownAdmin,
            RaError::OwnSuperRole,
            RaError::OwnAccount,
            RaError::KmcNotConfigured,
            RaError::UnknownAccount,
            RaError::ClientTokenRefused,
            RaError::UnknownClient,
            RaError::UnknownCredential,
            RaError::ProfileNotAllowed,
            RaError::UnknownRequest,
            RaError::InvalidField {
                field: "f",
                problem: "p".into(),
            },
            RaError::WrongPinOrPassword { attempts_left: 1 },
            RaError::Locked,
            RaError::PinExpired,
            RaError::WrongState("issued"),
            RaError::ServerNeedsApproval,
            RaError::AgreementNotAccepted,
            RaError::OrganizationFixed,
            RaError::NotRenewable { days: 30 },
            RaError::NotPermitted("ra"),
            RaError::NotPasscodeAccount,
            RaError::UnknownCertificate,
            RaError::AlreadyRevoked,
            RaError::WrongPassword,
            RaError::ReasonNotAllowed,
            RaError::AlreadyRegistered,
            RaError::BulkNeedsSingle,
        ]
        .map(Error::Ra),
    );
    all.extend(
        [
            StoreError::Conflict,
            StoreError::DuplicateSerial("1".into()),
            StoreError::NotFound,
            StoreError::AlreadyRevoked("1".into()),
            StoreError::NotReserved("1".into()),
            StoreError::TbsMismatch("1".into()),
            StoreError::Backend("b".into()),
        ]
        .map(Error::Store),
    );
    all.extend(
        [
            MailError::Refused("a".into()),
            MailError::Unreachable("a".into()),
            MailError::Outbox("a".into()),
        ]
        .map(Error::Mail),
    );
    all.extend(
        [
            KmcError::WrongMasterKey,
            KmcError::Damaged,
            KmcError::Random,
            KmcError::UnsuitableKey("x"),
            KmcError::NotEscrowed,
            KmcError::UnknownRecovery,
            KmcError::NotAnAgent("x"),
            KmcError::AgentQuarantined { until: "t".into() },
            KmcError::CodeNotMailed,
            KmcError::SameAdministrator,
            KmcError::RecoveryState("x"),
            KmcError::WrongCode { attempts_left: 1 },
            KmcError::CodeUsed,
            KmcError::CodeExpired,
            KmcError::RecoveryLocked,
            KmcError::NotHoldersSigningCertificate,
            KmcError::Token("x".into()),
        ]
        .map(Error::Kmc),
    );
    all.push(Error::Random);
    all
}

#[test]
fn every_variant_has_a_listed_code_and_every_listed_code_is_used() {
    let errors = one_of_each();
    let used: std::collections::BTreeSet<&str> = errors.iter().map(Error::code).collect();
    for code in &used {
        assert!(CODES.contains(code), "{code} is not in CODES");
    }
    for code in CODES {
        assert!(
            used.contains(code),
            "{code} is listed but no variant has it"
        );
    }
    let unique: std::collections::BTreeSet<&str> = CODES.iter().copied().collect();
    assert_eq!(unique.len(), CODES.len(), "a code is listed twice");
}

#[test]
fn codes_are_snake_case_ascii() {
    for code in CODES {
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{code}"
        );
    }
}

#[test]
fn every_variant_has_a_chinese_message() {
    for error in one_of_each() {
        let zh = error.message_zh();
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{} has no Chinese message: {zh}",
            error.code()
        );
    }
}
