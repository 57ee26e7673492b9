//! Rate limits on the REST API (`/api/v1/*`): token buckets per client address, per
//! credential (API key, staff session, customer link token), and for `POST /api/v1/session`
//! per address and username, so a flood slows its sender and nobody else, and password
//! guessing is slow. A refused request is answered `429 rate_limited` (the API's error shape,
//! `retry_after_secs`, header `Retry-After`) before its handler runs: nothing is half done.
//!
//! Not limited here: `/metrics`, `/healthz`, `/readyz`, the pages and assets, and the
//! WebSocket upgrades (`/ws`, `/ws/queue`), which have limits of their own.
//!
//! The client's address is the TCP peer (axum's `ConnectInfo<SocketAddr>`; serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`). When the peer is one of
//! [`RateLimitConfig::trusted_proxies`] (by default loopback and the private ranges, where an
//! ingress or TLS proxy sits), the address comes from `X-Forwarded-For`: the right-most entry
//! that is not itself a trusted proxy. IPv6 clients are keyed by their /64. Clients in
//! [`RateLimitConfig::unlimited_clients`] (by default loopback: tools on the machine itself,
//! load tests) are not limited. Without `ConnectInfo` (in-process test servers) only the
//! credential and login buckets apply.
//!
//! Memory is bounded: a bucket that has refilled is the same as no bucket and is dropped; past
//! [`RateLimitConfig::max_buckets`] the fullest buckets go first.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::debug;

use crate::wire::{CASE_TOKEN_HEADER, MAX_JSON_BYTES, SESSION_COOKIE, cookie};

/// `[http.rate_limit]` in vidid's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Off: nothing is limited (load tests).
    pub enabled: bool,
    /// Requests per second each client address, and each credential, may sustain.
    pub per_second: f64,
    /// Requests a client may send at once before the sustained rate applies.
    pub burst: u32,
    /// Failed logins a minute per address and username (`POST /api/v1/session`; a successful
    /// login gives its token back).
    pub login_per_minute: u32,
    /// Failed logins a minute per address, whatever the username.
    pub login_per_minute_per_address: u32,
    /// Failed logins a minute per username, from all addresses together.
    pub login_per_minute_per_username: u32,
    /// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR blocks
    /// (`"10.0.0.0/8"`, `"127.0.0.1"`). Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Client addresses or blocks that are not limited at all.
    pub unlimited_clients: Vec<String>,
    /// Most buckets kept in memory.
    pub max_buckets: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            per_second: 20.0,
            burst: 100,
            login_per_minute: 5,
            login_per_minute_per_address: 30,
            login_per_minute_per_username: 20,
            trusted_proxies: [
                "127.0.0.0/8",
                "::1",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
            ]
            .map(String::from)
            .to_vec(),
            unlimited_clients: vec!["127.0.0.0/8".into(), "::1".into()],
            max_buckets: 100_000,
        }
    }
}

/// A refused configuration, e.g. an unparsable proxy address.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitConfigError {
    /// An entry of the named list (`trusted_proxies`, `unlimited_clients`) is neither an
    /// address nor a CIDR block.
    #[error("http.rate_limit.{0}: {1:?} is no address or cidr block")]
    BadAddress(&'static str, String),
    /// The named rate or size is zero, negative or not a number.
    #[error("http.rate_limit.{0} must be positive")]
    NotPositive(&'static str),
}

impl RateLimitConfig {
    /// Refuses a rate or size that is not positive and an address that does not parse.
    pub fn validate(&self) -> Result<(), RateLimitConfigError> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(RateLimitConfigError::NotPositive("per_second"));
        }
        for (name, v) in [
            ("burst", self.burst),
            ("login_per_minute", self.login_per_minute),
            (
                "login_per_minute_per_address",
                self.login_per_minute_per_address,
            ),
            (
                "login_per_minute_per_username",
                self.login_per_minute_per_username,
            ),
        ] {
            if v == 0 {
                return Err(RateLimitConfigError::NotPositive(name));
            }
        }
        if self.max_buckets == 0 {
            return Err(RateLimitConfigError::NotPositive("max_buckets"));
        }
        for (name, list) in [
            ("trusted_proxies", &self.trusted_proxies),
            ("unlimited_clients", &self.unlimited_clients),
        ] {
            for p in list {
                Cidr::parse(p).ok_or_else(|| RateLimitConfigError::BadAddress(name, p.clone()))?;
            }
        }
        Ok(())
    }
}

