//! The cases API under `/api/v1` (docs/api.md): the ordering system (API key), staff sessions
//! (cookie `vidid_session`), the customer (link token in `X-Case-Token`), agents and
//! compliance. Every rule is checked by [`vidid_cases::Cases`]; this layer parses strictly,
//! authenticates, and ties a taken case to a call room of the media path.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use tracing::{info, warn};
use vidid_cases::{
    AbortReason, Actor, AgentStatus, Case, CaseState, Cases, CasesError, CheckAnswer,
    ConfirmedData, Document, DocumentPhoto, NewCase, User,
};

use crate::evidence::{EvidenceStore, sniff_image};
use crate::hub::{CustomerMsg, Hub};
use crate::{AppState, SignalingError};

/// Largest JSON request body.
pub const MAX_JSON_BYTES: usize = 16 * 1024;
/// Largest ID photo.
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;
/// The staff session cookie.
pub const SESSION_COOKIE: &str = "vidid_session";
/// The customer's link token header.
pub const CASE_TOKEN_HEADER: &str = "x-case-token";

/// The cases part of the application state.
pub struct CasesCtx {
    pub cases: Arc<Cases>,
    pub evidence: Arc<dyn EvidenceStore>,
    pub hub: Arc<Hub>,
    /// Signs webhook bodies (HMAC-SHA256).
    pub webhook_secret: String,
    /// A participant absent from a call this long aborts the attempt.
    pub call_grace: StdDuration,
    /// The vault's recordings for the compliance portal (`None`: recordings are not
    /// reachable from this process; the portal says so).
    pub recordings: Option<Arc<dyn crate::recordings::RecordingLibrary>>,
    /// Signs the portal's access grants (`crate::staff_api`).
    pub grant_key: ring::hmac::Key,
    /// Recently decrypted WAVs, so an audio element's range requests do not decrypt again.
    pub(crate) wav_cache: crate::staff_api::WavCache,
    /// This process in a scale-out deployment (`None`: the embedded one-machine mode).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The queue snapshot the customers' sockets share (`None` outside a runtime).
    pub queue_view: Option<crate::queue_view::QueueView>,
}

impl CasesCtx {
    pub fn new(
        cases: Arc<Cases>,
        evidence: Arc<dyn EvidenceStore>,
        webhook_secret: String,
    ) -> Self {
        let grace = cases.config().queue.rejoin_grace_secs;
        let hub = Arc::new(Hub::default());
        let mut queue_view = None;
        if tokio::runtime::Handle::try_current().is_ok() {
            hub.attach_bus(cases.store().clone());
            queue_view = Some(crate::queue_view::QueueView::spawn(cases.clone()));
        }
        CasesCtx {
            cases,
            evidence,
            hub,
            webhook_secret,
            call_grace: StdDuration::from_secs(grace),
            recordings: None,
            grant_key: ring::hmac::Key::generate(
                ring::hmac::HMAC_SHA256,
                &ring::rand::SystemRandom::new(),
            )
            .expect("the system random source works"),
            wav_cache: crate::staff_api::WavCache::default(),
            cluster: None,
            queue_view,
        }
    }

    /// Places calls on media nodes (role signaling) or opens the rooms placed here (role
    /// media); see `crate::cluster`.
    pub fn with_cluster(mut self, cluster: Arc<crate::cluster::Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Lets the compliance portal verify and play recordings.
    pub fn with_recordings(mut self, lib: Arc<dyn crate::recordings::RecordingLibrary>) -> Self {
        self.recordings = Some(lib);
        self
    }

    /// Grants signed with `secret` (shared by all signaling processes behind one address);
    /// by default each process signs with a random key of its own.
    pub fn with_grant_secret(mut self, secret: &[u8]) -> Self {
        self.grant_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        self
    }
}

// ─── errors ────────────────────────────────────────────────────────────────────────────────

/// A refusal as JSON: `{"error": code, "message": …, …details}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl From<CasesError> for ApiError {
    fn from(e: CasesError) -> Self {
        use CasesError::*;
        let status = match &e {
            NotFound(_) => StatusCode::NOT_FOUND,
            Forbidden { .. } | PermissionDenied { .. } | NotAssigned => StatusCode::FORBIDDEN,
            LinkExpired(_) => StatusCode::GONE,
            BadCredentials | SessionInvalid => StatusCode::UNAUTHORIZED,
            InvalidInput { .. } | DocumentNotAccepted(_) => StatusCode::UNPROCESSABLE_ENTITY,
            QueueFull { .. } | WaitTooLong { .. } => StatusCode::SERVICE_UNAVAILABLE,
            TanSendLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            Sms(_) => StatusCode::BAD_GATEWAY,
            Config { .. } | Database(_) | Io(_) | Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        };
        let details = match &e {
            QueueClosed { next_opening } => Some(json!({ "next_opening": rfc3339(*next_opening) })),
            LinkExpired(at) => Some(json!({ "expired_at": rfc3339(*at) })),
            InvalidInput { field, .. } => Some(json!({ "field": field })),
            ChecklistIncomplete(items) => Some(json!({ "missing": items })),
            _ => None,
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            warn!(error = %e, "internal error");
            "internal error".to_string()
        } else {
            e.to_string()
        };
        ApiError {
            status,
            code: e.code(),
            message,
            details,
        }
    }
}

