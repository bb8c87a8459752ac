//! 获取用户证书 (manual 2.4) with the mailed PIN, and the passcode mode's
//! retrieval with a reference number and authorization code: a request made in
//! the browser (or pasted), or a key made by the server as a PKCS#12 file. Every
//! result shows the downloads and how to install them.

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
    routing::get,
};
use base64::Engine;
use serde::Deserialize;
use topca_core::{
    Certificate, CertificateRequest, format_utc,
    kmc::EnvelopeFormat,
    ra::{EncryptionDelivery, Retrieved},
};

use super::extract::{PageForm, PageQuery, holder_source};
use super::{chrome, install::Install, refuse, sm2_first};
use crate::{
    AppError, AppState,
    html::{self, Chrome, Lang, csrf_ok, csrf_token, form_expired},
    limits::ClientAddr,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/userEnroll/retrieve",
            get(retrieve_form).post(retrieve),
        )
        .route(
            "/TopCA/userEnroll/passcode",
            get(passcode_form).post(passcode_retrieve),
        )
}

/// The account a page was reached from, for its breadcrumbs only.
#[derive(Deserialize)]
pub(super) struct FromAccount {
    #[serde(default)]
    pub(super) account: Option<u64>,
}

#[derive(Template)]
#[template(path = "user/retrieve.html")]
struct RetrievePage {
    t: Lang,
    page: Chrome,
    csrf: String,
    sm2_first: bool,
}

#[derive(Template)]
#[template(path = "user/passcode.html")]
struct PasscodePage {
    t: Lang,
    page: Chrome,
    csrf: String,
    sm2_first: bool,
}

/// A page with the browser key generator.
fn with_generator(t: Lang, title: &str, account: Option<u64>) -> Chrome {
    let mut page = chrome(t, title, account);
    page.scripts
        .push(crate::assets::versioned(crate::assets::CSR_SCRIPT));
    page
}

async fn retrieve_form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<FromAccount>,
) -> Response {
    let t = Lang::of(&headers);
    let (csrf, cookie) = csrf_token(&headers);
    let template = RetrievePage {
        t,
        page: with_generator(t, t.s("user.retrieve.title"), q.account),
        csrf,
        sm2_first: sm2_first(&state),
    };
    html::render(StatusCode::OK, &template, cookie)
}

/// The encryption certificate of a dual retrieval or a recovery, with its key
/// enveloped for the signing key.
pub(super) struct Encryption {
    pub(super) serial: String,
    pub(super) pem: String,
    /// The envelope's download name.
    pub(super) file: &'static str,
    /// The envelope, base64 DER (a `data:` download; opened in the page for SM2).
    pub(super) key: String,
    /// Whether the page opens it (SM2 envelope).
    pub(super) sm2: bool,
}

impl Encryption {
    pub(super) fn of(delivery: &EncryptionDelivery) -> Self {
        Self {
            serial: delivery.certificate.serial_hex(),
            pem: delivery.certificate.to_pem(),
            file: delivery.enveloped_key.format.file_name(),
            key: base64::engine::general_purpose::STANDARD.encode(&delivery.enveloped_key.der),
            sm2: delivery.enveloped_key.format == EnvelopeFormat::Sm2EnvelopedKey,
        }
    }
}

/// An issued certificate with its downloads and install instructions.
#[derive(Template)]
#[template(path = "user/issued.html")]
pub(super) struct IssuedPage {
    pub(super) t: Lang,
    pub(super) page: Chrome,
    pub(super) intro: String,
    pub(super) serial: String,
    pub(super) subject: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) pem: String,
    /// The PKCS#12 file (base64), when the server made the key.
    pub(super) p12: Option<String>,
    pub(super) encryption: Option<Encryption>,
    pub(super) install: Install,
}

impl IssuedPage {
    /// The page for `retrieved`, titled by catalogue key `title`.
    pub(super) fn new(t: Lang, page: Chrome, retrieved: &Retrieved) -> Self {
        let certificate = &retrieved.certificate;
        let mut install = Install::new(certificate, false);
        if let Some(e) = &retrieved.encryption {
            install = install.with_encryption(e.certificate.serial_hex(), e.enveloped_key.format);
        }
        Self::of(t, page, certificate, install, retrieved.encryption.as_ref())
    }

