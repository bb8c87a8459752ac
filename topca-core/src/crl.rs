//! Certificate revocation lists (RFC 5280 §5), written in one pass.
//!
//! ```text
//! CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
//! TBSCertList ::= SEQUENCE {
//!     version             INTEGER (v2),
//!     signature           AlgorithmIdentifier,
//!     issuer              Name,
//!     thisUpdate          Time,
//!     nextUpdate          Time,
//!     revokedCertificates SEQUENCE OF SEQUENCE {
//!         userCertificate INTEGER, revocationDate Time,
//!         crlEntryExtensions Extensions OPTIONAL } OPTIONAL,   -- reasonCode, invalidityDate
//!     crlExtensions   [0] EXPLICIT Extensions OPTIONAL }       -- AKI, cRLNumber, deltaCRLIndicator
//! ```
//!
//! A CRL of a million entries is not built as a tree of a million values: each
//! entry is encoded straight into one output buffer as it arrives (from a store
//! cursor, say), after a gap left for the headers. Once the entries are in, their
//! total length is known, so the headers are written into the gap right before
//! them, the TBS is signed where it lies, and the gap's unused front is dropped.
//! Peak memory is the CRL's own size plus the buffer's growth slack.

use std::time::{Duration, SystemTime};

use der::{
    Encode,
    asn1::{GeneralizedTime, ObjectIdentifier as Oid, OctetString},
};
use x509_cert::ext::Extension;

use crate::{
    ca::CertificateAuthority,
    clock::DerTime,
    error::{EncodingError, Error, PolicyError},
    lifecycle::RevocationReason,
    store::{CrlRecord, RaStore, Revocation},
};

const CRL_NUMBER: Oid = Oid::new_unwrap("2.5.29.20");
const DELTA_CRL_INDICATOR: Oid = Oid::new_unwrap("2.5.29.27");
const AUTHORITY_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.35");
/// `reasonCode` extension up to its ENUMERATED value byte.
const REASON_CODE_PREFIX: [u8; 11] = [
    0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01,
];
/// `invalidityDate` extension up to its 15-byte GeneralizedTime value.
const INVALIDITY_DATE_PREFIX: [u8; 11] = [
    0x30, 0x18, 0x06, 0x03, 0x55, 0x1D, 0x18, 0x04, 0x11, 0x18, 0x0F,
];
/// Room for the largest DER header (tag + 5 length bytes).
const MAX_HEADER: usize = 6;

/// What a CRL says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlInfo {
    /// The CRL number (monotonic per CA).
    pub number: u64,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate: when the next CRL is due.
    pub next_update: SystemTime,
    /// For a delta CRL, the number of the full CRL it completes.
    pub delta_base: Option<u64>,
}

/// One revoked certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlEntry<'a> {
    /// The serial number's big-endian magnitude (as the certificate carries it).
    pub serial: &'a [u8],
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// Why (`Unspecified` is written as no reason code, as RFC 5280 asks).
    pub reason: RevocationReason,
    /// When the key is known or suspected to have been compromised, if given.
    pub invalidity_date: Option<SystemTime>,
}

/// A signed CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    /// What it says about itself.
    pub info: CrlInfo,
    /// How many certificates it lists.
    pub entries: u64,
    /// The CRL, DER.
    pub der: Vec<u8>,
}

impl Crl {
    /// A CRL as stored (for example published by another node), its entries
    /// counted from the DER headers (not decoded: the CRL may list millions).
    pub fn from_record(record: CrlRecord) -> Result<Self, Error> {
        Ok(Self {
            info: record.info(),
            entries: count_entries(&record.der)?,
            der: record.der,
        })
    }

    /// Which of `serials` (upper-case hex, as the store keeps them) this CRL
    /// lists, in their order; one pass over the entries.
    pub fn lists(&self, serials: &[&str]) -> Result<Vec<bool>, Error> {
        let wanted: Vec<Option<Vec<u8>>> = serials
            .iter()
            .map(|s| decode_hex(s).map(|b| magnitude(&b).to_vec()))
            .collect();
        let mut listed = vec![false; serials.len()];
        for_each_entry(&self.der, &mut |serial| {
            let serial = magnitude(serial);
            for (found, wanted) in listed.iter_mut().zip(&wanted) {
                *found |= wanted.as_deref() == Some(serial);
            }
        })?;
        Ok(listed)
    }

    /// The CRL as PEM (`X509 CRL`).
    pub fn to_pem(&self) -> Result<String, Error> {
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &self.der)
            .map_err(|e| EncodingError::Crl(e.to_string()).into())
    }
}

