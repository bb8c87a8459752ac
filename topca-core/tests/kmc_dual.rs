//! Dual certificates and the KMC: retrieval issues a signing and an encryption
//! certificate, the encryption key is escrowed and delivered enveloped to the
//! signing key (SM2EnvelopedKey for SM2, CMS for RSA and ECDSA), and two KMC
//! administrators recover it for the holder with a single-use code. Envelopes are
//! opened by OpenSSL with the holder's signing private key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{fs, path::Path, sync::Arc, time::Duration};

use common::{cas, openssl, openssl_csr, openssl_verify_chain};
use der::{Decode, Encode};
use topca_core::{
    CertificateAuthority, CertificateRequest, Clock, Environment, Error, KeyAlgorithm, OsRandom,
    RaError, SigningKey,
    audit::{AuditAction, verify_chain},
    error::KmcError,
    kmc::{EnvelopeFormat, EnvelopedKey, KeyManagementCentre, KmcPolicy, MasterKey, RecoveryState},
    lifecycle::{CertificateType, CertificateUsage, RequestState, VerificationMode},
    mail::{Mail, RecordingMailer},
    memory::MemoryStore,
    ra::{
        AccountSettings, AdminRole, Administrator, Holder, KmcOps, Language, RaPolicy,
        RegistrationAuthority, Retrieved,
    },
    store::{AuditStore, CertificateStore, EscrowStore, RequestStore},
};

const PASSWORD: &str = "dual-password-2026";

fn admin(name: &str, role: AdminRole) -> Administrator {
    Administrator {
        name: name.into(),
        roles: vec![role],
    }
}

fn kmc_ops(name: &str) -> KmcOps {
    admin(name, AdminRole::KmcAdmin).kmc_ops().unwrap()
}

fn dual_settings(algorithm: KeyAlgorithm) -> AccountSettings {
    AccountSettings {
        organization: "天诚安信".into(),
        unit: "保密部".into(),
        certificate_type: CertificateType::Dual,
        verification: VerificationMode::Automatic,
        algorithm,
        validity_days: 365,
        service_url: "https://ca.example.cn/TopCA/userEnroll".into(),
        language: Language::Chinese,
    }
}

fn holder(email: &str) -> Holder {
    Holder {
        name: "李四".into(),
        email: email.into(),
        phone: None,
        state: None,
        locality: None,
    }
}

fn mailed_pin(mailer: &RecordingMailer) -> String {
    mailer
        .sent()
        .iter()
        .rev()
        .find_map(|e| match &e.mail {
            Mail::RequestApproved { pin, .. } => Some(pin.to_string()),
            _ => None,
        })
        .expect("an approval mail")
}

/// The newest recovery authorization code mailed to the holder at `to`.
fn mailed_code(mailer: &RecordingMailer, to: &str) -> String {
    mailer
        .sent()
        .iter()
        .rev()
        .find_map(|e| match &e.mail {
            Mail::KeyRecoveryCode { code, .. } if e.to == to => Some(code.to_string()),
            _ => None,
        })
        .expect("a key recovery mail")
}

fn ca(
    algorithm: KeyAlgorithm,
) -> &'static (KeyAlgorithm, CertificateAuthority, CertificateAuthority) {
    cas().iter().find(|(a, ..)| *a == algorithm).unwrap()
}

/// Applies on a dual automatic account and retrieves with an OpenSSL key
/// (`dir/user.key`); returns the retrieval.
fn retrieve_dual(
    ra: &RegistrationAuthority<'_>,
    mailer: &RecordingMailer,
    dir: &Path,
    algorithm: KeyAlgorithm,
    email: &str,
) -> Retrieved {
    let ops = admin("ra-admin", AdminRole::RaAdmin).ra_ops().unwrap();
    let account = ra.create_account(&ops, dual_settings(algorithm)).unwrap();
    retrieve_dual_in(ra, mailer, dir, algorithm, email, account.id)
}

/// [`retrieve_dual`] under an existing account.
fn retrieve_dual_in(
    ra: &RegistrationAuthority<'_>,
    mailer: &RecordingMailer,
    dir: &Path,
    algorithm: KeyAlgorithm,
    email: &str,
    account: topca_core::ra::AccountId,
) -> Retrieved {
    ra.apply(account, holder(email), PASSWORD).unwrap();
    let csr_path = openssl_csr(dir, algorithm, "user", "/CN=user", None);
    let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
    ra.retrieve(&mailed_pin(mailer), PASSWORD, &csr).unwrap()
}

