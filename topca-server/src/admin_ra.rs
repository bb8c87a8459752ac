//! The RA console's pages beyond the approval queue: accounts (search, edit),
//! holders and certificates (search, view, revoke), passcode pre-registration
//! (one holder, or a CSV file with a per-row report) and central issuance with a
//! key made by the CA (PKCS#12 download). Each page needs the RA role; every
//! action is audited under the administrator's name by the RA itself.

use std::sync::Arc;

use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::Engine;
use serde::Deserialize;
use topca_core::{
    lifecycle::RevocationReason,
    ra::{Account, AccountId, Administrator, Holder},
    store::{AccountStore, CertificateRecord, CertificateStatus, CertificateStore},
};

use crate::{
    AppError, AppState,
    admin::revoke,
    admin_accounts::{AccountForm, account_form},
    admin_session::{console_csrf, console_form, console_session},
    html::{Lang, error_page, escape, page, url_encode},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/certificates", get(certificates_page))
        .route(
            "/TopCA/admin/ra/certificates/{serial}/revoke",
            post(revoke_page),
        )
        .route(
            "/TopCA/admin/ra/accounts/{id}",
            get(account_page).post(edit_account),
        )
        .route(
            "/TopCA/admin/ra/accounts/{id}/preregistrations",
            post(preregister_one),
        )
        .route(
            "/TopCA/admin/ra/accounts/{id}/preregistrations/csv",
            post(preregister_csv),
        )
        .route(
            "/TopCA/admin/ra/accounts/{id}/central-issuance",
            post(issue_centrally),
        )
}

fn back_link(lang: Lang, href: &str) -> String {
    format!(
        r#"<p><a href="{}">{}</a></p>"#,
        escape(href),
        lang.t("返回", "Back")
    )
}

// ---- holders and certificates ----

#[derive(Deserialize)]
struct CertificateSearch {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

/// The reasons an administrator may give (RFC 5280; removeFromCRL is not one).
const REASONS: [RevocationReason; 8] = [
    RevocationReason::Unspecified,
    RevocationReason::KeyCompromise,
    RevocationReason::AffiliationChanged,
    RevocationReason::Superseded,
    RevocationReason::CessationOfOperation,
    RevocationReason::CertificateHold,
    RevocationReason::PrivilegeWithdrawn,
    RevocationReason::CaCompromise,
];

fn reason_label(lang: Lang, reason: RevocationReason) -> &'static str {
    match reason {
        RevocationReason::KeyCompromise => lang.t("密钥泄露", "key compromise"),
        RevocationReason::CaCompromise => lang.t("CA 泄露", "CA compromise"),
        RevocationReason::AffiliationChanged => lang.t("隶属关系改变", "affiliation changed"),
        RevocationReason::Superseded => lang.t("证书被取代", "superseded"),
        RevocationReason::CessationOfOperation => lang.t("停止使用", "cessation of operation"),
        RevocationReason::CertificateHold => lang.t("证书冻结", "certificate hold"),
        RevocationReason::PrivilegeWithdrawn => lang.t("权限撤销", "privilege withdrawn"),
        _ => lang.t("未指定", "unspecified"),
    }
}

fn certificate_row(lang: Lang, csrf: &str, c: &CertificateRecord, back: &str) -> String {
    let status = match c.status {
        CertificateStatus::Valid => lang.t("有效", "valid"),
        CertificateStatus::Revoked => lang.t("已吊销", "revoked"),
    };
    let action = if c.status == CertificateStatus::Valid {
        let reasons: String = REASONS
            .iter()
            .map(|r| {
                format!(
                    r#"<option value="{}">{}</option>"#,
                    r.code(),
                    reason_label(lang, *r)
                )
            })
            .collect();
        format!(
            r#"<form method="post" action="/TopCA/admin/ra/certificates/{serial}/revoke"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="back" value="{back}"><select name="reason" aria-label="{reason_l}">{reasons}</select><button class="revoke">{revoke}</button></form>"#,
            serial = escape(&c.serial),
            back = escape(back),
            reason_l = lang.t("吊销原因", "Reason"),
            revoke = lang.t("吊销", "Revoke"),
        )
    } else {
        String::new()
    };
    format!(
        r#"<tr><td><a href="/TopCA/certificates/{serial}.pem">{serial}</a></td><td>{holder}</td><td>{email}</td><td>{subject}</td><td>{usage:?}</td><td>{not_after}</td><td class="status">{status}</td><td>{action}</td></tr>"#,
        serial = escape(&c.serial),
        holder = escape(&c.holder_name),
        email = escape(&c.email),
        subject = escape(&c.subject),
        usage = c.usage,
        not_after = topca_core::format_utc(c.not_after),
    )
}

