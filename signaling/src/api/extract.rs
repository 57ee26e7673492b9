//! Extractors: who is calling (one per principal) and strict input. A handler names the
//! principal it serves in its signature, so reading it tells who may call it.
//!
//! | extractor | principal | credential |
//! |---|---|---|
//! | [`OrderingSystem`] | the ordering system | `Authorization: Bearer <api key>` |
//! | [`Staff`] | an agent, supervisor, compliance officer or admin | cookie `vidid_session` |
//! | [`Customer`] | the customer of one case | `X-Case-Token: <link token>` |
//!
//! Bodies: [`StrictJson`] (`application/json`, at most [`MAX_JSON_BYTES`], unknown fields
//! refused by the types), [`OptionalJson`] (the same, or empty), [`Image`] (JPEG or PNG, as
//! declared and as its magic bytes say, at most [`MAX_PHOTO_BYTES`]), [`StrictQuery`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use vidid_cases::{Actor, Case, User};
use vidid_control::evidence::sniff_image;

use crate::AppState;
use crate::api::error::ApiError;

pub use crate::wire::{CASE_TOKEN_HEADER, MAX_JSON_BYTES, MAX_PHOTO_BYTES, SESSION_COOKIE, cookie};

/// The most of an oversized body read (and dropped) before refusing it.
const DRAIN_CAP: usize = 16 * 1024 * 1024;
/// How long an oversized body may take to be read out before refusing it anyway.
const DRAIN_TIME: Duration = Duration::from_secs(5);

// ─── principals ────────────────────────────────────────────────────────────────────────────

/// The ordering system, by its API key.
pub struct OrderingSystem(pub Actor);

/// Whether the request carries the API key (compared by digest, so the time taken does not
/// depend on where the strings differ).
pub fn has_api_key(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let a = ring::digest::digest(&ring::digest::SHA256, given.trim().as_bytes());
    let b = ring::digest::digest(&ring::digest::SHA256, state.api_key.as_bytes());
    a.as_ref() == b.as_ref()
}

impl FromRequestParts<Arc<AppState>> for OrderingSystem {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        if has_api_key(state, &parts.headers) {
            Ok(OrderingSystem(Actor::ordering_system()))
        } else {
            Err(crate::SignalingError::Unauthorized.into())
        }
    }
}

/// A signed-in staff member.
pub struct Staff {
    /// The staff member as the domain's rules see them.
    pub actor: Actor,
    /// The signed-in user (id, username, role).
    pub user: User,
}

impl FromRequestParts<Arc<AppState>> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_invalid",
                "log in first (POST /api/v1/session)",
            )
        })?;
        let user = state.cases.authenticate(token).await?;
        Ok(Staff {
            actor: Actor::staff(&user),
            user,
        })
    }
}

/// The customer of the case their link token names.
pub struct Customer {
    /// The customer as the domain's rules see them.
    pub actor: Actor,
    /// The case the link token names, as read for this request.
    pub case: Case,
}

impl FromRequestParts<Arc<AppState>> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(CASE_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "send the link token in X-Case-Token",
                )
            })?;
        let (actor, case) = state.cases.customer(token.trim()).await?;
        Ok(Customer { actor, case })
    }
}

/// The ordering system (with an `Authorization` header) or a staff member (without).
pub enum CaseReader {
    /// The caller sent an `Authorization` header with the right API key.
    OrderingSystem(Actor),
    /// The caller sent no `Authorization` header and has a valid session cookie.
    Staff(Staff),
}

impl FromRequestParts<Arc<AppState>> for CaseReader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let OrderingSystem(a) = OrderingSystem::from_request_parts(parts, state).await?;
            Ok(CaseReader::OrderingSystem(a))
        } else {
            Ok(CaseReader::Staff(
                Staff::from_request_parts(parts, state).await?,
            ))
        }
    }
}

// ─── bodies ────────────────────────────────────────────────────────────────────────────────

/// Reads at most `limit` bytes. A larger body is refused with `413 too_large`; the rest of it
/// is read and dropped first (up to [`DRAIN_CAP`] bytes, for at most [`DRAIN_TIME`]), so the
/// client — still sending — reads the refusal instead of a connection reset.
pub async fn read_limited(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "the request body could not be read",
            ));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            let mut seen = buf.len() + data.len();
            let _ = tokio::time::timeout(DRAIN_TIME, async {
                while seen < DRAIN_CAP {
                    match body.frame().await {
                        Some(Ok(f)) => seen += f.data_ref().map_or(0, |d| d.len()),
                        _ => break,
                    }
                }
            })
            .await;
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is over {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

fn unsupported_json() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send application/json",
    )
}

/// A JSON body: `application/json`, at most [`MAX_JSON_BYTES`]; the type refuses unknown
/// fields (`#[serde(deny_unknown_fields)]`).
pub struct StrictJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(unsupported_json());
        }
        let bytes = read_limited(body, MAX_JSON_BYTES).await?;
        serde_json::from_slice(&bytes)
            .map(StrictJson)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_json", e.to_string()))
    }
}

/// [`StrictJson`], or `T::default()` for an empty body without a content type.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let h = req.headers();
        let empty = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0")
            || h.get(header::CONTENT_TYPE).is_none();
        if empty {
            let b = read_limited(req.into_body(), MAX_JSON_BYTES).await?;
            if b.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            return Err(unsupported_json());
        }
        let StrictJson(v) = StrictJson::from_request(req, state).await?;
        Ok(OptionalJson(v))
    }
}

/// An uploaded image; see the module docs.
pub struct Image {
    /// `image/jpeg` or `image/png`, as declared and as the magic bytes say.
    pub content_type: String,
    /// The image as uploaded.
    pub bytes: bytes::Bytes,
}

impl Image {
    /// Reads and checks an image body (for handlers that must refuse before reading it).
    pub async fn read(headers: &HeaderMap, body: Body) -> Result<Image, ApiError> {
        let declared = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if declared != "image/jpeg" && declared != "image/png" {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the image as image/jpeg or image/png",
            ));
        }
        let bytes = read_limited(body, MAX_PHOTO_BYTES).await?;
        if bytes.len() < 64 {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_upload",
                "the image is empty or too small",
            ));
        }
        match sniff_image(&bytes) {
            Some(t) if t == declared => Ok(Image {
                content_type: declared,
                bytes,
            }),
            _ => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_upload",
                "the file is not a JPEG or PNG image of the declared type",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Image {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        Image::read(&parts.headers, body).await
    }
}

/// A query string; unknown parameters are refused by the type (`400 bad_query`).
pub struct StrictQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(StrictQuery(q)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                e.body_text(),
            )),
        }
    }
}
