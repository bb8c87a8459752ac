//! The audit log against someone who can write to the database but holds neither
//! the KMC master key nor the CA key: cutting off the tail, editing a detail,
//! swapping two entries, rewriting the log with recomputed plain hashes and
//! forging a checkpoint are each found by `topca-server audit verify` (the real
//! binary) with the first bad sequence number, on SQLite and on PostgreSQL
//! (`TOPCA_TEST_POSTGRES_URL`, an account that may create databases). A log
//! written before entries were keyed still verifies and says so. The public
//! checkpoint endpoint serves a checkpoint that verifies with the CA certificate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, process::Command, sync::Arc, time::SystemTime};

use axum::http::StatusCode;
use common::{ADMIN_PASSWORD, admins, call_as, get, options, token};
use diesel::{Connection, PgConnection, SqliteConnection, connection::SimpleConnection};
use topca_core::{
    KeyAlgorithm, OsRandom, RandomSource,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    audit_checkpoint::Checkpoint,
    ra::AdminRole,
    store::AuditStore,
};
use topca_server::{
    audit_log::{checkpoint_file, latest_checkpoint, write_checkpoint},
    router,
    setup::{Options, start},
};
use topca_store::DieselStore;

/// A throwaway PostgreSQL database, dropped at the end.
struct TempPostgres {
    admin: String,
    name: String,
    url: String,
}

impl TempPostgres {
    fn new() -> Option<Self> {
        let Ok(admin) = std::env::var("TOPCA_TEST_POSTGRES_URL") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and TOPCA_TEST_POSTGRES_URL is not set: PostgreSQL is missing");
            }
            eprintln!("skipping PostgreSQL: TOPCA_TEST_POSTGRES_URL is not set");
            return None;
        };
        let mut random = [0u8; 6];
        OsRandom.fill(&mut random).unwrap();
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("topca_audit_{suffix}");
        PgConnection::establish(&admin)
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Some(Self {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A CA on a fresh data directory (and database, for PostgreSQL) with a few
/// audited administrators and a checkpoint of the log; the number of entries.
struct Ca {
    dir: tempfile::TempDir,
    options: Options,
    entries: u64,
    _postgres: Option<TempPostgres>,
}

impl Ca {
    fn new(postgres: Option<TempPostgres>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut options = options(dir.path());
        options.database_url = postgres.as_ref().map(|p| p.url.clone());
        let (state, _) = start(&options).unwrap();
        admins(
            &state,
            &[
                ("root", AdminRole::SuperAdmin),
                ("clerk", AdminRole::RaAdmin),
                ("keeper", AdminRole::KmcAdmin),
            ],
        );
        let checkpoint = write_checkpoint(dir.path(), &state.store, state.ca.key()).unwrap();
        let entries = state.store.audit_entries().unwrap().len() as u64;
        assert!(entries >= 3, "{entries}");
        assert_eq!(checkpoint.sequence, entries);
        Self {
            dir,
            options,
            entries,
            _postgres: postgres,
        }
    }

    fn url(&self) -> String {
        self.options
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.dir.path().join("topca.db").display()))
    }

    /// Runs `statements` on the database directly, as a database administrator.
    fn sql(&self, statements: &str) {
        match &self.options.database_url {
            Some(url) => PgConnection::establish(url)
                .unwrap()
                .batch_execute(statements)
                .unwrap(),
            None => {
                SqliteConnection::establish(&self.dir.path().join("topca.db").to_string_lossy())
                    .unwrap()
                    .batch_execute(&format!("PRAGMA busy_timeout = 10000; {statements}"))
                    .unwrap()
            }
        }
    }

    /// `topca-server audit verify`: whether it succeeded, and what it said.
    fn verify(&self) -> (bool, String) {
        cli(self.dir.path(), &self.options, "verify")
    }
}

