//! Issuance templates: the DER of everything a CA and a profile fix, encoded once,
//! so issuing a certificate writes only what varies and then signs.
//!
//! [`CertificateAuthority::prepare`] builds every certificate from scratch through
//! x509-cert structures (names, extensions, algorithm identifiers), and
//! [`Prepared::issue`](crate::Prepared::issue) then decodes the signed certificate,
//! re-encodes its TBSCertificate and verifies the signature. An
//! [`IssuanceTemplate`] made once for a CA and a [`Profile`] holds, as DER bytes:
//! the version, the signature AlgorithmIdentifier, the issuer Name, the extensions
//! before the subject's names (basic constraints, key usage for each kind of subject
//! key, extended key usage), those after its key identifier (authority key
//! identifier, OCSP no-check, CRL distribution point, freshest CRL, authority
//! information access) and the outer signatureAlgorithm. Issuing writes the serial,
//! the validity (UTCTime through 2049, GeneralizedTime from 2050, RFC 5280
//! §4.1.2.5), the subject Name, the SubjectPublicKeyInfo, the subjectAltName and the
//! subjectKeyIdentifier into one buffer, fills in the lengths, signs and appends the
//! signature. Serial octets come from the CA's random source like the checked
//! path's, but 64 serials' worth per call (a pool behind a mutex, each octet used
//! once), since one system call per certificate was a large part of the cost.
//! The checks are the checked path's own, in the same order, with the
//! same typed errors: key kind for the profile, subject attributes, server host name
//! (or e-mail copied for user certificates), issuer validity and empty validity.
//!
//! # Why the template path does not decode and verify what it signs
//!
//! The bytes are right by construction: [`IssuanceTemplate::new`] encodes a probe
//! certificate (every name attribute type, DNS, IPv4, IPv6 and e-mail alternative
//! names, a UTCTime and a GeneralizedTime validity) both through the template and
//! through the checked path's encoder, and refuses to make the template unless the
//! two are byte-for-byte equal; the test suite compares the two for every profile
//! kind, key kind and signing algorithm, and has OpenSSL verify template-issued
//! chains. What remains is the signature itself. Verifying a signature right after
//! making it guards against a faulty computation, and costs more than signing for
//! ECDSA, Ed25519 and SM2: elliptic-curve verification does more scalar
//! multiplication than signing (for P-256 the fully checked path measured about
//! 149 µs per certificate against 22 µs through a template, 25 µs being the
//! signature, on the benchmark machine; `compare` prints both). For RSA, whose CRT signing is the computation a single fault
//! breaks badly (Boneh, DeMillo and Lipton 1997: one faulty signature gives away the
//! key), aws-lc already checks every signature it makes: its
//! `rsa_default_private_transform` (crypto/fipsmodule/rsa/rsa_impl.c, reached from
//! `RSA_sign` through `rsa_default_sign_raw`) raises the result to the public
//! exponent and compares it with the input before returning, failing the operation
//! otherwise. No such internal check exists for the ECDSA (aws-lc), Ed25519
//! (ed25519-dalek) or SM2 (`topca-sm2`) signers TopCA uses. So the template
//! path leaves signature verification off by default and offers it with
//! [`IssuanceTemplate::with_signature_check`].
//!
//! # The check the RA and the server make after signing
//!
//! [`CertificateAuthority::issue`] (used by the RA and the server) and the
//! server's batch issuance through a template with the check on make the same
//! cheap check: the signature alone is verified over the exact TBSCertificate
//! bytes with the CA's public key, except for RSA, which aws-lc has verified as
//! it signed. What the checked path used to do besides (decode the signed
//! certificate, re-encode its TBSCertificate, compare the bytes) is the lint
//! of the structure, and it is made before signing instead, once: the checked
//! path encodes through typed x509-cert structures, so its output is DER by
//! construction, and a template is refused unless it reproduces that output
//! byte for byte on its probe. The checked path still decodes the certificate
//! it returns (callers get its fields), which refuses anything that is not a
//! certificate.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::SystemTime,
};

use der::Encode;

use crate::{
    algorithm::KeyKind,
    ca::{CertificateAuthority, IssueRequest, TbsInputs, effective_alt_names, validity_window},
    certificate::{Certificate, hex_upper},
    clock::DerTime,
    error::{EncodingError, Error, PolicyError},
    key::PublicKey,
    name::{DistinguishedName, SubjectAltNames},
    oid,
    profile::{Profile, key_identifier_array},
    serial::{SERIAL_LEN, SERIAL_RANDOM_LEN, serial_at},
    tbs::{VERSION_V3, close_der, push_der_length},
};

