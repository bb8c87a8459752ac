//! The diesel store on SQLite and on a real PostgreSQL server: the core's
//! conformance suite, concurrent issuance from threads and from two processes,
//! rollback of a change that fails halfway, and clear errors for bad URLs and
//! newer schemas. PostgreSQL comes from `TOPCA_TEST_POSTGRES_URL` (an account that
//! may create databases; `scripts/test` starts a throwaway server); with `CI=true`
//! its absence fails the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    collections::HashSet,
    time::{Duration, SystemTime},
};

use common::{TempPostgres, databases, issue_one, new_request, record, reserve, settings};
use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection};
use topca_core::{
    StoreError,
    store::{
        AccountStore, AdminStore, CertificateStore, EscrowStore, OutboxStore, RequestChange,
        RequestStore, SessionStore,
    },
};
use topca_store::{DieselStore, OpenError};

const THREADS: usize = 8;
const PER_THREAD: usize = 1_000;

#[test]
fn both_backends_pass_the_conformance_suite() {
    for (label, url, _cleanup) in databases("conformance") {
        let store = DieselStore::open(&url).unwrap();
        topca_core::conformance::run(&store).unwrap_or_else(|e| panic!("{label}: {e}"));
        // Reopening runs no migration again and keeps everything.
        drop(store);
        let again = DieselStore::open(&url).unwrap();
        assert!(
            !again.search_accounts("天诚", 10).unwrap().is_empty(),
            "{label}"
        );
    }
}

#[test]
fn eight_threads_issue_eight_thousand_certificates_without_losing_one() {
    for (label, url, _cleanup) in databases("threads") {
        let store = DieselStore::open(&url).unwrap();
        let serials: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let store = &store;
                    s.spawn(move || {
                        (0..PER_THREAD)
                            .map(|i| issue_one(store, &format!("t{t}-{i}@example.cn")))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        let unique: HashSet<&String> = serials.iter().collect();
        assert_eq!(unique.len(), THREADS * PER_THREAD, "{label}");
        for serial in serials.iter().step_by(97) {
            assert!(
                store.certificate(serial).unwrap().is_some(),
                "{label}: {serial}"
            );
        }
        let mut revoked_or_valid = 0;
        for t in 0..THREADS {
            revoked_or_valid += store
                .certificates_by_email(&format!("t{t}-{}@example.cn", PER_THREAD - 1))
                .unwrap()
                .len();
        }
        assert_eq!(
            revoked_or_valid, THREADS,
            "{label}: the last request of every thread"
        );
    }
}

/// Run by `two_processes_share_one_postgresql` in a child process.
#[test]
fn child_process_issues_a_batch() {
    let Ok(url) = std::env::var("TOPCA_CHILD_DATABASE") else {
        return;
    };
    let label = std::env::var("TOPCA_CHILD_LABEL").unwrap();
    let store = DieselStore::open(&url).unwrap();
    for i in 0..PER_THREAD {
        issue_one(&store, &format!("{label}-{i}@example.cn"));
    }
}

#[test]
fn two_processes_share_one_postgresql() {
    let Some(pg) = TempPostgres::create("processes") else {
        return;
    };
    DieselStore::open(&pg.url).unwrap();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|label| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "child_process_issues_a_batch",
                    "--test-threads",
                    "1",
                ])
                .env("TOPCA_CHILD_DATABASE", &pg.url)
                .env("TOPCA_CHILD_LABEL", label)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let store = DieselStore::open(&pg.url).unwrap();
    for label in ["a", "b"] {
        for i in (0..PER_THREAD).step_by(50) {
            let found = store
                .certificates_by_email(&format!("{label}-{i}@example.cn"))
                .unwrap();
            assert_eq!(found.len(), 1, "{label}-{i}");
        }
    }
    let entries = store
        .certificates_ending_between(
            SystemTime::UNIX_EPOCH,
            SystemTime::now() + Duration::from_secs(400 * 86_400),
        )
        .unwrap();
    assert_eq!(entries.len(), 2 * PER_THREAD);
}

#[test]
fn a_change_failing_halfway_leaves_nothing_behind() {
    for (label, url, _cleanup) in databases("halfway") {
        let store = DieselStore::open(&url).unwrap();
        let taken = issue_one(&store, "first@example.cn");
        let request = new_request(&store, "second@example.cn");
        let fresh = record(&request);
        reserve(&store, &fresh);
        let mut clash = record(&request);
        clash.serial = taken.clone();
        // The first certificate is written, then the second fails: all rolls back.
        let result = store.commit_request(RequestChange {
            issued: vec![fresh.clone(), clash],
            ..RequestChange::update(request.clone())
        });
        assert_eq!(result, Err(StoreError::DuplicateSerial(taken)), "{label}");
        assert!(
            store.certificate(&fresh.serial).unwrap().is_none(),
            "{label}"
        );
        assert_eq!(
            store.request(request.id).unwrap().unwrap(),
            request,
            "{label}"
        );
    }
}

