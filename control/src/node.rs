//! This process's place in a deployment: its role, the media node's heartbeat and assignment
//! poller, the signaling side's failed-node recovery, and the drain flag (issue 7;
//! `vidid_cases::cluster` holds the registry's types).
//!
//! ```text
//!  signaling (role signaling)                 store (PostgreSQL)            media node (role media)
//!  take ── RegistryPlacement ──────────────▶ call_assignments ◀── poll ── opens the room with the
//!    tokens = HMAC(cluster secret,                                       same tokens, watches it,
//!             call, party, node, expiry)    media_nodes ◀──── heartbeat  records to the vault
//!    customer: call_ready {media_url} ─ bus ─▶ queue socket (any signaling process)
//!  recovery: node silent > dead_after ──▶ requeue the customer at the head, end the assignment
//! ```
//!
//! In the embedded one-machine mode (role `all`) rooms are opened by [`LocalPlacement`] and
//! nothing here runs but the drain flag and the node metrics.
//!
//! [`LocalPlacement`]: crate::placement::LocalPlacement

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use prometheus::{IntGauge, Registry};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use vidid_cases::CaseState;
use vidid_cases::cluster::MediaNode;
use vidid_server::Party;

use crate::attempt::{Attempts, call_id_of};
use crate::rooms::Rooms;
use crate::tokens::TokenSigner;
use crate::watch::watch_call;

/// What a `vidid serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Everything in one process (the embedded default).
    #[default]
    All,
    /// Pages, REST, the queue; calls go to media nodes. No media loop, no UDP.
    Signaling,
    /// Call rooms, media relay and recording for the calls placed on it; serves only the
    /// participant socket and the operational endpoints.
    Media,
}

impl NodeRole {
    /// The role's name in the configuration and on `--role` (`all`, `signaling`, `media`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::All => "all",
            NodeRole::Signaling => "signaling",
            NodeRole::Media => "media",
        }
    }

    /// Runs the media loop (and so has rooms).
    pub fn runs_media(self) -> bool {
        matches!(self, NodeRole::All | NodeRole::Media)
    }

    /// Serves the pages, the REST API and the queue.
    pub fn runs_signaling(self) -> bool {
        matches!(self, NodeRole::All | NodeRole::Signaling)
    }
}

/// Settings of [`NodeAgent::new`].
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// What this process does.
    pub role: NodeRole,
    /// This node's id in the registry, unique per node (`node.id`, default the host name).
    pub node_id: String,
    /// Where browsers reach this node's HTTP/WebSocket endpoint.
    pub public_url: String,
    /// Calls this node takes at most.
    pub capacity: u32,
    /// How often the node writes its heartbeat; raised to at least 200 ms.
    pub heartbeat: StdDuration,
}

/// This process in the deployment; see the module docs.
pub struct NodeAgent {
    /// What this process does.
    pub role: NodeRole,
    /// This node's id in the registry.
    pub node_id: String,
    /// Where browsers reach this node's HTTP/WebSocket endpoint, without a trailing `/`.
    pub public_url: String,
    /// Calls this node takes at most.
    pub capacity: u32,
    /// How often the node writes its heartbeat (at least 200 ms).
    pub heartbeat: StdDuration,
    /// A node silent this long is taken out.
    pub dead_after: time::Duration,
    draining: AtomicBool,
    started_at: OffsetDateTime,
    metrics: NodeMetrics,
}

/// Per-node load in `/metrics`: the same numbers the placement uses.
#[derive(Clone)]
struct NodeMetrics {
    calls: IntGauge,
    capacity: IntGauge,
    draining: IntGauge,
    load_ratio: prometheus::Gauge,
}

