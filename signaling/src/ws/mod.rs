//! The two WebSockets: [`participant`] (`/ws`, the call: join, SDP, ICE, presence; served
//! where calls are relayed) and [`queue`] (`/ws/queue`, the customer waiting: place, call
//! token, instructions, result; served where signaling runs). Both limit their clients'
//! messages with the REST API's token bucket ([`crate::ratelimit::TokenBucket`]).

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::AppState;

pub mod participant;
pub mod queue;

/// `/ws`: where calls are relayed.
pub fn participant_routes() -> Router<Arc<AppState>> {
    Router::new().route("/ws", get(participant::upgrade))
}

/// `/ws/queue`: where customers wait.
pub fn queue_routes() -> Router<Arc<AppState>> {
    Router::new().route("/ws/queue", get(queue::upgrade))
}
