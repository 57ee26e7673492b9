//! Names and limits on the wire, shared by the extractors, the rate limits and the sockets.

/// Largest JSON request body.
pub const MAX_JSON_BYTES: usize = 16 * 1024;
/// Largest ID photo or snapshot.
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;
/// The staff session cookie.
pub const SESSION_COOKIE: &str = "vidid_session";
/// The customer's link token header.
pub const CASE_TOKEN_HEADER: &str = "x-case-token";
