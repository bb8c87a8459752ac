//! Several nodes on one database: the CA a database belongs to, and bringing up
//! another node from it.
//!
//! At its first start a node records its CA in the database's settings: the
//! issuing CA certificate's SHA-256 fingerprint, a check value of the KMC master
//! key (a hash under a fixed label, never the key), and the CA certificates and
//! keys exactly as kept in `ca/` (the keys PKCS#8 PBES2-encrypted under the CA
//! passphrase). Of several nodes starting fresh at once, the one whose
//! fingerprint is claimed first wins and the others refuse to start. A node with
//! no CA of its own pointed at such a database does not make a second CA: it refuses to start and names `node join`, which writes
//! the recorded files into its data directory once the operator has supplied
//! the CA passphrase and the KMC master key, and both have been checked.

use std::path::Path;

use topca_core::{Certificate, SigningKey, kmc::MasterKey, store::AdminStore};
use topca_store::DieselStore;
use zeroize::Zeroizing;

use crate::{
    files::{ca_files, make_dir, read, write},
    setup::SetupError,
};

/// The issuing CA certificate's SHA-256 fingerprint.
pub(crate) const ISSUING_SHA256: &str = "ca.issuing_sha256";
/// The KMC master key's check value.
pub(crate) const MASTER_CHECK: &str = "ca.kmc_master_check";
/// The files of `ca/` kept in the database, by setting name (the TLS root of
/// HTTPS mode "self" when there is one).
pub(crate) const FILES: [(&str, &str); 8] = [
    ("ca.root_pem", "root.pem"),
    ("ca.issuing_pem", "issuing.pem"),
    ("ca.issuing_key", "issuing.key"),
    ("ca.root_key", "root.key"),
    ("ca.tls_root_pem", "tls-root.pem"),
    ("ca.tls_root_key", "tls-root.key"),
    ("ca.issuing_pkcs11", "issuing.pkcs11"),
    ("ca.root_pkcs11", "root.pkcs11"),
];

/// What a database says about the CA it belongs to.
struct Recorded {
    fingerprint: String,
    master_check: String,
}

fn store_error(e: topca_core::StoreError) -> SetupError {
    SetupError::Ca(topca_core::Error::from(e))
}

fn recorded(store: &DieselStore) -> Result<Option<Recorded>, SetupError> {
    let fingerprint = store.setting(ISSUING_SHA256).map_err(store_error)?;
    let master_check = store.setting(MASTER_CHECK).map_err(store_error)?;
    Ok(fingerprint
        .zip(master_check)
        .map(|(fingerprint, master_check)| Recorded {
            fingerprint,
            master_check,
        }))
}

/// The check value of a KMC master key (SHA-256 over a fixed label and the
/// key, computed when the key was set up), hexadecimal. It tells whether two
/// nodes hold the same key and reveals nothing of it.
pub(crate) fn master_check(master: &MasterKey) -> String {
    crate::backup::hex(&master.check_value())
}

/// Before anything is made in `dir`: refuses a data directory without a CA
/// pointed at a database that already holds one.
pub(crate) fn refuse_second_ca(dir: &Path, store: &DieselStore) -> Result<(), SetupError> {
    if ca_files(dir).iter().all(|p| p.exists()) {
        return Ok(());
    }
    match recorded(store)? {
        Some(ca) => Err(SetupError::Usage(format!(
            "the database {} already holds the CA with issuing certificate SHA-256 {}, and the \
             data directory {} has no CA: TopCA does not make a second CA or KMC master key. To \
             run this node for that CA, run `topca-server node join --database URL --data-dir {}` \
             with the CA passphrase and the KMC master key of the first node in \
             TOPCA_CA_PASSPHRASE and TOPCA_KMC_MASTER_KEY (or in the files secrets/ca-passphrase \
             and secrets/kmc-master.key of this data directory), then start it again",
            store.url(),
            ca.fingerprint,
            dir.display(),
            dir.display()
        ))),
        None => Ok(()),
    }
}

