//! The RA console's machine clients: the list (paged) and revocation by an RA
//! administrator (a form with the session's CSRF token; audited).

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;
use topca_core::{
    audit::Actor,
    client::{ClientRegistry, MachineClient, profile_name},
    format_utc,
    ra::Administrator,
};

use crate::{
    AppError, AppState,
    admin_session::{console_csrf, console_form, console_session},
    html::{Chrome, Pager, error_page, render},
    i18n::Lang,
    state::blocking,
};

/// Clients listed per page.
const PAGE_ROWS: u64 = 50;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/clients", get(list_page))
        .route("/TopCA/admin/ra/clients/{id}/revoke", post(revoke_page))
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<u64>,
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// One client as the list shows it.
struct ClientRow {
    id: u64,
    name: String,
    account: u64,
    profiles: String,
    names: String,
    days: u32,
    added: String,
    revoked: Option<String>,
}

impl ClientRow {
    fn of(t: Lang, c: &MachineClient) -> Self {
        Self {
            id: c.id.0,
            name: c.name.clone(),
            account: c.account.0,
            profiles: c
                .profiles
                .iter()
                .map(|p| {
                    t.s(&format!(
                        "values.client_profile.{}",
                        profile_name(*p).replace('-', "_")
                    ))
                    .to_owned()
                })
                .collect::<Vec<_>>()
                .join(t.s("audit.detail.list_separator")),
            names: if c.allowed_names.is_empty() {
                t.s("clients.console.account_policy").to_owned()
            } else {
                c.allowed_names.join(", ")
            },
            days: c.validity_days,
            added: format_utc(c.created),
            revoked: c.revoked.map(format_utc),
        }
    }
}

#[derive(Template)]
#[template(path = "ra/clients.html")]
struct ClientsPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    revoked: Option<String>,
    rows: Vec<ClientRow>,
    pager: Pager,
}

/// The list, page `page` (after a revocation, with its confirmation).
async fn show(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    page: Option<u64>,
    revoked: Option<String>,
) -> Response {
    let t = Lang::of(headers);
    let listed = blocking(state, move |s| {
        let env = s.ca.environment();
        let registry = ClientRegistry::new(&s.store, env.random(), env.clock());
        let (_, total) = registry.list(0, 0)?;
        let pager = Pager::new(page, PAGE_ROWS, total, "/TopCA/admin/ra/clients");
        let offset = usize::try_from(pager.offset()).unwrap_or(usize::MAX);
        let (clients, _) = registry.list(offset, PAGE_ROWS as usize)?;
        Ok((clients, pager))
    })
    .await;
    let (clients, pager) = match listed {
        Ok(listed) => listed,
        Err(e) => return error_page(t, &e),
    };
    let view = ClientsPage {
        t,
        page: Chrome::new(
            t.s("clients.console.title"),
            &[(t.s("clients.console.console"), "/TopCA/admin")],
        ),
        csrf: console_csrf(headers),
        revoked,
        rows: clients.iter().map(|c| ClientRow::of(t, c)).collect(),
        pager,
    };
    render(StatusCode::OK, &view, None)
}

async fn list_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(Lang::of(&headers));
    }
    show(&state, &headers, q.page, None).await
}

async fn revoke_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let revoked = blocking(&state, move |s| {
        let env = s.ca.environment();
        let registry = ClientRegistry::new(&s.store, env.random(), env.clock());
        let client = registry.revoke(Actor::Admin(ops.admin().into()), &id.to_string())?;
        Ok::<_, AppError>(client.name)
    })
    .await;
    match revoked {
        Ok(name) => show(&state, &headers, None, Some(name)).await,
        Err(e) => error_page(t, &e),
    }
}
