//! CA keys in a PKCS#11 token, on SoftHSM2: keys generated in the token sign
//! certificates and CRLs that OpenSSL verifies; a wrong PIN, a missing key or
//! token, a full session pool and a key the token does not keep sensitive are
//! typed errors; lost sessions and a finalised module are recovered from.
//!
//! `softhsm_suite` makes a throw-away token directory, points SoftHSM2 at it
//! (`SOFTHSM2_CONF`, read when the module starts, hence a child process) and
//! runs the `inner_` tests there. Without SoftHSM2 it is skipped, unless
//! `CI=true`, where that is a failure.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;
#[path = "pkcs11_softhsm/master.rs"]
mod master;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, SystemTime},
};

use common::{openssl, openssl_verify_chain, test_urls};
use cryptoki::{
    mechanism::Mechanism,
    object::{Attribute, ObjectClass},
};
use der::Encode;
use topca_core::{
    CertificateAuthority, DistinguishedName, Environment, IssueRequest, KeyAlgorithm, OsRandom,
    Profile, ProfileKind, SigningKey, SubjectAltNames, SystemClock,
    crl::{CrlEntry, CrlInfo, CrlWriter},
    error::KeyError,
    key::pkcs11::{Pkcs11Config, Pkcs11Token, Pkcs11Uri},
    lifecycle::RevocationReason,
};

const PIN: &str = "24681357";
const TOKEN: &str = "topca-test";
/// A token this process logs in to only with a wrong PIN (a login is shared
/// by every session of a process).
const PIN_TOKEN: &str = "topca-pin";

/// Where Debian installs SoftHSM2's module.
pub const SOFTHSM_MODULES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

fn softhsm_module() -> Option<PathBuf> {
    SOFTHSM_MODULES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn run(program: &str, args: &[&str], conf: &Path) {
    let out = Command::new(program)
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn softhsm_suite() {
    let present = softhsm_module().is_some()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok();
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "SoftHSM2 is missing (apt-get install softhsm2): with CI=true that is a failure"
        );
        eprintln!("skipped: SoftHSM2 is not installed (apt-get install softhsm2)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    for label in [TOKEN, PIN_TOKEN] {
        run(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                PIN,
                "--so-pin",
                "13572468",
            ],
            &conf,
        );
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["inner_", "--ignored", "--test-threads=1", "--nocapture"])
        .env("SOFTHSM2_CONF", &conf)
        .env("TOPCA_TEST_SOFTHSM", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "the SoftHSM2 tests failed:\n{text}");
    assert!(
        text.contains("13 passed"),
        "not every SoftHSM2 test ran:\n{text}"
    );
}

/// The module, inside `softhsm_suite`'s child process only.
fn inner() -> Option<PathBuf> {
    std::env::var_os("TOPCA_TEST_SOFTHSM").and(softhsm_module())
}

fn config(pin: &str) -> Pkcs11Config {
    Pkcs11Config {
        module: softhsm_module(),
        pin: Some(zeroize::Zeroizing::new(pin.to_owned())),
        ..Pkcs11Config::default()
    }
}

fn token() -> Arc<Pkcs11Token> {
    Pkcs11Token::open(
        &Pkcs11Uri::parse(&format!("pkcs11:token={TOKEN}")).unwrap(),
        &config(PIN),
    )
    .unwrap()
}

