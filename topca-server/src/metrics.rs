//! `/metrics` in the Prometheus text exposition format (version 0.0.4), written
//! by hand: request counts by route template and status, issuance, revocation
//! and OCSP counts with latency histograms, and gauges read at scrape time (CRL
//! age and size, the approval queue, the password-hashing queue, the database
//! pool). Labels are route templates and status codes only — never a raw path,
//! a serial or anything a client wrote — so the series stay few.
//!
//! Only loopback clients and the addresses or networks of `metrics_allow`
//! (`TOPCA_METRICS_ALLOW`) are served; everyone else gets 404. A loopback client
//! whose request carries `X-Forwarded-For` or `Forwarded` came through a local
//! proxy and counts as a stranger.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use topca_core::observe::{Observer, Outcome};

use crate::{AppState, proxies::TrustedProxies, tls::Peer};

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// The route label of requests no route matched.
const UNMATCHED: &str = "unmatched";
/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The server's counters; told of issuances and revocations as the core's
/// [`Observer`].
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    issuance: Operation,
    revocation: Operation,
    ocsp: Operation,
    /// OCSP answers served pre-signed, and signed when asked.
    ocsp_presigned: AtomicU64,
    ocsp_signed: AtomicU64,
    /// Wrong CMP/EST shared secrets counted, and attempts refused over the limit.
    secret_failed: [AtomicU64; 2],
    secret_refused: [AtomicU64; 2],
}

/// The protocols whose shared secrets are limited, as metric labels.
const SECRET_PROTOCOLS: [&str; 2] = ["cmp", "est"];

/// Counts and latency of one kind of operation.
#[derive(Debug, Default)]
struct Operation {
    done: AtomicU64,
    failed: AtomicU64,
    latency: Histogram,
}

