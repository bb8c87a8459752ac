//! Certificate authorities: create a root or a subordinate CA, and issue
//! certificates through a typed pipeline.
//!
//! Issuance is `prepare` (serial, validity, extensions, pre-issuance checks, the
//! TBSCertificate encoded and exposed for recording) then `Prepared::issue(self)`
//! (sign, check the signature, assemble and decode). `issue` consumes the prepared
//! value, so one TBS is signed at most once.

use std::{
    borrow::Cow,
    sync::Arc,
    time::{Duration, SystemTime},
};

use spki::AlgorithmIdentifierOwned;
use x509_cert::{
    ext::pkix::{BasicConstraints, SubjectKeyIdentifier},
    name::Name,
    serial_number::SerialNumber,
    time::{Time, Validity},
};

use crate::{
    certificate::{Certificate, hex_upper},
    clock::{Clock, SystemClock},
    csr::CertificateRequest,
    error::{EncodingError, Error, KeyError, PolicyError},
    key::{PublicKey, SigningKey},
    name::{DistinguishedName, SubjectAltNames, validate_email},
    observe::{Observer, Unobserved},
    pkcs7,
    profile::{CaUrls, ExtensionInputs, Profile, ProfileKind, key_identifier},
    random::{OsRandom, RandomSource},
    serial::random_serial,
    tbs::{TbsFields, assemble_certificate},
    template::{IssuanceTemplate, IssuedDer, OwnSignatureCheck},
};

/// How far notBefore is set in the past, to tolerate relying parties' clock skew.
pub const BACKDATE: Duration = Duration::from_secs(60);

/// The clock and random source a CA draws on.
#[derive(Clone)]
pub struct Environment {
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    observer: Arc<dyn Observer>,
}

impl Environment {
    /// The system clock and the operating system's random generator.
    pub fn system() -> Self {
        Self::new(Arc::new(SystemClock), Arc::new(OsRandom))
    }

    /// A given clock and random source (tests pin them).
    pub fn new(clock: Arc<dyn Clock>, random: Arc<dyn RandomSource>) -> Self {
        Self {
            clock,
            random,
            observer: Arc::new(Unobserved),
        }
    }

    /// This environment telling `observer` of issuances and revocations.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The random source.
    pub fn random(&self) -> &dyn RandomSource {
        self.random.as_ref()
    }

    /// The observer of issuances and revocations.
    pub fn observer(&self) -> &dyn Observer {
        self.observer.as_ref()
    }
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment").finish_non_exhaustive()
    }
}

/// What to certify: subject, key and names, as approved by the RA.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The subject name.
    pub subject: DistinguishedName,
    /// The subject's public key.
    pub public_key: PublicKey,
    /// Subject alternative names.
    pub alt_names: SubjectAltNames,
    /// An explicit end of validity (a replacement keeps the original's), else the
    /// profile's validity from now.
    pub not_after: Option<SystemTime>,
}

impl IssueRequest {
    /// A request taking subject, key and alternative names from a verified CSR.
    pub fn from_csr(csr: &CertificateRequest) -> Self {
        Self {
            subject: csr.subject().clone(),
            public_key: csr.public_key().clone(),
            alt_names: csr.alt_names().clone(),
            not_after: None,
        }
    }
}

/// An issuing CA: its key, its certificate and the chain above it.
#[derive(Debug)]
pub struct CertificateAuthority {
    key: SigningKey,
    certificate: Certificate,
    /// Certificates above this CA, nearest first, ending with the root.
    parents: Vec<Certificate>,
    key_id: Vec<u8>,
    path_len: Option<u8>,
    urls: CaUrls,
    env: Environment,
    /// The check after signing, its public key parsed once.
    own_check: OwnSignatureCheck,
}

/// Who signs a certificate being prepared.
struct Issuer<'a> {
    name: &'a Name,
    key: &'a SigningKey,
    key_id: Option<&'a [u8]>,
    validity: Option<(SystemTime, SystemTime)>,
    urls: &'a CaUrls,
}

