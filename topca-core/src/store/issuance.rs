//! Record before sign: a serial and the SHA-256 of the TBSCertificate about to be
//! signed under it are reserved in the store before the CA signs, and the
//! reservation is marked issued in the same transaction that stores the signed
//! certificate. A crash between the two leaves a reservation an operator can
//! list ([`IssuanceStore::unfinished_issuances`]) and the OCSP responder answers
//! for; it never leaves a certificate the database does not know.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::{
    audit::{Actor, AuditRecord},
    error::StoreError,
    profile::ProfileKind,
    ra::{AccountId, RequestId},
};

use super::{CertificateRecord, CertificateStore};

/// A serial reserved for a TBSCertificate that is about to be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The serial, upper-case hex.
    pub serial: String,
    /// SHA-256 of the exact TBSCertificate (DER) that will be signed.
    pub tbs_sha256: [u8; 32],
    /// The profile it is issued under.
    pub profile: ProfileKind,
    /// Who asked for it.
    pub requester: Actor,
    /// The account it is issued under, if any.
    pub account: Option<AccountId>,
    /// The request it answers, if any.
    pub request: Option<RequestId>,
    /// When it was reserved.
    pub reserved_at: SystemTime,
    /// Whether the signed certificate was stored (and the reservation closed).
    pub issued: bool,
}

/// Reservations of serials before signing, and certificates tied to no request.
///
/// Guarantees, besides those of [`CertificateStore`]:
/// - a serial is reserved once: reserving a serial that is reserved or whose
///   certificate is stored is refused with [`StoreError::Conflict`], so of
///   concurrent reservations of one serial exactly one wins;
/// - a certificate is stored (by [`IssuanceStore::store_certificate`] or by
///   [`super::RequestStore::commit_request`]) only if its serial was reserved,
///   not yet issued, with the SHA-256 of the TBSCertificate it carries
///   ([`StoreError::NotReserved`], [`StoreError::TbsMismatch`]); storing it marks
///   the reservation issued in the same transaction.
pub trait IssuanceStore: CertificateStore {
    /// Reserves `reservation.serial` for the TBSCertificate it names (its
    /// `issued` flag is ignored: a new reservation is open).
    fn reserve_issuance(&self, reservation: &Reservation) -> Result<(), StoreError>;
    /// The reservation of `serial` (upper-case hex), if any.
    fn reservation(&self, serial: &str) -> Result<Option<Reservation>, StoreError>;
    /// Reservations never marked issued, oldest first, at most `limit`.
    fn unfinished_issuances(&self, limit: usize) -> Result<Vec<Reservation>, StoreError>;
    /// Stores a certificate tied to no request (an OCSP responder's, the
    /// server's own TLS certificate), marks its reservation issued and appends
    /// `audit`, in one transaction.
    fn store_certificate(
        &self,
        certificate: CertificateRecord,
        audit: AuditRecord,
    ) -> Result<(), StoreError>;
}

/// SHA-256 of the TBSCertificate inside a DER certificate (the first element of
/// its outer SEQUENCE, as signed), for comparing with a reservation.
pub fn tbs_sha256(certificate_der: &[u8]) -> Result<[u8; 32], StoreError> {
    use der::{Decode, Reader, Tag};
    let damaged = |_| StoreError::Backend("the certificate to store is not DER".into());
    let mut reader = der::SliceReader::new(certificate_der).map_err(damaged)?;
    let outer = der::Header::decode(&mut reader).map_err(damaged)?;
    if outer.tag() != Tag::Sequence {
        return Err(StoreError::Backend(
            "the certificate to store is not a SEQUENCE".into(),
        ));
    }
    let tbs = reader.tlv_bytes().map_err(damaged)?;
    Ok(Sha256::digest(tbs).into())
}

/// Checks that the certificate `serial`, whose TBSCertificate hashes to
/// `tbs_sha256`, may be stored under `reservation` (the one stored for its
/// serial, if any): reserved, still open, for that TBSCertificate (for stores).
pub fn check_reserved(
    serial: &str,
    tbs_sha256: &[u8; 32],
    reservation: Option<&Reservation>,
) -> Result<(), StoreError> {
    match reservation {
        None => Err(StoreError::NotReserved(serial.to_owned())),
        Some(r) if r.issued => Err(StoreError::DuplicateSerial(serial.to_owned())),
        Some(r) if r.tbs_sha256 != *tbs_sha256 => Err(StoreError::TbsMismatch(serial.to_owned())),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tbs_hash_covers_the_first_element_only() {
        // SEQUENCE { INTEGER 1, NULL }: the TBS stand-in is INTEGER 1.
        let der = [0x30, 0x05, 0x02, 0x01, 0x01, 0x05, 0x00];
        let expected: [u8; 32] = Sha256::digest([0x02, 0x01, 0x01]).into();
        assert_eq!(tbs_sha256(&der), Ok(expected));
        assert!(tbs_sha256(&[0x31, 0x00]).is_err());
        assert!(tbs_sha256(&[0x30, 0x05, 0x02]).is_err());
        assert!(tbs_sha256(&[]).is_err());
    }
}
