//! CMP over HTTP, driven by messages built here: an ir with PasswordBasedMac
//! issues and stores a certificate and a certConf closes it; abuse — garbage,
//! no protection, a wrong MAC, an unknown sender, a replayed transactionID, a
//! tampered message, a wrong POP, a name outside the policy, a wrong
//! recipNonce, an old pvno, huge bodies — gets a CMP error with the right
//! PKIFailureInfo bit, signed by the CA, and stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{options, send};
use der::{Decode, Encode};
use topca_core::{
    KeyAlgorithm, OsRandom, SigningKey, SystemClock,
    audit::Actor,
    cmp::{
        asn1::{self, Header, RawMessage, StatusInfo},
        credential, protection,
    },
    store::{AdminStore, AuditStore, CertificateStore, CmpStore},
};
use topca_server::{AppState, setup::start};

struct Server {
    _data: tempfile::TempDir,
    state: Arc<AppState>,
    app: Router,
    reference: String,
    secret: String,
}

async fn server() -> Server {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    // The demo server account allows example.cn.
    let account = state.demo.accounts[1];
    let (made, secret) = credential::add(
        &state.store,
        &state.master,
        &OsRandom,
        &SystemClock,
        Actor::System,
        account,
    )
    .unwrap();
    let app = topca_server::router(Arc::clone(&state));
    Server {
        _data: data,
        state,
        app,
        reference: made.reference,
        secret: secret.as_str().to_owned(),
    }
}

/// A Name with one CN.
fn name(cn: &str) -> Vec<u8> {
    let atv = asn1::sequence(&[&asn1::tlv(0x06, &[0x55, 0x04, 0x03]), &asn1::utf8(cn)]);
    asn1::sequence(&[&asn1::tlv(0x31, &atv)])
}

/// PasswordBasedMac with SHA-256, 500 iterations, HMAC-SHA1.
fn pbm() -> Vec<u8> {
    let params = asn1::sequence(&[
        &asn1::octets(b"0123456789abcdef"),
        &asn1::algorithm(asn1::SHA256),
        &500u32.to_der().unwrap(),
        &asn1::algorithm(asn1::HMAC_SHA1),
    ]);
    asn1::algorithm_with(asn1::PASSWORD_BASED_MAC, &params)
}

/// What a request is made of.
struct Msg<'a> {
    pvno: u8,
    reference: &'a str,
    secret: &'a str,
    transaction: [u8; 16],
    nonce: [u8; 16],
    recip_nonce: Option<Vec<u8>>,
    implicit_confirm: bool,
    protect: bool,
}

impl<'a> Msg<'a> {
    fn new(server: &'a Server) -> Self {
        Self {
            pvno: 2,
            reference: &server.reference,
            secret: &server.secret,
            transaction: rand16(),
            nonce: rand16(),
            recip_nonce: None,
            implicit_confirm: false,
            protect: true,
        }
    }

    fn encode(&self, body: &[u8]) -> Vec<u8> {
        let alg = pbm();
        let mut fields = vec![
            asn1::small_integer(self.pvno),
            asn1::explicit(4, &name("device")),
            asn1::explicit(4, &asn1::sequence(&[])),
            asn1::explicit(1, &alg),
            asn1::explicit(2, &asn1::octets(self.reference.as_bytes())),
            asn1::explicit(4, &asn1::octets(&self.transaction)),
            asn1::explicit(5, &asn1::octets(&self.nonce)),
        ];
        if let Some(nonce) = &self.recip_nonce {
            fields.push(asn1::explicit(6, &asn1::octets(nonce)));
        }
        if self.implicit_confirm {
            let itav =
                asn1::sequence(&[&asn1::tlv(0x06, asn1::IMPLICIT_CONFIRM.as_bytes()), &[5, 0]]);
            fields.push(asn1::explicit(8, &asn1::sequence(&[&itav])));
        }
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let header = asn1::sequence(&refs);
        let alg = spki::AlgorithmIdentifierOwned::from_der(&alg).unwrap();
        let mac = protection::mac(
            &alg,
            self.secret.as_bytes(),
            &asn1::sequence(&[&header, body]),
        )
        .unwrap();
        if self.protect {
            asn1::sequence(&[&header, body, &asn1::explicit(0, &asn1::bits(&mac))])
        } else {
            asn1::sequence(&[&header, body])
        }
    }
}

fn rand16() -> [u8; 16] {
    let mut b = [0u8; 16];
    topca_core::RandomSource::fill(&OsRandom, &mut b).unwrap();
    b
}

