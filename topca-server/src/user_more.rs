//! The user centre's renewal (更新), replacement (替换) and preview (预览) pages.

use std::sync::Arc;

use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Response,
    routing::get,
};
use serde::Deserialize;
use topca_core::{
    Certificate, CertificateRequest, format_utc,
    lifecycle::RevocationReason,
    ra::{AccountId, CertificateQuery, HolderQuery, HolderUpdate, ReplacementOutcome},
    store::CertificateStore,
};

use crate::{
    AppError, AppState,
    html::{Lang, csrf_ok, csrf_token, error_page, escape, form_expired, page},
    limits::ClientAddr,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/userEnroll/renew", get(renew_list).post(renew))
        .route(
            "/TopCA/userEnroll/replace",
            get(replace_start_form).post(replace_start),
        )
        .route(
            "/TopCA/userEnroll/replace/confirm",
            get(replace_confirm).post(replace),
        )
        .route("/TopCA/userEnroll/preview", get(preview_list))
        .route("/TopCA/userEnroll/preview/{serial}", get(preview_one))
        .route(
            "/TopCA/userEnroll/passcode",
            get(passcode_form).post(passcode_retrieve),
        )
}

fn input(name: &str, label: &str, kind: &str, required: bool) -> String {
    format!(
        r#"<label for="{name}">{}{}</label><input id="{name}" name="{name}" type="{kind}"{}>"#,
        escape(label),
        if required {
            r#" <span class="req">*</span>"#
        } else {
            ""
        },
        if required { " required" } else { "" },
    )
}

#[derive(Deserialize)]
struct ByEmail {
    account: u64,
    #[serde(default)]
    email: String,
}