impl From<SignalingError> for ApiError {
    fn from(e: SignalingError) -> Self {
        let resp_status = match &e {
            SignalingError::Unauthorized | SignalingError::InvalidToken => StatusCode::UNAUTHORIZED,
            SignalingError::NotFound => StatusCode::NOT_FOUND,
            SignalingError::MediaUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            SignalingError::Secrets(_) | SignalingError::Metrics(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::CONFLICT,
        };
        ApiError::new(resp_status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let (Some(Value::Object(d)), Value::Object(b)) = (self.details, &mut body) {
            b.extend(d);
        }
        (self.status, Json(body)).into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn ctx(state: &AppState) -> Result<&Arc<CasesCtx>, ApiError> {
    state.cases.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cases_disabled",
            "the cases service is not configured",
        )
    })
}

// ─── strict input ──────────────────────────────────────────────────────────────────────────

/// Reads at most `limit` bytes. A larger body is refused with `413 too_large`; the rest of it
/// is read and dropped first (up to [`DRAIN_CAP`] bytes, for at most [`DRAIN_TIME`]), so the
/// client — still sending — reads the refusal instead of a connection reset.
pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is over {limit} bytes"),
        )
    };
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
            return Err(too_large());
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// The most of an oversized body read (and dropped) before refusing it.
const DRAIN_CAP: usize = 16 * 1024 * 1024;
/// How long an oversized body may take to be read out before refusing it anyway.
const DRAIN_TIME: StdDuration = StdDuration::from_secs(5);

/// A JSON body: `application/json`, at most [`MAX_JSON_BYTES`], unknown fields refused.
pub async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json",
        ));
    }
    let bytes = read_limited(body, MAX_JSON_BYTES).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_json", e.to_string()))
}

/// An optional JSON body (empty is `T::default()`).
async fn json_or_default<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let empty = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0")
        || headers.get(header::CONTENT_TYPE).is_none();
    if empty {
        let b = read_limited(body, MAX_JSON_BYTES).await?;
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json",
        ));
    }
    json_body(headers, body).await
}

// ─── authentication ────────────────────────────────────────────────────────────────────────

fn ordering(state: &AppState, headers: &HeaderMap) -> Result<Actor, ApiError> {
    crate::api::authorize(state, headers)?;
    Ok(Actor::ordering_system())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) async fn staff(ctx: &CasesCtx, headers: &HeaderMap) -> Result<(Actor, User), ApiError> {
    let token = cookie(headers, SESSION_COOKIE).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_invalid",
            "log in first (POST /api/v1/session)",
        )
    })?;
    let user = ctx.cases.authenticate(token).await?;
    Ok((Actor::staff(&user), user))
}

pub(crate) async fn customer(
    ctx: &CasesCtx,
    headers: &HeaderMap,
) -> Result<(Actor, Case), ApiError> {
    let token = headers
        .get(CASE_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "send the link token in X-Case-Token",
            )
        })?;
    Ok(ctx.cases.customer(token.trim()).await?)
}

// ─── views ─────────────────────────────────────────────────────────────────────────────────

/// The customer's link path for a token.
pub fn customer_link(token: &str) -> String {
    format!("/customer?case={token}")
}

