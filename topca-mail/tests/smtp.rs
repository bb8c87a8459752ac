//! TopCA mail through a real SMTP server (Python's aiosmtpd, started here) and the
//! file outbox; what arrives is decoded by Python's email package, independently of
//! lettre. With `CI=true` a missing Python or aiosmtpd fails the tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, SystemTime},
};

use base64::Engine;
use topca_core::{
    CertificateAuthority, CertificateRequest, DistinguishedName, Environment, Error, KeyAlgorithm,
    MailError, OsRandom, Profile, ProfileKind, SigningKey,
    kmc::RecoveryId,
    lifecycle::{CertificateType, RequestKind, RequestState, RevocationReason, VerificationMode},
    mail::{Envelope, Mail, Mailer, RecoveryStep},
    memory::MemoryStore,
    profile::CaUrls,
    ra::{
        AccountSettings, AdminRole, Administrator, Holder, Language, RaPolicy,
        RegistrationAuthority, RequestRef,
    },
    store::RequestStore,
};
use topca_mail::{LettreMailer, MailConfig, render};
use zeroize::Zeroizing;

const FROM: &str = "TopCA 证书服务 <ca@example.cn>";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");

/// aiosmtpd on a free loopback port, saving into a temporary directory.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts the server, or returns `None` (with a notice) when Python or aiosmtpd
    /// is missing outside CI.
    fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts the server with extra `serve` arguments (TLS mode, files, account).
    fn start_with(extra: &[&str]) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let spawned = Command::new("python3")
            .args([SCRIPT, "serve", &port.to_string()])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return missing(&format!("python3 could not start: {e}")),
        };
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if line.trim() != "ready" {
            let _ = child.kill();
            return missing("aiosmtpd did not start (python3 -m pip install aiosmtpd)");
        }
        Some(Self { child, port, dir })
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The received messages, oldest first.
    fn received(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn missing<T>(why: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the SMTP test server is missing: {why}");
    }
    eprintln!("skipping: {why}");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A received message decoded by Python: to, from, subject, body, attachments.
fn decode(path: &Path) -> HashMap<String, Vec<String>> {
    let out = Command::new("python3")
        .args([SCRIPT, "decode"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut fields: HashMap<String, Vec<String>> = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (key, value) = line.split_once('\t').unwrap();
        let value = base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap();
        fields
            .entry(key.to_owned())
            .or_default()
            .push(String::from_utf8(value).unwrap());
    }
    fields
}

fn field<'a>(fields: &'a HashMap<String, Vec<String>>, key: &str) -> &'a str {
    &fields[key][0]
}

fn mailer(url: &str) -> LettreMailer {
    LettreMailer::new(&MailConfig::from_url(url, FROM).unwrap()).unwrap()
}

