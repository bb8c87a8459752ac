//! Certificates, requests and keys checked against the real OpenSSL 3 CLI, for every
//! algorithm (SM2 included: OpenSSL 3 applies the default ID 1234567812345678 itself).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::fs;

use common::{cas, openssl, openssl_csr, openssl_output, openssl_verify_chain};
use topca_core::{
    CertificateRequest, CsrError, Error, IssueRequest, KeyAlgorithm, KeyError, NameError, OsRandom,
    PolicyError, Profile, ProfileKind, SigningKey, pkcs7,
};

const CHINESE_SUBJECT: &str =
    "/C=CN/O=天诚安信/OU=技术部/CN=张三/emailAddress=zhangsan@example.com";

#[test]
fn every_algorithm_builds_a_chain_that_openssl_verifies() {
    for (alg, root, sub) in cas() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let csr_path = openssl_csr(
            d,
            *alg,
            "server",
            "/C=CN/O=天诚安信/CN=www.example.com",
            Some("DNS:www.example.com,IP:192.0.2.10"),
        );
        let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
        let server = sub
            .issue(
                IssueRequest::from_csr(&csr),
                &Profile::new(ProfileKind::TlsServer, 365).unwrap(),
            )
            .unwrap();
        openssl_verify_chain(
            d,
            &[&server, sub.certificate(), root.certificate()],
            Some("sslserver"),
        );

        // A user signing certificate with a Chinese subject, from an OpenSSL CSR.
        let csr_path = openssl_csr(d, *alg, "user", CHINESE_SUBJECT, None);
        let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
        let user = sub
            .issue(
                IssueRequest::from_csr(&csr),
                &Profile::new(ProfileKind::UserSigning, 365).unwrap(),
            )
            .unwrap();
        openssl_verify_chain(
            d,
            &[&user, sub.certificate(), root.certificate()],
            Some("smimesign"),
        );
    }
}

#[test]
fn template_issued_chains_verify_in_openssl_for_every_algorithm() {
    for (alg, root, sub) in cas() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let csr_path = openssl_csr(
            d,
            *alg,
            "server",
            "/C=CN/O=天诚安信/CN=www.example.com",
            Some("DNS:www.example.com,IP:192.0.2.10"),
        );
        let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
        let server_profile = Profile::new(ProfileKind::TlsServer, 365).unwrap();
        let template = sub.template(&server_profile).unwrap();
        let issued = template.issue(&IssueRequest::from_csr(&csr)).unwrap();
        let server = issued.to_certificate().unwrap();
        assert_eq!(server.serial_hex(), issued.serial_hex());
        openssl_verify_chain(
            d,
            &[&server, sub.certificate(), root.certificate()],
            Some("sslserver"),
        );
        // OpenSSL reads the serial and the e-mail copied from the subject.
        let csr_path = openssl_csr(d, *alg, "user", CHINESE_SUBJECT, None);
        let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
        let user_profile = Profile::new(ProfileKind::UserSigning, 365).unwrap();
        let issued = sub
            .template(&user_profile)
            .unwrap()
            .with_signature_check(true)
            .issue(&IssueRequest::from_csr(&csr))
            .unwrap();
        fs::write(d.join("user.der"), issued.der()).unwrap();
        let text = openssl(
            d,
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                "user.der",
                "-noout",
                "-serial",
                "-ext",
                "subjectAltName",
            ],
        );
        assert!(
            text.contains(&format!("serial={}", issued.serial_hex())),
            "{text}"
        );
        assert!(text.contains("email:zhangsan@example.com"), "{alg}: {text}");
        let user = issued.into_certificate().unwrap();
        openssl_verify_chain(
            d,
            &[&user, sub.certificate(), root.certificate()],
            Some("smimesign"),
        );
        // A batch issues through a template too, in order.
        let requests = vec![IssueRequest::from_csr(&csr); 3];
        let batch = sub.issue_batch(requests, &user_profile, 2);
        assert_eq!(batch.len(), 3);
        for issued in batch {
            let cert = issued.unwrap().into_certificate().unwrap();
            cert.verify_signed_by(sub.key().public_key()).unwrap();
        }
    }
}