/// An ir body for `cn` with a new P-256 key; `forge_pop` signs other bytes.
fn ir_body(cn: &str, forge_pop: bool) -> Vec<u8> {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let spki = key.public_key().spki_der();
    // [6] IMPLICIT SubjectPublicKeyInfo: the SEQUENCE's tag replaced.
    let mut public_key = spki.to_vec();
    public_key[0] = 0xA6;
    let template = asn1::sequence(&[&asn1::explicit(5, &name(cn)), &public_key]);
    let cert_req = asn1::sequence(&[&asn1::small_integer(0), &template]);
    let signed = if forge_pop {
        b"something else".to_vec()
    } else {
        cert_req.clone()
    };
    let signature = key.sign_bytes(&signed).unwrap();
    let alg = key
        .signature_algorithm()
        .algorithm_identifier()
        .to_der()
        .unwrap();
    let popo = asn1::tlv(0xA1, &[alg, asn1::bits(signature.as_bytes())].concat());
    asn1::explicit(0, &asn1::sequence(&[&asn1::sequence(&[&cert_req, &popo])]))
}

/// The answer: its body tag, header, body content and failure bit.
struct Answer {
    tag: u32,
    header: Header,
    failure: Option<usize>,
    der: Vec<u8>,
}

async fn post(server: &Server, path: &str, message: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/pkixcmp")
        .body(Body::from(message))
        .unwrap();
    let (status, body, _) = send(&server.app, request).await;
    (status, body)
}

async fn cmp(server: &Server, message: Vec<u8>) -> Answer {
    let (status, der) = post(server, "/.well-known/cmp", message).await;
    assert_eq!(status, StatusCode::OK);
    let raw = RawMessage::from_der(&der).unwrap();
    let header = Header::from_der(&raw.header.to_der().unwrap()).unwrap();
    let (tag, inner) = asn1::explicit_inner(&raw.body).unwrap();
    let failure = (tag == 23).then(|| {
        let content: Vec<der::asn1::Any> = Vec::from_der(inner).unwrap();
        let info = StatusInfo::from_der(&content[0].to_der().unwrap()).unwrap();
        assert_eq!(info.status, 2);
        info.fail_info.unwrap().bits().position(|b| b).unwrap()
    });
    Answer {
        tag,
        header,
        failure,
        der,
    }
}

