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
    AppState,
    admin::{password_long_enough, password_too_short},
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
        return error_page(lang, &password_too_short());
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
