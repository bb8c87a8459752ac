//! The RA's review of server applications and each account's server certificate
//! policy. The review shows what approval would sign — subject, every
//! alternative name, the key — as the core reads it back from the certificate it
//! prepares, and whether the account's policy refuses it; the policy (allowed
//! domains, wildcards, IP addresses, most names) is set here, page and API, by
//! an RA administrator and audited by the RA.

use std::sync::Arc;

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
    routing::get,
};
use serde::{Deserialize, Serialize};
use topca_core::ra::{AccountId, Administrator, RequestId, ServerPolicy, ServerReview};

use crate::{
    AppError, AppState,
    admin_session::{api_session, console_csrf, console_form, console_session, forbidden},
    html::{Lang, error_page, escape, page},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/requests/{id}", get(review_page))
        .route(
            "/TopCA/admin/ra/accounts/{id}/server-policy",
            get(policy_page).post(save_policy_page),
        )
        .route("/api/v1/admin/requests/{id}", get(review_api))
        .route(
            "/api/v1/admin/accounts/{id}/server-policy",
            get(policy_api).put(save_policy_api),
        )
}

/// A server application as the API shows it to the approver.
#[derive(Serialize, utoipa::ToSchema)]
struct ReviewView {
    request: u64,
    account: u64,
    state: &'static str,
    holder: String,
    email: String,
    /// The subject that would be signed.
    subject: String,
    /// Every subjectAltName that would be signed (`DNS:…`, `IP:…`, `email:…`).
    names: Vec<String>,
    /// Algorithm and size of the key.
    key: String,
    /// Why the account's policy refuses it now, if it does.
    refusal: Option<String>,
}

impl From<ServerReview> for ReviewView {
    fn from(r: ServerReview) -> Self {
        Self {
            request: r.request.id.0,
            account: r.request.account.0,
            state: r.request.state.label(),
            holder: r.request.holder.name,
            email: r.request.holder.email,
            subject: r.subject,
            names: r.names,
            key: r.key,
            refusal: r.refusal,
        }
    }
}

/// An account's server certificate policy, as the API reads and writes it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
struct PolicyBody {
    allowed_domains: Vec<String>,
    allow_wildcards: bool,
    allow_ip_addresses: bool,
    #[serde(default = "default_max_names")]
    max_names: u32,
}

fn default_max_names() -> u32 {
    topca_core::ra::DEFAULT_MAX_NAMES
}

impl From<ServerPolicy> for PolicyBody {
    fn from(p: ServerPolicy) -> Self {
        Self {
            allowed_domains: p.allowed_domains,
            allow_wildcards: p.allow_wildcards,
            allow_ip_addresses: p.allow_ip_addresses,
            max_names: p.max_names,
        }
    }
}

impl From<PolicyBody> for ServerPolicy {
    fn from(p: PolicyBody) -> Self {
        Self {
            allowed_domains: p.allowed_domains,
            allow_wildcards: p.allow_wildcards,
            allow_ip_addresses: p.allow_ip_addresses,
            max_names: p.max_names,
        }
    }
}

async fn review(state: &Arc<AppState>, id: u64) -> Result<ServerReview, AppError> {
    blocking(state, move |s| Ok(s.ra().review_server(RequestId(id))?)).await
}

async fn load_policy(state: &Arc<AppState>, id: u64) -> Result<ServerPolicy, AppError> {
    blocking(state, move |s| Ok(s.ra().server_policy(AccountId(id))?)).await
}

// ---- API ----

/// Reviews a server application: the subject, every name and the key approval
/// would sign, and the account policy's verdict (RA administrators).
#[utoipa::path(get, path = "/api/v1/admin/requests/{id}", tag = crate::api::tags::RA,
    params(("id" = u64, Path, description = "The request's number")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The review", body = ReviewView),
        (status = 400, description = "Not a server application"),
        (status = 404, description = "No such request"),
    ))]
async fn review_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<ReviewView>, AppError> {
    api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    Ok(Json(review(&state, id).await?.into()))
}

/// An account's server certificate policy (RA administrators).
#[utoipa::path(get, path = "/api/v1/admin/accounts/{id}/server-policy", tag = crate::api::tags::RA,
    params(crate::api::AccountPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy", body = PolicyBody),
        (status = 404, description = "No such account"),
    ))]
async fn policy_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<PolicyBody>, AppError> {
    api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    Ok(Json(load_policy(&state, id).await?.into()))
}

/// Sets an account's server certificate policy (RA administrators, audited).
#[utoipa::path(put, path = "/api/v1/admin/accounts/{id}/server-policy", tag = crate::api::tags::RA,
    params(crate::api::AccountPath), request_body = PolicyBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Saved", body = PolicyBody),
        (status = 400, description = "Invalid policy"),
        (status = 404, description = "No such account"),
    ))]
async fn save_policy_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<PolicyBody>,
) -> Result<Json<PolicyBody>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    let policy = ServerPolicy::from(body);
    let saved = blocking(&state, move |s| {
        Ok(s.ra().set_server_policy(&ops, AccountId(id), policy)?)
    })
    .await?;
    Ok(Json(saved.into()))
}

// ---- pages ----

