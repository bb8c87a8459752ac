//! Backup and restore on real files: a backup brings a node back to the state it
//! was in, with the same CA; a backup of another CA, a tampered backup and
//! missing or wrong secrets are refused, and a refusal or failure leaves the
//! target data directory exactly as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod backup_common;
mod common;

use std::{path::Path, sync::Arc};

use axum::http::StatusCode;
use backup_common::{PASSWORD, assert_private, ca, copy_folder, manifest, names, request, tree};
use diesel::{Connection as _, SqliteConnection, connection::SimpleConnection as _};
use topca_core::{
    ra::AdminRole,
    store::{AdminStore as _, AuditStore as _},
};
use topca_server::{
    backup::{BackupError, backup},
    restore::{RestoreRequest, restore},
    setup::{add_admin, start},
};

#[tokio::test]
async fn a_restore_brings_back_the_backed_up_state_and_the_server_serves_the_same_ca() {
    let parent = tempfile::tempdir().unwrap();
    let options = ca(parent.path(), "data", "alice");
    let (state, _) = start(&options).unwrap();
    let fingerprint = state.ca.certificate().sha256_fingerprint();
    let app = topca_server::router(Arc::new(state));
    let (status, chain_before) = common::get(&app, "/TopCA/ca/chain.pem").await;
    assert_eq!(status, StatusCode::OK);
    drop(app);
    topca_server::audit_log::checkpoint_offline(&options).unwrap();

    let saved = parent.path().join("backup");
    let made = backup(&options, None, &saved).unwrap();
    assert_eq!(made.manifest.ca.issuing_sha256, fingerprint);
    let entries_at_backup = made.audit_entries.unwrap();
    assert!(entries_at_backup >= 1);
    assert_private(&saved);
    let listed: Vec<&str> = made
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    for name in [
        "topca.db",
        "ca/issuing.pem",
        "ca/issuing.key",
        "ca/root.pem",
        "audit/checkpoints",
    ] {
        assert!(listed.contains(&name), "{name} not in {listed:?}");
    }
    // The secrets stay out of the backup; the manifest says what to supply.
    assert!(!saved.join("secrets").exists());
    let secrets = std::fs::read_to_string(options.data_dir.join("secrets/kmc-master.key")).unwrap();
    let passphrase =
        std::fs::read_to_string(options.data_dir.join("secrets/ca-passphrase")).unwrap();
    for (path, (_, content)) in tree(&saved) {
        let text = String::from_utf8_lossy(&content);
        assert!(
            !text.contains(secrets.trim()) && !text.contains(passphrase.trim()),
            "{} holds a secret",
            path.display()
        );
    }
    let supply = serde_json::to_string(&made.manifest.not_included).unwrap();
    assert!(
        supply.contains("KMC master key") && supply.contains("CA key passphrase"),
        "{supply}"
    );

    // Later changes: another administrator, another checkpoint.
    add_admin(&options, "bob", PASSWORD, vec![AdminRole::RaAdmin]).unwrap();
    topca_server::audit_log::checkpoint_offline(&options).unwrap();

    let restored = restore(&request(&saved, &options.data_dir)).unwrap();
    assert_eq!(restored.audit_entries, entries_at_backup);
    let previous = restored.previous.unwrap();
    assert!(previous.starts_with(parent.path()));
    assert!(
        previous.join("topca.db").exists(),
        "the replaced data directory is kept"
    );
    assert_private(&options.data_dir);
    // Nothing but the data directory, the one set aside and the backup.
    assert_eq!(names(parent.path()).len(), 3, "{:?}", names(parent.path()));

    let (state, _) = start(&options).unwrap();
    assert_eq!(state.ca.certificate().sha256_fingerprint(), fingerprint);
    assert!(state.store.admin("alice").unwrap().is_some());
    assert!(
        state.store.admin("bob").unwrap().is_none(),
        "a later change survived the restore"
    );
    assert_eq!(
        state.store.audit_entries().unwrap().len() as u64,
        entries_at_backup
    );
    let app = topca_server::router(Arc::new(state));
    let (status, chain_after) = common::get(&app, "/TopCA/ca/chain.pem").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(chain_after, chain_before);
    drop(app);
    let verified = topca_server::audit_log::verify_offline(&options).unwrap();
    assert!(verified.checkpoint.is_some());
}

