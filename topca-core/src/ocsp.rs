//! An OCSP responder (RFC 6960): requests in, signed responses out, status from
//! the store. Responses are signed by a delegated responder certificate
//! ([`OcspSigner`]: id-kp-OCSPSigning with id-pkix-ocsp-nocheck) that the CA
//! issues and that is replaced when a third of its life is left.
//!
//! Whatever the input, [`OcspResponder::respond`] answers with a DER OCSPResponse:
//! a request that does not parse gets `malformedRequest`, a store failure
//! `internalError`; it never panics.

use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use der::{
    Any, Decode, Encode, Sequence,
    asn1::{BitString, GeneralizedTime, Int, OctetString},
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;

use crate::{
    algorithm::KeyAlgorithm,
    audit::Actor,
    ca::{CertificateAuthority, IssueRequest},
    certificate::Certificate,
    error::{Error, KeyError},
    issuance::issue_unattached,
    key::SigningKey,
    lifecycle::{CertificateUsage, RevocationReason},
    name::{DistinguishedName, SubjectAltNames},
    oid,
    profile::{Profile, ProfileKind},
    store::{CertificateStatus, IssuanceStore},
};

mod cache;
mod presign;

pub use cache::{CachedResponse, OcspCache};
pub use presign::Presigned;

/// Most certificates one request may ask about.
const MAX_REQUESTS: usize = 32;

/// `OCSPResponseStatus` values used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    /// The response carries statuses.
    Successful = 0,
    /// The request did not parse or asked for too much.
    MalformedRequest = 1,
    /// The responder could not answer (the store failed).
    InternalError = 2,
}

#[derive(Sequence)]
struct OcspRequest {
    tbs_request: TbsRequest,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<Any>,
}

#[derive(Sequence)]
struct TbsRequest {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<Any>,
    request_list: Vec<SingleRequest>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct SingleRequest {
    req_cert: CertId,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Sequence)]
struct CertId {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: Int,
}

#[derive(Sequence)]
struct ResponseData {
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    responder_key_hash: OctetString,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct SingleResponse {
    cert_id: CertId,
    /// `CertStatus`, encoded by [`cert_status`].
    cert_status: Any,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
}

#[derive(Sequence)]
struct BasicOcspResponse {
    tbs_response_data: ResponseData,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<x509_cert::Certificate>>,
}

/// A delegated OCSP responder: its key and the certificate the CA gave it.
pub struct OcspSigner {
    key: SigningKey,
    certificate: Certificate,
    /// The SHA-1 CertID parts of the CA's certificates (name hash, key hash),
    /// computed once for the pre-signed responses (see [`presign`]).
    issuer_sha1: (OctetString, OctetString),
}

impl OcspSigner {
    /// Has `ca` issue a responder certificate for a fresh key of `algorithm`,
    /// valid for `lifetime_days` (at most 90): recorded in `store` before it is
    /// signed, then stored and audited like any certificate.
    pub fn issue(
        ca: &CertificateAuthority,
        store: &dyn IssuanceStore,
        algorithm: KeyAlgorithm,
        lifetime_days: u32,
    ) -> Result<Self, Error> {
        let key = SigningKey::generate(algorithm, ca.environment().random())?;
        let subject = ca.certificate().subject();
        let name = format!(
            "{} OCSP Responder",
            subject.common_name.as_deref().unwrap_or("TopCA")
        );
        let certificate = issue_unattached(
            ca,
            store,
            IssueRequest {
                subject: DistinguishedName {
                    common_name: Some(name),
                    email: None,
                    ..subject
                },
                public_key: key.public_key().clone(),
                alt_names: SubjectAltNames::default(),
                not_after: None,
            },
            &Profile::new(ProfileKind::OcspSigning, lifetime_days)?,
            CertificateUsage::OcspResponder,
            (Actor::System, "OCSP responder certificate".to_owned()),
        )?;
        Ok(Self {
            key,
            certificate,
            issuer_sha1: presign::issuer_sha1(ca)?,
        })
    }

