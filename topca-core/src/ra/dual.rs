//! The encryption half of a dual certificate pair (双证书): at retrieval the KMC
//! generates the encryption key pair, the CA certifies it, the key is escrowed
//! (sealed under the KMC master key) and delivered enveloped to the holder's
//! signing key (SPEC §5).

use std::time::SystemTime;

use crate::{
    algorithm::KeyAlgorithm,
    ca::{CertificateAuthority, IssueRequest},
    certificate::Certificate,
    error::{Error, KmcError, RaError},
    issuance::{Requester, sign_recorded},
    key::{PublicKey, SigningKey},
    kmc::{EnvelopeFormat, EnvelopedKey, MasterKey},
    name::{DistinguishedName, SubjectAltNames},
    profile::{Profile, ProfileKind},
    ra::Account,
    store::{EscrowRecord, IssuanceStore},
};

/// The encryption certificate of a dual pair and its private key, enveloped for
/// the holder's signing key.
#[derive(Debug, Clone)]
pub struct EncryptionDelivery {
    /// The encryption certificate.
    pub certificate: Certificate,
    /// The encryption private key, openable only with the signing private key.
    pub enveloped_key: EnvelopedKey,
}

/// What a retrieval issued: the signing certificate, and for a dual account the
/// encryption certificate with its enveloped key. Both serials are shown to the holder.
#[derive(Debug, Clone)]
pub struct Retrieved {
    /// The signing certificate (the only one of a single account).
    pub certificate: Certificate,
    /// The encryption half, for a dual account.
    pub encryption: Option<EncryptionDelivery>,
}

/// Checks, before anything is issued, that a dual pair can be made for a signing
/// key of `signing`: the KMC is configured and the key can receive an envelope.
pub(super) fn check_dual(
    kmc: Option<&MasterKey>,
    account: &Account,
    signing: &PublicKey,
) -> Result<(), Error> {
    if kmc.is_none() {
        return Err(RaError::KmcNotConfigured.into());
    }
    let format = EnvelopeFormat::for_signing_key(signing.kind()).ok_or(KmcError::UnsuitableKey(
        "dual certificates need an RSA, ECDSA or SM2 signing key",
    ))?;
    let sm2_account = account.settings.algorithm == KeyAlgorithm::Sm2;
    if format == EnvelopeFormat::Sm2EnvelopedKey && !sm2_account {
        return Err(KmcError::UnsuitableKey(
            "an SM2 signing key receives an SM2 encryption key, but this account uses another algorithm",
        )
        .into());
    }
    Ok(())
}

/// The encryption half made for one retrieval, ready to be stored with it.
pub(super) struct EncryptionHalf {
    pub delivery: EncryptionDelivery,
    pub escrow: EscrowRecord,
}

/// Generates the encryption key pair, certifies it with the holder's `subject`
/// (recorded in `store` before it is signed), seals it for escrow and envelopes
/// it for `signing`.
pub(super) fn make_encryption_half(
    (ca, store): (&CertificateAuthority, &dyn IssuanceStore),
    master: &MasterKey,
    account: &Account,
    (subject, requester): (DistinguishedName, &Requester),
    email: &str,
    signing: &Certificate,
    not_after: Option<SystemTime>,
) -> Result<EncryptionHalf, Error> {
    let env = ca.environment();
    let key = SigningKey::generate(account.settings.algorithm, env.random())?;
    let certificate = sign_recorded(
        ca,
        store,
        IssueRequest {
            subject,
            public_key: key.public_key().clone(),
            alt_names: SubjectAltNames::default(),
            not_after,
        },
        &Profile::new(ProfileKind::UserEncryption, account.settings.validity_days)?,
        requester,
    )?;
    let serial = certificate.serial_hex();
    let sealed = master.seal(&key, &serial, env.random())?;
    let enveloped_key = EnvelopedKey::seal(&key, signing, env.random())?;
    Ok(EncryptionHalf {
        escrow: EscrowRecord {
            encryption_serial: serial,
            signing_serial: signing.serial_hex(),
            email: email.to_owned(),
            key: sealed,
            escrowed_at: env.clock().now(),
        },
        delivery: EncryptionDelivery {
            certificate,
            enveloped_key,
        },
    })
}
