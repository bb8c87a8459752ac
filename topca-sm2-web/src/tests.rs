//! Requests checked by topca-core and OpenSSL, key files opened by OpenSSL
//! and topca-core, and envelopes sealed by topca-core's KMC opened here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::{fs, path::Path, process::Command};

use der::pem::LineEnding;
use topca_core::{
    Certificate, CertificateRequest, KeyAlgorithm, KeyKind, OsRandom, RandomSource, SigningKey,
    kmc::EnvelopedKey,
};

use super::*;
use crate::ffi::{frame, split};

const PASSWORD: &[u8] = "口令 pass-2026".as_bytes();

fn entropy(seed: u8) -> [u8; 48] {
    let mut e = [0u8; 48];
    OsRandom.fill(&mut e).unwrap();
    e[0] = seed;
    e
}

/// Runs OpenSSL with `args` in `dir`; its stdout, or a failure showing stderr.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn pem(label: &'static str, der: &[u8]) -> String {
    der::pem::encode_string(label, LineEnding::LF, der).unwrap()
}

#[test]
fn request_is_sm2_with_sm3_and_verifies_in_topca_core_and_openssl() {
    let made = make_request(&entropy(1), "浏览器密钥 browser key", PASSWORD).unwrap();
    let csr = CertificateRequest::from_der(&made.csr).expect("topca-core verifies it");
    assert_eq!(csr.public_key().kind(), KeyKind::Sm2);
    assert_eq!(csr.subject_name().to_string(), "CN=浏览器密钥 browser key");
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("req.pem"),
        pem("CERTIFICATE REQUEST", &made.csr),
    )
    .unwrap();
    let text = openssl(
        dir.path(),
        &[
            "req",
            "-in",
            "req.pem",
            "-verify",
            "-noout",
            "-text",
            "-vfyopt",
            "distid:1234567812345678",
        ],
    );
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("SM2-with-SM3"), "{text}");
    // A wrong distinguishing identifier must not verify: the signature uses the default one.
    let verified = |distid: &str| {
        let out = Command::new("openssl")
            .args(["req", "-in", "req.pem", "-verify", "-noout", "-vfyopt"])
            .arg(format!("distid:{distid}"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        out.status.success() && String::from_utf8_lossy(&out.stderr).contains("verify OK")
    };
    assert!(verified("1234567812345678"));
    assert!(!verified("8765432187654321"));
}

#[test]
fn key_file_opens_with_the_password_in_openssl_and_topca_core_and_matches_the_request() {
    let made = make_request(&entropy(2), "key file", PASSWORD).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("key.pem"),
        pem("ENCRYPTED PRIVATE KEY", &made.key_file),
    )
    .unwrap();
    fs::write(
        dir.path().join("req.pem"),
        pem("CERTIFICATE REQUEST", &made.csr),
    )
    .unwrap();
    fs::write(dir.path().join("pass.txt"), PASSWORD).unwrap();
    let from_key = openssl(
        dir.path(),
        &[
            "pkey",
            "-in",
            "key.pem",
            "-passin",
            "file:pass.txt",
            "-pubout",
        ],
    );
    let from_req = openssl(dir.path(), &["req", "-in", "req.pem", "-pubkey", "-noout"]);
    assert_eq!(from_key, from_req);
    // OpenSSL names the scheme it decrypted.
    let asn1 = openssl(dir.path(), &["asn1parse", "-in", "key.pem"]);
    let asn1 = String::from_utf8_lossy(&asn1);
    for part in ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"] {
        assert!(asn1.contains(part), "{part} missing: {asn1}");
    }
    // topca-core reads it too, and the wrong password opens nothing.
    let text = pem("ENCRYPTED PRIVATE KEY", &made.key_file);
    let key = SigningKey::from_pkcs8_pem(&text, Some("口令 pass-2026")).unwrap();
    let csr = CertificateRequest::from_der(&made.csr).unwrap();
    assert_eq!(key.public_key(), csr.public_key());
    assert_eq!(
        keyfile::open(&made.key_file, b"wrong password").unwrap_err(),
        Error::KeyFile
    );
}

#[test]
fn two_requests_never_share_a_key() {
    let a = make_request(&entropy(3), "a", PASSWORD).unwrap();
    let b = make_request(&entropy(3), "a", PASSWORD).unwrap();
    let key = |r: &Request| {
        CertificateRequest::from_der(&r.csr)
            .unwrap()
            .public_key()
            .clone()
    };
    assert_ne!(key(&a), key(&b));
}

