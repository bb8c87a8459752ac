//! The centre's query strings and forms, refused as a page in the user's
//! language (a link with a bad number, a form with a missing field) instead of
//! the framework's plain English text; and the per-source limit of holder
//! secrets, refused in both languages.

use axum::{
    Form,
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::{StatusCode, request::Parts},
    response::Response,
};
use serde::de::DeserializeOwned;

use crate::{
    AppError, AppState,
    html::{self, Lang},
    limits::ClientAddr,
};

/// A query string of the centre's pages.
pub(super) struct PageQuery<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(_) => Err(refused(Lang::of(&parts.headers), "user.bad_link")),
        }
    }
}

/// A form posted to the centre.
pub(super) struct PageForm<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let t = Lang::of(request.headers());
        match Form::<T>::from_request(request, state).await {
            Ok(Form(value)) => Ok(Self(value)),
            Err(_) => Err(refused(t, "user.bad_form")),
        }
    }
}

fn refused(t: Lang, key: &str) -> Response {
    html::error_page_back(
        t,
        &AppError::localized(StatusCode::BAD_REQUEST, key),
        super::CENTRE,
    )
}

/// The client's key for the per-source limit of holder secrets (PIN, user
/// password, codes), or the refusal with its Chinese sentence.
pub(super) fn holder_source(state: &AppState, client: ClientAddr) -> Result<String, AppError> {
    state.holder_secret_source(client).map_err(|e| {
        if e.message_zh.is_some() {
            e
        } else {
            e.zh(Lang::Zh.s("user.too_many"))
        }
    })
}