    /// A responder issued earlier (kept by another node): `certificate` must be
    /// signed by `ca` and carry the public key of `key`.
    pub fn from_parts(
        ca: &CertificateAuthority,
        key: SigningKey,
        certificate: Certificate,
    ) -> Result<Self, Error> {
        certificate.verify_signed_by(ca.key().public_key())?;
        if certificate.public_key()? != *key.public_key() {
            return Err(KeyError::CertificateKeyMismatch.into());
        }
        Ok(Self {
            key,
            certificate,
            issuer_sha1: presign::issuer_sha1(ca)?,
        })
    }

    /// The responder's private key (to be kept sealed for the other nodes).
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The responder certificate (sent with every response).
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Whether less than a third of the certificate's life is left at `now`:
    /// time to issue the next one.
    pub fn due_for_rotation(&self, now: SystemTime) -> bool {
        let (start, end) = (self.certificate.not_before(), self.certificate.not_after());
        let life = end.duration_since(start).unwrap_or_default();
        end.duration_since(now).unwrap_or_default() < life / 3
    }
}

impl std::fmt::Debug for OcspSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OcspSigner({})", self.certificate.serial_hex())
    }
}

/// Answers OCSP requests about the certificates of one CA.
pub struct OcspResponder<'a> {
    ca: &'a CertificateAuthority,
    signer: &'a OcspSigner,
    store: &'a dyn IssuanceStore,
    /// How long a response stays fresh (its nextUpdate).
    validity: Duration,
}

impl<'a> OcspResponder<'a> {
    /// A responder for `ca`'s certificates, signing with `signer`, reading
    /// statuses from `store`; responses are fresh for `validity`.
    pub fn new(
        ca: &'a CertificateAuthority,
        signer: &'a OcspSigner,
        store: &'a dyn IssuanceStore,
        validity: Duration,
    ) -> Self {
        Self {
            ca,
            signer,
            store,
            validity,
        }
    }

    /// The DER OCSPResponse for the DER OCSPRequest `request`.
    pub fn respond(&self, request: &[u8]) -> Vec<u8> {
        let Ok(parsed) = OcspRequest::from_der(request) else {
            return status_only(ResponseStatus::MalformedRequest);
        };
        let list = &parsed.tbs_request.request_list;
        if list.is_empty() || list.len() > MAX_REQUESTS {
            return status_only(ResponseStatus::MalformedRequest);
        }
        match self.basic_response(&parsed.tbs_request) {
            Ok(der) => der,
            Err(Internal) => status_only(ResponseStatus::InternalError),
        }
    }

