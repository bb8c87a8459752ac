//! TopCA core: certificate authority, registration authority and key management logic.
//!
//! What this crate does: generates and imports signing keys (RSA, ECDSA P-256/P-384,
//! Ed25519, SM2/SM3), parses and verifies PKCS#10 requests, builds certificates under
//! typed profiles, and encodes chains and previews.
//!
//! What it does not do: no file, network or database I/O. Storage and mail reach the
//! core through traits that the embedding application (or `topca-store`, `topca-mail`)
//! implements; time and randomness are injected through [`Clock`] and [`RandomSource`].
//!
//! `CertificateAuthority::issue` (below) signs without storing, for library users
//! that keep no records. Issuance that is stored goes through [`issuance`]: the
//! serial and the hash of the TBSCertificate are recorded in the store before the
//! signature, so nothing signed is unknown to the database.
//!
//! ```
//! use topca_core::{CertificateAuthority, DistinguishedName, Environment, IssueRequest,
//!                  KeyAlgorithm, OsRandom, Profile, ProfileKind, SigningKey, SubjectAltNames};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A self-signed SM2 root CA.
//! let root = CertificateAuthority::create_root(
//!     SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom)?,
//!     &DistinguishedName::with_common_name("Example Root").country("CN").organization("天诚安信"),
//!     &Profile::new(ProfileKind::RootCa, 3650)?,
//!     Environment::system(),
//! )?;
//! // A TLS server certificate for a key (normally taken from a verified CSR with
//! // `IssueRequest::from_csr(&CertificateRequest::parse(bytes)?)`).
//! let server_key = SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom)?;
//! let mut alt_names = SubjectAltNames::default();
//! alt_names.add_host("www.example.com")?;
//! let request = IssueRequest {
//!     subject: DistinguishedName::with_common_name("www.example.com"),
//!     public_key: server_key.public_key().clone(),
//!     alt_names,
//!     not_after: None,
//! };
//! let certificate = root.issue(request, &Profile::new(ProfileKind::TlsServer, 365)?)?;
//! assert!(certificate.to_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert_eq!(certificate.preview().general.issuer, "C=CN, O=天诚安信, CN=Example Root");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod pkcs12;
pub mod pkcs7;
pub mod preview;

pub mod algorithm;
pub mod audit;
pub mod audit_checkpoint;
pub mod ca;
pub mod certificate;
pub mod client;
pub mod clock;
pub mod cmp;
pub mod conformance;
pub mod crl;
pub mod csr;
pub mod error;
pub mod error_code;
pub mod issuance;
pub mod key;
pub mod kmc;
pub mod lifecycle;
pub mod mail;
pub mod memory;
pub mod name;
pub mod observe;
pub mod ocsp;
mod oid;
pub mod profile;
pub mod ra;
pub mod random;
pub mod secret;
pub mod serial;
pub mod store;
mod tbs;
pub mod template;

pub use algorithm::{KeyAlgorithm, KeyKind, SignatureAlgorithm};
pub use ca::{CertificateAuthority, Environment, IssueRequest, Prepared};
pub use certificate::Certificate;
pub use clock::{
    Clock, FixedClock, SystemClock, format_http_date, format_rfc3339, format_utc, parse_utc_day,
};
pub use csr::CertificateRequest;
pub use error::{
    AuditError, CsrError, EncodingError, Error, KeyError, KmcError, MailError, NameError,
    NameRefusal, PolicyError, RaError, Result, SecretError, StoreError, TransitionError,
};
pub use key::{PublicKey, Signature, SigningKey};
pub use name::{DistinguishedName, SubjectAltNames};
pub use profile::{CaUrls, Profile, ProfileKind};
pub use random::{OsRandom, RandomSource};
pub use template::{IssuanceTemplate, IssuedDer};
