//! The PKCS#10 certification request (RFC 2986 §4) for a new SM2 key, signed
//! with SM2 and SM3 under the default identifier `1234567812345678`
//! (GM/T 0009 §10 / GM/T 0010 §8.1).
//!
//! ```text
//! CertificationRequest ::= SEQUENCE {
//!   certificationRequestInfo SEQUENCE {
//!     version       INTEGER { v1(0) },
//!     subject       Name,                 -- CN=<the page's common name>
//!     subjectPKInfo SubjectPublicKeyInfo, -- id-ecPublicKey, curve sm2 (1.2.156.10197.1.301)
//!     attributes    [0] IMPLICIT SET OF Attribute },  -- empty
//!   signatureAlgorithm AlgorithmIdentifier, -- SM2-with-SM3 (1.2.156.10197.1.501), no parameters
//!   signature          BIT STRING }         -- DER SEQUENCE { INTEGER r, INTEGER s }
//! ```

use der::{
    Any, Decode, Encode, Tag,
    asn1::{BitString, ObjectIdentifier as Oid},
};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use topca_sm2::SigningKey;
use x509_cert::{
    attr::AttributeTypeAndValue,
    name::{Name, RdnSequence, RelativeDistinguishedName},
    request::{CertReq, CertReqInfo, Version},
};

use crate::{drbg::Drbg, error::Error};

/// `id-at-commonName` (X.520).
const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
/// SM2 signature with SM3 (GM/T 0006).
const SM2_WITH_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.501");
/// `ub-common-name` (RFC 5280 Appendix A.1).
const MAX_COMMON_NAME: usize = 64;

/// The DER of a request for `key`, subject `CN=common_name`.
pub(crate) fn build(
    key: &SigningKey,
    common_name: &str,
    drbg: &mut Drbg,
) -> Result<Vec<u8>, Error> {
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject(common_name)?,
        public_key: SubjectPublicKeyInfoOwned::from_der(&key.verifying_key().to_public_key_der())?,
        attributes: Default::default(),
    };
    let to_sign = info.to_der()?;
    // Hedged RFC 6979 nonce: deterministic in the key and message, mixed
    // with fresh bytes from the page's generator.
    let hedge: [u8; topca_sm2::HEDGE_LEN] = drbg.bytes();
    let signature = key.sign_digest_with_extra(&key.verifying_key().digest(&to_sign), &hedge)?;
    CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned {
            oid: SM2_WITH_SM3,
            parameters: None,
        },
        signature: BitString::from_bytes(&signature.to_der())?,
    }
    .to_der()
    .map_err(Error::from)
}

/// `CN=common_name` as a UTF8String: 1 to 64 characters, no control characters.
fn subject(common_name: &str) -> Result<Name, Error> {
    let chars = common_name.chars().count();
    if chars == 0 || chars > MAX_COMMON_NAME || common_name.chars().any(char::is_control) {
        return Err(Error::Name);
    }
    let value = AttributeTypeAndValue {
        oid: COMMON_NAME,
        value: Any::new(Tag::Utf8String, common_name.as_bytes())?,
    };
    let mut rdns = RdnSequence::default();
    rdns.push(RelativeDistinguishedName::try_from(vec![value])?);
    // Name and RdnSequence share one encoding; Name has no public constructor.
    Ok(Name::from_der(&rdns.to_der()?)?)
}
