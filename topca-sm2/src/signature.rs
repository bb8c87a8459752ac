//! The signature value `(r, s)`.

use crate::der;
use crate::error::Error;

/// An SM2 signature: `r` and `s` as 32-byte big-endian integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    r: [u8; 32],
    s: [u8; 32],
}

impl Signature {
    /// Builds a signature from its two components (no range check; that is
    /// part of verification).
    pub fn from_components(r: [u8; 32], s: [u8; 32]) -> Self {
        Self { r, s }
    }

    /// `r`, 32 bytes big-endian.
    pub fn r(&self) -> &[u8; 32] {
        &self.r
    }

    /// `s`, 32 bytes big-endian.
    pub fn s(&self) -> &[u8; 32] {
        &self.s
    }

    /// The 64-byte `r ‖ s` form.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.r);
        out[32..].copy_from_slice(&self.s);
        out
    }

    /// Parses the 64-byte `r ‖ s` form.
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        Self { r, s }
    }

    /// DER `SEQUENCE { INTEGER r, INTEGER s }`.
    pub fn to_der(&self) -> Vec<u8> {
        der::encode(&self.r, &self.s)
    }

    /// Parses strict DER `SEQUENCE { INTEGER r, INTEGER s }`.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (r, s) = der::decode(der)?;
        Ok(Self { r, s })
    }
}