/// Search holders' certificates by e-mail or name; revoke from the list.
async fn certificates_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(search): Query<CertificateSearch>,
) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(lang);
    }
    let (csrf, cookie) = (console_csrf(&headers), None);
    let email = search.email.trim().to_owned();
    let name = search.name.trim().to_owned();
    let found = if email.is_empty() && name.is_empty() {
        Ok(Vec::new())
    } else {
        let (email, name) = (email.clone(), name.clone());
        blocking(&state, move |s| {
            let mut found = if email.is_empty() {
                Vec::new()
            } else {
                s.store
                    .certificates_by_email(&email)
                    .map_err(topca_core::Error::from)?
            };
            if !name.is_empty() {
                for c in s
                    .store
                    .certificates_by_holder_name(&name)
                    .map_err(topca_core::Error::from)?
                {
                    if !found.iter().any(|f| f.serial == c.serial) {
                        found.push(c);
                    }
                }
            }
            Ok(found)
        })
        .await
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => return error_page(lang, &e),
    };
    let back = format!(
        "/TopCA/admin/ra/certificates?email={}&name={}",
        url_encode(&email),
        url_encode(&name)
    );
    let rows: String = found
        .iter()
        .map(|c| certificate_row(lang, &csrf, c, &back))
        .collect();
    let result = if email.is_empty() && name.is_empty() {
        String::new()
    } else if found.is_empty() {
        format!(
            r#"<p id="none">{}</p>"#,
            lang.t("没有找到证书。", "No certificate found.")
        )
    } else {
        format!(
            r#"<table id="certificates"><tr><th>{serial}</th><th>{holder}</th><th>{email}</th><th>{subject}</th><th>{usage}</th><th>{until}</th><th>{status}</th><th></th></tr>{rows}</table>"#,
            serial = lang.t("序列号", "Serial"),
            holder = lang.t("持有者", "Holder"),
            email = lang.t("电子邮件", "E-mail"),
            subject = lang.t("主题", "Subject"),
            usage = lang.t("用途", "Usage"),
            until = lang.t("有效期至", "Valid until"),
            status = lang.t("状态", "Status"),
        )
    };
    let body = format!(
        r#"<form method="get" action="/TopCA/admin/ra/certificates" id="search">
<label for="email">{email_l}</label><input id="email" name="email" type="email" value="{email}">
<label for="name">{name_l}</label><input id="name" name="name" value="{name}">
<button type="submit" id="find">{find}</button></form>{result}{back}"#,
        email_l = lang.t("电子邮件", "E-mail"),
        email = escape(&email),
        name_l = lang.t("持有者姓名", "Holder name"),
        name = escape(&name),
        find = lang.t("查询", "Search"),
        back = back_link(lang, "/TopCA/admin"),
    );
    page(
        lang,
        lang.t("持有者与证书", "Holders and certificates"),
        &body,
        cookie,
    )
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: String,
    reason: u8,
    #[serde(default)]
    back: String,
}