/// `topca-server audit VERB --data-dir DIR` with the database of `options`.
fn cli(dir: &Path, options: &Options, verb: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_topca-server"))
        .args(["audit", verb, "--data-dir"])
        .arg(dir)
        .env(
            "TOPCA_DATABASE_URL",
            options.database_url.clone().unwrap_or_default(),
        )
        .env_remove("TOPCA_KMC_MASTER_KEY")
        .env_remove("TOPCA_CA_PASSPHRASE")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The backends to test on: SQLite, and PostgreSQL when configured.
fn backends() -> Vec<Option<TempPostgres>> {
    let mut all = vec![None];
    if let Some(p) = TempPostgres::new() {
        all.push(Some(p));
    }
    all
}

fn assert_finding(ca: &Ca, expected: &str) {
    let (ok, said) = ca.verify();
    assert!(!ok, "verification passed after tampering: {said}");
    assert!(said.contains(expected), "expected {expected:?} in: {said}");
}

#[test]
fn an_honest_log_verifies_on_both_backends() {
    for backend in backends() {
        let ca = Ca::new(backend);
        let (ok, said) = ca.verify();
        assert!(ok, "{said}");
        assert!(
            said.contains(&format!("intact ({} entries)", ca.entries))
                && said.contains(&format!("checkpoint at entry {}", ca.entries)),
            "{said}"
        );
    }
}

#[test]
fn a_cut_off_tail_is_reported_as_truncation() {
    for backend in backends() {
        let ca = Ca::new(backend);
        let keep = ca.entries - 2;
        ca.sql(&format!(
            "DELETE FROM audit_entries WHERE sequence > {keep}"
        ));
        assert_finding(
            &ca,
            &format!(
                "truncated: entry {} is missing, the checkpoint covers {} entries",
                keep + 1,
                ca.entries
            ),
        );
    }
}

#[test]
fn an_edited_detail_is_reported_at_its_entry() {
    for backend in backends() {
        let ca = Ca::new(backend);
        ca.sql("UPDATE audit_entries SET detail = 'nothing happened' WHERE sequence = 2");
        assert_finding(&ca, "audit entry 2 was altered");
    }
}

#[test]
fn swapped_entries_are_reported_as_reordering() {
    for backend in backends() {
        let ca = Ca::new(backend);
        ca.sql(
            "UPDATE audit_entries SET sequence = 1000 WHERE sequence = 3;
             UPDATE audit_entries SET sequence = 3 WHERE sequence = 2;
             UPDATE audit_entries SET sequence = 2 WHERE sequence = 1000;",
        );
        assert_finding(&ca, "broken at entry 2: entries were removed or reordered");
    }
}

#[test]
fn a_log_rewritten_with_recomputed_plain_hashes_is_reported() {
    for backend in backends() {
        let ca = Ca::new(backend);
        // Read everything, drop entry 2, and write the rest back chained with
        // the plain hash, as anyone with the database (but not the master key)
        // can; one record is appended so the length matches the checkpoint.
        let plain = DieselStore::open(&ca.url()).unwrap();
        let mut records: Vec<AuditRecord> = plain
            .audit_entries()
            .unwrap()
            .into_iter()
            .map(|e| e.record)
            .collect();
        records.remove(1);
        records.push(AuditRecord {
            at: SystemTime::now(),
            actor: Actor::System,
            action: AuditAction::SettingChanged,
            target: "nothing".into(),
            outcome: Outcome::Success,
            detail: String::new(),
        });
        ca.sql("DELETE FROM audit_entries");
        for record in records {
            plain.append_audit(record).unwrap();
        }
        assert_finding(
            &ca,
            &format!(
                "rewritten with recomputed hashes from entry 1 on: entry {} differs from the signed checkpoint",
                ca.entries
            ),
        );
    }
    // A plain-hashed entry appended after keyed ones is found at that entry.
    let ca = Ca::new(None);
    DieselStore::open(&ca.url())
        .unwrap()
        .append_audit(AuditRecord {
            at: SystemTime::now(),
            actor: Actor::System,
            action: AuditAction::SettingChanged,
            target: "nothing".into(),
            outcome: Outcome::Success,
            detail: String::new(),
        })
        .unwrap();
    assert_finding(&ca, &format!("audit entry {} was altered", ca.entries + 1));
}

#[test]
fn a_forged_checkpoint_is_reported() {
    for backend in backends() {
        let ca = Ca::new(backend);
        let file = checkpoint_file(ca.dir.path());
        let honest = latest_checkpoint(ca.dir.path()).unwrap().unwrap();
        // A checkpoint claiming fewer entries (to hide a truncation), with the
        // honest signature.
        let mut forged = honest.clone();
        forged.sequence -= 1;
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(&format!("{}\n", forged.to_line()));
        std::fs::write(&file, text).unwrap();
        assert_finding(
            &ca,
            &format!(
                "checkpoint at entry {} is forged: its signature does not verify",
                honest.sequence - 1
            ),
        );
    }
}

#[test]
fn the_checkpoint_file_is_private_and_the_cli_appends_to_it() {
    use std::os::unix::fs::PermissionsExt;
    let ca = Ca::new(None);
    let (ok, said) = cli(ca.dir.path(), &ca.options, "checkpoint");
    assert!(ok, "{said}");
    assert!(said.contains(&format!("at entry {}", ca.entries)), "{said}");
    let file = checkpoint_file(ca.dir.path());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 2);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_log_from_before_keying_verifies_and_says_which_entries_are_plain() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = options(dir.path());
        options.database_url = backend.as_ref().map(|p| p.url.clone());
        let url = options
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("topca.db").display()));
        // Entries written by a TopCA that did not key them yet.
        let old = DieselStore::open(&url).unwrap();
        for i in 0..3 {
            old.append_audit(AuditRecord {
                at: SystemTime::now(),
                actor: Actor::Admin("old".into()),
                action: AuditAction::SettingChanged,
                target: format!("setting {i}"),
                outcome: Outcome::Success,
                detail: String::new(),
            })
            .unwrap();
        }
        drop(old);
        let (state, _) = start(&options).unwrap();
        admins(&state, &[("root", AdminRole::SuperAdmin)]);
        let (ok, said) = cli(dir.path(), &options, "verify");
        assert!(ok, "{said}");
        assert!(
            said.contains("Entries 1 to 3 predate keyed audit (plain hashes)"),
            "{said}"
        );
        // Editing an old entry is still found.
        let edit = "UPDATE audit_entries SET target = 'setting 9' WHERE sequence = 1";
        match &options.database_url {
            Some(url) => PgConnection::establish(url)
                .unwrap()
                .batch_execute(edit)
                .unwrap(),
            None => SqliteConnection::establish(&dir.path().join("topca.db").to_string_lossy())
                .unwrap()
                .batch_execute(edit)
                .unwrap(),
        }
        let (ok, said) = cli(dir.path(), &options, "verify");
        assert!(!ok && said.contains("audit entry 1 was altered"), "{said}");
        drop(backend);
    }
}

