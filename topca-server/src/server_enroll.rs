//! The server certificate enrollment centre (`/TopCA/serverEnroll`, manual
//! chapter 3): login by O/OU keyword, apply from a pasted CSR (its fields shown,
//! the contact e-mail editable, the subscriber agreement required before the
//! submit button appears), query and revoke, the chain as `certChain.p7b`, the CRL.

use std::sync::Arc;

use axum::{
    Form, Router,
    extract::{Query, State},
    http::HeaderMap,
    response::Response,
    routing::get,
};
use serde::Deserialize;
use topca_core::{
    CertificateRequest, lifecycle::VerificationMode, ra::AccountId, store::AccountStore,
};

use crate::{
    AppError, AppState,
    html::{Lang, account_search, csrf_ok, csrf_token, error_page, escape, form_expired, page},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/serverEnroll", get(login))
        .route("/TopCA/serverEnroll/home", get(home))
        .route("/TopCA/serverEnroll/apply", get(csr_form).post(apply))
        .route("/TopCA/serverEnroll/review", axum::routing::post(review))
}

async fn login(headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let body = account_search(lang, "/TopCA/serverEnroll/home");
    page(
        lang,
        lang.t("服务器证书服务中心", "Server certificate service centre"),
        &body,
        None,
    )
}

#[derive(Deserialize)]
struct AccountQuery {
    account: u64,
}