#[test]
fn template_refusals_keep_their_typed_errors() {
    let (_, _, sub) = &cas()[3];
    let key = SigningKey::generate(KeyAlgorithm::Ed25519, &OsRandom).unwrap();
    let request = IssueRequest {
        subject: topca_core::DistinguishedName::with_common_name("张三"),
        public_key: key.public_key().clone(),
        alt_names: Default::default(),
        not_after: None,
    };
    let encryption = Profile::new(ProfileKind::UserEncryption, 30).unwrap();
    let err = sub
        .template(&encryption)
        .unwrap()
        .issue(&request)
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::KeyNotAllowed { .. })),
        "{err:?}"
    );
    let server = Profile::new(ProfileKind::TlsServer, 30).unwrap();
    let err = sub.template(&server).unwrap().issue(&request).unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::NoServerName)),
        "{err:?}"
    );
    // The batch reports the same errors, in place.
    let batch = sub.issue_batch(vec![request.clone(), request], &server, 2);
    assert!(
        batch
            .iter()
            .all(|r| matches!(r, Err(Error::Policy(PolicyError::NoServerName)))),
        "{batch:?}"
    );
}

#[test]
fn openssl_shows_the_profile_extensions() {
    let (_, _, sub) = &cas()[0];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csr_path = openssl_csr(
        d,
        KeyAlgorithm::EcdsaP256,
        "server",
        "/CN=www.example.com",
        Some("DNS:www.example.com,DNS:api.example.com,IP:192.0.2.10"),
    );
    let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
    let cert = sub
        .issue(
            IssueRequest::from_csr(&csr),
            &Profile::new(ProfileKind::TlsServer, 90).unwrap(),
        )
        .unwrap();
    fs::write(d.join("server.pem"), cert.to_pem()).unwrap();
    let text = openssl(
        d,
        &[
            "x509",
            "-in",
            "server.pem",
            "-noout",
            "-text",
            "-nameopt",
            "utf8",
        ],
    );
    for expected in [
        "X509v3 Basic Constraints: critical",
        "CA:FALSE",
        "X509v3 Key Usage: critical",
        "Digital Signature",
        "TLS Web Server Authentication",
        "DNS:www.example.com, DNS:api.example.com, IP Address:192.0.2.10",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "URI:http://ca.example.com/TopCA/crl/current.crl",
        "OCSP - URI:http://ca.example.com/TopCA/ocsp",
        "CA Issuers - URI:http://ca.example.com/TopCA/ca/issuing.cer",
        "Version: 3 (0x2)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The certificate's serial matches what the library reports.
    let serial = openssl(d, &["x509", "-in", "server.pem", "-noout", "-serial"]);
    assert_eq!(serial.trim(), format!("serial={}", cert.serial_hex()));

    // CA certificates: critical basic constraints with CA:TRUE, certificate signing.
    fs::write(d.join("sub.pem"), sub.certificate().to_pem()).unwrap();
    let text = openssl(d, &["x509", "-in", "sub.pem", "-noout", "-text"]);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
}

#[test]
fn chinese_names_round_trip_through_csr_certificate_and_pem() {
    for (alg, _, sub) in cas()
        .iter()
        .filter(|(a, ..)| matches!(a, KeyAlgorithm::Sm2 | KeyAlgorithm::Rsa2048))
    {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let csr_path = openssl_csr(d, *alg, "user", CHINESE_SUBJECT, None);
        let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
        assert_eq!(csr.subject().organization.as_deref(), Some("天诚安信"));
        assert_eq!(csr.subject().organizational_units, ["技术部"]);
        assert_eq!(csr.subject().common_name.as_deref(), Some("张三"));
        let cert = sub
            .issue(
                IssueRequest::from_csr(&csr),
                &Profile::new(ProfileKind::UserSigning, 365).unwrap(),
            )
            .unwrap();
        let reparsed = topca_core::Certificate::from_pem(&cert.to_pem()).unwrap();
        assert_eq!(reparsed.subject(), *csr.subject());
        fs::write(d.join("user.pem"), cert.to_pem()).unwrap();
        let subject = openssl(
            d,
            &[
                "x509",
                "-in",
                "user.pem",
                "-noout",
                "-subject",
                "-nameopt",
                "utf8,sep_comma_plus",
            ],
        );
        assert_eq!(
            subject.trim(),
            "subject=C=CN,O=天诚安信,OU=技术部,CN=张三,emailAddress=zhangsan@example.com",
            "{alg}"
        );
        let text = openssl(d, &["x509", "-in", "user.pem", "-noout", "-text"]);
        assert!(text.contains("email:zhangsan@example.com"), "{text}");
    }
}

#[test]
fn tampered_requests_are_refused() {
    for alg in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Sm2,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl_csr(d, alg, "r", "/CN=tamper.example.com", None);
        openssl(
            d,
            &["req", "-in", "r.csr", "-outform", "DER", "-out", "r.der"],
        );
        let der = fs::read(d.join("r.der")).unwrap();
        assert!(CertificateRequest::from_der(&der).is_ok(), "{alg}");

        // Change one letter of the subject: the signature no longer covers it.
        let pos = der.windows(6).position(|w| w == b"tamper").unwrap();
        let mut altered = der.clone();
        altered[pos] = b'T';
        assert_eq!(
            CertificateRequest::from_der(&altered).unwrap_err(),
            CsrError::BadSignature,
            "{alg}"
        );

        // Flip a bit of the signature itself.
        let mut altered = der.clone();
        let last = altered.len() - 3;
        altered[last] ^= 0x01;
        let err = CertificateRequest::from_der(&altered).unwrap_err();
        assert!(
            matches!(err, CsrError::BadSignature | CsrError::Malformed),
            "{alg}: {err:?}"
        );
    }
}