fn certificates(server: &Server) -> usize {
    server
        .state
        .store
        .certificates_by_holder_name("ok.example.cn")
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_ir_with_a_mac_issues_and_its_certconf_closes_the_transaction() {
    let server = server().await;
    let msg = Msg::new(&server);
    let ip = cmp(&server, msg.encode(&ir_body("ok.example.cn", false))).await;
    assert_eq!(ip.tag, 1, "ip");
    assert_eq!(certificates(&server), 1);
    assert_eq!(
        ip.header.transaction_id.as_ref().unwrap().as_bytes(),
        msg.transaction
    );
    assert_eq!(
        ip.header.recip_nonce.as_ref().unwrap().as_bytes(),
        msg.nonce
    );
    let their_nonce = ip.header.sender_nonce.as_ref().unwrap().as_bytes().to_vec();

    let issued = server
        .state
        .store
        .certificates_by_holder_name("ok.example.cn")
        .unwrap()
        .remove(0);
    let conf = |hash: &[u8]| {
        let status = asn1::sequence(&[&asn1::octets(hash), &asn1::small_integer(0)]);
        asn1::explicit(24, &asn1::sequence(&[&status]))
    };
    let conf_body = conf(&<sha2::Sha256 as sha2::Digest>::digest(&issued.der));
    // Another certificate's hash is refused.
    let wrong_hash = Msg {
        nonce: rand16(),
        recip_nonce: Some(their_nonce.clone()),
        transaction: msg.transaction,
        ..Msg::new(&server)
    };
    let refused = cmp(&server, wrong_hash.encode(&conf(&[0; 32]))).await;
    assert_eq!(refused.failure, Some(4), "badCertId");
    // A wrong recipNonce is refused, and the transaction still waits.
    let wrong = Msg {
        nonce: rand16(),
        recip_nonce: Some(vec![7; 16]),
        transaction: msg.transaction,
        ..Msg::new(&server)
    };
    let refused = cmp(&server, wrong.encode(&conf_body)).await;
    assert_eq!(refused.failure, Some(13), "badRecipientNonce");
    let conf = Msg {
        nonce: rand16(),
        recip_nonce: Some(their_nonce),
        transaction: msg.transaction,
        ..Msg::new(&server)
    };
    let message = conf.encode(&conf_body);
    assert_eq!(cmp(&server, message.clone()).await.tag, 19, "pkiConf");
    // The same certConf again: the transaction is closed.
    assert_eq!(
        cmp(&server, message).await.failure,
        Some(21),
        "transactionIdInUse"
    );
}

#[tokio::test]
async fn implicit_confirmation_is_granted_when_asked() {
    let server = server().await;
    let msg = Msg {
        implicit_confirm: true,
        ..Msg::new(&server)
    };
    let ip = cmp(&server, msg.encode(&ir_body("ok.example.cn", false))).await;
    assert_eq!(ip.tag, 1);
    let info = ip.header.general_info.unwrap();
    assert!(info.iter().any(|i| i.info_type == asn1::IMPLICIT_CONFIRM));
}

#[tokio::test]
async fn refusals_carry_their_failure_bit_are_signed_by_the_ca_and_store_nothing() {
    let server = server().await;
    let good = ir_body("ok.example.cn", false);
    // The bit of each refusal (RFC 4210 §5.2.3).
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        ("garbage", b"not DER at all".to_vec(), 5),
        (
            "no protection",
            Msg {
                protect: false,
                ..Msg::new(&server)
            }
            .encode(&good),
            12,
        ),
        (
            "wrong secret",
            Msg {
                secret: "wrong",
                ..Msg::new(&server)
            }
            .encode(&good),
            1,
        ),
        (
            "unknown sender",
            Msg {
                reference: "NO-SUCH",
                ..Msg::new(&server)
            }
            .encode(&good),
            20,
        ),
        (
            "old pvno",
            Msg {
                pvno: 1,
                ..Msg::new(&server)
            }
            .encode(&good),
            22,
        ),
        (
            "forged POP",
            Msg::new(&server).encode(&ir_body("ok.example.cn", true)),
            9,
        ),
        (
            "outside the policy",
            Msg::new(&server).encode(&ir_body("ok.example.com", false)),
            19,
        ),
        (
            "pollReq",
            Msg::new(&server).encode(&asn1::explicit(25, &asn1::sequence(&[]))),
            2,
        ),
    ];
    for (what, message, bit) in cases {
        let answer = cmp(&server, message).await;
        assert_eq!(answer.failure, Some(bit), "{what}");
    }
    // A tampered message: one bit of the body flipped after the MAC.
    let mut tampered = Msg::new(&server).encode(&good);
    let at = tampered.len() - 40;
    tampered[at] ^= 1;
    assert!(matches!(
        cmp(&server, tampered).await.failure,
        Some(1 | 5 | 9)
    ));
    assert_eq!(certificates(&server), 0);

    // Errors to senders whose MAC cannot be trusted are signed by the CA.
    let answer = cmp(
        &server,
        Msg {
            reference: "NO-SUCH",
            ..Msg::new(&server)
        }
        .encode(&good),
    )
    .await;
    let raw = RawMessage::from_der(&answer.der).unwrap();
    let protected = asn1::sequence(&[&raw.header.to_der().unwrap(), &raw.body.to_der().unwrap()]);
    let alg = answer.header.protection_alg.as_ref().unwrap();
    server
        .state
        .ca
        .certificate()
        .public_key()
        .unwrap()
        .verify(
            topca_core::SignatureAlgorithm::from_oid(alg.oid).unwrap(),
            &protected,
            raw.protection.as_ref().unwrap().as_bytes().unwrap(),
        )
        .unwrap();

    // A replayed transaction: the first issues, the replay is refused.
    let message = Msg::new(&server).encode(&good);
    assert_eq!(cmp(&server, message.clone()).await.tag, 1);
    assert_eq!(cmp(&server, message).await.failure, Some(21));
    assert_eq!(certificates(&server), 1);
}

