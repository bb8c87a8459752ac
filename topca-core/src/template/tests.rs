//! Template issuance against the checked path.

use std::{
    net::IpAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use super::*;
use crate::{
    CaUrls, Environment, FixedClock, KeyAlgorithm, OsRandom, ProfileKind, RandomSource, SigningKey,
};

/// Every draw gives the same octets, so both paths get the same serial.
struct ConstantRandom(u8);

impl RandomSource for ConstantRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        dest.fill(self.0);
        Ok(())
    }
}

/// 2045-06-01T12:34:56Z: a root made then outlives 2050, so leaves can end in
/// GeneralizedTime.
const NOW: u64 = 2_379_932_096;

fn env(at: u64) -> Environment {
    Environment::new(
        Arc::new(FixedClock::at_unix(at)),
        Arc::new(ConstantRandom(0xA5)),
    )
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

fn full_urls() -> CaUrls {
    CaUrls {
        crl: Some("http://ca.example.com/TopCA/crl/current.crl".into()),
        ca_issuers: Some("http://ca.example.com/TopCA/ca/issuing.cer".into()),
        ocsp: Some("http://ca.example.com/TopCA/ocsp".into()),
        delta_crl: Some("http://ca.example.com/TopCA/crl/delta.crl".into()),
    }
}

/// A root (no URLs) and an issuing CA under it (every URL), of `algorithm`.
fn cas(algorithm: KeyAlgorithm, now: u64) -> (CertificateAuthority, CertificateAuthority) {
    let root = CertificateAuthority::create_root(
        SigningKey::generate(algorithm, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name(format!("Template Root {algorithm}"))
            .country("CN")
            .organization("天诚安信"),
        &Profile::new(ProfileKind::RootCa, 30 * 365).unwrap(),
        env(now),
    )
    .unwrap();
    let sub = root
        .create_subordinate(
            SigningKey::generate(algorithm, &OsRandom).unwrap(),
            &DistinguishedName::with_common_name(format!("Template Issuing CA {algorithm}"))
                .organization("天诚安信")
                .unit("证书服务部"),
            &Profile::sub_ca(20 * 365, 0).unwrap(),
            full_urls(),
        )
        .unwrap();
    (root, sub)
}

fn profiles() -> Vec<Profile> {
    vec![
        Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        Profile::sub_ca(3650, 0).unwrap(),
        Profile::new(ProfileKind::UserSigning, 365).unwrap(),
        Profile::new(ProfileKind::UserEncryption, 365).unwrap(),
        Profile::new(ProfileKind::TlsServer, 825).unwrap(),
        Profile::new(ProfileKind::TlsClient, 730).unwrap(),
        Profile::new(ProfileKind::OcspSigning, 90).unwrap(),
    ]
}

/// Requests covering: CN copied as host or not, e-mail copied, explicit names
/// of every form, an end in GeneralizedTime, a CN that is not a host and no
/// names (refused for servers), a malformed country (refused everywhere).
fn requests(key: &PublicKey) -> Vec<IssueRequest> {
    let subject = DistinguishedName::with_common_name("www.example.com")
        .country("cn")
        .organization("天诚安信")
        .unit("技术部")
        .email("zhangsan@Example.COM");
    let mut names = SubjectAltNames::default();
    names.add_host("api.example.com").unwrap();
    names.add_host("*.example.com").unwrap();
    names.ip_addresses.push(IpAddr::from([192, 0, 2, 10]));
    names.add_host("2001:db8::10").unwrap();
    names.add_email("ops@example.com").unwrap();
    let base = IssueRequest {
        subject: subject.clone(),
        public_key: key.clone(),
        alt_names: SubjectAltNames::default(),
        not_after: None,
    };
    let mut long_name = DistinguishedName::with_common_name("张三 ".repeat(20).trim());
    long_name.state = Some("北京".into());
    long_name.locality = Some("海淀区".repeat(30));
    vec![
        base.clone(),
        IssueRequest {
            alt_names: names.clone(),
            // 2052-02-29T00:00:00Z
            not_after: Some(at(2_592_777_600)),
            ..base.clone()
        },
        IssueRequest {
            subject: long_name,
            alt_names: names,
            not_after: Some(at(NOW + 3600)),
            ..base.clone()
        },
        IssueRequest {
            subject: DistinguishedName::with_common_name("not a host"),
            ..base.clone()
        },
        IssueRequest {
            subject: subject.country("China"),
            ..base
        },
    ]
}

#[test]
fn each_key_class_indexes_its_own_representative() {
    for (i, kind) in KEY_CLASSES.into_iter().enumerate() {
        assert_eq!(key_class(kind), i, "{kind}");
    }
    for bits in [3072, 4096] {
        assert_eq!(key_class(KeyKind::Rsa { bits }), 0);
    }
}

#[test]
fn the_template_encodes_what_the_checked_path_encodes() {
    let leaf_keys: Vec<SigningKey> = KeyAlgorithm::ALL
        .into_iter()
        .map(|alg| SigningKey::generate(alg, &OsRandom).unwrap())
        .collect();
    let (mut same, mut refused, mut made, mut keys_refused) = (0, 0, 0, 0);
    // Requests refused by both paths, by the request's place in `requests`.
    let mut refused_requests = [0; 5];
    for algorithm in KeyAlgorithm::ALL {
        let (root, sub) = cas(algorithm, NOW);
        for ca in [&root, &sub] {
            for profile in profiles() {
                let template = match IssuanceTemplate::new(ca, &profile) {
                    Ok(template) => template,
                    Err(e) => {
                        let slow = ca.prepare(requests(ca.key().public_key())[0].clone(), &profile);
                        assert_eq!(
                            format!("{e:?}"),
                            format!("{:?}", slow.unwrap_err()),
                            "{algorithm} {profile:?}"
                        );
                        refused += 1;
                        continue;
                    }
                };
                made += 1;
                for key in &leaf_keys {
                    // A key the profile does not take refuses every request.
                    let key_taken = profile.check_key(key.public_key()).is_ok();
                    if !key_taken {
                        keys_refused += 1;
                    }
                    for (i, request) in requests(key.public_key()).into_iter().enumerate() {
                        let slow = ca.prepare(request.clone(), &profile);
                        let mut buffer = vec![0xEE];
                        let fast = template.write_tbs(&request, &mut buffer);
                        let context = format!(
                            "{algorithm} CA, {} key, {profile:?}, {:?}",
                            key.public_key().kind(),
                            request.subject
                        );
                        match (slow, fast) {
                            (Ok(_), Ok(_)) if !key_taken => {
                                panic!("{context}: the profile took a key it refuses")
                            }
                            (Ok(prepared), Ok(serial)) => {
                                assert_eq!(&buffer[1..], prepared.tbs_der(), "{context}");
                                assert_eq!(hex_upper(&serial), prepared.serial_hex());
                                same += 1;
                            }
                            (Err(slow), Err(fast)) => {
                                assert_eq!(format!("{slow:?}"), format!("{fast:?}"), "{context}");
                                assert_eq!(buffer, [0xEE], "nothing written on error");
                                if key_taken {
                                    refused_requests[i] += 1;
                                }
                            }
                            (slow, fast) => panic!("{context}: {slow:?} vs {fast:?}"),
                        }
                    }
                }
            }
        }
    }
    // Every algorithm: root CA profiles refused from both CAs, sub CA refused
    // from the issuing CA (path length 0).
    assert_eq!(refused, 3 * KeyAlgorithm::ALL.len());
    assert!(same > 1000, "{same}");
    // The malformed country everywhere, the CN that is not a host only for
    // the profiles that need a host name, the others never.
    assert!(keys_refused > 0, "some profile refuses some key kind");
    let everywhere = made * leaf_keys.len() - keys_refused;
    assert_eq!(refused_requests[4], everywhere);
    assert!(refused_requests[3] > 0 && refused_requests[3] < everywhere);
    assert_eq!(refused_requests[..3], [0, 0, 0]);
}

#[test]
fn template_certificates_decode_and_verify_and_carry_the_same_tbs() {
    for algorithm in KeyAlgorithm::ALL {
        let (_, sub) = cas(algorithm, NOW);
        let profile = Profile::new(ProfileKind::TlsServer, 365).unwrap();
        let template = sub.template(&profile).unwrap();
        let request = requests(sub.key().public_key())[1].clone();
        for check in [false, true] {
            let template = IssuanceTemplate::new(&sub, &profile)
                .unwrap()
                .with_signature_check(check);
            let issued = template.issue(&request).unwrap();
            let certificate = issued.to_certificate().unwrap();
            certificate
                .verify_signed_by(sub.key().public_key())
                .unwrap();
            assert_eq!(certificate.serial_hex(), issued.serial_hex());
            assert_eq!(certificate.der(), issued.der());
            let tbs = der::Encode::to_der(certificate.x509().tbs_certificate()).unwrap();
            let prepared = sub.prepare(request.clone(), &profile).unwrap();
            assert_eq!(tbs, prepared.tbs_der(), "{algorithm}");
            // The checked path's assembly of the same TBS and signature is the same DER.
            let signature = certificate.x509().signature().raw_bytes();
            let assembled = crate::tbs::assemble_certificate(
                &tbs,
                &sub.key().signature_algorithm().algorithm_identifier(),
                signature,
            )
            .unwrap();
            assert_eq!(assembled, issued.der(), "{algorithm}");
            assert_eq!(
                issued.clone().into_certificate().unwrap(),
                certificate,
                "{algorithm}"
            );
        }
        assert_eq!(template.profile(), &profile);
    }
}

#[test]
fn bad_requests_keep_their_typed_errors() {
    let (root, sub) = cas(KeyAlgorithm::EcdsaP256, NOW);
    let ed25519 = SigningKey::generate(KeyAlgorithm::Ed25519, &OsRandom).unwrap();
    let request = IssueRequest {
        subject: DistinguishedName::with_common_name("张三"),
        public_key: ed25519.public_key().clone(),
        alt_names: SubjectAltNames::default(),
        not_after: None,
    };
    let encryption = Profile::new(ProfileKind::UserEncryption, 365).unwrap();
    let err = sub
        .template(&encryption)
        .unwrap()
        .issue(&request)
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::KeyNotAllowed { .. })),
        "{err:?}"
    );
    let server = Profile::new(ProfileKind::TlsServer, 365).unwrap();
    let err = sub.template(&server).unwrap().issue(&request).unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::NoServerName)),
        "{err:?}"
    );
    let err = root
        .template(&Profile::new(ProfileKind::RootCa, 3650).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::PathLength)),
        "{err:?}"
    );

    // Ending before now: an empty validity.
    let past = IssueRequest {
        not_after: Some(at(NOW - 1)),
        ..request.clone()
    };
    let signing = Profile::new(ProfileKind::UserSigning, 365).unwrap();
    let err = sub.template(&signing).unwrap().issue(&past).unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::EmptyValidity)),
        "{err:?}"
    );

    // The same CA loaded with a clock before its certificate starts, and after
    // it ends: the issuer is not valid.
    for when in [NOW - 3600, NOW + 21 * 365 * 86_400] {
        let loaded = CertificateAuthority::from_parts(
            SigningKey::from_pkcs8_der(&sub.key().to_pkcs8_der().unwrap()).unwrap(),
            sub.certificate().clone(),
            vec![root.certificate().clone()],
            sub.urls().clone(),
            env(when),
        )
        .unwrap();
        let err = loaded
            .template(&signing)
            .unwrap()
            .issue(&request)
            .unwrap_err();
        assert!(
            matches!(err, Error::Policy(PolicyError::IssuerNotValid)),
            "{err:?}"
        );
    }
}

