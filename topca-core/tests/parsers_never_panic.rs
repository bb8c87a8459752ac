//! Arbitrary and mutated bytes fed to every parser of outside input never panic:
//! they return a typed error (or, for a mutation that happens to stay valid, a value).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use topca_core::{Certificate, CertificateRequest, KeyAlgorithm, PublicKey, SigningKey, pkcs7};

/// Valid samples to mutate: an OpenSSL CSR per algorithm family, a certificate chain,
/// a PKCS#7 bundle and a PKCS#8 key.
fn samples() -> &'static Vec<Vec<u8>> {
    static SAMPLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        for alg in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Sm2,
        ] {
            let csr = common::openssl_csr(
                dir.path(),
                alg,
                "s",
                "/O=天诚安信/CN=fuzz.example.com",
                Some("DNS:fuzz.example.com,IP:192.0.2.1,email:a@example.com"),
            );
            let pem = std::fs::read(&csr).unwrap();
            out.push(der::pem::decode_vec(&pem).unwrap().1);
        }
        let (_, _, sub) = &common::cas()[6];
        out.push(sub.certificate().der().to_vec());
        out.push(sub.chain_pkcs7_der().unwrap());
        out.push(sub.key().to_pkcs8_der().unwrap().to_vec());
        out
    })
}

fn parse_everything(bytes: &[u8]) {
    let _ = CertificateRequest::parse(bytes);
    let _ = CertificateRequest::from_der(bytes);
    let _ = Certificate::from_der(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = topca_core::ra::parse_holders(text);
        let _ = topca_core::ra::PinInput::parse(text);
        let _ = Certificate::from_pem(text);
        let _ = Certificate::from_pem_chain(text);
        let _ = SigningKey::from_pkcs8_pem(text, Some("pw"));
    }
    let _ = pkcs7::parse_certs_only(bytes);
    let _ = SigningKey::from_pkcs8_der(bytes);
    let _ = PublicKey::from_spki_der(bytes);
    if let Ok(cert) = Certificate::from_der(bytes) {
        let _ = cert.preview();
        let _ = cert.public_key();
    }
}

/// CSV-like text: quotes, commas, newlines, BOM and non-ASCII are what break CSV readers.
fn csv_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('"'),
            Just(','),
            Just('\n'),
            Just('\u{feff}'),
            Just('张'),
            Just('@'),
            Just('-'),
            any::<char>()
        ],
        0..200,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_everything(&bytes);
    }

    #[test]
    fn csv_and_pin_text_never_panics(text in csv_text()) {
        let (holders, errors) = topca_core::ra::parse_holders(&text);
        // Every non-empty line is either a holder or a reported error, never lost.
        let lines = text.strip_prefix('\u{feff}').unwrap_or(&text).lines().filter(|l| !l.trim().is_empty()).count();
        prop_assert!(holders.len() + errors.len() <= lines);
        prop_assert!(lines - (holders.len() + errors.len()) <= 1, "only a header row may be skipped");
        let _ = topca_core::ra::PinInput::parse(&text);
    }

    #[test]
    fn mutated_valid_inputs_never_panic(
        which in 0usize..7,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = samples()[which % samples().len()].clone();
        for (pos, value) in edits {
            let i = pos % bytes.len();
            bytes[i] = value;
        }
        parse_everything(&bytes);
        bytes.truncate(cut % (bytes.len() + 1));
        parse_everything(&bytes);
    }
}
