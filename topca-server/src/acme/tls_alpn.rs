//! tls-alpn-01 (RFC 8737): the validator opens TLS to the identifier (port
//! 443) offering only the ALPN protocol `acme-tls/1`, with the name as SNI,
//! and takes the self-signed certificate it is shown only if `acme-tls/1`
//! was chosen, its subjectAltName is exactly that one DNS name, and its
//! critical acmeIdentifier extension holds the SHA-256 digest of the key
//! authorization. The certificate's chain is not checked (it is self-signed
//! by design); the handshake's signature is (TLS 1.3).

use std::sync::Arc;

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime},
};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

/// The ALPN protocol of the challenge.
const ACME_TLS: &[u8] = b"acme-tls/1";
/// The acmeIdentifier extension (id-pe-acmeIdentifier).
const ACME_IDENTIFIER: &str = "1.3.6.1.5.5.7.1.31";
/// The subjectAltName extension.
const SUBJECT_ALT_NAME: &str = "2.5.29.17";

/// Takes any certificate (checked afterwards), but checks the handshake's
/// signatures with it.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "tls-alpn-01 is validated over TLS 1.3".into(),
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The challenge certificate has a critical extension WebPKI does not
        // know, so its key is taken from it directly.
        let key = topca_core::Certificate::from_der(cert.as_ref())
            .ok()
            .and_then(|c| c.public_key().ok())
            .ok_or(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            ))?;
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(key.spki_der()),
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects to `name` on `port` and checks the certificate it shows for
/// `key_authorization`: `Err` says what is wrong.
pub(super) async fn check(name: &str, port: u16, key_authorization: &str) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS.to_vec()];
    let server_name =
        ServerName::try_from(name.to_owned()).map_err(|_| format!("{name:?} is not a DNS name"))?;
    let tcp = TcpStream::connect((name, port))
        .await
        .map_err(|e| format!("could not connect to {name}:{port}: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("{name}:{port}: TLS: {e}"))?;
    let (_, connection) = tls.get_ref();
    if connection.alpn_protocol() != Some(ACME_TLS) {
        return Err(format!("{name}:{port} did not choose ALPN acme-tls/1"));
    }
    let der = connection
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| format!("{name}:{port} showed no certificate"))?;
    let expected = Sha256::digest(key_authorization.as_bytes());
    certificate_fits(der.as_ref(), name, &expected)
}

/// Whether the certificate `der` is a challenge certificate for `name`
/// whose acmeIdentifier is `digest`.
fn certificate_fits(der: &[u8], name: &str, digest: &[u8]) -> Result<(), String> {
    let certificate = topca_core::Certificate::from_der(der)
        .map_err(|_| "the certificate shown does not parse".to_owned())?;
    let extensions = certificate
        .x509()
        .tbs_certificate()
        .extensions()
        .map(|all| all.as_slice())
        .unwrap_or_default();
    let find = |oid: &str| {
        extensions
            .iter()
            .find(|e| e.extn_id.to_string() == oid)
            .map(|e| (e.critical, e.extn_value.as_bytes()))
    };
    let mut want = vec![0x04, 0x20];
    want.extend_from_slice(digest);
    match find(ACME_IDENTIFIER) {
        Some((true, value)) if value == want.as_slice() => {}
        Some((false, _)) => return Err("the acmeIdentifier extension is not critical".to_owned()),
        Some(_) => {
            return Err(
                "the acmeIdentifier extension does not hold the key authorization's digest"
                    .to_owned(),
            );
        }
        None => return Err("the certificate has no acmeIdentifier extension".to_owned()),
    }
    // SEQUENCE { [2] name }, short lengths (a name of at most 125 bytes).
    let length = u8::try_from(name.len())
        .ok()
        .filter(|l| *l <= 125)
        .ok_or_else(|| "the name is too long for tls-alpn-01".to_owned())?;
    let mut only = vec![0x30, length + 2, 0x82, length];
    only.extend_from_slice(name.as_bytes());
    match find(SUBJECT_ALT_NAME) {
        Some((_, value)) if value.eq_ignore_ascii_case(&only) => Ok(()),
        _ => Err(format!(
            "the certificate's subjectAltName must be exactly DNS:{name}"
        )),
    }
}
