//! The operational endpoints every role serves: `/healthz` (the process is up), `/readyz`
//! (it takes new work), `/metrics` (Prometheus text format).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use vidid_server::NodeLoad;

use crate::AppState;

/// `/healthz`, `/readyz` and `/metrics`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// `GET /healthz`: the process is up.
async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz`'s answer.
#[derive(Serialize)]
struct Readiness {
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    load: Option<NodeLoad>,
}

fn answer(reason: Option<String>, load: Option<NodeLoad>) -> Response {
    let status = if reason.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready: reason.is_none(),
        reason,
        load,
    };
    (status, Json(body)).into_response()
}

/// `GET /readyz`: not draining; where media runs, the media loop answers and is under
/// capacity; where signaling runs, the case store answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.node.is_draining() {
        return answer(Some("draining".into()), None);
    }
    if state.node.role.runs_signaling()
        && let Err(e) = state.cases.queue_length().await
    {
        tracing::warn!(error = %e, "readiness: the case store does not answer");
        return answer(Some("the case store does not answer".into()), None);
    }
    let Some(rooms) = &state.rooms else {
        return answer(None, None);
    };
    match rooms.media().load().await {
        Ok(load) if load.calls < load.max_calls => answer(None, Some(load)),
        Ok(load) => answer(Some("at capacity".into()), Some(load)),
        Err(e) => answer(Some(e.to_string()), None),
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if state.node.role.runs_signaling() {
        state.control_metrics.refresh(&state.cases).await;
    }
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