/// Writes a CRL entry by entry; [`CrlWriter::finish`] signs it.
pub struct CrlWriter<'ca> {
    ca: &'ca CertificateAuthority,
    info: CrlInfo,
    /// `version … nextUpdate`, encoded once.
    prefix: Vec<u8>,
    /// The output: a gap for the headers, then the entries as they come.
    buf: Vec<u8>,
    entries_start: usize,
    entries: u64,
}

impl<'ca> CrlWriter<'ca> {
    /// Starts a CRL of `ca`; `expected_entries` sizes the buffer (0 if unknown).
    pub fn new(
        ca: &'ca CertificateAuthority,
        info: CrlInfo,
        expected_entries: usize,
    ) -> Result<Self, Error> {
        if info.next_update <= info.this_update {
            return Err(PolicyError::EmptyValidity.into());
        }
        let mut prefix = vec![0x02, 0x01, 0x01]; // version v2
        ca.key()
            .signature_algorithm()
            .algorithm_identifier()
            .encode_to_vec(&mut prefix)?;
        ca.certificate()
            .x509()
            .tbs_certificate()
            .subject()
            .encode_to_vec(&mut prefix)?;
        prefix.extend_from_slice(encode_time(info.this_update)?.as_bytes());
        prefix.extend_from_slice(encode_time(info.next_update)?.as_bytes());
        let gap = 3 * MAX_HEADER + prefix.len();
        let mut buf = Vec::with_capacity(gap + expected_entries.saturating_mul(48) + 1024);
        buf.resize(gap, 0);
        Ok(Self {
            ca,
            info,
            prefix,
            buf,
            entries_start: gap,
            entries: 0,
        })
    }

    /// Adds one revoked certificate.
    pub fn push(&mut self, entry: &CrlEntry<'_>) -> Result<(), Error> {
        let magnitude = {
            let first = entry.serial.iter().position(|b| *b != 0);
            first.map_or(&[0u8][..], |i| &entry.serial[i..])
        };
        if magnitude.len() > 20 {
            return Err(EncodingError::Crl("a serial number longer than 20 bytes".into()).into());
        }
        let pad = usize::from(magnitude[0] & 0x80 != 0);
        let integer_len = 2 + pad + magnitude.len();
        let time = encode_time(entry.revoked_at)?;
        let time = time.as_bytes();
        let mut extensions_len = 0;
        if entry.reason != RevocationReason::Unspecified {
            extensions_len += REASON_CODE_PREFIX.len() + 1;
        }
        if entry.invalidity_date.is_some() {
            extensions_len += INVALIDITY_DATE_PREFIX.len() + 15;
        }
        let extensions_total = if extensions_len > 0 {
            2 + extensions_len
        } else {
            0
        };
        let body_len = integer_len + time.len() + extensions_total;
        // Every part is short: one-byte lengths (at most 2 + 21 + 17 + 2 + 38 bytes).
        self.buf
            .extend_from_slice(&[0x30, short(body_len)?, 0x02, short(pad + magnitude.len())?]);
        if pad == 1 {
            self.buf.push(0);
        }
        self.buf.extend_from_slice(magnitude);
        self.buf.extend_from_slice(time);
        if extensions_len > 0 {
            self.buf.extend_from_slice(&[0x30, short(extensions_len)?]);
            if entry.reason != RevocationReason::Unspecified {
                self.buf.extend_from_slice(&REASON_CODE_PREFIX);
                self.buf.push(entry.reason.code());
            }
            if let Some(at) = entry.invalidity_date {
                self.buf.extend_from_slice(&INVALIDITY_DATE_PREFIX);
                self.buf.extend_from_slice(&generalized_time(at)?);
            }
        }
        self.entries += 1;
        Ok(())
    }

    /// Adds a revocation as the store keeps it (serial in hexadecimal).
    pub fn push_revocation(&mut self, revocation: &Revocation) -> Result<(), Error> {
        let serial = decode_hex(&revocation.serial).ok_or_else(|| {
            EncodingError::Crl(format!("serial {:?} is not hexadecimal", revocation.serial))
        })?;
        self.push(&CrlEntry {
            serial: &serial,
            revoked_at: revocation.at,
            reason: revocation.reason,
            invalidity_date: None,
        })
    }