#[test]
fn weak_and_unsupported_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "weak.key",
        ],
    );
    openssl(
        d,
        &[
            "req", "-new", "-key", "weak.key", "-subj", "/CN=weak", "-out", "weak.csr",
        ],
    );
    let err = CertificateRequest::parse(&fs::read(d.join("weak.csr")).unwrap()).unwrap_err();
    assert_eq!(err, CsrError::Key(KeyError::RsaKeySize(1024)));
    assert!(err.to_string().contains("2048"), "{err}");

    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:secp256k1",
            "-out",
            "k1.key",
        ],
    );
    openssl(
        d,
        &[
            "req", "-new", "-key", "k1.key", "-subj", "/CN=k1", "-out", "k1.csr",
        ],
    );
    let err = CertificateRequest::parse(&fs::read(d.join("k1.csr")).unwrap()).unwrap_err();
    assert!(
        matches!(err, CsrError::Key(KeyError::UnsupportedAlgorithm(_))),
        "{err:?}"
    );

    assert_eq!(
        CertificateRequest::parse(b"not a request").unwrap_err(),
        CsrError::Malformed
    );

    // A malformed name is refused before anything is signed.
    let (_, _, sub) = &cas()[3];
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let request = IssueRequest {
        subject: topca_core::DistinguishedName::with_common_name("x").country("China"),
        public_key: key.public_key().clone(),
        alt_names: Default::default(),
        not_after: None,
    };
    let err = sub
        .issue(request, &Profile::new(ProfileKind::TlsClient, 30).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::Name(NameError::Country)), "{err:?}");

    // An Ed25519 key cannot receive an encryption certificate.
    let key = SigningKey::generate(KeyAlgorithm::Ed25519, &OsRandom).unwrap();
    let request = IssueRequest {
        subject: topca_core::DistinguishedName::with_common_name("张三"),
        public_key: key.public_key().clone(),
        alt_names: Default::default(),
        not_after: None,
    };
    let err = sub
        .issue(
            request,
            &Profile::new(ProfileKind::UserEncryption, 30).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Policy(_)), "{err:?}");
}