#[test]
fn backup_refuses_a_used_folder_and_leaves_nothing_when_it_fails() {
    let parent = tempfile::tempdir().unwrap();
    let options = ca(parent.path(), "data", "alice");
    let used = parent.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("notes.txt"), "keep me").unwrap();
    let refused = backup(&options, None, &used).unwrap_err();
    assert!(matches!(refused, BackupError::NotEmpty(_)), "{refused}");
    assert_eq!(names(&used), ["notes.txt"]);

    // A configuration file that cannot be read fails the backup half-way: the
    // database was already copied, and everything written is removed.
    let saved = parent.path().join("backup");
    let missing = parent.path().join("missing.toml");
    let failed = backup(&options, Some(&missing), &saved).unwrap_err();
    assert!(failed.to_string().contains("missing.toml"), "{failed}");
    assert!(!saved.exists());
    let empty = parent.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    backup(&options, Some(&missing), &empty).unwrap_err();
    assert!(names(&empty).is_empty());

    // A data directory without a CA has nothing to back up.
    let bare = parent.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    let refused = backup(&common::options(&bare), None, &saved).unwrap_err();
    assert!(matches!(refused, BackupError::NoCa(_)), "{refused}");
    assert!(!saved.exists());

    // A configuration file is backed up and restored with the data.
    let config = options.data_dir.join("topca.toml");
    std::fs::write(&config, "crl_refresh_minutes = 7\n").unwrap();
    let made = backup(&options, Some(&config), &saved).unwrap();
    assert_eq!(made.manifest.configuration_from.as_deref(), config.to_str());
    std::fs::write(&config, "crl_refresh_minutes = 9\n").unwrap();
    restore(&request(&saved, &options.data_dir)).unwrap();
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "crl_refresh_minutes = 7\n"
    );
}

#[test]
fn a_backup_of_another_ca_is_refused_and_the_target_is_unchanged() {
    let parent = tempfile::tempdir().unwrap();
    let first = ca(parent.path(), "first", "alice");
    let second = ca(parent.path(), "second", "carol");
    let saved = parent.path().join("backup-of-first");
    backup(&first, None, &saved).unwrap();
    let before = tree(&second.data_dir);
    let listing = names(parent.path());

    let refused = restore(&request(&saved, &second.data_dir)).unwrap_err();
    assert!(matches!(refused, BackupError::OtherCa { .. }), "{refused}");
    assert!(refused.to_string().contains("another CA"), "{refused}");
    assert_eq!(tree(&second.data_dir), before);
    assert_eq!(names(parent.path()), listing);
}

#[test]
fn a_tampered_backup_is_refused_naming_the_file_and_the_target_is_unchanged() {
    let parent = tempfile::tempdir().unwrap();
    let options = ca(parent.path(), "data", "alice");
    let saved = parent.path().join("backup");
    backup(&options, None, &saved).unwrap();
    let before = tree(&options.data_dir);

    type Tamper = fn(&Path);
    let cases: [(&str, Tamper, &str); 6] = [
        (
            "a database byte",
            |b| {
                let path = b.join("topca.db");
                let mut bytes = std::fs::read(&path).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x01;
                std::fs::write(path, bytes).unwrap();
            },
            "topca.db does not match its SHA-256",
        ),
        (
            "a truncated database",
            |b| {
                let path = b.join("topca.db");
                let bytes = std::fs::read(&path).unwrap();
                std::fs::write(path, &bytes[..bytes.len() - 4096]).unwrap();
            },
            "topca.db has",
        ),
        (
            "a removed CA key",
            |b| {
                std::fs::remove_file(b.join("ca/root.key")).unwrap();
            },
            "ca/root.key is missing",
        ),
        (
            "an edited manifest",
            |b| {
                let path = b.join("MANIFEST.json");
                let text = std::fs::read_to_string(&path).unwrap();
                let edited = text.replacen("\"created\": \"", "\"created\": \"1", 1);
                assert_ne!(text, edited);
                std::fs::write(path, edited).unwrap();
            },
            "MANIFEST.json was changed after the backup was made",
        ),
        (
            "an added file",
            |b| {
                std::fs::write(b.join("ca").join("extra.key"), "not from TopCA").unwrap();
            },
            "ca/extra.key is not listed in the manifest",
        ),
        (
            "a removed manifest",
            |b| {
                std::fs::remove_file(b.join("MANIFEST.json")).unwrap();
            },
            "MANIFEST.json is missing",
        ),
    ];
    for (what, tamper, expected) in cases {
        let copy = parent.path().join("tampered");
        copy_folder(&saved, &copy);
        tamper(&copy);
        let listing = names(parent.path());
        let refused = restore(&request(&copy, &options.data_dir)).unwrap_err();
        assert!(
            matches!(refused, BackupError::Tampered { .. }),
            "{what}: {refused}"
        );
        assert!(refused.to_string().contains(expected), "{what}: {refused}");
        assert_eq!(
            tree(&options.data_dir),
            before,
            "{what}: the target changed"
        );
        assert_eq!(names(parent.path()), listing, "{what}: a folder was left");
        std::fs::remove_dir_all(&copy).unwrap();
    }
    // The untouched backup still restores.
    restore(&request(&saved, &options.data_dir)).unwrap();
}