/// Representatives of the kinds of subject key whose key usage can differ
/// (RSA of any size, P-256, P-384, Ed25519, SM2), in the order of
/// [`key_class`]'s indices (a test holds the two together).
const KEY_CLASSES: [KeyKind; 5] = [
    KeyKind::Rsa { bits: 2048 },
    KeyKind::EcdsaP256,
    KeyKind::EcdsaP384,
    KeyKind::Ed25519,
    KeyKind::Sm2,
];

fn key_class(kind: KeyKind) -> usize {
    match kind {
        KeyKind::Rsa { .. } => 0,
        KeyKind::EcdsaP256 => 1,
        KeyKind::EcdsaP384 => 2,
        KeyKind::Ed25519 => 3,
        KeyKind::Sm2 => 4,
    }
}

/// What a CA and a profile fix in every certificate, pre-encoded; see the module
/// documentation.
#[derive(Debug)]
pub struct IssuanceTemplate<'ca> {
    ca: &'ca CertificateAuthority,
    profile: Profile,
    /// The signature AlgorithmIdentifier then the issuer Name: what follows the serial.
    algorithm_and_issuer: Vec<u8>,
    /// The AlgorithmIdentifier alone (the certificate's signatureAlgorithm).
    algorithm: Vec<u8>,
    issuer_validity: (SystemTime, SystemTime),
    /// Basic constraints, key usage and extended key usage, per [`key_class`].
    leading_extensions: [Vec<u8>; KEY_CLASSES.len()],
    /// Authority key identifier and the URL extensions.
    trailing_extensions: Vec<u8>,
    check_signature: bool,
    serials: Mutex<SerialPool>,
}

/// Serial numbers per refill of the pool.
const POOL_SERIALS: usize = 64;

/// Random octets for serials, drawn from the CA's random source
/// [`POOL_SERIALS`] serials at a time: one call to the operating system per 64
/// certificates instead of one each. Octets are zeroed as they are taken, so none
/// serves twice.
#[derive(Debug)]
struct SerialPool {
    octets: [u8; POOL_SERIALS * SERIAL_RANDOM_LEN],
    next: usize,
}

impl SerialPool {
    fn new() -> Self {
        Self {
            octets: [0; POOL_SERIALS * SERIAL_RANDOM_LEN],
            next: POOL_SERIALS * SERIAL_RANDOM_LEN,
        }
    }

    /// A fresh serial for a certificate issued `at` ([`serial_at`]).
    fn take(
        &mut self,
        random: &dyn crate::random::RandomSource,
        at: SystemTime,
    ) -> Result<[u8; SERIAL_LEN], Error> {
        if self.next + SERIAL_RANDOM_LEN > self.octets.len() {
            random.fill(&mut self.octets)?;
            self.next = 0;
        }
        let mut octets = [0u8; SERIAL_RANDOM_LEN];
        if let Some(taken) = self
            .octets
            .get_mut(self.next..self.next + SERIAL_RANDOM_LEN)
        {
            octets.copy_from_slice(taken);
            taken.fill(0);
        }
        self.next += SERIAL_RANDOM_LEN;
        Ok(serial_at(at, &octets))
    }
}

/// A certificate issued through a template: its DER and its serial, not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedDer {
    serial: [u8; SERIAL_LEN],
    der: Vec<u8>,
}

impl IssuedDer {
    /// The serial number octets (16, positive).
    pub fn serial(&self) -> &[u8; SERIAL_LEN] {
        &self.serial
    }

    /// The serial number in upper-case hexadecimal, as OpenSSL prints it.
    pub fn serial_hex(&self) -> String {
        hex_upper(&self.serial)
    }

    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate DER, by value.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }

    /// Decodes the certificate (x509-cert) for callers that want its fields.
    pub fn to_certificate(&self) -> Result<Certificate, EncodingError> {
        Certificate::from_der(&self.der)
    }

    /// Decodes the certificate, keeping the DER without copying it.
    pub fn into_certificate(self) -> Result<Certificate, EncodingError> {
        Certificate::from_der_vec(self.der)
    }

    /// The DER and serial of a certificate issued through the checked path.
    pub(crate) fn from_certificate(certificate: &Certificate) -> Result<Self, Error> {
        let serial = certificate
            .x509()
            .tbs_certificate()
            .serial_number()
            .as_bytes();
        Ok(Self {
            serial: serial
                .try_into()
                .map_err(|_| PolicyError::PostIssuanceCheck)?,
            der: certificate.der().to_vec(),
        })
    }
}

