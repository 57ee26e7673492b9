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
//! - [`cases_api`]: the cases API (ordering system, staff sessions, customer, agent,
//!   compliance; `docs/api.md`) over [`vidid_cases::Cases`], and the call room of a taken case.
//! - [`queue_ws`]: the customer's queue socket `/ws/queue`; [`hub`]: what is pushed to it.
//! - [`evidence`]: the [`evidence::EvidenceStore`] seam for ID photos.
//! - [`background`]: the sweeper and the HMAC-signed webhook sender.
//!
//! ## Flow of a call
//! `POST /api/v1/calls` → two tokens → each browser opens `/ws`, sends `join` → the store seats
//! it → [`vidid_server::MediaServer::join`] opens the room (and its recording) → `offer` →
//! `answer` → candidates both ways → media flows through the SFU → the agent's `end_call` (or
//! `POST …/end`) closes the room and finishes the recording.

#![forbid(unsafe_code)]

pub mod api;
pub mod background;
pub mod calls;
pub mod cases_api;
pub mod cluster;
mod error;
pub mod evidence;
pub mod hub;
pub mod metrics;
mod openapi;
pub mod pages;
pub mod queue_view;
pub mod queue_ws;
pub mod ratelimit;
pub mod recordings;
pub mod secrets;
pub mod staff_api;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use vidid_server::{MediaServer, TurnConfig};

pub use error::SignalingError;
/// The domain core, re-exported for the binary.
pub use vidid_cases;

/// Signaling's own metrics (`vidid_signaling_*`).
#[derive(Clone)]
pub struct SignalingMetrics {
    pub ws_connections: IntGauge,
    pub ws_errors: IntCounterVec,
    /// `vidid_http_responses_total`, `vidid_queue_length`, `vidid_queue_wait_seconds`.
    pub http: metrics::HttpQueueMetrics,
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
            http: metrics::HttpQueueMetrics::register(registry)?,
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
    /// The cases service (issue 4); `None` serves only the calls API (its endpoints answer
    /// `503 cases_disabled`).
    pub cases: Option<Arc<cases_api::CasesCtx>>,
}

/// The whole HTTP surface.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/api/v1/calls", post(api::create_call))
        .route("/api/v1/calls/{call_id}", get(api::get_call))
        .route("/api/v1/calls/{call_id}/end", post(api::post_end_call))
        .merge(pages::routes())
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .merge(cases_router())
        .layer(axum::middleware::from_fn_with_state(
            ratelimit::RateLimiter::with_defaults(),
            ratelimit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_responses,
        ))
        .with_state(state)
}

/// The cases API (docs/api.md) and the customer's queue socket. Handlers read their bodies
/// with their own limits (JSON 16 KiB, photos 8 MiB) and answer with JSON errors.
fn cases_router() -> Router<Arc<AppState>> {
    use cases_api as c;
    use staff_api as s;
    Router::new()
        .route("/ws/queue", get(queue_ws::upgrade))
        .route("/api/v1/openapi.json", get(c::openapi))
        .route("/api/v1/cases", post(c::create_case).get(s::search))
        .route("/api/v1/cases/{id}/access", post(s::access))
        .route("/api/v1/cases/{id}/dossier", get(s::dossier))
        .route(
            "/api/v1/cases/{id}/evidence/{object_id}",
            get(s::evidence_image),
        )
        .route(
            "/api/v1/cases/{id}/recordings/{recording_id}/audio.wav",
            get(s::recording_audio),
        )
        .route("/api/v1/cases/{id}/snapshots", post(s::snapshot))
        .route("/api/v1/cases/{id}/id-photo", get(s::id_photo))
        .route("/api/v1/customer/tan", post(s::customer_tan))
        .route("/api/v1/board", get(s::board))
        .route("/api/v1/cases/{id}", get(c::get_case))
        .route("/api/v1/cases/{id}/cancel", post(c::cancel_case))
        .route("/api/v1/cases/{id}/audit", get(c::audit))
        .route("/api/v1/cases/{id}/checks/start", post(c::start_checks))
        .route("/api/v1/cases/{id}/checks", post(c::record_check))
        .route("/api/v1/cases/{id}/tan", post(c::send_tan))
        .route("/api/v1/cases/{id}/tan/verify", post(c::verify_tan))
        .route("/api/v1/cases/{id}/instruction", post(c::instruction))
        .route("/api/v1/cases/{id}/approve", post(c::approve))
        .route("/api/v1/cases/{id}/reject", post(c::reject))
        .route("/api/v1/cases/{id}/abort", post(c::abort))
        .route(
            "/api/v1/session",
            post(c::login).get(c::whoami).delete(c::logout),
        )
        .route("/api/v1/customer", get(c::customer_status))
        .route("/api/v1/customer/photo", post(c::customer_photo))
        .route("/api/v1/customer/confirm", post(c::customer_confirm))
        .route(
            "/api/v1/customer/queue",
            post(c::customer_join_queue).delete(c::customer_leave_queue),
        )
        .route("/api/v1/agent/availability", put(c::set_availability))
        .route("/api/v1/agent/take", post(c::take))
        .route("/api/v1/queue", get(c::queue))
        .layer(axum::extract::DefaultBodyLimit::max(
            cases_api::MAX_PHOTO_BYTES + 1024,
        ))
}
