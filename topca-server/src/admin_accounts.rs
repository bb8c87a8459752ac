//! The RA's account actions: the account form, creating and editing accounts
//! (page and API), pre-registering holders and central issuance.

use std::sync::Arc;

use askama::Template;

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    KeyAlgorithm,
    lifecycle::{CertificateType, VerificationMode},
    ra::{Account, AccountId, AccountSettings, Administrator, Holder, Language},
};

use crate::{
    AppError, AppState,
    admin::Decision,
    admin_session::{api_session, console_admin_form, forbidden},
    html::error_page_back,
    i18n::Lang,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/admin/ra/accounts",
            get(crate::admin_ra::accounts_page).post(create_account_page),
        )
        .route("/api/v1/admin/accounts", post(create_account_api))
        .route(
            "/api/v1/admin/accounts/{id}",
            axum::routing::put(update_account_api),
        )
        .route(
            "/api/v1/admin/accounts/{id}/preregistrations",
            post(preregister_api),
        )
        .route(
            "/api/v1/admin/accounts/{id}/preregistrations/csv",
            post(preregister_csv_api),
        )
        .route(
            "/api/v1/admin/accounts/{id}/central-issuance",
            post(issue_centrally_api),
        )
}

/// One choice of a picker.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices(pairs: &[(&str, &str)], chosen: &str) -> Vec<Choice> {
    pairs
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: *value == chosen,
        })
        .collect()
}

/// The account form, rendered into a page.
#[derive(Template)]
#[template(path = "ra/account_form.html")]
struct AccountFormView<'a> {
    t: Lang,
    title: &'a str,
    button: &'a str,
    form_id: &'a str,
    button_id: &'a str,
    action: &'a str,
    csrf: &'a str,
    organization: &'a str,
    unit: &'a str,
    kinds: Vec<Choice>,
    modes: Vec<Choice>,
    algorithms: Vec<Choice>,
    validity_days: u32,
    service_url: &'a str,
    languages: Vec<Choice>,
}

/// The console's account form: empty to create an account, or filled with
/// `current` to edit one; posts to `action`.
pub(crate) fn account_form(
    t: Lang,
    csrf: &str,
    action: &str,
    current: Option<&AccountSettings>,
    base_url: &str,
) -> String {
    let default_url = format!("{base_url}/TopCA/userEnroll");
    let (o, ou, kind, mode, alg, days, url, language) = match current {
        Some(c) => (
            c.organization.as_str(),
            c.unit.as_str(),
            match c.certificate_type {
                CertificateType::Single => "single",
                CertificateType::Dual => "dual",
            },
            match c.verification {
                VerificationMode::Automatic => "automatic",
                VerificationMode::Manual => "manual",
                VerificationMode::Passcode => "passcode",
            },
            c.algorithm.name(),
            c.validity_days,
            c.service_url.as_str(),
            match c.language {
                Language::English => "en",
                Language::Chinese => "zh",
            },
        ),
        None => (
            "",
            "",
            "single",
            "manual",
            KeyAlgorithm::ALL[0].name(),
            365,
            default_url.as_str(),
            "zh",
        ),
    };
    let editing = current.is_some();
    let kinds = choices(
        &[
            (
                "single",
                &t.value("certificate_type", CertificateType::Single),
            ),
            ("dual", &t.value("certificate_type", CertificateType::Dual)),
        ],
        kind,
    );
    let modes = choices(
        &[
            ("manual", &t.value("verification", VerificationMode::Manual)),
            (
                "automatic",
                &t.value("verification", VerificationMode::Automatic),
            ),
            (
                "passcode",
                &t.value("verification", VerificationMode::Passcode),
            ),
        ],
        mode,
    );
    let view = AccountFormView {
        t,
        title: t.s(if editing {
            "ra.form.edit_title"
        } else {
            "ra.form.new_title"
        }),
        button: t.s(if editing {
            "ra.form.save"
        } else {
            "ra.form.create"
        }),
        form_id: if editing {
            "edit-account"
        } else {
            "new-account"
        },
        button_id: if editing {
            "save-account"
        } else {
            "create-account"
        },
        action,
        csrf,
        organization: o,
        unit: ou,
        kinds,
        modes,
        algorithms: choices(&KeyAlgorithm::ALL.map(|a| (a.name(), a.name())), alg),
        validity_days: days,
        service_url: url,
        languages: choices(&[("zh", "简体中文"), ("en", "English")], language),
    };
    view.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the account form does not render");
        String::new()
    })
}

