//! TopCA core: certificate authority, registration authority and key management logic.
//!
//! What this crate does: generates and imports signing keys (RSA, ECDSA P-256/P-384,
//! Ed25519, SM2/SM3), parses and verifies PKCS#10 requests, builds certificates under
//! typed profiles, and encodes chains and previews.
//!
//! What it does not do: no file, network or database I/O. Storage and mail reach the
//! core through traits that the embedding application (or `topca-store`, `topca-mail`)
//! implements; time and randomness are injected through [`Clock`] and [`RandomSource`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod pkcs7;
pub mod preview;

pub mod algorithm;
pub mod ca;
pub mod certificate;
pub mod clock;
pub mod csr;
pub mod error;
pub mod key;
pub mod name;
mod oid;
pub mod profile;
pub mod random;
pub mod serial;
mod tbs;

pub use algorithm::{KeyAlgorithm, KeyKind, SignatureAlgorithm};
pub use ca::{CertificateAuthority, Environment, IssueRequest, Prepared};
pub use certificate::Certificate;
pub use clock::{Clock, FixedClock, SystemClock};
pub use csr::CertificateRequest;
pub use error::{CsrError, EncodingError, Error, KeyError, NameError, PolicyError, Result};
pub use key::{PublicKey, Signature, SigningKey};
pub use name::{DistinguishedName, SubjectAltNames};
pub use profile::{CaUrls, Profile, ProfileKind};
pub use random::{OsRandom, RandomSource};
