//! The CMP (RFC 4210/9480) and CRMF (RFC 4211) structures TopCA reads, as
//! `der`-derived types, and the few it writes, as DER built by hand.
//!
//! RustCrypto's `cmpv2`/`crmf` crates pin a pre-release `x509-cert` that
//! disagrees with the `der` 0.8 / `x509-cert` 0.3 generation the rest of TopCA
//! uses, so the types are defined here. The CMP module uses EXPLICIT tags,
//! the CRMF module IMPLICIT tags (except for the CHOICE `Name`, always explicit).
//! Parts that are protected or signed (the header, the body, a `certReq`) are
//! kept as received ([`AnyRef`]) so signatures and MACs are checked over the
//! exact bytes.

use const_oid::ObjectIdentifier as Oid;
use der::{
    Sequence,
    asn1::{Any, AnyRef, BitString, GeneralizedTime, Int, OctetString},
};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::{Certificate, ext::Extension, ext::pkix::name::GeneralName, name::Name};

/// id-PasswordBasedMac (RFC 4211 §4.4).
pub const PASSWORD_BASED_MAC: Oid = Oid::new_unwrap("1.2.840.113533.7.66.13");
/// id-PBMAC1 (RFC 8018 appendix A.5, RFC 9481 §6.1.3).
pub const PBMAC1: Oid = Oid::new_unwrap("1.2.840.113549.1.5.14");
/// id-PBKDF2 (RFC 8018 appendix A.2).
pub const PBKDF2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.12");
/// id-sha1.
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
/// id-sha256.
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
/// id-sha384.
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
/// id-sha512.
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
/// SM3 (GM/T 0004).
pub const SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.401");
/// hMAC-SHA1 (RFC 2404).
pub const HMAC_SHA1: Oid = Oid::new_unwrap("1.3.6.1.5.5.8.1.2");
/// hmacWithSHA1 (RFC 8018).
pub const HMAC_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.2.7");
/// hmacWithSHA256 (RFC 8018).
pub const HMAC_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.2.9");
/// hmacWithSHA384 (RFC 8018).
pub const HMAC_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.2.10");
/// hmacWithSHA512 (RFC 8018).
pub const HMAC_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.2.11");
/// id-it-implicitConfirm (RFC 4210 §5.1.1.1).
pub const IMPLICIT_CONFIRM: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.4.13");
/// id-it-caCerts (RFC 9483 §4.3.1).
pub const CA_CERTS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.4.17");
/// id-it-rootCaKeyUpdate (RFC 9480 §2.15).
pub const ROOT_CA_KEY_UPDATE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.4.18");
/// id-it-certReqTemplate (RFC 9480 §2.17).
pub const CERT_REQ_TEMPLATE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.4.19");
/// id-it-rootCaCert (RFC 9480 §2.15): the root whose update is asked for.
pub const ROOT_CA_CERT: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.4.20");
/// id-regCtrl-oldCertID (RFC 4211 §6.5).
pub const OLD_CERT_ID: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.5.1.5");

/// PKIMessage, with the header and body kept as received.
#[derive(Sequence)]
pub struct RawMessage<'a> {
    /// PKIHeader.
    pub header: AnyRef<'a>,
    /// PKIBody (a context-specific CHOICE).
    pub body: AnyRef<'a>,
    /// PKIProtection.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub protection: Option<BitString>,
    /// extraCerts: the signer's certificate first.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub extra_certs: Option<Vec<Certificate>>,
}

/// PKIHeader (RFC 4210 §5.1.1).
#[derive(Sequence)]
pub struct Header {
    /// pvno: 2 (cmp2000) or 3 (cmp2021).
    pub pvno: u8,
    /// Who sent it.
    pub sender: GeneralName,
    /// Whom it is for.
    pub recipient: GeneralName,
    /// When it was sent.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub message_time: Option<GeneralizedTime>,
    /// The protection algorithm.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub protection_alg: Option<AlgorithmIdentifierOwned>,
    /// The sender's key: the reference of a MAC credential.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub sender_kid: Option<OctetString>,
    /// The recipient's key.
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub recip_kid: Option<OctetString>,
    /// The transaction.
    #[asn1(context_specific = "4", tag_mode = "EXPLICIT", optional = "true")]
    pub transaction_id: Option<OctetString>,
    /// The sender's fresh nonce.
    #[asn1(context_specific = "5", tag_mode = "EXPLICIT", optional = "true")]
    pub sender_nonce: Option<OctetString>,
    /// The nonce of the message answered.
    #[asn1(context_specific = "6", tag_mode = "EXPLICIT", optional = "true")]
    pub recip_nonce: Option<OctetString>,
    /// Free text.
    #[asn1(context_specific = "7", tag_mode = "EXPLICIT", optional = "true")]
    pub free_text: Option<Any>,
    /// General information (implicitConfirm among others).
    #[asn1(context_specific = "8", tag_mode = "EXPLICIT", optional = "true")]
    pub general_info: Option<Vec<InfoTypeAndValue>>,
}

