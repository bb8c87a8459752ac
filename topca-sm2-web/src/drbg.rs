//! HMAC_DRBG (NIST SP 800-90A Rev. 1 §10.1.2) with HMAC-SM3, seeded from the
//! page's `crypto.getRandomValues`: WebAssembly has no generator of its own,
//! so every random byte of a call (the key, the signature's hedge, the PBES2
//! salt and IV) comes from this generator.

use hmac::{Hmac, KeyInit, Mac};
use sm3::Sm3;
use zeroize::Zeroize;

use crate::error::Error;

type HmacSm3 = Hmac<Sm3>;

/// The fewest seed bytes accepted (256 bits).
pub const MIN_ENTROPY: usize = 32;

/// The generator's state `(K, V)`.
pub(crate) struct Drbg {
    k: [u8; 32],
    v: [u8; 32],
}

impl Drbg {
    /// Instantiates from `seed` (at least [`MIN_ENTROPY`] bytes) and a
    /// personalization string naming the use (§10.1.2.3).
    pub(crate) fn new(seed: &[u8], personalization: &[u8]) -> Result<Self, Error> {
        if seed.len() < MIN_ENTROPY {
            return Err(Error::Entropy);
        }
        let mut drbg = Self {
            k: [0; 32],
            v: [1; 32],
        };
        drbg.update(&[seed, personalization]);
        Ok(drbg)
    }

    fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC pads a short key with zeros to the 64-byte block (RFC 2104 §2),
        // so the padded key gives the same MAC with no fallible call.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(key);
        let mut mac = <HmacSm3 as KeyInit>::new(&block.into());
        block.zeroize();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// HMAC_DRBG_Update (§10.1.2.2).
    fn update(&mut self, data: &[&[u8]]) {
        let provided = data.iter().any(|d| !d.is_empty());
        for round in [0u8, 1] {
            if round == 1 && !provided {
                break;
            }
            let mut parts: Vec<&[u8]> = vec![&self.v, std::slice::from_ref(&round)];
            parts.extend_from_slice(data);
            let k = Self::mac(&self.k, &parts);
            self.k = k;
            self.v = Self::mac(&self.k, &[&self.v]);
        }
    }

    /// HMAC_DRBG_Generate (§10.1.2.5) without additional input.
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            self.v = Self::mac(&self.k, &[&self.v]);
            chunk.copy_from_slice(&self.v[..chunk.len()]);
        }
        self.update(&[]);
    }

    /// `N` random bytes.
    pub(crate) fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }
}

impl Drop for Drbg {
    fn drop(&mut self) {
        self.k.zeroize();
        self.v.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_short_seed() {
        assert_eq!(Drbg::new(&[7; 31], b"").err(), Some(Error::Entropy));
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let mut a = Drbg::new(&[7; 32], b"x").unwrap();
        let mut b = Drbg::new(&[7; 32], b"x").unwrap();
        let mut c = Drbg::new(&[8; 32], b"x").unwrap();
        let mut d = Drbg::new(&[7; 32], b"y").unwrap();
        let (x, y, z, w): ([u8; 70], [u8; 70], [u8; 70], [u8; 70]) =
            (a.bytes(), b.bytes(), c.bytes(), d.bytes());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(x, w);
        // Successive draws differ (the state moves on).
        let (first, second): ([u8; 32], [u8; 32]) = (a.bytes(), a.bytes());
        assert_ne!(first, second);
    }
}
