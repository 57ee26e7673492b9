//! The browser pages, embedded in the binary.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CUSTOMER: &str = include_str!("../assets/customer.html");
const AGENT: &str = include_str!("../assets/agent.html");
const CALL_JS: &str = include_str!("../assets/call.js");
const STYLE: &str = include_str!("../assets/style.css");

fn page(body: &'static str, kind: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

pub async fn customer() -> Response {
    page(CUSTOMER, "text/html; charset=utf-8")
}

pub async fn agent() -> Response {
    page(AGENT, "text/html; charset=utf-8")
}

pub async fn call_js() -> Response {
    page(CALL_JS, "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    page(STYLE, "text/css; charset=utf-8")
}