/// InfoTypeAndValue.
#[derive(Sequence)]
pub struct InfoTypeAndValue {
    /// The type.
    pub info_type: Oid,
    /// The value.
    pub info_value: Option<Any>,
}

/// CertReqMsg (RFC 4211 §3), the request kept as received for the POP check.
#[derive(Sequence)]
pub struct CertReqMsg<'a> {
    /// CertRequest.
    pub cert_req: AnyRef<'a>,
    /// ProofOfPossession (a CHOICE) and, possibly, regInfo.
    pub popo: Option<AnyRef<'a>>,
    /// regInfo (ignored).
    pub reg_info: Option<AnyRef<'a>>,
}

/// CertRequest.
#[derive(Sequence)]
pub struct CertRequest {
    /// certReqId.
    pub cert_req_id: Int,
    /// The template.
    pub cert_template: CertTemplate,
    /// Controls (oldCertID for a key update).
    pub controls: Option<Vec<InfoTypeAndValue>>,
}

/// CertTemplate (RFC 4211 §5).
#[derive(Sequence)]
pub struct CertTemplate {
    /// version.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub version: Option<Int>,
    /// serialNumber.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub serial_number: Option<Int>,
    /// signingAlg.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    pub signing_alg: Option<AlgorithmIdentifierOwned>,
    /// issuer.
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub issuer: Option<Name>,
    /// validity (ignored: the profile decides).
    #[asn1(context_specific = "4", tag_mode = "IMPLICIT", optional = "true")]
    pub validity: Option<OptionalValidity>,
    /// subject.
    #[asn1(context_specific = "5", tag_mode = "EXPLICIT", optional = "true")]
    pub subject: Option<Name>,
    /// publicKey.
    #[asn1(context_specific = "6", tag_mode = "IMPLICIT", optional = "true")]
    pub public_key: Option<SubjectPublicKeyInfoOwned>,
    /// issuerUID.
    #[asn1(context_specific = "7", tag_mode = "IMPLICIT", optional = "true")]
    pub issuer_uid: Option<BitString>,
    /// subjectUID.
    #[asn1(context_specific = "8", tag_mode = "IMPLICIT", optional = "true")]
    pub subject_uid: Option<BitString>,
    /// extensions.
    #[asn1(context_specific = "9", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<Extension>>,
}

/// OptionalValidity.
#[derive(Sequence)]
pub struct OptionalValidity {
    /// notBefore.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub not_before: Option<x509_cert::time::Time>,
    /// notAfter.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub not_after: Option<x509_cert::time::Time>,
}

/// POPOSigningKey (RFC 4211 §4.1), inside `signature [1]`, without
/// poposkInput (refused before: it serves templates without subject or key).
#[derive(Sequence)]
pub struct PopoSigningKey {
    /// The signature algorithm.
    pub algorithm: AlgorithmIdentifierOwned,
    /// The signature over the DER of certReq.
    pub signature: BitString,
}

/// PBMParameter (RFC 4211 §4.4).
#[derive(Sequence)]
pub struct PbmParameter {
    /// salt.
    pub salt: OctetString,
    /// The one-way function (a hash).
    pub owf: AlgorithmIdentifierOwned,
    /// How many times it is applied.
    pub iteration_count: u32,
    /// The MAC (an HMAC).
    pub mac: AlgorithmIdentifierOwned,
}

/// PBMAC1-params (RFC 8018 appendix A.5).
#[derive(Sequence)]
pub struct Pbmac1Params {
    /// The key derivation function (PBKDF2).
    pub key_derivation_func: AlgorithmIdentifierOwned,
    /// The MAC (an HMAC).
    pub message_auth_scheme: AlgorithmIdentifierOwned,
}

/// PBKDF2-params (RFC 8018 appendix A.2), with the salt as an OCTET STRING.
#[derive(Sequence)]
pub struct Pbkdf2Params {
    /// salt (specified).
    pub salt: OctetString,
    /// iterationCount.
    pub iteration_count: u32,
    /// keyLength.
    pub key_length: Option<u32>,
    /// prf (default hmacWithSHA1).
    pub prf: Option<AlgorithmIdentifierOwned>,
}