fn env() -> Environment {
    Environment::new(Arc::new(SystemClock), Arc::new(OsRandom))
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_token_cas_sign_what_openssl_verifies() {
    if inner().is_none() {
        return;
    }
    let token = token();
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ] {
        let root_key = token
            .generate(&format!("root-{algorithm}"), algorithm)
            .unwrap();
        assert!(matches!(
            root_key.to_pkcs8_der(),
            Err(KeyError::NotExportable)
        ));
        let root = CertificateAuthority::create_root(
            root_key,
            &DistinguishedName::with_common_name(format!("Token Root {algorithm}")).country("CN"),
            &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
            env(),
        )
        .unwrap();
        // The same label again is found, not made twice.
        let (sub_key, created) = token
            .key_or_generate(&format!("issuing-{algorithm}"), algorithm)
            .unwrap();
        assert!(created);
        let (_, created) = token
            .key_or_generate(&format!("issuing-{algorithm}"), algorithm)
            .unwrap();
        assert!(!created);
        let sub = root
            .create_subordinate(
                sub_key,
                &DistinguishedName::with_common_name(format!("Token Issuing {algorithm}")),
                &Profile::sub_ca(1825, 0).unwrap(),
                test_urls(),
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        openssl_verify_chain(dir.path(), &[sub.certificate(), root.certificate()], None);

        // A batch on two threads signs through the pool of sessions.
        let holder = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
        let requests = (0..8)
            .map(|i| IssueRequest {
                subject: DistinguishedName::with_common_name(format!("host{i}.example.com")),
                public_key: holder.public_key().clone(),
                alt_names: SubjectAltNames::default(),
                not_after: None,
            })
            .collect();
        let issued = sub.issue_batch(
            requests,
            &Profile::new(ProfileKind::TlsServer, 90).unwrap(),
            2,
        );
        assert_eq!(issued.len(), 8);
        for (i, result) in issued.into_iter().enumerate() {
            let leaf = result.unwrap().into_certificate().unwrap();
            if i == 0 {
                openssl_verify_chain(
                    dir.path(),
                    &[&leaf, sub.certificate(), root.certificate()],
                    None,
                );
            }
            leaf.verify_signed_by(sub.key().public_key()).unwrap();
        }

        let now = SystemTime::now();
        let mut writer = CrlWriter::new(
            &sub,
            CrlInfo {
                number: 1,
                this_update: now,
                next_update: now + Duration::from_secs(86_400),
                delta_base: None,
            },
            1,
        )
        .unwrap();
        writer
            .push(&CrlEntry {
                serial: &[0x01, 0x02],
                revoked_at: now,
                reason: RevocationReason::KeyCompromise,
                invalidity_date: None,
            })
            .unwrap();
        let crl = writer.finish().unwrap();
        std::fs::write(dir.path().join("crl.der"), &crl.der).unwrap();
        std::fs::write(dir.path().join("ca.pem"), sub.certificate().to_pem()).unwrap();
        let out = openssl(
            dir.path(),
            &[
                "crl", "-inform", "DER", "-in", "crl.der", "-noout", "-CAfile", "ca.pem", "-verify",
            ],
        );
        assert!(out.contains("verify OK"), "{algorithm}: {out}");
    }
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_wrong_pin_missing_token_key_and_pin_are_typed_errors() {
    let Some(module) = inner() else {
        return;
    };
    let uri = |text: &str| Pkcs11Uri::parse(text).unwrap();
    let open = |text: &str, config: &Pkcs11Config| Pkcs11Token::open(&uri(text), config).err();
    assert_eq!(
        open(&format!("pkcs11:token={PIN_TOKEN}"), &config("00000000")),
        Some(KeyError::WrongPin)
    );
    assert_eq!(
        open("pkcs11:token=no-such-token", &config(PIN)),
        Some(KeyError::TokenNotFound("no-such-token".into()))
    );
    assert!(matches!(
        open(
            &format!("pkcs11:token={TOKEN}"),
            &Pkcs11Config {
                pin: None,
                ..config(PIN)
            }
        ),
        Some(KeyError::PinMissing(_))
    ));
    assert!(matches!(
        open(
            &format!("pkcs11:token={TOKEN}?module-path=/nonexistent/libpkcs11.so"),
            &config(PIN)
        ),
        Some(KeyError::Pkcs11Module(_))
    ));
    // A PIN file named by the URI works like the variable.
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let token = Pkcs11Token::open(
        &uri(&format!(
            "pkcs11:token={TOKEN}?module-path={}&pin-source=file:{}",
            module.display(),
            pin_file.display()
        )),
        &Pkcs11Config::default(),
    )
    .unwrap();
    assert!(matches!(
        token.key(&uri(&format!("pkcs11:token={TOKEN};object=no-such-key"))),
        Err(KeyError::KeyNotFound(_))
    ));
    assert!(matches!(
        token.key(&uri(&format!("pkcs11:token={TOKEN}"))),
        Err(KeyError::Pkcs11Uri(_))
    ));
    assert!(matches!(
        token.generate("sm2", KeyAlgorithm::Sm2),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_a_full_session_pool_is_a_typed_error() {
    if inner().is_none() {
        return;
    }
    let token = Pkcs11Token::open(
        &Pkcs11Uri::parse(&format!("pkcs11:token={TOKEN}")).unwrap(),
        &Pkcs11Config {
            max_sessions: 1,
            session_wait: Duration::from_millis(50),
            ..config(PIN)
        },
    )
    .unwrap();
    let key = token.generate("pool", KeyAlgorithm::EcdsaP256).unwrap();
    key.sign_bytes(b"one session is enough").unwrap();
    let nested = token.with_session(|_| key.sign_bytes(b"while the only session is taken"));
    assert_eq!(nested.err(), Some(KeyError::TooManySessions(1)));
    // The session came back: signing works again.
    key.sign_bytes(b"and again").unwrap();
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_keys_the_token_does_not_keep_sensitive_are_refused() {
    if inner().is_none() {
        return;
    }
    let token = token();
    let label = b"exportable".to_vec();
    let curve = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7")
        .to_der()
        .unwrap();
    token
        .with_session(|session| {
            session
                .generate_key_pair(
                    &Mechanism::EccKeyPairGen,
                    &[
                        Attribute::Token(true),
                        Attribute::EcParams(curve.clone()),
                        Attribute::Label(label.clone()),
                    ],
                    &[
                        Attribute::Token(true),
                        Attribute::Sensitive(false),
                        Attribute::Extractable(true),
                        Attribute::Sign(true),
                        Attribute::Label(label.clone()),
                        Attribute::Class(ObjectClass::PRIVATE_KEY),
                    ],
                )
                .map_err(|e| KeyError::Pkcs11(e.to_string()))
        })
        .unwrap();
    let uri = Pkcs11Uri::parse(&format!("pkcs11:token={TOKEN};object=exportable")).unwrap();
    assert_eq!(token.key(&uri).err(), Some(KeyError::NotSensitive));
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_lost_sessions_and_a_reloaded_module_are_recovered() {
    let Some(module) = inner() else {
        return;
    };
    let token = token();
    let key = token.generate("recover", KeyAlgorithm::EcdsaP256).unwrap();
    let message = b"before and after";
    let verify = |signature: &topca_core::Signature| {
        key.public_key()
            .verify(
                topca_core::SignatureAlgorithm::EcdsaSha256,
                message,
                signature.as_bytes(),
            )
            .unwrap();
    };
    verify(&key.sign_bytes(message).unwrap());
    token.check().unwrap();
    // Another user of the module finalises it: every session and the login go.
    cryptoki::context::Pkcs11::new(&module)
        .unwrap()
        .finalize()
        .unwrap();
    verify(&key.sign_bytes(message).unwrap());
    token.check().unwrap();
    // Twice in a row, and the readiness check first this time.
    cryptoki::context::Pkcs11::new(&module)
        .unwrap()
        .finalize()
        .unwrap();
    token.check().unwrap();
    verify(&key.sign_bytes(message).unwrap());
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_software_keys_move_into_the_token() {
    if inner().is_none() {
        return;
    }
    let token = token();
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ] {
        let software = SigningKey::generate(algorithm, &OsRandom).unwrap();
        let label = format!("moved-{algorithm}");
        let moved = token.import(&label, &software).unwrap();
        assert_eq!(
            moved.public_key().spki_der(),
            software.public_key().spki_der()
        );
        let signature = moved.sign_bytes(b"moved").unwrap();
        software
            .public_key()
            .verify(
                software.signature_algorithm(),
                b"moved",
                signature.as_bytes(),
            )
            .unwrap();
        assert!(matches!(moved.to_pkcs8_der(), Err(KeyError::NotExportable)));
        // The label is taken now.
        assert!(matches!(
            token.import(&label, &software),
            Err(KeyError::Pkcs11(_))
        ));
    }
    let sm2 = SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom).unwrap();
    assert!(matches!(
        token.import("moved-sm2", &sm2),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_secrets_sealed_by_the_token_open_there_only() {
    if inner().is_none() {
        return;
    }
    let token = token();
    let secret = [7u8; 32];
    let sealed = token.seal("kmc", &secret, &OsRandom).unwrap();
    assert_eq!(sealed.len(), 12 + 32 + 16);
    assert!(!sealed.windows(32).any(|w| w == secret));
    assert_eq!(token.unseal("kmc", &sealed).unwrap().as_slice(), &secret);
    // Sealing again under the same label reuses the key: both open.
    let again = token.seal("kmc", &secret, &OsRandom).unwrap();
    assert_ne!(again, sealed);
    assert_eq!(token.unseal("kmc", &again).unwrap().as_slice(), &secret);
    // A flipped bit, another label, a missing key: refused.
    let mut flipped = sealed.clone();
    flipped[20] ^= 1;
    let refused = token.unseal("kmc", &flipped);
    assert!(
        matches!(refused, Err(KeyError::Pkcs11(_))),
        "{:?}",
        refused.err()
    );
    token.seal("other", &secret, &OsRandom).unwrap();
    assert!(matches!(
        token.unseal("other", &sealed),
        Err(KeyError::Pkcs11(_))
    ));
    assert!(matches!(
        token.unseal("no-such-key", &sealed),
        Err(KeyError::KeyNotFound(_))
    ));
    assert!(matches!(
        token.unseal("kmc", &sealed[..5]),
        Err(KeyError::Pkcs11(_))
    ));
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_escrowed_keys_are_sealed_and_opened_in_the_token() {
    use topca_core::{error::KmcError, kmc::MasterKey};
    if inner().is_none() {
        return;
    }
    let bytes = [9u8; 32];
    let software = MasterKey::from_bytes(bytes);
    let escrowed = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let before = software.seal(&escrowed, "serial 01", &OsRandom).unwrap();
    let master = MasterKey::from_bytes(bytes).with_token_escrow(token(), "kmc-escrow");
    assert!(master.escrow_in_token());
    let sealed = master.seal(&escrowed, "serial 02", &OsRandom).unwrap();
    assert_ne!(
        sealed.master_key_id,
        master.id(),
        "sealed by the token's key"
    );
    // The master key's bytes do not open it: the token's AES key sealed it.
    assert_eq!(
        software.open(&sealed, "serial 02").unwrap_err(),
        KmcError::WrongMasterKey
    );
    let opened = master.open(&sealed, "serial 02").unwrap();
    assert_eq!(opened.public_key(), escrowed.public_key());
    // Keys escrowed before the token still open with the master key's bytes.
    let old = master.open(&before, "serial 01").unwrap();
    assert_eq!(old.public_key(), escrowed.public_key());
    // Bound to the serial, and a changed ciphertext does not open.
    assert_eq!(
        master.open(&sealed, "serial 03").unwrap_err(),
        KmcError::Damaged
    );
    let mut tampered = sealed.clone();
    tampered.ciphertext[5] ^= 1;
    assert_eq!(
        master.open(&tampered, "serial 02").unwrap_err(),
        KmcError::Damaged
    );
    // Another token key label: not this escrow key.
    let other = MasterKey::from_bytes(bytes).with_token_escrow(token(), "other-escrow");
    assert_eq!(
        other.open(&sealed, "serial 02").unwrap_err(),
        KmcError::WrongMasterKey
    );
}
