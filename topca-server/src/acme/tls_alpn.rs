//! tls-alpn-01 (RFC 8737): the validator opens TLS to the identifier (port
//! 443) offering only the ALPN protocol `acme-tls/1`, with the name as SNI,
//! and takes the self-signed certificate it is shown only if `acme-tls/1`
//! was chosen, its subjectAltName is exactly that one DNS name, and its
//! critical acmeIdentifier extension holds the SHA-256 digest of the key
//! authorization. The certificate's chain is not checked (it is self-signed
//! by design); the handshake's signature is (TLS 1.3). For an IP address
//! (RFC 8738 §6) the validator connects to the address, sends its reverse-DNS
//! name (`…in-addr.arpa`, `…ip6.arpa`) as SNI, and wants the one iPAddress
//! name of that address in the certificate.

use std::{net::IpAddr, sync::Arc};

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
    let address = name.parse::<IpAddr>().ok();
    let sni = address.map_or_else(|| name.to_owned(), reverse_name);
    let server_name =
        ServerName::try_from(sni).map_err(|_| format!("{name:?} is not a DNS name"))?;
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

/// The reverse-DNS name of `address` (RFC 8738 §6, RFC 1035 §3.5, RFC 3596
/// §2.5): `4.3.2.1.in-addr.arpa`, or the 32 nibbles of an IPv6 address,
/// lowest first, then `ip6.arpa`.
fn reverse_name(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            name.push_str("ip6.arpa");
            name
        }
    }
}

/// The subjectAltName value naming only `name`: `SEQUENCE { [2] name }` for a
/// DNS name, `SEQUENCE { [7] address }` for an IP address (short lengths: a
/// name of at most 125 bytes).
fn only_name(name: &str) -> Result<Vec<u8>, String> {
    let (tag, bytes) = match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => (0x87, v4.octets().to_vec()),
        Ok(IpAddr::V6(v6)) => (0x87, v6.octets().to_vec()),
        Err(_) => (0x82, name.as_bytes().to_vec()),
    };
    let length = u8::try_from(bytes.len())
        .ok()
        .filter(|l| *l <= 125)
        .ok_or_else(|| "the name is too long for tls-alpn-01".to_owned())?;
    let mut only = vec![0x30, length + 2, tag, length];
    only.extend_from_slice(&bytes);
    Ok(only)
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
    let only = only_name(name)?;
    let ip = name.parse::<IpAddr>().is_ok();
    let kind = if ip { "IP" } else { "DNS" };
    // DNS names compare without regard to case; address bytes exactly.
    let same = |value: &[u8]| {
        if ip {
            value == only.as_slice()
        } else {
            value.eq_ignore_ascii_case(&only)
        }
    };
    match find(SUBJECT_ALT_NAME) {
        Some((_, value)) if same(value) => Ok(()),
        _ => Err(format!(
            "the certificate's subjectAltName must be exactly {kind}:{name}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_follow_rfc_1035_and_3596() {
        assert_eq!(
            reverse_name("127.0.0.1".parse().unwrap()),
            "1.0.0.127.in-addr.arpa"
        );
        let v6 = reverse_name("2001:db8::567:89ab".parse().unwrap());
        assert_eq!(
            v6,
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn an_ip_address_is_one_ipaddress_name() {
        assert_eq!(
            only_name("127.0.0.1").unwrap(),
            [0x30, 6, 0x87, 4, 127, 0, 0, 1]
        );
        assert_eq!(
            only_name("a.cn").unwrap(),
            [0x30, 6, 0x82, 4, b'a', b'.', b'c', b'n']
        );
    }
}