/// Opens `enveloped` with OpenSSL and the holder's signing key `dir/user.key`;
/// returns the public key (PEM) of the private key found inside.
fn openssl_open(dir: &Path, enveloped: &EnvelopedKey, signing_pem: &str) -> String {
    match enveloped.format {
        EnvelopeFormat::CmsEnvelopedData => {
            fs::write(dir.join("env.der"), &enveloped.der).unwrap();
            fs::write(dir.join("sign.pem"), signing_pem).unwrap();
            openssl(
                dir,
                &[
                    "cms",
                    "-decrypt",
                    "-binary",
                    "-inform",
                    "DER",
                    "-in",
                    "env.der",
                    "-recip",
                    "sign.pem",
                    "-inkey",
                    "user.key",
                    "-out",
                    "opened.der",
                ],
            );
            openssl(
                dir,
                &["pkey", "-inform", "DER", "-in", "opened.der", "-pubout"],
            )
        }
        EnvelopeFormat::Sm2EnvelopedKey => {
            // SM2EnvelopedKey ::= SEQUENCE { symAlgID, symEncryptedKey SM2Cipher,
            //   sm2PublicKey BIT STRING, sm2EncryptedPrivateKey BIT STRING }
            let fields: Vec<der::Any> = Vec::<der::Any>::from_der(&enveloped.der).unwrap();
            assert_eq!(fields.len(), 4);
            let sym_alg =
                spki::AlgorithmIdentifierOwned::from_der(&fields[0].to_der().unwrap()).unwrap();
            assert_eq!(sym_alg.oid.to_string(), "1.2.156.10197.1.104.1", "SM4-ECB");
            fs::write(dir.join("sm4key.enc"), fields[1].to_der().unwrap()).unwrap();
            // OpenSSL decrypts the SM2 ciphertext with the signing key…
            openssl(
                dir,
                &[
                    "pkeyutl",
                    "-decrypt",
                    "-inkey",
                    "user.key",
                    "-in",
                    "sm4key.enc",
                    "-out",
                    "sm4key.bin",
                ],
            );
            let sm4_key = fs::read(dir.join("sm4key.bin")).unwrap();
            assert_eq!(sm4_key.len(), 16);
            let encrypted_d = der::asn1::BitString::from_der(&fields[3].to_der().unwrap())
                .unwrap()
                .raw_bytes()
                .to_vec();
            fs::write(dir.join("d.enc"), &encrypted_d).unwrap();
            // …and the private key with SM4-ECB under the key it found.
            let hex: String = sm4_key.iter().map(|b| format!("{b:02x}")).collect();
            openssl(
                dir,
                &[
                    "enc", "-d", "-sm4-ecb", "-nopad", "-K", &hex, "-in", "d.enc", "-out", "d.bin",
                ],
            );
            let d = fs::read(dir.join("d.bin")).unwrap();
            assert_eq!(d.len(), 32);
            // The private scalar d as an SEC1 EC key on the SM2 curve, for OpenSSL.
            let sec1 = [
                &[0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20][..],
                &d,
                &[
                    0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d,
                ],
            ]
            .concat();
            fs::write(dir.join("d.sec1"), sec1).unwrap();
            openssl(
                dir,
                &[
                    "ec", "-inform", "DER", "-in", "d.sec1", "-pubout", "-out", "d.pub",
                ],
            );
            fs::read_to_string(dir.join("d.pub")).unwrap()
        }
    }
}

fn certificate_public_pem(dir: &Path, certificate: &topca_core::Certificate) -> String {
    fs::write(dir.join("enc.pem"), certificate.to_pem()).unwrap();
    openssl(dir, &["x509", "-in", "enc.pem", "-noout", "-pubkey"])
}