/// After the CA is loaded or made: checks it and the KMC master key against the
/// database's record, or records them (first start, or a CA started before
/// records were kept).
pub(crate) fn check_or_record(
    dir: &Path,
    store: &DieselStore,
    issuing: &Certificate,
    master: &MasterKey,
) -> Result<(), SetupError> {
    let fingerprint = issuing.sha256_fingerprint();
    let check = master_check(master);
    match recorded(store)? {
        Some(ca) if ca.fingerprint != fingerprint => Err(SetupError::Usage(format!(
            "the database {} belongs to the CA with issuing certificate SHA-256 {}, but {} holds \
             the CA {fingerprint}: point this node at its own database, or bring up a fresh data \
             directory with `topca-server node join`",
            store.url(),
            ca.fingerprint,
            dir.display()
        ))),
        Some(ca) if ca.master_check != check => Err(SetupError::Usage(format!(
            "the KMC master key of {} is not the one the CA in {} was made with: give the first \
             node's key in TOPCA_KMC_MASTER_KEY or secrets/kmc-master.key",
            dir.display(),
            store.url()
        ))),
        Some(_) => share_files(dir, store),
        None => {
            // Of nodes starting fresh on one database at once, one claims it.
            let claimed = store
                .claim_setting(ISSUING_SHA256, &fingerprint)
                .map_err(store_error)?;
            if claimed != fingerprint {
                return Err(SetupError::Usage(format!(
                    "another node made the CA {claimed} in {} while this one made {fingerprint} \
                     in {}: remove the ca/ and secrets/ folders of {} (this CA has issued \
                     nothing) and bring this node up with `topca-server node join`",
                    store.url(),
                    dir.display(),
                    dir.display()
                )));
            }
            share_files(dir, store)?;
            // The check value last: the record counts only when it is there.
            store.put_setting(MASTER_CHECK, &check).map_err(store_error)
        }
    }
}

/// Keeps in the database each file of `dir/ca` that it does not hold yet (once
/// the CA is checked against the record, or recorded).
pub(crate) fn share_files(dir: &Path, store: &DieselStore) -> Result<(), SetupError> {
    for (setting, file) in FILES {
        let path = dir.join("ca").join(file);
        if path.exists() {
            store
                .claim_setting(setting, &read(&path)?)
                .map_err(store_error)?;
        }
    }
    crate::hsm_data::share_sealed_master(dir, store)
}

/// The secrets a joining node is given.
pub struct JoinSecrets {
    /// The CA passphrase of the first node (not needed when its CA keys are
    /// all in a token).
    pub ca_passphrase: Option<Zeroizing<String>>,
    /// The KMC master key of the first node, 64 hexadecimal digits (not
    /// needed when the token of `TOPCA_KMC_PKCS11` seals it).
    pub kmc_master_key: Option<Zeroizing<String>>,
}

