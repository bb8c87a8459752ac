//! A server with RA accounts for machine clients, as the machine-client tests
//! (single calls and batches) set it up.

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use topca_core::{
    KeyAlgorithm,
    lifecycle::{CertificateType, VerificationMode},
    ra::{AccountSettings, AdminRole, Administrator, Language, ServerPolicy},
};
use topca_server::{
    AppState,
    machine_clients::{self, ClientSpec},
    setup::start,
};

use super::{assert_every_certificate_recorded, openssl_outcome, options, send};

/// A started server with one account per domain.
pub struct MachineServer {
    pub data: tempfile::TempDir,
    /// A scratch directory for CSRs and keys.
    pub work: tempfile::TempDir,
    pub state: Arc<AppState>,
    pub app: Router,
    /// The accounts, in the order of their domains; each one's server policy
    /// allows its domain.
    pub accounts: Vec<u64>,
    /// Certificates stored at start (the OCSP responder's).
    pub before: usize,
}

/// A server with an account for each of `domains`, made by an RA
/// administrator (P-256, one year, manual verification).
pub fn machine_server(domains: &[&str]) -> MachineServer {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let state = Arc::new(state);
    let ops = Administrator {
        name: "ra".into(),
        roles: vec![AdminRole::RaAdmin],
    }
    .ra_ops()
    .unwrap();
    let mut accounts = Vec::new();
    for domain in domains {
        let id = state
            .ra()
            .create_account(
                &ops,
                AccountSettings {
                    organization: "天诚安信".into(),
                    unit: (*domain).into(),
                    certificate_type: CertificateType::Single,
                    verification: VerificationMode::Manual,
                    algorithm: KeyAlgorithm::EcdsaP256,
                    validity_days: 365,
                    service_url: "http://127.0.0.1:8080/TopCA/serverEnroll".into(),
                    language: Language::Chinese,
                },
            )
            .unwrap()
            .id;
        state
            .ra()
            .set_server_policy(
                &ops,
                id,
                ServerPolicy {
                    allowed_domains: vec![(*domain).into()],
                    ..ServerPolicy::default()
                },
            )
            .unwrap();
        accounts.push(id.0);
    }
    let app = topca_server::router(Arc::clone(&state));
    let before = assert_every_certificate_recorded(&state, 0);
    MachineServer {
        before,
        data,
        work: tempfile::tempdir().unwrap(),
        state,
        app,
        accounts,
    }
}

impl MachineServer {
    /// `client add`: the token printed.
    pub fn add(&self, spec: ClientSpec) -> String {
        let lines = machine_clients::add(&options(self.data.path()), &spec).unwrap();
        assert!(lines[0].contains(&spec.name), "{lines:?}");
        lines.last().unwrap().clone()
    }

    /// `client add NAME --account ACCOUNT`: the token printed.
    pub fn client(&self, name: &str, account: u64) -> String {
        self.add(ClientSpec {
            name: name.into(),
            account,
            ..ClientSpec::default()
        })
    }
}

/// A P-256 CSR for `cn` with `sans` (`DNS:…`, none when empty), made by
/// OpenSSL in `dir` as `FILE.csr` with its key in `FILE.key`.
pub fn p256_csr(dir: &Path, file: &str, cn: &str, sans: &str) -> String {
    let (key, out) = (format!("{file}.key"), format!("{file}.csr"));
    let subject = format!("/CN={cn}");
    let mut args = vec![
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &subject,
        "-keyout",
        &key,
        "-out",
        &out,
    ];
    let ext = format!("subjectAltName={sans}");
    if !sans.is_empty() {
        args.extend(["-addext", &ext]);
    }
    let (ok, text) = openssl_outcome(dir, &args);
    assert!(ok, "{text}");
    std::fs::read_to_string(dir.join(out)).unwrap()
}

/// POSTs JSON `body` to `uri` with the bearer `token` (none when `None`):
/// the status and the answer's JSON (`Null` when it is none).
pub async fn post_bearer(
    app: &Router,
    uri: &str,
    token: Option<&str>,
    body: String,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, body, _) = send(app, request.body(Body::from(body)).unwrap()).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}