impl CertificateAuthority {
    /// Creates a self-signed root CA with `key`.
    pub fn create_root(
        key: SigningKey,
        subject: &DistinguishedName,
        profile: &Profile,
        env: Environment,
    ) -> Result<Self, Error> {
        if profile.kind() != ProfileKind::RootCa {
            return Err(PolicyError::WrongProfile {
                expected: ProfileKind::RootCa.label(),
                given: profile.kind().label(),
            }
            .into());
        }
        let name = subject.to_name()?;
        let urls = CaUrls::default();
        let request = IssueRequest {
            subject: subject.clone(),
            public_key: key.public_key().clone(),
            alt_names: SubjectAltNames::default(),
            not_after: None,
        };
        let issuer = Issuer {
            name: &name,
            key: &key,
            key_id: None,
            validity: None,
            urls: &urls,
        };
        let (_, tbs_der) = prepare_tbs(&issuer, &request, profile, &env)?;
        let certificate = sign_and_check(&key, &OwnSignatureCheck::for_key(&key)?, &tbs_der)?;
        Self::from_parts(key, certificate, Vec::new(), urls, env)
    }

    /// Creates a subordinate CA under this one, with `key` and a `SubCa` profile.
    /// `urls` are the new CA's own URLs (written into what it issues); this CA's
    /// URLs go into the new CA's certificate.
    pub fn create_subordinate(
        &self,
        key: SigningKey,
        subject: &DistinguishedName,
        profile: &Profile,
        urls: CaUrls,
    ) -> Result<Self, Error> {
        if profile.kind() != ProfileKind::SubCa {
            return Err(PolicyError::WrongProfile {
                expected: ProfileKind::SubCa.label(),
                given: profile.kind().label(),
            }
            .into());
        }
        let request = IssueRequest {
            subject: subject.clone(),
            public_key: key.public_key().clone(),
            alt_names: SubjectAltNames::default(),
            not_after: None,
        };
        let certificate = self.prepare(request, profile)?.issue()?;
        let mut parents = vec![self.certificate.clone()];
        parents.extend(self.parents.iter().cloned());
        Self::from_parts(key, certificate, parents, urls, self.env.clone())
    }

    /// Loads an existing CA: its key, its certificate and the certificates above it
    /// (nearest first). Checks that the key matches and that the certificate is a CA
    /// signed by the next one up.
    pub fn from_parts(
        key: SigningKey,
        certificate: Certificate,
        parents: Vec<Certificate>,
        urls: CaUrls,
        env: Environment,
    ) -> Result<Self, Error> {
        urls.validate()?;
        if certificate.public_key()? != *key.public_key() {
            return Err(KeyError::CertificateKeyMismatch.into());
        }
        let constraints = certificate
            .x509()
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .map_err(|e| Error::Encoding(EncodingError::Certificate(e)))?;
        let path_len = match constraints {
            Some((_, bc)) if bc.ca => bc.path_len_constraint,
            _ => return Err(PolicyError::PathLength.into()),
        };
        let signer = match parents.first() {
            Some(parent) => parent.public_key()?,
            None => certificate.public_key()?,
        };
        certificate.verify_signed_by(&signer)?;
        // Issued certificates' AKI must match this certificate's SKI, whichever
        // method the CA that issued it used (an imported CA's may differ).
        let key_id = match certificate
            .x509()
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(|e| Error::Encoding(EncodingError::Certificate(e)))?
        {
            Some((_, ski)) => ski.0.as_bytes().to_vec(),
            None => key_identifier(key.public_key())?,
        };
        let own_check = OwnSignatureCheck::for_key(&key)?;
        Ok(Self {
            key,
            certificate,
            parents,
            key_id,
            path_len,
            urls,
            env,
            own_check,
        })
    }