impl<'ca> IssuanceTemplate<'ca> {
    /// Pre-encodes what `ca` and `profile` fix, then checks the template against the
    /// checked path on a probe certificate (see the module documentation).
    ///
    /// Refused like [`CertificateAuthority::prepare`] when `ca` may not issue under
    /// `profile` (a root CA profile, or a CA profile beyond its path length), and
    /// with [`PolicyError::TemplateCheck`] if the probe encodings differ.
    pub fn new(ca: &'ca CertificateAuthority, profile: &Profile) -> Result<Self, Error> {
        ca.check_may_issue(profile)?;
        let signature_algorithm = ca.key().signature_algorithm();
        let algorithm = signature_algorithm.algorithm_identifier().to_der()?;
        let mut algorithm_and_issuer = algorithm.clone();
        ca.certificate()
            .x509()
            .tbs_certificate()
            .subject()
            .encode_to_vec(&mut algorithm_and_issuer)?;
        let mut leading_extensions: [Vec<u8>; KEY_CLASSES.len()] = Default::default();
        for (out, kind) in leading_extensions.iter_mut().zip(KEY_CLASSES) {
            for extension in profile.leading_extensions(kind)? {
                extension.encode_to_vec(out)?;
            }
        }
        let mut trailing_extensions = Vec::with_capacity(256);
        for extension in profile.trailing_extensions(Some(ca.key_id()), ca.urls())? {
            extension.encode_to_vec(&mut trailing_extensions)?;
        }
        let template = Self {
            ca,
            profile: profile.clone(),
            algorithm_and_issuer,
            algorithm,
            issuer_validity: (ca.certificate().not_before(), ca.certificate().not_after()),
            leading_extensions,
            trailing_extensions,
            check_signature: false,
            serials: Mutex::new(SerialPool::new()),
        };
        template.probe()?;
        Ok(template)
    }

    /// Whether each signature is checked before the certificate is handed out,
    /// as [`CertificateAuthority::issue`] checks (verified with the CA's public
    /// key; RSA's by aws-lc as it signs): off by default, see the module
    /// documentation.
    pub fn with_signature_check(mut self, check: bool) -> Self {
        self.check_signature = check;
        self
    }