/// One server application: what approval would sign, then approve or reject.
async fn review_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(lang);
    }
    let review = match review(&state, id).await {
        Ok(review) => review,
        Err(e) => return error_page(lang, &e),
    };
    let (csrf, cookie) = (console_csrf(&headers), None);
    let names: String = review
        .names
        .iter()
        .map(|n| format!("<li>{}</li>", escape(n)))
        .collect();
    let verdict = match &review.refusal {
        Some(why) => format!(
            r#"<p class="error" id="refusal">{} {}</p>"#,
            lang.t("按帐户策略不能签发：", "The account's policy refuses it:"),
            escape(why)
        ),
        None => format!(
            r#"<p class="ok" id="allowed">{}</p>"#,
            lang.t(
                "所有名称均在帐户策略允许范围内。",
                "Every name is within the account's policy."
            )
        ),
    };
    let body = format!(
        r#"<table id="review"><tr><th>{request_l}</th><td>{id}</td></tr>
<tr><th>{email_l}</th><td>{email}</td></tr>
<tr><th>{subject_l}</th><td id="subject">{subject}</td></tr>
<tr><th>{key_l}</th><td id="key">{key}</td></tr></table>
<h3>{names_l} ({count})</h3><ul id="signed-names">{names}</ul>{verdict}
<form method="post" action="/TopCA/admin/ra/requests/{id}/approve"><input type="hidden" name="csrf" value="{csrf}"><button id="approve">{approve}</button></form>
<form method="post" action="/TopCA/admin/ra/requests/{id}/reject"><input type="hidden" name="csrf" value="{csrf}"><input name="reason" placeholder="{reason}" required><button>{reject}</button></form>
<p><a href="/TopCA/admin/ra/accounts/{account}/server-policy">{policy_l}</a> · <a href="/TopCA/admin">{back}</a></p>"#,
        request_l = lang.t("申请号", "Request"),
        id = review.request.id.0,
        email_l = lang.t("联系电子邮件", "Contact e-mail"),
        email = escape(&review.request.holder.email),
        subject_l = lang.t("将签发的主题", "Subject to be signed"),
        subject = escape(&review.subject),
        key_l = lang.t("密钥", "Key"),
        key = escape(&review.key),
        names_l = lang.t("将签发的全部名称（SAN）", "Every name to be signed (SAN)"),
        count = review.names.len(),
        approve = lang.t("批准并签发", "Approve and issue"),
        reason = lang.t("拒绝原因", "Reason"),
        reject = lang.t("拒绝", "Reject"),
        account = review.request.account.0,
        policy_l = lang.t(
            "帐户的服务器证书策略",
            "The account's server certificate policy"
        ),
        back = lang.t("返回控制台", "Back to the console"),
    );
    page(
        lang,
        lang.t(
            "审核服务器证书申请",
            "Review a server certificate application",
        ),
        &body,
        cookie,
    )
}

async fn policy_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(lang);
    }
    let policy = match load_policy(&state, id).await {
        Ok(policy) => policy,
        Err(e) => return error_page(lang, &e),
    };
    let (csrf, cookie) = (console_csrf(&headers), None);
    let checked = |on: bool| if on { " checked" } else { "" };
    let body = format!(
        r#"<form method="post" action="/TopCA/admin/ra/accounts/{id}/server-policy" id="server-policy">
<input type="hidden" name="csrf" value="{csrf}">
<label for="domains">{domains_l}</label><textarea id="domains" name="domains" rows="5">{domains}</textarea>
<label><input type="checkbox" name="wildcards" value="1"{wildcards}> {wildcards_l}</label>
<label><input type="checkbox" name="ip_addresses" value="1"{ips}> {ips_l}</label>
<label for="max_names">{max_l}</label><input id="max_names" name="max_names" type="number" min="1" max="{ceiling}" value="{max}">
<button type="submit" id="save-policy">{save}</button></form>
<p><a href="/TopCA/admin/ra/accounts/{id}">{back}</a></p>"#,
        domains_l = lang.t(
            "允许的域名（每行一个；名称等于该域名或以“.域名”结尾）",
            "Allowed domains (one per line; a name equals one or ends with \".\" and one)"
        ),
        domains = escape(&policy.allowed_domains.join("\n")),
        wildcards = checked(policy.allow_wildcards),
        wildcards_l = lang.t("允许通配符名称（*.）", "Allow wildcard names (*.)"),
        ips = checked(policy.allow_ip_addresses),
        ips_l = lang.t("允许 IP 地址", "Allow IP addresses"),
        max_l = lang.t("每张证书最多名称数", "Most names per certificate"),
        ceiling = topca_core::ra::MAX_NAMES_CEILING,
        max = policy.max_names,
        save = lang.t("保存", "Save"),
        back = lang.t("返回帐户", "Back to the account"),
    );
    page(
        lang,
        lang.t("服务器证书策略", "Server certificate policy"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct PolicyForm {
    csrf: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    wildcards: Option<String>,
    #[serde(default)]
    ip_addresses: Option<String>,
    max_names: String,
}

async fn save_policy_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<PolicyForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let Ok(max_names) = form.max_names.trim().parse::<u32>() else {
        return error_page(
            lang,
            &AppError::bad_request("the most names per certificate must be a whole number"),
        );
    };
    let policy = ServerPolicy {
        allowed_domains: form.domains.lines().map(str::to_owned).collect(),
        allow_wildcards: form.wildcards.is_some(),
        allow_ip_addresses: form.ip_addresses.is_some(),
        max_names,
    };
    let saved = blocking(&state, move |s| {
        Ok(s.ra().set_server_policy(&ops, AccountId(id), policy)?)
    })
    .await;
    match saved {
        Ok(policy) => {
            let body = format!(
                r#"<p class="ok" id="saved">{} {}</p><p><a href="/TopCA/admin/ra/accounts/{id}/server-policy">{}</a></p>"#,
                lang.t("服务器证书策略已保存：", "Server certificate policy saved:"),
                escape(&policy.allowed_domains.join(", ")),
                lang.t("返回", "Back"),
            );
            page(
                lang,
                lang.t("服务器证书策略", "Server certificate policy"),
                &body,
                None,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}
