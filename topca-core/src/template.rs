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
//! [`IssuanceTemplate::with_signature_check`]; [`CertificateAuthority::issue`] (used
//! by the RA and the server) keeps its full decode, re-encode and verify check.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::SystemTime,
};

use der::Encode;

use crate::{
    algorithm::{KeyKind, SignatureAlgorithm},
    ca::{CertificateAuthority, IssueRequest, TbsInputs, effective_alt_names, validity_window},
    certificate::{Certificate, hex_upper},
    clock::DerTime,
    error::{EncodingError, Error, PolicyError},
    key::PublicKey,
    name::{DistinguishedName, SubjectAltNames},
    oid,
    profile::{Profile, key_identifier_array},
    serial::{SERIAL_LEN, serial_from_random},
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
    signature_algorithm: SignatureAlgorithm,
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
    octets: [u8; POOL_SERIALS * SERIAL_LEN],
    next: usize,
}

impl SerialPool {
    fn new() -> Self {
        Self {
            octets: [0; POOL_SERIALS * SERIAL_LEN],
            next: POOL_SERIALS * SERIAL_LEN,
        }
    }

    fn take(
        &mut self,
        random: &dyn crate::random::RandomSource,
    ) -> Result<[u8; SERIAL_LEN], Error> {
        if self.next + SERIAL_LEN > self.octets.len() {
            random.fill(&mut self.octets)?;
            self.next = 0;
        }
        let mut serial = [0u8; SERIAL_LEN];
        if let Some(taken) = self.octets.get_mut(self.next..self.next + SERIAL_LEN) {
            serial.copy_from_slice(taken);
            taken.fill(0);
        }
        self.next += SERIAL_LEN;
        Ok(serial_from_random(serial))
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
            signature_algorithm,
            issuer_validity: (ca.certificate().not_before(), ca.certificate().not_after()),
            leading_extensions,
            trailing_extensions,
            check_signature: false,
            serials: Mutex::new(SerialPool::new()),
        };
        template.probe()?;
        Ok(template)
    }

    /// Whether each signature is verified with the CA's public key before the
    /// certificate is handed out (off by default; see the module documentation).
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
        let mut der = Vec::with_capacity(self.size_hint(request));
        // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
        der.push(0x30);
        let serial = self.write_tbs(request, &mut der)?;
        let tbs = der.get(1..).ok_or(PolicyError::PostIssuanceCheck)?;
        let signature = self.ca.key().sign_bytes(tbs)?;
        if self.check_signature {
            self.ca
                .key()
                .public_key()
                .verify(self.signature_algorithm, tbs, signature.as_bytes())
                .map_err(|_| PolicyError::PostIssuanceCheck)?;
        }
        der.extend_from_slice(&self.algorithm);
        // BIT STRING, no unused bits.
        der.push(0x03);
        push_der_length(&mut der, signature.as_bytes().len() + 1);
        der.push(0x00);
        der.extend_from_slice(signature.as_bytes());
        close_der(&mut der, 0);
        // The buffer was sized generously (about twice the certificate). A
        // batch keeps every certificate until the caller drops them, and the
        // slack doubled the memory that glibc hands back to the system and
        // faults in again on the next batch: 367 page faults per 1,024 P-256
        // certificates without this, 150 with it (`perf stat -e page-faults`).
        der.shrink_to_fit();
        Ok(IssuedDer { serial, der })
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
        let (not_before, not_after) = validity_window(
            Some(self.issuer_validity),
            request.not_after,
            &self.profile,
            env.clock().now(),
        )?;
        let validity = validity_der(not_before, not_after)?;
        let serial = self
            .serials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(env.random())?;
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

#[cfg(test)]
mod tests {
    use std::{
        net::IpAddr,
        sync::Arc,
        time::{Duration, SystemTime},
    };

    use super::*;
    use crate::{
        CaUrls, Environment, FixedClock, KeyAlgorithm, OsRandom, ProfileKind, RandomSource,
        SigningKey,
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
                            let slow =
                                ca.prepare(requests(ca.key().public_key())[0].clone(), &profile);
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
                                    assert_eq!(
                                        format!("{slow:?}"),
                                        format!("{fast:?}"),
                                        "{context}"
                                    );
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
}
