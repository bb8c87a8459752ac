//! CA initialisation besides "generate on first start": importing an existing CA
//! made by OpenSSL, and a request to an external (OpenSSL) root whose signed
//! certificate is imported later. Certificates issued afterwards chain to the
//! external root under `openssl verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::path::Path;

use common::{openssl, options};
use topca_core::{
    DistinguishedName, IssueRequest, KeyAlgorithm, OsRandom, Profile, ProfileKind, SigningKey,
    SubjectAltNames,
};
use topca_server::{ca_init, setup::start};

const CA_EXTENSIONS: &str = "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n";

/// A self-signed P-256 certificate `NAME.pem` (key `NAME.key`) made by OpenSSL.
fn self_signed_p256(work: &Path, common_name: &str, name: &str) {
    let (key, subject, cert) = (
        format!("{name}.key"),
        format!("/CN={common_name}"),
        format!("{name}.pem"),
    );
    openssl(
        work,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-subj",
            &subject,
            "-out",
            &cert,
        ],
    );
}

/// An OpenSSL root: `root.key`, `root.pem`, and `ca.ext` for signing CAs under it.
fn openssl_root(work: &Path) {
    openssl(
        work,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "root.key",
        ],
    );
    openssl(
        work,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "root.key",
            "-subj",
            "/C=CN/O=External Root/CN=External Root CA",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "root.pem",
        ],
    );
    std::fs::write(work.join("ca.ext"), CA_EXTENSIONS).unwrap();
}

/// The OpenSSL root signs `csr` as a CA certificate into `out`.
fn sign_under_root(work: &Path, csr: &str, out: &str) {
    openssl(
        work,
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "1825",
            "-extfile",
            "ca.ext",
            "-out",
            out,
        ],
    );
}

/// Issues a TLS server leaf from the data directory's CA and checks it chains to
/// `root.pem` in `work` under OpenSSL.
fn issues_under_the_external_root(data: &Path, work: &Path) {
    let (state, report) = start(&options(data)).unwrap();
    assert!(report.iter().any(|l| l.contains("loaded")), "{report:?}");
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let mut names = SubjectAltNames::default();
    names.add_host("www.example.cn").unwrap();
    let leaf = state
        .ca
        .issue(
            IssueRequest {
                subject: DistinguishedName::with_common_name("www.example.cn"),
                public_key: key.public_key().clone(),
                alt_names: names,
                not_after: None,
            },
            &Profile::new(ProfileKind::TlsServer, 30).unwrap(),
        )
        .unwrap();
    std::fs::write(work.join("leaf.pem"), leaf.to_pem()).unwrap();
    std::fs::write(work.join("issuing.pem"), state.ca.certificate().to_pem()).unwrap();
    let out = openssl(
        work,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "leaf.pem",
        ],
    );
    assert!(out.contains("leaf.pem: OK"), "{out}");
    assert_eq!(
        state.root.to_pem(),
        std::fs::read_to_string(work.join("root.pem"))
            .unwrap()
            .replace("\r\n", "\n")
    );
}

