//! The key management centre (KMC): keys it generates for encryption certificates
//! are escrowed, never stored in clear.
//!
//! Escrowed keys are sealed with AES-256-GCM under a [`MasterKey`] that lives
//! outside the database (a file or an environment variable of the deployment, later
//! an HSM), so a copy of the database alone reveals no private key.

mod escrow;
mod recovery;

pub use escrow::{EscrowedKey, MasterKey};
pub use recovery::{NewRecovery, Recovery, RecoveryId, RecoveryState};
