//! What every request handler shares.

use std::sync::{Mutex, RwLock};

use topca_core::{
    Certificate, CertificateAuthority,
    kmc::{KeyManagementCentre, KmcPolicy, MasterKey},
    mail::Mailer,
    ocsp::OcspSigner,
    ra::{AccountId, RaPolicy, RegistrationAuthority},
};
use topca_store::DieselStore;

use crate::crl_sync::CachedCrl;

/// The server's state: store, mailer, CAs and KMC.
pub struct AppState {
    /// The database.
    pub store: DieselStore,
    /// Where mail goes (through [`AppState::outbox`]).
    pub mailer: Box<dyn Mailer>,
    /// The mail outbox: queued mails, delivered and retried after commit.
    pub outbox: std::sync::Arc<crate::mail_outbox::MailOutbox>,
    /// The issuing CA.
    pub ca: CertificateAuthority,
    /// The root above it.
    pub root: Certificate,
    /// The KMC master key (escrowed keys are sealed under it; the audit key is
    /// derived from it).
    pub master: MasterKey,
    /// The data directory (the audit checkpoint file is kept there).
    pub data_dir: std::path::PathBuf,
    /// The delegated OCSP responder, replaced when due.
    pub ocsp: RwLock<OcspSigner>,
    /// This node's pre-signed OCSP responses (see [`crate::ocsp_cache`]).
    pub ocsp_presigned: crate::ocsp_cache::PresignedOcsp,
    /// This node's copy of the current full CRL.
    pub crl: Mutex<CachedCrl>,
    /// This node's copy of the current delta CRL (when the CA publishes them).
    pub delta_crl: Mutex<CachedCrl>,
    /// The first demo account, when the CA holds demonstration data (`--demo`).
    pub demo_account: Option<AccountId>,
    /// Every demo account (pages mark them "演示").
    pub demo: crate::demo::DemoAccounts,
    /// The public base URL (`http://127.0.0.1:8080`).
    pub base_url: String,
    /// The algorithm of the issuing CA's key.
    pub algorithm: topca_core::KeyAlgorithm,
    /// The algorithm of the OCSP responder's key: the CA's unless configured
    /// (`ocsp_algorithm`).
    pub ocsp_algorithm: topca_core::KeyAlgorithm,
    /// Minutes between CRL refreshes (the configured value, or the one a super
    /// administrator set, which is kept in the database).
    pub crl_schedule_minutes: std::sync::atomic::AtomicU64,
    /// Abuse limits (attempts and mails per source and per address).
    pub limits: crate::limits::Limits,
    /// Load balancers whose `X-Forwarded-For` names the client the limits count.
    pub trusted_proxies: crate::proxies::TrustedProxies,
    /// The P-256 root that issues the server's own TLS certificate when the CA
    /// cannot (see [`crate::tls_root`]); `None` when the CA issues it or TLS
    /// certificates come from files.
    pub tls_root: Option<CertificateAuthority>,
    /// The KMC's limits: code lifetime and attempts, and the key recovery
    /// agents' quarantine.
    pub kmc_policy: KmcPolicy,
    /// Bounds concurrent password and PIN hashing (memory and CPU).
    pub hashing: crate::hashing::HashingGate,
    /// Request, issuance, revocation and OCSP counters (the CA's observer).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Who may read `/metrics` besides loopback clients.
    pub metrics_allow: crate::proxies::TrustedProxies,
    /// The cached `/readyz` result.
    pub readiness: crate::readiness::Readiness,
    /// ACME validation: its port and its bound on concurrent validations.
    pub acme: crate::acme::AcmeRuntime,
    /// Single machine-client calls waiting to be issued together.
    pub issue_queue: crate::issue_group::IssueQueue,
}

/// The setting name of the CRL schedule (minutes).
pub const CRL_SCHEDULE: &str = "crl_refresh_minutes";

impl AppState {
    /// Checks the whole audit log under the audit key and against the latest
    /// checkpoint of the data directory (see [`crate::audit_log`]).
    pub fn verify_audit(
        &self,
    ) -> Result<crate::audit_log::Verified, crate::audit_log::AuditFinding> {
        let key = topca_core::audit::AuditKey::derive(&self.master);
        crate::audit_log::verify(&self.data_dir, &self.store, self.ca.certificate(), &key)
    }

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

    /// The key management centre over this state.
    pub fn kmc(&self) -> KeyManagementCentre<'_> {
        KeyManagementCentre::new(
            &self.store,
            self.mailer.as_ref(),
            &self.ca,
            &self.master,
            self.kmc_policy.clone(),
        )
    }

    /// Counts an attempt at a holder secret (PIN, code, link, user password) from
    /// `client` against [`crate::limits::Limits::holder_secret_per_source`]:
    /// 429 with `Retry-After` beyond it. Returns the source the RA counts the
    /// attempt under (see [`RegistrationAuthority::for_client`]).
    pub fn holder_secret_source(
        &self,
        client: crate::limits::ClientAddr,
    ) -> Result<String, crate::AppError> {
        let source = client.key();
        self.limits
            .holder_secret_per_source
            .hit(&source)
            .map_err(|seconds| {
                crate::AppError::limited(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "too many attempts from your address; please wait and try again",
                    seconds,
                )
            })?;
        Ok(source)
    }

    /// The demo marker ("【演示】") before a demo account's name in language `t`,
    /// nothing for others.
    pub fn demo_mark(&self, t: crate::i18n::Lang, account: AccountId) -> &'static str {
        if self.demo.contains(account) {
            t.s("common.demo_marker")
        } else {
            ""
        }
    }

    /// Whether the CA publishes delta CRLs.
    pub fn publishes_deltas(&self) -> bool {
        self.ca.urls().delta_crl.is_some()
    }

    /// After a revocation committed: the delta CRL (or, without deltas, the full
    /// CRL) served from the next request on is one made after now (stored by
    /// another node meanwhile, or made then) instead of waiting for the schedule;
    /// the OCSP responses of the revoked certificates are signed anew at once.
    pub fn crl_changed(&self) {
        crate::ocsp_cache::after_revocation(self);
        let cache = if self.publishes_deltas() {
            &self.delta_crl
        } else {
            &self.crl
        };
        let now = self.ca.environment().clock().now();
        if let Ok(mut crl) = cache.lock() {
            crl.forget(now);
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
        .map_err(|e| crate::AppError::internal_because("finish the request", &e))?
}