    fn of(
        t: Lang,
        mut page: Chrome,
        certificate: &Certificate,
        install: Install,
        encryption: Option<&EncryptionDelivery>,
    ) -> Self {
        // Opens an SM2 envelope, and forgets a renewal's waiting request.
        page.scripts
            .push(crate::assets::versioned(crate::assets::CSR_SCRIPT));
        Self {
            t,
            page,
            intro: t.s("user.issued.done").to_owned(),
            serial: certificate.serial_hex(),
            subject: certificate.subject_text(),
            from: format_utc(certificate.not_before()),
            to: format_utc(certificate.not_after()),
            pem: certificate.to_pem(),
            p12: None,
            encryption: encryption.map(Encryption::of),
            install,
        }
    }
}

/// A page holding a key (PKCS#12 or an envelope) is never stored by caches.
pub(super) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
struct RetrieveForm {
    csrf: String,
    pin: String,
    password: String,
    #[serde(default)]
    csr: String,
    #[serde(default)]
    generate: Option<String>,
}

/// The request pasted or made in the browser, refused in the page's language.
fn parse_request(text: &str) -> Result<CertificateRequest, AppError> {
    CertificateRequest::parse(text.as_bytes())
        .map_err(|e| AppError::from(topca_core::Error::from(e)))
}

async fn retrieve(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<RetrieveForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = "/TopCA/userEnroll/retrieve";
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let source = match holder_source(&state, client) {
        Ok(source) => source,
        Err(e) => return refuse(t, &e, back),
    };
    let password = zeroize::Zeroizing::new(form.password);
    let pin = form.pin;
    let page = chrome(t, t.s("user.retrieve.title"), None);
    if form.generate.is_some() {
        let result = state
            .hashing
            .run(&state, move |s| {
                Ok(s.ra()
                    .for_client(source)
                    .retrieve_with_generated_key(&pin, &password)?)
            })
            .await;
        return match result {
            Ok(delivery) => {
                let certificate = &delivery.certificate;
                let mut install = Install::new(certificate, true);
                if let Some(e) = &delivery.encryption {
                    install =
                        install.with_encryption(e.certificate.serial_hex(), e.enveloped_key.format);
                }
                let encryption = delivery.encryption.as_ref();
                let mut template = IssuedPage::of(t, page, certificate, install, encryption);
                template.p12 = Some(
                    base64::engine::general_purpose::STANDARD.encode(delivery.pkcs12.as_slice()),
                );
                template.intro = t.s("user.issued.p12_done").to_owned();
                no_store(html::render(StatusCode::OK, &template, None))
            }
            Err(e) => refuse(t, &e, back),
        };
    }
    let csr = match parse_request(&form.csr) {
        Ok(csr) => csr,
        Err(e) => return refuse(t, &e, back),
    };
    let result = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra().for_client(source).retrieve(&pin, &password, &csr)?)
        })
        .await;
    match result {
        Ok(retrieved) => no_store(html::render(
            StatusCode::OK,
            &IssuedPage::new(t, page, &retrieved),
            None,
        )),
        Err(e) => refuse(t, &e, back),
    }
}

/// Passcode mode: the reference number and authorization code from the mail, the
/// user password chosen now, and the key (made in the browser or a pasted CSR).
async fn passcode_form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<FromAccount>,
) -> Response {
    let t = Lang::of(&headers);
    let (csrf, cookie) = csrf_token(&headers);
    let template = PasscodePage {
        t,
        page: with_generator(t, t.s("user.passcode.title"), q.account),
        csrf,
        sm2_first: sm2_first(&state),
    };
    html::render(StatusCode::OK, &template, cookie)
}

#[derive(Deserialize)]
struct PasscodeForm {
    csrf: String,
    reference: String,
    code: String,
    password: String,
    password2: String,
    csr: String,
}

async fn passcode_retrieve(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<PasscodeForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = "/TopCA/userEnroll/passcode";
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let source = match holder_source(&state, client) {
        Ok(source) => source,
        Err(e) => return refuse(t, &e, back),
    };
    if form.password != form.password2 {
        return refuse(
            t,
            &AppError::localized(StatusCode::BAD_REQUEST, "user.passwords_differ"),
            back,
        );
    }
    let csr = match parse_request(&form.csr) {
        Ok(csr) => csr,
        Err(e) => return refuse(t, &e, back),
    };
    let password = zeroize::Zeroizing::new(form.password);
    let code = zeroize::Zeroizing::new(form.code);
    let reference = form.reference;
    match state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .for_client(source)
                .retrieve_with_passcode(&reference, &code, &password, &csr)?)
        })
        .await
    {
        Ok(retrieved) => {
            let page = chrome(t, t.s("user.passcode.title"), None);
            no_store(html::render(
                StatusCode::OK,
                &IssuedPage::new(t, page, &retrieved),
                None,
            ))
        }
        Err(e) => refuse(t, &e, back),
    }
}
