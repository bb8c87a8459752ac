//! The delegated OCSP responder, one for every node of a database: its key and
//! certificate are kept in the setting [`RESPONDER`], the key sealed under the
//! KMC master key (bound to the certificate's serial). The node that holds the
//! lease [`RESPONDER_LEASE`] issues it (at the first start) and replaces it
//! (when a third of its life is left); the others take the stored one.

use std::time::{Duration, Instant, SystemTime};

use base64::{Engine, engine::general_purpose::STANDARD};
use topca_core::{
    Certificate, CertificateAuthority, Error, KeyAlgorithm, OsRandom, SigningKey, kmc::MasterKey,
    ocsp::OcspSigner, store::RaStore,
};

use crate::{AppError, AppState, cluster_lease::Lease};

/// The setting holding the responder: `<certificate> <sealed key>`, both base64.
pub const RESPONDER: &str = "ocsp.responder";
/// The lease held while issuing a responder.
pub const RESPONDER_LEASE: &str = "ocsp_responder";
/// How long the issuer's lease lasts unless given back.
const LEASE_PERIOD: Duration = Duration::from_secs(60);
/// Days a responder certificate is valid.
const LIFETIME_DAYS: u32 = 30;
/// How long a starting node waits for the responder another node is issuing
/// before it issues one of its own (kept to itself).
const WAIT_AT_START: Duration = Duration::from_secs(30);
/// Pause between two looks at the store while another node issues.
const POLL: Duration = Duration::from_millis(200);

/// The responder a starting node uses: the stored one unless it is due for
/// replacement or its key is not of `algorithm` (the setting changed), else
/// one it issues and stores under the lease, else (another node holds the
/// lease) the one that node stores, whatever its algorithm.
pub fn at_start(
    store: &dyn RaStore,
    ca: &CertificateAuthority,
    master: &MasterKey,
    algorithm: KeyAlgorithm,
) -> Result<OcspSigner, Error> {
    let deadline = Instant::now() + WAIT_AT_START;
    // Until another node is seen holding the lease, a stored responder of
    // another algorithm is replaced.
    let mut of_algorithm_only = true;
    loop {
        let now = ca.environment().clock().now();
        if let Some(signer) = current(store, ca, master, now)?
            && (!of_algorithm_only || is_of(&signer, algorithm))
        {
            return Ok(signer);
        }
        if let Some(signer) = issue_leased(store, ca, master, algorithm, now, of_algorithm_only)? {
            return Ok(signer);
        }
        of_algorithm_only = false;
        if Instant::now() >= deadline {
            // The issuer is slow or gone (its lease lapses): this node answers
            // with a responder of its own until the next replacement.
            return OcspSigner::issue(ca, store, algorithm, LIFETIME_DAYS);
        }
        std::thread::sleep(POLL);
    }
}

/// Whether `signer`'s key is of `algorithm`.
fn is_of(signer: &OcspSigner, algorithm: KeyAlgorithm) -> bool {
    signer.key().public_key().kind() == algorithm.kind()
}

/// When this node's responder is due for replacement: the stored one if another
/// node replaced it already, else a new one issued and stored under the lease.
/// While another node holds the lease, this node keeps its responder (still
/// valid for a third of its life) and looks again at the next call.
pub fn rotate_if_due(state: &AppState) -> Result<(), AppError> {
    let now = state.ca.environment().clock().now();
    let due = state
        .ocsp
        .read()
        .map_err(|e| crate::AppError::internal_because("read the OCSP responder", &e))?
        .due_for_rotation(now);
    if !due {
        return Ok(());
    }
    let next = match current(&state.store, &state.ca, &state.master, now)? {
        Some(stored) => Some(stored),
        None => issue_leased(
            &state.store,
            &state.ca,
            &state.master,
            state.ocsp_algorithm,
            now,
            false,
        )?,
    };
    if let Some(next) = next {
        *state
            .ocsp
            .write()
            .map_err(|e| crate::AppError::internal_because("replace the OCSP responder", &e))? =
            next;
    }
    Ok(())
}

/// Under the lease: the stored responder if another node stored a current one
/// meanwhile (of `algorithm`, if `of_algorithm_only`), else a new one of
/// `algorithm`, stored. `None` when another node holds the lease.
fn issue_leased(
    store: &dyn RaStore,
    ca: &CertificateAuthority,
    master: &MasterKey,
    algorithm: KeyAlgorithm,
    now: SystemTime,
    of_algorithm_only: bool,
) -> Result<Option<OcspSigner>, Error> {
    let Some(lease) = Lease::take(store, now, RESPONDER_LEASE, LEASE_PERIOD)? else {
        return Ok(None);
    };
    let stored = current(store, ca, master, now)
        .map(|stored| stored.filter(|s| !of_algorithm_only || is_of(s, algorithm)));
    let issued = match stored {
        Ok(Some(stored)) => Ok(stored),
        Ok(None) => OcspSigner::issue(ca, store, algorithm, LIFETIME_DAYS)
            .and_then(|signer| save(store, master, &signer).map(|()| signer)),
        Err(e) => Err(e),
    };
    // If giving it back fails, the lease lapses at its expiry.
    if let Err(e) = lease.release(store) {
        tracing::warn!(error = %e, "cannot give the OCSP lease back; it lapses at its expiry");
    }
    issued.map(Some)
}

/// The stored responder if there is one, it opens under `master`, belongs to
/// `ca` and is not due for replacement at `now`. A damaged one counts as none
/// (it is replaced).
fn current(
    store: &dyn RaStore,
    ca: &CertificateAuthority,
    master: &MasterKey,
    now: SystemTime,
) -> Result<Option<OcspSigner>, Error> {
    let Some(value) = store.setting(RESPONDER)? else {
        return Ok(None);
    };
    Ok(open(ca, master, &value).filter(|signer| !signer.due_for_rotation(now)))
}

fn open(ca: &CertificateAuthority, master: &MasterKey, value: &str) -> Option<OcspSigner> {
    let (certificate, sealed) = value.split_once(' ')?;
    let certificate = Certificate::from_der(&STANDARD.decode(certificate).ok()?).ok()?;
    let sealed = STANDARD.decode(sealed).ok()?;
    let key = master.open_bytes(&sealed, &binding(&certificate)).ok()?;
    let key = SigningKey::from_pkcs8_der(&key).ok()?;
    OcspSigner::from_parts(ca, key, certificate).ok()
}

fn save(store: &dyn RaStore, master: &MasterKey, signer: &OcspSigner) -> Result<(), Error> {
    let key = signer.key().to_pkcs8_der()?;
    let sealed = master.seal_bytes(&key, &binding(signer.certificate()), &OsRandom)?;
    let value = format!(
        "{} {}",
        STANDARD.encode(signer.certificate().der()),
        STANDARD.encode(sealed)
    );
    Ok(store.put_setting(RESPONDER, &value)?)
}

/// What a sealed responder key is bound to: its certificate's serial.
fn binding(certificate: &Certificate) -> String {
    format!("OCSP responder key {}", certificate.serial_hex())
}
