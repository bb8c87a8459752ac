//! Nonce generation per RFC 6979 §3.2 with HMAC-SM3 (`qlen = hlen = 256`),
//! optionally hedged with extra data `k'` as in §3.6.
//!
//! Since `qlen` equals the HMAC output size, each candidate is one HMAC
//! output `T = V`; a candidate outside `[1, n − 1]` (or rejected later by the
//! signer) is followed by `K = HMAC_K(V ‖ 0x00)`, `V = HMAC_K(V)`.
//!
//! Speed: the HMAC state keyed with the current `K` is kept and cloned for
//! each use. The first HMAC of step d runs under the all-zero `K` of step c
//! over `V ‖ 0x00 ‖ x ‖ h1 ‖ k'` with `V = 0x01…01`: its inner hash's first
//! block (the zero key's pad) and second (`V ‖ 0x00 ‖ x[..31]`) depend on
//! the key alone, so a signing key computes that state once
//! ([`KeySeed`]). With 16 bytes of extra data a signature costs 15 SM3
//! compressions here (17 with 32 bytes).
//! The keyed HMAC states are wiped when dropped (the `zeroize` features of
//! `hmac` and `sm3`), like `K` and `V`.

use crate::error::Error;
use crate::scalar::Scalar;
use hmac::{Hmac, KeyInit, Mac};
use sm3::Sm3;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

type HmacSm3 = Hmac<Sm3>;

fn keyed(key: &[u8; 32]) -> Result<HmacSm3, Error> {
    HmacSm3::new_from_slice(key).map_err(|_| Error::Rng)
}

/// `HMAC_K(parts…)` from a state already keyed with `K`.
fn run(mac: &HmacSm3, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = mac.clone();
    for p in parts {
        m.update(p);
    }
    let tag = m.finalize().into_bytes();
    let mut out = [0u8; 32];
    out.copy_from_slice(&tag);
    out
}

/// HMAC-SM3 under the all-zero `K` of step c, already fed the first
/// message block of step d (`V ‖ 0x00 ‖ x[..31]`, `V = 0x01…01`): the same for
/// every signature of one key. Wiped when dropped, like the keyed states.
#[derive(Clone)]
pub(crate) struct KeySeed(HmacSm3);

impl KeySeed {
    /// The state for the secret `x` (32 bytes).
    pub(crate) fn new(x: &[u8; 32]) -> Result<Self, Error> {
        // Step c: K = 0x00…00.
        let mut mac = keyed(&[0u8; 32])?;
        mac.update(&[0x01; 32]);
        mac.update(&[0x00]);
        mac.update(&x[..31]);
        Ok(Self(mac))
    }
}

/// The HMAC-DRBG state: `K` (as a keyed HMAC) and `V`.
pub(crate) struct NonceGenerator {
    mac: HmacSm3,
    v: [u8; 32],
    fresh: bool,
}

impl NonceGenerator {
    /// Seeds with the secret `x` (32 bytes) and its [`KeySeed`], `h1`
    /// already reduced mod `n` (32 bytes) and the extra data (empty for the
    /// deterministic variant).
    pub(crate) fn new(
        seed: &KeySeed,
        x: &[u8; 32],
        h1: &[u8; 32],
        extra: &[u8],
    ) -> Result<Self, Error> {
        let mut v = [0x01u8; 32];
        // Step d, from the state that has taken `V ‖ 0x00 ‖ x[..31]`.
        let mut k = run(&seed.0, &[&x[31..], h1, extra]);
        let mut mac = keyed(&k)?;
        v = run(&mac, &[&v]);
        k = run(&mac, &[&v, &[0x01], x, h1, extra]);
        mac = keyed(&k)?;
        k.zeroize();
        v = run(&mac, &[&v]);
        Ok(Self {
            mac,
            v,
            fresh: true,
        })
    }

    /// The next candidate nonce in `[1, n − 1]`.
    pub(crate) fn next_k(&mut self) -> Result<Scalar, Error> {
        loop {
            if !self.fresh {
                let mut k = run(&self.mac, &[&self.v, &[0x00]]);
                self.mac = keyed(&k)?;
                k.zeroize();
                self.v = run(&self.mac, &[&self.v]);
            }
            self.fresh = false;
            self.v = run(&self.mac, &[&self.v]);
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
        self.v.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6979 §3.2 steps b–h written out plainly, a fresh HMAC per step.
    fn reference_first_k(x: &[u8; 32], h1: &[u8; 32], extra: &[u8]) -> [u8; 32] {
        let hmac = |key: &[u8], parts: &[&[u8]]| -> [u8; 32] {
            let mut m = HmacSm3::new_from_slice(key).unwrap();
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().into()
        };
        let mut v = [0x01u8; 32];
        let mut k = [0x00u8; 32];
        k = hmac(&k, &[&v, &[0x00], x, h1, extra]);
        v = hmac(&k, &[&v]);
        k = hmac(&k, &[&v, &[0x01], x, h1, extra]);
        v = hmac(&k, &[&v]);
        hmac(&k, &[&v])
    }

    #[test]
    fn precomputed_states_give_the_plain_rfc6979_nonce() {
        for (i, extra_len) in [0usize, 1, 16, 31, 32, 64, 100].into_iter().enumerate() {
            let x = [0x11u8.wrapping_mul(i as u8 + 1); 32];
            let h1 = [0xa7u8 ^ i as u8; 32];
            let extra = vec![0x5cu8; extra_len];
            let mut nonces =
                NonceGenerator::new(&KeySeed::new(&x).unwrap(), &x, &h1, &extra).unwrap();
            let expected = reference_first_k(&x, &h1, &extra);
            // The first candidate is below n for these inputs.
            assert_eq!(
                nonces.next_k().unwrap().to_bytes(),
                expected,
                "extra {extra_len}"
            );
        }
    }
}
