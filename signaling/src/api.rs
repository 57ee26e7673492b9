//! The HTTP API under `/api/v1` (API-key auth) and the operational endpoints.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::info;
use vidid_server::CallSummary;

use crate::{AppState, SignalingError};

pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), SignalingError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(SignalingError::Unauthorized)?;
    // Compare digests so the time taken does not depend on where the strings differ.
    let a = ring::digest::digest(&ring::digest::SHA256, given.trim().as_bytes());
    let b = ring::digest::digest(&ring::digest::SHA256, state.api_key.as_bytes());
    if a.as_ref() == b.as_ref() {
        Ok(())
    } else {
        Err(SignalingError::Unauthorized)
    }
}

/// `POST /api/v1/calls`
pub async fn create_call(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, SignalingError> {
    authorize(&state, &headers)?;
    let now = time::OffsetDateTime::now_utc();
    let call = state.calls.create(now, state.call_ttl);
    info!(call_id = %call.call_id, "call created");
    let body = json!({
        "call_id": call.call_id,
        "tokens": { "customer": call.customer_token, "agent": call.agent_token },
        "links": {
            "customer": format!("/customer?token={}", call.customer_token),
            "agent": format!("/agent?token={}", call.agent_token),
        },
        "expires_at": call.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/calls/{id}`
pub async fn get_call(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
) -> Result<Response, SignalingError> {
    authorize(&state, &headers)?;
    let view = state.calls.get(&call_id).ok_or(SignalingError::NotFound)?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/calls/{id}/end`
pub async fn post_end_call(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
) -> Result<Response, SignalingError> {
    authorize(&state, &headers)?;
    let summary = end_call(&state, &call_id, "ended through the api").await?;
    Ok(Json(summary).into_response())
}

/// Ends a call: media first (participants told, recording finished), then the store.
pub async fn end_call(
    state: &AppState,
    call_id: &str,
    reason: &str,
) -> Result<CallSummary, SignalingError> {
    let view = state.calls.get(call_id).ok_or(SignalingError::NotFound)?;
    if view.state == crate::calls::CallState::Ended {
        return Err(SignalingError::CallEnded);
    }
    let summary = match state.media.end_call(call_id, reason).await {
        Ok(s) => s,
        // Nobody ever joined: there is no room and no recording.
        Err(vidid_server::MediaError::NoSuchCall(_)) => CallSummary {
            call_id: call_id.to_string(),
            recording_id: None,
            duration_ms: 0,
        },
        Err(e) => return Err(SignalingError::MediaUnavailable(e.to_string())),
    };
    if !state.calls.end(call_id, summary.recording_id.clone())? {
        return Err(SignalingError::CallEnded);
    }
    Ok(summary)
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the media loop answers and is under capacity.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let draining = state
        .cases
        .as_ref()
        .and_then(|c| c.cluster.as_ref())
        .is_some_and(|c| c.is_draining());
    if draining {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "draining"})),
        )
            .into_response();
    }
    match state.media.load().await {
        Ok(load) if load.calls < load.max_calls => {
            (StatusCode::OK, Json(json!({"ready": true, "load": load}))).into_response()
        }
        Ok(load) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "at capacity", "load": load})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": e.to_string()})),
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    crate::metrics::refresh(&state).await;
    for hook in &state.scrape_hooks {
        hook();
    }
    let mut buf = String::new();
    let encoder = prometheus::TextEncoder::new();
    match encoder.encode_utf8(&state.registry.gather(), &mut buf) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], buf).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
