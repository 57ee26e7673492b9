//! # vidid-signaling: who may join which call, and how
//!
//! The HTTP side of vidid: the calls API, the participant WebSocket that carries SDP and ICE
//! between a browser and the media server, the embedded browser pages, and the operational
//! endpoints (`/metrics`, `/healthz`, `/readyz`). The protocol is written down in
//! `docs/signaling.md`.
//!
//! ## Layout
//! - [`calls`]: the [`calls::CallStore`] seam (calls, hashed join tokens, seats) and its
//!   in-memory implementation.
//! - [`ws`]: one task per participant socket: join → offer/answer → trickle ICE → presence.
//! - [`api`]: `/api/v1/calls…` with API-key auth, and the operational endpoints.
//! - [`pages`]: the customer and agent pages (`assets/`), compiled into the binary.
//! - [`secrets`]: generated development secrets in the data directory.
//!
//! ## Flow of a call
//! `POST /api/v1/calls` → two tokens → each browser opens `/ws`, sends `join` → the store seats
//! it → [`vidid_server::MediaServer::join`] opens the room (and its recording) → `offer` →
//! `answer` → candidates both ways → media flows through the SFU → the agent's `end_call` (or
//! `POST …/end`) closes the room and finishes the recording.

#![forbid(unsafe_code)]

pub mod api;
pub mod calls;
mod error;
pub mod pages;
pub mod secrets;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use vidid_server::{MediaServer, TurnConfig};

pub use error::SignalingError;

/// Signaling's own metrics (`vidid_signaling_*`).
#[derive(Clone)]
pub struct SignalingMetrics {
    pub ws_connections: IntGauge,
    pub ws_errors: IntCounterVec,
}

impl SignalingMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = SignalingMetrics {
            ws_connections: IntGauge::new(
                "vidid_signaling_ws_connections",
                "Open participant WebSockets",
            )?,
            ws_errors: IntCounterVec::new(
                Opts::new(
                    "vidid_signaling_ws_errors_total",
                    "Errors sent to WebSocket clients, by code",
                ),
                &["code"],
            )?,
        };
        registry.register(Box::new(m.ws_connections.clone()))?;
        registry.register(Box::new(m.ws_errors.clone()))?;
        Ok(m)
    }
}

/// Everything a request handler needs.
pub struct AppState {
    pub calls: Arc<dyn calls::CallStore>,
    pub media: MediaServer,
    pub turn: TurnConfig,
    pub api_key: String,
    pub call_ttl: time::Duration,
    pub registry: Registry,
    pub metrics: SignalingMetrics,
    /// Run before each `/metrics` scrape (e.g. to copy recorder counters into gauges).
    pub scrape_hooks: Vec<Box<dyn Fn() + Send + Sync>>,
}

/// The whole HTTP surface.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/api/v1/calls", post(api::create_call))
        .route("/api/v1/calls/{call_id}", get(api::get_call))
        .route("/api/v1/calls/{call_id}/end", post(api::post_end_call))
        .route("/customer", get(pages::customer))
        .route("/agent", get(pages::agent))
        .route("/assets/call.js", get(pages::call_js))
        .route("/assets/style.css", get(pages::style))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .with_state(state)
}