#[test]
fn an_existing_ca_made_by_openssl_is_imported() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    openssl_root(w);
    openssl(
        w,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "issuing.key",
        ],
    );
    openssl(
        w,
        &[
            "req",
            "-new",
            "-key",
            "issuing.key",
            "-subj",
            "/C=CN/O=天诚安信/CN=Imported Issuing CA",
            "-utf8",
            "-out",
            "issuing.csr",
        ],
    );
    sign_under_root(w, "issuing.csr", "issuing-cert.pem");
    // The key arrives encrypted, as it should travel.
    openssl(
        w,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "issuing.key",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:import-pass-1",
            "-out",
            "issuing-enc.key",
        ],
    );

    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    // Wrong passphrase, a key that is not the certificate's, a chain that did not sign it: refused.
    let refused = |key: &str, passphrase: Option<&str>, root: &str, expected: &str| {
        let err = ca_init::import(
            d,
            &w.join(key),
            passphrase,
            &w.join("issuing-cert.pem"),
            Some(&w.join(root)),
        )
        .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    };
    refused(
        "issuing-enc.key",
        Some("wrong"),
        "root.pem",
        "not a usable PKCS#8 private key",
    );
    openssl(
        w,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "root.key",
            "-out",
            "root-pk8.key",
        ],
    );
    refused(
        "root-pk8.key",
        None,
        "root.pem",
        "the private key does not match the CA certificate",
    );
    refused(
        "issuing-enc.key",
        Some("import-pass-1"),
        "issuing-cert.pem",
        "self-signed root",
    );
    // A self-signed root that did not sign the issuing CA.
    self_signed_p256(w, "Unrelated Root", "unrelated-root");
    refused(
        "issuing-enc.key",
        Some("import-pass-1"),
        "unrelated-root.pem",
        "the signature does not verify",
    );
    assert!(
        !d.join("ca/issuing.key").exists(),
        "nothing is written on failure"
    );

    let subject = ca_init::import(
        d,
        &w.join("issuing-enc.key"),
        Some("import-pass-1"),
        &w.join("issuing-cert.pem"),
        Some(&w.join("root.pem")),
    )
    .unwrap();
    assert!(subject.contains("Imported Issuing CA"), "{subject}");
    // The stored key is re-encrypted under this TopCA's CA passphrase, never in clear.
    let stored = std::fs::read_to_string(d.join("ca/issuing.key")).unwrap();
    assert!(stored.contains("ENCRYPTED PRIVATE KEY"), "{stored}");
    let err = ca_init::import(
        d,
        &w.join("issuing-enc.key"),
        Some("import-pass-1"),
        &w.join("issuing-cert.pem"),
        Some(&w.join("root.pem")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("already holds a CA"), "{err}");

    issues_under_the_external_root(d, w);
}

#[test]
fn a_request_goes_to_an_external_root_and_its_certificate_is_imported() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    openssl_root(w);
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let err = ca_init::import_signed(d, &w.join("root.pem"), &w.join("root.pem")).unwrap_err();
    assert!(err.to_string().contains("ca init --csr"), "{err}");

    let subject = DistinguishedName::with_common_name("TopCA 签发 CA")
        .country("CN")
        .organization("天诚安信");
    let csr = ca_init::request(d, KeyAlgorithm::EcdsaP256, &subject).unwrap();
    std::fs::write(w.join("topca.csr"), &csr).unwrap();
    let out = openssl(
        w,
        &[
            "req",
            "-in",
            "topca.csr",
            "-verify",
            "-noout",
            "-subject",
            "-nameopt",
            "utf8",
        ],
    );
    assert!(out.contains("TopCA 签发 CA"), "{out}");
    assert!(
        ca_init::request(d, KeyAlgorithm::EcdsaP256, &subject).is_err(),
        "one pending key at a time"
    );

    // Until the certificate is imported the server does not start (and makes no CA of its own).
    let err = start(&options(d)).err().expect("start refuses");
    assert!(err.to_string().contains("import-cert"), "{err}");

    sign_under_root(w, "topca.csr", "signed.pem");
    // A certificate for another key is refused and the pending key kept.
    self_signed_p256(w, "other", "other");
    let err = ca_init::import_signed(d, &w.join("other.pem"), &w.join("root.pem")).unwrap_err();
    assert!(
        err.to_string()
            .contains("the private key does not match the CA certificate"),
        "{err}"
    );
    assert!(d.join("ca/pending.key").exists());

    let installed = ca_init::import_signed(d, &w.join("signed.pem"), &w.join("root.pem")).unwrap();
    assert!(installed.contains("TopCA 签发 CA"), "{installed}");
    assert!(!d.join("ca/pending.key").exists());
    issues_under_the_external_root(d, w);
}