    /// Writes the headers and extensions, signs, and returns the CRL.
    pub fn finish(self) -> Result<Crl, Error> {
        let Self {
            ca,
            info,
            prefix,
            mut buf,
            entries_start,
            entries,
        } = self;
        let entries_len = buf.len() - entries_start;
        buf.extend_from_slice(&crl_extensions(ca, &info)?);
        let tbs_end = buf.len();

        // Headers go right before the entries, innermost first.
        let mut start = entries_start;
        if entries > 0 {
            let header = header(0x30, entries_len)?;
            start -= header.len();
            buf[start..start + header.len()].copy_from_slice(&header);
        }
        start -= prefix.len();
        buf[start..start + prefix.len()].copy_from_slice(&prefix);
        let tbs_header = header(0x30, tbs_end - start)?;
        start -= tbs_header.len();
        buf[start..start + tbs_header.len()].copy_from_slice(&tbs_header);
        let tbs_start = start;

        let key = ca.key();
        let signature = key.sign_bytes(&buf[tbs_start..tbs_end])?;
        key.public_key()
            .verify(
                key.signature_algorithm(),
                &buf[tbs_start..tbs_end],
                signature.as_bytes(),
            )
            .map_err(|_| PolicyError::PostIssuanceCheck)?;
        key.signature_algorithm()
            .algorithm_identifier()
            .encode_to_vec(&mut buf)?;
        der::asn1::BitStringRef::from_bytes(signature.as_bytes())?.encode_to_vec(&mut buf)?;
        let outer = header(0x30, buf.len() - tbs_start)?;
        start -= outer.len();
        buf[start..start + outer.len()].copy_from_slice(&outer);
        buf.drain(..start);
        Ok(Crl {
            info,
            entries,
            der: buf,
        })
    }
}

/// Issues the next full CRL of `ca` from every revocation in `store`, valid for
/// `validity`, and stores it. Numbers follow the newest stored CRL.
pub fn publish(
    ca: &CertificateAuthority,
    store: &dyn RaStore,
    validity: Duration,
) -> Result<Crl, Error> {
    issue_from_store(ca, store, validity, None)
}

/// Issues a delta CRL (RFC 5280 §5.2.4) over the newest full CRL: the
/// certificates revoked since that CRL was issued, marked with its number in a
/// critical delta CRL indicator. A full CRL must have been published first.
pub fn publish_delta(
    ca: &CertificateAuthority,
    store: &dyn RaStore,
    validity: Duration,
) -> Result<Crl, Error> {
    let base = store
        .latest_crl(false)?
        .ok_or_else(|| EncodingError::Crl("a delta CRL needs a full CRL first".into()))?;
    issue_from_store(ca, store, validity, Some(&base))
}

fn issue_from_store(
    ca: &CertificateAuthority,
    store: &dyn RaStore,
    validity: Duration,
    base: Option<&CrlRecord>,
) -> Result<Crl, Error> {
    let newest = [store.latest_crl(false)?, store.latest_crl(true)?]
        .into_iter()
        .flatten()
        .map(|c| c.number)
        .max();
    let now = ca.environment().clock().now();
    let info = CrlInfo {
        number: newest.map_or(1, |n| n + 1),
        this_update: now,
        next_update: now + validity,
        delta_base: base.map(|b| b.number),
    };
    let mut writer = CrlWriter::new(ca, info, 0)?;
    let mut failure = None;
    store
        .for_each_revoked(base.map(|b| b.this_update), &mut |revocation| {
            if let Err(e) = writer.push_revocation(revocation) {
                failure = Some(e);
                return Err(crate::error::StoreError::Backend(
                    "CRL encoding stopped".into(),
                ));
            }
            Ok(())
        })
        .map_err(|e| failure.take().unwrap_or_else(|| e.into()))?;
    let crl = writer.finish()?;
    store.put_crl(CrlRecord {
        number: crl.info.number,
        delta_base: crl.info.delta_base,
        this_update: crl.info.this_update,
        next_update: crl.info.next_update,
        der: crl.der.clone(),
    })?;
    Ok(crl)
}

/// How many certificates a DER CRL lists.
fn count_entries(der: &[u8]) -> Result<u64, Error> {
    let mut count = 0u64;
    for_each_entry(der, &mut |_| count += 1)?;
    Ok(count)
}

