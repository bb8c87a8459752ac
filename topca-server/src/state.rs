//! What every request handler shares.

use std::sync::{Mutex, RwLock};

use topca_core::{
    Certificate, CertificateAuthority,
    crl::Crl,
    kmc::MasterKey,
    mail::Mailer,
    ocsp::OcspSigner,
    ra::{AccountId, RaPolicy, RegistrationAuthority},
};
use topca_store::DieselStore;

/// The server's state: store, mailer, CAs and KMC.
pub struct AppState {
    /// The database.
    pub store: DieselStore,
    /// Where mail goes.
    pub mailer: Box<dyn Mailer>,
    /// The issuing CA.
    pub ca: CertificateAuthority,
    /// The root above it.
    pub root: Certificate,
    /// The KMC master key (escrowed keys are sealed under it).
    pub master: MasterKey,
    /// The delegated OCSP responder, replaced when due.
    pub ocsp: RwLock<OcspSigner>,
    /// The current CRL, cached; `None` after a revocation until regenerated.
    pub crl: Mutex<Option<Crl>>,
    /// The demo account made on first start.
    pub demo_account: AccountId,
    /// The public base URL (`http://127.0.0.1:8080`).
    pub base_url: String,
    /// The algorithm of the issuing CA's key (and of its OCSP responder's).
    pub algorithm: topca_core::KeyAlgorithm,
}

impl AppState {
    /// The registration authority over this state.
    pub fn ra(&self) -> RegistrationAuthority<'_> {
        RegistrationAuthority::new(
            &self.store,
            self.mailer.as_ref(),
            &self.ca,
            RaPolicy::default(),
        )
        .with_kmc(&self.master)
    }

    /// Forgets the cached CRL (after a revocation).
    pub fn crl_changed(&self) {
        if let Ok(mut crl) = self.crl.lock() {
            *crl = None;
        }
    }
}

/// Runs `work` (database, mail, signing: all blocking) off the async threads.
pub async fn blocking<T, F>(state: &std::sync::Arc<AppState>, work: F) -> Result<T, crate::AppError>
where
    T: Send + 'static,
    F: FnOnce(&AppState) -> Result<T, crate::AppError> + Send + 'static,
{
    let state = std::sync::Arc::clone(state);
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|_| crate::AppError::internal("finish the request"))?
}
