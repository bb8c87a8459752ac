//! Password hashing is bounded: 200 concurrent administrator log-ins keep the
//! process's peak memory (VmHWM) under 300 MB, and the requests beyond the
//! hashing gate's permits and queue get 503 with Retry-After at once. Alone in
//! its own test binary, so no other test shares the process's peak.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{admins, options, send};
use topca_core::ra::AdminRole;
use topca_server::{
    limits::{Limits, RateLimiter},
    setup::start,
};

/// The process's peak resident memory, in kB.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_log_ins_stay_under_300_mb() {
    let data = tempfile::tempdir().unwrap();
    let (mut state, _) = start(&options(data.path())).unwrap();
    admins(&state, &[("clerk", AdminRole::RaAdmin)]);
    // One address may try 200 times here: only the hashing gate is under test
    // (the per-address limit has its own test).
    state.limits = Limits {
        admin_login_per_source: RateLimiter::new(1000, Duration::from_secs(60)),
        ..Limits::default()
    };
    let app = topca_server::router(Arc::new(state));
    let attempts: Vec<_> = (0..200)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let request = Request::post("/api/v1/admin/sessions")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(
                        serde_json::json!({"name": if i % 2 == 0 { "clerk" } else { "nobody" },
                                           "password": format!("guess {i}")})
                        .to_string(),
                    ))
                    .unwrap();
                let (status, _, headers) = send(&app, request).await;
                (status, headers.get(header::RETRY_AFTER).cloned())
            })
        })
        .collect();
    let (mut refused, mut busy) = (0, 0);
    for attempt in attempts {
        let (status, retry_after) = attempt.await.unwrap();
        match status {
            StatusCode::FORBIDDEN => refused += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                let seconds: u64 = retry_after
                    .expect("503 carries Retry-After")
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(seconds >= 1);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused + busy, 200);
    assert!(busy > 0, "the gate turned nobody away ({refused} checked)");
    let peak_mb = peak_rss_kb() / 1024;
    assert!(peak_mb < 300, "peak resident memory {peak_mb} MB");
}
