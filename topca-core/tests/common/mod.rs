//! Helpers shared by the integration tests: driving the real OpenSSL 3 CLI.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, OnceLock},
};

use topca_core::{
    CertificateAuthority, DistinguishedName, Environment, KeyAlgorithm, OsRandom, Profile,
    ProfileKind, SigningKey, SystemClock, profile::CaUrls,
};

/// Runs `openssl` with `args` in `dir`; panics with OpenSSL's output if it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = openssl_output(dir, args);
    assert!(out.0, "openssl {} failed:\n{}", args.join(" "), out.1);
    out.1
}

/// Runs `openssl` and returns (success, stdout + stderr). A missing OpenSSL is a failure.
pub fn openssl_output(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command must be installed (scripts/test installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// OpenSSL `genpkey` arguments for a key of `algorithm`.
pub fn genpkey_args(algorithm: KeyAlgorithm) -> Vec<&'static str> {
    match algorithm {
        KeyAlgorithm::Rsa2048 => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        KeyAlgorithm::Rsa3072 => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        KeyAlgorithm::Rsa4096 => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
        KeyAlgorithm::EcdsaP256 => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        KeyAlgorithm::EcdsaP384 => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        KeyAlgorithm::Ed25519 => vec!["-algorithm", "ED25519"],
        KeyAlgorithm::Sm2 => vec!["-algorithm", "SM2"],
    }
}

/// Makes an OpenSSL key and a CSR for it in `dir`; returns the CSR path.
pub fn openssl_csr(
    dir: &Path,
    algorithm: KeyAlgorithm,
    name: &str,
    subject: &str,
    san: Option<&str>,
) -> PathBuf {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let mut args = vec!["genpkey"];
    args.extend(genpkey_args(algorithm));
    args.extend(["-out", &key]);
    openssl(dir, &args);
    let mut args = vec![
        "req", "-new", "-utf8", "-key", &key, "-subj", subject, "-out", &csr,
    ];
    if algorithm == KeyAlgorithm::Sm2 {
        args.push("-sm3");
    }
    let addext;
    if let Some(san) = san {
        addext = format!("subjectAltName={san}");
        args.extend(["-addext", &addext]);
    }
    openssl(dir, &args);
    dir.join(csr)
}

/// The URLs test CAs write into what they issue.
pub fn test_urls() -> CaUrls {
    CaUrls {
        crl: Some("http://ca.example.com/TopCA/crl/current.crl".into()),
        ca_issuers: Some("http://ca.example.com/TopCA/ca/issuing.cer".into()),
        ocsp: Some("http://ca.example.com/TopCA/ocsp".into()),
        delta_crl: None,
    }
}

/// A root and an intermediate CA of `algorithm`.
pub fn root_and_intermediate(
    algorithm: KeyAlgorithm,
) -> (CertificateAuthority, CertificateAuthority) {
    let env = Environment::new(Arc::new(SystemClock), Arc::new(OsRandom));
    let root_key = SigningKey::generate(algorithm, &OsRandom).unwrap();
    let root_name = DistinguishedName::with_common_name(format!("TopCA Test Root {algorithm}"))
        .country("CN")
        .organization("天诚安信");
    let root = CertificateAuthority::create_root(
        root_key,
        &root_name,
        &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        env,
    )
    .unwrap();
    let sub_key = SigningKey::generate(algorithm, &OsRandom).unwrap();
    let sub_name =
        DistinguishedName::with_common_name(format!("TopCA Test Issuing CA {algorithm}"))
            .country("CN")
            .organization("天诚安信")
            .unit("证书服务部");
    let sub = root
        .create_subordinate(
            sub_key,
            &sub_name,
            &Profile::sub_ca(1825, 0).unwrap(),
            test_urls(),
        )
        .unwrap();
    (root, sub)
}

/// A root/intermediate pair per algorithm, made once per test binary (RSA-4096 key
/// generation is slow).
pub fn cas() -> &'static [(KeyAlgorithm, CertificateAuthority, CertificateAuthority)] {
    static CAS: OnceLock<Vec<(KeyAlgorithm, CertificateAuthority, CertificateAuthority)>> =
        OnceLock::new();
    CAS.get_or_init(|| {
        KeyAlgorithm::ALL
            .into_iter()
            .map(|alg| {
                let (root, sub) = root_and_intermediate(alg);
                (alg, root, sub)
            })
            .collect()
    })
}

