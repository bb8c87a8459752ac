//! What the install instructions after a download need to know
//! (`templates/partials/install.html`, catalogue area `install`).

use topca_core::{Certificate, KeyKind, kmc::EnvelopeFormat};

/// The downloads a result page offers, for the per-platform instructions.
pub(crate) struct Install {
    /// The certificate's serial: its files are `SERIAL.pem` and `SERIAL.cer`.
    pub(crate) serial: String,
    /// Whether its key is SM2 (Windows and macOS do not use SM2 keys).
    pub(crate) sm2: bool,
    /// A PKCS#12 file (`SERIAL.p12`) holds the key; otherwise the key is the
    /// holder's own file.
    pub(crate) p12: bool,
    /// The encryption certificate's serial and how its key was delivered.
    pub(crate) encryption: Option<(String, EnvelopeFormat)>,
    /// A recovery: `serial` is the encryption certificate itself, and the
    /// holder's signing key opens its envelope.
    pub(crate) recovery: bool,
}

impl Install {
    /// Instructions for `certificate`, its key in a PKCS#12 file or not.
    pub(crate) fn new(certificate: &Certificate, p12: bool) -> Self {
        let sm2 = certificate
            .public_key()
            .is_ok_and(|k| k.kind() == KeyKind::Sm2);
        Self {
            serial: certificate.serial_hex(),
            sm2,
            p12,
            encryption: None,
            recovery: false,
        }
    }

    /// The same, with an encryption certificate whose key came in `format`.
    pub(crate) fn with_encryption(mut self, serial: String, format: EnvelopeFormat) -> Self {
        self.encryption = Some((serial, format));
        self
    }

    /// Instructions for a recovered encryption `certificate` whose key came in `format`.
    pub(crate) fn recovered(certificate: &Certificate, format: EnvelopeFormat) -> Self {
        let mut install =
            Self::new(certificate, false).with_encryption(certificate.serial_hex(), format);
        install.recovery = true;
        install
    }

    /// The name the browser's key generator saves the private key under.
    pub(crate) fn key_file(&self) -> &'static str {
        if self.sm2 {
            "topca-sm2-key.p8.pem"
        } else {
            "topca-private-key.pem"
        }
    }

    /// The encryption certificate's serial, if any.
    pub(crate) fn encryption_serial(&self) -> Option<&str> {
        self.encryption.as_ref().map(|(s, _)| s.as_str())
    }

    /// Whether the encryption key came as an SM2 envelope (opened in the page).
    pub(crate) fn sm2_envelope(&self) -> bool {
        matches!(self.encryption, Some((_, EnvelopeFormat::Sm2EnvelopedKey)))
    }

    /// Whether the encryption key came as CMS EnvelopedData (opened by OpenSSL).
    pub(crate) fn cms_envelope(&self) -> bool {
        matches!(self.encryption, Some((_, EnvelopeFormat::CmsEnvelopedData)))
    }
}