/// Account settings as a form or JSON body gives them.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct AccountBody {
    pub(crate) organization: String,
    pub(crate) unit: String,
    /// `single` or `dual`.
    #[schema(pattern = "^(single|dual)$")]
    pub(crate) certificate_type: String,
    /// `automatic`, `manual` or `passcode`.
    #[schema(pattern = "^(automatic|manual|passcode)$")]
    pub(crate) verification: String,
    /// `sm2`, `p256`, …
    pub(crate) algorithm: String,
    pub(crate) validity_days: u32,
    pub(crate) service_url: String,
    /// `zh` or `en`.
    #[serde(default)]
    pub(crate) language: Option<String>,
}

impl AccountBody {
    pub(crate) fn settings(self) -> Result<AccountSettings, AppError> {
        Ok(AccountSettings {
            organization: self.organization.trim().to_owned(),
            unit: self.unit.trim().to_owned(),
            certificate_type: match self.certificate_type.as_str() {
                "single" => CertificateType::Single,
                "dual" => CertificateType::Dual,
                _ => {
                    return Err(AppError::localized(
                        StatusCode::BAD_REQUEST,
                        "ra.form.bad_certificate_type",
                    ));
                }
            },
            verification: match self.verification.as_str() {
                "automatic" => VerificationMode::Automatic,
                "manual" => VerificationMode::Manual,
                "passcode" => VerificationMode::Passcode,
                _ => {
                    return Err(AppError::localized(
                        StatusCode::BAD_REQUEST,
                        "ra.form.bad_verification",
                    ));
                }
            },
            algorithm: self
                .algorithm
                .parse()
                .map_err(|e: topca_core::KeyError| AppError::from(topca_core::Error::from(e)))?,
            validity_days: self.validity_days,
            service_url: self.service_url.trim().to_owned(),
            language: match self.language.as_deref() {
                Some("en") => Language::English,
                _ => Language::Chinese,
            },
        })
    }
}

/// An account.
#[derive(Serialize, utoipa::ToSchema)]
struct AccountView {
    /// The account's number.
    id: u64,
    organization: String,
    unit: String,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.0,
            organization: a.settings.organization,
            unit: a.settings.unit,
        }
    }
}

async fn create_account(
    state: &Arc<AppState>,
    admin: Administrator,
    body: AccountBody,
) -> Result<Account, AppError> {
    let ops = admin.ra_ops().map_err(forbidden)?;
    let settings = body.settings()?;
    blocking(state, move |s| Ok(s.ra().create_account(&ops, settings)?)).await
}

/// The account form as posted (create or edit).
#[derive(Deserialize)]
pub(crate) struct AccountForm {
    pub(crate) csrf: String,
    organization: String,
    unit: String,
    certificate_type: String,
    verification: String,
    algorithm: String,
    validity_days: u32,
    service_url: String,
    #[serde(default)]
    language: Option<String>,
}

impl AccountForm {
    /// The settings part of the form.
    pub(crate) fn body(self) -> AccountBody {
        AccountBody {
            organization: self.organization,
            unit: self.unit,
            certificate_type: self.certificate_type,
            verification: self.verification,
            algorithm: self.algorithm,
            validity_days: self.validity_days,
            service_url: self.service_url,
            language: self.language,
        }
    }
}

async fn create_account_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let admin = match console_admin_form(&state, &headers, &form.csrf).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(lang),
    };
    match create_account(&state, admin, form.body()).await {
        Ok(account) => crate::admin_ra::Done::page(
            lang,
            lang.s("ra.form.new_title"),
            (
                "created",
                lang.f2(
                    "ra.created.done",
                    format!(
                        "{} / {}",
                        account.settings.organization, account.settings.unit
                    ),
                    account.id.0,
                ),
            ),
            "/TopCA/admin".to_owned(),
        ),
        Err(e) => error_page_back(lang, &e, "/TopCA/admin"),
    }
}

/// Creates an account (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/accounts", tag = crate::api::tags::RA,
    request_body = AccountBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Created", body = AccountView),
        (status = 400, description = "Invalid settings"),
    ))]
async fn create_account_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<AccountBody>,
) -> Result<Json<AccountView>, AppError> {
    Ok(Json(AccountView::from(
        create_account(&state, api_session(&state, &headers).await?, body).await?,
    )))
}

/// Changes an account's settings (RA administrators).
#[utoipa::path(put, path = "/api/v1/admin/accounts/{id}", tag = crate::api::tags::RA,
    params(crate::api::AccountPath), request_body = AccountBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = AccountView),
        (status = 400, description = "Invalid settings"),
        (status = 404, description = "No such account"),
    ))]
