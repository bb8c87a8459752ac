//! Jobs shared by the nodes of one PostgreSQL database. CRLs: a revocation made on node A is
//! in node B's CRL after one tick of B's background check, B serves the newer
//! CRL A published, two nodes ticking or serving at once publish one CRL (no
//! number twice, no error to a client), and a crashed publisher's lease lapses.
//! Mail: two nodes delivering the outbox at once send each mail once. OCSP: the
//! nodes share one responder, kept sealed in the database and replaced once.
//! PostgreSQL comes from `TOPCA_TEST_POSTGRES_URL`; with `CI=true` its absence
//! fails the tests. One test runs a single node on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use axum::{Router, http::StatusCode};
use base64::Engine;
use common::{get, openssl, outbox_pin, post_json};
use diesel::{Connection, PgConnection, connection::SimpleConnection};
use topca_core::{
    IssueRequest, KeyAlgorithm, MailError, OsRandom, Profile, ProfileKind, RandomSource,
    SigningKey, SubjectAltNames,
    lifecycle::RequestKind,
    mail::{Envelope, Mail, Mailer},
    ocsp::OcspSigner,
    ra::{Language, RequestRef},
    store::{AdminStore, CrlStore},
};
use topca_server::{
    AppState,
    cluster_lease::Lease,
    crl_sync,
    mail_outbox::{Delivery, OutboxMailer},
    nodes::{JoinSecrets, join},
    ocsp_responder::{self, RESPONDER},
    setup::{Options, open_outbox, start},
};

const PASSWORD: &str = "crl-holder-password-1";

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
        let name = format!("topca_crl_{label}_{suffix}");
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

fn node_options(dir: &Path, url: &str) -> Options {
    std::fs::create_dir_all(dir).unwrap();
    let mut options = common::options(dir);
    options.database_url = Some(url.to_owned());
    options
}

