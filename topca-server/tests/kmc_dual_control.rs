//! Dual control over escrowed keys, as an attacker holding one `super,ra,kmc`
//! account would try it: make a second KMC administrator, request and approve a
//! recovery, read the code from the approval, issue a signing certificate for the
//! victim and recover the key to it. Every step is refused; the code reaches the
//! holder alone; recovery identifiers are not guessable; and concurrent wrong
//! codes each count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{
    ADMIN_PASSWORD, CSRF, admins, call_as, openssl_outcome, options, outbox, post_json, send, token,
};
use topca_core::{
    OsRandom, SystemClock,
    audit::{AuditAction, Outcome},
    kmc::{RecoveryId, RecoveryState},
    ra::{AdminRole, admin::create_admin},
    store::{AdminStore, AuditStore, EscrowStore},
};
use topca_server::{AppState, setup::start};

const VICTIM: &str = "victim@example.cn";
const VICTIM_PASSWORD: &str = "victim-password-1";

/// A P-256 key made by OpenSSL in `dir` and its CSR (PEM).
fn csr(dir: &Path) -> String {
    let (ok, out) = openssl_outcome(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=user",
            "-keyout",
            "user.key",
            "-out",
            "user.csr",
        ],
    );
    assert!(ok, "{out}");
    std::fs::read_to_string(dir.join("user.csr")).unwrap()
}

