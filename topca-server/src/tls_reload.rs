//! HTTPS certificate files reloaded without a restart: the rustls configuration
//! asks [`FileCertificate`] for the certificate at each handshake, and
//! [`watch`] loads the files again on `SIGHUP` and when their modification time
//! changes (looked at every [`POLL`]). A file that does not load (bad PEM, a key
//! that does not match) keeps the old certificate and logs an error.

use std::{
    path::PathBuf,
    sync::{Arc, RwLock, Weak},
    time::{Duration, SystemTime},
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

/// How often the files' modification times are looked at.
pub const POLL: Duration = Duration::from_secs(3);

/// The certificate and key from two PEM files, swapped when they change.
#[derive(Debug)]
pub struct FileCertificate {
    certificate: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Arc<CertifiedKey>, Option<SystemTime>)>,
}

impl FileCertificate {
    /// Loads `certificate` (the chain, leaf first) and `key` (PKCS#8 PEM).
    pub fn load(
        certificate: PathBuf,
        key: PathBuf,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let loaded = load(&certificate, &key, &provider)?;
        let stamp = stamp(&certificate, &key);
        Ok(Self {
            certificate,
            key,
            provider,
            current: RwLock::new((Arc::new(loaded), stamp)),
        })
    }

    /// Loads the files again if `forced` or their modification time changed;
    /// whether a new certificate is in use. On failure the old one stays.
    pub fn reload(&self, forced: bool) -> Result<bool, String> {
        let stamp = stamp(&self.certificate, &self.key);
        let unchanged = self.current.read().map(|c| c.1 == stamp).unwrap_or(false);
        if unchanged && !forced {
            return Ok(false);
        }
        let loaded = load(&self.certificate, &self.key, &self.provider);
        let mut current = self
            .current
            .write()
            .map_err(|_| "the certificate lock is poisoned".to_owned())?;
        // A failed load is not retried until the files change again.
        current.1 = stamp;
        current.0 = Arc::new(loaded?);
        Ok(true)
    }
}

impl ResolvesServerCert for FileCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c.0))
    }
}

/// One certificate for the server's life (issued by its own CA at start).
#[derive(Debug)]
pub struct Fixed(pub Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// The later modification time of the two files.
fn stamp(certificate: &std::path::Path, key: &std::path::Path) -> Option<SystemTime> {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    modified(certificate).max(modified(key))
}

fn load(
    certificate: &std::path::Path,
    key: &std::path::Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .ok()
        .filter(|chain| !chain.is_empty())
        .ok_or_else(|| format!("{}: not a PEM certificate chain", certificate.display()))?;
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|_| format!("{}: not a PEM private key", key.display()))?;
    CertifiedKey::from_der(chain, der, provider)
        .map_err(|e| format!("the TLS certificate and key do not work together: {e}"))
}

/// Reloads `certificate` on `SIGHUP` and when its files change, for as long as
/// the configuration using it lives.
pub async fn watch(certificate: Weak<FileCertificate>) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let forced = match hangup.as_mut() {
            Some(hangup) => tokio::select! {
                _ = hangup.recv() => true,
                () = tokio::time::sleep(POLL) => false,
            },
            None => {
                tokio::time::sleep(POLL).await;
                false
            }
        };
        let Some(certificate) = certificate.upgrade() else {
            return;
        };
        match certificate.reload(forced) {
            Ok(true) => tracing::info!(
                file = %certificate.certificate.display(),
                "TLS certificate reloaded"
            ),
            Ok(false) => {}
            Err(reason) => {
                tracing::error!(%reason, "TLS certificate not reloaded; the old one stays in use")
            }
        }
    }
}

/// Takes `SIGHUP` over from its default (ending the process) for the server's
/// life: [`watch`] reloads certificate files on it; without them it is a no-op.
pub async fn survive_hangups() {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        return;
    };
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP received");
    }
}
