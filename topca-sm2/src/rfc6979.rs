//! Nonce generation per RFC 6979 §3.2 with HMAC-SM3 (`qlen = hlen = 256`),
//! optionally hedged with extra data `k'` as in §3.6.
//!
//! Since `qlen` equals the HMAC output size, each candidate is one HMAC
//! output `T = V`; a candidate outside `[1, n − 1]` (or rejected later by the
//! signer) is followed by `K = HMAC_K(V ‖ 0x00)`, `V = HMAC_K(V)`.

use crate::error::Error;
use crate::scalar::Scalar;
use hmac::{Hmac, KeyInit, Mac};
use sm3::Sm3;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

type HmacSm3 = Hmac<Sm3>;

/// The HMAC-DRBG state `(K, V)`.
pub(crate) struct NonceGenerator {
    k: [u8; 32],
    v: [u8; 32],
    fresh: bool,
}

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> Result<[u8; 32], Error> {
    let mut mac = HmacSm3::new_from_slice(key).map_err(|_| Error::Rng)?;
    for p in parts {
        mac.update(p);
    }
    let tag = mac.finalize().into_bytes();
    let mut out = [0u8; 32];
    out.copy_from_slice(&tag);
    Ok(out)
}

impl NonceGenerator {
    /// Seeds with the secret `x` (32 bytes), `h1` already reduced mod `n`
    /// (32 bytes) and the extra data (empty for the deterministic variant).
    pub(crate) fn new(x: &[u8; 32], h1: &[u8; 32], extra: &[u8]) -> Result<Self, Error> {
        let mut v = [0x01u8; 32];
        let mut k = [0u8; 32];
        k = hmac(&k, &[&v, &[0x00], x, h1, extra])?;
        v = hmac(&k, &[&v])?;
        k = hmac(&k, &[&v, &[0x01], x, h1, extra])?;
        v = hmac(&k, &[&v])?;
        Ok(Self { k, v, fresh: true })
    }

    /// The next candidate nonce in `[1, n − 1]`.
    pub(crate) fn next_k(&mut self) -> Result<Scalar, Error> {
        loop {
            if !self.fresh {
                self.k = hmac(&self.k, &[&self.v, &[0x00]])?;
                self.v = hmac(&self.k, &[&self.v])?;
            }
            self.fresh = false;
            self.v = hmac(&self.k, &[&self.v])?;
            let k = Scalar::from_bytes(&self.v);
            let ok = k.is_some() & !k.unwrap_or(Scalar::ZERO).ct_eq(&Scalar::ZERO);
            if bool::from(ok) {
                return Ok(k.unwrap_or(Scalar::ZERO));
            }
        }
    }
}

impl Drop for NonceGenerator {
    fn drop(&mut self) {
        self.k.zeroize();
        self.v.zeroize();
    }
}