/// Every message the centres send, with the secret it carries (if any).
fn every_message() -> Vec<(Mail, Option<&'static str>)> {
    let request = RequestRef("42".into());
    let holder = "张三".to_owned();
    let url = "https://ca.example.cn/TopCA/userEnroll/retrieve".to_owned();
    let mut all = vec![
        (
            Mail::RegistrationConfirmation {
                request: request.clone(),
                holder: holder.clone(),
                service_url: url.clone(),
            },
            None,
        ),
        (
            Mail::RequestRejected {
                request: request.clone(),
                holder: holder.clone(),
                reason: "信息不完整".into(),
            },
            None,
        ),
        (
            Mail::ReplacementConfirmation {
                request: request.clone(),
                holder: holder.clone(),
                link: Zeroizing::new(format!("{url}?token=42-LINK-7KQ4-M9XD")),
            },
            Some("42-LINK-7KQ4-M9XD"),
        ),
        (
            Mail::Passcode {
                request: request.clone(),
                holder: holder.clone(),
                code: Zeroizing::new("PASS-7KQ4-M9XD-2PRT".into()),
                retrieve_url: url.clone(),
            },
            Some("PASS-7KQ4-M9XD-2PRT"),
        ),
        (
            Mail::ServerCertificateIssued {
                request: request.clone(),
                server: "www.example.cn".into(),
                serial: "0A1B".into(),
                pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
            },
            None,
        ),
        (
            Mail::CertificateRevoked {
                serial: "0A1B".into(),
                holder: holder.clone(),
                reason: RevocationReason::KeyCompromise,
            },
            None,
        ),
        (
            Mail::KeyRecoveryCode {
                recovery: RecoveryId::parse("0123456789abcdef0123456789abcdef").unwrap(),
                holder: holder.clone(),
                serial: "0C0D".into(),
                code: Zeroizing::new("7-RCVR-2PRT-M9XD".into()),
                expires: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                recover_url: url.clone(),
            },
            Some("7-RCVR-2PRT-M9XD"),
        ),
        (
            Mail::KeyRecoveryNotice {
                recovery: RecoveryId::parse("0123456789abcdef0123456789abcdef").unwrap(),
                holder: holder.clone(),
                serial: "0C0D".into(),
                step: RecoveryStep::Delivered {
                    signing_serial: "0E0F".into(),
                },
            },
            None,
        ),
        (
            Mail::CertificateExpiring {
                serial: "0A1B".into(),
                holder: holder.clone(),
                not_after: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                renew_url: url.clone(),
            },
            None,
        ),
    ];
    for (kind, pin) in [
        (RequestKind::Application, "42-APPL-7KQ4-M9XD"),
        (RequestKind::Renewal, "42-RENW-7KQ4-M9XD"),
        (RequestKind::Replacement, "42-REPL-7KQ4-M9XD"),
    ] {
        all.push((
            Mail::RequestApproved {
                request: request.clone(),
                kind,
                holder: holder.clone(),
                pin: Zeroizing::new(pin.into()),
                retrieve_url: url.clone(),
            },
            Some(pin),
        ));
    }
    all
}

#[test]
fn every_message_arrives_decoded_in_chinese_and_english_with_its_secret() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = mailer(&sink.url());
    let mut sent = 0;
    for (mail, secret) in every_message() {
        for language in [Language::Chinese, Language::English] {
            let envelope = Envelope {
                to: "张三 <zhangsan@example.cn>".into(),
                language,
                mail: mail.clone(),
            };
            mailer.send(&envelope).unwrap();
            sent += 1;
            let received = sink.received();
            assert_eq!(received.len(), sent);
            let fields = decode(received.last().unwrap());
            let expected = render(&envelope);
            assert_eq!(field(&fields, "subject"), expected.subject);
            assert_eq!(field(&fields, "to"), "张三 <zhangsan@example.cn>");
            assert_eq!(field(&fields, "from"), FROM);
            let body = &field(&fields, "body").replace("\r\n", "\n");
            assert_eq!(body.trim_end(), expected.body.trim_end());
            if let Some(secret) = secret {
                assert!(body.contains(secret), "{mail:?}: the secret arrives");
            }
            let raw = std::fs::read_to_string(received.last().unwrap()).unwrap();
            assert!(raw.is_ascii(), "headers and body are transfer-encoded");
            if language == Language::Chinese {
                assert!(!expected.subject.is_ascii(), "{mail:?}: a Chinese subject");
                assert!(raw.contains("=?utf-8?"), "RFC 2047 encoded words");
            } else {
                assert!(body.contains("Dear") || body.contains("Hello"), "{body}");
            }
            if let Mail::ServerCertificateIssued { pem, .. } = &mail {
                assert_eq!(fields["attachment"], ["certificate.pem"]);
                assert_eq!(fields["attachment_content"][0], *pem);
            }
        }
    }
}

fn ca() -> CertificateAuthority {
    let root = CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name("Mail Test Root").country("CN"),
        &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        Environment::system(),
    )
    .unwrap();
    root.create_subordinate(
        SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name("Mail Test CA").organization("天诚安信"),
        &Profile::sub_ca(1825, 0).unwrap(),
        CaUrls::default(),
    )
    .unwrap()
}

