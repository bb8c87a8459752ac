//! Clients behind a load balancer: when the connection comes from a trusted
//! proxy (`trusted_proxies` in the configuration, `TOPCA_TRUSTED_PROXIES`), the
//! client address the per-address limits count under is taken from the
//! `X-Forwarded-For` header the proxy appends to. Without it every client behind
//! a balancer would share the balancer's address, and one stranger could use up
//! everyone's budget of log-ins, holder secrets and mails.
//!
//! The header is read from its right end: each trusted proxy appends the address
//! it received the request from, so the rightmost address that is not itself a
//! trusted proxy is the client; anything left of it was written by the client and
//! proves nothing. A connection from an address that is not trusted keeps its own
//! address whatever headers it sends.

use std::{net::IpAddr, sync::Arc};

use axum::{
    extract::{Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};

use crate::{AppState, setup::SetupError};

/// Networks whose connections may name the client in `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

/// The client address a trusted proxy named for a request (see [`forwarded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedClient(pub IpAddr);

impl TrustedProxies {
    /// Parses a list of addresses and networks (`10.0.0.0/8`, `127.0.0.1`,
    /// `fd00::/8`); an entry that is neither is refused, named.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, SetupError> {
        let networks = entries
            .iter()
            .map(|entry| network(entry.as_ref().trim()))
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    /// Whether no proxy is trusted (the default).
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `addr` lies in one of the trusted networks.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.networks
            .iter()
            .any(|&(net, prefix)| within(addr, net, prefix))
    }

    /// The client behind a connection from `peer`: the rightmost address of
    /// `X-Forwarded-For` that is not a trusted proxy, when `peer` is trusted and
    /// the header names one; `None` otherwise (the peer is the client). A header
    /// with anything but addresses is not believed.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.contains(peer) {
            return None;
        }
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let text = value.to_str().ok()?;
            for hop in text.split(',') {
                hops.push(hop.trim().parse::<IpAddr>().ok()?);
            }
        }
        hops.into_iter()
            .rev()
            .map(canonical)
            .find(|hop| !self.contains(*hop))
    }
}

/// Marks a request from a trusted proxy with the client it names
/// ([`ForwardedClient`]), which [`crate::limits::ClientAddr`] then counts under.
pub async fn forwarded(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    // A client's own claim never stands: only this layer sets the mark.
    request.extensions_mut().remove::<ForwardedClient>();
    if !state.trusted_proxies.is_empty() {
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<crate::tls::Peer>>()
            .map(|info| info.0.addr.ip());
        if let Some(client) = peer.and_then(|p| state.trusted_proxies.client(p, request.headers()))
        {
            request.extensions_mut().insert(ForwardedClient(client));
        }
    }
    next.run(request).await
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) counts as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn network(entry: &str) -> Result<(IpAddr, u8), SetupError> {
    let refuse = || {
        SetupError::Usage(format!(
            "trusted_proxies: {entry:?} is not an address or a network such as 10.0.0.0/8"
        ))
    };
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    let addr = canonical(addr.parse::<IpAddr>().map_err(|_| refuse())?);
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(refuse)?,
        None => bits,
    };
    Ok((addr, prefix))
}

fn within(addr: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_and_single_addresses_are_matched_by_prefix() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.7", "fd00::/8"]).unwrap();
        assert!(trusted.contains(ip("10.200.3.4")));
        assert!(trusted.contains(ip("192.0.2.7")));
        assert!(!trusted.contains(ip("192.0.2.8")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(trusted.contains(ip("::ffff:10.1.1.1")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        let everything = TrustedProxies::parse(&["0.0.0.0/0"]).unwrap();
        assert!(everything.contains(ip("203.0.113.9")));
    }

    #[test]
    fn bad_entries_are_refused_by_name() {
        for bad in ["10.0.0.0/33", "not-an-address", "10.0.0.0/x", "::/129", ""] {
            let error = TrustedProxies::parse(&[bad]).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
        }
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_client_written_hops_are_ignored() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let proxy = ip("10.0.0.2");
        // The client wrote a fake first hop; the balancer appended the real one.
        let h = headers(&["198.51.100.1, 203.0.113.5"]);
        assert_eq!(trusted.client(proxy, &h), Some(ip("203.0.113.5")));
        // Two proxies in a row: the inner one is skipped.
        let h = headers(&["203.0.113.5", "10.0.0.9"]);
        assert_eq!(trusted.client(proxy, &h), Some(ip("203.0.113.5")));
        // Not from a trusted proxy: the header is not believed.
        assert_eq!(trusted.client(ip("203.0.113.77"), &h), None);
        // Garbage or nothing: the proxy itself is the client.
        assert_eq!(
            trusted.client(proxy, &headers(&["evil, 203.0.113.5"])),
            None
        );
        assert_eq!(trusted.client(proxy, &HeaderMap::new()), None);
        assert_eq!(trusted.client(proxy, &headers(&["10.0.0.3"])), None);
    }
}
