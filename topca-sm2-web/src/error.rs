//! The crate's error type: one enum, each variant a number the page maps to a
//! sentence in its own language.

/// Everything that can go wrong making a request or opening an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The page gave fewer than [`crate::MIN_ENTROPY`] random bytes.
    #[error("not enough entropy from the page")]
    Entropy,
    /// The input is not the framed fields the call expects, or too large.
    #[error("malformed input")]
    Input,
    /// The common name is empty, too long, or not text.
    #[error("unusable common name")]
    Name,
    /// The password is empty or too long.
    #[error("unusable password")]
    Password,
    /// An SM2 key or signature operation failed.
    #[error("SM2 operation failed")]
    Sm2,
    /// Encoding DER failed.
    #[error("DER encoding failed")]
    Encoding,
    /// The key file is not an encrypted PKCS#8 SM2 key, or the password is wrong.
    #[error("the key file does not open with this password")]
    KeyFile,
    /// The envelope is not an SM2EnvelopedKey for this signing key.
    #[error("the enveloped key does not open with this signing key")]
    Envelope,
}

impl Error {
    /// The number the WebAssembly exports return for this error (0 is success).
    pub fn code(self) -> u32 {
        match self {
            Self::Entropy => 1,
            Self::Input => 2,
            Self::Name => 3,
            Self::Password => 4,
            Self::Sm2 => 5,
            Self::Encoding => 6,
            Self::KeyFile => 7,
            Self::Envelope => 8,
        }
    }
}

impl From<topca_sm2::Error> for Error {
    fn from(_: topca_sm2::Error) -> Self {
        Self::Sm2
    }
}

impl From<der::Error> for Error {
    fn from(_: der::Error) -> Self {
        Self::Encoding
    }
}
