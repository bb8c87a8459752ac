//! The messages TopCA sends: header, bodies (ip/cp/kup, rp, genp, pkiConf,
//! error) and their protection, as DER.

use std::time::SystemTime;

use der::{
    Encode,
    asn1::{GeneralizedTime, Int},
};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::{Failure, FailureInfo, asn1, protection};
use crate::{ca::CertificateAuthority, certificate::Certificate};

/// PKIBody tags TopCA answers with.
pub(super) mod tag {
    /// cp: an answer to cr and p10cr (ip = cp − 2 answers ir, kup answers kur).
    pub const IP: u8 = 1;
    /// cp.
    pub const CP: u8 = 3;
    /// kup.
    pub const KUP: u8 = 8;
    /// rp.
    pub const RP: u8 = 12;
    /// pkiconf.
    pub const PKICONF: u8 = 19;
    /// genp.
    pub const GENP: u8 = 22;
    /// error.
    pub const ERROR: u8 = 23;
    /// pollRep.
    pub const POLLREP: u8 = 26;
}

/// How an answer is protected.
pub(super) enum Protect {
    /// With the requester's secret, as the request was.
    Mac {
        /// The request's protectionAlg.
        alg: AlgorithmIdentifierOwned,
        /// The credential's secret.
        secret: Zeroizing<Vec<u8>>,
    },
    /// Signed with the issuing CA's key (signature-protected requests, and
    /// refusals of messages whose MAC could not be trusted).
    Signature,
}

/// The header fields an answer echoes or makes.
pub(super) struct Reply {
    /// pvno, as the request's.
    pub pvno: u8,
    /// The requester's GeneralName (DER), as its sender.
    pub recipient: Vec<u8>,
    /// The transactionID, as the request's.
    pub transaction_id: Vec<u8>,
    /// The request's senderNonce.
    pub recip_nonce: Option<Vec<u8>>,
    /// TopCA's fresh nonce.
    pub sender_nonce: Vec<u8>,
    /// Whether the answer grants implicit confirmation.
    pub implicit_confirm: bool,
}

/// A GeneralName directoryName of an empty Name: the recipient of an answer
/// to a message whose header could not be read.
pub(super) const NO_NAME: [u8; 4] = [0xA4, 0x02, 0x30, 0x00];

fn system(e: impl std::fmt::Display) -> Failure {
    Failure::new(FailureInfo::SystemFailure, format!("encoding failed: {e}"))
}

/// PKIStatusInfo: `status`, and for a refusal its text and failure bit.
pub(super) fn status_info(status: u8, failure: Option<&Failure>) -> Vec<u8> {
    match failure {
        None => asn1::sequence(&[&asn1::small_integer(status)]),
        Some(f) => asn1::sequence(&[
            &asn1::small_integer(status),
            &asn1::free_text(&f.text),
            &asn1::named_bit(f.info as u8),
        ]),
    }
}

fn certificates(certs: &[&Certificate]) -> Vec<u8> {
    let ders: Vec<&[u8]> = certs.iter().map(|c| c.der()).collect();
    asn1::sequence(&ders)
}

/// ip, cp or kup (`tag`) with `certificate` for `cert_req_id`, and `ca_pubs`
/// (the trust anchor for a MAC-protected enrollment).
pub(super) fn cert_rep(
    tag: u8,
    cert_req_id: &Int,
    certificate: &Certificate,
    ca_pubs: &[&Certificate],
) -> Vec<u8> {
    let key_pair = asn1::sequence(&[&asn1::explicit(0, certificate.der())]);
    let response = asn1::sequence(&[
        &asn1::integer(cert_req_id),
        &status_info(0, None),
        &key_pair,
    ]);
    let responses = asn1::sequence(&[&response]);
    let content = if ca_pubs.is_empty() {
        asn1::sequence(&[&responses])
    } else {
        asn1::sequence(&[&asn1::explicit(1, &certificates(ca_pubs)), &responses])
    };
    asn1::explicit(tag, &content)
}

/// cp telling that the request for `cert_req_id` waits (status waiting):
/// the client polls.
pub(super) fn waiting_rep(cert_req_id: &Int) -> Vec<u8> {
    let response = asn1::sequence(&[&asn1::integer(cert_req_id), &status_info(3, None)]);
    asn1::explicit(tag::CP, &asn1::sequence(&[&asn1::sequence(&[&response])]))
}

/// pollRep: ask again for `cert_req_id` after `seconds`, saying `reason`.
pub(super) fn poll_rep(cert_req_id: &Int, seconds: u8, reason: &str) -> Vec<u8> {
    let entry = asn1::sequence(&[
        &asn1::integer(cert_req_id),
        &asn1::small_integer(seconds),
        &asn1::free_text(reason),
    ]);
    asn1::explicit(tag::POLLREP, &asn1::sequence(&[&entry]))
}

