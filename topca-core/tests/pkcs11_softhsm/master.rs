//! The KMC master key held by the token (`MasterKey::from_token`): it gives
//! what the same key in memory gives, its objects are sensitive and never
//! extractable, and a key sealed by an earlier version is re-wrapped.

use cryptoki::{
    mechanism::Mechanism,
    object::{Attribute, AttributeType, KeyType, ObjectClass},
};
use topca_core::{
    KeyAlgorithm, OsRandom, RandomSource, SigningKey,
    audit::{Actor, AuditAction, AuditEntry, AuditKey, AuditRecord, Outcome, verify_chain},
    error::{KeyError, KmcError},
    kmc::{MasterKey, WrappedMasterKey},
};
use zeroize::Zeroizing;

use super::{inner, token};

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    OsRandom.fill(&mut bytes).unwrap();
    bytes
}

fn hex(id: [u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_a_master_key_in_the_token_gives_what_its_bytes_give() {
    if inner().is_none() {
        return;
    }
    let bytes = random_bytes();
    let memory = MasterKey::from_bytes(bytes);
    let (held, record) =
        MasterKey::wrap_into_token(Zeroizing::new(bytes), &token(), "kmc-same").unwrap();
    assert!(held.in_token() && !memory.in_token());
    assert_eq!(held.id(), memory.id());
    assert_eq!(held.check_value(), memory.check_value());
    assert_eq!(record.id(), memory.id());
    // Derived keys: the audit key and the backup manifest's key.
    for label in [&b"topca audit key v1"[..], b"topca backup manifest v1"] {
        assert_eq!(*held.derive(label).unwrap(), *memory.derive(label).unwrap());
    }
    // An audit log written under the key in memory verifies under the token's.
    let mut entries: Vec<AuditEntry> = Vec::new();
    for n in 0..3 {
        let record = AuditRecord {
            at: std::time::SystemTime::UNIX_EPOCH,
            actor: Actor::System,
            action: AuditAction::CertificateIssued,
            target: format!("serial {n}"),
            outcome: Outcome::Success,
            detail: String::new(),
        };
        let entry = AuditEntry::append(entries.last(), record, Some(&AuditKey::derive(&memory)));
        entries.push(entry);
    }
    verify_chain(&entries, Some(&AuditKey::derive(&held)), None).unwrap();
    let other_key = AuditKey::derive(&MasterKey::from_bytes(random_bytes()));
    assert!(verify_chain(&entries, Some(&other_key), None).is_err());
    // Sealed data and escrowed keys open across the two.
    let sealed = memory
        .seal_bytes(b"queued mail", "mail 7", &OsRandom)
        .unwrap();
    assert_eq!(
        held.open_bytes(&sealed, "mail 7").unwrap().as_slice(),
        b"queued mail"
    );
    let sealed = held.seal_bytes(b"cmp secret", "cmp 3", &OsRandom).unwrap();
    assert!(!sealed.windows(10).any(|w| w == b"cmp secret"));
    assert_eq!(
        memory.open_bytes(&sealed, "cmp 3").unwrap().as_slice(),
        b"cmp secret"
    );
    assert_eq!(
        held.open_bytes(&sealed, "cmp 4").unwrap_err(),
        KmcError::Damaged
    );
    let mut tampered = sealed.clone();
    tampered[25] ^= 1;
    assert_eq!(
        held.open_bytes(&tampered, "cmp 3").unwrap_err(),
        KmcError::Damaged
    );
    let other = MasterKey::from_bytes(random_bytes());
    assert_eq!(
        held.open_bytes(&other.seal_bytes(b"x", "b", &OsRandom).unwrap(), "b")
            .unwrap_err(),
        KmcError::WrongMasterKey
    );
    let escrowed = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let before = memory.seal(&escrowed, "serial 0A", &OsRandom).unwrap();
    let opened = held.open(&before, "serial 0A").unwrap();
    assert_eq!(opened.public_key(), escrowed.public_key());
    let after = held.seal(&escrowed, "serial 0B", &OsRandom).unwrap();
    assert_eq!(after.master_key_id, memory.id());
    assert_eq!(
        memory.open(&after, "serial 0B").unwrap().public_key(),
        escrowed.public_key()
    );

    // What is kept holds no clear byte of the key, and reads back the same.
    let kept = record.to_bytes();
    assert!(WrappedMasterKey::is_wrapped(&kept));
    assert!(!kept.windows(8).any(|w| bytes.windows(8).any(|b| b == w)));
    assert_eq!(WrappedMasterKey::from_bytes(&kept).unwrap(), record);
    assert_eq!(
        WrappedMasterKey::from_bytes(&kept[..60]).unwrap_err(),
        KmcError::Damaged
    );
    // Another process (a new token session pool) finds the objects again.
    let again = MasterKey::from_token(&token(), "kmc-same", &record).unwrap();
    assert_eq!(*again.derive(b"l").unwrap(), *memory.derive(b"l").unwrap());
    // A record whose check values are not the wrapped key's is refused.
    let mut wrong = kept.clone();
    wrong[60] ^= 1;
    let wrong = WrappedMasterKey::from_bytes(&wrong).unwrap();
    assert!(matches!(
        MasterKey::from_token(&token(), "kmc-same", &wrong),
        Err(KmcError::Damaged)
    ));
    // Another wrapping key label: its wrapping key is not in the token.
    let refused = MasterKey::from_token(&token(), "kmc-other", &record).unwrap_err();
    assert!(
        matches!(&refused, KmcError::Token(m) if m.contains("kmc-other-wrap")),
        "{refused:?}"
    );
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_missing_master_key_objects_are_unwrapped_again() {
    if inner().is_none() {
        return;
    }
    let bytes = random_bytes();
    let token = token();
    let (held, record) =
        MasterKey::wrap_into_token(Zeroizing::new(bytes), &token, "kmc-gone").unwrap();
    let label = format!("kmc-gone-master-{}", hex(held.id()));
    drop(held);
    let destroy = || {
        token
            .with_session(|session| {
                for suffix in ["aes", "hmac"] {
                    for object in session
                        .find_objects(&[Attribute::Label(format!("{label}-{suffix}").into_bytes())])
                        .unwrap()
                    {
                        session.destroy_object(object).unwrap();
                    }
                }
                Ok::<_, KeyError>(())
            })
            .unwrap();
    };
    destroy();
    // A damaged wrapped key does not unwrap.
    let mut damaged = record.to_bytes();
    let last = damaged.len() - 3;
    damaged[last] ^= 1;
    let damaged = WrappedMasterKey::from_bytes(&damaged).unwrap();
    let refused = MasterKey::from_token(&token, "kmc-gone", &damaged).unwrap_err();
    assert!(
        matches!(&refused, KmcError::Token(m) if m.contains("does not unwrap")),
        "{refused:?}"
    );
    // The intact one is unwrapped into the token again, the same key.
    let again = MasterKey::from_token(&token, "kmc-gone", &record).unwrap();
    let memory = MasterKey::from_bytes(bytes);
    assert_eq!(*again.derive(b"l").unwrap(), *memory.derive(b"l").unwrap());
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_the_unwrapped_master_key_is_sensitive_and_never_extractable() {
    if inner().is_none() {
        return;
    }
    let (held, _) =
        MasterKey::wrap_into_token(Zeroizing::new(random_bytes()), &token(), "kmc-attr").unwrap();
    let secret = held.token_secret().unwrap();
    for protection in secret.protection().unwrap() {
        assert!(protection.sensitive, "{protection:?}");
        assert!(!protection.extractable, "{protection:?}");
        assert!(protection.token_object, "{protection:?}");
    }
    // Read straight from the token: the value is refused, and so is wrapping
    // the objects out, even under the token's own wrapping key.
    let label = format!("kmc-attr-master-{}", hex(held.id()));
    let token = token();
    token
        .with_session(|session| {
            let wrapping = session
                .find_objects(&[Attribute::Label(b"kmc-attr-wrap".to_vec())])
                .unwrap()[0];
            for (suffix, kind) in [("aes", KeyType::AES), ("hmac", KeyType::GENERIC_SECRET)] {
                let found = session
                    .find_objects(&[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(kind),
                        Attribute::Label(format!("{label}-{suffix}").into_bytes()),
                    ])
                    .unwrap();
                assert_eq!(found.len(), 1, "{label}-{suffix}");
                let attributes = session
                    .get_attributes(
                        found[0],
                        &[
                            AttributeType::Sensitive,
                            AttributeType::Extractable,
                            AttributeType::NeverExtractable,
                            AttributeType::Value,
                        ],
                    )
                    .unwrap();
                assert!(
                    attributes.iter().all(|a| !matches!(a, Attribute::Value(_))),
                    "the token gave the value of {label}-{suffix}"
                );
                assert!(attributes.contains(&Attribute::Sensitive(true)));
                assert!(attributes.contains(&Attribute::Extractable(false)));
                assert!(
                    session
                        .wrap_key(&Mechanism::AesKeyWrapPad, wrapping, found[0])
                        .is_err(),
                    "{label}-{suffix} was wrapped out"
                );
            }
            Ok::<_, KeyError>(())
        })
        .unwrap();
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_a_master_key_sealed_by_an_earlier_version_is_rewrapped() {
    if inner().is_none() {
        return;
    }
    let bytes = random_bytes();
    let token = token();
    // What an earlier version kept: AES-GCM under the token key `kmc-old`.
    let old = token.seal("kmc-old", &bytes, &OsRandom).unwrap();
    assert!(!WrappedMasterKey::is_wrapped(&old));
    let (held, record) = MasterKey::rewrap_sealed(&token, "kmc-old", &old).unwrap();
    assert!(held.in_token());
    let memory = MasterKey::from_bytes(bytes);
    assert_eq!(held.id(), memory.id());
    assert_eq!(
        *held.derive(b"topca audit key v1").unwrap(),
        *memory.derive(b"topca audit key v1").unwrap()
    );
    let kept = record.to_bytes();
    assert!(WrappedMasterKey::is_wrapped(&kept));
    assert!(!kept.windows(8).any(|w| bytes.windows(8).any(|b| b == w)));
    // From then on the key comes from the record, in the token only.
    let again = MasterKey::from_token(&token, "kmc-old", &record).unwrap();
    let sealed = memory.seal_bytes(b"eab key", "eab 1", &OsRandom).unwrap();
    assert_eq!(
        again.open_bytes(&sealed, "eab 1").unwrap().as_slice(),
        b"eab key"
    );
    // A sealed file of another token key is not re-wrapped.
    assert!(matches!(
        MasterKey::rewrap_sealed(&token, "kmc-none", &old),
        Err(KmcError::Token(_))
    ));
}

#[test]
#[ignore = "run by softhsm_suite in its throw-away token directory"]
fn inner_a_master_key_generated_in_the_token_serves_and_opens_again_from_its_record() {
    if inner().is_none() {
        return;
    }
    let token = token();
    let (held, record) = MasterKey::generate_in_token(&token, "kmc-gen").unwrap();
    assert!(held.in_token());
    for protection in held.token_secret().unwrap().protection().unwrap() {
        assert!(
            protection.sensitive && !protection.extractable,
            "{protection:?}"
        );
    }
    let sealed = held
        .seal_bytes(b"queued mail", "mail 9", &OsRandom)
        .unwrap();
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let escrowed = held.seal(&key, "serial 9", &OsRandom).unwrap();

    // A restart (or another node): the record alone, read back from its bytes,
    // opens the same key in the token.
    let kept = WrappedMasterKey::from_bytes(&record.to_bytes()).unwrap();
    let again = MasterKey::from_token(&token, "kmc-gen", &kept).unwrap();
    assert_eq!(again.id(), held.id());
    assert_eq!(again.check_value(), held.check_value());
    assert_eq!(
        *again.derive(b"a sub-key").unwrap(),
        *held.derive(b"a sub-key").unwrap()
    );
    assert_eq!(
        again.open_bytes(&sealed, "mail 9").unwrap().as_slice(),
        b"queued mail"
    );
    assert_eq!(
        again.open(&escrowed, "serial 9").unwrap().public_key(),
        key.public_key()
    );

    // Each generation is a new key with its own id.
    let (other, _) = MasterKey::generate_in_token(&token, "kmc-gen").unwrap();
    assert_ne!(other.id(), held.id());
    assert_ne!(other.check_value(), held.check_value());
    assert!(other.open_bytes(&sealed, "mail 9").is_err());
}