/// An address block.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = match s.trim().split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { net: addr, bits })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (canonical(self.net), ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// What a bucket counts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A client address (IPv6: its /64).
    Address(IpAddr),
    /// A credential's keyed hash (the secret itself is not kept).
    Credential(u64),
    /// Failed logins of a username (hashed), from an address if known.
    Login(Option<IpAddr>, u64),
    /// Failed logins from an address.
    LoginAddress(IpAddr),
    /// Failed logins of a username from anywhere.
    LoginUser(u64),
}

/// One token bucket: the REST limits keep one per client, credential and login, and each
/// WebSocket (participant and queue) keeps one for its messages.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    at: Instant,
}

/// A bucket's shape: `capacity` tokens, refilled at `per_sec`.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Tokens added per second: the sustained rate.
    pub per_sec: f64,
    /// Tokens a full bucket holds: the burst.
    pub capacity: f64,
}

impl Rate {
    /// A bucket shape of `capacity` tokens refilled at `per_sec`.
    pub const fn new(per_sec: f64, capacity: f64) -> Rate {
        Rate { per_sec, capacity }
    }

    /// How long an empty bucket takes to be full again.
    fn refill_time(&self) -> Duration {
        Duration::from_secs_f64(self.capacity / self.per_sec)
    }
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(rate: &Rate, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: rate.capacity,
            at: now,
        }
    }

    /// The tokens it holds at `now`.
    pub fn level(&self, rate: &Rate, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + dt * rate.per_sec).min(rate.capacity)
    }

    /// Takes one token, or says how long until there is one.
    pub fn try_take(&mut self, rate: &Rate, now: Instant) -> Result<(), Duration> {
        let tokens = self.level(rate, now);
        if tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - tokens) / rate.per_sec));
        }
        self.tokens = tokens - 1.0;
        self.at = now;
        Ok(())
    }
}

/// The buckets of one router (shared by all its connections).
pub struct RateLimiter {
    cfg: RateLimitConfig,
    proxies: Vec<Cidr>,
    unlimited: Vec<Cidr>,
    hasher: RandomState,
    buckets: Mutex<HashMap<Key, (TokenBucket, Rate)>>,
}

impl RateLimiter {
    /// A limiter with no buckets yet; refuses a configuration [`RateLimitConfig::validate`]
    /// refuses.
    pub fn new(cfg: RateLimitConfig) -> Result<Self, RateLimitConfigError> {
        cfg.validate()?;
        let blocks = |l: &[String]| l.iter().filter_map(|p| Cidr::parse(p)).collect();
        Ok(RateLimiter {
            proxies: blocks(&cfg.trusted_proxies),
            unlimited: blocks(&cfg.unlimited_clients),
            cfg,
            hasher: RandomState::new(),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration it limits by.
    pub fn config(&self) -> &RateLimitConfig {
        &self.cfg
    }

    fn general(&self) -> Rate {
        Rate {
            per_sec: self.cfg.per_second,
            capacity: f64::from(self.cfg.burst),
        }
    }

    fn login(&self, per_minute: u32) -> Rate {
        Rate {
            per_sec: f64::from(per_minute) / 60.0,
            capacity: f64::from(per_minute),
        }
    }

    fn hash(&self, s: &[u8]) -> u64 {
        self.hasher.hash_one(s)
    }

    /// Takes one token from each bucket, or none if any is empty: then the wait until all
    /// have one.
    fn take(&self, keys: &[(Key, Rate)], now: Instant) -> Result<(), Duration> {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        let mut levels = Vec::with_capacity(keys.len());
        for (key, rate) in keys {
            let tokens = match map.get(key) {
                Some((b, _)) => b.level(rate, now),
                None => rate.capacity,
            };
            if tokens < 1.0 {
                wait = wait.max(Duration::from_secs_f64((1.0 - tokens) / rate.per_sec));
            }
            levels.push(tokens);
        }
        if !wait.is_zero() {
            // A refused request costs nothing (the levels follow from the stored times).
            return Err(wait);
        }
        if map.len() + keys.len() > self.cfg.max_buckets {
            evict(&mut map, now, self.cfg.max_buckets / 2);
        }
        for ((key, rate), tokens) in keys.iter().zip(levels) {
            map.insert(
                key.clone(),
                (
                    TokenBucket {
                        tokens: tokens - 1.0,
                        at: now,
                    },
                    *rate,
                ),
            );
        }
        Ok(())
    }

    /// Gives a token back (a successful login).
    fn give_back(&self, keys: &[(Key, Rate)], now: Instant) {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for (key, rate) in keys {
            if let Some((b, _)) = map.get_mut(key) {
                b.tokens = (b.level(rate, now) + 1.0).min(rate.capacity);
                b.at = now;
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }

    /// The client's address: the peer, or behind a trusted proxy the right-most untrusted
    /// `X-Forwarded-For` entry.
    fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !self.trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // An unreadable entry: nothing left of it can be believed.
                break;
            };
            client = canonical(ip);
            if !self.trusted(client) {
                break;
            }
        }
        Some(client)
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|c| c.contains(ip))
    }
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port or in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    hop.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The bucket key of an address: IPv6 by its /64 (one subscriber's usual allocation).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        v4 => v4,
    }
}

/// Drops the buckets that have refilled (they mean nothing), then, if still more than
/// `target`, the fullest.
fn evict(map: &mut HashMap<Key, (TokenBucket, Rate)>, now: Instant, target: usize) {
    map.retain(|_, (b, r)| now.saturating_duration_since(b.at) < r.refill_time());
    if map.len() > target {
        let mut levels: Vec<(f64, Key)> = map
            .iter()
            .map(|(k, (b, r))| (b.level(r, now) / r.capacity, k.clone()))
            .collect();
        levels.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, k) in levels.into_iter().take(map.len() - target) {
            map.remove(&k);
        }
    }
    debug!(buckets = map.len(), "rate limit buckets evicted");
}