/// A case as the API shows it; `full` adds the customer's data and the checklist (staff).
pub fn case_view(c: &Case, full: bool) -> Value {
    let mut v = json!({
        "id": c.id,
        "state": c.state,
        "contract_ref": c.contract_ref,
        "created_at": rfc3339(c.created_at),
        "expires_at": rfc3339(c.expires_at),
        "photo_uploaded": c.photo.is_some(),
        "data_confirmed_at": c.data_confirmed_at.map(rfc3339),
        "attempts": c.attempts,
        "max_attempts": c.max_attempts,
        "retries_left": c.retries_left(),
        "final": c.is_final(),
        "decided_at": c.decided_at.map(rfc3339),
        "reason": c.reason,
        "last_abort": c.last_abort,
        "esign_url": c.esign_url,
        "callback_url": c.callback_url,
    });
    if full && let Value::Object(m) = &mut v {
        m.insert("customer".into(), json!(c.customer));
        m.insert("agent_id".into(), json!(c.agent_id));
        m.insert(
            "call_started_at".into(),
            json!(c.call_started_at.map(rfc3339)),
        );
        m.insert("checklist".into(), json!(c.checklist));
        m.insert(
            "tan_verified".into(),
            json!(c.tan.as_ref().is_some_and(|t| t.is_verified())),
        );
    }
    v
}

// ─── ordering system ───────────────────────────────────────────────────────────────────────

/// `POST /api/v1/cases`
pub async fn create_case(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let actor = ordering(&state, &headers)?;
    let ctx = ctx(&state)?;
    let req: NewCase = json_body(&headers, body).await?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "invalid idempotency_key: printable ascii only",
            )
        })?),
        None => None,
    };
    let link = ctx.cases.create_case(&actor, &req, key).await?;
    let status = if link.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = json!({
        "case": case_view(&link.case, false),
        "customer_token": link.token,
        "customer_link": customer_link(&link.token),
        "replayed": link.replayed,
    });
    Ok((status, Json(body)).into_response())
}

