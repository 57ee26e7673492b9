//! The operational endpoints every role serves: `/healthz` (the process is up), `/readyz`
//! (it takes new work), `/metrics` (Prometheus text format).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

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

fn not_ready(reason: &str, extra: serde_json::Value) -> Response {
    let mut body = json!({"ready": false, "reason": reason});
    if let (serde_json::Value::Object(b), serde_json::Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// `GET /readyz`: not draining; where media runs, the media loop answers and is under
/// capacity; where signaling runs, the case store answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.node.is_draining() {
        return not_ready("draining", json!({}));
    }
    if state.node.role.runs_signaling()
        && let Err(e) = state.cases.queue_length().await
    {
        tracing::warn!(error = %e, "readiness: the case store does not answer");
        return not_ready("the case store does not answer", json!({}));
    }
    let Some(rooms) = &state.rooms else {
        return (StatusCode::OK, Json(json!({"ready": true}))).into_response();
    };
    match rooms.media().load().await {
        Ok(load) if load.calls < load.max_calls => {
            (StatusCode::OK, Json(json!({"ready": true, "load": load}))).into_response()
        }
        Ok(load) => not_ready("at capacity", json!({ "load": load })),
        Err(e) => not_ready(&e.to_string(), json!({})),
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
