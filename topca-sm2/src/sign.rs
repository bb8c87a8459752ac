//! SM2 signing (GM/T 0003.2 §6.1).
//!
//! A [`SigningKey`] precomputes once the public key, `Z`, `(1 + d)⁻¹ mod n` and
//! the first HMAC state of its nonces, so a signature costs the hash
//! `e = SM3(Z ‖ M)`, the RFC 6979 nonce, one
//! constant-time fixed-base multiplication `k·G`, one field inversion and two
//! scalar multiplications. Nonces are RFC 6979 (HMAC-SM3) hedged with
//! [`HEDGE_LEN`] fresh random bytes as additional data (§3.6): a broken
//! random generator still gives safe deterministic nonces, and fault attacks
//! on the deterministic form are harder. 16 bytes (128 bits) keep each
//! seeding HMAC's message `V ‖ b ‖ x ‖ h₁ ‖ k'` within two SM3 blocks.

#[cfg(feature = "os-rng")]
use crate::entropy;
use crate::error::Error;
use crate::fixed_base::mul_base;
use crate::rfc6979::{KeySeed, NonceGenerator};
use crate::scalar::Scalar;
use crate::signature::Signature;
use crate::verify::VerifyingKey;
use crate::za::DEFAULT_ID;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Fresh random bytes added to each hedged nonce.
pub const HEDGE_LEN: usize = 16;

/// An SM2 private key `d ∈ [1, n − 2]` with its precomputed values.
#[derive(Clone)]
pub struct SigningKey {
    d: Scalar,
    d_bytes: [u8; 32],
    d_plus_1_inv: Scalar,
    nonce_seed: KeySeed,
    verifying_key: VerifyingKey,
}

impl SigningKey {
    /// From a 32-byte big-endian secret, with the default identifier
    /// `1234567812345678`.
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self, Error> {
        Self::from_bytes_with_id(secret, DEFAULT_ID)
    }

    /// From a 32-byte big-endian secret and a distinguishing identifier.
    /// Rejects `d = 0` and `d ≥ n − 1` (GM/T 0003.1: `d ∈ [1, n − 2]`).
    pub fn from_bytes_with_id(secret: &[u8; 32], id: &[u8]) -> Result<Self, Error> {
        let d = Scalar::from_bytes(secret);
        let d_val = d.unwrap_or(Scalar::ZERO);
        let d_plus_1 = d_val.add(&Scalar::ONE);
        // d < n, d ≠ 0, d + 1 ≠ 0 (i.e. d ≠ n − 1); one branch on the combined result.
        let ok = d.is_some() & !d_val.is_zero() & !d_plus_1.is_zero();
        if !bool::from(ok) {
            return Err(Error::InvalidSecretKey);
        }
        let point = mul_base(&d_val)
            .to_affine()
            .ok_or(Error::InvalidSecretKey)?;
        let verifying_key = VerifyingKey::from_affine_with_id(point, id)?;
        Ok(Self {
            d: d_val,
            d_bytes: *secret,
            d_plus_1_inv: d_plus_1.invert(),
            nonce_seed: KeySeed::new(secret)?,
            verifying_key,
        })
    }

    /// A new random key from the operating system's generator.
    #[cfg(feature = "os-rng")]
    pub fn generate() -> Result<Self, Error> {
        loop {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|_| Error::Rng)?;
            let key = Self::from_bytes(&b);
            b.zeroize();
            if let Ok(key) = key {
                return Ok(key);
            }
        }
    }

    /// The secret as 32 big-endian bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.d_bytes
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// Signs `msg` with a hedged RFC 6979 nonce ([`HEDGE_LEN`] fresh random
    /// bytes as additional data).
    #[cfg(feature = "os-rng")]
    pub fn sign(&self, msg: &[u8]) -> Result<Signature, Error> {
        let mut extra = [0u8; HEDGE_LEN];
        entropy::fill(&mut extra)?;
        let sig = self.sign_digest_with_extra(&self.verifying_key.digest(msg), &extra);
        extra.zeroize();
        sig
    }

    /// Signs `msg` with a purely deterministic RFC 6979 nonce (no extra data).
    pub fn sign_deterministic(&self, msg: &[u8]) -> Result<Signature, Error> {
        self.sign_digest_with_extra(&self.verifying_key.digest(msg), &[])
    }

    /// Signs a precomputed `e = SM3(Z ‖ M)` with RFC 6979 and the given additional data.
    pub fn sign_digest_with_extra(&self, e: &[u8; 32], extra: &[u8]) -> Result<Signature, Error> {
        let e = Scalar::reduce_bytes(e);
        let mut nonces =
            NonceGenerator::new(&self.nonce_seed, &self.d_bytes, &e.to_bytes(), extra)?;
        loop {
            let mut k = nonces.next_k()?;
            let sig = self.sign_with_scalar(&e, &k);
            k.zeroize();
            if let Some(sig) = sig {
                return Ok(sig);
            }
        }
    }

    /// Signs `msg` with an explicit nonce `k` (for known-answer tests only:
    /// reusing or leaking `k` reveals the key).
    pub fn sign_with_k(&self, msg: &[u8], k: &[u8; 32]) -> Result<Signature, Error> {
        let e = Scalar::reduce_bytes(&self.verifying_key.digest(msg));
        let k = Scalar::from_bytes(k);
        let ok = k.is_some() & !k.unwrap_or(Scalar::ZERO).is_zero();
        if !bool::from(ok) {
            return Err(Error::InvalidNonce);
        }
        let mut k = k.unwrap_or(Scalar::ZERO);
        let sig = self.sign_with_scalar(&e, &k);
        k.zeroize();
        sig.ok_or(Error::InvalidNonce)
    }

    /// Steps A4–A7 for `k ∈ [1, n − 1]`; `None` when `r = 0`, `r + k = n` or `s = 0`.
    fn sign_with_scalar(&self, e: &Scalar, k: &Scalar) -> Option<Signature> {
        // A4: (x₁, y₁) = k·G (never infinity for k ∈ [1, n − 1]).
        let p = mul_base(k);
        let zi = p.z.invert();
        let x1 = p.x.mul(&zi.square());
        // A5: r = (e + x₁) mod n; retry on r = 0 or r + k = n.
        let r = e.add(&Scalar::reduce_limbs(&x1.to_canonical()));
        if bool::from(r.is_zero() | r.add(k).is_zero()) {
            return None;
        }
        // A6: s = (1 + d)⁻¹ · (k − r·d) mod n; retry on s = 0.
        let s = self.d_plus_1_inv.mul(&k.sub(&r.mul(&self.d)));
        if bool::from(s.ct_eq(&Scalar::ZERO)) {
            return None;
        }
        Some(Signature::from_components(r.to_bytes(), s.to_bytes()))
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.d.zeroize();
        self.d_bytes.zeroize();
        self.d_plus_1_inv.zeroize();
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("verifying_key", &self.verifying_key)
            .finish_non_exhaustive()
    }
}
