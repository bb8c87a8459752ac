//! HTTPS for the server itself: a TLS listener for `axum::serve` (rustls on the
//! aws-lc-rs provider), with the certificate from PEM files or issued at each start
//! by the server's own CA (its key then lives in memory only).

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject},
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use topca_core::{
    CertificateAuthority, DistinguishedName, IssueRequest, KeyAlgorithm, OsRandom, Profile,
    ProfileKind, SigningKey, SubjectAltNames,
};

use crate::setup::SetupError;

/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Issued at each start by the server's own CA for `host` (the key never
    /// touches the disk).
    SelfIssued,
}

/// The rustls configuration for `source`; `None` for plain HTTP.
pub fn server_config(
    source: &TlsSource,
    ca: &CertificateAuthority,
    host: &str,
) -> Result<Option<Arc<ServerConfig>>, SetupError> {
    let (chain, key) = match source {
        TlsSource::Off => return Ok(None),
        TlsSource::Files { certificate, key } => {
            let invalid = |what: &str, path: &std::path::Path| {
                SetupError::Usage(format!("{}: not a PEM {what}", path.display()))
            };
            let chain = CertificateDer::pem_file_iter(certificate)
                .map_err(|_| invalid("certificate chain", certificate))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| invalid("certificate chain", certificate))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|_| invalid("private key", key))?;
            (chain, key)
        }
        TlsSource::SelfIssued => {
            // rustls serves ECDSA, RSA and Ed25519 keys: the server key is P-256
            // whatever the CA's algorithm.
            let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom)
                .map_err(topca_core::Error::from)?;
            let mut names = SubjectAltNames::default();
            names.add_host(host).map_err(topca_core::Error::from)?;
            let certificate = ca.issue(
                IssueRequest {
                    subject: DistinguishedName::with_common_name(host),
                    public_key: key.public_key().clone(),
                    alt_names: names,
                    not_after: None,
                },
                &Profile::new(ProfileKind::TlsServer, 90).map_err(topca_core::Error::from)?,
            )?;
            let chain = std::iter::once(&certificate)
                .chain(ca.chain())
                .map(|c| CertificateDer::from(c.der().to_vec()))
                .collect();
            let pkcs8 = key.to_pkcs8_der().map_err(topca_core::Error::from)?;
            (
                chain,
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec())),
            )
        }
    };
    let config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
    .map_err(|e| {
        SetupError::Usage(format!(
            "the TLS certificate and key do not work together: {e}"
        ))
    })?;
    Ok(Some(Arc::new(config)))
}

/// A TCP listener that hands `axum::serve` TLS streams; connections whose
/// handshake fails or stalls are dropped.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Serves TLS with `config` on `tcp`.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(config),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            if let Ok(Ok(tls)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream)).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