fn settings() -> AccountSettings {
    AccountSettings {
        organization: "天诚安信".into(),
        unit: "技术部".into(),
        certificate_type: CertificateType::Single,
        verification: VerificationMode::Manual,
        algorithm: KeyAlgorithm::EcdsaP256,
        validity_days: 365,
        service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
        language: Language::Chinese,
    }
}

fn holder() -> Holder {
    Holder {
        name: "张三".into(),
        email: "zhangsan@example.cn".into(),
        phone: None,
        state: None,
        locality: None,
    }
}

fn csr() -> CertificateRequest {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=user",
            "-keyout",
            "user.key",
            "-out",
            "user.csr",
        ])
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    CertificateRequest::parse(&std::fs::read(dir.path().join("user.csr")).unwrap()).unwrap()
}

/// The PIN in a decoded approval mail: the indented line.
fn pin_in(fields: &HashMap<String, Vec<String>>) -> String {
    field(fields, "body")
        .lines()
        .find(|l| l.starts_with("    "))
        .unwrap()
        .trim()
        .to_owned()
}

fn ops() -> topca_core::ra::RaOps {
    Administrator {
        name: "ra-admin".into(),
        roles: vec![AdminRole::RaAdmin],
    }
    .ra_ops()
    .unwrap()
}

#[test]
fn the_pin_in_the_received_mail_retrieves_the_certificate() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let ca = ca();
    let store = MemoryStore::new();
    let mailer = mailer(&sink.url());
    let ra = RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default());
    let account = ra.create_account(&ops(), settings()).unwrap();
    let request = ra.apply(account.id, holder(), "张三的口令-2026").unwrap();
    let confirmation = decode(&sink.received()[0]);
    assert!(field(&confirmation, "subject").contains("注册确认"));
    ra.approve(&ops(), request.id).unwrap();
    let approval = decode(&sink.received()[1]);
    let pin = pin_in(&approval);
    assert!(pin.starts_with(&format!("{}-", request.reference)), "{pin}");
    let issued = ra.retrieve(&pin, "张三的口令-2026", &csr()).unwrap();
    assert_eq!(
        issued.certificate.subject().common_name.as_deref(),
        Some("张三")
    );
}

#[test]
fn refused_and_unreachable_servers_give_typed_errors_and_lose_no_request() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let pin = "42-SECRET-PIN-7KQ4";
    let envelope = |to: &str| Envelope {
        to: to.into(),
        language: Language::Chinese,
        mail: Mail::RequestApproved {
            request: RequestRef("42".into()),
            kind: RequestKind::Application,
            holder: "张三".into(),
            pin: Zeroizing::new(pin.into()),
            retrieve_url: "http://127.0.0.1/retrieve".into(),
        },
    };
    let refused = mailer(&sink.url())
        .send(&envelope("refuse-me@example.cn"))
        .unwrap_err();
    assert_eq!(refused, MailError::Refused("refuse-me@example.cn".into()));
    let closed = format!("smtp://127.0.0.1:{}", free_port());
    let unreachable = mailer(&closed)
        .send(&envelope("zhangsan@example.cn"))
        .unwrap_err();
    assert!(
        matches!(unreachable, MailError::Unreachable(_)),
        "{unreachable:?}"
    );
    for error in [&refused, &unreachable] {
        assert!(!error.to_string().contains(pin) && !format!("{error:?}").contains(pin));
    }
    let secret_url = "smtp://ca:hunter2-secret@127.0.0.1:1";
    let err = mailer(secret_url)
        .send(&envelope("zhangsan@example.cn"))
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");

    // Approval while the server is down: the error says so, the request stays
    // approved, and once mail works again a new PIN is sent and works.
    let ca = ca();
    let store = MemoryStore::new();
    let down = mailer(&closed);
    let ra_down = RegistrationAuthority::new(&store, &down, &ca, RaPolicy::default());
    let account = ra_down.create_account(&ops(), settings()).unwrap();
    let request = ra_down
        .apply(account.id, holder(), "张三的口令-2026")
        .unwrap();
    let err = ra_down.approve(&ops(), request.id).unwrap_err();
    assert!(
        matches!(err, Error::Mail(MailError::Unreachable(_))),
        "{err:?}"
    );
    assert_eq!(
        store.request(request.id).unwrap().unwrap().state,
        RequestState::Approved
    );
    let up = mailer(&sink.url());
    let ra = RegistrationAuthority::new(&store, &up, &ca, RaPolicy::default());
    ra.resend_pin(&ops(), request.id).unwrap();
    let pin = pin_in(&decode(sink.received().last().unwrap()));
    ra.retrieve(&pin, "张三的口令-2026", &csr()).unwrap();
}