/// Checks with OpenSSL that `chain` (leaf first, self-signed root last) verifies.
///
/// OpenSSL 3.0 verifies SM2 signatures of the certificates it loads with an empty
/// signer ID, while TopCA signs with the GM/T 0009 default `1234567812345678`; its
/// `-vfyopt distid:` applies to the target certificate only. So SM2 chains are
/// checked link by link (each certificate against its issuer, with the ID set) and
/// the root's self-signature with `pkeyutl`, which takes the ID explicitly.
pub fn openssl_verify_chain(dir: &Path, chain: &[&topca_core::Certificate], purpose: Option<&str>) {
    let files: Vec<String> = (0..chain.len()).map(|i| format!("chain{i}.pem")).collect();
    for (cert, file) in chain.iter().zip(&files) {
        std::fs::write(dir.join(file), cert.to_pem()).unwrap();
    }
    let root = files.last().unwrap();
    let is_sm2 = chain[0].public_key().unwrap().kind() == topca_core::KeyKind::Sm2;
    if !is_sm2 {
        let untrusted: String = chain[1..chain.len() - 1]
            .iter()
            .map(|c| c.to_pem())
            .collect();
        std::fs::write(dir.join("untrusted.pem"), untrusted).unwrap();
        let mut args = vec!["verify", "-CAfile", root.as_str()];
        if chain.len() > 2 {
            args.extend(["-untrusted", "untrusted.pem"]);
        }
        if let Some(p) = purpose {
            args.extend(["-purpose", p]);
        }
        args.push(&files[0]);
        let out = openssl(dir, &args);
        assert!(out.contains(&format!("{}: OK", files[0])), "{out}");
        return;
    }
    for i in 0..chain.len() - 1 {
        let mut args = vec![
            "verify",
            "-vfyopt",
            "distid:1234567812345678",
            "-CAfile",
            files[i + 1].as_str(),
            "-partial_chain",
        ];
        if let (0, Some(p)) = (i, purpose) {
            args.extend(["-purpose", p]);
        }
        args.push(&files[i]);
        let out = openssl(dir, &args);
        assert!(out.contains(&format!("{}: OK", files[i])), "{out}");
    }
    let root_cert = chain.last().unwrap().x509();
    std::fs::write(
        dir.join("root.tbs"),
        der::Encode::to_der(root_cert.tbs_certificate()).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("root.sig"), root_cert.signature().raw_bytes()).unwrap();
    openssl(
        dir,
        &["x509", "-in", root, "-pubkey", "-noout", "-out", "root.pub"],
    );
    let out = openssl(
        dir,
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "root.pub",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            "-in",
            "root.tbs",
            "-sigfile",
            "root.sig",
        ],
    );
    assert!(out.contains("Signature Verified Successfully"), "{out}");
}

/// Records `certificate`'s serial and TBSCertificate in `store` as if it had been
/// reserved before it was signed (tests that sign through `CertificateAuthority::issue`
/// and store the result).
pub fn reserve_signed(
    store: &dyn topca_core::store::IssuanceStore,
    certificate: &topca_core::Certificate,
) {
    store
        .reserve_issuance(&topca_core::store::Reservation {
            serial: certificate.serial_hex(),
            tbs_sha256: topca_core::store::tbs_sha256(certificate.der()).unwrap(),
            profile: topca_core::ProfileKind::TlsServer,
            requester: topca_core::audit::Actor::System,
            account: None,
            request: None,
            reserved_at: std::time::SystemTime::now(),
            issued: false,
        })
        .unwrap();
}

/// A successful audit record of `action` on `target`, now.
pub fn audit_note(
    action: topca_core::audit::AuditAction,
    target: &str,
) -> topca_core::audit::AuditRecord {
    topca_core::audit::AuditRecord {
        at: std::time::SystemTime::now(),
        actor: topca_core::audit::Actor::System,
        action,
        target: target.to_owned(),
        outcome: topca_core::audit::Outcome::Success,
        detail: String::new(),
    }
}