/// A cumulative latency histogram over [`BUCKETS`].
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Operation {
    fn record(&self, outcome: Outcome, took: Duration) {
        match outcome {
            Outcome::Done => &self.done,
            Outcome::Failed => &self.failed,
        }
        .fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.latency.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// `NAME_total{outcome}` and `NAME_duration_seconds`.
    fn write(&self, out: &mut String, name: &str, what: &str) {
        let _ = writeln!(out, "# HELP {name}_total {what}, by outcome.");
        let _ = writeln!(out, "# TYPE {name}_total counter");
        for (outcome, count) in [("ok", &self.done), ("error", &self.failed)] {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_total{{outcome=\"{outcome}\"}} {count}");
        }
        let hist = format!("{name}_duration_seconds");
        let _ = writeln!(out, "# HELP {hist} How long: {what}.");
        let _ = writeln!(out, "# TYPE {hist} histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency.buckets) {
            let count = bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{hist}_bucket{{le=\"{bound}\"}} {count}");
        }
        let count = self.latency.count.load(Ordering::Relaxed);
        let sum = Duration::from_nanos(self.latency.sum_nanos.load(Ordering::Relaxed));
        let _ = writeln!(out, "{hist}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{hist}_sum {}", sum.as_secs_f64());
        let _ = writeln!(out, "{hist}_count {count}");
    }
}

impl Observer for Metrics {
    fn issuance(&self, outcome: Outcome, took: Duration) {
        self.issuance.record(outcome, took);
    }

    fn revocation(&self, outcome: Outcome, took: Duration) {
        self.revocation.record(outcome, took);
    }
}

impl Metrics {
    /// Counts one answered OCSP request.
    pub fn ocsp(&self, outcome: Outcome, took: Duration) {
        self.ocsp.record(outcome, took);
    }

    /// Counts one OCSP answer by where it came from: pre-signed (from memory or
    /// the store) or signed for the request.
    pub fn ocsp_source(&self, presigned: bool) {
        if presigned {
            &self.ocsp_presigned
        } else {
            &self.ocsp_signed
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one answered request on `route` (a route template) with `status`.
    pub fn request(&self, route: &str, status: StatusCode) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((route.to_owned(), status.as_u16()))
                .or_insert(0) += 1;
        }
    }

    /// Counts a wrong CMP (`est` false) or EST shared secret, or (`refused`)
    /// an attempt refused over the failure limit.
    pub fn shared_secret(&self, est: bool, refused: bool) {
        let counters = if refused {
            &self.secret_refused
        } else {
            &self.secret_failed
        };
        counters[usize::from(est)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in the text exposition format.
    fn write_counters(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP topca_http_requests_total HTTP requests answered, by route template and status."
        );
        let _ = writeln!(out, "# TYPE topca_http_requests_total counter");
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), count) in requests.iter() {
                let route = escape(route);
                let _ = writeln!(
                    out,
                    "topca_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        self.issuance.write(
            out,
            "topca_issuances",
            "certificates prepared, recorded and signed",
        );
        self.revocation
            .write(out, "topca_revocations", "certificate revocations written");
        self.ocsp
            .write(out, "topca_ocsp_responses", "OCSP requests answered");
        let name = "topca_ocsp_answers_total";
        let _ = writeln!(
            out,
            "# HELP {name} OCSP answers, by source: pre-signed, or signed for the request."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for (source, count) in [
            ("presigned", &self.ocsp_presigned),
            ("signed", &self.ocsp_signed),
        ] {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{source=\"{source}\"}} {count}");
        }
        for (name, what, counters) in [
            (
                "topca_shared_secret_failures_total",
                "Wrong CMP/EST shared secrets (or unknown or revoked references), by protocol.",
                &self.secret_failed,
            ),
            (
                "topca_shared_secret_refusals_total",
                "CMP/EST attempts refused over the wrong-secret limit, by protocol.",
                &self.secret_refused,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {what}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (protocol, count) in SECRET_PROTOCOLS.iter().zip(counters) {
                let count = count.load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{protocol=\"{protocol}\"}} {count}");
            }
        }
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts every answered request under its route template (middleware).
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.request(&route, response.status());
    response
}

/// Whether a request from `peer` with `headers` may read the metrics.
pub fn allowed(allow: &TrustedProxies, peer: Option<&Peer>, headers: &HeaderMap) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    let ip = peer.addr.ip();
    if allow.contains(ip) {
        return true;
    }
    let loopback = match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    let proxied =
        headers.contains_key("x-forwarded-for") || headers.contains_key(header::FORWARDED);
    loopback && !proxied
}

/// `GET /metrics`: 404 for clients not allowed (see the module documentation).
pub async fn scrape(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<Peer>>();
    if !allowed(&state.metrics_allow, peer.map(|p| &p.0), request.headers()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let body = crate::state::blocking(&state, |s| Ok(exposition(s)))
        .await
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// Every metric, counters and gauges, as text (blocking: reads the database).
pub fn exposition(state: &AppState) -> String {
    let mut out = String::with_capacity(8 * 1024);
    state.metrics.write_counters(&mut out);
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {value}");
    };
    if let Some(crl) = crate::crl_sync::cached(state) {
        let now = SystemTime::now();
        let age = now
            .duration_since(crl.info.this_update)
            .unwrap_or_default()
            .as_secs();
        gauge(
            "topca_crl_age_seconds",
            "Seconds since thisUpdate of the full CRL this node serves.",
            age.to_string(),
        );
        gauge(
            "topca_crl_entries",
            "Certificates the full CRL this node serves lists.",
            crl.entries.to_string(),
        );
        gauge(
            "topca_crl_bytes",
            "Size (DER) of the full CRL this node serves.",
            crl.der.len().to_string(),
        );
    }
    if let Ok(waiting) = state.store.requests_awaiting_approval() {
        gauge(
            "topca_requests_awaiting_approval",
            "Requests waiting for an RA administrator.",
            waiting.to_string(),
        );
    }
    gauge(
        "topca_password_hash_queue",
        "Password and PIN checks running or waiting for their turn.",
        state.hashing.queued().to_string(),
    );
    let pool = state.store.pool_use();
    gauge(
        "topca_db_pool_connections",
        "Open database connections (idle or in use).",
        pool.connections.to_string(),
    );
    gauge(
        "topca_db_pool_idle_connections",
        "Open database connections not in use.",
        pool.idle.to_string(),
    );
    gauge(
        "topca_db_pool_max_connections",
        "The most database connections the pool opens.",
        pool.max.to_string(),
    );
    out
}