/// A 2048-bit RSA public key with `exponent` (a real modulus, e.g. e = 3).
fn rsa_key_with_exponent(exponent: &[u8]) -> PublicKey {
    use der::{
        Decode, Encode,
        asn1::{BitString, UintRef},
    };
    #[derive(der::Sequence)]
    struct RsaPublic<'a> {
        modulus: UintRef<'a>,
        exponent: UintRef<'a>,
    }
    let key = SigningKey::generate(KeyAlgorithm::Rsa2048, &OsRandom).unwrap();
    let spki = key.public_key().spki().unwrap();
    let bits = spki.subject_public_key.raw_bytes();
    let original = RsaPublic::from_der(bits).unwrap();
    let changed = RsaPublic {
        modulus: original.modulus,
        exponent: UintRef::new(exponent).unwrap(),
    }
    .to_der()
    .unwrap();
    let spki = spki::SubjectPublicKeyInfoOwned {
        algorithm: spki.algorithm.clone(),
        subject_public_key: BitString::from_bytes(&changed).unwrap(),
    };
    PublicKey::from_spki_der(&spki.to_der().unwrap()).unwrap()
}

#[test]
fn rsa_exponents_other_than_65537_are_refused_on_every_signing_path() {
    let (_, sub) = cas(KeyAlgorithm::EcdsaP256, NOW);
    let e3 = rsa_key_with_exponent(&[3]);
    assert_eq!(e3.rsa_public_exponent(), Some(3));
    let e17 = rsa_key_with_exponent(&[17]);
    let mut names = SubjectAltNames::default();
    names.add_host("www.example.com").unwrap();
    for profile in profiles().iter().filter(|p| !p.kind().is_ca()) {
        for (key, exponent) in [(&e3, 3), (&e17, 17)] {
            let request = IssueRequest {
                subject: DistinguishedName::with_common_name("www.example.com"),
                public_key: key.clone(),
                alt_names: names.clone(),
                not_after: None,
            };
            let refused = Error::Policy(PolicyError::RsaExponent { exponent });
            let checked = sub.issue(request.clone(), profile).unwrap_err();
            assert_eq!(checked.to_string(), refused.to_string(), "{profile:?}");
            let templated = sub.template(profile).unwrap().issue(&request).unwrap_err();
            assert_eq!(templated.to_string(), refused.to_string(), "{profile:?}");
        }
    }
    let f4 = rsa_key_with_exponent(&[1, 0, 1]);
    let request = IssueRequest {
        subject: DistinguishedName::with_common_name("www.example.com"),
        public_key: f4,
        alt_names: names,
        not_after: None,
    };
    let server = Profile::new(ProfileKind::TlsServer, 365).unwrap();
    assert!(sub.issue(request, &server).is_ok());
}

#[test]
fn times_switch_to_generalized_time_in_2050() {
    let der = |t| DerTime::new(at(t)).unwrap().as_bytes().to_vec();
    assert_eq!(der(2_524_607_999), b"\x17\x0d491231235959Z");
    assert_eq!(der(2_524_608_000), b"\x18\x0f20500101000000Z");
    assert_eq!(der(0), b"\x17\x0d700101000000Z");
    for t in [0, 951_782_400, 2_524_607_999, 2_524_608_000, 4_102_444_800] {
        let ours = validity_der(at(t), at(t + 86_399)).unwrap();
        let theirs: x509_cert::time::Validity = x509_cert::time::Validity::new(
            x509_cert::time::Time::try_from(at(t)).unwrap(),
            x509_cert::time::Time::try_from(at(t + 86_399)).unwrap(),
        );
        assert_eq!(
            ours.as_bytes(),
            der::Encode::to_der(&theirs).unwrap(),
            "{t}"
        );
    }
}