async fn update_account_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<AccountBody>,
) -> Result<Json<AccountView>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let settings = body.settings()?;
    let account = blocking(&state, move |s| {
        Ok(s.ra().update_account(&ops, AccountId(id), settings)?)
    })
    .await?;
    Ok(Json(AccountView::from(account)))
}

/// A holder registered by an administrator.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct HolderBody {
    name: String,
    email: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    locality: Option<String>,
}

impl HolderBody {
    pub(crate) fn holder(self) -> Holder {
        Holder {
            name: self.name,
            email: self.email,
            phone: self.phone,
            state: self.state,
            locality: self.locality,
        }
    }
}

/// Passcode mode: one holder pre-registered; the reference number and the
/// authorization code are mailed to them.
#[utoipa::path(post, path = "/api/v1/admin/accounts/{id}/preregistrations", tag = crate::api::tags::RA,
    params(crate::api::AccountPath), request_body = HolderBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Registered; the reference number and code are mailed", body = Decision),
        (status = 400, description = "A field is invalid, or not a passcode account"),
        (status = 404, description = "No such account"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn preregister_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<HolderBody>,
) -> Result<Json<Decision>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let holder = body.holder();
    blocking(&state, move |s| {
        let request = s.ra().preregister(&ops, AccountId(id), holder)?;
        Ok(Json(Decision {
            request: request.id.0,
            state: request.state.label(),
        }))
    })
    .await
}

/// What became of each line of a CSV file.
#[derive(Serialize, utoipa::ToSchema)]
struct BulkView {
    /// The public references of the requests registered.
    registered: Vec<String>,
    rejected: Vec<RowView>,
}

/// A line of a CSV file that was not registered.
#[derive(Serialize, utoipa::ToSchema)]
struct RowView {
    line: usize,
    reason: String,
}

/// Passcode mode from a CSV file (the request body): good rows registered, bad
/// rows reported by line.
#[utoipa::path(post, path = "/api/v1/admin/accounts/{id}/preregistrations/csv", tag = crate::api::tags::RA,
    params(crate::api::AccountPath),
    request_body(content = String, content_type = "text/csv",
        description = "One holder a line: name,email[,phone,state,locality]"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lines registered and those rejected", body = BulkView),
        (status = 400, description = "Not a passcode account, or the file is not CSV text"),
        (status = 404, description = "No such account"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn preregister_csv_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    body: String,
) -> Result<Json<BulkView>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let report = blocking(&state, move |s| {
        Ok(s.ra().preregister_csv(&ops, AccountId(id), &body)?)
    })
    .await?;
    Ok(Json(BulkView {
        registered: report.registered.into_iter().map(|r| r.0).collect(),
        rejected: report
            .rejected
            .into_iter()
            .map(|r| RowView {
                line: r.line,
                reason: r.reason,
            })
            .collect(),
    }))
}

/// A holder and the password of the PKCS#12 file made for them.
#[derive(Deserialize, utoipa::ToSchema)]
struct CentralIssuance {
    #[serde(flatten)]
    holder: HolderBody,
    /// Protects the PKCS#12 file and becomes the holder's user password.
    #[schema(format = Password)]
    password: String,
}

/// A certificate issued centrally and its key.
#[derive(Serialize, utoipa::ToSchema)]
struct CentralView {
    /// The serial number, hexadecimal.
    serial: String,
    certificate: String,
    /// The PKCS#12 file, base64.
    pkcs12: String,
}

/// Central issuance: a key made by the CA, the certificate and key returned as a
/// PKCS#12 file under the given password.
#[utoipa::path(post, path = "/api/v1/admin/accounts/{id}/central-issuance", tag = crate::api::tags::RA,
    params(crate::api::AccountPath), request_body = CentralIssuance, security(("bearer" = [])),
    responses(
        (status = 200, description = "Issued: the certificate and the PKCS#12 file", body = CentralView),
        (status = 400, description = "A field is invalid, or the password too weak"),
        (status = 404, description = "No such account"),
    ))]
async fn issue_centrally_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<CentralIssuance>,
) -> Result<Json<CentralView>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let holder = body.holder.holder();
    let password = zeroize::Zeroizing::new(body.password);
    let delivery = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .issue_centrally(&ops, AccountId(id), holder, &password)?)
        })
        .await?;
    use base64::Engine;
    Ok(Json(CentralView {
        serial: delivery.certificate.serial_hex(),
        certificate: delivery.certificate.to_pem(),
        pkcs12: base64::engine::general_purpose::STANDARD.encode(&*delivery.pkcs12),
    }))
}
