//! The browser pages and their assets (`signaling/assets/`), embedded in release builds by
//! `rust-embed` (debug builds read the folder at run time, so pages can be edited without a
//! rebuild).
//!
//! | path | page |
//! |---|---|
//! | `/customer?case=<link token>` | the customer's journey (`customer.html`) |
//! | `/customer?token=<call token>` | the bare call page (`call-customer.html`, docs/signaling.md) |
//! | `/agent` | the agent console (`agent.html`); `?token=` the bare call page |
//! | `/compliance` | the compliance portal |
//! | `/board` | the supervisors' live board |
//! | `/assets/<file>` | scripts, styles, images |

use axum::extract::{Path, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Assets;

/// A strict content security policy: only our own scripts, styles and media; camera frames
/// drawn into canvases become `blob:`/`data:` images.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Names are flat and plain: no directories, no dot-dot, nothing to escape the folder with.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn serve(name: &str) -> Response {
    if !safe_name(name) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(file) = Assets::get(name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type(name)),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

/// Every page route, for the router of a role that serves pages.
pub fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    use axum::routing::get;
    axum::Router::new()
        .route("/customer", get(customer))
        .route("/agent", get(agent))
        .route("/compliance", get(compliance))
        .route("/board", get(board))
        .route("/assets/{name}", get(asset))
}

fn has_param(query: &Option<String>, key: &str) -> bool {
    query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some(key)))
}

/// The journey, or with `?token=` the bare call page.
pub async fn customer(RawQuery(q): RawQuery) -> Response {
    if has_param(&q, "token") {
        serve("call-customer.html")
    } else {
        serve("customer.html")
    }
}

/// The console, or with `?token=` the bare call page.
pub async fn agent(RawQuery(q): RawQuery) -> Response {
    if has_param(&q, "token") {
        serve("call-agent.html")
    } else {
        serve("agent.html")
    }
}

pub async fn compliance() -> Response {
    serve("compliance.html")
}

pub async fn board() -> Response {
    serve("board.html")
}

pub async fn asset(Path(name): Path<String>) -> Response {
    if name.ends_with(".html") {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_folder() {
        assert!(safe_name("call.js"));
        assert!(!safe_name("../Cargo.toml"));
        assert!(!safe_name("a/b.js"));
        assert!(!safe_name(".hidden"));
        assert!(!safe_name(""));
    }

    #[test]
    fn token_query_selects_the_call_page() {
        assert!(has_param(&Some("token=abc".into()), "token"));
        assert!(has_param(&Some("lang=en&token=abc".into()), "token"));
        assert!(!has_param(&Some("case=abc".into()), "token"));
        assert!(!has_param(&None, "token"));
    }
}
