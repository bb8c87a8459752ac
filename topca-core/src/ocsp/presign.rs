//! Responses signed ahead of time (RFC 5019, the lightweight profile): one
//! certificate per response, named by a SHA-1 CertID, no nonce. Such a response
//! answers every request about that certificate that carries no nonce, so it is
//! signed once and served as it is until it is renewed (see
//! [`super::OcspCache`]).

use std::time::SystemTime;

use aws_lc_rs::digest;
use der::{
    Any, Decode, Encode,
    asn1::{GeneralizedTime, Int, OctetString},
};
use spki::AlgorithmIdentifierOwned;

use super::{CertId, Internal, OcspRequest, OcspResponder, SingleResponse, revoked};
use crate::{
    ca::CertificateAuthority,
    certificate::hex_upper,
    crl::decode_hex,
    error::{Error, KeyError},
    lifecycle::RevocationReason,
    oid,
    store::CertificateStatus,
};

/// A response signed ahead of time for one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The certificate's serial, upper-case hex as the store keeps it.
    pub serial: String,
    /// The DER OCSPResponse.
    pub der: Vec<u8>,
    /// Its thisUpdate (and producedAt), whole seconds.
    pub this_update: SystemTime,
    /// Its nextUpdate, whole seconds.
    pub next_update: SystemTime,
    /// Whether it answers "revoked".
    pub revoked: bool,
}

impl OcspResponder<'_> {
    /// The serial (upper-case hex) that `request` asks about when a pre-signed
    /// response answers it: exactly one certificate of this CA, named by a SHA-1
    /// CertID, and no nonce. `None` for anything else (a nonce, several
    /// certificates, another hash or issuer, a request that does not parse),
    /// which [`OcspResponder::respond`] answers, signing.
    pub fn presigned_serial(&self, request: &[u8]) -> Option<String> {
        let parsed = OcspRequest::from_der(request).ok()?;
        let tbs = &parsed.tbs_request;
        let [single] = tbs.request_list.as_slice() else {
            return None;
        };
        let nonce = tbs
            .request_extensions
            .iter()
            .flatten()
            .any(|e| e.extn_id == oid::OCSP_NONCE);
        let id = &single.req_cert;
        if nonce || id.hash_algorithm.oid != oid::SHA1 {
            return None;
        }
        let ours = self.sha1_cert_id(id.serial_number.clone()).ok()?;
        let same_issuer = ours.issuer_name_hash == id.issuer_name_hash
            && ours.issuer_key_hash == id.issuer_key_hash;
        same_issuer.then(|| hex_upper(id.serial_number.as_bytes()))
    }

    /// Signs now (by the CA's clock) the response about the certificate
    /// `serial`, good or revoked, valid for the responder's validity; `None` when
    /// the store holds no certificate with that serial (such requests are
    /// answered by [`OcspResponder::respond`]).
    pub fn presign(&self, serial: &str) -> Result<Option<Presigned>, Error> {
        let Some(record) = self.store.certificate(serial)? else {
            return Ok(None);
        };
        let revocation = match (record.status, record.revocation) {
            (CertificateStatus::Revoked, Some(revocation)) => Some(revocation),
            (CertificateStatus::Revoked, None) => return Err(KeyError::Signing.into()),
            _ => None,
        };
        self.sign_presigned(record.serial, revocation).map(Some)
    }

    /// Signs now the "good" response of a certificate this CA has just signed
    /// (`serial`, upper-case hex), without reading the store: to be stored with
    /// the certificate, so that the background job has nothing left to sign
    /// for it.
    pub fn presign_issued(&self, serial: &str) -> Result<Presigned, Error> {
        self.sign_presigned(serial.to_owned(), None)
    }

    /// The response about `serial`: revoked at the time and for the reason of
    /// `revocation`, good without one.
    fn sign_presigned(
        &self,
        serial: String,
        revocation: Option<(SystemTime, RevocationReason)>,
    ) -> Result<Presigned, Error> {
        let now = self.ca.environment().clock().now();
        let signing = |_: Internal| Error::from(KeyError::Signing);
        let this_update = GeneralizedTime::from_system_time(now).map_err(|_| signing(Internal))?;
        let next_update = GeneralizedTime::from_system_time(now + self.validity)
            .map_err(|_| signing(Internal))?;
        let status = match revocation {
            Some((at, reason)) => revoked(at, reason).map_err(signing)?,
            None => Any::from_der(&[0x80, 0x00]).map_err(|_| signing(Internal))?,
        };
        let serial_bytes = decode_hex(&serial).ok_or_else(|| signing(Internal))?;
        let serial_number = Int::new(&serial_bytes).map_err(|_| signing(Internal))?;
        let single = SingleResponse {
            cert_id: self.sha1_cert_id(serial_number).map_err(signing)?,
            cert_status: status,
            this_update,
            next_update: Some(next_update),
        };
        let der = self
            .signed(vec![single], this_update, None)
            .map_err(signing)?;
        Ok(Presigned {
            serial,
            der,
            this_update: this_update.to_system_time(),
            next_update: next_update.to_system_time(),
            revoked: revocation.is_some(),
        })
    }

    /// The CertID of `serial_number` under this CA, hashed with SHA-1 (with the
    /// NULL parameters OpenSSL sends).
    fn sha1_cert_id(&self, serial_number: Int) -> Result<CertId, Internal> {
        let (name, key) = &self.signer.issuer_sha1;
        Ok(CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: oid::SHA1,
                parameters: Some(Any::null()),
            },
            issuer_name_hash: name.clone(),
            issuer_key_hash: key.clone(),
            serial_number,
        })
    }
}

/// The SHA-1 hashes of `ca`'s name and public key, as a CertID names the issuer.
pub(super) fn issuer_sha1(ca: &CertificateAuthority) -> Result<(OctetString, OctetString), Error> {
    let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    let name = ca
        .certificate()
        .x509()
        .tbs_certificate()
        .subject()
        .to_der()?;
    let key = ca.key().public_key().key_bytes()?;
    let hash = |data: &[u8]| OctetString::new(digest::digest(sha1, data).as_ref());
    Ok((hash(&name)?, hash(&key)?))
}