#[test]
fn dual_retrieval_issues_both_certificates_and_envelopes_the_escrowed_key() {
    for algorithm in [
        KeyAlgorithm::Sm2,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ] {
        let (_, root, sub) = ca(algorithm);
        let store = MemoryStore::new();
        let mailer = RecordingMailer::default();
        let master = MasterKey::generate(&OsRandom).unwrap();
        let ra =
            RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default()).with_kmc(&master);
        let dir = tempfile::tempdir().unwrap();
        let retrieved = retrieve_dual(&ra, &mailer, dir.path(), algorithm, "lisi@example.cn");
        let signing = &retrieved.certificate;
        let encryption = retrieved.encryption.as_ref().expect("a dual account");
        assert_ne!(signing.serial_hex(), encryption.certificate.serial_hex());
        assert_eq!(signing.subject(), encryption.certificate.subject());

        // Both certificates verify under the CA chain, each for its purpose.
        openssl_verify_chain(
            dir.path(),
            &[signing, sub.certificate(), root.certificate()],
            Some("smimesign"),
        );
        // OpenSSL's smimeencrypt purpose asks for keyEncipherment, which RFC 5480
        // forbids for EC keys (they carry keyAgreement): EC chains are checked
        // without a purpose.
        let is_ec = matches!(algorithm, KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384);
        openssl_verify_chain(
            dir.path(),
            &[
                &encryption.certificate,
                sub.certificate(),
                root.certificate(),
            ],
            (!is_ec).then_some("smimeencrypt"),
        );

        // The envelope opens with the signing private key, and the key inside is
        // the encryption certificate's.
        let expected_format = if algorithm == KeyAlgorithm::Sm2 {
            EnvelopeFormat::Sm2EnvelopedKey
        } else {
            EnvelopeFormat::CmsEnvelopedData
        };
        assert_eq!(encryption.enveloped_key.format, expected_format);
        let opened = openssl_open(dir.path(), &encryption.enveloped_key, &signing.to_pem());
        assert_eq!(
            opened,
            certificate_public_pem(dir.path(), &encryption.certificate)
        );
        if algorithm == KeyAlgorithm::Sm2 {
            let signing_key = SigningKey::from_pkcs8_pem(
                &fs::read_to_string(dir.path().join("user.key")).unwrap(),
                None,
            )
            .unwrap();
            let key = encryption.enveloped_key.open_sm2(&signing_key).unwrap();
            assert_eq!(
                key.public_key(),
                &encryption.certificate.public_key().unwrap()
            );
            let stranger = SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom).unwrap();
            assert_eq!(
                encryption.enveloped_key.open_sm2(&stranger).unwrap_err(),
                KmcError::Damaged
            );
        }

        // Stored: both certificates with their usage, the key sealed (ciphertext
        // only, openable with the master key), and both serials on the request.
        let stored = store.certificates_by_email("lisi@example.cn").unwrap();
        let usage_of = |serial: String| {
            stored
                .iter()
                .find(|c| c.serial == serial)
                .map(|c| c.usage)
                .unwrap()
        };
        assert_eq!(usage_of(signing.serial_hex()), CertificateUsage::Signing);
        assert_eq!(
            usage_of(encryption.certificate.serial_hex()),
            CertificateUsage::Encryption
        );
        let escrow = store
            .escrowed_key(&encryption.certificate.serial_hex())
            .unwrap()
            .unwrap();
        assert_eq!(escrow.signing_serial, signing.serial_hex());
        let unsealed = master.open(&escrow.key, &escrow.encryption_serial).unwrap();
        assert_eq!(
            unsealed.public_key(),
            &encryption.certificate.public_key().unwrap()
        );
        let entries = store.audit_entries().unwrap();
        verify_chain(&entries, None, None).unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e.record.action == AuditAction::KeyEscrowed)
        );
    }
}