/// `GET /api/v1/cases/{id}`: the ordering system (API key) or staff with `read_cases`.
pub async fn get_case(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let ctx = ctx(&state)?;
    if headers.contains_key(header::AUTHORIZATION) {
        let actor = ordering(&state, &headers)?;
        let case = ctx.cases.case(&actor, &id).await?;
        return Ok(Json(case_view(&case, false)).into_response());
    }
    let (actor, _) = staff(ctx, &headers).await?;
    let case = ctx.cases.case(&actor, &id).await?;
    Ok(Json(case_view(&case, true)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonReq {
    #[serde(default)]
    reason: String,
}

/// `POST /api/v1/cases/{id}/cancel`
pub async fn cancel_case(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let actor = ordering(&state, &headers)?;
    let ctx = ctx(&state)?;
    let req: ReasonReq = json_or_default(&headers, body).await?;
    let reason = if req.reason.is_empty() {
        "cancelled by the ordering system".to_string()
    } else {
        req.reason
    };
    let case = ctx.cases.cancel(&actor, &id, &reason).await?;
    finished(&state, ctx, &case).await;
    Ok(Json(case_view(&case, false)).into_response())
}

// ─── staff sessions ────────────────────────────────────────────────────────────────────────

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginReq {
    username: String,
    password: String,
}

fn user_json(u: &User) -> Value {
    json!({ "id": u.id, "username": u.username, "role": u.role })
}

/// `POST /api/v1/session`
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let req: LoginReq = json_body(&headers, body).await?;
    let login = ctx.cases.login(&req.username, &req.password).await?;
    let max_age = (login.expires_at - ctx.cases.now()).whole_seconds().max(0);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict",
        login.token
    );
    info!(user = %login.user.username, "staff login");
    let mut resp = Json(json!({
        "user": user_json(&login.user),
        "expires_at": rfc3339(login.expires_at),
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /api/v1/session`
pub async fn whoami(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let ctx = ctx(&state)?;
    let (_, user) = staff(ctx, &headers).await?;
    Ok(Json(json!({ "user": user_json(&user) })).into_response())
}

/// `DELETE /api/v1/session`
pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let ctx = ctx(&state)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        ctx.cases.logout(token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "vidid_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
        ),
    );
    Ok(resp)
}

// ─── customer ──────────────────────────────────────────────────────────────────────────────

/// `GET /api/v1/customer`: the case as the customer sees it, with the hours.
pub async fn customer_status(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let ctx = ctx(&state)?;
    let (_, case) = customer(ctx, &headers).await?;
    let now = ctx.cases.now();
    let hours = ctx.cases.hours();
    let place = ctx.cases.queue_place(&case.id).await?;
    let lang = case.customer.language;
    let body = json!({
        "case_id": case.id,
        "state": case.state,
        "expires_at": rfc3339(case.expires_at),
        "language": lang,
        "photo_uploaded": case.photo.is_some(),
        "data_confirmed": case.data_confirmed_at.is_some(),
        "retries_left": case.retries_left(),
        "final": case.is_final(),
        "hours": {
            "open_now": hours.is_open(now),
            "closes_at": hours.closes_at(now).map(|t| rfc3339(hours.to_local(t))),
            "next_opening": rfc3339(hours.to_local(hours.next_opening(now))),
        },
        "queue": place.map(|p| json!({
            "position": p.position,
            "estimated_wait_secs": p.estimated_wait_secs,
            "connected": p.connected,
        })),
        "message": case.last_abort.filter(|_| case.state == CaseState::Aborted).map(|r| r.customer_message(lang)),
        "redirect_url": if case.state == CaseState::Approved { case.esign_url.clone() } else { None },
    });
    Ok(Json(body).into_response())
}

/// `POST /api/v1/customer/photo`: the raw JPEG or PNG bytes as the body.
pub async fn customer_photo(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?.clone();
    let (actor, case) = customer(&ctx, &headers).await?;
    let (declared, bytes) = read_image(&headers, body).await?;
    let len = bytes.len() as u64;
    let (store, case_id, ct) = (ctx.evidence.clone(), case.id.clone(), declared.clone());
    let stored = put_evidence(store, case_id, ct, bytes).await?;
    let photo = DocumentPhoto {
        object_id: stored.object_id,
        content_type: declared,
        bytes: len,
        sha256: stored.sha256,
        uploaded_at: ctx.cases.now(),
    };
    let case = ctx.cases.upload_photo(&actor, &case.id, photo).await?;
    Ok(Json(json!({ "state": case.state, "photo": case.photo })).into_response())
}

/// An uploaded image: `image/jpeg` or `image/png` as declared and as its magic bytes say, at
/// most [`MAX_PHOTO_BYTES`].
pub(crate) async fn read_image(
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, bytes::Bytes), ApiError> {
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
        Some(t) if t == declared => Ok((declared, bytes)),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_upload",
            "the file is not a JPEG or PNG image of the declared type",
        )),
    }
}

/// Stores an evidence object off the async threads; a storage failure is `503
/// storage_unavailable` (nothing was recorded; the upload can be repeated).
pub(crate) async fn put_evidence(
    store: Arc<dyn EvidenceStore>,
    case_id: String,
    content_type: String,
    bytes: bytes::Bytes,
) -> Result<crate::evidence::StoredObject, ApiError> {
    tokio::task::spawn_blocking(move || store.put(&case_id, &content_type, &bytes))
        .await
        .map_err(|e| ApiError::from(CasesError::Corrupt(e.to_string())))?
        .map_err(|e| {
            warn!(error = %e, "evidence store failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the evidence store is not reachable; nothing was stored, try again",
            )
        })
}

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmReq {
    name: String,
    #[serde(with = "iso_date")]
    date_of_birth: Date,
    document: Document,
}

/// `POST /api/v1/customer/confirm`
pub async fn customer_confirm(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, case) = customer(ctx, &headers).await?;
    let req: ConfirmReq = json_body(&headers, body).await?;
    let data = ConfirmedData {
        name: req.name,
        date_of_birth: req.date_of_birth,
        document: req.document,
    };
    let (case, check) = ctx.cases.confirm_data(&actor, &case.id, &data).await?;
    Ok(Json(json!({
        "state": case.state,
        "matches": check.is_match(),
        "differences": check.explain(case.customer.language),
        "check": check,
    }))
    .into_response())
}

/// `POST /api/v1/customer/queue`
pub async fn customer_join_queue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, case) = customer(ctx, &headers).await?;
    let ticket = ctx.cases.join_queue(&actor, &case.id).await?;
    Ok(Json(json!({
        "position": ticket.place.position,
        "estimated_wait_secs": ticket.place.estimated_wait_secs,
        "rejoin_token": ticket.rejoin_token,
    }))
    .into_response())
}

/// `DELETE /api/v1/customer/queue`
pub async fn customer_leave_queue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, case) = customer(ctx, &headers).await?;
    let case = ctx.cases.leave_queue(&actor, &case.id).await?;
    Ok(Json(json!({ "state": case.state })).into_response())
}

