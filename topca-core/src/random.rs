//! Injected randomness: every random value the core draws (serial numbers, key seeds,
//! PINs) comes from a [`RandomSource`], so tests can pin it.

use crate::error::Error;

/// A source of cryptographically secure random bytes.
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's random number generator (`getrandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(dest).map_err(|_| Error::Random)
    }
}