#[test]
fn dual_retrieval_refusals_leave_the_request_as_it_was() {
    let (_, _, sub) = ca(KeyAlgorithm::Sm2);
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let ops = admin("ra-admin", AdminRole::RaAdmin).ra_ops().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // No KMC configured: refused with a clear error; the request stays approved.
    let ra = RegistrationAuthority::new(&store, &mailer, sub, RaPolicy::default());
    let account = ra
        .create_account(&ops, dual_settings(KeyAlgorithm::Sm2))
        .unwrap();
    let request = ra
        .apply(account.id, holder("nokmc@example.cn"), PASSWORD)
        .unwrap();
    let csr_path = openssl_csr(dir.path(), KeyAlgorithm::Sm2, "user", "/CN=user", None);
    let csr = CertificateRequest::parse(&fs::read(csr_path).unwrap()).unwrap();
    let pin = mailed_pin(&mailer);
    let err = ra.retrieve(&pin, PASSWORD, &csr).unwrap_err();
    assert!(
        matches!(err, Error::Ra(RaError::KmcNotConfigured)),
        "{err:?}"
    );
    assert!(err.to_string().contains("key management centre"));
    assert_eq!(
        store.request(request.id).unwrap().unwrap().state,
        RequestState::Approved
    );
    assert!(
        store
            .certificates_by_email("nokmc@example.cn")
            .unwrap()
            .is_empty()
    );

    // With the KMC, an Ed25519 signing key cannot receive an envelope: refused
    // before anything is issued; an SM2 signing key on an RSA account likewise
    // (an SM2 envelope carries SM2 keys only).
    let master = MasterKey::generate(&OsRandom).unwrap();
    let ra = ra.with_kmc(&master);
    let path = openssl_csr(dir.path(), KeyAlgorithm::Ed25519, "ed", "/CN=user", None);
    let ed25519 = CertificateRequest::parse(&fs::read(path).unwrap()).unwrap();
    let err = ra.retrieve(&pin, PASSWORD, &ed25519).unwrap_err();
    assert!(
        matches!(err, Error::Kmc(KmcError::UnsuitableKey(_))),
        "{err:?}"
    );
    let sm2_with_rsa_account = {
        let rsa_account = ra
            .create_account(&ops, dual_settings(KeyAlgorithm::Rsa2048))
            .unwrap();
        let request = ra
            .apply(rsa_account.id, holder("mixed@example.cn"), PASSWORD)
            .unwrap();
        let err = ra
            .retrieve(&mailed_pin(&mailer), PASSWORD, &csr)
            .unwrap_err();
        (request, err)
    };
    assert!(
        matches!(
            sm2_with_rsa_account.1,
            Error::Kmc(KmcError::UnsuitableKey(_))
        ),
        "{:?}",
        sm2_with_rsa_account.1
    );
    assert!(
        store
            .certificates_by_email("nokmc@example.cn")
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .certificates_by_email("mixed@example.cn")
            .unwrap()
            .is_empty()
    );

    // The same PIN then works with a suitable key: nothing was spent.
    let retrieved = ra.retrieve(&pin, PASSWORD, &csr).unwrap();
    assert!(retrieved.encryption.is_some());

    // Ed25519 dual accounts are refused at creation.
    let err = ra
        .create_account(&ops, dual_settings(KeyAlgorithm::Ed25519))
        .unwrap_err();
    assert!(err.to_string().contains("Ed25519"), "{err}");
}

/// A clock the test moves forward.
#[derive(Debug)]
struct MovableClock(std::sync::Mutex<std::time::SystemTime>);

impl Clock for MovableClock {
    fn now(&self) -> std::time::SystemTime {
        *self.0.lock().unwrap()
    }
}

