//! PKCS#12 files (RFC 7292) holding a private key and its certificate chain, as a
//! holder receives a server-generated key pair.
//!
//! ```text
//! PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
//! AuthenticatedSafe ::= SEQUENCE OF ContentInfo      -- each id-data here
//! SafeContents ::= SEQUENCE OF SafeBag
//! SafeBag ::= SEQUENCE { bagId OID, bagValue [0] EXPLICIT ANY, bagAttributes SET OF Attribute OPTIONAL }
//! CertBag ::= SEQUENCE { certId OID (x509Certificate), certValue [0] EXPLICIT OCTET STRING }
//! MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
//! ```
//! The key goes in a pkcs8ShroudedKeyBag (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC),
//! the certificates in cert bags (they are public), and the whole is protected by an
//! HMAC-SHA256 keyed with the RFC 7292 appendix B KDF — what OpenSSL 3 writes and reads.

use der::{
    Any, Decode, Encode, Sequence,
    asn1::{BmpString, ObjectIdentifier as Oid, OctetString, SetOfVec},
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use zeroize::Zeroizing;

use crate::{
    certificate::Certificate,
    error::Error,
    key::SigningKey,
    pkcs7::{ContentInfo, ID_DATA},
    random::RandomSource,
};

const PKCS8_SHROUDED_KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.22.1");
const FRIENDLY_NAME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: Oid = Oid::new_unwrap("1.2.840.113549.1.9.21");
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
/// MAC iterations (OpenSSL's default).
const MAC_ITERATIONS: u32 = 2048;

#[derive(Sequence)]
struct Pfx {
    version: u8,
    auth_safe: ContentInfo,
    mac_data: MacData,
}

#[derive(Sequence)]
struct SafeBag {
    bag_id: Oid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: Any,
    bag_attributes: Option<SetOfVec<Attribute>>,
}

#[derive(Sequence)]
struct CertBag {
    cert_id: Oid,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: OctetString,
}

#[derive(Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

#[derive(Sequence)]
struct MacData {
    mac: DigestInfo,
    mac_salt: OctetString,
    iterations: u32,
}

/// Builds a PKCS#12 file with `key`, its `certificate` and the CA `chain`
/// (issuer first), protected by `password`. `friendly_name` labels the key and
/// its certificate in key stores.
pub fn encode(
    key: &SigningKey,
    certificate: &Certificate,
    chain: &[&Certificate],
    friendly_name: &str,
    password: &str,
    random: &dyn RandomSource,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let local_key_id = Sha256::digest(certificate.der());
    let attributes = {
        let mut set = SetOfVec::new();
        set.insert(attribute(
            LOCAL_KEY_ID,
            Any::encode_from(&OctetString::new(local_key_id.as_slice())?)?,
        )?)?;
        set.insert(attribute(
            FRIENDLY_NAME,
            Any::encode_from(&BmpString::from_utf8(friendly_name)?)?,
        )?)?;
        set
    };
    let mut cert_bags = Vec::with_capacity(1 + chain.len());
    for (i, cert) in std::iter::once(certificate)
        .chain(chain.iter().copied())
        .enumerate()
    {
        let bag = CertBag {
            cert_id: X509_CERTIFICATE,
            cert_value: OctetString::new(cert.der())?,
        };
        cert_bags.push(SafeBag {
            bag_id: CERT_BAG,
            bag_value: Any::encode_from(&bag)?,
            bag_attributes: (i == 0).then(|| attributes.clone()),
        });
    }
    let shrouded = key.to_encrypted_pkcs8_der(password, random)?;
    let key_bags = vec![SafeBag {
        bag_id: PKCS8_SHROUDED_KEY_BAG,
        bag_value: Any::from_der(&shrouded)?,
        bag_attributes: Some(attributes),
    }];
    let auth_safe = vec![data(cert_bags)?, data(key_bags)?];
    let auth_safe_der = Zeroizing::new(auth_safe.to_der()?);

    let mut salt = [0u8; 16];
    random.fill(&mut salt)?;
    let mac_key = derive_mac_key(password, &salt, MAC_ITERATIONS);
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(mac_key.as_slice()).map_err(|_| Error::Random)?;
    mac.update(&auth_safe_der);
    let pfx = Pfx {
        version: 3,
        auth_safe: ContentInfo {
            content_type: ID_DATA,
            content: Any::encode_from(&OctetString::new(auth_safe_der.as_slice())?)?,
        },
        mac_data: MacData {
            mac: DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: SHA256,
                    parameters: Some(Any::from(der::asn1::Null)),
                },
                digest: OctetString::new(mac.finalize().into_bytes().as_slice())?,
            },
            mac_salt: OctetString::new(salt.as_slice())?,
            iterations: MAC_ITERATIONS,
        },
    };
    Ok(Zeroizing::new(pfx.to_der()?))
}

fn attribute(oid: Oid, value: Any) -> Result<Attribute, Error> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid, values })
}

/// A ContentInfo of type id-data whose OCTET STRING holds `bags` as SafeContents.
fn data(bags: Vec<SafeBag>) -> Result<ContentInfo, Error> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(bags.to_der()?)?)?,
    })
}

/// The MAC key of RFC 7292 appendix B.2 (ID = 3) with SHA-256: u = 32, v = 64,
/// the password as a NUL-terminated BMPString.
fn derive_mac_key(password: &str, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    const V: usize = 64;
    let mut pass = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    for unit in password.encode_utf16().chain(std::iter::once(0)) {
        pass.extend_from_slice(&unit.to_be_bytes());
    }
    let fill = |input: &[u8]| -> Vec<u8> {
        let len = input.len().div_ceil(V) * V;
        input.iter().copied().cycle().take(len).collect()
    };
    let i = Zeroizing::new([fill(salt), fill(&pass)].concat());
    let mut hasher = Sha256::new();
    hasher.update([3u8; V]);
    hasher.update(i.as_slice());
    let mut a = hasher.finalize();
    for _ in 1..iterations {
        a = Sha256::digest(a);
    }
    // One output block (n = u = 32) is all a SHA-256 MAC key needs; the I-update
    // of step 6 only matters for further blocks, so it is not performed.
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&a);
    key
}