async fn revoke_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let done = revoke(&state, ops, serial, form.reason).await;
    match done {
        // Only our own search pages are followed back.
        Ok(_) if form.back.starts_with("/TopCA/admin/ra/certificates?") => {
            Redirect::to(&form.back).into_response()
        }
        Ok(_) => Redirect::to("/TopCA/admin/ra/certificates").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

// ---- accounts ----

#[derive(Deserialize)]
pub(crate) struct AccountSearch {
    #[serde(default)]
    keyword: String,
}

/// Accounts whose O or OU contains the keyword, each linking to its page.
pub(crate) async fn accounts_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(search): Query<AccountSearch>,
) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(lang);
    }
    let keyword = search.keyword.trim().to_owned();
    let wanted = keyword.clone();
    let found = match blocking(&state, move |s| Ok(s.ra().search_accounts(&wanted)?)).await {
        Ok(found) => found,
        Err(e) => return error_page(lang, &e),
    };
    let rows: String = found
        .iter()
        .map(|a| {
            format!(
                r#"<tr><td>{id}</td><td><a href="/TopCA/admin/ra/accounts/{id}">{o}</a></td><td>{ou}</td><td>{kind:?}</td><td>{mode:?}</td><td>{alg}</td></tr>"#,
                id = a.id.0,
                o = escape(&format!("{}{}", state.demo_mark(a.id), a.settings.organization)),
                ou = escape(&a.settings.unit),
                kind = a.settings.certificate_type,
                mode = a.settings.verification,
                alg = a.settings.algorithm.name(),
            )
        })
        .collect();
    let body = format!(
        r#"<form method="get" action="/TopCA/admin/ra/accounts" id="account-search">
<label for="keyword">{keyword_l}</label><input id="keyword" name="keyword" value="{keyword}">
<button type="submit" id="find-accounts">{find}</button></form>
<table id="accounts"><tr><th>#</th><th>{o}</th><th>{ou}</th><th>{kind}</th><th>{mode}</th><th>{alg}</th></tr>{rows}</table>{back}"#,
        keyword_l = lang.t("单位或部门关键字", "O or OU keyword"),
        keyword = escape(&keyword),
        find = lang.t("查询", "Search"),
        o = lang.t("单位（O）", "Organisation (O)"),
        ou = lang.t("部门（OU）", "Unit (OU)"),
        kind = lang.t("证书类型", "Certificate type"),
        mode = lang.t("审核方式", "Verification"),
        alg = lang.t("算法", "Algorithm"),
        back = back_link(lang, "/TopCA/admin"),
    );
    page(lang, lang.t("帐户", "Accounts"), &body, None)
}

async fn load_account(state: &Arc<AppState>, id: u64) -> Result<Account, AppError> {
    blocking(state, move |s| {
        Ok(s.store
            .account(AccountId(id))
            .map_err(topca_core::Error::from)?
            .ok_or_else(|| topca_core::Error::from(topca_core::RaError::UnknownAccount))?)
    })
    .await
}