#[test]
fn keys_move_between_topca_and_openssl_as_pkcs8() {
    for alg in KeyAlgorithm::ALL
        .into_iter()
        .filter(|a| *a != KeyAlgorithm::Rsa4096)
    {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let key = SigningKey::generate(alg, &OsRandom).unwrap();

        // Ours → OpenSSL, encrypted with PBES2: OpenSSL decrypts it and derives the same public key.
        let encrypted = key
            .to_encrypted_pkcs8_pem("Tian Cheng 2026!", &OsRandom)
            .unwrap();
        assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        fs::write(d.join("ours.pem"), encrypted.as_bytes()).unwrap();
        openssl(
            d,
            &[
                "pkey",
                "-in",
                "ours.pem",
                "-passin",
                "pass:Tian Cheng 2026!",
                "-pubout",
                "-outform",
                "DER",
                "-out",
                "pub.der",
            ],
        );
        assert_eq!(
            fs::read(d.join("pub.der")).unwrap(),
            key.public_key().spki_der(),
            "{alg}"
        );
        let (ok, _) = openssl_output(
            d,
            &["pkey", "-in", "ours.pem", "-passin", "pass:wrong", "-noout"],
        );
        assert!(!ok, "{alg}: OpenSSL accepted a wrong passphrase");

        // Back into TopCA, and a wrong passphrase is a clear error; UTF-8 passphrases work.
        let back = SigningKey::from_pkcs8_pem(&encrypted, Some("Tian Cheng 2026!")).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(
            SigningKey::from_pkcs8_pem(&encrypted, Some("wrong")).unwrap_err(),
            KeyError::Decryption
        );
        let chinese = key
            .to_encrypted_pkcs8_pem("天诚安信口令", &OsRandom)
            .unwrap();
        let back = SigningKey::from_pkcs8_pem(&chinese, Some("天诚安信口令")).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(
            SigningKey::from_pkcs8_pem(&chinese, None).unwrap_err(),
            KeyError::Decryption
        );

        // OpenSSL → ours: a key OpenSSL generated and encrypted.
        let mut args = vec!["genpkey"];
        args.extend(common::genpkey_args(alg));
        args.extend(["-aes-256-cbc", "-pass", "pass:pw", "-out", "theirs.pem"]);
        openssl(d, &args);
        let theirs = SigningKey::from_pkcs8_pem(
            &fs::read_to_string(d.join("theirs.pem")).unwrap(),
            Some("pw"),
        )
        .unwrap();
        openssl(
            d,
            &[
                "pkey",
                "-in",
                "theirs.pem",
                "-passin",
                "pass:pw",
                "-pubout",
                "-outform",
                "DER",
                "-out",
                "theirs.pub",
            ],
        );
        assert_eq!(
            fs::read(d.join("theirs.pub")).unwrap(),
            theirs.public_key().spki_der(),
            "{alg}"
        );

        // Plain PKCS#8 DER round trip.
        let der = key.to_pkcs8_der().unwrap();
        assert_eq!(
            SigningKey::from_pkcs8_der(&der).unwrap().public_key(),
            key.public_key()
        );
    }
}

#[test]
fn the_chain_exports_as_pkcs7_and_pem_that_openssl_reads() {
    for (alg, root, sub) in cas() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("certChain.p7b"), sub.chain_pkcs7_der().unwrap()).unwrap();
        let out = openssl(
            d,
            &[
                "pkcs7",
                "-inform",
                "DER",
                "-in",
                "certChain.p7b",
                "-print_certs",
                "-noout",
            ],
        );
        assert!(out.contains(&format!("TopCA Test Root {alg}")), "{out}");
        assert!(
            out.contains(&format!("TopCA Test Issuing CA {alg}")),
            "{out}"
        );
        let back = pkcs7::parse_certs_only(&sub.chain_pkcs7_der().unwrap()).unwrap();
        assert_eq!(back.len(), 2);

        let pem_chain = topca_core::Certificate::from_pem_chain(&sub.chain_pem()).unwrap();
        assert_eq!(pem_chain.len(), 2);
        assert_eq!(&pem_chain[1], root.certificate());
        openssl_verify_chain(d, &[&pem_chain[0], &pem_chain[1]], None);
    }
}

