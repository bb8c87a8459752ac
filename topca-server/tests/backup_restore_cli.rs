//! Backup and restore through the command line and around a running server:
//! the server holds its data directory, so a second server and a restore are
//! refused while it runs; secrets may come from the environment. PostgreSQL
//! deployments get a backup without the database and a restore that points at
//! pg_dump and point-in-time recovery.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod backup_common;
mod common;

use std::{io::BufRead as _, process::Stdio};

use backup_common::{ca, names, request, server, tree};
use diesel::{Connection as _, connection::SimpleConnection as _};
use topca_server::{
    backup::{BackupError, DatabaseKind, backup},
    restore::{RestoreRequest, restore},
    setup::start,
};

#[test]
fn restore_and_a_second_server_are_refused_while_a_server_holds_the_data_directory() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let dir = data.to_str().unwrap();
    let saved = parent.path().join("backup");
    let listen = format!("127.0.0.1:{}", common::free_port());
    let mut running = server(&[
        "--data-dir",
        dir,
        "--listen",
        &listen,
        "--algorithm",
        "p256",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let mut lines = std::io::BufReader::new(running.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("TopCA is running")));

    // A backup is made while the server runs.
    let made = server(&["backup", saved.to_str().unwrap(), "--data-dir", dir])
        .output()
        .unwrap();
    let second_listen = format!("127.0.0.1:{}", common::free_port());
    let second = server(&["--data-dir", dir, "--listen", &second_listen])
        .output()
        .unwrap();
    let refused = server(&["restore", saved.to_str().unwrap(), "--data-dir", dir])
        .output()
        .unwrap();
    let _ = running.kill();
    let _ = running.wait();
    assert!(made.status.success(), "{made:?}");
    assert!(String::from_utf8_lossy(&made.stdout).contains("not in the backup"));
    for (what, output) in [("a second server", &second), ("restore", &refused)] {
        assert!(!output.status.success(), "{what} ran");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(
            message.contains("another TopCA process") && message.contains("stop it first"),
            "{what}: {message}"
        );
    }
    assert_eq!(names(parent.path()), ["backup", "data"]);

    let restored = server(&["restore", saved.to_str().unwrap(), "--data-dir", dir])
        .output()
        .unwrap();
    assert!(restored.status.success(), "{restored:?}");
    let said = String::from_utf8_lossy(&restored.stdout);
    assert!(said.contains("is kept as"), "{said}");
    let chain = server(&["ca", "chain", "--data-dir", dir])
        .output()
        .unwrap();
    assert!(chain.status.success(), "{chain:?}");
}

/// A database created on the test PostgreSQL server, dropped afterwards.
struct TempPostgres {
    admin: String,
    name: String,
    url: String,
}

impl TempPostgres {
    fn create(admin: &str) -> Self {
        use topca_core::RandomSource as _;
        let mut random = [0u8; 6];
        topca_core::OsRandom.fill(&mut random).unwrap();
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("topca_backup_{suffix}");
        diesel::PgConnection::establish(admin)
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            admin: admin.to_owned(),
            name,
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

#[test]
fn on_postgresql_the_backup_leaves_the_database_to_pg_dump_and_restore_refuses() {
    let Ok(admin) = std::env::var("TOPCA_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and TOPCA_TEST_POSTGRES_URL is not set: PostgreSQL is missing");
        }
        eprintln!("skipping PostgreSQL: TOPCA_TEST_POSTGRES_URL is not set");
        return;
    };
    let database = TempPostgres::create(&admin);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let mut options = common::options(&dir);
    options.database_url = Some(database.url.clone());
    drop(start(&options).unwrap());

    let saved = parent.path().join("backup");
    let made = backup(&options, None, &saved).unwrap();
    assert_eq!(made.manifest.database, DatabaseKind::Postgresql);
    assert!(made.audit_entries.is_none());
    assert!(!saved.join("topca.db").exists());
    assert!(saved.join("ca/issuing.key").exists());
    let supply = serde_json::to_string(&made.manifest.not_included).unwrap();
    assert!(supply.contains("pg_dump"), "{supply}");

    let before = tree(&dir);
    for url in [Some(database.url.as_str()), None] {
        let refused = restore(&RestoreRequest {
            database_url: url,
            ..request(&saved, &dir)
        })
        .unwrap_err();
        assert!(matches!(refused, BackupError::Postgres), "{refused}");
        let message = refused.to_string();
        assert!(
            message.contains("pg_restore") && message.contains("point-in-time"),
            "{message}"
        );
    }
    assert_eq!(tree(&dir), before);
}

#[test]
fn a_fresh_machine_restores_with_the_secrets_in_the_environment_and_is_told_to_keep_them() {
    let parent = tempfile::tempdir().unwrap();
    let options = ca(parent.path(), "data", "alice");
    let saved = parent.path().join("backup");
    backup(&options, None, &saved).unwrap();
    let secret = |file: &str| {
        std::fs::read_to_string(options.data_dir.join("secrets").join(file))
            .unwrap()
            .trim()
            .to_owned()
    };
    let fresh = parent.path().join("new-machine");
    let fresh_dir = fresh.to_str().unwrap();
    let restore_cli = |master: &str| {
        server(&["restore", saved.to_str().unwrap(), "--data-dir", fresh_dir])
            .env("TOPCA_KMC_MASTER_KEY", master)
            .env("TOPCA_CA_PASSPHRASE", secret("ca-passphrase"))
            .output()
            .unwrap()
    };
    let wrong = restore_cli(&"22".repeat(32));
    assert!(!wrong.status.success());
    let message = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        message.contains("the KMC master key in TOPCA_KMC_MASTER_KEY is not the one"),
        "{message}"
    );
    assert!(!fresh.exists());

    let restored = restore_cli(&secret("kmc-master.key"));
    assert!(restored.status.success(), "{restored:?}");
    let said = String::from_utf8_lossy(&restored.stdout);
    for var in ["TOPCA_KMC_MASTER_KEY", "TOPCA_CA_PASSPHRASE"] {
        assert!(
            said.contains(&format!("start the server with {var} set")),
            "{said}"
        );
    }
    // Neither secret was written into the data directory.
    assert!(names(&fresh.join("secrets")).is_empty());
}