#[test]
fn a_database_rewritten_with_matching_hashes_fails_in_the_middle_and_leaves_the_target() {
    let parent = tempfile::tempdir().unwrap();
    let options = ca(parent.path(), "data", "alice");
    let saved = parent.path().join("backup");
    backup(&options, None, &saved).unwrap();
    let before = tree(&options.data_dir);
    // Whoever can write the backup but lacks the master key edits the audit
    // log and puts the new hash and length into the manifest: every file then
    // matches, so the new data directory is built before the log is checked.
    SqliteConnection::establish(&saved.join("topca.db").to_string_lossy())
        .unwrap()
        .batch_execute("UPDATE audit_entries SET detail = 'nothing happened' WHERE sequence = 1")
        .unwrap();
    let (bytes, sha256) = hash(&saved.join("topca.db"));
    let mut edited = manifest(&saved);
    let db = edited
        .files
        .iter_mut()
        .find(|f| f.path == "topca.db")
        .unwrap();
    db.bytes = bytes;
    db.sha256 = sha256;
    std::fs::write(
        saved.join("MANIFEST.json"),
        serde_json::to_vec_pretty(&edited).unwrap(),
    )
    .unwrap();
    let listing = names(parent.path());

    let refused = restore(&request(&saved, &options.data_dir)).unwrap_err();
    assert!(matches!(refused, BackupError::Audit(_)), "{refused}");
    assert!(
        refused.to_string().contains("audit entry 1 was altered"),
        "{refused}"
    );
    assert_eq!(tree(&options.data_dir), before);
    assert_eq!(
        names(parent.path()),
        listing,
        "the half-built folder was left"
    );
}

fn hash(path: &Path) -> (u64, String) {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).unwrap();
    let digest = sha2::Sha256::digest(&bytes);
    (
        bytes.len() as u64,
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    )
}

#[test]
fn a_fresh_machine_needs_the_master_key_and_passphrase_and_then_serves_the_same_ca() {
    let parent = tempfile::tempdir().unwrap();
    let options = ca(parent.path(), "data", "alice");
    let saved = parent.path().join("backup");
    backup(&options, None, &saved).unwrap();
    // The operator keeps the secrets apart from the backup.
    let kept = parent.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    for file in ["kmc-master.key", "ca-passphrase"] {
        std::fs::copy(options.data_dir.join("secrets").join(file), kept.join(file)).unwrap();
    }
    let fresh = parent.path().join("new-machine");

    let refused = restore(&request(&saved, &fresh)).unwrap_err();
    assert!(matches!(refused, BackupError::SecretNeeded(_)), "{refused}");
    assert!(
        refused.to_string().contains("--master-key FILE"),
        "{refused}"
    );
    assert!(!fresh.exists());

    let master = kept.join("kmc-master.key");
    let with_key = RestoreRequest {
        master_key_file: Some(&master),
        ..request(&saved, &fresh)
    };
    let refused = restore(&with_key).unwrap_err();
    assert!(
        refused.to_string().contains("--ca-passphrase FILE"),
        "{refused}"
    );
    assert!(!fresh.exists());

    // A key or passphrase of another CA is refused too.
    let wrong_key = kept.join("wrong.key");
    std::fs::write(&wrong_key, "11".repeat(32)).unwrap();
    let passphrase = kept.join("ca-passphrase");
    let refused = restore(&RestoreRequest {
        master_key_file: Some(&wrong_key),
        ca_passphrase_file: Some(&passphrase),
        ..request(&saved, &fresh)
    })
    .unwrap_err();
    assert!(
        matches!(refused, BackupError::WrongMasterKey(_)),
        "{refused}"
    );
    let wrong_passphrase = kept.join("wrong-passphrase");
    std::fs::write(&wrong_passphrase, "not the passphrase").unwrap();
    let refused = restore(&RestoreRequest {
        master_key_file: Some(&master),
        ca_passphrase_file: Some(&wrong_passphrase),
        ..request(&saved, &fresh)
    })
    .unwrap_err();
    assert!(
        matches!(refused, BackupError::WrongPassphrase(_)),
        "{refused}"
    );
    assert!(!fresh.exists());
    assert_eq!(names(parent.path()), ["backup", "data", "kept"]);

    let restored = restore(&RestoreRequest {
        master_key_file: Some(&master),
        ca_passphrase_file: Some(&passphrase),
        ..request(&saved, &fresh)
    })
    .unwrap();
    assert!(restored.previous.is_none());
    assert_private(&fresh);
    let (state, _) = start(&common::options(&fresh)).unwrap();
    assert_eq!(
        state.ca.certificate().sha256_fingerprint(),
        manifest(&saved).ca.issuing_sha256
    );
    assert!(state.store.admin("alice").unwrap().is_some());
}