    /// Checks a request against `profile` and encodes its TBSCertificate.
    pub fn prepare(&self, request: IssueRequest, profile: &Profile) -> Result<Prepared<'_>, Error> {
        self.check_may_issue(profile)?;
        let (serial, tbs_der) = prepare_tbs(&self.as_issuer(), &request, profile, &self.env)?;
        Ok(Prepared {
            ca: self,
            serial,
            tbs_der,
        })
    }

    /// Refuses profiles this CA may not issue under: root CA profiles, and CA
    /// profiles its own path length constraint does not leave room for.
    pub(crate) fn check_may_issue(&self, profile: &Profile) -> Result<(), Error> {
        if profile.kind().is_ca() {
            let allowed = match (self.path_len, profile.path_len()) {
                (None, _) => true,
                (Some(ours), Some(theirs)) => theirs < ours,
                (Some(_), None) => false,
            };
            if !allowed || profile.kind() == ProfileKind::RootCa {
                return Err(PolicyError::PathLength.into());
            }
        }
        Ok(())
    }

    fn as_issuer(&self) -> Issuer<'_> {
        Issuer {
            name: self.certificate.x509().tbs_certificate().subject(),
            key: &self.key,
            key_id: Some(&self.key_id),
            validity: Some((self.certificate.not_before(), self.certificate.not_after())),
            urls: &self.urls,
        }
    }

    /// The TBSCertificate the checked path (`prepare`) encodes for these exact
    /// fields, with no policy check: what an issuance template must reproduce.
    pub(crate) fn reference_tbs(&self, fields: &TbsInputs<'_>) -> Result<Vec<u8>, Error> {
        encode_tbs(&self.as_issuer(), fields)
    }

    /// Prepares and issues in one step.
    pub fn issue(&self, request: IssueRequest, profile: &Profile) -> Result<Certificate, Error> {
        self.prepare(request, profile)?.issue()
    }

    /// Issues a batch on `threads` threads (at least one; the caller is one of
    /// them), which take requests a few at a time from a shared counter, through
    /// one [`IssuanceTemplate`] for `profile` made (and probed) per call, so
    /// callers issuing many small batches should keep a template; results
    /// come back in the order of `requests`, one `Result` each, so a refused request
    /// does not stop the others. Certificates come back as DER with their serial
    /// ([`IssuedDer::into_certificate`] decodes one).
    ///
    /// If no template can be made for `profile`, each request goes through the
    /// checked path instead and gets its own error (or certificate).
    pub fn issue_batch(
        &self,
        requests: Vec<IssueRequest>,
        profile: &Profile,
        threads: usize,
    ) -> Vec<Result<IssuedDer, Error>> {
        match IssuanceTemplate::new(self, profile) {
            Ok(template) => template.issue_batch(&requests, threads),
            // The template refuses what the checked path refuses; each request
            // then gets that answer.
            Err(_) => requests
                .into_iter()
                .map(|request| {
                    self.issue(request, profile)
                        .and_then(|certificate| IssuedDer::from_certificate(&certificate))
                })
                .collect(),
        }
    }

    /// This CA's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// This CA's signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The check made after each signature of this CA's key.
    pub(crate) fn own_check(&self) -> &OwnSignatureCheck {
        &self.own_check
    }

    /// This CA's key identifier (the SKI of its certificate, the AKI of what it signs).
    pub(crate) fn key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// The URLs written into certificates this CA issues.
    pub fn urls(&self) -> &CaUrls {
        &self.urls
    }

    /// The environment (clock, random source) this CA uses.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// The chain from this CA up to the root, this CA first.
    pub fn chain(&self) -> Vec<&Certificate> {
        std::iter::once(&self.certificate)
            .chain(&self.parents)
            .collect()
    }

    /// The chain as concatenated PEM certificates, this CA first.
    pub fn chain_pem(&self) -> String {
        self.chain().iter().map(|c| c.to_pem()).collect()
    }

    /// The chain as a PKCS#7 certs-only bundle (`certChain.p7b`), DER.
    pub fn chain_pkcs7_der(&self) -> Result<Vec<u8>, Error> {
        let certs: Vec<x509_cert::Certificate> =
            self.chain().iter().map(|c| c.x509().clone()).collect();
        Ok(pkcs7::certs_only_der(&certs)?)
    }
}

/// A checked, encoded TBSCertificate waiting to be signed.
#[derive(Debug)]
pub struct Prepared<'ca> {
    ca: &'ca CertificateAuthority,
    serial: SerialNumber,
    tbs_der: Vec<u8>,
}