#[tokio::test]
async fn huge_bodies_and_unknown_profiles_are_refused_over_http() {
    let server = server().await;
    let (status, _) = post(&server, "/.well-known/cmp", vec![0x30; 65 * 1024]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = post(&server, "/.well-known/cmp/p/sub-ca", vec![0x30, 0]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let msg = Msg::new(&server);
    let (status, der) = post(
        &server,
        "/.well-known/cmp/p/tls-client",
        msg.encode(&ir_body("ok.example.cn", false)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let raw = RawMessage::from_der(&der).unwrap();
    assert_eq!(asn1::explicit_inner(&raw.body).unwrap().0, 1);
}

/// A p10cr body for `cn` with `email` (when given) in the subject.
fn p10cr_body(cn: &str, email: Option<&str>) -> Vec<u8> {
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let subject = topca_core::DistinguishedName {
        common_name: Some(cn.into()),
        email: email.map(str::to_owned),
        ..Default::default()
    };
    let csr = topca_core::CertificateRequest::create(&key, &subject).unwrap();
    asn1::explicit(4, csr.der())
}

#[tokio::test]
async fn the_approval_path_takes_p10cr_waits_and_polls_in_its_own_transaction() {
    let server = server().await;
    let approval = "/.well-known/cmp/p/approval";
    let answer = |der: Vec<u8>| {
        let raw = RawMessage::from_der(&der).unwrap();
        let header = Header::from_der(&raw.header.to_der().unwrap()).unwrap();
        (
            asn1::explicit_inner(&raw.body).unwrap().0,
            header,
            der.clone(),
        )
    };
    // CRMF requests are not queued: the queue holds PKCS#10 requests.
    let (_, der) = post(
        &server,
        approval,
        Msg::new(&server).encode(&ir_body("ok.example.cn", false)),
    )
    .await;
    assert_eq!(answer(der).0, 23);
    // The RA mails the holder: the CSR must name an address.
    let (_, der) = post(
        &server,
        approval,
        Msg::new(&server).encode(&p10cr_body("ok.example.cn", None)),
    )
    .await;
    assert_eq!(answer(der).0, 23);
    assert!(
        server
            .state
            .store
            .requests_anywhere(topca_core::lifecycle::RequestState::Submitted, 10)
            .unwrap()
            .is_empty()
    );

    let msg = Msg::new(&server);
    let (_, der) = post(
        &server,
        approval,
        msg.encode(&p10cr_body("ok.example.cn", Some("ops@example.cn"))),
    )
    .await;
    let (tag, header, _) = answer(der);
    assert_eq!(tag, 3, "cp (waiting)");
    assert_eq!(
        server
            .state
            .store
            .requests_anywhere(topca_core::lifecycle::RequestState::Submitted, 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(certificates(&server), 0);
    let their_nonce = header.sender_nonce.unwrap().as_bytes().to_vec();
    let poll_body = asn1::explicit(
        25,
        &asn1::sequence(&[&asn1::sequence(&[&asn1::tlv(0x02, &[0xFF])])]),
    );
    // A poll with another nonce, or in another transaction, is refused.
    let wrong = Msg {
        nonce: rand16(),
        recip_nonce: Some(vec![1; 16]),
        transaction: msg.transaction,
        ..Msg::new(&server)
    };
    assert_eq!(
        cmp(&server, wrong.encode(&poll_body)).await.failure,
        Some(13)
    );
    assert_eq!(
        cmp(&server, Msg::new(&server).encode(&poll_body))
            .await
            .failure,
        Some(2)
    );
    let poll = Msg {
        nonce: rand16(),
        recip_nonce: Some(their_nonce),
        transaction: msg.transaction,
        ..Msg::new(&server)
    };
    assert_eq!(
        cmp(&server, poll.encode(&poll_body)).await.tag,
        26,
        "pollRep"
    );
}

/// [`cmp`] for a request from `ip`.
async fn cmp_from(server: &Server, ip: &str, message: Vec<u8>) -> Answer {
    let request = common::from_address(
        Request::post("/.well-known/cmp")
            .header(header::CONTENT_TYPE, "application/pkixcmp")
            .body(Body::from(message))
            .unwrap(),
        ip,
    );
    let (status, der, _) = send(&server.app, request).await;
    assert_eq!(status, StatusCode::OK);
    let raw = RawMessage::from_der(&der).unwrap();
    let header = Header::from_der(&raw.header.to_der().unwrap()).unwrap();
    let (tag, inner) = asn1::explicit_inner(&raw.body).unwrap();
    let failure = (tag == 23).then(|| {
        let content: Vec<der::asn1::Any> = Vec::from_der(inner).unwrap();
        let info = StatusInfo::from_der(&content[0].to_der().unwrap()).unwrap();
        info.fail_info.unwrap().bits().position(|b| b).unwrap()
    });
    Answer {
        tag,
        header,
        failure,
        der,
    }
}

#[tokio::test]
async fn wrong_macs_are_limited_per_address_and_reference_without_locking_out_the_holder() {
    let server = server().await;
    let body = ir_body("ok.example.cn", false);
    for _ in 0..10 {
        let wrong = Msg {
            secret: "wrong",
            ..Msg::new(&server)
        };
        let answer = cmp_from(&server, "192.0.2.7", wrong.encode(&body)).await;
        assert_eq!(answer.failure, Some(1), "badMessageCheck");
    }
    // Over the limit: the right secret from that address waits (notAuthorized,
    // signed by the CA, not MACed with the secret).
    let answer = cmp_from(&server, "192.0.2.7", Msg::new(&server).encode(&body)).await;
    assert_eq!(answer.failure, Some(23), "notAuthorized");
    let alg = answer.header.protection_alg.as_ref().unwrap();
    assert!(!protection::is_mac(alg), "signed, not MACed");
    assert_eq!(certificates(&server), 0);
    // The holder at another address enrolls.
    let answer = cmp_from(&server, "198.51.100.9", Msg::new(&server).encode(&body)).await;
    assert_eq!(answer.tag, 1, "ip");
    assert_eq!(certificates(&server), 1);
    // Guessing references from one address is limited too (100 in all).
    for n in 0..100 {
        let guess = format!("GUESS-{n:03}");
        let wrong = Msg {
            reference: &guess,
            ..Msg::new(&server)
        };
        let answer = cmp_from(&server, "203.0.113.5", wrong.encode(&body)).await;
        assert_eq!(answer.failure, Some(20), "signerNotTrusted");
    }
    let answer = cmp_from(&server, "203.0.113.5", Msg::new(&server).encode(&body)).await;
    assert_eq!(answer.failure, Some(23), "the address waits");
    let metrics = topca_server::metrics::exposition(&server.state);
    assert!(
        metrics.contains("topca_shared_secret_failures_total{protocol=\"cmp\"} 110")
            && metrics.contains("topca_shared_secret_refusals_total{protocol=\"cmp\"} 2"),
        "{metrics}"
    );
    // The audit log keeps at most 20 failures per address and window, and
    // the moment a limit is reached.
    let entries = server.state.store.audit_entries().unwrap();
    let from = |ip: &str| {
        entries
            .iter()
            .filter(|e| {
                e.record.action == topca_core::audit::AuditAction::RetrievalFailed
                    && e.record.detail.ends_with(ip)
            })
            .count()
    };
    assert_eq!(from("192.0.2.7"), 10);
    assert_eq!(from("203.0.113.5"), 21);
}

#[tokio::test]
async fn a_revoked_credential_is_refused_and_its_last_use_is_kept() {
    let server = server().await;
    let body = ir_body("ok.example.cn", false);
    assert_eq!(cmp(&server, Msg::new(&server).encode(&body)).await.tag, 1);
    let used = server
        .state
        .store
        .cmp_credential(&server.reference)
        .unwrap()
        .unwrap();
    assert!(used.last_used.is_some());
    credential::revoke(
        &server.state.store,
        &SystemClock,
        Actor::Admin("ra".into()),
        &server.reference,
    )
    .unwrap();
    let refused = cmp(&server, Msg::new(&server).encode(&body)).await;
    assert_eq!(refused.failure, Some(20), "signerNotTrusted");
    assert_eq!(certificates(&server), 1);
    assert!(
        credential::revoke(
            &server.state.store,
            &SystemClock,
            Actor::Admin("ra".into()),
            &server.reference,
        )
        .is_err(),
        "revoked once"
    );
}

#[tokio::test]
async fn transactions_older_than_the_retention_are_pruned() {
    use topca_core::cmp::credential::{CmpTransaction, TransactionState};
    let server = server().await;
    let now = std::time::SystemTime::now();
    let old = now - topca_server::cmp::TRANSACTION_RETENTION - std::time::Duration::from_secs(60);
    for (id, started, state) in [
        (1u8, old, TransactionState::Closed),
        (2, old, TransactionState::Pending),
        (3, now, TransactionState::Closed),
    ] {
        server
            .state
            .store
            .start_cmp_transaction(&CmpTransaction {
                id: vec![id; 16],
                sender: "cmp-ref-X".into(),
                nonce: vec![0; 16],
                serial: None,
                request: None,
                state,
                started,
            })
            .unwrap();
    }
    assert_eq!(
        topca_server::cmp::prune_transactions(&server.state).unwrap(),
        1
    );
    let store = &server.state.store;
    assert!(
        store.cmp_transaction(&[1; 16]).unwrap().is_none(),
        "old: gone"
    );
    assert!(
        store.cmp_transaction(&[2; 16]).unwrap().is_some(),
        "waiting: kept"
    );
    assert!(
        store.cmp_transaction(&[3; 16]).unwrap().is_some(),
        "new: kept"
    );
}
