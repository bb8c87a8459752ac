//! Secrets the RA and KMC hand out or receive, and how they are kept: never in clear.
//!
//! - User passwords (用户口令) are stored as Argon2id PHC strings (memory-hard,
//!   OWASP parameters: 19 MiB, 2 passes, 1 lane, 16-byte random salt).
//! - One-time codes (PINs 身份识别码, authorization codes 授权码, reference numbers)
//!   are high-entropy random strings; only their SHA-256 hash is stored, and
//!   comparisons are constant-time.

use std::fmt;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{error::SecretError, random::RandomSource};

/// Shortest user password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest user password accepted (bounds the hashing work an attacker can cause).
pub const MAX_PASSWORD_CHARS: usize = 128;

#[cfg(test)]
thread_local! {
    /// Password checks made on this thread (the unit tests count them).
    pub(crate) static VERIFICATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// An Argon2id hash of a user password, as a PHC string (`$argon2id$v=19$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Checks the password policy and hashes `password` with a fresh salt.
    pub fn create(password: &str, random: &dyn RandomSource) -> Result<Self, SecretError> {
        let chars = password.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(SecretError::PasswordTooShort {
                min: MIN_PASSWORD_CHARS,
            });
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(SecretError::PasswordTooLong {
                max: MAX_PASSWORD_CHARS,
            });
        }
        let mut salt = [0u8; 16];
        random.fill(&mut salt).map_err(|_| SecretError::Random)?;
        let hash = Argon2::default()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map_err(|_| SecretError::Hashing)?;
        Ok(Self(hash.to_string()))
    }

    /// Reads a stored PHC string (it is checked when a password is verified).
    pub fn from_phc(phc: impl Into<String>) -> Result<Self, SecretError> {
        let phc = phc.into();
        if !phc.starts_with("$argon2id$") {
            return Err(SecretError::Hashing);
        }
        Ok(Self(phc))
    }

    /// The PHC string to store.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Whether `password` is the one this hash was made from.
    pub fn verify(&self, password: &str) -> bool {
        #[cfg(test)]
        VERIFICATIONS.with(|n| n.set(n.get() + 1));
        password.chars().count() <= MAX_PASSWORD_CHARS
            && Argon2::default()
                .verify_password(password.as_bytes(), self.0.as_str())
                .is_ok()
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(…)")
    }
}

/// Letters and digits that cannot be mistaken for one another when read from a
/// mail or typed (no 0/O, 1/I/L): 31 symbols, about 4.95 bits each.
const CODE_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// The SHA-256 hash of a one-time code: what is stored instead of the code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeHash([u8; 32]);

impl CodeHash {
    /// The hash of `code` as a user typed it (spaces and dashes ignored, case folded).
    pub fn of(code: &str) -> Self {
        let normalized: String = code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Self(Sha256::digest(normalized.as_bytes()).into())
    }

    /// Rebuilds a stored hash.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes to store.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Whether `code` hashes to this value, compared in constant time.
    pub fn matches(&self, code: &str) -> bool {
        Self::of(code).0.ct_eq(&self.0).into()
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHash(…)")
    }
}

/// A freshly generated one-time code: the clear text (to mail once, zeroised on drop)
/// and its hash (to store).
pub struct OneTimeCode {
    /// The code as shown to the user, in groups of four: `7KQ4-M9XD-2PRT`.
    pub clear: Zeroizing<String>,
    /// What the store keeps.
    pub hash: CodeHash,
}

impl OneTimeCode {
    /// Draws a code of `symbols` characters (uniform over the alphabet, by rejection
    /// sampling). 12 symbols carry about 59 bits.
    pub fn generate(symbols: usize, random: &dyn RandomSource) -> Result<Self, SecretError> {
        let mut clear = Zeroizing::new(String::with_capacity(symbols + symbols / 4));
        let mut drawn = 0;
        let mut byte = [0u8; 1];
        while drawn < symbols {
            random.fill(&mut byte).map_err(|_| SecretError::Random)?;
            // 248 = 8 × 31: values at or above it would bias the first symbols.
            if byte[0] >= 248 {
                continue;
            }
            if drawn > 0 && drawn.is_multiple_of(4) {
                clear.push('-');
            }
            clear.push(char::from(CODE_ALPHABET[usize::from(byte[0] % 31)]));
            drawn += 1;
        }
        let hash = CodeHash::of(&clear);
        Ok(Self { clear, hash })
    }
}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimeCode").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = PasswordHash::create("天诚安信-口令-2026", &OsRandom).unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!hash.as_phc().contains("口令"));
        assert!(hash.verify("天诚安信-口令-2026"));
        assert!(!hash.verify("天诚安信-口令-2027"));
        let again = PasswordHash::from_phc(hash.as_phc()).unwrap();
        assert!(again.verify("天诚安信-口令-2026"));
        assert_eq!(format!("{hash:?}"), "PasswordHash(…)");
    }

    #[test]
    fn weak_or_huge_passwords_are_refused() {
        assert_eq!(
            PasswordHash::create("short", &OsRandom).unwrap_err(),
            SecretError::PasswordTooShort { min: 8 }
        );
        assert_eq!(
            PasswordHash::create(&"x".repeat(129), &OsRandom).unwrap_err(),
            SecretError::PasswordTooLong { max: 128 }
        );
        assert_eq!(
            PasswordHash::from_phc("plain text").unwrap_err(),
            SecretError::Hashing
        );
    }

    #[test]
    fn one_time_codes_are_grouped_random_and_checked_by_hash() {
        let a = OneTimeCode::generate(12, &OsRandom).unwrap();
        let b = OneTimeCode::generate(12, &OsRandom).unwrap();
        assert_ne!(*a.clear, *b.clear);
        assert_eq!(a.clear.len(), 14);
        assert_eq!(a.clear.matches('-').count(), 2);
        assert!(
            a.clear
                .chars()
                .all(|c| c == '-' || CODE_ALPHABET.contains(&(c as u8)))
        );
        assert!(a.hash.matches(&a.clear));
        // Typed in lower case, without dashes, with spaces: still the same code.
        let typed = format!(" {} ", a.clear.replace('-', "").to_lowercase());
        assert!(a.hash.matches(&typed));
        assert!(!a.hash.matches(&b.clear));
        assert_eq!(CodeHash::from_bytes(a.hash.to_bytes()), a.hash);
    }

    #[test]
    fn code_symbols_are_spread_over_the_alphabet() {
        let mut counts = [0usize; 31];
        for _ in 0..200 {
            let code = OneTimeCode::generate(16, &OsRandom).unwrap();
            for c in code.clear.bytes().filter(|&c| c != b'-') {
                let i = CODE_ALPHABET.iter().position(|&a| a == c).unwrap();
                counts[i] += 1;
            }
        }
        // 3,200 symbols over 31: about 103 each; a biased generator would starve some.
        assert!(counts.iter().all(|&n| n > 50), "{counts:?}");
    }
}