/// rp: one accepted revocation.
pub(super) fn rev_rep() -> Vec<u8> {
    asn1::explicit(
        tag::RP,
        &asn1::sequence(&[&asn1::sequence(&[&status_info(0, None)])]),
    )
}

/// The id-it-caCerts InfoTypeAndValue.
pub(super) fn ca_certs_itav(chain: &[&Certificate]) -> Vec<u8> {
    asn1::sequence(&[
        &asn1::tlv(0x06, asn1::CA_CERTS.as_bytes()),
        &certificates(chain),
    ])
}

/// An InfoTypeAndValue of `info_type` with no value.
pub(super) fn empty_itav(info_type: &der::asn1::ObjectIdentifier) -> Vec<u8> {
    asn1::sequence(&[&asn1::tlv(0x06, info_type.as_bytes())])
}

/// id-it-certReqTemplate with a CertReqTemplateContent whose CertTemplate
/// names `issuer` (`issuer [3] Name`, explicit as Name is a CHOICE).
pub(super) fn cert_req_template_itav(issuer_der: &[u8]) -> Vec<u8> {
    let template = asn1::sequence(&[&asn1::explicit(3, issuer_der)]);
    asn1::sequence(&[
        &asn1::tlv(0x06, asn1::CERT_REQ_TEMPLATE.as_bytes()),
        &asn1::sequence(&[&template]),
    ])
}

/// genp with the encoded InfoTypeAndValues `itavs`.
pub(super) fn genp(itavs: &[Vec<u8>]) -> Vec<u8> {
    let parts: Vec<&[u8]> = itavs.iter().map(Vec::as_slice).collect();
    asn1::explicit(tag::GENP, &asn1::sequence(&parts))
}

/// pkiConf.
pub(super) fn pki_conf() -> Vec<u8> {
    asn1::explicit(tag::PKICONF, &[0x05, 0x00])
}

/// error: a rejection with `failure`'s text and bit.
pub(super) fn error(failure: &Failure) -> Vec<u8> {
    asn1::explicit(
        tag::ERROR,
        &asn1::sequence(&[&status_info(2, Some(failure))]),
    )
}

/// The whole PKIMessage: header, `body`, protection and the CA chain as
/// extraCerts (the protecting certificate first).
pub(super) fn encode(
    ca: &CertificateAuthority,
    reply: &Reply,
    body: &[u8],
    protect: &Protect,
    now: SystemTime,
) -> Result<Vec<u8>, Failure> {
    let protection_alg = match protect {
        Protect::Mac { alg, .. } => protection::answer_algorithm(alg, ca.environment().random())?,
        Protect::Signature => ca
            .key()
            .signature_algorithm()
            .algorithm_identifier()
            .to_der()
            .map_err(system)?,
    };
    let sender = asn1::explicit(4, &ca.certificate().subject_der().map_err(system)?);
    let time = GeneralizedTime::from_system_time(now)
        .and_then(|t| t.to_der())
        .map_err(system)?;
    let mut fields = vec![
        asn1::small_integer(reply.pvno),
        sender,
        reply.recipient.clone(),
        asn1::explicit(0, &time),
        asn1::explicit(1, &protection_alg),
        asn1::explicit(4, &asn1::octets(&reply.transaction_id)),
        asn1::explicit(5, &asn1::octets(&reply.sender_nonce)),
    ];
    if let Some(nonce) = &reply.recip_nonce {
        fields.push(asn1::explicit(6, &asn1::octets(nonce)));
    }
    if reply.implicit_confirm {
        let itav = asn1::sequence(&[
            &asn1::tlv(0x06, asn1::IMPLICIT_CONFIRM.as_bytes()),
            &[0x05, 0x00],
        ]);
        fields.push(asn1::explicit(8, &asn1::sequence(&[&itav])));
    }
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    let header = asn1::sequence(&refs);
    let protected = asn1::sequence(&[&header, body]);
    let protection = match protect {
        Protect::Mac { secret, .. } => {
            let alg = der::Decode::from_der(&protection_alg).map_err(system)?;
            protection::mac(&alg, secret, &protected)?
        }
        Protect::Signature => ca
            .key()
            .sign_bytes(&protected)
            .map_err(system)?
            .as_bytes()
            .to_vec(),
    };
    let extra = certificates(&ca.chain());
    Ok(asn1::sequence(&[
        &header,
        body,
        &asn1::explicit(0, &asn1::bits(&protection)),
        &asn1::explicit(1, &extra),
    ]))
}