/// One account: its settings to edit, and (by mode) pre-registration or central
/// issuance.
async fn account_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(lang);
    }
    let account = match load_account(&state, id).await {
        Ok(account) => account,
        Err(e) => return error_page(lang, &e),
    };
    let (csrf, cookie) = (console_csrf(&headers), None);
    let mut body = format!(
        r#"<p id="account">{}{} / {} (#{})</p>"#,
        state.demo_mark(account.id),
        escape(&account.settings.organization),
        escape(&account.settings.unit),
        account.id.0
    );
    body.push_str(&account_form(
        lang,
        &csrf,
        &format!("/TopCA/admin/ra/accounts/{id}"),
        Some(&account.settings),
        &state.base_url,
    ));
    if account.settings.verification == topca_core::lifecycle::VerificationMode::Manual {
        body.push_str(&format!(
            r#"<p><a href="/TopCA/admin/ra/accounts/{id}/server-policy" id="server-policy-link">{}</a></p>"#,
            lang.t(
                "服务器证书策略（允许的域名、通配符、IP 地址、名称数）",
                "Server certificate policy (allowed domains, wildcards, IP addresses, names)"
            )
        ));
    }
    if account.settings.verification == topca_core::lifecycle::VerificationMode::Passcode {
        body.push_str(&format!(
            r#"<h3>{title}</h3><p>{hint}</p>
<form method="post" action="/TopCA/admin/ra/accounts/{id}/preregistrations" id="preregister">
<input type="hidden" name="csrf" value="{csrf}">
<label for="p-name">{name}</label><input id="p-name" name="name" required>
<label for="p-email">{email}</label><input id="p-email" name="email" type="email" required>
<label for="p-phone">{phone}</label><input id="p-phone" name="phone">
<button type="submit">{register}</button></form>
<form method="post" action="/TopCA/admin/ra/accounts/{id}/preregistrations/csv" id="preregister-csv">
<input type="hidden" name="csrf" value="{csrf}">
<label for="csv-file">{file}</label><input id="csv-file" type="file" accept=".csv,text/csv">
<label for="csv">{csv_l}</label><textarea id="csv" name="csv" rows="6" required placeholder="name,email,phone"></textarea>
<button type="submit" id="upload">{upload}</button></form>"#,
            title = lang.t("预注册持有者（授权码方式）", "Pre-register holders (passcode mode)"),
            hint = lang.t(
                "每位持有者会收到参考号和授权码邮件，无需审核即可下载证书。CSV 每行：姓名,电子邮件[,电话]。",
                "Each holder is mailed a reference number and an authorization code and retrieves without approval. CSV rows: name,email[,phone]."
            ),
            name = lang.t("姓名", "Name"),
            email = lang.t("电子邮件", "E-mail"),
            phone = lang.t("电话", "Phone"),
            register = lang.t("预注册", "Pre-register"),
            file = lang.t("选择 CSV 文件", "Choose a CSV file"),
            csv_l = lang.t("CSV 内容", "CSV content"),
            upload = lang.t("批量预注册", "Pre-register all"),
        ));
    }
    body.push_str(&format!(
        r#"<h3>{title}</h3><p>{hint}</p>
<form method="post" action="/TopCA/admin/ra/accounts/{id}/central-issuance" id="central">
<input type="hidden" name="csrf" value="{csrf}">
<label for="c-name">{name}</label><input id="c-name" name="name" required>
<label for="c-email">{email}</label><input id="c-email" name="email" type="email" required>
<label for="c-password">{password}</label><input id="c-password" name="password" type="password" minlength="8" required>
<button type="submit" id="issue">{issue}</button></form>{back}"#,
        title = lang.t("集中签发", "Central issuance"),
        hint = lang.t(
            "由 CA 生成密钥并签发证书，以 PKCS#12 文件交付（用下面的口令保护，口令也成为持有者的用户口令）。",
            "The CA makes the key and issues the certificate, delivered as a PKCS#12 file under the password below (which also becomes the holder's user password)."
        ),
        name = lang.t("姓名", "Name"),
        email = lang.t("电子邮件", "E-mail"),
        password = lang.t("口令", "Password"),
        issue = lang.t("签发", "Issue"),
        back = back_link(lang, "/TopCA/admin"),
    ));
    page(lang, lang.t("帐户", "Account"), &body, cookie)
}

async fn edit_account(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<AccountForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let settings = match form.body().settings() {
        Ok(settings) => settings,
        Err(e) => return error_page(lang, &e),
    };
    let updated = blocking(&state, move |s| {
        Ok(s.ra().update_account(&ops, AccountId(id), settings)?)
    })
    .await;
    match updated {
        Ok(account) => {
            let body = format!(
                r#"<p class="ok" id="saved">{} {} / {}</p>{}"#,
                lang.t("帐户已保存：", "Account saved:"),
                escape(&account.settings.organization),
                escape(&account.settings.unit),
                back_link(lang, &format!("/TopCA/admin/ra/accounts/{id}")),
            );
            page(lang, lang.t("帐户", "Account"), &body, None)
        }
        Err(e) => error_page(lang, &e),
    }
}

// ---- passcode pre-registration and central issuance ----

#[derive(Deserialize)]
struct HolderForm {
    csrf: String,
    name: String,
    email: String,
    #[serde(default)]
    phone: String,
}