impl NodeMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let g = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let load_ratio = prometheus::Gauge::new(
            "vidid_node_load_ratio",
            "Calls over capacity on this node (what call placement and autoscalers use)",
        )?;
        registry.register(Box::new(load_ratio.clone()))?;
        Ok(NodeMetrics {
            calls: g("vidid_node_calls", "Calls running on this node")?,
            capacity: g("vidid_node_capacity", "Calls this node takes at most")?,
            draining: g(
                "vidid_node_draining",
                "1 while the node finishes its calls before stopping",
            )?,
            load_ratio,
        })
    }
}

impl NodeAgent {
    /// This process in the deployment, its node metrics registered in `registry`; a node
    /// silent for three heartbeats counts as dead.
    pub fn new(s: NodeSettings, registry: &Registry) -> prometheus::Result<Arc<Self>> {
        let metrics = NodeMetrics::register(registry)?;
        metrics.capacity.set(i64::from(s.capacity));
        let heartbeat = s.heartbeat.max(StdDuration::from_millis(200));
        Ok(Arc::new(NodeAgent {
            role: s.role,
            node_id: s.node_id,
            public_url: s.public_url.trim_end_matches('/').to_string(),
            capacity: s.capacity,
            heartbeat,
            dead_after: time::Duration::try_from(heartbeat * 3)
                .unwrap_or(time::Duration::seconds(15)),
            draining: AtomicBool::new(false),
            started_at: OffsetDateTime::now_utc(),
            metrics,
        }))
    }

    /// Whether the node is draining: not ready, and no new calls are placed on it.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// From now on: not ready, no new calls placed here (told to the registry at the next
    /// heartbeat, which [`NodeAgent::heartbeat_now`] brings forward).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.metrics.draining.set(1);
    }

    fn set_load(&self, calls: u32) {
        self.metrics.calls.set(i64::from(calls));
        let ratio = if self.capacity == 0 {
            1.0
        } else {
            f64::from(calls) / f64::from(self.capacity)
        };
        self.metrics.load_ratio.set(ratio);
    }

    fn node_row(&self, calls: u32) -> MediaNode {
        MediaNode {
            id: self.node_id.clone(),
            public_url: self.public_url.clone(),
            capacity: self.capacity,
            calls,
            draining: self.is_draining(),
            started_at: self.started_at,
            heartbeat_at: OffsetDateTime::now_utc(),
        }
    }

    /// Updates the load metrics and, on a media node, writes this node's registry row now
    /// (also on drain, so signaling stops placing calls here at once).
    pub async fn heartbeat_now(&self, attempts: &Attempts) {
        let calls = match attempts.rooms() {
            Some(r) => r.running().await,
            None => 0,
        };
        self.set_load(calls);
        if self.role == NodeRole::Media
            && let Err(e) = attempts.cases().heartbeat_node(&self.node_row(calls)).await
        {
            warn!(error = %e, "media node heartbeat failed");
        }
    }

    /// A media node leaving cleanly takes its row out of the registry.
    pub async fn leave_registry(&self, attempts: &Attempts) {
        if self.role == NodeRole::Media
            && let Err(e) = attempts.cases().remove_node(&self.node_id).await
        {
            warn!(error = %e, "leaving the media node registry");
        }
    }
}

/// Every node: the load metrics, and a media node's registry row, every heartbeat.
pub fn spawn_heartbeat(node: Arc<NodeAgent>, attempts: Arc<Attempts>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(node.heartbeat);
        loop {
            tick.tick().await;
            node.heartbeat_now(&attempts).await;
        }
    })
}

/// A media node: opens a room for every call placed here that it does not have yet, with the
/// tokens signaling gave the browsers, and watches it.
pub fn spawn_assignment_poller(
    node: Arc<NodeAgent>,
    attempts: Arc<Attempts>,
    rooms: Arc<Rooms>,
    signer: Arc<TokenSigner>,
    grace: StdDuration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(StdDuration::from_millis(300));
        loop {
            tick.tick().await;
            open_assigned_rooms(&node, &attempts, &rooms, &signer, grace).await;
        }
    })
}