impl Prepared<'_> {
    /// The serial number reserved for this certificate, upper-case hex.
    pub fn serial_hex(&self) -> String {
        hex_upper(self.serial.as_bytes())
    }

    /// The exact TBSCertificate that will be signed (to record before signing).
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// Signs the TBSCertificate, checks the signature (see
    /// [`crate::template`] on the check after signing) and decodes the certificate.
    pub fn issue(self) -> Result<Certificate, Error> {
        sign_and_check(&self.ca.key, &self.ca.own_check, &self.tbs_der)
    }
}

fn prepare_tbs(
    issuer: &Issuer<'_>,
    request: &IssueRequest,
    profile: &Profile,
    env: &Environment,
) -> Result<(SerialNumber, Vec<u8>), Error> {
    profile.check_key(&request.public_key)?;
    let subject = request.subject.to_name()?;
    let alt_names = effective_alt_names(request, profile)?;
    let now = env.clock().now();
    let (not_before, not_after) =
        validity_window(issuer.validity, request.not_after, profile, now)?;
    let validity = Validity::new(time(not_before)?, time(not_after)?);
    let serial = random_serial(env.random(), now)?;
    let tbs_der = encode_tbs_fields(
        issuer,
        &serial,
        &validity,
        &subject,
        &request.public_key,
        &alt_names,
        profile,
    )?;
    Ok((serial, tbs_der))
}

/// The fields of one certificate once its request has been checked.
pub(crate) struct TbsInputs<'a> {
    pub(crate) serial: &'a [u8],
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
    pub(crate) subject: &'a DistinguishedName,
    pub(crate) public_key: &'a PublicKey,
    /// The alternative names as written (see [`effective_alt_names`]).
    pub(crate) alt_names: &'a SubjectAltNames,
    pub(crate) profile: &'a Profile,
}

fn encode_tbs(issuer: &Issuer<'_>, fields: &TbsInputs<'_>) -> Result<Vec<u8>, Error> {
    encode_tbs_fields(
        issuer,
        &SerialNumber::new(fields.serial)?,
        &Validity::new(time(fields.not_before)?, time(fields.not_after)?),
        &fields.subject.to_name()?,
        fields.public_key,
        fields.alt_names,
        fields.profile,
    )
}

fn encode_tbs_fields(
    issuer: &Issuer<'_>,
    serial: &SerialNumber,
    validity: &Validity,
    subject: &Name,
    public_key: &PublicKey,
    alt_names: &SubjectAltNames,
    profile: &Profile,
) -> Result<Vec<u8>, Error> {
    let signature: AlgorithmIdentifierOwned =
        issuer.key.signature_algorithm().algorithm_identifier();
    let extensions = profile.extensions(&ExtensionInputs {
        subject_key: public_key,
        issuer_key_id: issuer.key_id,
        alt_names,
        urls: issuer.urls,
    })?;
    Ok(TbsFields {
        serial,
        signature: &signature,
        issuer: issuer.name,
        validity,
        subject,
        spki_der: public_key.spki_der(),
        extensions: &extensions,
    }
    .encode()?)
}

/// notBefore and notAfter of a certificate issued at `now`: backdated by a minute,
/// ending at the requested time or after the profile's validity, never after the
/// issuer's own notAfter. Refused when the issuer is not valid at `now` or when
/// nothing of the period would be left.
pub(crate) fn validity_window(
    issuer_validity: Option<(SystemTime, SystemTime)>,
    requested_not_after: Option<SystemTime>,
    profile: &Profile,
    now: SystemTime,
) -> Result<(SystemTime, SystemTime), Error> {
    let not_before = now.checked_sub(BACKDATE).unwrap_or(now);
    let mut not_after = requested_not_after.unwrap_or(now + profile.validity());
    if let Some((issuer_start, issuer_end)) = issuer_validity {
        if now < issuer_start || now >= issuer_end {
            return Err(PolicyError::IssuerNotValid.into());
        }
        not_after = not_after.min(issuer_end);
    }
    if not_after <= now {
        return Err(PolicyError::EmptyValidity.into());
    }
    Ok((not_before, not_after))
}

