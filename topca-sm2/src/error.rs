//! The crate's error type.

use std::fmt;

/// Everything that can go wrong in this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The secret key is not in `[1, n − 2]`.
    InvalidSecretKey,
    /// The public key is not a valid uncompressed point on the curve.
    InvalidPublicKey,
    /// The distinguishing identifier is longer than 8191 bytes (ENTL is 16 bits).
    IdTooLong,
    /// The explicit nonce `k` is not in `[1, n − 1]` or gives `r = 0`, `r + k = n` or `s = 0`.
    InvalidNonce,
    /// The operating system's random number generator failed.
    Rng,
    /// The signature does not verify.
    BadSignature,
    /// The DER signature encoding is malformed.
    MalformedDer,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::InvalidSecretKey => "SM2 secret key out of range [1, n-2]",
            Error::InvalidPublicKey => "invalid SM2 public key",
            Error::IdTooLong => "SM2 distinguishing identifier too long",
            Error::InvalidNonce => "unusable SM2 nonce",
            Error::Rng => "system random number generator failed",
            Error::BadSignature => "SM2 signature verification failed",
            Error::MalformedDer => "malformed DER SM2 signature",
        })
    }
}

impl std::error::Error for Error {}
