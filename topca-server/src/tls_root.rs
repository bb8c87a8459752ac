//! The TLS root of `mode = "self"` under a CA whose signatures TLS clients cannot
//! check (SM2, Ed25519): browsers and OpenSSL's TLS stack verify RSA and NIST
//! ECDSA chains only, so the server's own certificate then comes from a
//! dedicated self-signed P-256 "TopCA TLS Root" used for nothing else. It is made
//! on first start, its certificate kept in `ca/tls-root.pem` and published at
//! [`TLS_ROOT_PATH`], its key in `ca/tls-root.key` encrypted (PKCS#8, PBES2) with
//! the CA passphrase like the CA keys. Under an RSA, P-256 or P-384 CA the CA
//! itself issues the TLS certificate and there is no TLS root.

use std::{path::Path, sync::Arc, time::SystemTime};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use topca_core::{
    Certificate, CertificateAuthority, DistinguishedName, Environment, KeyAlgorithm, OsRandom,
    Profile, ProfileKind, SigningKey,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    profile::CaUrls,
    store::AuditStore,
};

use crate::{
    AppError, AppState,
    files::{read, write},
    setup::SetupError,
};

/// Where the TLS root's certificate is published (PEM).
pub const TLS_ROOT_PATH: &str = "/TopCA/ca/tls-root.pem";

/// Whether TLS clients verify certificates `ca` signs: RSA, P-256 and P-384 CAs.
pub fn ca_signs_for_tls(ca: &CertificateAuthority) -> bool {
    let kind = ca.key().public_key().kind();
    KeyAlgorithm::ALL
        .into_iter()
        .find(|a| a.kind() == kind)
        .is_some_and(|a| {
            matches!(
                a,
                KeyAlgorithm::Rsa2048
                    | KeyAlgorithm::Rsa3072
                    | KeyAlgorithm::Rsa4096
                    | KeyAlgorithm::EcdsaP256
                    | KeyAlgorithm::EcdsaP384
            )
        })
}

/// The TLS root of the data directory `dir`, made (and audited in `store`) on
/// first use; its key is sealed with `passphrase`.
pub fn load_or_create(
    dir: &Path,
    passphrase: &str,
    store: &impl AuditStore,
) -> Result<CertificateAuthority, SetupError> {
    let certificate_path = dir.join("ca").join("tls-root.pem");
    let key_path = dir.join("ca").join("tls-root.key");
    if certificate_path.exists() && key_path.exists() {
        let certificate =
            Certificate::from_pem(&read(&certificate_path)?).map_err(topca_core::Error::from)?;
        let key = SigningKey::from_pkcs8_pem(&read(&key_path)?, Some(passphrase))
            .map_err(topca_core::Error::from)?;
        return Ok(CertificateAuthority::from_parts(
            key,
            certificate,
            Vec::new(),
            CaUrls::default(),
            Environment::system(),
        )?);
    }
    let root = CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom)
            .map_err(topca_core::Error::from)?,
        &DistinguishedName::with_common_name("TopCA TLS Root")
            .country("CN")
            .organization("TopCA"),
        &Profile::new(ProfileKind::RootCa, 10 * 365).map_err(topca_core::Error::from)?,
        Environment::system(),
    )?;
    // The key first: a certificate without its key would be useless on restart.
    write(
        &key_path,
        root.key()
            .to_encrypted_pkcs8_pem(passphrase, &OsRandom)
            .map_err(topca_core::Error::from)?,
    )?;
    write(&certificate_path, root.certificate().to_pem())?;
    store
        .append_audit(AuditRecord {
            at: SystemTime::now(),
            actor: Actor::System,
            action: AuditAction::CaCreated,
            target: root.certificate().subject_text(),
            outcome: Outcome::Success,
            detail: format!(
                "P-256 root for the server's own TLS certificate only, SHA-256 {}",
                root.certificate().sha256_fingerprint()
            ),
        })
        .map_err(topca_core::Error::from)?;
    Ok(root)
}

/// The route of the TLS root's certificate.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(TLS_ROOT_PATH, get(tls_root_pem))
}

async fn tls_root_pem(State(state): State<Arc<AppState>>) -> Response {
    match &state.tls_root {
        Some(root) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            root.certificate().to_pem(),
        )
            .into_response(),
        None => AppError::new(
            StatusCode::NOT_FOUND,
            "this server has no separate TLS root: its TLS certificate comes from the CA chain (/TopCA/ca/chain.pem) or from the operator's files",
        )
        .into_response(),
    }
}
