//! Fresh random bytes for hedging nonces.
//!
//! Each thread keeps a pool of 512 bytes from the operating system and hands
//! them out once each (a byte is wiped from the pool as it is taken), so
//! signing makes one system call per 32 signatures instead of one each.
//! Hedging never depends on these bytes being unique: should a forked
//! process reuse its parent's pool, equal extra data only gives both the
//! deterministic RFC 6979 nonce for a given message, which is safe.

use crate::error::Error;
use std::cell::RefCell;
use zeroize::Zeroize;

/// Bytes drawn from the operating system per refill.
const POOL_LEN: usize = 512;

struct Pool {
    bytes: [u8; POOL_LEN],
    /// Bytes already handed out (and wiped) from the front.
    used: usize,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            bytes: [0; POOL_LEN],
            used: POOL_LEN,
        })
    };
}

/// Fills `out` with fresh random bytes.
pub(crate) fn fill(out: &mut [u8]) -> Result<(), Error> {
    POOL.with_borrow_mut(|pool| {
        let mut filled = 0;
        while filled < out.len() {
            if pool.used == POOL_LEN {
                getrandom::fill(&mut pool.bytes).map_err(|_| Error::Rng)?;
                pool.used = 0;
            }
            let take = (out.len() - filled).min(POOL_LEN - pool.used);
            let src = &mut pool.bytes[pool.used..pool.used + take];
            out[filled..filled + take].copy_from_slice(src);
            src.zeroize();
            pool.used += take;
            filled += take;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_cross_refills() {
        let mut seen = std::collections::HashSet::new();
        // 100 draws of 17 bytes cross three refills, most of them split
        // between the end of one pool and the start of the next.
        for _ in 0..100 {
            let mut b = [0u8; 17];
            fill(&mut b).unwrap();
            assert!(seen.insert(b), "a 17-byte draw repeated");
        }
        // A draw longer than the pool: no 16-byte stretch left unfilled.
        let mut big = [0u8; 1500];
        fill(&mut big).unwrap();
        assert!(big.chunks(16).all(|c| c.iter().any(|&b| b != 0)));
    }
}
