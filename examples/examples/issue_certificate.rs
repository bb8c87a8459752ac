//! Creates a root CA and an issuing CA, issues a TLS server certificate for
//! `localhost`, and prints the chain, the certificate and its preview.
//!
//! ```text
//! cargo run --release -p topca-examples --example issue_certificate -- [ALGORITHM] [OUT_DIR]
//! ```
//! ALGORITHM is one of rsa2048, rsa3072, rsa4096, p256, p384, ed25519, sm2 (default
//! sm2). With OUT_DIR, the PEM files and encrypted keys are also written there.

use std::{error::Error, fs, path::PathBuf};

use topca_core::{
    CertificateAuthority, DistinguishedName, Environment, IssueRequest, KeyAlgorithm, OsRandom,
    Profile, ProfileKind, SigningKey, SubjectAltNames, profile::CaUrls,
};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let algorithm: KeyAlgorithm = args.next().as_deref().unwrap_or("sm2").parse()?;
    let out_dir = args.next().map(PathBuf::from);

    // 1. A self-signed root CA, then an issuing CA under it.
    let root = CertificateAuthority::create_root(
        SigningKey::generate(algorithm, &OsRandom)?,
        &DistinguishedName::with_common_name("TopCA Example Root CA")
            .country("CN")
            .organization("天诚安信"),
        &Profile::new(ProfileKind::RootCa, 3650)?,
        Environment::system(),
    )?;
    let urls = CaUrls {
        crl: Some("http://127.0.0.1:8080/TopCA/crl/current.crl".into()),
        ca_issuers: Some("http://127.0.0.1:8080/TopCA/ca/issuing.cer".into()),
        ocsp: Some("http://127.0.0.1:8080/TopCA/ocsp".into()),
        delta_crl: None,
    };
    let issuing = root.create_subordinate(
        SigningKey::generate(algorithm, &OsRandom)?,
        &DistinguishedName::with_common_name("TopCA Example Issuing CA")
            .country("CN")
            .organization("天诚安信")
            .unit("证书服务部"),
        &Profile::sub_ca(1825, 0)?,
        urls,
    )?;

    // 2. A server key (here generated locally; normally it arrives in a CSR) and its certificate.
    let server_key = SigningKey::generate(algorithm, &OsRandom)?;
    let mut alt_names = SubjectAltNames::default();
    alt_names.add_host("localhost")?;
    alt_names.add_host("127.0.0.1")?;
    let certificate = issuing.issue(
        IssueRequest {
            subject: DistinguishedName::with_common_name("localhost").organization("天诚安信"),
            public_key: server_key.public_key().clone(),
            alt_names,
            not_after: None,
        },
        &Profile::new(ProfileKind::TlsServer, 365)?,
    )?;

    // 3. Show it.
    let preview = certificate.preview();
    println!(
        "# {algorithm} certificate {} for {}",
        preview.general.serial_hex, preview.general.subject
    );
    println!(
        "# issued by {}, valid {} .. {}",
        preview.general.issuer, preview.general.not_before, preview.general.not_after
    );
    println!("# purposes: {}", preview.general.purposes.join(", "));
    print!("{}", certificate.to_pem());
    print!("{}", issuing.chain_pem());

    if let Some(dir) = out_dir {
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("server.pem"), certificate.to_pem())?;
        fs::write(dir.join("chain.pem"), issuing.chain_pem())?;
        fs::write(dir.join("issuing.pem"), issuing.certificate().to_pem())?;
        fs::write(dir.join("root.pem"), root.certificate().to_pem())?;
        fs::write(dir.join("certChain.p7b"), issuing.chain_pkcs7_der()?)?;
        // The example's keys are protected with a fixed passphrase; a real deployment asks for one.
        fs::write(
            dir.join("server.key"),
            server_key
                .to_encrypted_pkcs8_pem("topca-example", &OsRandom)?
                .as_bytes(),
        )?;
        eprintln!(
            "wrote server.pem, issuing.pem, chain.pem, root.pem, certChain.p7b and server.key (passphrase topca-example) to {}",
            dir.display()
        );
    }
    Ok(())
}