    /// The CA this template issues from.
    pub fn ca(&self) -> &'ca CertificateAuthority {
        self.ca
    }

    /// The profile this template issues under.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Issues a batch on `threads` threads (at least one); results come back
    /// in the order of `requests`, one `Result` each, so a refused request
    /// does not stop the others. The threads take requests in small runs
    /// from a shared counter rather than fixed halves, so a thread that the
    /// machine slows down (another process on its core) does not hold up
    /// the batch: the others take over its share.
    pub fn issue_batch(
        &self,
        requests: &[IssueRequest],
        threads: usize,
    ) -> Vec<Result<IssuedDer, Error>> {
        /// Requests a thread takes at a time: a few, so the counter is
        /// touched rarely, and few enough that shares stay even.
        const RUN: usize = 4;
        let threads = threads.clamp(1, requests.len().div_ceil(RUN).max(1));
        let next = AtomicUsize::new(0);
        let work = || {
            let mut out = Vec::new();
            loop {
                let start = next.fetch_add(RUN, Ordering::Relaxed);
                let end = (start + RUN).min(requests.len());
                match requests.get(start..end) {
                    Some(run) if !run.is_empty() => out.extend(
                        run.iter()
                            .enumerate()
                            .map(|(i, r)| (start + i, self.issue(r))),
                    ),
                    _ => break out,
                }
            }
        };
        // The calling thread is one of the workers.
        let mut done: Vec<(usize, Result<IssuedDer, Error>)> = std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut done = work();
            for helper in helpers {
                done.extend(helper.join().unwrap_or_default());
            }
            done
        });
        done.sort_unstable_by_key(|(index, _)| *index);
        // A worker that panicked (never from input) leaves its requests without
        // a result; they are reported as failed rather than dropped.
        let mut results = Vec::with_capacity(requests.len());
        let mut done = done.into_iter().peekable();
        for index in 0..requests.len() {
            match done.next_if(|(i, _)| *i == index) {
                Some((_, result)) => results.push(result),
                None => results.push(Err(PolicyError::PostIssuanceCheck.into())),
            }
        }
        results
    }

    /// Checks `request`, then issues and signs its certificate.
    pub fn issue(&self, request: &IssueRequest) -> Result<IssuedDer, Error> {
        let written = self.write(request)?;
        self.sign(written)
    }

    /// Checks `request` and appends its DER TBSCertificate to `out` (nothing is
    /// appended on error); returns the serial drawn for it. This is all of
    /// issuance but the signature.
    pub fn write_tbs(
        &self,
        request: &IssueRequest,
        out: &mut Vec<u8>,
    ) -> Result<[u8; SERIAL_LEN], Error> {
        let start = out.len();
        let result = self.write_tbs_checked(request, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// The checks of `prepare_tbs` in its order, writing as it goes.
    fn write_tbs_checked(
        &self,
        request: &IssueRequest,
        out: &mut Vec<u8>,
    ) -> Result<[u8; SERIAL_LEN], Error> {
        self.profile.check_key(&request.public_key)?;
        // The subject is checked first, as on the checked path: encode it at the end
        // of the buffer now and move it behind the fields before it once they are in.
        let subject_start = out.len();
        request.subject.write_der(out)?;
        let alt_names = effective_alt_names(request, &self.profile)?;
        let env = self.ca.environment();
        let now = env.clock().now();
        let (not_before, not_after) = validity_window(
            Some(self.issuer_validity),
            request.not_after,
            &self.profile,
            now,
        )?;
        let validity = validity_der(not_before, not_after)?;
        let serial = self
            .serials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(env.random(), now)?;
        self.finish_tbs(
            subject_start,
            &serial,
            &validity,
            &request.public_key,
            &alt_names,
            out,
        )?;
        Ok(serial)
    }

    /// Completes a TBS whose subject was written at `subject_start`: puts the
    /// header, serial, algorithm, issuer and validity before it, the key and
    /// extensions after it, and closes the SEQUENCE.
    fn finish_tbs(
        &self,
        subject_start: usize,
        serial: &[u8; SERIAL_LEN],
        validity: &ValidityDer,
        public_key: &PublicKey,
        alt_names: &SubjectAltNames,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let subject_len = out.len() - subject_start;
        self.write_head(serial, validity, out);
        if let Some(moved) = out.get_mut(subject_start..) {
            moved.rotate_left(subject_len);
        }
        // `out` now ends with the TBS header, ..., validity, subject.
        self.write_tail(public_key, alt_names, out)?;
        close_der(out, subject_start);
        Ok(())
    }

    /// The SEQUENCE tag, version, serial, signature algorithm, issuer and validity.
    fn write_head(&self, serial: &[u8; SERIAL_LEN], validity: &ValidityDer, out: &mut Vec<u8>) {
        out.push(0x30);
        out.extend_from_slice(&VERSION_V3);
        // INTEGER: the top bit is clear and the next set, so always 16 octets.
        out.extend_from_slice(&[0x02, SERIAL_LEN as u8]);
        out.extend_from_slice(serial);
        out.extend_from_slice(&self.algorithm_and_issuer);
        out.extend_from_slice(validity.as_bytes());
    }

    /// The SubjectPublicKeyInfo and the extensions, after the subject.
    fn write_tail(
        &self,
        public_key: &PublicKey,
        alt_names: &SubjectAltNames,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        out.extend_from_slice(public_key.spki_der());
        // extensions [3] EXPLICIT SEQUENCE OF Extension
        let explicit = out.len();
        out.push(0xA3);
        let list = out.len();
        out.push(0x30);
        let leading = self
            .leading_extensions
            .get(key_class(public_key.kind()))
            .ok_or(PolicyError::PostIssuanceCheck)?;
        out.extend_from_slice(leading);
        if !alt_names.is_empty() {
            let extension = out.len();
            out.push(0x30);
            push_oid(out, oid::SUBJECT_ALT_NAME);
            let value = out.len();
            out.push(0x04);
            alt_names.write_general_names_der(out)?;
            close_der(out, value);
            close_der(out, extension);
        }
        let ski = key_identifier_array(public_key)?;
        let ski_oid = oid::SUBJECT_KEY_IDENTIFIER.as_bytes();
        // SEQUENCE { OID, OCTET STRING { OCTET STRING (20) } }
        out.extend_from_slice(&[0x30, (2 + ski_oid.len() + 2 + 2 + ski.len()) as u8]);
        push_oid(out, oid::SUBJECT_KEY_IDENTIFIER);
        out.extend_from_slice(&[0x04, (2 + ski.len()) as u8, 0x04, ski.len() as u8]);
        out.extend_from_slice(&ski);
        out.extend_from_slice(&self.trailing_extensions);
        close_der(out, list);
        close_der(out, explicit);
        Ok(())
    }

    /// A capacity that holds the whole certificate for `request` without growing.
    fn size_hint(&self, request: &IssueRequest) -> usize {
        let leading = self.leading_extensions.iter().map(Vec::len).max();
        1024 + self.algorithm_and_issuer.len()
            + self.algorithm.len()
            + leading.unwrap_or(0)
            + self.trailing_extensions.len()
            + 2 * request.public_key.spki_der().len()
    }

    /// Encodes a probe certificate through the template and through the checked
    /// path's encoder, with the CA's own key as subject key, and refuses the
    /// template unless they agree byte for byte.
    fn probe(&self) -> Result<(), Error> {
        let subject = DistinguishedName {
            country: Some("CN".into()),
            state: Some("北京".into()),
            locality: Some("海淀".into()),
            organization: Some("TopCA template probe".into()),
            organizational_units: vec!["证书服务部".into(), "Probe".into()],
            common_name: Some("probe.example.com".into()),
            email: Some("probe@example.com".into()),
        };
        let mut alt_names = SubjectAltNames::default();
        for host in ["probe.example.com", "192.0.2.1", "2001:db8::1"] {
            alt_names.add_host(host)?;
        }
        alt_names.add_email("probe@example.com")?;
        let mut serial = [0u8; SERIAL_LEN];
        for (i, octet) in serial.iter_mut().enumerate() {
            *octet = 0x40 | i as u8;
        }
        let utc_end = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_524_607_999);
        let windows = [
            self.issuer_validity,
            // 2049-12-31T23:59:59Z (UTCTime) to 2050-01-01T00:00:00Z (GeneralizedTime).
            (utc_end, utc_end + std::time::Duration::from_secs(1)),
        ];
        let public_key = self.ca.key().public_key();
        for (not_before, not_after) in windows {
            let fields = TbsInputs {
                serial: &serial,
                not_before,
                not_after,
                subject: &subject,
                public_key,
                alt_names: &alt_names,
                profile: &self.profile,
            };
            let reference = self.ca.reference_tbs(&fields)?;
            let mut ours = Vec::with_capacity(reference.len());
            let validity = validity_der(not_before, not_after)?;
            subject.write_der(&mut ours)?;
            self.finish_tbs(0, &serial, &validity, public_key, &alt_names, &mut ours)?;
            if ours != reference {
                return Err(PolicyError::TemplateCheck.into());
            }
        }
        Ok(())
    }
}

