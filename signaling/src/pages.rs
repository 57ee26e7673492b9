//! The browser pages and their assets (`signaling/assets/`), embedded in release builds by
//! `rust-embed` (debug builds read the folder at run time, so pages can be edited without a
//! rebuild).
//!
//! The assets are in one folder per audience: `customer/` (the journey and the bare customer
//! call page), `staff/` (console, compliance portal, board, the bare agent call page) and
//! `shared/` (the call client, the bare call pages' script and style, the protocol's JSDoc
//! types). Nothing else is served: the type-check's `signaling/tsconfig.json` lives outside.
//!
//! | path | page |
//! |---|---|
//! | `/customer?case=<link token>` | the customer's journey (`customer/customer.html`) |
//! | `/customer?token=<call token>` | the bare call page (`customer/call-customer.html`, docs/signaling.md); `&media=<http(s) URL>` joins the call socket on that media node |
//! | `/agent` | the agent console (`staff/agent.html`); `?token=` the bare call page (`&media=` as above) |
//! | `/compliance` | the compliance portal (`staff/compliance.html`) |
//! | `/board` | the supervisors' live board (`staff/board.html`) |
//! | `/assets/<folder>/<file>` | scripts, styles, images (never a page) |
//!
//! [`routes`] mounts all of them on any router.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

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

/// The folders under `assets/` that are served; anything else there is not.
const FOLDERS: &[&str] = &["customer", "staff", "shared"];

/// Every page route and the assets, for `.merge(pages::routes())` into the server's router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/customer", get(customer))
        .route("/agent", get(agent))
        .route("/compliance", get(compliance))
        .route("/board", get(board))
        .route("/assets/{*path}", get(asset))
}

/// One path segment, plain: no dot-dot, no hidden file, nothing to escape the folder with.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// `<folder>/<file>`: exactly two plain segments, the first an allow-listed folder.
fn safe_path(path: &str) -> bool {
    let mut segments = path.split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some(folder), Some(file), None) => FOLDERS.contains(&folder) && safe_name(file),
        _ => false,
    }
}

fn serve(name: &str) -> Response {
    if !safe_path(name) {
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

fn has_param(query: &Option<String>, key: &str) -> bool {
    query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some(key)))
}

/// The journey, or with `?token=` the bare call page.
pub async fn customer(RawQuery(q): RawQuery) -> Response {
    if has_param(&q, "token") {
        serve("customer/call-customer.html")
    } else {
        serve("customer/customer.html")
    }
}

/// The console, or with `?token=` the bare call page.
pub async fn agent(RawQuery(q): RawQuery) -> Response {
    if has_param(&q, "token") {
        serve("staff/call-agent.html")
    } else {
        serve("staff/agent.html")
    }
}

/// `/compliance`: the compliance portal.
pub async fn compliance() -> Response {
    serve("staff/compliance.html")
}

/// `/board`: the supervisors' live board.
pub async fn board() -> Response {
    serve("staff/board.html")
}

/// `/assets/<folder>/<file>` (the route's `{*path}`); pages only through their own routes.
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
    fn paths_are_one_allowed_folder_and_one_plain_name() {
        assert!(safe_path("shared/rtc-call.js"));
        assert!(safe_path("customer/customer.css"));
        assert!(safe_path("staff/console.js"));
        assert!(!safe_path("rtc-call.js"));
        assert!(!safe_path("other/rtc-call.js"));
        assert!(!safe_path("shared/../../Cargo.toml"));
        assert!(!safe_path("shared/%2e%2e/x.js"));
        assert!(!safe_path("../signaling/Cargo.toml"));
        assert!(!safe_path("shared/.hidden"));
        assert!(!safe_path("shared/"));
        assert!(!safe_path("shared//x.js"));
        assert!(!safe_path("/shared/x.js"));
        assert!(!safe_path("shared/sub/x.js"));
        assert!(!safe_path("./shared/x.js"));
    }

    #[tokio::test]
    async fn assets_are_served_from_their_folders_and_pages_only_by_route() {
        let ok = asset(Path("shared/rtc-call.js".into())).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            ok.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        for bad in [
            "rtc-call.js",
            "staff/agent.html",
            "shared/../customer/customer.html",
            "../Cargo.toml",
            "customer/missing.js",
        ] {
            let r = asset(Path(bad.into())).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
        }
        let page = agent(RawQuery(Some("token=abc&media=http://m1:8080".into()))).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(board().await.status(), StatusCode::OK);
    }

    #[test]
    fn token_query_selects_the_call_page() {
        assert!(has_param(&Some("token=abc".into()), "token"));
        assert!(has_param(&Some("lang=en&token=abc".into()), "token"));
        assert!(!has_param(&Some("case=abc".into()), "token"));
        assert!(!has_param(&None, "token"));
    }
}