/// Renewal, step 1: the holder's certificates ending within the renewal window.
async fn renew_list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ByEmail>,
) -> Response {
    let lang = Lang::of(&headers);
    let (token, cookie) = csrf_token(&headers);
    let account = q.account;
    let mut list = String::new();
    if !q.email.trim().is_empty() {
        let email = q.email.clone();
        match blocking(&state, move |s| {
            Ok(s.ra().renewable(AccountId(account), &email)?)
        })
        .await
        {
            Ok(found) if found.is_empty() => {
                list = format!(
                    r#"<p id="none">{}</p>"#,
                    lang.t(
                        "没有 30 天内到期的有效证书。",
                        "No valid certificate ends within 30 days."
                    )
                )
            }
            Ok(found) => {
                for c in found {
                    list.push_str(&format!(
                        r#"<form method="post" action="/TopCA/userEnroll/renew" class="renewable">
<input type="hidden" name="csrf" value="{token}"><input type="hidden" name="account" value="{account}">
<input type="hidden" name="serial" value="{serial}"><p>{serial} — {holder} — {until}</p>
{password}<details><summary>{change}</summary>{name}{email}{phone}</details>
<button type="submit">{submit}</button></form>"#,
                        serial = escape(&c.serial),
                        holder = escape(&c.holder_name),
                        until = format_utc(c.not_after),
                        password = input("password", lang.t("原证书的用户口令", "The user password of this certificate"), "password", true),
                        change = lang.t("变更证书持有者信息（单位和部门不能修改）", "Change holder information (O and OU cannot change)"),
                        name = input("name", lang.t("新姓名", "New name"), "text", false),
                        email = input("email", lang.t("新电子邮件", "New e-mail"), "email", false),
                        phone = input("phone", lang.t("新电话", "New phone"), "text", false),
                        submit = lang.t("申请更新", "Apply for renewal"),
                    ));
                }
            }
            Err(e) => return error_page(lang, &e),
        }
    }
    let body = format!(
        r#"<form method="get" action="/TopCA/userEnroll/renew"><input type="hidden" name="account" value="{account}">
{email}<button type="submit">{find}</button></form>{list}"#,
        email = input("email", lang.t("电子邮件", "E-mail"), "email", true),
        find = lang.t("查找可更新的证书", "Find renewable certificates"),
    );
    page(
        lang,
        lang.t("更新用户证书", "Renew a user certificate"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct RenewForm {
    csrf: String,
    account: u64,
    serial: String,
    password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
}

fn given(value: String) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
}

async fn renew(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<RenewForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let source = match state.holder_secret_source(client) {
        Ok(source) => source,
        Err(e) => return error_page(lang, &e),
    };
    let update = HolderUpdate {
        name: given(form.name),
        email: given(form.email),
        phone: given(form.phone),
        state: None,
        locality: None,
        organization: None,
        unit: None,
    };
    let password = zeroize::Zeroizing::new(form.password);
    let (account, serial) = (AccountId(form.account), form.serial);
    match state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .for_client(source)
                .apply_renewal(account, &serial, &password, &update)?)
        })
        .await
    {
        Ok(request) => {
            let body = format!(
                r#"<p class="ok" id="registered">{} <strong id="request">{}</strong></p><p>{}</p>"#,
                lang.t(
                    "更新申请已注册，申请号：",
                    "Renewal registered, request number:"
                ),
                request.reference,
                escape(lang.t(
                    "批准后您将收到含有 PIN 的邮件，凭 PIN 获取新证书。",
                    "Once approved, a PIN is mailed to retrieve the new certificate."
                )),
            );
            page(
                lang,
                lang.t("更新用户证书", "Renew a user certificate"),
                &body,
                None,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct AccountOnly {
    account: u64,
}

/// Replacement, step 1: name and e-mail; a confirmation link is mailed.
async fn replace_start_form(headers: HeaderMap, Query(q): Query<AccountOnly>) -> Response {
    let lang = Lang::of(&headers);
    let (token, cookie) = csrf_token(&headers);
    let body = format!(
        r#"<p>{intro}</p><form method="post" action="/TopCA/userEnroll/replace">
<input type="hidden" name="csrf" value="{token}"><input type="hidden" name="account" value="{account}">
{name}{email}<button type="submit" id="submit">{submit}</button></form>"#,
        intro = lang.t(
            "证书丢失或损坏时可申请替换：新证书的持有者信息和到期日与原证书相同。",
            "For a lost or damaged certificate: the replacement keeps the holder details and the end date of the original."
        ),
        account = q.account,
        name = input("name", lang.t("姓名（单位证书填写单位名称）", "Name (the organisation's name for organisation certificates)"), "text", true),
        email = input("email", lang.t("电子邮件", "E-mail"), "email", true),
        submit = lang.t("发送确认邮件", "Send the confirmation mail"),
    );
    page(
        lang,
        lang.t("证书替换", "Certificate replacement"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct ReplaceStart {
    csrf: String,
    account: u64,
    name: String,
    email: String,
}

async fn replace_start(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<ReplaceStart>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let (account, name, email) = (AccountId(form.account), form.name, form.email);
    match blocking(&state, move |s| {
        Ok(s.ra().start_replacement(account, &name, &email)?)
    })
    .await
    {
        Ok(_) => {
            let body = format!(
                r#"<p class="ok" id="sent">{}</p>"#,
                lang.t(
                    "确认邮件已发送，请打开邮件中的链接继续。",
                    "A confirmation mail is on its way: open its link to continue."
                )
            );
            page(
                lang,
                lang.t("证书替换", "Certificate replacement"),
                &body,
                None,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: String,
}

/// Replacement, steps 2–4: the link was opened; choose the certificate, revoke
/// it and apply for its replacement.
async fn replace_confirm(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let lang = Lang::of(&headers);
    let source = match state.holder_secret_source(client) {
        Ok(source) => source,
        Err(e) => return error_page(lang, &e),
    };
    let (csrf, cookie) = csrf_token(&headers);
    let token = q.token.clone();
    let (_, candidates) = match blocking(&state, move |s| {
        Ok(s.ra().for_client(source).confirm_replacement(&token)?)
    })
    .await
    {
        Ok(found) => found,
        Err(e) => return error_page(lang, &e),
    };
    let options: String = candidates
        .iter()
        .map(|c| {
            format!(
                r#"<label><input type="radio" name="serial" value="{s}" required> {s} — {until}</label>"#,
                s = escape(&c.serial),
                until = format_utc(c.not_after)
            )
        })
        .collect();
    let reasons: String = RevocationReason::FOR_HOLDERS
        .iter()
        .map(|r| {
            format!(
                r#"<option value="{}">{}</option>"#,
                r.code(),
                escape(lang.t(r.label_zh(), r.label()))
            )
        })
        .collect();
    let body = format!(
        r#"<form method="post" action="/TopCA/userEnroll/replace/confirm">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="token" value="{token}">
<p>{choose}</p>{options}
{password}<label for="reason">{reason_l}</label><select id="reason" name="reason">{reasons}</select>
<p class="error">{warning}</p>
{generator}
<label for="csr">{csr_l}</label><textarea id="csr" name="csr" rows="8"></textarea>
<button type="submit" id="submit">{submit}</button> <a href="/TopCA/userEnroll" class="back">{back}</a></form><script src="{script}" defer></script>"#,
        generator = crate::browser_key::generator(lang, state.algorithm),
        script = crate::assets::CSR_SCRIPT,
        token = escape(&q.token),
        choose = lang.t("选择要替换的证书：", "Choose the certificate to replace:"),
        password = input(
            "password",
            lang.t("用户口令", "User password"),
            "password",
            true
        ),
        reason_l = lang.t("吊销原因", "Revocation reason"),
        warning = lang.t(
            "提交后原证书立即被吊销，不能再使用。",
            "On submitting, the original is revoked at once and can no longer be used."
        ),
        csr_l = lang.t(
            "新证书的证书请求（PKCS#10，PEM；自动审核帐户必填）",
            "The request for the new certificate (PKCS#10, PEM; needed for automatic accounts)"
        ),
        submit = lang.t("吊销并申请替换", "Revoke and apply for the replacement"),
        back = lang.t("返回", "Back"),
    );
    page(
        lang,
        lang.t("确认证书替换", "Confirm the replacement"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct ReplaceForm {
    csrf: String,
    token: String,
    serial: String,
    password: String,
    reason: u8,
    #[serde(default)]
    csr: String,
}

async fn replace(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<ReplaceForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let source = match state.holder_secret_source(client) {
        Ok(source) => source,
        Err(e) => return error_page(lang, &e),
    };
    let Some(reason) = RevocationReason::from_code(form.reason) else {
        return error_page(
            lang,
            &AppError::bad_request(lang.t("请选择吊销原因。", "Choose a revocation reason.")),
        );
    };
    let csr = if form.csr.trim().is_empty() {
        None
    } else {
        match CertificateRequest::parse(form.csr.as_bytes()) {
            Ok(csr) => Some(csr),
            Err(e) => return error_page(lang, &AppError::from(topca_core::Error::from(e))),
        }
    };
    let password = zeroize::Zeroizing::new(form.password);
    let (token, serial) = (form.token, form.serial);
    let result = state
        .hashing
        .run(&state, move |s| {
            let outcome = s.ra().for_client(source).replace(
                &token,
                &serial,
                &password,
                reason,
                csr.as_ref(),
            )?;
            s.crl_changed();
            Ok(outcome)
        })
        .await;
    let body = match result {
        Ok(ReplacementOutcome::Issued(retrieved)) => format!(
            r#"<p class="ok">{}</p><p>{}: <span id="serial">{}</span></p><pre id="certificate">{}</pre>"#,
            lang.t("原证书已吊销，替换证书已签发。", "The original is revoked and the replacement issued."),
            lang.t("序列号", "Serial"),
            retrieved.certificate.serial_hex(),
            escape(&retrieved.certificate.to_pem())
        ),
        Ok(ReplacementOutcome::AwaitingApproval(request)) => format!(
            r#"<p class="ok" id="registered">{} <strong id="request">{}</strong></p>"#,
            lang.t("原证书已吊销，替换申请等待审核，批准后将发送 PIN。申请号：", "The original is revoked; the replacement waits for approval, then a PIN is mailed. Request:"),
            request.reference
        ),
        Err(e) => return error_page(lang, &e),
    };
    page(
        lang,
        lang.t("证书替换", "Certificate replacement"),
        &body,
        None,
    )
}

/// Preview: the holder's certificates (refreshable), each opening its views.
async fn preview_list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ByEmail>,
) -> Response {
    let lang = Lang::of(&headers);
    let account = q.account;
    let mut rows = String::new();
    if !q.email.trim().is_empty() {
        let email = q.email.clone();
        let found = blocking(&state, move |s| {
            Ok(s.ra().query(
                AccountId(account),
                &CertificateQuery {
                    holder: HolderQuery::Email(email),
                    status: None,
                    not_after_from: None,
                    not_after_until: None,
                },
            )?)
        })
        .await;
        match found {
            Ok(found) => {
                for c in found {
                    rows.push_str(&format!(
                        r#"<tr><td><a href="/TopCA/userEnroll/preview/{s}">{s}</a></td><td>{}</td><td>{}</td></tr>"#,
                        escape(&c.subject),
                        format_utc(c.not_after),
                        s = escape(&c.serial),
                    ));
                }
            }
            Err(e) => return error_page(lang, &e),
        }
    }
    let body = format!(
        r#"<form method="get" action="/TopCA/userEnroll/preview"><input type="hidden" name="account" value="{account}">
{email}<button type="submit">{refresh}</button></form>
<table id="certificates"><tr><th>{serial}</th><th>{subject}</th><th>{until}</th></tr>{rows}</table>"#,
        email = input("email", lang.t("电子邮件", "E-mail"), "email", true),
        refresh = lang.t("刷新", "Refresh"),
        serial = lang.t("序列号", "Serial"),
        subject = lang.t("主题", "Subject"),
        until = lang.t("有效期至", "Valid until"),
    );
    page(lang, lang.t("证书预览", "Certificate preview"), &body, None)
}

async fn preview_one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
) -> Response {
    let lang = Lang::of(&headers);
    let record = blocking(&state, move |s| {
        s.store
            .certificate(&serial)
            .map_err(topca_core::Error::from)?
            .ok_or_else(|| {
                AppError::from(topca_core::Error::Ra(
                    topca_core::RaError::UnknownCertificate,
                ))
            })
    })
    .await;
    let record = match record {
        Ok(r) => r,
        Err(e) => return error_page(lang, &e),
    };
    let certificate = match Certificate::from_der(&record.der) {
        Ok(c) => c,
        Err(_) => return error_page(lang, &AppError::internal("read the certificate")),
    };
    let view = certificate.preview();
    let general = &view.general;
    let rows: String = view
        .fields
        .iter()
        .map(|f| {
            format!(
                "<details><summary><b>{}</b>{} — {}</summary><pre>{}</pre></details>",
                escape(&f.name),
                match f.critical {
                    Some(true) => lang.t("（关键）", " (critical)"),
                    _ => "",
                },
                escape(&f.summary),
                escape(&f.value)
            )
        })
        .collect();
    let body = format!(
        r#"<h3>{general_l}</h3><table id="general">
<tr><th>{subject_l}</th><td>{subject}</td></tr><tr><th>{issuer_l}</th><td>{issuer}</td></tr>
<tr><th>{valid_l}</th><td>{from} — {to}</td></tr><tr><th>{serial_l}</th><td>{serial}</td></tr>
<tr><th>{purpose_l}</th><td>{purposes}</td></tr></table>
<h3>{detail_l}</h3><div id="fields">{rows}</div>"#,
        general_l = lang.t("常规", "General"),
        subject_l = lang.t("颁发给", "Issued to"),
        subject = escape(&general.subject),
        issuer_l = lang.t("颁发者", "Issued by"),
        issuer = escape(&general.issuer),
        valid_l = lang.t("有效期", "Valid"),
        from = escape(&general.not_before),
        to = escape(&general.not_after),
        serial_l = lang.t("序列号", "Serial"),
        serial = escape(&general.serial_hex),
        purpose_l = lang.t("用途", "Purposes"),
        purposes = escape(&general.purposes.join(", ")),
        detail_l = lang.t("详细信息", "Details"),
    );
    page(lang, lang.t("证书预览", "Certificate preview"), &body, None)
}

/// Passcode mode: the reference number and authorization code from the mail, the
/// user password chosen now, and the key (made in the browser or a pasted CSR).
async fn passcode_form(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let (token, cookie) = csrf_token(&headers);
    let body = format!(
        r#"<form method="post" action="/TopCA/userEnroll/passcode"><input type="hidden" name="csrf" value="{token}">
{reference}{code}{password}{confirm}
{generator}
<label for="csr">{csr_l}</label><textarea id="csr" name="csr" rows="8" required></textarea>
<button type="submit" id="submit">{submit}</button></form><script src="/TopCA/assets/csr.js" defer></script>"#,
        reference = input(
            "reference",
            lang.t("参考号", "Reference number"),
            "text",
            true
        ),
        code = input("code", lang.t("授权码", "Authorization code"), "text", true),
        password = input(
            "password",
            lang.t(
                "设置用户口令（至少 8 位）",
                "Choose your user password (8 characters or more)"
            ),
            "password",
            true
        ),
        confirm = input(
            "password2",
            lang.t("确认用户口令", "Confirm the user password"),
            "password",
            true
        ),
        generator = crate::browser_key::generator(lang, state.algorithm),
        csr_l = lang.t(
            "证书请求（PKCS#10，PEM）",
            "Certificate request (PKCS#10, PEM)"
        ),
        submit = lang.t("获取证书", "Retrieve"),
    );
    page(
        lang,
        lang.t("凭授权码获取证书", "Retrieve with a passcode"),
        &body,
        cookie,
    )
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
    Form(form): Form<PasscodeForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let source = match state.holder_secret_source(client) {
        Ok(source) => source,
        Err(e) => return error_page(lang, &e),
    };
    if form.password != form.password2 {
        return error_page(
            lang,
            &AppError::bad_request(
                lang.t("两次输入的用户口令不一致。", "The two passwords differ."),
            ),
        );
    }
    let csr = match CertificateRequest::parse(form.csr.as_bytes()) {
        Ok(csr) => csr,
        Err(e) => return error_page(lang, &AppError::from(topca_core::Error::from(e))),
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
            let certificate = &retrieved.certificate;
            let body = format!(
                r#"<p class="ok">{}</p><p>{}: <span id="serial">{serial}</span></p>
<p><a href="/TopCA/certificates/{serial}.pem">PEM</a> · <a href="/TopCA/certificates/{serial}.cer">DER</a></p><pre id="certificate">{}</pre>"#,
                lang.t("证书已签发。", "The certificate is issued."),
                lang.t("序列号", "Serial"),
                escape(&certificate.to_pem()),
                serial = certificate.serial_hex(),
            );
            page(
                lang,
                lang.t("凭授权码获取证书", "Retrieve with a passcode"),
                &body,
                None,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}