// ─── agents ────────────────────────────────────────────────────────────────────────────────

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailabilityReq {
    status: AgentStatus,
}

/// `PUT /api/v1/agent/availability` `{"status": "available" | "paused"}`
pub async fn set_availability(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let req: AvailabilityReq = json_body(&headers, body).await?;
    if req.status == AgentStatus::InCall {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "invalid status: available or paused",
        ));
    }
    let st = ctx.cases.set_availability(&actor, req.status).await?;
    Ok(Json(json!(st)).into_response())
}

/// `GET /api/v1/queue` (staff with `view_queue`)
pub async fn queue(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let places = ctx.cases.queue(&actor).await?;
    let agents = ctx.cases.agents(&actor).await?;
    let now = ctx.cases.now();
    let places: Vec<Value> = places
        .iter()
        .map(|p| {
            let mut v = json!(p);
            v["waiting_secs"] = json!((now - p.joined_at).whole_seconds().max(0));
            v
        })
        .collect();
    Ok(Json(json!({ "at": rfc3339(now), "queue": places, "agents": agents })).into_response())
}

/// The call room of a case's current attempt.
pub fn call_id_of(case: &Case) -> String {
    format!("{}-{}", case.id, case.attempts)
}

/// `POST /api/v1/agent/take`: the next connected customer → a call room, the agent's join
/// token here, the customer's pushed on their queue socket. `204` when nobody waits.
pub async fn take(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let ctx = ctx(&state)?.clone();
    let (actor, _) = staff(&ctx, &headers).await?;
    if let Some(c) = ctx.cluster.as_ref()
        && c.role == crate::cluster::NodeRole::Signaling
        && !c.media_available(&ctx).await
    {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "media_unavailable",
            "no media node can take a call now; try again shortly",
        ));
    }
    let Some(case) = ctx.cases.take_next(&actor).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let (call_id, agent_token, media_url) = match ctx.cluster.as_ref() {
        Some(c) if c.role == crate::cluster::NodeRole::Signaling => {
            match c.place(&ctx, &case, state.call_ttl).await {
                Ok(p) => {
                    ctx.hub.call_ready(
                        &case.id,
                        &p.call_id,
                        &p.customer_token,
                        Some(&p.node.public_url),
                    );
                    (p.call_id, p.agent_token, Some(p.node.public_url))
                }
                Err(e) => {
                    warn!(case_id = %case.id, error = %e, "no media node for the call");
                    let _ = ctx
                        .cases
                        .requeue_after_node_failure(&case.id, &e.to_string())
                        .await;
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "media_unavailable",
                        "no media node can take the call now; the customer keeps the place",
                    ));
                }
            }
        }
        _ => {
            let call_id = call_id_of(&case);
            let call = match state.calls.create_with_id(
                &call_id,
                OffsetDateTime::now_utc(),
                state.call_ttl,
            ) {
                Ok(c) => c,
                Err(e) => {
                    // Give the customer back: the attempt cannot run without a room.
                    let _ = ctx
                        .cases
                        .abort(
                            &actor,
                            &case.id,
                            AbortReason::ConnectionLost,
                            "no call room",
                        )
                        .await;
                    return Err(e.into());
                }
            };
            ctx.hub
                .call_ready(&case.id, &call.call_id, &call.customer_token, None);
            tokio::spawn(watch_call(
                state.clone(),
                ctx.clone(),
                case.id.clone(),
                call_id.clone(),
            ));
            (call_id, call.agent_token, None)
        }
    };
    info!(case_id = %case.id, call_id = %call_id, "agent took a customer");
    crate::metrics::observe_taken(&state, &ctx, &case);
    let questions = &ctx.cases.config().identification.questions;
    Ok(Json(json!({
        "case": case_view(&case, true),
        "call": {
            "link": format!("{}/agent?token={agent_token}", media_url.as_deref().unwrap_or("")),
            "call_id": call_id,
            "token": agent_token,
            "media_url": media_url,
        },
        "questions": questions,
    }))
    .into_response())
}