#[test]
fn the_file_outbox_keeps_each_message_as_an_eml_file() {
    if Command::new("python3").arg("--version").output().is_err()
        && missing::<()>("python3 is needed to decode the outbox").is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mailer = mailer(&format!("file://{}", outbox.display()));
    for (mail, _) in every_message() {
        mailer
            .send(&Envelope {
                to: "zhangsan@example.cn".into(),
                language: Language::Chinese,
                mail,
            })
            .unwrap();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        every_message().len(),
        "one file each, no temporary left"
    );
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "eml"))
    );
    let last = decode(files.last().unwrap());
    assert_eq!(
        field(&last, "subject"),
        "证书更新申请已批准：身份识别码（申请号 42）".replace("更新", "替换")
    );
    assert!(field(&last, "body").contains("42-REPL-7KQ4-M9XD"));

    // An outbox that cannot be created is a clear error.
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, b"not a directory").unwrap();
    let err = LettreMailer::new(
        &MailConfig::from_url(&format!("file://{}/outbox", blocked.display()), FROM).unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("outbox"), "{err}");
}

#[test]
fn starttls_and_implicit_tls_with_authentication_deliver_to_a_private_ca_server() {
    // The mail server's certificate comes from a TopCA CA the mailer is told to trust.
    let root = CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap(),
        &DistinguishedName::with_common_name("Mail TLS Root"),
        &Profile::new(ProfileKind::RootCa, 3650).unwrap(),
        Environment::system(),
    )
    .unwrap();
    let server_key = SigningKey::generate(KeyAlgorithm::EcdsaP256, &OsRandom).unwrap();
    let mut names = topca_core::SubjectAltNames::default();
    names.add_host("127.0.0.1").unwrap();
    let server = root
        .issue(
            topca_core::IssueRequest {
                subject: DistinguishedName::with_common_name("127.0.0.1"),
                public_key: server_key.public_key().clone(),
                alt_names: names,
                not_after: None,
            },
            &Profile::new(ProfileKind::TlsServer, 30).unwrap(),
        )
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert, key, ca) = (
        files.path().join("server.pem"),
        files.path().join("server.key"),
        files.path().join("ca.pem"),
    );
    std::fs::write(&cert, server.to_pem()).unwrap();
    let key_der = server_key.to_pkcs8_der().unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", &key_der)).unwrap();
    std::fs::write(&ca, root.certificate().to_pem()).unwrap();

    for (mode, scheme, query) in [
        ("starttls", "smtp", "?tls=required"),
        ("implicit", "smtps", ""),
    ] {
        let Some(sink) = SmtpSink::start_with(&[
            mode,
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "topca",
            "p@ss:w0rd",
        ]) else {
            return;
        };
        let url = format!(
            "{scheme}://topca:p%40ss%3Aw0rd@127.0.0.1:{}{query}",
            sink.port
        );
        let envelope = Envelope {
            to: "zhangsan@example.cn".into(),
            language: Language::Chinese,
            mail: every_message().remove(0).0,
        };
        let trusting = LettreMailer::new(
            &MailConfig::from_url(&url, FROM)
                .unwrap()
                .with_trusted_ca(&ca),
        )
        .unwrap();
        trusting.send(&envelope).unwrap();
        assert_eq!(sink.received().len(), 1, "{mode}");
        // Without the private CA the certificate is not trusted: nothing is sent.
        let untrusting = mailer(&url);
        let err = untrusting.send(&envelope).unwrap_err();
        assert!(matches!(err, MailError::Unreachable(_)), "{mode}: {err:?}");
        assert_eq!(sink.received().len(), 1, "{mode}");
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
