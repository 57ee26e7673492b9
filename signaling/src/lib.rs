//! # vidid-signaling: the HTTP and WebSocket adapter
//!
//! Everything a browser or the ordering system talks to, and nothing more: the REST API
//! (`docs/api.md`), the participant and queue WebSockets (`docs/signaling.md`), the embedded
//! pages, and the operational endpoints. Handlers parse strictly, establish who is calling,
//! and hand the intent to the control plane ([`vidid_control`]) or the domain
//! ([`vidid_cases::Cases`]); they hold no call state of their own.
//!
//! ## Layout
//! - [`api`]: the REST API grouped by principal ([`api::ordering`], [`api::customer`],
//!   [`api::session`], [`api::agent`], [`api::compliance`], [`api::board`], [`api::calls`]),
//!   with [`api::extract`] (who is calling; strict bodies), [`api::views`] (typed answers)
//!   and [`api::error`] (the one table from an error to its HTTP status).
//! - [`ws`]: [`ws::participant`] (`/ws`) and [`ws::queue`] (`/ws/queue`).
//! - [`pages`]: the browser pages (`assets/`), compiled into the binary.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`; [`openapi`]: `/api/v1/openapi.json`.
//! - [`ratelimit`]: the token bucket and the REST limits (per client, credential, login).
//! - [`AppState`] (`state.rs`): what every handler reaches.
//! - [`wire`]: names and limits on the wire (cookie, headers, body sizes).
//! - [`metrics`]: the adapter's own metrics; [`SignalingError`]: its own refusals.
//!
//! ## Routes by role
//! [`router`] composes the routes from the node's role: `media` serves `/ws` and the
//! operational endpoints only; `signaling` serves the pages, the REST API and `/ws/queue`
//! but no `/ws`; `all` serves both, and the bare calls API.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
mod error;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod ratelimit;
mod state;
pub mod wire;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use vidid_control::NodeRole;

pub use error::SignalingError;
pub use metrics::SignalingMetrics;
pub use state::AppState;
/// The domain core, re-exported for the binary.
pub use vidid_cases;
/// The control plane, re-exported for the binary.
pub use vidid_control;

/// The HTTP surface of this node's role; see the module docs.
pub fn router(state: Arc<AppState>) -> Router {
    let role = state.node.role;
    let mut r = ops::routes();
    if role.runs_media() {
        r = r.merge(ws::participant_routes());
    }
    if role.runs_signaling() {
        r = r
            .merge(pages::routes())
            .merge(ws::queue_routes())
            .route("/api/v1/openapi.json", get(ops::openapi))
            .merge(api::routes());
    }
    if role == NodeRole::All {
        r = r.merge(
            api::calls::routes().layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024)),
        );
    }
    r.layer(axum::middleware::from_fn_with_state(
        state.limiter.clone(),
        ratelimit::limit,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.metrics.clone(),
        metrics::count_responses,
    ))
    .with_state(state)
}