/// Watches a case's call: ends the room when the case leaves the call states, and aborts the
/// attempt (`connection_lost`) when a participant stays away longer than the grace period.
pub(crate) async fn watch_call(
    state: Arc<AppState>,
    ctx: Arc<CasesCtx>,
    case_id: String,
    call_id: String,
) {
    let start = tokio::time::Instant::now();
    let mut absent_since = [Some(start), Some(start)];
    let mut tick = tokio::time::interval(StdDuration::from_millis(500));
    loop {
        tick.tick().await;
        let case = match ctx.cases.store().case(&case_id).await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                warn!(case_id, error = %e, "call watch: reading the case");
                continue;
            }
        };
        if !matches!(case.state, CaseState::InCall | CaseState::Checks) {
            end_room(&state, &call_id, "the identification ended").await;
            break;
        }
        let Some(view) = state.calls.get(&call_id) else {
            break;
        };
        if view.state == crate::calls::CallState::Ended {
            // Ended through the call protocol (`end_call`) while the case was still open.
            abort_attempt(&state, &ctx, &case_id, "the call ended before a decision").await;
            break;
        }
        let now = tokio::time::Instant::now();
        let seats = [view.participants.customer, view.participants.agent];
        let mut lost = None;
        for (i, seat) in seats.iter().enumerate() {
            if *seat == crate::calls::SeatState::Absent {
                let since = *absent_since[i].get_or_insert(now);
                if now.duration_since(since) > ctx.call_grace {
                    lost = Some(if i == 0 { "customer" } else { "agent" });
                }
            } else {
                absent_since[i] = None;
            }
        }
        if let Some(who) = lost {
            abort_attempt(
                &state,
                &ctx,
                &case_id,
                &format!("the {who} was away longer than the grace period"),
            )
            .await;
            break;
        }
    }
    ctx.hub.clear(&case_id);
}

async fn abort_attempt(state: &AppState, ctx: &CasesCtx, case_id: &str, note: &str) {
    let system = Actor::system("call-watch");
    match ctx
        .cases
        .abort(&system, case_id, AbortReason::ConnectionLost, note)
        .await
    {
        Ok(case) => {
            info!(case_id, note, "attempt aborted");
            finished(state, ctx, &case).await;
        }
        Err(CasesError::InvalidState { .. }) => {}
        Err(e) => warn!(case_id, error = %e, "aborting the attempt"),
    }
}

async fn end_room(state: &AppState, call_id: &str, reason: &str) {
    match crate::api::end_call(state, call_id, reason).await {
        Ok(_) | Err(SignalingError::CallEnded) | Err(SignalingError::NotFound) => {}
        Err(e) => warn!(call_id, error = %e, "ending the call room"),
    }
}

/// After a case left the call (decided, aborted, cancelled): the customer hears the result and
/// the call room closes.
pub async fn finished(state: &AppState, ctx: &CasesCtx, case: &Case) {
    let lang = case.customer.language;
    let message = match case.state {
        CaseState::Aborted => case
            .last_abort
            .map(|r| r.customer_message(lang).to_string()),
        _ => case.reason.clone(),
    };
    ctx.hub.clear(&case.id);
    ctx.hub.push(
        &case.id,
        CustomerMsg::Result {
            state: case.state.as_str().to_string(),
            redirect_url: if case.state == CaseState::Approved {
                case.esign_url.clone()
            } else {
                None
            },
            message,
            retries_left: case.retries_left(),
        },
    );
    if case.attempts > 0 {
        end_room(state, &call_id_of(case), "the identification ended").await;
    }
    // In the background: the agent's decision does not wait for the storage round trip (or a
    // storage outage).
    if let Some(ctx) = state.cases.clone() {
        let case_id = case.id.clone();
        tokio::spawn(async move { seal_trail(&ctx, &case_id).await });
    }
}

