//! The user certificate enrollment centre (`/TopCA/userEnroll`, manual chapter 2):
//! login by O/OU keyword, then apply, retrieve, query and revoke.

use std::sync::Arc;

use axum::{
    Form, Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use base64::Engine;
use serde::Deserialize;
use topca_core::{
    CertificateRequest, format_utc,
    kmc::EnvelopeFormat,
    lifecycle::{CertificateType, RevocationReason},
    ra::{Account, AccountId, CertificateQuery, Holder, HolderQuery},
    store::{AccountStore, CertificateStatus},
};

use crate::{
    AppError, AppState,
    html::{Lang, account_search, csrf_ok, csrf_token, error_page, escape, form_expired, page},
    limits::ClientAddr,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/lang", get(switch_language))
        .route("/TopCA/userEnroll", get(login))
        .route("/TopCA/userEnroll/home", get(home))
        .route("/TopCA/userEnroll/apply", get(apply_form).post(apply))
        .route(
            "/TopCA/userEnroll/retrieve",
            get(retrieve_form).post(retrieve),
        )
        .route("/TopCA/userEnroll/query", get(query))
        .route("/TopCA/userEnroll/revoke", axum::routing::post(revoke))
        .route("/TopCA/userEnroll/recover", get(recover_form).post(recover))
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
}

async fn switch_language(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = if q.to == "en" { "en" } else { "zh" };
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.find("/TopCA/").map(|i| r[i..].to_owned()))
        .unwrap_or_else(|| "/TopCA/userEnroll".into());
    let mut response = Redirect::to(&back).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "topca_lang={lang}; Path=/TopCA; SameSite=Lax; Max-Age=31536000"
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Login: type an O or OU keyword, matching accounts appear as you type.
async fn login(headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let body = account_search(lang, "/TopCA/userEnroll/home");
    page(
        lang,
        lang.t("用户证书服务中心", "User certificate service centre"),
        &body,
        None,
    )
}

#[derive(Deserialize)]
struct AccountQuery {
    account: u64,
}

fn load_account(state: &AppState, id: u64) -> Result<Account, AppError> {
    state
        .store
        .account(AccountId(id))
        .map_err(topca_core::Error::from)?
        .ok_or_else(|| AppError::from(topca_core::Error::Ra(topca_core::RaError::UnknownAccount)))
}

async fn account_of(state: &Arc<AppState>, id: u64) -> Result<Account, AppError> {
    blocking(state, move |s| load_account(s, id)).await
}

/// The centre's home page: the functions of the account.
async fn home(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
) -> Response {
    let lang = Lang::of(&headers);
    let account = match account_of(&state, q.account).await {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    let id = account.id.0;
    let mut items = vec![
        (
            format!("/TopCA/userEnroll/apply?account={id}"),
            lang.t("申请用户证书", "Apply for a certificate"),
        ),
        (
            format!("/TopCA/userEnroll/retrieve?account={id}"),
            lang.t("获取用户证书", "Retrieve a certificate"),
        ),
        (
            format!("/TopCA/userEnroll/query?account={id}"),
            lang.t("查询 / 吊销用户证书", "Query / revoke certificates"),
        ),
        (
            format!("/TopCA/userEnroll/renew?account={id}"),
            lang.t("更新用户证书", "Renew a certificate"),
        ),
        (
            format!("/TopCA/userEnroll/replace?account={id}"),
            lang.t("证书替换", "Replace a lost certificate"),
        ),
        (
            format!("/TopCA/userEnroll/preview?account={id}"),
            lang.t("证书预览", "Certificate preview"),
        ),
        (
            "/TopCA/ca".to_owned(),
            lang.t("安装 CA 证书链", "Install the CA chain"),
        ),
        (
            "/TopCA/crl".to_owned(),
            lang.t("下载证书吊销列表", "Download the CRL"),
        ),
    ];
    if account.settings.certificate_type == CertificateType::Dual {
        items.push((
            format!("/TopCA/userEnroll/recover?account={id}"),
            lang.t("恢复加密证书", "Recover the encryption certificate"),
        ));
    }
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
    let body = format!(
        r#"<p id="account">{}</p><ul id="functions">{list}</ul>"#,
        escape(&format!(
            "{}{} / {}",
            state.demo_mark(account.id),
            account.settings.organization,
            account.settings.unit
        ))
    );
    page(
        lang,
        lang.t("用户证书服务中心", "User certificate service centre"),
        &body,
        None,
    )
}

fn field(lang: Lang, name: &str, zh: &str, en: &str, kind: &str, required: bool) -> String {
    format!(
        r#"<label for="{name}">{}{}</label><input id="{name}" name="{name}" type="{kind}"{}>"#,
        escape(lang.t(zh, en)),
        if required {
            r#" <span class="req">*</span>"#
        } else {
            ""
        },
        if required { " required" } else { "" },
    )
}

async fn apply_form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
) -> Response {
    let lang = Lang::of(&headers);
    let account = match account_of(&state, q.account).await {
        Ok(a) => a,
        Err(e) => return error_page(lang, &e),
    };
    let (token, cookie) = csrf_token(&headers);
    let body = format!(
        r#"<form method="post" action="/TopCA/userEnroll/apply">
<input type="hidden" name="csrf" value="{token}"><input type="hidden" name="account" value="{id}">
<p>{org}</p>{name}{email}{phone}{province}{city}{password}{confirm}
<button type="submit" id="submit">{submit}</button></form>"#,
        id = account.id.0,
        org = escape(&format!(
            "{}{} / {}",
            state.demo_mark(account.id),
            account.settings.organization,
            account.settings.unit
        )),
        name = field(lang, "name", "姓名", "Name", "text", true),
        email = field(lang, "email", "电子邮件", "E-mail", "email", true),
        phone = field(lang, "phone", "电话", "Phone", "text", false),
        province = field(lang, "state", "省份", "Province", "text", false),
        city = field(lang, "locality", "城市", "City", "text", false),
        password = field(
            lang,
            "password",
            "用户口令（至少 8 位）",
            "User password (8 characters or more)",
            "password",
            true
        ),
        confirm = field(
            lang,
            "password2",
            "确认用户口令",
            "Confirm the user password",
            "password",
            true
        ),
        submit = lang.t("提交申请", "Submit"),
    );
    page(
        lang,
        lang.t("申请用户证书", "Apply for a user certificate"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct ApplyForm {
    csrf: String,
    account: u64,
    name: String,
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    locality: String,
    password: String,
    password2: String,
}

fn optional(value: String) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
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
    if form.password != form.password2 {
        return error_page(
            lang,
            &AppError::bad_request(
                lang.t("两次输入的用户口令不一致。", "The two passwords differ."),
            ),
        );
    }
    let holder = Holder {
        name: form.name,
        email: form.email,
        phone: optional(form.phone),
        state: optional(form.state),
        locality: optional(form.locality),
    };
    let account = AccountId(form.account);
    let password = zeroize::Zeroizing::new(form.password);
    let result = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra().apply(account, holder, &password)?)
        })
        .await;
    match result {
        Ok(request) => {
            let body = format!(
                r#"<p class="ok" id="registered">{} <strong id="request">{}</strong></p><p>{}</p>"#,
                lang.t("申请已注册，申请号：", "Application registered, request number:"),
                request.reference,
                escape(lang.t(
                    "注册确认邮件已发送到您的邮箱。审核通过后，您将收到含有身份识别码（PIN）的邮件。",
                    "A confirmation mail is on its way. Once approved you will receive a PIN by mail."
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

async fn retrieve_form(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let (token, cookie) = csrf_token(&headers);
    let body = format!(
        r#"<form method="post" action="/TopCA/userEnroll/retrieve">
<input type="hidden" name="csrf" value="{token}">
{pin}{password}
{generator}
<label for="csr">{csr_label}</label><textarea id="csr" name="csr" rows="8" placeholder="-----BEGIN CERTIFICATE REQUEST-----"></textarea>
<label><input type="checkbox" name="generate" value="1"> {generate}</label>
<button type="submit" id="submit">{submit}</button></form>
<script src="/TopCA/assets/csr.js" defer></script>"#,
        generator = crate::browser_key::generator(lang, state.algorithm),
        pin = field(lang, "pin", "身份识别码（PIN）", "PIN", "text", true),
        password = field(lang, "password", "用户口令", "User password", "password", true),
        csr_label = lang.t(
            "或粘贴证书请求（PKCS#10，PEM；任何算法，包括 SM2）",
            "Or paste a certificate request (PKCS#10, PEM; any algorithm, SM2 included)"
        ),
        generate = lang.t(
            "没有证书请求：由服务器生成密钥，以用户口令保护的 PKCS#12 文件下载",
            "No request: let the server generate the key, delivered as a PKCS#12 file protected by the user password"
        ),
        submit = lang.t("获取证书", "Retrieve"),
    );
    page(
        lang,
        lang.t("获取用户证书", "Retrieve a user certificate"),
        &body,
        cookie,
    )
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

async fn retrieve(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<RetrieveForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let source = match state.holder_secret_source(client) {
        Ok(source) => source,
        Err(e) => return error_page(lang, &e),
    };
    let password = zeroize::Zeroizing::new(form.password);
    let pin = form.pin;
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
            Ok(delivery) => (
                [
                    (header::CONTENT_TYPE, "application/x-pkcs12".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!(
                            "attachment; filename=\"{}.p12\"",
                            delivery.certificate.serial_hex()
                        ),
                    ),
                ],
                delivery.pkcs12.to_vec(),
            )
                .into_response(),
            Err(e) => error_page(lang, &e),
        };
    }
    let csr = match CertificateRequest::parse(form.csr.as_bytes()) {
        Ok(csr) => csr,
        Err(e) => return error_page(lang, &AppError::from(topca_core::Error::from(e))),
    };
    let result = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra().for_client(source).retrieve(&pin, &password, &csr)?)
        })
        .await;
    match result {
        Ok(retrieved) => {
            let certificate = &retrieved.certificate;
            let mut body = format!(
                r#"<p class="ok">{issued}</p><table><tr><th>{serial_l}</th><td id="serial">{serial}</td></tr>
<tr><th>{subject_l}</th><td>{subject}</td></tr><tr><th>{valid_l}</th><td>{from} — {to}</td></tr></table>
<p><a id="download-pem" href="/TopCA/certificates/{serial}.pem">PEM</a> · <a id="download-der" href="/TopCA/certificates/{serial}.cer">DER</a> · <a href="/TopCA/ca">{install}</a></p>
<h3>{pem_l}</h3><pre id="certificate">{pem}</pre>"#,
                install = lang.t("安装 CA 证书链", "Install the CA chain"),
                issued = lang.t("证书已签发。", "The certificate is issued."),
                serial_l = lang.t("序列号", "Serial"),
                serial = certificate.serial_hex(),
                subject_l = lang.t("主题", "Subject"),
                subject = escape(&certificate.subject_text()),
                valid_l = lang.t("有效期", "Valid"),
                from = format_utc(certificate.not_before()),
                to = format_utc(certificate.not_after()),
                pem_l = lang.t("证书（PEM）", "Certificate (PEM)"),
                pem = escape(&certificate.to_pem()),
            );
            if let Some(encryption) = &retrieved.encryption {
                let key =
                    base64::engine::general_purpose::STANDARD.encode(&encryption.enveloped_key.der);
                body.push_str(&format!(
                    r#"<h3>{title}</h3><p>{serial_l}: <span id="encryption-serial">{serial}</span></p><pre>{pem}</pre>
<p><a href="/TopCA/certificates/{serial}.pem">PEM</a> · <a href="/TopCA/certificates/{serial}.cer">DER</a> ·
<a download="{file}" href="data:application/octet-stream;base64,{key}">{download}</a></p>{opener}"#,
                    title = lang.t("加密证书", "Encryption certificate"),
                    serial_l = lang.t("序列号", "Serial"),
                    serial = encryption.certificate.serial_hex(),
                    pem = escape(&encryption.certificate.to_pem()),
                    file = encryption.enveloped_key.format.file_name(),
                    download = lang.t("下载加密私钥（数字信封）", "Download the encryption key (enveloped)"),
                    opener = if encryption.enveloped_key.format == EnvelopeFormat::Sm2EnvelopedKey {
                        crate::browser_key::envelope_opener(lang, &key)
                    } else {
                        String::new()
                    },
                ));
            }
            page(
                lang,
                lang.t("获取用户证书", "Retrieve a user certificate"),
                &body,
                None,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct QueryParams {
    account: u64,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

async fn query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<QueryParams>,
) -> Response {
    let lang = Lang::of(&headers);
    let (token, cookie) = csrf_token(&headers);
    let account = q.account;
    let holder = if !q.email.trim().is_empty() {
        Some(HolderQuery::Email(q.email.clone()))
    } else if !q.name.trim().is_empty() {
        Some(HolderQuery::Name(q.name.clone()))
    } else {
        None
    };
    let mut results = String::new();
    if let Some(holder) = holder {
        let found = blocking(&state, move |s| {
            Ok(s.ra().query(
                AccountId(account),
                &CertificateQuery {
                    holder,
                    status: None,
                    not_after_from: None,
                    not_after_until: None,
                },
            )?)
        })
        .await;
        match found {
            Ok(found) => {
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
                results.push_str(&format!(
                    r#"<table id="results"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr>"#,
                    lang.t("序列号", "Serial"),
                    lang.t("持有者", "Holder"),
                    lang.t("有效期至", "Valid until"),
                    lang.t("状态", "Status"),
                ));
                for c in found {
                    let status = match c.status {
                        CertificateStatus::Valid => lang.t("有效", "valid"),
                        CertificateStatus::Revoked => lang.t("已吊销", "revoked"),
                    };
                    let action = if c.status == CertificateStatus::Valid {
                        format!(
                            r#"<form method="post" action="/TopCA/userEnroll/revoke"><input type="hidden" name="csrf" value="{token}">
<input type="hidden" name="account" value="{account}"><input type="hidden" name="serial" value="{serial}">
<input name="password" type="password" placeholder="{pw}" required><select name="reason">{reasons}</select>
<button type="submit">{revoke}</button></form>"#,
                            serial = escape(&c.serial),
                            pw = lang.t("用户口令", "User password"),
                            revoke = lang.t("吊销", "Revoke"),
                        )
                    } else {
                        String::new()
                    };
                    results.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"status\">{status}</td><td>{action}</td></tr>",
                        escape(&c.serial),
                        escape(&c.holder_name),
                        format_utc(c.not_after),
                    ));
                }
                results.push_str("</table>");
            }
            Err(e) => return error_page(lang, &e),
        }
    }
    let body = format!(
        r#"<form method="get" action="/TopCA/userEnroll/query"><input type="hidden" name="account" value="{account}">
{email}{name}<button type="submit">{search}</button></form>{results}"#,
        email = field(lang, "email", "按电子邮件查询", "By e-mail", "email", false),
        name = field(
            lang,
            "name",
            "或按用户名查询",
            "or by user name",
            "text",
            false
        ),
        search = lang.t("查询", "Search"),
    );
    page(
        lang,
        lang.t("查询用户证书", "Query user certificates"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: String,
    account: u64,
    serial: String,
    password: String,
    reason: u8,
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
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
    let password = zeroize::Zeroizing::new(form.password);
    let (account, serial) = (AccountId(form.account), form.serial);
    let result = state
        .hashing
        .run(&state, move |s| {
            let revoked = s
                .ra()
                .for_client(source)
                .revoke(account, &serial, &password, reason)?;
            s.crl_changed();
            Ok(revoked)
        })
        .await;
    match result {
        Ok(revoked) => {
            let body = format!(
                r#"<p class="ok" id="revoked">{} {}</p>"#,
                lang.t("证书已吊销：", "Certificate revoked:"),
                escape(&revoked.serial)
            );
            page(
                lang,
                lang.t("吊销用户证书", "Revoke a user certificate"),
                &body,
                None,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}

async fn recover_form(headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let (token, cookie) = csrf_token(&headers);
    let body = format!(
        r#"<p>{intro}</p><form method="post" action="/TopCA/userEnroll/recover">
<input type="hidden" name="csrf" value="{token}">
{serial}{code}<button type="submit" id="submit">{submit}</button></form>"#,
        intro = lang.t(
            "选择接收加密密钥的签名证书（输入其序列号），并输入密钥管理员发给您的授权码。",
            "Choose the signing certificate to receive the encryption key (its serial) and enter the authorization code you were mailed."
        ),
        serial = field(lang, "serial", "签名证书序列号", "Signing certificate serial", "text", true),
        code = field(lang, "code", "授权码", "Authorization code", "text", true),
        submit = lang.t("恢复加密证书", "Recover"),
    );
    page(
        lang,
        lang.t("恢复加密证书", "Recover the encryption certificate"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct RecoverForm {
    csrf: String,
    serial: String,
    code: String,
}

async fn recover(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<RecoverForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(lang);
    }
    let _ = match state.holder_secret_source(client) {
        Ok(source) => source,
        Err(e) => return error_page(lang, &e),
    };
    let code = zeroize::Zeroizing::new(form.code);
    let serial = form.serial;
    let result = blocking(&state, move |s| Ok(s.kmc().recover(&code, &serial)?)).await;
    match result {
        Ok(delivery) => {
            let key = base64::engine::general_purpose::STANDARD.encode(&delivery.enveloped_key.der);
            let opener = if delivery.enveloped_key.format == EnvelopeFormat::Sm2EnvelopedKey {
                crate::browser_key::envelope_opener(lang, &key)
            } else {
                String::new()
            };
            let body = format!(
                r#"<p class="ok">{done}</p><p>{serial_l}: <span id="encryption-serial">{serial}</span></p><pre>{pem}</pre>
<p><a download="{file}" href="data:application/octet-stream;base64,{key}">{download}</a></p>{opener}"#,
                done = lang.t(
                    "加密证书和密钥已恢复。",
                    "The encryption certificate and key are recovered."
                ),
                serial_l = lang.t("加密证书序列号", "Encryption certificate serial"),
                serial = delivery.certificate.serial_hex(),
                pem = escape(&delivery.certificate.to_pem()),
                file = delivery.enveloped_key.format.file_name(),
                download = lang.t(
                    "下载加密私钥（数字信封）",
                    "Download the encryption key (enveloped)"
                ),
            );
            page(
                lang,
                lang.t("恢复加密证书", "Recover the encryption certificate"),
                &body,
                None,
            )
        }
        Err(e) => error_page(lang, &e),
    }
}