/// The middleware [`crate::router`] installs over every route (it limits `/api/v1/*`).
pub async fn limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !limiter.cfg.enabled || !path.starts_with("/api/v1/") {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let address = limiter.client_address(peer, req.headers());
    if address.is_some_and(|ip| limiter.unlimited.iter().any(|c| c.contains(ip))) {
        return next.run(req).await;
    }
    let mut keys = Vec::with_capacity(2);
    if let Some(ip) = address {
        keys.push((Key::Address(address_key(ip)), limiter.general()));
    }
    if let Some(cred) = credential(req.headers()) {
        keys.push((Key::Credential(limiter.hash(cred)), limiter.general()));
    }
    let now = Instant::now();
    if let Err(wait) = limiter.take(&keys, now) {
        return refused(wait);
    }
    if req.method() == Method::POST && path == "/api/v1/session" {
        return login(&limiter, address, req, next).await;
    }
    next.run(req).await
}

/// A login: the username's and the address's failed-login buckets; a token is taken before
/// the password is checked (so parallel guesses are counted) and given back on success.
async fn login(
    limiter: &RateLimiter,
    address: Option<IpAddr>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    // Read within the handler's own limit, answering as it would when that is exceeded.
    let bytes = match axum::body::to_bytes(body, MAX_JSON_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let body = json!({
                "error": "too_large",
                "message": format!("the request body is over {MAX_JSON_BYTES} bytes"),
            });
            return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response();
        }
    };
    let username = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("username")?.as_str().map(|u| u.trim().to_lowercase()));
    let req = Request::from_parts(parts, Body::from(bytes));
    let Some(username) = username else {
        // Malformed: the handler says why; it cannot log anybody in.
        return next.run(req).await;
    };
    let user = limiter.hash(username.as_bytes());
    let mut keys = vec![
        (
            Key::Login(address.map(address_key), user),
            limiter.login(limiter.cfg.login_per_minute),
        ),
        (
            Key::LoginUser(user),
            limiter.login(limiter.cfg.login_per_minute_per_username),
        ),
    ];
    if let Some(ip) = address {
        keys.push((
            Key::LoginAddress(address_key(ip)),
            limiter.login(limiter.cfg.login_per_minute_per_address),
        ));
    }
    if let Err(wait) = limiter.take(&keys, Instant::now()) {
        return refused(wait);
    }
    let resp = next.run(req).await;
    if resp.status().is_success() {
        limiter.give_back(&keys, Instant::now());
    }
    resp
}

/// The credential a request carries, if any: API key, staff session, customer link token.
fn credential(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        return Some(v.as_bytes());
    }
    if let Some(v) = headers.get(CASE_TOKEN_HEADER) {
        return Some(v.as_bytes());
    }
    cookie(headers, SESSION_COOKIE).map(str::as_bytes)
}