#[test]
fn bad_urls_and_newer_schemas_get_clear_errors() {
    let err = DieselStore::open("ftp://example.cn/db").unwrap_err();
    assert!(matches!(err, OpenError::Url(_)), "{err:?}");
    let err = DieselStore::open("postgres://topca:hunter2@127.0.0.1:1/topca").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, OpenError::Connect { .. }), "{err:?}");
    assert!(
        text.contains("postgres://topca:****@127.0.0.1:1/topca"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("running and reachable"), "{text}");
    let err = DieselStore::open("sqlite:///nonexistent-folder/topca.db").unwrap_err();
    assert!(matches!(err, OpenError::Connect { .. }), "{err:?}");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("newer.db").display());
    DieselStore::open(&url).unwrap();
    let path = dir.path().join("newer.db");
    let mut raw = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    raw.batch_execute("UPDATE topca_schema SET version = 99; CREATE TABLE marker (x INTEGER);")
        .unwrap();
    let err = DieselStore::open(&url).unwrap_err();
    assert!(
        matches!(err, OpenError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer than this TopCA"), "{err}");
    raw.batch_execute("SELECT x FROM marker").unwrap();
}

#[test]
fn an_older_database_is_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    let store = DieselStore::open(&url).unwrap();
    let kept = store.create_account(settings()).unwrap();
    let request = new_request(&store, "old@example.cn");
    drop(store);
    // Back to schema version 1, as an older TopCA left it.
    let mut raw = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    raw.batch_execute(
        "DROP TABLE acme_challenges; DROP TABLE acme_authorizations; DROP TABLE acme_orders; \
         DROP TABLE acme_accounts; DROP TABLE acme_nonces; \
         DROP TABLE cmp_transactions; DROP TABLE cmp_credentials; DROP TABLE acme_eab_keys; DROP TABLE acme_order_counts;",
    )
    .unwrap();
    raw.batch_execute(
        "DROP TABLE ocsp_responses; DROP TABLE machine_clients; DROP TABLE issuances; DROP TABLE mail_outbox; DROP TABLE account_policies; DROP TABLE admin_sessions; \
         DROP TABLE holder_attempts; DROP INDEX requests_public_ref; DROP INDEX certificates_not_before; \
         ALTER TABLE requests DROP COLUMN public_ref; \
         ALTER TABLE requests ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0; \
         DROP TABLE settings; DROP INDEX requests_state; DROP TABLE admins; \
         DROP INDEX recoveries_public_id; ALTER TABLE recoveries DROP COLUMN public_id; \
         INSERT INTO recoveries (encryption_serial, email, holder_name, requested_by, requested_at, \
         reason, state, failed_attempts, version) VALUES ('0A', 'a@example.cn', 'A', 'kmc', 0, '', 1, 0, 1); \
         UPDATE topca_schema SET version = 1;",
    )
    .unwrap();
    let store = DieselStore::open(&url).unwrap();
    let upgraded = store.request(request.id).unwrap().unwrap();
    assert!(
        topca_core::ra::RequestRef::parse(&upgraded.reference.0).is_some()
            && upgraded.reference != request.reference,
        "an old request gets a new random reference: {:?}",
        upgraded.reference
    );
    assert_eq!(
        store.request_by_reference(&upgraded.reference).unwrap(),
        Some(upgraded)
    );
    assert!(
        store.admin("nobody").unwrap().is_none(),
        "the admins table is back"
    );
    assert_eq!(
        store.end_sessions(None).unwrap(),
        0,
        "the sessions table is back"
    );
    store.put_setting("crl_refresh_minutes", "5").unwrap();
    assert_eq!(
        store.setting("crl_refresh_minutes").unwrap().as_deref(),
        Some("5"),
        "the settings table is back"
    );
    let queued = store
        .queue_mail("a@example.cn", b"sealed", std::time::SystemTime::now())
        .unwrap();
    assert!(queued > 0, "the mail outbox table is back");
    assert_eq!(store.account(kept.id).unwrap().unwrap(), kept, "data kept");
    let old = store
        .recoveries_in_state(topca_core::kmc::RecoveryState::Requested)
        .unwrap();
    assert_eq!(old.len(), 1, "an older recovery is kept");
    assert_eq!(
        store.recovery(old[0].id).unwrap().as_ref(),
        Some(&old[0]),
        "and given a random identifier"
    );
    assert_eq!(
        store.server_policy(kept.id).unwrap(),
        None,
        "the account policies table is back, empty"
    );
}

/// The schema version and row count of `topca_schema` on a PostgreSQL database.
fn postgres_schema(url: &str) -> (i64, i64) {
    #[derive(diesel::QueryableByName)]
    struct Schema {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        version: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rows: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    let found: Schema = diesel::sql_query(
        "SELECT COALESCE(MAX(version), 0)::BIGINT AS version, COUNT(*) AS rows FROM topca_schema",
    )
    .get_result(&mut conn)
    .unwrap();
    (found.version, found.rows)
}

#[test]
fn four_nodes_opening_one_new_postgresql_database_at_once_migrate_it_once() {
    // The newest schema version, as a lone open on SQLite reaches it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reference.db");
    DieselStore::open(&format!("sqlite://{}", path.display())).unwrap();
    let mut raw = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let newest: i64 =
        diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT MAX(version) FROM topca_schema")
            .get_result(&mut raw)
            .unwrap();
    // A few rounds, each on a fresh database: a race shows up in one of them.
    for round in 0..3 {
        let Some(pg) = TempPostgres::create(&format!("race{round}")) else {
            return;
        };
        let start = std::sync::Barrier::new(4);
        let opened: Vec<Result<DieselStore, OpenError>> = std::thread::scope(|s| {
            let nodes: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        DieselStore::open(&pg.url)
                    })
                })
                .collect();
            nodes.into_iter().map(|n| n.join().unwrap()).collect()
        });
        for (node, result) in opened.iter().enumerate() {
            assert!(
                result.is_ok(),
                "round {round}, node {node}: {:?}",
                result.as_ref().err()
            );
        }
        assert_eq!(
            postgres_schema(&pg.url),
            (newest, 1),
            "round {round}: one schema row at the newest version"
        );
        // Every node works on the one schema.
        let first = opened.into_iter().next().unwrap().unwrap();
        issue_one(&first, &format!("race{round}@example.cn"));
    }
}
