//! Who is calling: the client address that rate limits and lock-outs key on.
//!
//! `X-Forwarded-For` is a list each proxy appends its peer to, so only its right end is
//! written by machines we trust; anything to the left may come from the client. The client
//! is therefore the rightmost hop that is not one of our trusted proxies, and the header is
//! read at all only when the peer itself is a trusted proxy. With no trusted proxies (the
//! default) the header is ignored and the peer is the client.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::HttpState;
use crate::config::Cidr;
use crate::config::cidr::canonical;

/// The client address of a request whose TCP peer is `peer`.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // Several header lines are one list, in order.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop we cannot read was not written by a proxy of ours: stop at the last trusted
        // one rather than believe anything further left.
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    // Every hop is one of ours (an internal caller): the furthest one is the client.
    client
}

/// `203.0.113.7`, `203.0.113.7:5000`, `2001:db8::1` or `[2001:db8::1]:5000`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// The resolved client address of a request, as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<HttpState> for ClientIp {
    type Rejection = <ConnectInfo<SocketAddr> as FromRequestParts<HttpState>>::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await?;
        Ok(Self(resolve(
            peer.ip(),
            &parts.headers,
            &state.app.settings.server.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().filter_map(|c| c.parse().ok()).collect()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(resolve(ip("198.51.100.1"), &headers, &[]), ip("198.51.100.1"));
        let trusted = cidrs(&["10.0.0.0/8"]);
        assert_eq!(resolve(ip("198.51.100.1"), &headers, &trusted), ip("198.51.100.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = cidrs(&["10.0.0.0/8", "127.0.0.1"]);
        // The client claimed 1.1.1.1; our proxy appended the address it really saw.
        let headers = forwarded(&["1.1.1.1, 203.0.113.7, 10.0.0.5"]);
        assert_eq!(resolve(ip("10.0.0.9"), &headers, &trusted), ip("203.0.113.7"));
        // Split over several header lines, with ports and IPv6.
        let headers = forwarded(&["1.1.1.1", "[2001:db8::7]:4711", "10.0.0.5:80"]);
        assert_eq!(resolve(ip("127.0.0.1"), &headers, &trusted), ip("2001:db8::7"));
        // Garbage right of the client stops the walk at the last trusted hop.
        let headers = forwarded(&["1.1.1.1, not-an-ip, 10.0.0.5"]);
        assert_eq!(resolve(ip("10.0.0.9"), &headers, &trusted), ip("10.0.0.5"));
        // No header: the proxy itself is the client.
        assert_eq!(resolve(ip("10.0.0.9"), &HeaderMap::new(), &trusted), ip("10.0.0.9"));
        // All hops trusted: the furthest is the client.
        let headers = forwarded(&["10.1.1.1, 10.0.0.5"]);
        assert_eq!(resolve(ip("10.0.0.9"), &headers, &trusted), ip("10.1.1.1"));
    }
}
