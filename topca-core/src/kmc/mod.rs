//! The key management centre (KMC): keys it generates for encryption certificates
//! are escrowed, never stored in clear; they reach their holder enveloped for the
//! holder's signing key, at retrieval and again through two-person key recovery
//! (see [`KeyManagementCentre`] for its separation of duties).
//!
//! Escrowed keys are sealed with AES-256-GCM under a [`MasterKey`] that lives
//! outside the database (a file or an environment variable of the deployment, or
//! sealed by a PKCS#11 token), or, with [`MasterKey::with_token_escrow`], inside
//! the token under an AES key that never leaves it, so a copy of the database alone reveals no private key.
//! With [`MasterKey::from_token`] the master key itself is unwrapped into the
//! token and its bytes never exist in this process.

mod centre;
mod envelope;
mod escrow;
mod recovery;
#[cfg(feature = "pkcs11")]
mod token_escrow;
#[cfg(feature = "pkcs11")]
mod token_master;

pub use centre::{KeyManagementCentre, KmcPolicy};
pub use envelope::{EnvelopeFormat, EnvelopedKey};
pub use escrow::{EscrowedKey, MasterKey};
pub use recovery::{NewRecovery, Recovery, RecoveryCode, RecoveryId, RecoveryState};
#[cfg(feature = "pkcs11")]
pub use token_master::WrappedMasterKey;
