//! SM2 digital signatures (GM/T 0003.2, GB/T 32918.2) with SM3, in safe Rust.
//!
//! The implementation is built for speed without giving up constant time on
//! secrets:
//!
//! * [`field`]: GF(p) in Montgomery form (`−p⁻¹ ≡ 1 mod 2⁶⁴`);
//! * [`scalar`]: integers modulo the group order `n`;
//! * [`point`]: Jacobian points, `a = −3` doubling, mixed addition;
//! * [`fixed_base`]: `k·G` from a precomputed table of 43 windows × 32 affine
//!   points with odd signed 6-bit digits, never zero (42 additions with no
//!   masks for the point at infinity, no doubling, full-scan lookups);
//! * verification uses a variable-time `u₁·G + u₂·Q` (public data);
//! * [`SigningKey`] precomputes its public key, `Z`, `(1 + d)⁻¹` and the
//!   first HMAC-SM3 state of its nonces, and draws nonces from RFC 6979 with
//!   HMAC-SM3, hedged with 16 fresh random bytes.
//!
//! ```
//! use topca_sm2::SigningKey;
//! let key = SigningKey::from_bytes(&[7u8; 32])?;
//! let sig = key.sign(b"hello")?;
//! key.verifying_key().verify_der(b"hello", &sig.to_der())?;
//! # Ok::<(), topca_sm2::Error>(())
//! ```

mod der;
mod double_mul;
#[cfg(feature = "os-rng")]
mod entropy;
mod error;
pub mod field;
pub mod fixed_base;
mod limbs;
pub mod point;
mod rfc6979;
mod safegcd;
pub mod scalar;
mod sign;
mod signature;
mod verify;
mod za;

pub use error::Error;
pub use sign::{HEDGE_LEN, SigningKey};
pub use signature::Signature;
pub use verify::VerifyingKey;
pub use za::{DEFAULT_ID, compute_z};

#[cfg(test)]
#[cfg(feature = "os-rng")] // the tests sign with the OS generator
mod tests;
