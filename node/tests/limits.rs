//! Rate limits over HTTP against an in-process node (served with `ConnectInfo`, as
//! `vidid serve` does): a flood gets `429 rate_limited` with `Retry-After` and costs the
//! operational endpoints nothing; password guessing is slowed per username; the responses are
//! counted in `/metrics`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use time::macros::datetime;
use vidid_cases::{Role, TestClock};
use vidid_node::testing::TestNode;
use vidid_signaling::ratelimit::RateLimitConfig;

const PW: &str = "a long enough password";

/// The defaults, without the loopback exemption (the test client is on loopback).
fn limits() -> RateLimitConfig {
    RateLimitConfig {
        unlimited_clients: vec![],
        ..Default::default()
    }
}

struct Server {
    addr: SocketAddr,
    _node: TestNode,
    http: Client<HttpConnector, Full<Bytes>>,
}

struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: Value,
    text: String,
}

/// An in-process node with these limits, served with `ConnectInfo` as `vidid serve` is.
async fn server(limits: RateLimitConfig) -> Server {
    let node = TestNode::start(|cfg, wiring, _| {
        cfg.http.rate_limit = limits;
        wiring.clock = Arc::new(TestClock::new(datetime!(2026-01-15 11:00 +1)));
    })
    .await;
    for name in ["ana", "bor"] {
        node.cases().add_user(name, Role::Agent, PW).await.unwrap();
    }
    Server {
        addr: node.addr,
        _node: node,
        http: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Server {
    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let resp = self.http.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    async fn login(&self, user: &str, password: &str) -> Resp {
        self.call(
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            &json!({"username": user, "password": password}).to_string(),
        )
        .await
    }
}

#[tokio::test]
async fn a_flood_is_refused_and_costs_nobody_else() {
    let s = server(RateLimitConfig {
        per_second: 0.5,
        burst: 5,
        ..limits()
    })
    .await;
    // Five go through (and get their handler's answer), the sixth is refused.
    for _ in 0..5 {
        let r = s.call("GET", "/api/v1/queue", &[], "").await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.body["error"], "session_invalid");
    }
    let r = s.call("GET", "/api/v1/queue", &[], "").await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.body["error"], "rate_limited");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("too many requests")
    );
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(r.body["retry_after_secs"], retry);
    // The address is limited whatever credential it sends; refused before any handler runs.
    let r = s
        .call(
            "POST",
            "/api/v1/cases",
            &[
                ("authorization", "Bearer test-key"),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    assert_eq!(r.status, 429);
    // The operational endpoints, pages and assets are not limited.
    for path in ["/healthz", "/metrics", "/customer", "/healthz"] {
        let r = s.call("GET", path, &[], "").await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    let metrics = s.call("GET", "/metrics", &[], "").await.text;
    assert!(
        metrics.contains("vidid_http_responses_total{status=\"429\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vidid_http_responses_total{status=\"401\"} 5"),
        "{metrics}"
    );
    assert!(metrics.contains("vidid_queue_length 0"), "{metrics}");
    assert!(
        metrics.contains("vidid_queue_wait_seconds_count 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn password_guessing_is_slowed_per_username() {
    let s = server(RateLimitConfig {
        login_per_minute: 3,
        ..limits()
    })
    .await;
    // A successful login gives its token back: logging in often is fine.
    for _ in 0..5 {
        assert_eq!(s.login("ana", PW).await.status, 200);
    }
    for _ in 0..3 {
        let r = s.login("ana", "wrong password!").await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.body["error"], "bad_credentials");
    }
    // Now even the right password waits: the guesser cannot tell.
    for pw in ["another guess", PW] {
        let r = s.login("Ana", pw).await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.body["error"], "rate_limited");
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((15..=20).contains(&retry), "{retry}");
    }
    // Another user is not affected, and bad input still gets its own clear answer.
    assert_eq!(s.login("bor", PW).await.status, 200);
    let r = s
        .call(
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            "{\"username\": ",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "bad_json");
}

#[tokio::test]
async fn loopback_is_not_limited_by_default() {
    let s = server(RateLimitConfig {
        per_second: 0.1,
        burst: 1,
        ..Default::default()
    })
    .await;
    for _ in 0..10 {
        assert_eq!(s.call("GET", "/api/v1/queue", &[], "").await.status, 401);
    }
    // Unless a trusted proxy says the request came from elsewhere.
    let from = [("x-forwarded-for", "203.0.113.9")];
    assert_eq!(s.call("GET", "/api/v1/queue", &from, "").await.status, 401);
    assert_eq!(s.call("GET", "/api/v1/queue", &from, "").await.status, 429);
    let other = [("x-forwarded-for", "203.0.113.10")];
    assert_eq!(s.call("GET", "/api/v1/queue", &other, "").await.status, 401);
}

#[tokio::test]
async fn limits_can_be_switched_off() {
    let s = server(RateLimitConfig {
        enabled: false,
        per_second: 0.1,
        burst: 1,
        ..limits()
    })
    .await;
    for _ in 0..10 {
        assert_eq!(s.call("GET", "/api/v1/queue", &[], "").await.status, 401);
    }
}