#[test]
fn the_preview_lists_every_field_and_extension_readably() {
    let (_, _, sub) = &cas()[0];
    let dir = tempfile::tempdir().unwrap();
    let csr_path = openssl_csr(
        dir.path(),
        KeyAlgorithm::Rsa2048,
        "server",
        "/C=CN/O=天诚安信/OU=技术部/CN=www.example.com",
        Some("DNS:www.example.com,IP:192.0.2.10"),
    );
    let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
    let cert = sub
        .issue(
            IssueRequest::from_csr(&csr),
            &Profile::new(ProfileKind::TlsServer, 365).unwrap(),
        )
        .unwrap();
    let view = cert.preview();
    assert_eq!(
        view.general.subject,
        "C=CN, O=天诚安信, OU=技术部, CN=www.example.com"
    );
    assert_eq!(view.general.issuer, sub.certificate().subject_text());
    assert_eq!(view.general.serial_hex, cert.serial_hex());
    for purpose in [
        "Digital signature",
        "Key encipherment",
        "TLS server authentication",
    ] {
        assert!(
            view.general.purposes.iter().any(|p| p == purpose),
            "{:?}",
            view.general.purposes
        );
    }
    let field = |name: &str| {
        view.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no field {name}"))
    };
    assert_eq!(
        field("Subject alternative name").value,
        "DNS:www.example.com, IP:192.0.2.10"
    );
    assert_eq!(field("Public key").summary, "RSA-2048");
    assert_eq!(
        field("Signature algorithm").value,
        "sha256WithRSAEncryption"
    );
    assert_eq!(field("Basic constraints").value, "CA:FALSE");
    assert_eq!(field("Basic constraints").critical, Some(true));
    assert_eq!(
        field("CRL distribution points").value,
        "URI:http://ca.example.com/TopCA/crl/current.crl"
    );
    assert!(
        field("Authority information access")
            .value
            .contains("OCSP - URI:http://ca.example.com/TopCA/ocsp")
    );
    assert_eq!(
        field("SHA-256 fingerprint").value,
        cert.sha256_fingerprint()
    );
    // The fingerprint agrees with OpenSSL's.
    fs::write(dir.path().join("c.pem"), cert.to_pem()).unwrap();
    let out = openssl(
        dir.path(),
        &["x509", "-in", "c.pem", "-noout", "-fingerprint", "-sha256"],
    );
    assert!(out.contains(&cert.sha256_fingerprint()), "{out}");
}