/// Calls `visit` with the serial (the INTEGER's content bytes) of every entry of
/// a DER CRL: the elements of `revokedCertificates`, the first SEQUENCE of the
/// TBS after `thisUpdate`, read header by header without decoding the rest.
fn for_each_entry(der: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<(), Error> {
    use der::{Decode, Header, Reader, SliceReader, Tag};
    let mut list = SliceReader::new(der)?;
    Header::decode(&mut list)?.tag().assert_eq(Tag::Sequence)?;
    let tbs = Header::decode(&mut list)?;
    tbs.tag().assert_eq(Tag::Sequence)?;
    let mut fields = SliceReader::new(list.read_slice(tbs.length())?)?;
    let mut after_this_update = false;
    while !fields.is_finished() {
        let field = Header::decode(&mut fields)?;
        let content = fields.read_slice(field.length())?;
        match field.tag() {
            Tag::UtcTime | Tag::GeneralizedTime => after_this_update = true,
            Tag::Sequence if after_this_update => {
                let mut entries = SliceReader::new(content)?;
                while !entries.is_finished() {
                    let entry = Header::decode(&mut entries)?;
                    entry.tag().assert_eq(Tag::Sequence)?;
                    let mut parts = SliceReader::new(entries.read_slice(entry.length())?)?;
                    let serial = Header::decode(&mut parts)?;
                    serial.tag().assert_eq(Tag::Integer)?;
                    visit(parts.read_slice(serial.length())?);
                }
                return Ok(());
            }
            _ => {}
        }
    }
    Ok(())
}

/// `[0] EXPLICIT Extensions`: authority key identifier, CRL number, and for a delta
/// CRL the (critical) delta CRL indicator.
fn crl_extensions(ca: &CertificateAuthority, info: &CrlInfo) -> Result<Vec<u8>, Error> {
    let extension = |oid, critical, value: Vec<u8>| -> Result<Extension, Error> {
        Ok(Extension {
            extn_id: oid,
            critical,
            extn_value: OctetString::new(value)?,
        })
    };
    let mut key_id = vec![0x30];
    let inner = [&header(0x80, ca.key_id().len())?[..], ca.key_id()].concat();
    key_id.extend_from_slice(&header(0x30, inner.len())?[1..]);
    key_id.extend_from_slice(&inner);
    let mut list = vec![
        extension(AUTHORITY_KEY_IDENTIFIER, false, key_id)?,
        extension(
            CRL_NUMBER,
            false,
            der::asn1::Uint::new(&info.number.to_be_bytes())?.to_der()?,
        )?,
    ];
    if let Some(base) = info.delta_base {
        list.push(extension(
            DELTA_CRL_INDICATOR,
            true,
            der::asn1::Uint::new(&base.to_be_bytes())?.to_der()?,
        )?);
    }
    let sequence = list.to_der()?;
    Ok([&header(0xA0, sequence.len())?[..], &sequence].concat())
}

/// A DER header: `tag` and the definite length `len`.
fn header(tag: u8, len: usize) -> Result<Vec<u8>, Error> {
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(short(len)?);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | short(bytes.len() - skip)?);
        out.extend_from_slice(&bytes[skip..]);
    }
    Ok(out)
}

fn short(len: usize) -> Result<u8, Error> {
    u8::try_from(len).map_err(|_| EncodingError::Crl("a CRL entry is too long".into()).into())
}

/// Time as RFC 5280 wants it: UTCTime through 2049, GeneralizedTime after.
fn encode_time(at: SystemTime) -> Result<DerTime, Error> {
    DerTime::new(at)
        .ok_or_else(|| EncodingError::Crl("a time before 1970 or after 9999".into()).into())
}

/// The 15 content bytes of a GeneralizedTime.
fn generalized_time(at: SystemTime) -> Result<Vec<u8>, Error> {
    let time = GeneralizedTime::from_system_time(at)?;
    let der = time.to_der()?;
    Ok(der[2..].to_vec())
}

/// A serial's bytes without leading zeros (the DER sign pad, hex padding).
fn magnitude(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let digits: Vec<u8> = text
        .bytes()
        .map(|b| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    let odd = digits.len() % 2;
    let mut out = Vec::with_capacity(digits.len() / 2 + 1);
    if odd == 1 {
        out.push(digits[0]);
    }
    for pair in digits[odd..].chunks_exact(2) {
        out.push(pair[0] << 4 | pair[1]);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_encode_as_der_does() {
        for secs in [
            0u64,
            951_782_400,
            1_795_558_968,
            2_524_607_999,
            2_524_608_000,
            4_102_444_800,
        ] {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let expected = x509_cert::time::Time::try_from(at)
                .unwrap()
                .to_der()
                .unwrap();
            assert_eq!(encode_time(at).unwrap().as_bytes(), expected, "{secs}");
        }
    }

    #[test]
    fn headers_and_hex() {
        assert_eq!(header(0x30, 5).unwrap(), [0x30, 5]);
        assert_eq!(header(0x30, 200).unwrap(), [0x30, 0x81, 200]);
        assert_eq!(
            header(0x30, 70_000).unwrap(),
            [0x30, 0x83, 0x01, 0x11, 0x70]
        );
        assert_eq!(decode_hex("0A1b2").unwrap(), [0x00, 0xA1, 0xB2]);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex(""), None);
    }

    #[test]
    fn entries_of_damaged_der_are_an_error_not_a_panic() {
        for der in [
            &b""[..],
            &[0x30, 0x05, 0x30],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x30, 0x04, 0x30, 0x02, 0x17, 0x05],
            &[0x02, 0x01, 0x01],
        ] {
            assert!(count_entries(der).is_err(), "{der:?}");
        }
    }
}