/// A dual account (automatic approval) made by an RA administrator.
async fn dual_account(app: &Router, ra: &str, unit: &str) -> u64 {
    let (status, created) = call_as(
        app,
        ra,
        "POST",
        "/api/v1/admin/accounts",
        Some(serde_json::json!({
            "organization": "天诚安信", "unit": unit, "certificate_type": "dual",
            "verification": "automatic", "algorithm": "p256", "validity_days": 365,
            "service_url": "https://ca.example.cn/TopCA/userEnroll", "language": "zh"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["id"].as_u64().unwrap()
}

/// The victim applies under `account` and retrieves a dual pair with their own
/// key: the signing and encryption serials.
async fn victim_retrieves(app: &Router, data: &Path, account: u64) -> (String, String) {
    let (status, answer) = post_json(
        app,
        &format!("/api/v1/accounts/{account}/applications"),
        serde_json::json!({"name": "王受害", "email": VICTIM, "password": VICTIM_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let pin = outbox(data)
        .into_iter()
        .find(|m| m.to.contains(VICTIM) && m.body.contains("PIN"))
        .and_then(|m| m.secret_line())
        .expect("a PIN mail");
    let work = tempfile::tempdir().unwrap();
    let (status, retrieved) = post_json(
        app,
        "/api/v1/retrievals",
        serde_json::json!({"pin": pin, "password": VICTIM_PASSWORD, "csr": csr(work.path())}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retrieved}");
    (
        retrieved["certificate"]["serial"]
            .as_str()
            .unwrap()
            .to_owned(),
        retrieved["encryption"]["certificate"]["serial"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// The authorization code in the newest recovery mail, and everyone it went to.
fn mailed_code(data: &Path) -> (String, Vec<String>) {
    let mails = outbox(data);
    let code = mails
        .iter()
        .find(|m| m.body.contains("授权码是"))
        .and_then(|m| m.secret_line())
        .expect("a recovery code mail");
    let recipients = mails
        .iter()
        .filter(|m| m.body.contains(&code))
        .map(|m| m.to.clone())
        .collect();
    (code, recipients)
}

/// A server with the attacker `boss` (super, ra and kmc, made on the machine)
/// and two genuine KMC agents `kmc-a` and `kmc-b`. The per-address limit on
/// holder secrets is raised, so every guess reaches the recovery's own count
/// (that limit is tested in `holder_abuse.rs`).
fn server(data: &Path) -> (Arc<AppState>, Router) {
    let (mut state, _) = start(&options(data)).unwrap();
    state.limits.holder_secret_per_source =
        topca_server::limits::RateLimiter::new(10_000, std::time::Duration::from_secs(60));
    create_admin(
        &state.store,
        "boss",
        ADMIN_PASSWORD,
        vec![
            AdminRole::SuperAdmin,
            AdminRole::RaAdmin,
            AdminRole::KmcAdmin,
        ],
        &OsRandom,
        &SystemClock,
    )
    .unwrap();
    admins(
        &state,
        &[
            ("kmc-a", AdminRole::KmcAdmin),
            ("kmc-b", AdminRole::KmcAdmin),
        ],
    );
    let state = Arc::new(state);
    let app = topca_server::router(Arc::clone(&state));
    (state, app)
}

fn error(answer: &serde_json::Value) -> &str {
    answer["detail"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_super_ra_kmc_administrator_cannot_recover_a_holders_key_alone() {
    let data = tempfile::tempdir().unwrap();
    let (state, app) = server(data.path());
    let boss = token(&app, "boss", ADMIN_PASSWORD).await;
    let account = dual_account(&app, &boss, "保密部").await;
    let other_account = dual_account(&app, &boss, "另一个部门").await;
    let (victim_signing, encryption) = victim_retrieves(&app, data.path(), account).await;

    // A signing certificate for the victim's e-mail under another account, whose
    // key the RA holds, issued before any recovery is asked for.
    let (status, elsewhere) = call_as(
        &app,
        &boss,
        "POST",
        &format!("/api/v1/admin/accounts/{other_account}/central-issuance"),
        Some(
            serde_json::json!({"name": "王受害", "email": VICTIM, "password": "rogue-password-1"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{elsewhere}");
    let elsewhere = elsewhere["serial"].as_str().unwrap().to_owned();

    // Step 1: the boss makes a second KMC administrator in the console.
    let (status, _, _) = send(
        &app,
        Request::post("/TopCA/admin/super/admins")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("topca_csrf={CSRF}"))
            .header(header::AUTHORIZATION, format!("Bearer {boss}"))
            .body(Body::from(format!(
                "csrf={CSRF}&name=mule&password=mule-password-1&kmc=on"
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the boss may create it");
    let mule = token(&app, "mule", "mule-password-1").await;

    // Step 2: neither the boss (super, ra) nor the fresh administrator may ask.
    let ask = serde_json::json!({"encryption_serial": encryption, "reason": "内部调查"});
    let (status, answer) = call_as(
        &app,
        &boss,
        "POST",
        "/api/v1/admin/recoveries",
        Some(ask.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(error(&answer).contains("kmc role and no other"), "{answer}");
    let (status, answer) = call_as(
        &app,
        &mule,
        "POST",
        "/api/v1/admin/recoveries",
        Some(ask.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(error(&answer).contains("recently"), "{answer}");

    // A genuine agent asks; the identifier is 128 random bits, not a number.
    // The victim's certificates are from an earlier second (times are whole
    // seconds: only a certificate surely older than the request receives a key).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let kmc_a = token(&app, "kmc-a", ADMIN_PASSWORD).await;
    let (status, asked) = call_as(
        &app,
        &kmc_a,
        "POST",
        "/api/v1/admin/recoveries",
        Some(ask.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    let id = asked["recovery"].as_str().unwrap().to_owned();
    assert!(RecoveryId::parse(&id).is_some(), "{id}");
    for guessed in ["1", "2", "00000000000000000000000000000001"] {
        let (status, _) = call_as(
            &app,
            &kmc_a,
            "POST",
            &format!("/api/v1/admin/recoveries/{guessed}/approve"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{guessed}");
    }

    // Step 3: neither the boss nor the fresh administrator may approve; the
    // requester may not approve their own request.
    let approve = format!("/api/v1/admin/recoveries/{id}/approve");
    let (status, answer) = call_as(&app, &boss, "POST", &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = call_as(&app, &mule, "POST", &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = call_as(&app, &kmc_a, "POST", &approve, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    // Roles are read at the time of the action: an agent given the ra role since
    // logging in is refused with the session it has.
    let kmc_b = token(&app, "kmc-b", ADMIN_PASSWORD).await;
    let mut record = state.store.admin("kmc-b").unwrap().unwrap();
    let agent_roles = record.roles.clone();
    record.roles.push(AdminRole::RaAdmin);
    let record = state.store.update_admin(&record).unwrap();
    let (status, answer) = call_as(&app, &kmc_b, "POST", &approve, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let mut record = record;
    record.roles = agent_roles;
    state.store.update_admin(&record).unwrap();

    // The second genuine agent approves: the answer carries no code.
    let (status, approved) = call_as(&app, &kmc_b, "POST", &approve, None).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], RecoveryState::Approved.label());
    assert!(approved.get("code").is_none(), "{approved}");
    let (code, recipients) = mailed_code(data.path());
    assert!(code.starts_with(&format!("{id}-")), "{code}");
    assert!(
        recipients.iter().all(|to| to.contains(VICTIM)) && !recipients.is_empty(),
        "the code goes to the holder alone: {recipients:?}"
    );
    assert!(!approved.to_string().contains(&code));
    let secret = code.split_once('-').unwrap().1.to_owned();
    let audit: String = state
        .store
        .audit_entries()
        .unwrap()
        .iter()
        .map(|e| format!("{:?}", e.record))
        .collect();
    assert!(!audit.contains(&secret), "the code is never logged");

    // Step 4: a signing certificate the RA makes for the victim now is too new,
    // and one under another account is another holder record.
    let (status, rogue) = call_as(
        &app,
        &boss,
        "POST",
        &format!("/api/v1/admin/accounts/{account}/central-issuance"),
        Some(
            serde_json::json!({"name": "王受害", "email": VICTIM, "password": "rogue-password-2"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rogue}");
    let rogue = rogue["serial"].as_str().unwrap().to_owned();
    for refused in [&rogue, &elsewhere, &encryption] {
        let (status, answer) = post_json(
            &app,
            "/api/v1/recoveries",
            serde_json::json!({"code": code, "signing_serial": refused}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}: {answer}");
        assert!(error(&answer).contains("signing certificates"), "{answer}");
    }

    // The holder recovers to their own signing certificate.
    let (status, recovered) = post_json(
        &app,
        "/api/v1/recoveries",
        serde_json::json!({"code": code, "signing_serial": victim_signing}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{recovered}");
    assert_eq!(recovered["certificate"]["serial"], encryption.as_str());

    // The holder was told of every step; every refusal is in the audit log.
    let notices: Vec<String> = outbox(data.path())
        .into_iter()
        .filter(|m| m.to.contains(VICTIM) && m.subject.contains("密钥恢复"))
        .map(|m| m.body)
        .collect();
    assert!(
        notices.iter().any(|b| b.contains("申请恢复该密钥"))
            && notices.iter().any(|b| b.contains("授权码是"))
            && notices
                .iter()
                .any(|b| b.contains("数字信封") && b.contains(&victim_signing)),
        "{notices:?}"
    );
    let entries = state.store.audit_entries().unwrap();
    let refused = |who: &str, action: AuditAction| {
        entries.iter().any(|e| {
            e.record.action == action
                && e.record.outcome == Outcome::Failure
                && format!("{:?}", e.record.actor).contains(who)
        })
    };
    assert!(refused("boss", AuditAction::RecoveryRequested));
    assert!(refused("mule", AuditAction::RecoveryRequested));
    assert!(refused("boss", AuditAction::RecoveryApproved));
    assert!(refused("mule", AuditAction::RecoveryApproved));
    assert!(
        refused(VICTIM, AuditAction::KeyRecovered),
        "refused deliveries"
    );
    assert_eq!(
        state
            .store
            .recovery(RecoveryId::parse(&id).unwrap())
            .unwrap()
            .unwrap()
            .state,
        RecoveryState::Used
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_wrong_recovery_codes_count_fifty_and_lock_it() {
    let data = tempfile::tempdir().unwrap();
    let (state, app) = server(data.path());
    let boss = token(&app, "boss", ADMIN_PASSWORD).await;
    let account = dual_account(&app, &boss, "保密部").await;
    let (signing, encryption) = victim_retrieves(&app, data.path(), account).await;
    let kmc_a = token(&app, "kmc-a", ADMIN_PASSWORD).await;
    let kmc_b = token(&app, "kmc-b", ADMIN_PASSWORD).await;
    let (status, asked) = call_as(
        &app,
        &kmc_a,
        "POST",
        "/api/v1/admin/recoveries",
        Some(serde_json::json!({"encryption_serial": encryption, "reason": "换电脑"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    let id = asked["recovery"].as_str().unwrap().to_owned();
    let (status, _) = call_as(
        &app,
        &kmc_b,
        "POST",
        &format!("/api/v1/admin/recoveries/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (code, _) = mailed_code(data.path());

    let wrong = format!("{id}-AAAA-BBBB-CCCC");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let body = serde_json::json!({"code": wrong, "signing_serial": signing});
            tokio::spawn(async move { post_json(&app, "/api/v1/recoveries", body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(
        answers.iter().all(|(status, _)| status.is_client_error()),
        "{answers:?}"
    );
    let wrong_code_answers = answers
        .iter()
        .filter(|(_, a)| error(a).contains("is wrong"))
        .count();
    assert!(
        wrong_code_answers < 5,
        "at most the first four are checked and answered as wrong: {answers:?}"
    );

    // All fifty counted and audited; the recovery is locked, the right code too.
    let recovery = state
        .store
        .recovery(RecoveryId::parse(&id).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(recovery.failed_attempts, 50);
    assert_eq!(recovery.state, RecoveryState::Locked);
    let failures = state
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.record.action == AuditAction::KeyRecovered
                && e.record.outcome == Outcome::Failure
                && e.record.target.contains(&id)
        })
        .count();
    assert_eq!(failures, 50, "each wrong code audited");
    let (status, answer) = post_json(
        &app,
        "/api/v1/recoveries",
        serde_json::json!({"code": code, "signing_serial": signing}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(error(&answer).contains("locked"), "{answer}");
    let locked_notices = outbox(data.path())
        .into_iter()
        .filter(|m| m.to.contains(VICTIM) && m.body.contains("已被锁定"))
        .count();
    assert_eq!(locked_notices, 1, "the holder is told once");

    // A refusal in the console is audited and mailed to the holder too.
    let (_, asked) = call_as(
        &app,
        &kmc_a,
        "POST",
        "/api/v1/admin/recoveries",
        Some(serde_json::json!({"encryption_serial": encryption, "reason": "再试"})),
    )
    .await;
    let again = asked["recovery"].as_str().unwrap().to_owned();
    let (status, _, _) = send(
        &app,
        Request::post(format!("/TopCA/admin/kmc/recoveries/{again}/reject"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("topca_csrf={CSRF}"))
            .header(header::AUTHORIZATION, format!("Bearer {kmc_b}"))
            .body(Body::from(format!("csrf={CSRF}&reason=no")))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        state
            .store
            .recovery(RecoveryId::parse(&again).unwrap())
            .unwrap()
            .unwrap()
            .state,
        RecoveryState::Rejected
    );
    assert!(
        outbox(data.path())
            .iter()
            .any(|m| m.to.contains(VICTIM) && m.body.contains("拒绝了该恢复申请"))
    );
}

/// A console page as the administrator of `bearer` sees it (Chinese).
async fn page_as(app: &Router, bearer: &str, uri: &str) -> (StatusCode, String) {
    let (status, body, _) = send(
        app,
        Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    (status, String::from_utf8(body).unwrap())
}

/// Posts a console form with the session `token` as its cookie (a browser's
/// session: the form needs the session's CSRF token) or as a bearer token.
async fn form_as(
    app: &Router,
    token: &str,
    cookie: bool,
    uri: &str,
    form: &str,
) -> (StatusCode, String) {
    let request =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let request = if cookie {
        request.header(header::COOKIE, format!("topca_admin={token}"))
    } else {
        request
            .header(header::COOKIE, format!("topca_csrf={CSRF}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
    };
    let (status, body, _) = send(app, request.body(Body::from(form.to_owned())).unwrap()).await;
    (status, String::from_utf8(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kmc_console_picks_keys_from_a_list_and_shows_who_asked_for_which_holder() {
    let data = tempfile::tempdir().unwrap();
    let (state, app) = server(data.path());
    admins(&state, &[("clerk", AdminRole::RaAdmin)]);
    let boss = token(&app, "boss", ADMIN_PASSWORD).await;
    let account = dual_account(&app, &boss, "密钥部").await;
    let (_, encryption) = victim_retrieves(&app, data.path(), account).await;
    let kmc_a = token(&app, "kmc-a", ADMIN_PASSWORD).await;
    let kmc_b = token(&app, "kmc-b", ADMIN_PASSWORD).await;
    let clerk = token(&app, "clerk", ADMIN_PASSWORD).await;

    // The picker lists every escrowed key with its holder; no serial is typed.
    let (status, keys) = page_as(&app, &kmc_a, "/TopCA/admin/kmc/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        keys.contains(&format!("data-key=\"{encryption}\"")) && keys.contains("王受害"),
        "{keys}"
    );
    assert!(keys.contains("name=\"serial\" value=\"") && keys.contains("托管密钥"));
    for query in ["q=VICTIM%40example", &format!("q={}", &encryption[4..12])] {
        let (_, found) = page_as(&app, &kmc_a, &format!("/TopCA/admin/kmc/keys?{query}")).await;
        assert!(found.contains(&encryption), "{query}: {found}");
    }
    // Metacharacters are searched as text and shown escaped; odd pages are the first.
    let (status, odd) = page_as(
        &app,
        &kmc_a,
        "/TopCA/admin/kmc/keys?q=%3Cscript%3Ex%25%27--&page=abc",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(odd.contains("&#60;script&#62;x%&#39;--"), "{odd}");
    assert!(
        !odd.contains("<script>x") && odd.contains("id=\"none\""),
        "{odd}"
    );
    for page in ["0", "18446744073709551615", "99999999999999999999999"] {
        let (status, body) =
            page_as(&app, &kmc_a, &format!("/TopCA/admin/kmc/keys?page={page}")).await;
        assert_eq!(status, StatusCode::OK, "page {page}");
        assert!(body.contains(&encryption), "page {page}");
    }

    // Another role cannot open it: the refusal is in Chinese.
    let (status, refused) = page_as(&app, &clerk, "/TopCA/admin/kmc/keys").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused.contains("此操作需要 KMC 管理员角色"), "{refused}");

    // A browser session's form without the session's CSRF token does nothing.
    let ask =
        format!("csrf={CSRF}&serial={encryption}&reason=%E7%94%B5%E8%84%91%E4%B8%A2%E5%A4%B1");
    let (status, expired) = form_as(&app, &kmc_a, true, "/TopCA/admin/kmc/recoveries", &ask).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(expired.contains("表单已过期"), "{expired}");
    let (status, empty) = form_as(
        &app,
        &kmc_a,
        false,
        "/TopCA/admin/kmc/recoveries",
        &format!("csrf={CSRF}&serial={encryption}&reason=%20"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(empty.contains("请填写原因"), "{empty}");
    let (status, _) = form_as(&app, &kmc_a, false, "/TopCA/admin/kmc/recoveries", &ask).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let recovery = state
        .store
        .recoveries_in_state(RecoveryState::Requested)
        .unwrap()
        .pop()
        .unwrap()
        .id
        .to_hex();

    // The requester sees their request waiting, without an approve button.
    let (_, home) = page_as(&app, &kmc_a, "/TopCA/admin").await;
    let row = &home[home
        .find(&format!("data-recovery=\"{recovery}\""))
        .expect("the waiting row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("class=\"own\"") && !row.contains("/approve"),
        "{row}"
    );
    assert!(
        row.contains("王受害") && row.contains(VICTIM) && row.contains("kmc-a"),
        "{row}"
    );
    let (status, own) = form_as(
        &app,
        &kmc_a,
        false,
        &format!("/TopCA/admin/kmc/recoveries/{recovery}/approve"),
        &format!("csrf={CSRF}"),
    )
    .await;
    assert!(status.is_client_error(), "{status}");
    assert!(own.contains("另一位 KMC 管理员审批"), "{own}");

    // The second administrator sees who asked and for which holder, and approves.
    let (_, home) = page_as(&app, &kmc_b, "/TopCA/admin").await;
    assert!(
        home.contains(&format!("/TopCA/admin/kmc/recoveries/{recovery}/approve")),
        "{home}"
    );
    let (status, listed) = page_as(
        &app,
        &kmc_b,
        "/TopCA/admin/kmc/recoveries?state=requested&q=%E7%8E%8B%E5%8F%97%E5%AE%B3",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        listed.contains(&recovery) && listed.contains("等待第二名管理员批准"),
        "{listed}"
    );
    let (status, bad) = page_as(&app, &kmc_b, "/TopCA/admin/kmc/recoveries?state=%3Cb%3E").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("未知的申请状态"), "{bad}");
    let (status, unknown) = form_as(
        &app,
        &kmc_b,
        false,
        "/TopCA/admin/kmc/recoveries/%3Cnot-an-id%3E/approve",
        &format!("csrf={CSRF}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(unknown.contains("没有此标识的密钥恢复申请"), "{unknown}");
    let (status, approved) = form_as(
        &app,
        &kmc_b,
        false,
        &format!("/TopCA/admin/kmc/recoveries/{recovery}/approve"),
        &format!("csrf={CSRF}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        approved.contains("id=\"approved\"")
            && approved.contains("王受害")
            && approved.contains("kmc-a"),
        "{approved}"
    );
    let (_, listed) = page_as(&app, &kmc_b, "/TopCA/admin/kmc/recoveries?state=approved").await;
    assert!(
        listed.contains(&recovery) && listed.contains("处理人：kmc-b"),
        "{listed}"
    );
}
