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
//! - [`metrics`]: the adapter's own metrics; [`SignalingError`]: its own refusals.
//!
//! ## Routes by role
//! [`router`] composes the routes from the node's role: `media` serves `/ws` and the
//! operational endpoints only; `signaling` serves the pages, the REST API and `/ws/queue`
//! but no `/ws`; `all` serves both, and the bare calls API.

#![forbid(unsafe_code)]

pub mod api;
mod error;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod ratelimit;
pub mod ws;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use prometheus::Registry;
use vidid_cases::Cases;
use vidid_control::evidence::EvidenceStore;
use vidid_control::grants::Grants;
use vidid_control::metrics::ControlMetrics;
use vidid_control::queue_view::QueueView;
use vidid_control::recordings::Recordings;
use vidid_control::{Coordinator, NodeAgent, NodeRole, Rooms};
use vidid_server::TurnConfig;

pub use error::SignalingError;
pub use metrics::SignalingMetrics;
/// The domain core, re-exported for the binary.
pub use vidid_cases;
/// The control plane, re-exported for the binary.
pub use vidid_control;

/// Everything a handler reaches: the control plane's parts and the adapter's own.
pub struct AppState {
    /// The domain: every rule, every read.
    pub cases: Arc<Cases>,
    /// Take, decide, instruct (and the customer's pushes through its hub).
    pub coordinator: Arc<Coordinator>,
    /// The queue snapshot the customers' sockets share.
    pub queue_view: QueueView,
    /// ID photos, snapshots, sealed trails.
    pub evidence: Arc<dyn EvidenceStore>,
    /// The compliance portal's recordings.
    pub recordings: Recordings,
    /// Purpose-bound access grants of the portal.
    pub grants: Grants,
    /// The call rooms of this process (`None` on a signaling node).
    pub rooms: Option<Arc<Rooms>>,
    /// This process's role, drain flag and load.
    pub node: Arc<NodeAgent>,
    /// The ordering system's API key.
    pub api_key: String,
    pub turn: TurnConfig,
    pub limiter: Arc<ratelimit::RateLimiter>,
    pub metrics: SignalingMetrics,
    pub control_metrics: ControlMetrics,
    pub registry: Registry,
    /// Run before each `/metrics` scrape (e.g. to copy recorder counters into gauges).
    pub scrape_hooks: Vec<Box<dyn Fn() + Send + Sync>>,
}

impl AppState {
    /// Usernames of staff ids, for display; a failed read shows ids only.
    pub async fn staff_names(
        &self,
        ids: impl IntoIterator<Item = String>,
    ) -> HashMap<String, String> {
        match self.cases.staff_names(ids).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reading staff names");
                HashMap::new()
            }
        }
    }
}

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
        state.clone(),
        ratelimit::limit,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        metrics::count_responses,
    ))
    .with_state(state)
}