async fn open_assigned_rooms(
    node: &NodeAgent,
    attempts: &Arc<Attempts>,
    rooms: &Arc<Rooms>,
    signer: &TokenSigner,
    grace: StdDuration,
) {
    let cases = attempts.cases();
    let assigned = match cases.open_assignments(Some(&node.node_id)).await {
        Ok(a) => a,
        Err(e) => {
            warn!(error = %e, "reading this node's call assignments");
            return;
        }
    };
    for a in assigned {
        if rooms.get(&a.call_id).is_some() {
            continue;
        }
        if a.expires_at <= OffsetDateTime::now_utc() {
            let _ = cases.end_assignment(&a.call_id).await;
            continue;
        }
        let customer = signer.call_token(&a.call_id, Party::Customer, &node.node_id, a.expires_at);
        let agent = signer.call_token(&a.call_id, Party::Agent, &node.node_id, a.expires_at);
        if let Err(e) = rooms.open_with_tokens(&a.call_id, &customer, &agent, a.expires_at) {
            warn!(call_id = %a.call_id, error = %e, "opening an assigned call room");
            continue;
        }
        info!(call_id = %a.call_id, case_id = %a.case_id, "call room opened for an assignment");
        let (attempts, rooms) = (attempts.clone(), rooms.clone());
        tokio::spawn(async move {
            watch_call(
                attempts.clone(),
                rooms,
                a.case_id.clone(),
                a.call_id.clone(),
                grace,
            )
            .await;
            let _ = attempts.cases().end_assignment(&a.call_id).await;
        });
    }
}

/// A signaling node: calls on media nodes that stopped heartbeating are given up; their
/// customers go back to the head of the queue and are told so.
pub fn spawn_recovery(node: Arc<NodeAgent>, attempts: Arc<Attempts>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(node.heartbeat);
        loop {
            tick.tick().await;
            recover_failed_nodes(&node, &attempts).await;
        }
    })
}

async fn recover_failed_nodes(node: &NodeAgent, attempts: &Attempts) {
    let cases = attempts.cases();
    let (nodes, open) = match (
        cases.media_nodes().await,
        cases.open_assignments(None).await,
    ) {
        (Ok(n), Ok(a)) => (n, a),
        (Err(e), _) | (_, Err(e)) => {
            warn!(error = %e, "reading the media node registry");
            return;
        }
    };
    let now = OffsetDateTime::now_utc();
    for a in open {
        let alive = nodes
            .iter()
            .any(|n| n.id == a.node_id && n.alive(now, node.dead_after));
        if alive {
            continue;
        }
        // Claim the assignment first: only one signaling process recovers each call.
        match cases.end_assignment(&a.call_id).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                warn!(call_id = %a.call_id, error = %e, "ending a failed node's assignment");
                continue;
            }
        }
        let case = match cases.peek_case(&a.case_id).await {
            Ok(Some(c)) => c,
            _ => continue,
        };
        if !matches!(case.state, CaseState::InCall | CaseState::Checks)
            || call_id_of(&case) != a.call_id
        {
            continue;
        }
        let note = format!("media node {} stopped answering", a.node_id);
        match attempts.requeue(&a.case_id, &note).await {
            Ok(case) => {
                warn!(case_id = %case.id, call_id = %a.call_id, node = %a.node_id, "media node failed: customer back at the head of the queue")
            }
            Err(e) => warn!(case_id = %a.case_id, error = %e, "requeueing after a node failure"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_dead_after_three_silent_heartbeats_and_its_url_is_trimmed() {
        let n = NodeAgent::new(
            NodeSettings {
                role: NodeRole::Signaling,
                node_id: "s1".into(),
                public_url: "https://vidid.example/".into(),
                capacity: 10,
                heartbeat: StdDuration::from_secs(5),
            },
            &Registry::new(),
        )
        .unwrap();
        assert_eq!(n.public_url, "https://vidid.example");
        assert_eq!(n.dead_after, time::Duration::seconds(15));
        assert!(!n.is_draining());
        n.start_draining();
        assert!(n.is_draining());
    }
}
