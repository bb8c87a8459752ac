//! HTTPS for the server itself: the rustls configuration (aws-lc-rs provider)
//! that [`crate::serve`] handshakes with, the certificate from PEM files or issued
//! at each start by the server's own CA (its key then lives in memory only).
//!
//! Clients may present a certificate (optional client authentication): the
//! handshake proves possession of its key, and the certificate reaches the
//! handlers as [`Peer::certificate`]. Whether it is acceptable — issued by this
//! CA, valid, not revoked, bound to an administrator — is decided at log-in by
//! `topca_core::ra::admin::login_with_certificate`, which also checks SM2-signed
//! certificates that TLS libraries cannot. The client's own key must be RSA,
//! ECDSA or Ed25519 (TLS has no SM2 signature schemes here).

use std::{net::SocketAddr, sync::Arc};

use rustls::{
    DigitallySignedStruct, DistinguishedName as HintName, ServerConfig, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};
use topca_core::{
    CertificateAuthority, DistinguishedName, IssueRequest, KeyAlgorithm, OsRandom, Profile,
    ProfileKind, SigningKey, SubjectAltNames, audit::Actor, issuance::issue_unattached,
    lifecycle::CertificateUsage,
};

use crate::{AppState, setup::SetupError};

/// Where the server's TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Plain HTTP (behind a TLS proxy, or on loopback).
    Off,
    /// A certificate chain and its PKCS#8 key, PEM files.
    Files {
        /// The chain, leaf first.
        certificate: std::path::PathBuf,
        /// The private key (PKCS#8, unencrypted PEM, readable by the server only).
        key: std::path::PathBuf,
    },
    /// Issued at each start for `host` by the server's own CA, or under a CA TLS
    /// clients cannot verify by its TLS root ([`crate::tls_root`]); the key
    /// never touches the disk.
    SelfIssued,
}

/// The rustls configuration for `source`; `None` for plain HTTP. A self-issued
/// certificate for `host` comes from the state's TLS root when it has one (see
/// [`crate::tls_root`]), else from the CA, and is recorded before it is signed,
/// then stored and audited like any certificate.
pub fn server_config(
    source: &TlsSource,
    state: &AppState,
    host: &str,
) -> Result<Option<Arc<ServerConfig>>, SetupError> {
    let ca = &state.ca;
    let (chain, key) = match source {
        TlsSource::Off => return Ok(None),
        TlsSource::Files { certificate, key } => {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let files = crate::tls_reload::FileCertificate::load(
                certificate.clone(),
                key.clone(),
                provider,
            )
            .map(Arc::new)
            .map_err(SetupError::Usage)?;
            // Reloaded on SIGHUP and when the files change (within a runtime).
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(crate::tls_reload::watch(Arc::downgrade(&files)));
            }
            return with_resolver(ca, files).map(Some);
        }
        TlsSource::SelfIssued => {
            // rustls serves ECDSA, RSA and Ed25519 keys: the server key is P-256
            // whatever the CA's algorithm.
            let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom)
                .map_err(topca_core::Error::from)?;
            let mut names = SubjectAltNames::default();
            names.add_host(host).map_err(topca_core::Error::from)?;
            let issuer = state.tls_root.as_ref().unwrap_or(ca);
            let certificate = issue_unattached(
                issuer,
                &state.store,
                IssueRequest {
                    subject: DistinguishedName::with_common_name(host),
                    public_key: key.public_key().clone(),
                    alt_names: names,
                    not_after: None,
                },
                &Profile::new(ProfileKind::TlsServer, 90).map_err(topca_core::Error::from)?,
                CertificateUsage::OwnTls,
                (
                    Actor::System,
                    format!(
                        "the server's own TLS certificate for {host}, issued by {}",
                        issuer.certificate().subject_text()
                    ),
                ),
            )?;
            let chain = std::iter::once(&certificate)
                .chain(issuer.chain())
                .map(|c| CertificateDer::from(c.der().to_vec()))
                .collect();
            let pkcs8 = key.to_pkcs8_der().map_err(topca_core::Error::from)?;
            (
                chain,
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec())),
            )
        }
    };
    let resolver = rustls::sign::CertifiedKey::from_der(
        chain,
        key,
        &rustls::crypto::aws_lc_rs::default_provider(),
    )
    .map_err(|e| {
        SetupError::Usage(format!(
            "the TLS certificate and key do not work together: {e}"
        ))
    })?;
    with_resolver(ca, Arc::new(crate::tls_reload::Fixed(Arc::new(resolver)))).map(Some)
}

/// The configuration serving the certificate `resolver` gives.
fn with_resolver(
    ca: &CertificateAuthority,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, SetupError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let client_auth = Arc::new(OptionalClientCertificate {
        hints: vec![HintName::from(ca.certificate().subject_der()?)],
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_client_cert_verifier(client_auth)
                .with_cert_resolver(resolver)
        })
        .map_err(|e| SetupError::Usage(format!("TLS cannot be set up: {e}")))?;
    Ok(Arc::new(config))
}

/// Asks for a client certificate without requiring one, and checks only the
/// handshake signature (possession of the key); see the module documentation.
#[derive(Debug)]
struct OptionalClientCertificate {
    /// The issuing CA's subject, so clients offer certificates from it.
    hints: Vec<HintName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for OptionalClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[HintName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Accepted for the connection only; log-in decides whether it counts.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Who is on the other end of a connection: the address, and the certificate the
/// client presented in the TLS handshake, if any.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The client certificate (DER), whose key the handshake proved.
    pub certificate: Option<Vec<u8>>,
}

/// The TLS channel binding of a connection (RFC 9266 `tls-exporter`: 32 bytes
/// exported with the label `EXPORTER-Channel-Binding` and no context), which an
/// EST client may put in its CSR's challengePassword (RFC 7030 §3.5).
#[derive(Debug, Clone, Copy)]
pub struct ChannelBinding(pub [u8; 32]);

impl ChannelBinding {
    /// The binding of `connection`, once its handshake is complete.
    pub fn of(connection: &rustls::ServerConnection) -> Option<Self> {
        connection
            .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
            .ok()
            .map(Self)
    }
}