#[test]
fn key_recovery_needs_two_administrators_and_a_single_use_code() {
    for algorithm in [KeyAlgorithm::Sm2, KeyAlgorithm::Rsa2048] {
        let (_, root, sub) = ca(algorithm);
        let clock = Arc::new(MovableClock(std::sync::Mutex::new(
            std::time::SystemTime::now(),
        )));
        let sub = CertificateAuthority::from_parts(
            SigningKey::from_pkcs8_der(&sub.key().to_pkcs8_der().unwrap()).unwrap(),
            sub.certificate().clone(),
            vec![root.certificate().clone()],
            sub.urls().clone(),
            Environment::new(clock.clone(), Arc::new(OsRandom)),
        )
        .unwrap();
        let store = MemoryStore::new();
        let mailer = RecordingMailer::default();
        let master = MasterKey::generate(&OsRandom).unwrap();
        let ra = RegistrationAuthority::new(&store, &mailer, &sub, RaPolicy::default())
            .with_kmc(&master);
        let dir = tempfile::tempdir().unwrap();
        let first = retrieve_dual(&ra, &mailer, dir.path(), algorithm, "wangwu@example.cn");
        let encryption_serial = first.encryption.as_ref().unwrap().certificate.serial_hex();
        let kmc = KeyManagementCentre::new(&store, &mailer, &sub, &master, KmcPolicy::default());

        // Only KMC administrators; the KMC console lists the holder's escrowed key.
        assert!(matches!(
            admin("ra-admin", AdminRole::RaAdmin).kmc_ops(),
            Err(RaError::NotPermitted(_))
        ));
        let escrowed = kmc
            .escrowed_keys(&kmc_ops("kmc-甲"), "WANGWU@example.cn")
            .unwrap();
        assert_eq!(escrowed.len(), 1);
        let err = kmc
            .request_recovery(&kmc_ops("kmc-甲"), &first.certificate.serial_hex(), "")
            .unwrap_err();
        assert!(matches!(err, Error::Kmc(KmcError::NotEscrowed)), "{err:?}");

        for name in ["kmc-甲", "kmc-乙", "kmc-丙"] {
            topca_core::ra::admin::create_admin(
                &store,
                name,
                "kmc-agent-password-1",
                vec![AdminRole::KmcAdmin],
                &OsRandom,
                clock.as_ref(),
            )
            .unwrap();
        }
        // The holder's old machine is gone: they get a new signing certificate
        // first; the recovery, asked for after it, may deliver to it.
        let newdir = tempfile::tempdir().unwrap();
        let account = store
            .certificate(&encryption_serial)
            .unwrap()
            .unwrap()
            .account
            .unwrap();
        let second = retrieve_dual_in(
            &ra,
            &mailer,
            newdir.path(),
            algorithm,
            "wangwu@example.cn",
            account,
        );
        // The same e-mail under another account is another holder record.
        let otherdir = tempfile::tempdir().unwrap();
        let stranger = retrieve_dual(
            &ra,
            &mailer,
            otherdir.path(),
            algorithm,
            "wangwu@example.cn",
        );

        // The holder's certificates were issued in an earlier second than the request.
        *clock.0.lock().unwrap() += Duration::from_secs(1);
        let recovery = kmc
            .request_recovery(&kmc_ops("kmc-甲"), &encryption_serial, "电脑损坏")
            .unwrap();
        assert_eq!(recovery.state, RecoveryState::Requested);
        assert_eq!(recovery.id.to_hex().len(), 32, "an unguessable identifier");
        // The requester cannot approve; a second administrator can.
        let err = kmc
            .approve_recovery(&kmc_ops("kmc-甲"), recovery.id)
            .unwrap_err();
        assert!(
            matches!(err, Error::Kmc(KmcError::SameAdministrator)),
            "{err:?}"
        );
        let approved = kmc
            .approve_recovery(&kmc_ops("kmc-乙"), recovery.id)
            .unwrap();
        assert_eq!(approved.state, RecoveryState::Approved);
        let code = mailer
            .sent()
            .into_iter()
            .rev()
            .find_map(|e| match e.mail {
                Mail::KeyRecoveryCode {
                    code,
                    recover_url,
                    serial,
                    ..
                } => {
                    assert_eq!(e.to, "wangwu@example.cn");
                    assert_eq!(serial, encryption_serial);
                    assert!(recover_url.starts_with("https://ca.example.cn/TopCA/userEnroll/"));
                    Some(code)
                }
                _ => None,
            })
            .expect("a key recovery mail");
        assert!(code.starts_with(&format!("{}-", recovery.id)));
        assert!(!format!("{:?}", mailer.sent()).contains(code.as_str()));
        let err = kmc
            .approve_recovery(&kmc_ops("kmc-丙"), recovery.id)
            .unwrap_err();
        assert!(
            matches!(err, Error::Transition(_)),
            "approved once: {err:?}"
        );

        // A wrong code counts; another holder's or a non-signing certificate is refused.
        let wrong = format!("{}-AAAA-BBBB-CCCC", recovery.id);
        let err = kmc
            .recover(&wrong, &first.certificate.serial_hex())
            .unwrap_err();
        assert!(
            matches!(err, Error::Kmc(KmcError::WrongCode { attempts_left: 4 })),
            "{err:?}"
        );
        for refused in [encryption_serial.clone(), stranger.certificate.serial_hex()] {
            let err = kmc.recover(&code, &refused).unwrap_err();
            assert!(
                matches!(err, Error::Kmc(KmcError::NotHoldersSigningCertificate)),
                "{err:?}"
            );
        }

        // The holder recovers the encryption key for the new signing certificate.
        let delivery = kmc
            .recover(&code, &second.certificate.serial_hex())
            .unwrap();
        assert_eq!(delivery.certificate.serial_hex(), encryption_serial);
        let opened = openssl_open(
            newdir.path(),
            &delivery.enveloped_key,
            &second.certificate.to_pem(),
        );
        assert_eq!(
            opened,
            certificate_public_pem(newdir.path(), &delivery.certificate)
        );

        // Single use.
        let err = kmc
            .recover(&code, &second.certificate.serial_hex())
            .unwrap_err();
        assert!(matches!(err, Error::Kmc(KmcError::CodeUsed)), "{err:?}");

        // A code expires unused.
        let again = kmc
            .request_recovery(&kmc_ops("kmc-甲"), &encryption_serial, "再次恢复")
            .unwrap();
        kmc.approve_recovery(&kmc_ops("kmc-乙"), again.id).unwrap();
        let code = mailed_code(&mailer, "wangwu@example.cn");
        *clock.0.lock().unwrap() += KmcPolicy::default().code_lifetime + Duration::from_secs(1);
        let err = kmc
            .recover(&code, &second.certificate.serial_hex())
            .unwrap_err();
        assert!(matches!(err, Error::Kmc(KmcError::CodeExpired)), "{err:?}");
        assert_eq!(
            store.recovery(again.id).unwrap().unwrap().state,
            RecoveryState::Expired
        );

        // Five wrong codes lock a recovery.
        let third = kmc
            .request_recovery(&kmc_ops("kmc-甲"), &encryption_serial, "第三次")
            .unwrap();
        kmc.approve_recovery(&kmc_ops("kmc-乙"), third.id).unwrap();
        let code = mailed_code(&mailer, "wangwu@example.cn");
        let wrong = format!("{}-AAAA-BBBB-CCCC", third.id);
        for _ in 0..4 {
            kmc.recover(&wrong, &second.certificate.serial_hex())
                .unwrap_err();
        }
        let err = kmc
            .recover(&wrong, &second.certificate.serial_hex())
            .unwrap_err();
        assert!(
            matches!(err, Error::Kmc(KmcError::RecoveryLocked)),
            "{err:?}"
        );
        let err = kmc
            .recover(&code, &second.certificate.serial_hex())
            .unwrap_err();
        assert!(
            matches!(err, Error::Kmc(KmcError::RecoveryLocked)),
            "{err:?}"
        );

        // Every step is audited with who did it, in a verifiable chain.
        let entries = store.audit_entries().unwrap();
        verify_chain(&entries, None, None).unwrap();
        let approvals: Vec<String> = entries
            .iter()
            .filter(|e| e.record.action == AuditAction::RecoveryApproved)
            .map(|e| format!("{:?} {:?}", e.record.actor, e.record.outcome))
            .collect();
        assert!(
            approvals
                .iter()
                .any(|a| a.contains("kmc-乙") && a.contains("Success"))
        );
        assert!(
            approvals
                .iter()
                .any(|a| a.contains("kmc-甲") && a.contains("Failure"))
        );
        assert!(
            entries
                .iter()
                .any(|e| e.record.action == AuditAction::KeyRecovered)
        );
    }
}