async fn home(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
) -> Response {
    let lang = Lang::of(&headers);
    let id = q.account;
    let account = blocking(&state, move |s| {
        s.store
            .account(AccountId(id))
            .map_err(topca_core::Error::from)?
            .ok_or_else(|| {
                AppError::from(topca_core::Error::Ra(topca_core::RaError::UnknownAccount))
            })
    })
    .await;
    let account = match account {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    let items = [
        (
            format!("/TopCA/serverEnroll/apply?account={id}"),
            lang.t("申请服务器证书", "Apply for a server certificate"),
        ),
        (
            format!("/TopCA/userEnroll/query?account={id}"),
            lang.t(
                "查询 / 吊销服务器证书",
                "Query / revoke server certificates",
            ),
        ),
        (
            "/TopCA/ca/certChain.p7b".to_owned(),
            lang.t(
                "下载 CA 证书链（certChain.p7b）",
                "Download the CA chain (certChain.p7b)",
            ),
        ),
        (
            "/TopCA/crl".to_owned(),
            lang.t("下载证书吊销列表", "Download the CRL"),
        ),
    ];
    let list: String = items
        .iter()
        .map(|(href, label)| {
            format!(
                r#"<li><a href="{}">{}</a></li>"#,
                escape(href),
                escape(label)
            )
        })
        .collect();
    let note = if account.settings.verification == VerificationMode::Manual {
        String::new()
    } else {
        format!(
            r#"<p class="error">{}</p>"#,
            lang.t("此帐户不是人工审核帐户，不能申请服务器证书。", "This account is not approved by an administrator: it cannot apply for server certificates.")
        )
    };
    let body = format!(
        r#"<p id="account">{}</p>{note}<ul id="functions">{list}</ul>"#,
        escape(&format!(
            "{}{} / {}",
            state.demo_mark(account.id),
            account.settings.organization,
            account.settings.unit
        ))
    );
    page(
        lang,
        lang.t("服务器证书服务中心", "Server certificate service centre"),
        &body,
        None,
    )
}

async fn csr_form(headers: HeaderMap, Query(q): Query<AccountQuery>) -> Response {
    let lang = Lang::of(&headers);
    let (token, cookie) = csrf_token(&headers);
    let body = format!(
        r#"<form method="post" action="/TopCA/serverEnroll/review">
<input type="hidden" name="csrf" value="{token}"><input type="hidden" name="account" value="{id}">
<label for="csr">{label} <span class="req">*</span></label>
<textarea id="csr" name="csr" rows="12" required placeholder="-----BEGIN CERTIFICATE REQUEST-----"></textarea>
<button type="submit" id="submit">{next}</button></form>"#,
        id = q.account,
        label = lang.t(
            "在服务器上生成的证书请求（PKCS#10，PEM）",
            "The certificate request made on the server (PKCS#10, PEM)"
        ),
        next = lang.t("下一步", "Next"),
    );
    page(
        lang,
        lang.t("申请服务器证书", "Apply for a server certificate"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct ReviewForm {
    csrf: String,
    account: u64,
    csr: String,
}

/// Step 2: the CSR's fields, the contact e-mail to correct, the agreement.
async fn review(headers: HeaderMap, Form(form): Form<ReviewForm>) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let csr = match CertificateRequest::parse(form.csr.as_bytes()) {
        Ok(csr) => csr,
        Err(e) => return error_page(lang, &AppError::from(topca_core::Error::from(e))),
    };
    let subject = csr.subject();
    let names = csr.alt_names();
    let hosts: Vec<String> = names
        .dns_names
        .iter()
        .cloned()
        .chain(names.ip_addresses.iter().map(|ip| ip.to_string()))
        .collect();
    let row = |label: &str, value: &str| {
        format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        )
    };
    let fields = [
        row(
            lang.t("通用名（CN）", "Common name (CN)"),
            subject.common_name.as_deref().unwrap_or(""),
        ),
        row(
            lang.t("单位（O）", "Organisation (O)"),
            subject.organization.as_deref().unwrap_or(""),
        ),
        row(
            lang.t("部门（OU）", "Unit (OU)"),
            &subject.organizational_units.join(", "),
        ),
        row(
            lang.t("省份", "Province"),
            subject.state.as_deref().unwrap_or(""),
        ),
        row(
            lang.t("城市", "City"),
            subject.locality.as_deref().unwrap_or(""),
        ),
        row(
            lang.t("服务器名（SAN）", "Server names (SAN)"),
            &hosts.join(", "),
        ),
        row(lang.t("密钥", "Key"), &csr.public_key().kind().to_string()),
    ]
    .concat();
    let body = format!(
        r#"<table id="parsed">{fields}</table>
<form method="post" action="/TopCA/serverEnroll/apply">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="account" value="{account}">
<input type="hidden" name="csr" value="{csr}">
<label for="email">{email_l} <span class="req">*</span></label><input id="email" name="email" type="email" required value="{email}">
<label for="password">{password_l} <span class="req">*</span></label><input id="password" name="password" type="password" required>
<label><input type="checkbox" id="agree" name="agree" value="1"> {agree}</label>
<button type="submit" id="submit" hidden>{submit}</button></form>
"#,
        csrf = escape(&form.csrf),
        account = form.account,
        csr = escape(&form.csr),
        email_l = lang.t("联系电子邮件（可修改）", "Contact e-mail (editable)"),
        email = escape(subject.email.as_deref().unwrap_or("")),
        password_l = lang.t(
            "证书口令（吊销时使用）",
            "Certificate password (for revocation)"
        ),
        agree = lang.t(
            "我已阅读并同意《数字证书订户协议》",
            "I have read and accept the subscriber agreement"
        ),
        submit = lang.t("提交申请", "Submit the application"),
    );
    page(
        lang,
        lang.t(
            "确认服务器证书申请",
            "Review the server certificate application",
        ),
        &body,
        None,
    )
}

#[derive(Deserialize)]
struct ApplyForm {
    csrf: String,
    account: u64,
    csr: String,
    email: String,
    password: String,
    #[serde(default)]
    agree: Option<String>,
}

async fn apply(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<ApplyForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let csr = match CertificateRequest::parse(form.csr.as_bytes()) {
        Ok(csr) => csr,
        Err(e) => return error_page(lang, &AppError::from(topca_core::Error::from(e))),
    };
    let password = zeroize::Zeroizing::new(form.password);
    let (account, email, agreed) = (AccountId(form.account), form.email, form.agree.is_some());
    let result = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .apply_server(account, &csr, &email, &password, agreed)?)
        })
        .await;
    match result {
        Ok(request) => {
            let body = format!(
                r#"<p class="ok" id="registered">{} <strong id="request">{}</strong></p><p>{}</p>"#,
                lang.t("申请已注册，申请号：", "Application registered, request number:"),
                request.reference,
                escape(lang.t(
                    "管理员审核通过后，证书将发送到联系邮箱。",
                    "Once an administrator approves it, the certificate is mailed to the contact address."
                )),
            );
            page(
                lang,
                lang.t("申请已提交", "Application submitted"),
                &body,
                None,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}