/// Two nodes of one CA on `pg`: the first made it, the second joined it.
fn two_nodes(root: &Path, pg: &TempPostgres) -> (Arc<AppState>, Arc<AppState>) {
    let (a, b) = (root.join("a"), root.join("b"));
    let (first, _) = start(&node_options(&a, &pg.url)).unwrap();
    let secrets = b.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
    for file in ["ca-passphrase", "kmc-master.key"] {
        std::fs::copy(a.join("secrets").join(file), secrets.join(file)).unwrap();
        std::fs::set_permissions(secrets.join(file), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    join(&b, &pg.url, &JoinSecrets::given(&b).unwrap()).unwrap();
    let (second, _) = start(&node_options(&b, &pg.url)).unwrap();
    (Arc::new(first), Arc::new(second))
}

/// Applies and retrieves a certificate on node `app` (data directory `dir`),
/// then revokes it there; its serial.
async fn issue_and_revoke(app: &Router, dir: &Path, account: u64, email: &str) -> String {
    let (status, applied) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "赵六", "email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    let (status, retrieved) = post_json(
        app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": outbox_pin(dir), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    let serial = retrieved["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, revoked) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/revocations"),
        serde_json::json!({"serial": serial, "password": PASSWORD, "reason": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    serial
}

/// The text of the CRL a node serves, as OpenSSL reads it.
async fn served_crl(app: &Router, work: &Path) -> String {
    let (status, der) = get(app, "/TopCA/crl/current.crl").await;
    assert_eq!(status, StatusCode::OK);
    let file = work.join("current.crl");
    std::fs::write(&file, der).unwrap();
    openssl(
        work,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            file.to_str().unwrap(),
            "-noout",
            "-text",
        ],
    )
}

/// Whether OpenSSL's CRL text lists `serial` (upper-case hex).
fn lists(text: &str, serial: &str) -> bool {
    text.lines().any(|line| {
        line.trim()
            .strip_prefix("Serial Number:")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(serial))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_node_a_is_in_node_b_crl_after_one_tick_of_b() {
    let Some(pg) = TempPostgres::create("tick") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    // Node B serves (and caches) a CRL before the revocation.
    let before = served_crl(&app_b, temp.path()).await;
    let serial = issue_and_revoke(&app_a, &temp.path().join("a"), account, "tick@example.cn").await;
    assert!(!lists(&before, &serial));

    let tick_b = Arc::clone(&b);
    let published = tokio::task::spawn_blocking(move || crl_sync::tick(&tick_b))
        .await
        .unwrap()
        .unwrap();
    assert!(published, "node B published the CRL the revocation needs");
    let after = served_crl(&app_b, temp.path()).await;
    assert!(
        lists(&after, &serial),
        "{serial} missing from node B's CRL:\n{after}"
    );

    // Nothing new revoked: the next tick publishes nothing.
    let tick_b = Arc::clone(&b);
    let again = tokio::task::spawn_blocking(move || crl_sync::tick(&tick_b))
        .await
        .unwrap()
        .unwrap();
    assert!(!again, "a tick without a new revocation published a CRL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_b_serves_the_newer_crl_node_a_published() {
    let Some(pg) = TempPostgres::create("serve") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    served_crl(&app_b, temp.path()).await;
    let serial =
        issue_and_revoke(&app_a, &temp.path().join("a"), account, "serve@example.cn").await;
    // Node A publishes at once, as the node that revoked.
    let on_a = served_crl(&app_a, temp.path()).await;
    assert!(lists(&on_a, &serial), "{on_a}");

    tokio::time::sleep(Duration::from_secs(crl_sync::CRL_CHECK_SECS + 1)).await;
    let on_b = served_crl(&app_b, temp.path()).await;
    assert!(
        lists(&on_b, &serial),
        "{serial} missing from node B's CRL:\n{on_b}"
    );
    let newest = a.store.latest_crl(false).unwrap().unwrap();
    let (_, der_b) = get(&app_b, "/TopCA/crl/current.crl").await;
    assert_eq!(der_b, newest.der, "node B serves the newest stored CRL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_ticking_at_once_publish_one_crl_number() {
    let Some(pg) = TempPostgres::create("lease") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let app_a = topca_server::router(Arc::clone(&a));
    served_crl(&app_a, temp.path()).await;
    for round in 0..3 {
        let email = format!("lease{round}@example.cn");
        issue_and_revoke(&app_a, &temp.path().join("a"), account, &email).await;
        let before = a.store.latest_crl(false).unwrap().unwrap().number;
        let (ta, tb) = (Arc::clone(&a), Arc::clone(&b));
        let published = tokio::task::spawn_blocking(move || {
            let barrier = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                let one = s.spawn(|| {
                    barrier.wait();
                    crl_sync::tick(&ta).unwrap()
                });
                let two = s.spawn(|| {
                    barrier.wait();
                    crl_sync::tick(&tb).unwrap()
                });
                [one.join().unwrap(), two.join().unwrap()]
            })
        })
        .await
        .unwrap();
        let after = a.store.latest_crl(false).unwrap().unwrap().number;
        assert_eq!(
            published.iter().filter(|p| **p).count(),
            1,
            "round {round}: {published:?}"
        );
        assert_eq!(after, before + 1, "round {round}: one new CRL number");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_serving_at_once_publish_one_crl_and_answer_every_request() {
    let Some(pg) = TempPostgres::create("serve_race") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    served_crl(&app_b, temp.path()).await;
    for round in 0..3 {
        let email = format!("race{round}@example.cn");
        let serial = issue_and_revoke(&app_a, &temp.path().join("a"), account, &email).await;
        let before = a.store.latest_crl(false).unwrap().unwrap().number;
        // Both nodes learn of the revocation at once (as after a tick each).
        a.crl_changed();
        b.crl_changed();
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..8 {
            let app = if i % 2 == 0 {
                app_a.clone()
            } else {
                app_b.clone()
            };
            requests.spawn(async move { get(&app, "/TopCA/crl/current.crl").await });
        }
        let mut served = Vec::new();
        while let Some(answer) = requests.join_next().await {
            let (status, der) = answer.unwrap();
            assert_eq!(
                status,
                StatusCode::OK,
                "round {round}: {}",
                common::text(&der)
            );
            served.push(der);
        }
        let newest = a.store.latest_crl(false).unwrap().unwrap();
        assert_eq!(newest.number, before + 1, "round {round}: one new CRL");
        assert!(
            served.iter().all(|der| *der == newest.der),
            "round {round}: every request got the one new CRL"
        );
        let text = served_crl(&app_b, temp.path()).await;
        assert!(
            lists(&text, &serial),
            "round {round}: {serial} missing:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_publishers_lease_lapses_and_the_other_node_publishes() {
    let Some(pg) = TempPostgres::create("crash") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let account = a.demo_account.unwrap().0;
    let (app_a, app_b) = (
        topca_server::router(Arc::clone(&a)),
        topca_server::router(Arc::clone(&b)),
    );
    served_crl(&app_b, temp.path()).await;
    let serial =
        issue_and_revoke(&app_a, &temp.path().join("a"), account, "crash@example.cn").await;
    // Node A takes the lease and dies before giving it back.
    let crashed = Lease::take(
        &a.store,
        SystemTime::now(),
        crl_sync::CRL_PUBLISHER,
        Duration::from_secs(2),
    )
    .unwrap()
    .expect("the lease is free");
    std::mem::forget(crashed);
    let held = Lease::take(
        &b.store,
        SystemTime::now(),
        crl_sync::CRL_PUBLISHER,
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(held.is_none(), "node B took a lease node A holds");
    let tick_b = Arc::clone(&b);
    let blocked = tokio::task::spawn_blocking(move || crl_sync::tick(&tick_b))
        .await
        .unwrap()
        .unwrap();
    assert!(!blocked, "node B published while node A held the lease");

    tokio::time::sleep(Duration::from_secs(3)).await;
    let tick_b = Arc::clone(&b);
    let published = tokio::task::spawn_blocking(move || crl_sync::tick(&tick_b))
        .await
        .unwrap()
        .unwrap();
    assert!(published, "node B took over the lapsed lease and published");
    let on_b = served_crl(&app_b, temp.path()).await;
    assert!(
        lists(&on_b, &serial),
        "{serial} missing from node B's CRL:\n{on_b}"
    );
    // Given back after publishing: node A takes it at once.
    let again = Lease::take(
        &a.store,
        SystemTime::now(),
        crl_sync::CRL_PUBLISHER,
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(again.is_some(), "node B kept the lease after publishing");
    again.unwrap().release(&a.store).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_sqlite_node_a_tick_publishes_what_was_revoked_since_the_last_crl() {
    let temp = tempfile::tempdir().unwrap();
    let (state, _) = start(&common::options(temp.path())).unwrap();
    let state = Arc::new(state);
    let account = state.demo_account.unwrap().0;
    let app = topca_server::router(Arc::clone(&state));
    let work = tempfile::tempdir().unwrap();
    served_crl(&app, work.path()).await;
    let tick = Arc::clone(&state);
    let idle = tokio::task::spawn_blocking(move || crl_sync::tick(&tick))
        .await
        .unwrap()
        .unwrap();
    assert!(!idle, "a tick published with nothing revoked");
    let serial = issue_and_revoke(&app, temp.path(), account, "sqlite@example.cn").await;
    let tick = Arc::clone(&state);
    let published = tokio::task::spawn_blocking(move || crl_sync::tick(&tick))
        .await
        .unwrap()
        .unwrap();
    assert!(published, "the revocation did not lead to a CRL");
    let text = served_crl(&app, work.path()).await;
    assert!(lists(&text, &serial), "{serial} missing:\n{text}");
}

/// A delivery that fails while `down` is set and keeps who it sent to.
#[derive(Default)]
struct Recorder {
    down: AtomicBool,
    sent: Mutex<Vec<String>>,
}

/// A node's handle on the shared [`Recorder`].
struct Handle(Arc<Recorder>);

impl Delivery for Handle {
    fn format(&self, envelope: &Envelope) -> Result<Vec<u8>, MailError> {
        Ok(envelope.to.clone().into_bytes())
    }

    fn deliver(&self, to: &str, _message: &[u8]) -> Result<(), MailError> {
        if self.0.down.load(Ordering::SeqCst) {
            return Err(MailError::Unreachable("mail server down".into()));
        }
        self.0.sent.lock().unwrap().push(to.to_owned());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_delivering_the_outbox_at_once_send_each_mail_once() {
    let Some(pg) = TempPostgres::create("outbox") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    drop((a, b));
    let recorder = Arc::new(Recorder::default());
    recorder.down.store(true, Ordering::SeqCst);
    let outbox = |node: &str| {
        let options = node_options(&temp.path().join(node), &pg.url);
        Arc::new(open_outbox(&options, Box::new(Handle(Arc::clone(&recorder)))).unwrap())
    };
    let (outbox_a, outbox_b) = (outbox("a"), outbox("b"));
    // The mail server is down while node A queues 40 mails.
    let mailer = OutboxMailer(Arc::clone(&outbox_a));
    let mut expected = Vec::new();
    for i in 0..40 {
        let to = format!("holder{i:02}@example.cn");
        mailer
            .send(&Envelope {
                to: to.clone(),
                language: Language::English,
                mail: Mail::RequestApproved {
                    request: RequestRef(format!("{i:032x}")),
                    kind: RequestKind::Application,
                    holder: "Holder".into(),
                    pin: zeroize::Zeroizing::new("PIN".into()),
                    retrieve_url: "https://ca.example.cn/TopCA/userEnroll/retrieve".into(),
                },
            })
            .unwrap();
        expected.push(to);
    }
    assert!(recorder.sent.lock().unwrap().is_empty());
    recorder.down.store(false, Ordering::SeqCst);

    // Both nodes' senders wake at once, after the first backoff.
    let later = SystemTime::now() + Duration::from_secs(60);
    let delivered = tokio::task::spawn_blocking(move || {
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            let senders: Vec<_> = [&outbox_a, &outbox_b, &outbox_a, &outbox_b]
                .into_iter()
                .map(|outbox| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        outbox.deliver_due(later).unwrap()
                    })
                })
                .collect();
            senders
                .into_iter()
                .map(|s| s.join().unwrap())
                .sum::<usize>()
        })
    })
    .await
    .unwrap();
    let mut sent = recorder.sent.lock().unwrap().clone();
    sent.sort();
    assert_eq!(sent, expected, "each queued mail sent exactly once");
    assert_eq!(delivered, 40);
}

/// The DER of the OCSP responder certificate `state` answers with.
fn responder_der(state: &AppState) -> Vec<u8> {
    state.ocsp.read().unwrap().certificate().der().to_vec()
}

/// A responder of `state`'s CA whose certificate ends in ten seconds: due for
/// replacement.
fn responder_near_its_end(state: &AppState) -> OcspSigner {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let certificate = state
        .ca
        .issue(
            IssueRequest {
                subject: state.ca.certificate().subject(),
                public_key: key.public_key().clone(),
                alt_names: SubjectAltNames::default(),
                not_after: Some(SystemTime::now() + Duration::from_secs(10)),
            },
            &Profile::new(ProfileKind::OcspSigning, 30).unwrap(),
        )
        .unwrap();
    OcspSigner::from_parts(&state.ca, key, certificate).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_share_one_ocsp_responder_and_replace_it_once() {
    let Some(pg) = TempPostgres::create("ocsp") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(temp.path(), &pg);
    let shared = responder_der(&a);
    assert_eq!(
        responder_der(&b),
        shared,
        "node B issued a responder of its own"
    );
    let stored = a.store.setting(RESPONDER).unwrap().unwrap();
    let key = a.ocsp.read().unwrap().key().to_pkcs8_der().unwrap();
    let key_text = base64::engine::general_purpose::STANDARD.encode(&*key);
    assert!(
        !stored.contains(&key_text),
        "the responder key is stored in clear"
    );

    // Not due: nothing changes.
    ocsp_responder::rotate_if_due(&a).unwrap();
    assert_eq!(responder_der(&a), shared);

    // Both nodes find their responder near its end while the stored one is
    // unusable: they replace it at once, and one of them issues.
    *a.ocsp.write().unwrap() = responder_near_its_end(&a);
    *b.ocsp.write().unwrap() = responder_near_its_end(&b);
    a.store.put_setting(RESPONDER, "damaged").unwrap();
    let (ra, rb) = (Arc::clone(&a), Arc::clone(&b));
    tokio::task::spawn_blocking(move || {
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let one = s.spawn(|| {
                barrier.wait();
                // A node that finds the other issuing looks again at its next call.
                while ra.ocsp.read().unwrap().due_for_rotation(SystemTime::now()) {
                    ocsp_responder::rotate_if_due(&ra).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let two = s.spawn(|| {
                barrier.wait();
                while rb.ocsp.read().unwrap().due_for_rotation(SystemTime::now()) {
                    ocsp_responder::rotate_if_due(&rb).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            one.join().unwrap();
            two.join().unwrap();
        });
    })
    .await
    .unwrap();
    let replaced = responder_der(&a);
    assert_eq!(responder_der(&b), replaced, "the nodes replaced it twice");
    assert_ne!(replaced, shared);
    let stored = a.store.setting(RESPONDER).unwrap().unwrap();
    let stored_der = base64::engine::general_purpose::STANDARD
        .decode(stored.split_once(' ').unwrap().0)
        .unwrap();
    assert_eq!(
        stored_der, replaced,
        "the replacement is the stored responder"
    );

    // A node started later takes the stored responder too.
    drop((a, b));
    let (again, _) = start(&node_options(&temp.path().join("b"), &pg.url)).unwrap();
    assert_eq!(responder_der(&again), replaced);
}
