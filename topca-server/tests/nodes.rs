//! Several nodes on one PostgreSQL database: a fresh data directory pointed at a
//! database that holds a CA is refused (no second CA, no new secrets), and
//! `node join` brings up a node that serves the same CA, refusing secrets that do
//! not match. PostgreSQL comes from `TOPCA_TEST_POSTGRES_URL`; with `CI=true` its
//! absence fails the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{os::unix::fs::PermissionsExt, path::Path};

use diesel::{Connection, PgConnection, connection::SimpleConnection};
use topca_core::{OsRandom, RandomSource};
use topca_server::{
    nodes::{JoinSecrets, join},
    setup::{Options, start},
};

/// A database created on the test PostgreSQL server, dropped afterwards.
struct TempPostgres {
    admin: String,
    name: String,
    url: String,
}

impl TempPostgres {
    fn create(label: &str) -> Option<Self> {
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
        let name = format!("topca_nodes_{label}_{suffix}");
        let mut conn = PgConnection::establish(&admin).unwrap();
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
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

/// Options for a node with data directory `dir` (made, private) on `url`.
fn node(dir: &Path, url: &str) -> Options {
    std::fs::create_dir_all(dir).unwrap();
    let mut options = common::options(dir);
    options.database_url = Some(url.to_owned());
    options
}

/// Copies the first node's secret files into `dir/secrets`, as an operator does.
fn hand_over_secrets(from: &Path, dir: &Path) {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
    for file in ["ca-passphrase", "kmc-master.key"] {
        std::fs::copy(from.join("secrets").join(file), secrets.join(file)).unwrap();
        std::fs::set_permissions(secrets.join(file), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
}

#[test]
fn a_fresh_data_directory_on_a_database_holding_a_ca_is_refused_and_makes_nothing() {
    let Some(pg) = TempPostgres::create("refused") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    let (first, _) = start(&node(&a, &pg.url)).unwrap();
    let fingerprint = first.ca.certificate().sha256_fingerprint();
    drop(first);

    let Err(refused) = start(&node(&b, &pg.url)) else {
        panic!("a second CA was made on a database that holds one");
    };
    let message = refused.to_string();
    for needed in [
        fingerprint.as_str(),
        "node join",
        "TOPCA_CA_PASSPHRASE",
        "TOPCA_KMC_MASTER_KEY",
    ] {
        assert!(message.contains(needed), "{needed:?} missing: {message}");
    }
    for made in [
        "ca/issuing.key",
        "ca/root.key",
        "secrets/ca-passphrase",
        "secrets/kmc-master.key",
    ] {
        assert!(
            !b.join(made).exists(),
            "{made} was made in the refused node"
        );
    }

    // The first node restarts as before, with the same CA.
    let (again, _) = start(&node(&a, &pg.url)).unwrap();
    assert_eq!(again.ca.certificate().sha256_fingerprint(), fingerprint);
}

#[test]
fn a_joined_node_serves_the_same_ca_and_its_certificates_verify_with_the_first_chain() {
    let Some(pg) = TempPostgres::create("join") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    let (first, _) = start(&node(&a, &pg.url)).unwrap();

    hand_over_secrets(&a, &b);
    let secrets = JoinSecrets::given(&b).unwrap();
    let subject = join(&b, &pg.url, &secrets).unwrap();
    assert_eq!(subject, first.ca.certificate().subject_text());
    for file in ["root.pem", "issuing.pem", "issuing.key", "root.key"] {
        let written = b.join("ca").join(file);
        assert_eq!(
            std::fs::read(&written).unwrap(),
            std::fs::read(a.join("ca").join(file)).unwrap(),
            "{file} as the first node keeps it"
        );
        let mode = std::fs::metadata(&written).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    assert!(
        join(&b, &pg.url, &secrets).is_err(),
        "joining twice into one directory is refused"
    );

    let (second, _) = start(&node(&b, &pg.url)).unwrap();
    assert_eq!(second.ca.certificate(), first.ca.certificate());
    assert_eq!(second.root, first.root);
    assert_eq!(
        second.ca.key().public_key(),
        first.ca.key().public_key(),
        "the same issuing key"
    );
    // What node B signs (its OCSP responder certificate, issued at start)
    // verifies with node A's issuing certificate.
    let issued_on_b = second.ocsp.read().unwrap().certificate().clone();
    issued_on_b
        .verify_signed_by(&first.ca.certificate().public_key().unwrap())
        .unwrap();
}

#[test]
fn join_refuses_a_wrong_master_key_or_passphrase_and_writes_nothing() {
    let Some(pg) = TempPostgres::create("wrong") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    drop(start(&node(&a, &pg.url)).unwrap());
    hand_over_secrets(&a, &b);
    let right = JoinSecrets::given(&b).unwrap();

    let wrong_master = JoinSecrets {
        ca_passphrase: right.ca_passphrase.clone(),
        kmc_master_key: Some(zeroize::Zeroizing::new("ab".repeat(32))),
    };
    let message = join(&b, &pg.url, &wrong_master).unwrap_err().to_string();
    assert!(message.contains("KMC master key"), "{message}");
    let wrong_passphrase = JoinSecrets {
        ca_passphrase: Some(zeroize::Zeroizing::new("not the passphrase".into())),
        kmc_master_key: right.kmc_master_key.clone(),
    };
    let message = join(&b, &pg.url, &wrong_passphrase)
        .unwrap_err()
        .to_string();
    assert!(message.contains("passphrase"), "{message}");
    let malformed = JoinSecrets {
        ca_passphrase: right.ca_passphrase.clone(),
        kmc_master_key: Some(zeroize::Zeroizing::new("zz".into())),
    };
    assert!(join(&b, &pg.url, &malformed).is_err());
    assert!(!b.join("ca").exists(), "nothing was written");

    // A node started with the wrong master key in its files is refused too.
    join(&b, &pg.url, &right).unwrap();
    std::fs::write(b.join("secrets/kmc-master.key"), "cd".repeat(32)).unwrap();
    let message = start(&node(&b, &pg.url)).err().unwrap().to_string();
    assert!(message.contains("KMC master key"), "{message}");
}

#[test]
fn of_four_fresh_nodes_starting_at_once_on_one_database_exactly_one_makes_the_ca() {
    let Some(pg) = TempPostgres::create("together") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..4).map(|n| temp.path().join(format!("n{n}"))).collect();
    let all: Vec<Options> = dirs.iter().map(|d| node(d, &pg.url)).collect();
    let together = std::sync::Barrier::new(all.len());
    let started: Vec<Result<String, String>> = std::thread::scope(|s| {
        let nodes: Vec<_> = all
            .iter()
            .map(|options| {
                let together = &together;
                s.spawn(move || {
                    together.wait();
                    start(options)
                        .map(|(state, _)| state.ca.certificate().sha256_fingerprint())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        nodes.into_iter().map(|n| n.join().unwrap()).collect()
    });
    let winners: Vec<&String> = started.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{started:?}");
    for refused in started.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            refused.contains(winners[0].as_str()) && refused.contains("node join"),
            "{refused}"
        );
    }
    // Every node restarted now runs the winning CA or is refused.
    for options in &all {
        match start(options) {
            Ok((state, _)) => {
                assert_eq!(&state.ca.certificate().sha256_fingerprint(), winners[0]);
            }
            Err(e) => assert!(e.to_string().contains("node join"), "{e}"),
        }
    }
}

#[test]
fn node_join_on_the_command_line_takes_the_secrets_from_the_environment() {
    let Some(pg) = TempPostgres::create("cli") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    let mut first = node(&a, &pg.url);
    first.algorithm = topca_core::KeyAlgorithm::Ed25519;
    first.tls = topca_server::tls::TlsSource::SelfIssued;
    drop(start(&first).unwrap());
    let secret = |file: &str| std::fs::read_to_string(a.join("secrets").join(file)).unwrap();
    let join = |with_secrets: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_topca-server"));
        command
            .args(["node", "join", "--database", &pg.url, "--data-dir"])
            .arg(&b)
            .env_remove("TOPCA_CA_PASSPHRASE")
            .env_remove("TOPCA_KMC_MASTER_KEY");
        if with_secrets {
            command
                .env("TOPCA_CA_PASSPHRASE", secret("ca-passphrase"))
                .env("TOPCA_KMC_MASTER_KEY", secret("kmc-master.key"));
        }
        command.output().unwrap()
    };
    let refused = join(false);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("TOPCA_CA_PASSPHRASE"), "{message}");
    assert!(!b.join("ca").exists());

    let joined = join(true);
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    // The TLS root of HTTPS mode "self" comes along: both nodes show clients
    // the same root.
    for file in ["issuing.key", "tls-root.pem", "tls-root.key"] {
        assert_eq!(
            std::fs::read(b.join("ca").join(file)).unwrap(),
            std::fs::read(a.join("ca").join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn a_node_with_its_own_ca_pointed_at_another_cas_database_is_refused() {
    let (Some(first_db), Some(other_db)) =
        (TempPostgres::create("mine"), TempPostgres::create("theirs"))
    else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, c) = (temp.path().join("a"), temp.path().join("c"));
    drop(start(&node(&a, &first_db.url)).unwrap());
    let (other, _) = start(&node(&c, &other_db.url)).unwrap();
    let theirs = other.ca.certificate().sha256_fingerprint();
    drop(other);
    let message = start(&node(&a, &other_db.url)).err().unwrap().to_string();
    assert!(
        message.contains(&theirs) && message.contains("belongs to"),
        "{message}"
    );
}