/// Seals a copy of the case's trail into the vault next to the recordings (WORM, the same
/// retention): the evidence trail outlives the database. A failure is logged; the next end of
/// an attempt seals again (each copy covers the whole trail up to then).
pub async fn seal_trail(ctx: &CasesCtx, case_id: &str) {
    let result = async {
        let (jsonl, head) = ctx.cases.trail_for_sealing(case_id).await?;
        let bytes = bytes::Bytes::from(jsonl);
        let len = bytes.len() as u64;
        let stored = put_evidence(
            ctx.evidence.clone(),
            case_id.to_string(),
            "application/x-ndjson".into(),
            bytes,
        )
        .await?;
        ctx.cases
            .record_trail_sealed(
                case_id,
                vidid_cases::SealedTrail {
                    object_id: stored.object_id,
                    entries: head.len,
                    head_hash: head.hash,
                    sha256: stored.sha256,
                    bytes: len,
                    sealed_at: ctx.cases.now(),
                },
            )
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(e) = result {
        warn!(case_id, error = ?e, "sealing the audit trail into the vault");
    }
}

/// `POST /api/v1/cases/{id}/checks/start`
pub async fn start_checks(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let case = ctx.cases.start_checks(&actor, &id).await?;
    Ok(Json(case_view(&case, true)).into_response())
}

/// `POST /api/v1/cases/{id}/checks` with a checklist answer.
pub async fn record_check(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let answer: CheckAnswer = json_body(&headers, body).await?;
    let case = ctx.cases.record_check(&actor, &id, answer).await?;
    Ok(Json(case_view(&case, true)).into_response())
}

/// `POST /api/v1/cases/{id}/tan`: send a code to the customer's phone.
pub async fn send_tan(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let case = ctx.cases.send_tan(&actor, &id).await?;
    Ok(Json(json!({
        "sent_to": vidid_cases::tan::mask_phone(&case.customer.phone),
    }))
    .into_response())
}

/// `{"code": "123456"}`: the agent's read-back or the customer's own entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TanReq {
    pub(crate) code: String,
}

/// `POST /api/v1/cases/{id}/tan/verify` `{"code": "123456"}`
pub async fn verify_tan(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let req: TanReq = json_body(&headers, body).await?;
    let outcome = ctx.cases.verify_tan(&actor, &id, &req.code).await?;
    Ok(Json(json!(outcome)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstructionReq {
    text: String,
}

/// `POST /api/v1/cases/{id}/instruction`: a message shown to the customer (their socket).
pub async fn instruction(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, user) = staff(ctx, &headers).await?;
    let req: InstructionReq = json_body(&headers, body).await?;
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > 500 || text.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "invalid text: 1 to 500 printable characters",
        ));
    }
    let case = ctx.cases.case(&actor, &id).await?;
    if !matches!(case.state, CaseState::InCall | CaseState::Checks) {
        return Err(CasesError::InvalidState {
            state: case.state,
            action: "send an instruction",
        }
        .into());
    }
    if case.agent_id.as_deref() != Some(user.id.as_str()) {
        return Err(CasesError::NotAssigned.into());
    }
    ctx.hub.push(
        &id,
        CustomerMsg::Instruction {
            text: text.to_string(),
        },
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/cases/{id}/approve`
pub async fn approve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let case = ctx.cases.approve(&actor, &id).await?;
    finished(&state, ctx, &case).await;
    Ok(Json(case_view(&case, true)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectReq {
    reason: String,
}

/// `POST /api/v1/cases/{id}/reject` `{"reason": …}`
pub async fn reject(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let req: RejectReq = json_body(&headers, body).await?;
    let case = ctx.cases.reject(&actor, &id, &req.reason).await?;
    finished(&state, ctx, &case).await;
    Ok(Json(case_view(&case, true)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AbortReq {
    reason: AbortReason,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/cases/{id}/abort` `{"reason": "bad_light", "note": …}`
pub async fn abort(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let req: AbortReq = json_body(&headers, body).await?;
    let case = ctx.cases.abort(&actor, &id, req.reason, &req.note).await?;
    finished(&state, ctx, &case).await;
    Ok(Json(case_view(&case, true)).into_response())
}

// ─── compliance ────────────────────────────────────────────────────────────────────────────

/// `GET /api/v1/cases/{id}/audit`: the trail and whether it verifies (`read_audit`).
pub async fn audit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let trail = ctx.cases.audit_trail(&actor, &id).await?;
    Ok(Json(json!({
        "case_id": trail.case_id,
        "verified": trail.broken.is_none(),
        "broken": trail.broken.as_ref().map(|b| b.to_string()),
        "head": trail.head,
        "entries": trail.entries,
    }))
    .into_response())
}

/// `GET /api/v1/openapi.json`
pub async fn openapi() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        crate::openapi::DOCUMENT,
    )
        .into_response()
}
