//! A super administrator sets another administrator's password or deletes the
//! administrator; either ends that administrator's sessions at once.

use std::sync::Arc;

use axum::{
    Form, Router,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::post,
};
use serde::Deserialize;
use topca_core::ra::{Administrator, admin as accounts};

use crate::{
    AppError, AppState,
    admin::{MIN_PASSWORD, password_long_enough},
    admin_session::console_form,
    html::{Lang, error_page},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/admin/super/admins/{name}/password",
            post(set_password),
        )
        .route("/TopCA/admin/super/admins/{name}/delete", post(delete))
}

/// The password and delete forms of the administrator `name` (URL-encoded).
pub(crate) fn forms(lang: Lang, csrf: &str, name: &str) -> String {
    format!(
        r#"<form method="post" action="/TopCA/admin/super/admins/{name}/password"><input type="hidden" name="csrf" value="{csrf}"><input name="password" type="password" minlength="{MIN_PASSWORD}" required aria-label="{label}"><button>{set}</button></form>
<form method="post" action="/TopCA/admin/super/admins/{name}/delete"><input type="hidden" name="csrf" value="{csrf}"><button>{delete}</button></form>"#,
        label = lang.t("新口令", "New password"),
        set = lang.t("设置口令", "Set the password"),
        delete = lang.t("删除管理员", "Delete the administrator"),
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    password: String,
}

async fn set_password(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let password = zeroize::Zeroizing::new(form.password);
    if !password_long_enough(&password) {
        return error_page(
            lang,
            &AppError::bad_request(lang.t(
                &format!("管理员口令至少需要 {MIN_PASSWORD} 个字符。"),
                &format!("An administrator password needs {MIN_PASSWORD} characters or more."),
            )),
        );
    }
    let done = state
        .hashing
        .run(&state, move |s| {
            Ok(accounts::set_admin_password(
                &s.store, &ops, &s.ca, &name, &password,
            )?)
        })
        .await;
    match done {
        Ok(_) => Redirect::to("/TopCA/admin/super").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let done = blocking(&state, move |s| {
        Ok(accounts::delete_admin(
            &s.store,
            &ops,
            s.ca.environment().clock(),
            &name,
        )?)
    })
    .await;
    match done {
        Ok(()) => Redirect::to("/TopCA/admin/super").into_response(),
        Err(e) => error_page(lang, &e),
    }
}
