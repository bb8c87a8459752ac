//! Abuse limits shared by every endpoint: who is asking ([`ClientAddr`], the
//! client's address as the connection gives it) and counters per key over a
//! fixed window ([`RateLimiter`]), kept in memory with a bounded number of keys.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::{proxies::ForwardedClient, tls::Peer};

/// The address of the client that sent a request, from the connection
/// (`ConnectInfo<Peer>`), or as a trusted load balancer names it
/// ([`crate::proxies`]). IPv6 clients count per /64, the block one subscriber
/// usually holds. A request without connection information (the router called
/// in-process) counts as the unspecified address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key limits count under: the address, or its /64 for IPv6.
    pub fn key(self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0).to_string() + "/64"
                }
            },
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

impl ClientAddr {
    /// The client address recorded in a request's extensions: the one a trusted
    /// proxy named ([`ForwardedClient`]), else the connection's.
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        if let Some(ForwardedClient(client)) = extensions.get::<ForwardedClient>() {
            return Self(*client);
        }
        let addr = extensions
            .get::<axum::extract::ConnectInfo<Peer>>()
            .map(|info| info.0.addr.ip())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Self(addr)
    }
}

/// At most `max` events per key in each `window`; the keys kept are bounded (when
/// the table is full of live keys, new keys are refused until some expire, so
/// a flood of sources cannot grow memory).
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window: Duration,
    capacity: usize,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Keys a limiter keeps at most.
const CAPACITY: usize = 100_000;

impl RateLimiter {
    /// `max` events per key in each `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            capacity: CAPACITY,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `key`; `Err(seconds)` when the key is over its limit,
    /// with the seconds until its window ends.
    pub fn hit(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(mut counts) = self.counts.lock() else {
            return Err(self.window.as_secs().max(1));
        };
        if counts.len() >= self.capacity && !counts.contains_key(key) {
            counts.retain(|_, (start, _)| now.duration_since(*start) < self.window);
            if counts.len() >= self.capacity {
                return Err(self.window.as_secs().max(1));
            }
        }
        let entry = counts.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Whether `key` is over its limit, without counting an event:
    /// `Err(seconds)` as [`RateLimiter::hit`] would answer.
    pub fn peek(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(counts) = self.counts.lock() else {
            return Err(self.window.as_secs().max(1));
        };
        match counts.get(key) {
            Some((start, count))
                if now.duration_since(*start) < self.window && *count >= self.max =>
            {
                let left = self.window.saturating_sub(now.duration_since(*start));
                Err(left.as_secs().max(1))
            }
            _ => Ok(()),
        }
    }
}

/// The limiters of one server (defaults in [`Limits::default`]; the README's
/// security notes list them).
#[derive(Debug)]
pub struct Limits {
    /// Administrator log-in attempts per client address.
    pub admin_login_per_source: RateLimiter,
    /// Holder secrets (password, PIN, authorization code) tried per client address.
    pub holder_secret_per_source: RateLimiter,
    /// Mails a client address may cause.
    pub mail_per_source: RateLimiter,
    /// Mails sent to one address.
    pub mail_per_address: RateLimiter,
    /// Wrong CMP/EST shared secrets per (client address, reference): the
    /// guessing of one holder's secret (see [`crate::secret_limits`]).
    pub shared_secret_per_reference: RateLimiter,
    /// Wrong CMP/EST shared secrets per client address, over every reference:
    /// the guessing of references.
    pub shared_secret_per_source: RateLimiter,
    /// Audit entries of wrong shared secrets per client address.
    pub shared_secret_audit_per_source: RateLimiter,
}

impl Default for Limits {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        let hour = Duration::from_secs(3600);
        let quarter = Duration::from_secs(15 * 60);
        Self {
            admin_login_per_source: RateLimiter::new(30, minute),
            holder_secret_per_source: RateLimiter::new(30, minute),
            mail_per_source: RateLimiter::new(20, hour),
            mail_per_address: RateLimiter::new(10, hour),
            shared_secret_per_reference: RateLimiter::new(10, quarter),
            shared_secret_per_source: RateLimiter::new(100, quarter),
            shared_secret_audit_per_source: RateLimiter::new(20, quarter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_limit_is_refused_and_others_are_not() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(limiter.hit("a"), Ok(()));
        }
        let retry = limiter
            .hit("a")
            .expect_err("the fourth event is over the limit");
        assert!((1..=60).contains(&retry), "retry after {retry}");
        assert_eq!(limiter.hit("b"), Ok(()));
    }

    #[test]
    fn peek_tells_an_exhausted_key_without_counting() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        for _ in 0..5 {
            assert_eq!(limiter.peek("a"), Ok(()), "peeking counts nothing");
        }
        assert_eq!(limiter.hit("a"), Ok(()));
        assert_eq!(limiter.hit("a"), Ok(()));
        let retry = limiter.peek("a").expect_err("two events reach the limit");
        assert!((1..=60).contains(&retry), "retry after {retry}");
        assert_eq!(limiter.peek("b"), Ok(()));
    }

    #[test]
    fn a_full_table_refuses_new_keys_but_keeps_counting_known_ones() {
        let limiter = RateLimiter {
            capacity: 2,
            ..RateLimiter::new(5, Duration::from_secs(60))
        };
        assert_eq!(limiter.hit("a"), Ok(()));
        assert_eq!(limiter.hit("b"), Ok(()));
        assert!(limiter.hit("c").is_err());
        assert_eq!(limiter.hit("a"), Ok(()));
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("address");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("address");
        assert_eq!(ClientAddr(a).key(), ClientAddr(b).key());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("address");
        assert_eq!(ClientAddr(mapped).key(), "192.0.2.7");
    }
}