async fn preregister_one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<HolderForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let holder = Holder {
        name: form.name,
        email: form.email,
        phone: Some(form.phone).filter(|p| !p.trim().is_empty()),
        state: None,
        locality: None,
    };
    let done = blocking(&state, move |s| {
        Ok(s.ra().preregister(&ops, AccountId(id), holder)?)
    })
    .await;
    match done {
        Ok(request) => {
            let body = format!(
                r#"<p class="ok" id="registered">{} {} &lt;{}&gt; (#{})</p>{}"#,
                lang.t(
                    "已预注册，参考号和授权码已发送给：",
                    "Pre-registered; the reference number and code were mailed to"
                ),
                escape(&request.holder.name),
                escape(&request.holder.email),
                request.reference,
                back_link(lang, &format!("/TopCA/admin/ra/accounts/{id}")),
            );
            page(lang, lang.t("预注册", "Pre-registration"), &body, None)
        }
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct CsvForm {
    csrf: String,
    csv: String,
}

/// Registers the good rows and reports each bad one by line.
async fn preregister_csv(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CsvForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let csv = form.csv;
    let report = match blocking(&state, move |s| {
        Ok(s.ra().preregister_csv(&ops, AccountId(id), &csv)?)
    })
    .await
    {
        Ok(report) => report,
        Err(e) => return error_page(lang, &e),
    };
    let rejected: String = report
        .rejected
        .iter()
        .map(|r| format!("<tr><td>{}</td><td>{}</td></tr>", r.line, escape(&r.reason)))
        .collect();
    let mut body = format!(
        r#"<p class="ok" id="registered-count">{} {}</p>"#,
        lang.t("已预注册的持有者：", "Holders pre-registered:"),
        report.registered.len()
    );
    if !report.rejected.is_empty() {
        body.push_str(&format!(
            r#"<p class="error">{}</p><table id="rejected"><tr><th>{}</th><th>{}</th></tr>{rejected}</table>"#,
            lang.t(
                "以下各行未注册（其余各行已注册）：",
                "These rows were not registered (the others were):"
            ),
            lang.t("行", "Line"),
            lang.t("原因", "Reason"),
        ));
    }
    body.push_str(&back_link(lang, &format!("/TopCA/admin/ra/accounts/{id}")));
    page(
        lang,
        lang.t("批量预注册", "Bulk pre-registration"),
        &body,
        None,
    )
}

#[derive(Deserialize)]
struct CentralForm {
    csrf: String,
    name: String,
    email: String,
    password: String,
}

/// Issues with a CA-made key; the PKCS#12 file is offered for download once.
async fn issue_centrally(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CentralForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let holder = Holder {
        name: form.name,
        email: form.email,
        phone: None,
        state: None,
        locality: None,
    };
    let password = zeroize::Zeroizing::new(form.password);
    let delivery = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .issue_centrally(&ops, AccountId(id), holder, &password)?)
        })
        .await;
    match delivery {
        Ok(delivery) => {
            let serial = delivery.certificate.serial_hex();
            let p12 = zeroize::Zeroizing::new(
                base64::engine::general_purpose::STANDARD.encode(&*delivery.pkcs12),
            );
            let body = format!(
                r#"<p class="ok">{issued} <b id="serial">{serial}</b></p>
<p><a id="p12" download="{serial}.p12" href="data:application/x-pkcs12;base64,{p12}">{download}</a></p>
<p>{hint}</p><pre>{pem}</pre>{back}"#,
                issued = lang.t("证书已签发，序列号：", "Certificate issued, serial"),
                p12 = p12.as_str(),
                download = lang.t(
                    "下载 PKCS#12 文件（证书和私钥）",
                    "Download the PKCS#12 file (certificate and key)"
                ),
                hint = lang.t(
                    "此文件只在本页提供一次，请交给持有者；它受您设置的口令保护。",
                    "The file is offered on this page only; hand it to the holder. It is protected by the password you set."
                ),
                pem = escape(&delivery.certificate.to_pem()),
                back = back_link(lang, &format!("/TopCA/admin/ra/accounts/{id}")),
            );
            page(lang, lang.t("集中签发", "Central issuance"), &body, None)
        }
        Err(e) => error_page(lang, &e),
    }
}
