//! The RA's "resend PIN" action: when the approval mail was lost (mail server
//! down, a crash between approval and mail, a deleted message), an RA
//! administrator gives an approved request a new PIN and mails it again. The old
//! PIN stops working at once; the action is audited under the administrator's
//! name ([`topca_core::audit::AuditAction::PinResent`]) and counts against the
//! holder address's mail limit.
//!
//! Pages: `GET /TopCA/admin/ra/approved` (approved requests waiting for their
//! holders, each with a button) and `POST /TopCA/admin/ra/requests/{id}/resend-pin`.
//! API: `POST /api/v1/admin/requests/{id}/resend-pin`.

use std::sync::Arc;

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    lifecycle::RequestState,
    ra::{Administrator, RaOps, RequestId},
    store::{AdminStore, RequestStore},
};

use crate::{
    AppError, AppState,
    admin_session::{api_session, console_csrf, console_form, console_session, forbidden},
    html::{Lang, error_page, escape, page},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/approved", get(approved_page))
        .route(
            "/TopCA/admin/ra/requests/{id}/resend-pin",
            post(resend_page),
        )
        .route("/api/v1/admin/requests/{id}/resend-pin", post(resend_api))
}

/// The answer to a resend: the request and its state (the PIN goes by mail only).
#[derive(Serialize, utoipa::ToSchema)]
struct Resent {
    request: u64,
    state: &'static str,
}

/// Counts a mail to the request's holder, then replaces its PIN and mails it.
fn resend(state: &AppState, ops: &RaOps, id: u64) -> Result<Resent, AppError> {
    let request = state
        .store
        .request(RequestId(id))
        .map_err(topca_core::Error::from)?
        .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "no such request"))?;
    if request.state != RequestState::Approved {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            format!(
                "request {id} is {}: only an approved request waiting for its holder gets a new PIN",
                request.state.label()
            ),
        ));
    }
    state
        .limits
        .mail_per_address
        .hit(&request.holder.email.to_lowercase())
        .map_err(|seconds| {
            AppError::limited(
                StatusCode::TOO_MANY_REQUESTS,
                "this holder was mailed too often; try again later",
                seconds,
            )
        })?;
    let request = state.ra().resend_pin(ops, RequestId(id))?;
    Ok(Resent {
        request: request.id.0,
        state: request.state.label(),
    })
}

/// Resends the PIN of an approved request: a new PIN is mailed, the old one
/// stops working (RA administrators).
#[utoipa::path(post, path = "/api/v1/admin/requests/{id}/resend-pin", tag = crate::api::tags::RA,
    params(("id" = u64, Path, description = "The request's number")), security(("bearer" = [])),
    responses(
        (status = 200, description = "A new PIN is mailed", body = Resent),
        (status = 404, description = "No such request"),
        (status = 409, description = "The request is not approved and waiting for its holder"),
        (status = 429, description = "The holder was mailed too often"),
        (status = 502, description = "The mail server did not take the mail"),
    ))]
async fn resend_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<Resent>, AppError> {
    let ops = api_session(&state, &headers)
        .await?
        .ra_ops()
        .map_err(forbidden)?;
    Ok(Json(blocking(&state, move |s| resend(s, &ops, id)).await?))
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn resend_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    match blocking(&state, move |s| resend(s, &ops, id)).await {
        Ok(resent) => page(
            lang,
            lang.t("重发身份识别码", "Resend the PIN"),
            &format!(
                r#"<p class="ok" id="resent">{} {}</p><p><a href="/TopCA/admin/ra/approved">{}</a></p>"#,
                lang.t(
                    "已生成新的身份识别码并重新发送，旧的身份识别码已失效。申请号：",
                    "A new PIN was made and mailed; the old PIN no longer works. Request:"
                ),
                resent.request,
                lang.t("返回", "Back"),
            ),
            None,
        ),
        Err(e) => error_page(lang, &e),
    }
}

async fn approved_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(lang);
    }
    let (csrf, cookie) = (console_csrf(&headers), None);
    let approved = match blocking(&state, |s| {
        Ok(s.store
            .requests_anywhere(RequestState::Approved, 200)
            .map_err(topca_core::Error::from)?)
    })
    .await
    {
        Ok(approved) => approved,
        Err(e) => return error_page(lang, &e),
    };
    let rows: String = approved
        .iter()
        .map(|r| {
            format!(
                r#"<tr><td>{id}</td><td>{name}</td><td>{email}</td><td>{kind:?}</td>
<td><form method="post" action="/TopCA/admin/ra/requests/{id}/resend-pin"><input type="hidden" name="csrf" value="{csrf}"><button>{resend}</button></form></td></tr>"#,
                id = r.id.0,
                name = escape(&r.holder.name),
                email = escape(&r.holder.email),
                kind = r.kind,
                resend = lang.t("重发身份识别码", "Resend the PIN"),
            )
        })
        .collect();
    let body = format!(
        r#"<p>{}</p><table id="approved"><tr><th>#</th><th>{}</th><th>{}</th><th></th><th></th></tr>{rows}</table><p><a href="/TopCA/admin">{}</a></p>"#,
        lang.t(
            "以下申请已批准、尚未获取证书。持有者没有收到身份识别码时，可重发：将生成新的身份识别码，旧的立即失效。",
            "These requests are approved and not yet retrieved. When a holder did not get the PIN, resend it: a new PIN is made and the old one stops working."
        ),
        lang.t("持有者", "Holder"),
        lang.t("电子邮件", "E-mail"),
        lang.t("返回控制台", "Back to the console"),
    );
    page(
        lang,
        lang.t(
            "已批准待获取的申请",
            "Approved requests waiting for retrieval",
        ),
        &body,
        cookie,
    )
}
