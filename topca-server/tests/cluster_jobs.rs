//! Jobs the nodes of one PostgreSQL database share. Mail: two nodes delivering
//! the outbox at once send each mail once. OCSP: the nodes use one responder,
//! kept sealed in the database, and replace it once. PostgreSQL comes from
//! `TOPCA_TEST_POSTGRES_URL`; with `CI=true` its absence fails the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use base64::Engine;
use common::cluster::{TempPostgres, node_options, two_nodes};
use topca_core::{
    IssueRequest, KeyAlgorithm, MailError, OsRandom, Profile, ProfileKind, SigningKey,
    SubjectAltNames,
    lifecycle::RequestKind,
    mail::{Envelope, Mail, Mailer},
    ocsp::OcspSigner,
    ra::{Language, RequestRef},
    store::AdminStore,
};
use topca_server::{
    AppState,
    mail_outbox::{Delivery, OutboxMailer},
    ocsp_responder::{self, RESPONDER},
    setup::{open_outbox, start},
};

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