/// `node join`: writes the CA of the database at `url` into the fresh data
/// directory `dir` (files mode 0600), after checking `secrets` against it: the
/// master key against the recorded check value, the passphrase by opening the
/// issuing CA key. Returns the issuing CA's subject.
pub fn join(dir: &Path, url: &str, secrets: &JoinSecrets) -> Result<String, SetupError> {
    if ca_files(dir).iter().any(|p| p.exists()) {
        return Err(SetupError::Usage(format!(
            "{} already holds a CA; join with a fresh data directory",
            dir.display()
        )));
    }
    let store = DieselStore::open(url)?;
    let Some(ca) = recorded(&store)? else {
        return Err(SetupError::Usage(format!(
            "the database {} holds no CA yet: start the first node on it normally, then join",
            store.url()
        )));
    };
    let (master, sealed) = match &secrets.kmc_master_key {
        Some(hex) => (MasterKey::from_bytes(crate::setup::decode_key(hex)?), None),
        None => {
            let (master, sealed) = crate::hsm_data::recorded_sealed_master(&store)?;
            (master, Some(sealed))
        }
    };
    if master_check(&master) != ca.master_check {
        return Err(SetupError::Usage(format!(
            "the KMC master key given is not the one the CA in {} was made with; nothing was written",
            store.url()
        )));
    }
    let mut files = Vec::new();
    for (setting, file) in FILES {
        if let Some(text) = store.setting(setting).map_err(store_error)? {
            files.push((file, text));
        }
    }
    let text = |name: &str| {
        files
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(_, text)| text.as_str())
            .ok_or_else(|| {
                SetupError::Usage(format!(
                    "the database {} does not hold the CA file {name}; start the first node once \
                     with this version so it records it",
                    store.url()
                ))
            })
    };
    let issuing = Certificate::from_pem(text("issuing.pem")?).map_err(topca_core::Error::from)?;
    if issuing.sha256_fingerprint() != ca.fingerprint {
        return Err(SetupError::Usage(format!(
            "the CA certificate recorded in {} does not match its fingerprint; nothing was written",
            store.url()
        )));
    }
    if let Ok(uri) = text(crate::hsm::KEY_URI_FILE) {
        let from = format!("the database's {}", crate::hsm::KEY_URI_FILE);
        crate::hsm_data::check_uri_key(uri, Path::new(&from), &issuing)?;
    }
    let key_files = files.iter().any(|(file, _)| file.ends_with(".key"));
    let no_passphrase = Zeroizing::new(String::new());
    let passphrase = match &secrets.ca_passphrase {
        Some(passphrase) => passphrase,
        None if !key_files => &no_passphrase,
        None => {
            return Err(SetupError::Usage(
                "joining needs the first node's CA passphrase: set TOPCA_CA_PASSPHRASE, or put \
                 the file secrets/ca-passphrase (mode 0600)"
                    .into(),
            ));
        }
    };
    if let Ok(key_pem) = text("issuing.key") {
        let key = SigningKey::from_pkcs8_pem(key_pem, Some(passphrase)).map_err(|_| {
            SetupError::Usage(
                "the CA passphrase given does not open the CA key kept in the database; \
                 nothing was written"
                    .into(),
            )
        })?;
        if *key.public_key() != issuing.public_key().map_err(topca_core::Error::from)? {
            return Err(SetupError::Usage(format!(
                "the CA key recorded in {} does not belong to its certificate; nothing was written",
                store.url()
            )));
        }
    }
    let root = Certificate::from_pem(text("root.pem")?).map_err(topca_core::Error::from)?;
    let root_key = root.public_key().map_err(topca_core::Error::from)?;
    if issuing.verify_signed_by(&root_key).is_err() {
        return Err(SetupError::Usage(format!(
            "the CA certificate recorded in {} is not signed by the recorded root; nothing was written",
            store.url()
        )));
    }
    make_dir(&dir.join("ca"))?;
    if let Some(sealed) = sealed {
        make_dir(&dir.join("secrets"))?;
        crate::backup::write_synced(&dir.join(crate::hsm_data::SEALED_MASTER_PATH), &sealed)?;
    }
    // The issuing key last: the CA counts as initialised only when it is there.
    files.sort_by_key(|(file, _)| *file == "issuing.key" || *file == crate::hsm::KEY_URI_FILE);
    for (file, text) in &files {
        write(&dir.join("ca").join(file), text)?;
    }
    Ok(issuing.subject_text())
}

impl JoinSecrets {
    /// The secrets from `TOPCA_CA_PASSPHRASE` and `TOPCA_KMC_MASTER_KEY`, else from
    /// the files `secrets/ca-passphrase` and `secrets/kmc-master.key` the operator
    /// put in the data directory `dir`. Nothing is generated.
    pub fn given(dir: &Path) -> Result<Self, SetupError> {
        let secret = |var: &str, file: &str| {
            if let Some(value) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
                return Ok::<_, SetupError>(Some(Zeroizing::new(value.trim().to_owned())));
            }
            let path = dir.join("secrets").join(file);
            if path.exists() {
                return Ok(Some(Zeroizing::new(read(&path)?.trim().to_owned())));
            }
            Ok(None)
        };
        Ok(Self {
            ca_passphrase: secret("TOPCA_CA_PASSPHRASE", "ca-passphrase")?,
            kmc_master_key: secret("TOPCA_KMC_MASTER_KEY", "kmc-master.key")?,
        })
    }
}