/// `429 rate_limited` with `Retry-After` (whole seconds, at least 1).
fn refused(wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let body = json!({
        "error": "rate_limited",
        "message": format!("too many requests; try again in {secs} s"),
        "retry_after_secs": secs,
    });
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_bucket_allows_its_burst_then_its_rate_and_says_how_long_to_wait() {
        let rate = Rate::new(20.0, 20.0);
        let t0 = Instant::now();
        let mut b = TokenBucket::full(&rate, t0);
        for _ in 0..20 {
            assert!(b.try_take(&rate, t0).is_ok());
        }
        let wait = b.try_take(&rate, t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(40) && wait <= Duration::from_millis(51),
            "{wait:?}"
        );
        assert!(
            b.try_take(&rate, t0 + Duration::from_millis(50)).is_ok(),
            "one token a 50 ms"
        );
        assert!(b.try_take(&rate, t0 + Duration::from_millis(50)).is_err());
        assert_eq!(
            b.level(&rate, t0 + Duration::from_secs(10)),
            20.0,
            "never above capacity"
        );
    }

    fn limiter(cfg: RateLimitConfig) -> RateLimiter {
        RateLimiter::new(cfg).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_bucket_allows_the_burst_then_the_rate() {
        let l = limiter(RateLimitConfig {
            per_second: 2.0,
            burst: 4,
            ..Default::default()
        });
        let keys = [(Key::Address(ip("192.0.2.1")), l.general())];
        let t0 = Instant::now();
        for _ in 0..4 {
            l.take(&keys, t0).unwrap();
        }
        let wait = l.take(&keys, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Refused requests cost nothing: half a second later one more goes through.
        assert!(l.take(&keys, t0 + Duration::from_millis(400)).is_err());
        l.take(&keys, t0 + Duration::from_millis(500)).unwrap();
        assert!(l.take(&keys, t0 + Duration::from_millis(500)).is_err());
        // Another client is not affected.
        l.take(&[(Key::Address(ip("192.0.2.2")), l.general())], t0)
            .unwrap();
    }

    #[test]
    fn all_buckets_or_none() {
        let l = limiter(RateLimitConfig {
            per_second: 1.0,
            burst: 1,
            ..Default::default()
        });
        let t0 = Instant::now();
        let a = (Key::Address(ip("192.0.2.1")), l.general());
        let c = (Key::Credential(7), l.general());
        l.take(std::slice::from_ref(&c), t0).unwrap();
        // The credential is empty: the address's bucket is not charged either.
        assert!(l.take(&[a.clone(), c.clone()], t0).is_err());
        l.take(&[a], t0).unwrap();
    }

    #[test]
    fn memory_is_bounded() {
        let l = limiter(RateLimitConfig {
            per_second: 1.0,
            burst: 10,
            max_buckets: 100,
            ..Default::default()
        });
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let k = Key::Address(IpAddr::V4(i.into()));
            l.take(&[(k, l.general())], t0).unwrap();
            assert!(l.len() <= 100);
        }
        // Buckets that have refilled are dropped first.
        let later = t0 + Duration::from_secs(11);
        for i in 0..60u32 {
            let k = Key::Credential(u64::from(i));
            l.take(&[(k, l.general())], later).unwrap();
        }
        assert!(l.len() <= 100);
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let l = limiter(RateLimitConfig {
            trusted_proxies: vec!["10.0.0.0/8".into(), "::1".into()],
            ..Default::default()
        });
        let default = limiter(RateLimitConfig::default());
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.9, 203.0.113.5, 10.1.2.3"),
        );
        // Untrusted peer: its own address, whatever it claims.
        assert_eq!(
            l.client_address(Some(ip("192.0.2.7")), &h),
            Some(ip("192.0.2.7"))
        );
        // Trusted: the right-most address that is not a proxy.
        assert_eq!(
            l.client_address(Some(ip("10.0.0.1")), &h),
            Some(ip("203.0.113.5"))
        );
        assert_eq!(
            l.client_address(Some(ip("::ffff:10.0.0.1")), &h),
            Some(ip("203.0.113.5"))
        );
        assert_eq!(
            l.client_address(Some(ip("::1")), &HeaderMap::new()),
            Some(ip("::1"))
        );
        assert_eq!(l.client_address(None, &h), None);
        // By default loopback and private peers are proxies; a public peer is the client.
        assert_eq!(
            default.client_address(Some(ip("172.20.0.3")), &h),
            Some(ip("203.0.113.5"))
        );
        assert_eq!(
            default.client_address(Some(ip("203.0.113.77")), &h),
            Some(ip("203.0.113.77"))
        );
        assert_eq!(
            address_key(ip("2001:db8:1:2:3:4:5:6")),
            ip("2001:db8:1:2::")
        );
    }

    #[test]
    fn configuration_is_checked() {
        assert!(RateLimitConfig::default().validate().is_ok());
        let bad = RateLimitConfig {
            unlimited_clients: vec!["10.0.0.0/33".into()],
            ..Default::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("10.0.0.0/33")
        );
        let bad = RateLimitConfig {
            per_second: 0.0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        assert!(
            Cidr::parse("192.168.0.0/16")
                .unwrap()
                .contains(ip("192.168.4.5"))
        );
        assert!(
            !Cidr::parse("192.168.0.0/16")
                .unwrap()
                .contains(ip("192.169.0.1"))
        );
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }
}