    fn basic_response(&self, request: &TbsRequest) -> Result<Vec<u8>, Internal> {
        let now = self.ca.environment().clock().now();
        let this_update = GeneralizedTime::from_system_time(now).map_err(|_| Internal)?;
        let next_update =
            GeneralizedTime::from_system_time(now + self.validity).map_err(|_| Internal)?;
        let mut responses = Vec::with_capacity(request.request_list.len());
        for single in &request.request_list {
            let id = &single.req_cert;
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status: self.status_of(id)?,
                this_update,
                next_update: Some(next_update),
            });
        }
        // Echo the nonce (RFC 8954), and nothing else of the request's extensions.
        let nonce: Vec<Extension> = request
            .request_extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == oid::OCSP_NONCE)
            .cloned()
            .collect();
        self.signed(responses, this_update, (!nonce.is_empty()).then_some(nonce))
    }

    /// The successful OCSPResponse carrying `responses`, produced at
    /// `produced_at`, with `extensions`, signed by the responder.
    fn signed(
        &self,
        responses: Vec<SingleResponse>,
        produced_at: GeneralizedTime,
        extensions: Option<Vec<Extension>>,
    ) -> Result<Vec<u8>, Internal> {
        let signer_key = self
            .signer
            .key
            .public_key()
            .key_bytes()
            .map_err(|_| Internal)?;
        let data = ResponseData {
            responder_key_hash: OctetString::new(
                digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &signer_key).as_ref(),
            )
            .map_err(|_| Internal)?,
            produced_at,
            responses,
            response_extensions: extensions,
        };
        let tbs = data.to_der().map_err(|_| Internal)?;
        let signature = self.signer.key.sign_bytes(&tbs).map_err(|_| Internal)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: self.signer.key.signature_algorithm().algorithm_identifier(),
            signature: BitString::from_bytes(signature.as_bytes()).map_err(|_| Internal)?,
            certs: Some(vec![self.signer.certificate.x509().clone()]),
        };
        let basic = basic.to_der().map_err(|_| Internal)?;
        let mut response_bytes = Vec::new();
        oid::OCSP_BASIC
            .encode_to_vec(&mut response_bytes)
            .and_then(|_| OctetString::new(basic)?.encode_to_vec(&mut response_bytes))
            .map_err(|_| Internal)?;
        let response_bytes = tlv(0x30, &response_bytes);
        Ok(tlv(
            0x30,
            &[
                &[0x0A, 0x01, ResponseStatus::Successful as u8][..],
                &tlv(0xA0, &response_bytes),
            ]
            .concat(),
        ))
    }

    /// `CertStatus` for one CertID: good, revoked (time and reason) or unknown
    /// (another issuer, an unsupported hash, or a serial this CA never reserved).
    /// A serial reserved for signing but never stored as issued is answered as
    /// RFC 6960 §2.2 answers a certificate not issued: revoked on 1970-01-01 for
    /// certificateHold, since its signature may exist.
    fn status_of(&self, id: &CertId) -> Result<Any, Internal> {
        let unknown = || Any::from_der(&[0x82, 0x00]).map_err(|_| Internal);
        let Some(algorithm) = hash_algorithm(&id.hash_algorithm) else {
            return unknown();
        };
        let issuer = self.ca.certificate().x509().tbs_certificate();
        let name_der = issuer.subject().to_der().map_err(|_| Internal)?;
        let key = self
            .ca
            .key()
            .public_key()
            .key_bytes()
            .map_err(|_| Internal)?;
        let ours = digest::digest(algorithm, &name_der).as_ref() == id.issuer_name_hash.as_bytes()
            && digest::digest(algorithm, &key).as_ref() == id.issuer_key_hash.as_bytes();
        if !ours {
            return unknown();
        }
        let serial: String = id
            .serial_number
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let record = self.store.certificate(&serial).map_err(|_| Internal)?;
        match record {
            Some(record) if record.status == CertificateStatus::Revoked => {
                let (at, reason) = record.revocation.ok_or(Internal)?;
                revoked(at, reason)
            }
            Some(_) => Any::from_der(&[0x80, 0x00]).map_err(|_| Internal),
            None => match self.store.reservation(&serial).map_err(|_| Internal)? {
                Some(reservation) if !reservation.issued => {
                    revoked(std::time::UNIX_EPOCH, RevocationReason::CertificateHold)
                }
                _ => unknown(),
            },
        }
    }
}

/// `CertStatus` revoked: `[1] RevokedInfo { revocationTime, [0] revocationReason }`.
fn revoked(at: SystemTime, reason: RevocationReason) -> Result<Any, Internal> {
    let time = GeneralizedTime::from_system_time(at)
        .and_then(|t| t.to_der())
        .map_err(|_| Internal)?;
    let reason = tlv(0xA0, &[0x0A, 0x01, reason.code()]);
    Any::from_der(&tlv(0xA1, &[time, reason].concat())).map_err(|_| Internal)
}

/// The responder could not answer (`internalError`).
struct Internal;

/// The digest a CertID names, if it is one TopCA computes.
fn hash_algorithm(id: &AlgorithmIdentifierOwned) -> Option<&'static digest::Algorithm> {
    if id.oid == oid::SHA1 {
        Some(&digest::SHA1_FOR_LEGACY_USE_ONLY)
    } else if id.oid == oid::SHA256 {
        Some(&digest::SHA256)
    } else {
        None
    }
}

/// An OCSPResponse with only a status (no responseBytes).
fn status_only(status: ResponseStatus) -> Vec<u8> {
    vec![0x30, 0x03, 0x0A, 0x01, status as u8]
}

/// A DER TLV with a definite length.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}