/// CertStatus of a certConf (RFC 4210 §5.3.18).
#[derive(Sequence)]
pub struct CertStatus {
    /// The hash of the certificate confirmed.
    pub cert_hash: OctetString,
    /// certReqId.
    pub cert_req_id: Int,
    /// Accepted or rejected; absent: accepted.
    pub status_info: Option<StatusInfo>,
    /// hashAlg (cmp2021).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash_alg: Option<AlgorithmIdentifierOwned>,
}

/// PKIStatusInfo as received.
#[derive(Sequence)]
pub struct StatusInfo {
    /// status.
    pub status: u8,
    /// statusString.
    pub status_string: Option<Any>,
    /// failInfo.
    pub fail_info: Option<BitString>,
}

/// RevDetails (RFC 4210 §5.3.9).
#[derive(Sequence)]
pub struct RevDetails {
    /// Which certificate: issuer and serialNumber.
    pub cert_details: CertTemplate,
    /// crlEntryDetails (the reason).
    pub crl_entry_details: Option<Vec<Extension>>,
}

/// The DER length octets of `len`.
fn length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let mut out = vec![0x80 | (bytes.len() - skip) as u8];
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// A TLV of `tag` around `content`.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    out.extend(length(content.len()));
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of the encoded `parts`.
pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// The context-specific constructed tag `[n]` around `inner` (EXPLICIT).
pub fn explicit(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(0xA0 | (n & 0x1F), inner)
}

/// An OCTET STRING.
pub fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

/// A UTF8String.
pub fn utf8(text: &str) -> Vec<u8> {
    tlv(0x0C, text.as_bytes())
}

/// A BIT STRING of whole octets.
pub fn bits(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

/// An INTEGER from its DER content octets (as decoded into an [`Int`]).
pub fn integer(value: &Int) -> Vec<u8> {
    tlv(0x02, value.as_bytes())
}

/// A small non-negative INTEGER.
pub fn small_integer(value: u8) -> Vec<u8> {
    if value >= 0x80 {
        tlv(0x02, &[0, value])
    } else {
        tlv(0x02, &[value])
    }
}

/// PKIFreeText: one UTF8String.
pub fn free_text(text: &str) -> Vec<u8> {
    sequence(&[&utf8(text)])
}

/// A named-bit BIT STRING with bit `n` set (PKIFailureInfo), trailing zero
/// bits removed as DER requires.
pub fn named_bit(n: u8) -> Vec<u8> {
    let index = usize::from(n / 8);
    let mut content = vec![0u8; index + 2];
    content[0] = 7 - n % 8;
    content[index + 1] = 0x80 >> (n % 8);
    tlv(0x03, &content)
}

/// An AlgorithmIdentifier of `oid` without parameters.
pub fn algorithm(oid: Oid) -> Vec<u8> {
    sequence(&[&tlv(0x06, oid.as_bytes())])
}

/// An AlgorithmIdentifier of `oid` with `parameters` (encoded).
pub fn algorithm_with(oid: Oid, parameters: &[u8]) -> Vec<u8> {
    sequence(&[&tlv(0x06, oid.as_bytes()), parameters])
}

/// The content octets of a context-specific EXPLICIT `[n]` element: its inner
/// TLV, or `None` when `any` is not `[n]`.
pub fn explicit_inner<'a>(any: &AnyRef<'a>) -> Option<(u32, &'a [u8])> {
    match der::Tagged::tag(any) {
        der::Tag::ContextSpecific {
            constructed: true,
            number,
        } => Some((number.value(), any.value())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use der::{Decode, Encode};

    use super::*;

    #[test]
    fn lengths_and_named_bits_are_der() {
        assert_eq!(tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 1, 44]);
        // badMessageCheck (1): one octet, 6 unused bits.
        assert_eq!(named_bit(1), vec![0x03, 2, 6, 0x40]);
        // transactionIdInUse (21): three octets.
        assert_eq!(named_bit(21), vec![0x03, 4, 2, 0, 0, 0x04]);
        let decoded = BitString::from_der(&named_bit(9)).unwrap();
        assert_eq!(decoded.to_der().unwrap(), named_bit(9));
    }

    #[test]
    fn small_integers_stay_positive() {
        assert_eq!(small_integer(2), vec![2, 1, 2]);
        assert_eq!(small_integer(200), vec![2, 2, 0, 200]);
        assert_eq!(
            Int::from_der(&small_integer(200)).unwrap().as_bytes(),
            &[0, 200]
        );
    }
}