impl CertificateAuthority {
    /// An issuance template for `profile` (see [`IssuanceTemplate`]).
    pub fn template(&self, profile: &Profile) -> Result<IssuanceTemplate<'_>, Error> {
        IssuanceTemplate::new(self, profile)
    }
}

fn push_oid(out: &mut Vec<u8>, oid: der::asn1::ObjectIdentifier) {
    let bytes = oid.as_bytes();
    out.push(0x06);
    push_der_length(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A DER Validity: `SEQUENCE { notBefore Time, notAfter Time }`, at most 36 octets.
struct ValidityDer {
    bytes: [u8; 36],
    len: usize,
}

impl ValidityDer {
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

fn validity_der(not_before: SystemTime, not_after: SystemTime) -> Result<ValidityDer, Error> {
    let time = |at| DerTime::new(at).ok_or_else(|| der::Error::from(der::ErrorKind::DateTime));
    let (first, second) = (time(not_before)?, time(not_after)?);
    let (first, second) = (first.as_bytes(), second.as_bytes());
    let len = first.len() + second.len();
    let mut bytes = [0u8; 36];
    let encoding = [0x30, len as u8]
        .into_iter()
        .chain(first.iter().chain(second).copied());
    for (slot, octet) in bytes.iter_mut().zip(encoding) {
        *slot = octet;
    }
    Ok(ValidityDer {
        bytes,
        len: 2 + len,
    })
}

mod signing;
#[cfg(test)]
mod tests;

pub(crate) use signing::OwnSignatureCheck;
pub use signing::WrittenTbs;