#[test]
fn ca_construction_refuses_wrong_profiles_foreign_keys_and_path_length() {
    use topca_core::{
        CertificateAuthority, DistinguishedName, Environment, PolicyError, profile::CaUrls,
    };
    let name = DistinguishedName::with_common_name("Refused CA");
    let key = || SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let err = CertificateAuthority::create_root(
        key(),
        &name,
        &Profile::new(ProfileKind::TlsServer, 30).unwrap(),
        Environment::system(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Policy(PolicyError::WrongProfile {
                expected: "root CA",
                given: "TLS server"
            })
        ),
        "{err:?}"
    );

    let (_, root, sub) = &cas()[3];
    let err = root
        .create_subordinate(
            key(),
            &name,
            &Profile::new(ProfileKind::UserSigning, 30).unwrap(),
            CaUrls::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::WrongProfile { .. })),
        "{err:?}"
    );
    // The issuing CA has pathlen 0: it may not create further CAs.
    let err = sub
        .create_subordinate(
            key(),
            &name,
            &Profile::sub_ca(365, 0).unwrap(),
            CaUrls::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::PathLength)),
        "{err:?}"
    );
    // Loading a CA with a key that is not its own is refused.
    let err = CertificateAuthority::from_parts(
        key(),
        sub.certificate().clone(),
        vec![root.certificate().clone()],
        CaUrls::default(),
        Environment::system(),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Key(KeyError::CertificateKeyMismatch)),
        "{err:?}"
    );
    // Loading it with its own key and parent works, and the loaded CA issues.
    let der = sub.key().to_pkcs8_der().unwrap();
    let loaded = CertificateAuthority::from_parts(
        SigningKey::from_pkcs8_der(&der).unwrap(),
        sub.certificate().clone(),
        vec![root.certificate().clone()],
        sub.urls().clone(),
        Environment::system(),
    )
    .unwrap();
    assert_eq!(loaded.chain().len(), 2);
}

#[test]
fn pkcs12_files_open_in_openssl_with_the_password_only() {
    for (alg, root, sub) in cas().iter().filter(|(a, ..)| {
        matches!(
            a,
            KeyAlgorithm::Rsa2048
                | KeyAlgorithm::EcdsaP256
                | KeyAlgorithm::Ed25519
                | KeyAlgorithm::Sm2
        )
    }) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let key = SigningKey::generate(*alg, &OsRandom).unwrap();
        let request = IssueRequest {
            subject: topca_core::DistinguishedName::with_common_name("张三")
                .organization("天诚安信"),
            public_key: key.public_key().clone(),
            alt_names: Default::default(),
            not_after: None,
        };
        let cert = sub
            .issue(
                request,
                &Profile::new(ProfileKind::UserSigning, 365).unwrap(),
            )
            .unwrap();
        let p12 = topca_core::pkcs12::encode(
            &key,
            &cert,
            &[sub.certificate(), root.certificate()],
            "张三",
            "Tian Cheng 2026!",
            &OsRandom,
        )
        .unwrap();
        fs::write(d.join("user.p12"), p12.as_slice()).unwrap();

        let info = openssl(
            d,
            &[
                "pkcs12",
                "-in",
                "user.p12",
                "-passin",
                "pass:Tian Cheng 2026!",
                "-info",
                "-noout",
            ],
        );
        assert!(info.contains("MAC: sha256"), "{alg}: {info}");
        assert!(
            info.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"),
            "{alg}: {info}"
        );
        assert!(info.contains("Certificate bag"), "{alg}: {info}");

        // The key inside is ours: OpenSSL derives the same public key from it.
        openssl(
            d,
            &[
                "pkcs12",
                "-in",
                "user.p12",
                "-passin",
                "pass:Tian Cheng 2026!",
                "-nocerts",
                "-nodes",
                "-out",
                "key.pem",
            ],
        );
        openssl(
            d,
            &[
                "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
            ],
        );
        assert_eq!(
            fs::read(d.join("pub.der")).unwrap(),
            key.public_key().spki_der(),
            "{alg}"
        );
        // The certificates inside are the leaf and its chain.
        let certs = openssl(
            d,
            &[
                "pkcs12",
                "-in",
                "user.p12",
                "-passin",
                "pass:Tian Cheng 2026!",
                "-nokeys",
            ],
        );
        assert_eq!(
            certs.matches("-----BEGIN CERTIFICATE-----").count(),
            3,
            "{alg}"
        );
        assert!(
            certs.contains(&cert.to_pem()),
            "{alg}: the leaf comes first and unchanged"
        );

        // A wrong password fails the integrity check.
        let (ok, out) = openssl_output(
            d,
            &[
                "pkcs12",
                "-in",
                "user.p12",
                "-passin",
                "pass:wrong",
                "-noout",
            ],
        );
        assert!(!ok && out.contains("Mac verify error"), "{alg}: {out}");
    }
}