#[test]
fn refuses_short_entropy_bad_names_and_bad_passwords() {
    assert_eq!(make_request(&[9; 31], "x", PASSWORD), Err(Error::Entropy));
    assert_eq!(make_request(&entropy(4), "", PASSWORD), Err(Error::Name));
    assert_eq!(
        make_request(&entropy(4), "a\nb", PASSWORD),
        Err(Error::Name)
    );
    assert_eq!(
        make_request(&entropy(4), &"x".repeat(65), PASSWORD),
        Err(Error::Name)
    );
    assert_eq!(make_request(&entropy(4), "x", b""), Err(Error::Password));
    assert_eq!(
        make_request(&entropy(4), "x", &[b'p'; MAX_PASSWORD + 1]),
        Err(Error::Password)
    );
}

/// A self-signed SM2 certificate for the key in `key.pem` (OpenSSL), as
/// topca-core reads it: the recipient the KMC seals for.
fn self_signed(dir: &Path) -> Certificate {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "key.pem",
            "-passin",
            "file:pass.txt",
            "-subj",
            "/CN=holder",
            "-days",
            "1",
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-out",
            "cert.pem",
        ],
    );
    Certificate::from_pem(&fs::read_to_string(dir.join("cert.pem")).unwrap()).unwrap()
}

#[test]
fn envelope_sealed_by_the_kmc_opens_into_a_key_file_openssl_reads() {
    let made = make_request(&entropy(5), "holder", PASSWORD).unwrap();
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("key.pem"),
        pem("ENCRYPTED PRIVATE KEY", &made.key_file),
    )
    .unwrap();
    fs::write(dir.path().join("pass.txt"), PASSWORD).unwrap();
    let recipient = self_signed(dir.path());
    let encryption = SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom).unwrap();
    let envelope = EnvelopedKey::seal(&encryption, &recipient, &OsRandom).unwrap();

    let opened = open_envelope(&entropy(6), &made.key_file, PASSWORD, &envelope.der).unwrap();
    fs::write(
        dir.path().join("enc.pem"),
        pem("ENCRYPTED PRIVATE KEY", &opened),
    )
    .unwrap();
    let public = openssl(
        dir.path(),
        &[
            "pkey",
            "-in",
            "enc.pem",
            "-passin",
            "file:pass.txt",
            "-pubout",
            "-outform",
            "DER",
        ],
    );
    assert_eq!(public, encryption.public_key().spki_der());

    // Another signing key, a wrong password or a damaged envelope open nothing.
    let stranger = make_request(&entropy(7), "stranger", PASSWORD).unwrap();
    assert_eq!(
        open_envelope(&entropy(8), &stranger.key_file, PASSWORD, &envelope.der),
        Err(Error::Envelope)
    );
    assert_eq!(
        open_envelope(&entropy(8), &made.key_file, b"wrong", &envelope.der),
        Err(Error::KeyFile)
    );
    let mut damaged = envelope.der.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert_eq!(
        open_envelope(&entropy(8), &made.key_file, PASSWORD, &damaged),
        Err(Error::Envelope)
    );
    assert_eq!(
        open_envelope(&entropy(8), &made.key_file, PASSWORD, &envelope.der[..40]),
        Err(Error::Envelope)
    );
}

#[test]
fn the_exports_frame_fields_and_refuse_malformed_input() {
    let framed = frame(&[b"ab", b"", "口".as_bytes()]);
    assert_eq!(
        split(&framed).unwrap(),
        vec![&b"ab"[..], b"", "口".as_bytes()]
    );
    assert_eq!(split(&framed[..framed.len() - 1]), Err(Error::Input));
    assert_eq!(split(&[1, 0, 0]), Err(Error::Input));
    assert_eq!(split(&u32::MAX.to_le_bytes()), Err(Error::Input));
    assert_eq!(split(&frame(&[&b""[..]; 9])), Err(Error::Input));

    // Through the exports, as the page calls them.
    let input = frame(&[&entropy(9), b"export", PASSWORD]);
    let at = ffi::topca_input(u32::try_from(input.len()).unwrap());
    assert!(!at.is_null());
    // The page writes through the address; natively the test fills the same buffer.
    write_input(&input);
    assert_eq!(ffi::topca_make_request(), 0);
    let out = read_output();
    let fields = split(&out).unwrap();
    assert_eq!(fields.len(), 2);
    CertificateRequest::from_der(fields[0]).unwrap();
    ffi::topca_clear();
    assert_eq!(ffi::topca_output_len(), 0);

    ffi::topca_input(3);
    write_input(&[1, 2, 3]);
    assert_eq!(ffi::topca_make_request(), Error::Input.code());
    assert_eq!(ffi::topca_open_envelope(), Error::Input.code());
    assert_eq!(ffi::topca_output_len(), 0);
}

fn write_input(bytes: &[u8]) {
    ffi::with_input(|buffer| buffer.copy_from_slice(bytes));
}

fn read_output() -> Vec<u8> {
    let len = usize::try_from(ffi::topca_output_len()).unwrap();
    let mut out = vec![0; len];
    ffi::with_output(|buffer| out.copy_from_slice(buffer));
    out
}
