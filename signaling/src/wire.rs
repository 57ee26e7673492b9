//! Names and limits on the wire, shared by the extractors, the rate limits and the sockets.

/// Largest JSON request body.
pub const MAX_JSON_BYTES: usize = 16 * 1024;
/// Largest ID photo or snapshot.
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;
/// The staff session cookie.
pub const SESSION_COOKIE: &str = "vidid_session";
/// The customer's link token header.
pub const CASE_TOKEN_HEADER: &str = "x-case-token";

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