#[tokio::test]
async fn the_public_checkpoint_verifies_with_the_sm2_ca_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(dir.path());
    options.algorithm = KeyAlgorithm::Sm2;
    let (state, _) = start(&options).unwrap();
    admins(
        &state,
        &[
            ("root", AdminRole::SuperAdmin),
            ("clerk", AdminRole::RaAdmin),
        ],
    );
    let state = Arc::new(state);
    let app = router(Arc::clone(&state));

    let (status, _) = get(&app, "/TopCA/audit/checkpoint").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Only a super administrator makes one on demand.
    let clerk = token(&app, "clerk", ADMIN_PASSWORD).await;
    let (status, _) = call_as(
        &app,
        &clerk,
        "POST",
        "/api/v1/admin/audit/checkpoints",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let root = token(&app, "root", ADMIN_PASSWORD).await;
    let (status, made) =
        call_as(&app, &root, "POST", "/api/v1/admin/audit/checkpoints", None).await;
    assert_eq!(status, StatusCode::OK, "{made}");

    // Anyone reads the latest; a witness checks it with the CA certificate alone.
    let (status, body) = get(&app, "/TopCA/audit/checkpoint").await;
    assert_eq!(status, StatusCode::OK);
    let served: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(served, made);
    let entries = state.store.audit_entries().unwrap();
    let newest = entries.last().unwrap();
    assert_eq!(served["sequence"], newest.sequence);
    let line = format!(
        "{} {} {} {}",
        served["sequence"],
        served["head"].as_str().unwrap(),
        served["time"],
        served["signature"].as_str().unwrap()
    );
    let checkpoint = Checkpoint::from_line(&line).unwrap();
    assert_eq!(checkpoint.head, newest.hash);
    assert_eq!(
        topca_core::audit_checkpoint::hex(&checkpoint.message()),
        served["message"].as_str().unwrap()
    );
    checkpoint.verify(state.ca.certificate()).unwrap();
    let key = state.ca.certificate().public_key().unwrap();
    key.verify(
        topca_core::SignatureAlgorithm::Sm2WithSm3,
        &checkpoint.message(),
        &checkpoint.signature,
    )
    .unwrap();
    // Under another CA's certificate it does not verify.
    let other = tempfile::tempdir().unwrap();
    let mut other_options = common::options(other.path());
    other_options.algorithm = KeyAlgorithm::Sm2;
    let (other_state, _) = start(&other_options).unwrap();
    assert!(checkpoint.verify(other_state.ca.certificate()).is_err());
}

#[test]
fn an_administrator_added_before_the_first_start_is_audited_under_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path());
    let added = Command::new(env!("CARGO_BIN_EXE_topca-server"))
        .args(["admin", "add", "root", "--roles", "super", "--data-dir"])
        .arg(dir.path())
        .env("TOPCA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("TOPCA_DATABASE_URL")
        .env_remove("TOPCA_KMC_MASTER_KEY")
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    start(&options).unwrap();
    let (ok, said) = cli(dir.path(), &options, "verify");
    assert!(ok, "{said}");
    assert!(!said.contains("predate keyed audit"), "{said}");
}