/// Alternative names as the profile wants them: servers need a host (the CN is
/// taken when it is one), user certificates carry the subject's e-mail.
pub(crate) fn effective_alt_names<'r>(
    request: &'r IssueRequest,
    profile: &Profile,
) -> Result<Cow<'r, SubjectAltNames>, Error> {
    let names = &request.alt_names;
    match profile.kind() {
        ProfileKind::TlsServer | ProfileKind::ShortLivedTlsServer => {
            if names.dns_names.is_empty() && names.ip_addresses.is_empty() {
                let mut names = names.clone();
                if let Some(cn) = &request.subject.common_name {
                    // A CN that is not a host name is simply not copied.
                    let _ = names.add_host(cn);
                }
                if names.dns_names.is_empty() && names.ip_addresses.is_empty() {
                    return Err(PolicyError::NoServerName.into());
                }
                return Ok(Cow::Owned(names));
            }
        }
        ProfileKind::UserSigning | ProfileKind::UserEncryption | ProfileKind::TlsClient => {
            if let Some(email) = &request.subject.email {
                // As `SubjectAltNames::add_email`: checked, added unless present.
                let email = validate_email(email)?;
                if !names.emails.contains(&email) {
                    let mut names = names.clone();
                    names.emails.push(email);
                    return Ok(Cow::Owned(names));
                }
            }
        }
        ProfileKind::RootCa | ProfileKind::SubCa | ProfileKind::OcspSigning => {}
    }
    Ok(Cow::Borrowed(names))
}

fn time(t: SystemTime) -> Result<Time, Error> {
    // UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
    Ok(Time::try_from(t)?)
}

/// Signs `tbs_der`, checks the signature with `check` (the
/// TBSCertificate is DER by construction: it was encoded from typed
/// structures), and decodes the certificate to return it.
fn sign_and_check(
    key: &SigningKey,
    check: &OwnSignatureCheck,
    tbs_der: &[u8],
) -> Result<Certificate, Error> {
    let signature = key.sign_bytes(tbs_der)?;
    check.check(tbs_der, signature.as_bytes())?;
    let algorithm = key.signature_algorithm().algorithm_identifier();
    let der = assemble_certificate(tbs_der, &algorithm, signature.as_bytes())?;
    Ok(Certificate::from_der_vec(der).map_err(|_| PolicyError::PostIssuanceCheck)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{algorithm::KeyAlgorithm, random::OsRandom};

    #[test]
    fn a_batch_keeps_its_order_and_reports_each_refusal() {
        let ca = CertificateAuthority::create_root(
            SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap(),
            &DistinguishedName::with_common_name("Batch Root"),
            &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
            Environment::system(),
        )
        .unwrap();
        let profile = Profile::new(ProfileKind::TlsServer, 90).unwrap();
        let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
        let requests: Vec<IssueRequest> = (0..9)
            .map(|i| {
                let mut alt_names = SubjectAltNames::default();
                if i != 4 {
                    alt_names.add_host(&format!("host{i}.example.com")).unwrap();
                }
                IssueRequest {
                    subject: DistinguishedName::with_common_name(format!("not a host {i}")),
                    public_key: key.public_key().clone(),
                    alt_names,
                    not_after: None,
                }
            })
            .collect();
        let results = ca.issue_batch(requests, &profile, 2);
        assert_eq!(results.len(), 9);
        for (i, result) in results.iter().enumerate() {
            match (i, result) {
                (4, Err(Error::Policy(PolicyError::NoServerName))) => {}
                (4, other) => panic!("request 4 has no server name: {other:?}"),
                (i, Ok(issued)) => assert_eq!(
                    issued
                        .to_certificate()
                        .unwrap()
                        .subject()
                        .common_name
                        .as_deref(),
                    Some(format!("not a host {i}").as_str())
                ),
                (i, Err(e)) => panic!("request {i}: {e}"),
            }
        }
        assert!(ca.issue_batch(Vec::new(), &profile, 4).is_empty());
    }
}