#[test]
fn key_recovery_agents_hold_only_the_kmc_role_and_wait_out_the_quarantine() {
    use topca_core::ra::admin::{AdminChange, add_admin, change_admin, create_admin};
    let algorithm = KeyAlgorithm::EcdsaP256;
    let (_, root, sub) = ca(algorithm);
    let start = std::time::SystemTime::now();
    let clock = Arc::new(MovableClock(std::sync::Mutex::new(start)));
    let sub = CertificateAuthority::from_parts(
        SigningKey::from_pkcs8_der(&sub.key().to_pkcs8_der().unwrap()).unwrap(),
        sub.certificate().clone(),
        vec![root.certificate().clone()],
        sub.urls().clone(),
        Environment::new(clock.clone(), Arc::new(OsRandom)),
    )
    .unwrap();
    let store = MemoryStore::new();
    let mailer = RecordingMailer::default();
    let master = MasterKey::generate(&OsRandom).unwrap();
    let ra =
        RegistrationAuthority::new(&store, &mailer, &sub, RaPolicy::default()).with_kmc(&master);
    let dir = tempfile::tempdir().unwrap();
    let retrieved = retrieve_dual(&ra, &mailer, dir.path(), algorithm, "zhou@example.cn");
    let serial = retrieved
        .encryption
        .as_ref()
        .unwrap()
        .certificate
        .serial_hex();
    let policy = KmcPolicy::default();
    let kmc = KeyManagementCentre::new(&store, &mailer, &sub, &master, policy.clone());
    let password = "agent-password-2026";
    let make = |name: &str, roles: Vec<AdminRole>| {
        create_admin(&store, name, password, roles, &OsRandom, clock.as_ref()).unwrap();
    };
    make("root", vec![AdminRole::SuperAdmin]);
    make("all", vec![AdminRole::SuperAdmin, AdminRole::KmcAdmin]);
    make("ra-kmc", vec![AdminRole::RaAdmin, AdminRole::KmcAdmin]);
    make("agent", vec![AdminRole::KmcAdmin]);
    make("later", vec![AdminRole::RaAdmin]);
    let root_ops = admin("root", AdminRole::SuperAdmin).super_ops().unwrap();
    add_admin(
        &store,
        &root_ops,
        "fresh",
        password,
        vec![AdminRole::KmcAdmin],
        &OsRandom,
        clock.as_ref(),
    )
    .unwrap();

    // Holding super or ra besides kmc: refused, whatever the session says.
    for name in ["all", "ra-kmc"] {
        let err = kmc
            .request_recovery(&kmc_ops(name), &serial, "x")
            .unwrap_err();
        assert!(
            matches!(err, Error::Kmc(KmcError::NotAnAgent(_))),
            "{err:?}"
        );
    }
    // Made in the console, or given kmc there: quarantined.
    change_admin(
        &store,
        &root_ops,
        &sub,
        "later",
        AdminChange::Roles(vec![AdminRole::KmcAdmin]),
    )
    .unwrap();
    for name in ["fresh", "later"] {
        let err = kmc
            .request_recovery(&kmc_ops(name), &serial, "x")
            .unwrap_err();
        assert!(
            matches!(err, Error::Kmc(KmcError::AgentQuarantined { .. })),
            "{err:?}"
        );
    }
    // The holder's certificates were issued in an earlier second than the request.
    *clock.0.lock().unwrap() += Duration::from_secs(1);
    let asked = kmc
        .request_recovery(&kmc_ops("agent"), &serial, "换电脑")
        .unwrap();
    let err = kmc
        .approve_recovery(&kmc_ops("fresh"), asked.id)
        .unwrap_err();
    assert!(
        matches!(err, Error::Kmc(KmcError::AgentQuarantined { .. })),
        "{err:?}"
    );
    // After the quarantine the console-made agent may approve; the code goes
    // only into the holder's mail.
    *clock.0.lock().unwrap() += policy.quarantine;
    let approved = kmc.approve_recovery(&kmc_ops("fresh"), asked.id).unwrap();
    assert_eq!(approved.state, RecoveryState::Approved);
    let code = mailed_code(&mailer, "zhou@example.cn");
    assert!(code.starts_with(&approved.id.to_hex()));
    // A signing certificate issued after the request does not receive the key.
    let account = store
        .certificate(&serial)
        .unwrap()
        .unwrap()
        .account
        .unwrap();
    let newer = tempfile::tempdir().unwrap();
    let later = retrieve_dual_in(
        &ra,
        &mailer,
        newer.path(),
        algorithm,
        "zhou@example.cn",
        account,
    );
    let err = kmc
        .recover(&code, &later.certificate.serial_hex())
        .unwrap_err();
    assert!(
        matches!(err, Error::Kmc(KmcError::NotHoldersSigningCertificate)),
        "{err:?}"
    );
    kmc.recover(&code, &retrieved.certificate.serial_hex())
        .unwrap();

    // Without the mail there is no approval: nobody else may hold the code.
    let asked = kmc
        .request_recovery(&kmc_ops("agent"), &serial, "再次")
        .unwrap();
    mailer.set_unreachable(true);
    let err = kmc
        .approve_recovery(&kmc_ops("fresh"), asked.id)
        .unwrap_err();
    mailer.set_unreachable(false);
    assert!(
        matches!(err, Error::Kmc(KmcError::CodeNotMailed)),
        "{err:?}"
    );
    let withdrawn = store.recovery(asked.id).unwrap().unwrap();
    assert_eq!(withdrawn.state, RecoveryState::Expired);
    assert!(withdrawn.code.is_none());
}
