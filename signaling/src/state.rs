//! What every handler reaches: the control plane's parts and the adapter's own.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::Registry;
use vidid_cases::Cases;
use vidid_control::evidence::EvidenceStore;
use vidid_control::grants::Grants;
use vidid_control::metrics::ControlMetrics;
use vidid_control::queue_view::QueueView;
use vidid_control::recordings::Recordings;
use vidid_control::{Coordinator, NodeAgent, Rooms};
use vidid_server::TurnConfig;

use crate::metrics::SignalingMetrics;
use crate::ratelimit;

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
    /// The STUN/TURN servers handed to browsers when they join a call.
    pub turn: TurnConfig,
    /// The REST API's rate limits.
    pub limiter: Arc<ratelimit::RateLimiter>,
    /// The adapter's own metrics.
    pub metrics: SignalingMetrics,
    /// The queue's metrics, refreshed at each `/metrics` scrape.
    pub control_metrics: ControlMetrics,
    /// Every metric `/metrics` serves.
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
