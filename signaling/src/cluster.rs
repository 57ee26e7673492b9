//! Scale-out: node roles, media node registration and heartbeat, call placement, signed join
//! tokens, failed-node recovery and drain (issue 7; `vidid_cases::cluster` holds the store side).
//!
//! ```text
//!  signaling (role signaling)                 store (PostgreSQL)            media node (role media)
//!  POST /agent/take ── pick_node ──────────▶ call_assignments ◀── poll ── opens the room with the
//!    tokens = HMAC(cluster secret,                                       same tokens, watches it,
//!             call, party, node, expiry)    media_nodes ◀──── heartbeat  records to the vault
//!    customer: call_ready {media_url} ─ bus ─▶ queue socket (any signaling process)
//!  sweeper: node silent > dead_after ──▶ requeue the customer at the head, end the assignment
//! ```
//!
//! A join token is an HMAC over the call, the party, the node and the expiry: only the node the
//! call was placed on registers it, so a browser sent to one node cannot use its token on
//! another, and a node cannot mint tokens without the cluster secret. In the embedded one-machine
//! mode (role `all`) rooms are opened directly by `take` and nothing here runs but the drain
//! flag and the node metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use base64::Engine as _;
use prometheus::{IntGauge, Registry};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::{info, warn};
use vidid_cases::cluster::{CallAssignment, MediaNode, pick_node};
use vidid_cases::{Case, CaseState};
use vidid_recorder::Party;

use crate::AppState;
use crate::cases_api::CasesCtx;
use crate::hub::CustomerMsg;

/// What a `vidid serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Everything in one process (the embedded default).
    #[default]
    All,
    /// Pages, REST, the queue; calls go to media nodes.
    Signaling,
    /// Call rooms, media relay and recording for the calls placed on it.
    Media,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::All => "all",
            NodeRole::Signaling => "signaling",
            NodeRole::Media => "media",
        }
    }
}

/// This process's place in the cluster.
pub struct Cluster {
    pub role: NodeRole,
    pub node_id: String,
    /// Where browsers reach this node's HTTP/WebSocket endpoint.
    pub public_url: String,
    pub capacity: u32,
    pub heartbeat: StdDuration,
    /// A node silent this long is taken out.
    pub dead_after: time::Duration,
    secret: ring::hmac::Key,
    draining: AtomicBool,
    started_at: OffsetDateTime,
    metrics: NodeMetrics,
}

/// Per-node load in `/metrics`: the same numbers the assignment uses.
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

/// Settings of [`Cluster::new`].
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub role: NodeRole,
    pub node_id: String,
    pub public_url: String,
    pub capacity: u32,
    pub heartbeat: StdDuration,
    /// The shared secret that signs join tokens (the same on every node).
    pub secret: Vec<u8>,
}

/// The join tokens of one placed call.
#[derive(Debug, Clone)]
pub struct Placement {
    pub call_id: String,
    pub node: MediaNode,
    pub customer_token: String,
    pub agent_token: String,
    pub expires_at: OffsetDateTime,
}

impl Cluster {
    pub fn new(s: ClusterSettings, registry: &Registry) -> prometheus::Result<Arc<Self>> {
        let metrics = NodeMetrics::register(registry)?;
        metrics.capacity.set(i64::from(s.capacity));
        let heartbeat = s.heartbeat.max(StdDuration::from_millis(200));
        Ok(Arc::new(Cluster {
            role: s.role,
            node_id: s.node_id,
            public_url: s.public_url.trim_end_matches('/').to_string(),
            capacity: s.capacity,
            heartbeat,
            dead_after: time::Duration::try_from(heartbeat * 3)
                .unwrap_or(time::Duration::seconds(15)),
            secret: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &s.secret),
            draining: AtomicBool::new(false),
            started_at: OffsetDateTime::now_utc(),
            metrics,
        }))
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// From now on: not ready, no new calls placed here (told to the registry at the next
    /// heartbeat, which [`Cluster::heartbeat_now`] brings forward).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.metrics.draining.set(1);
    }

    /// The join token of `party` for a call placed on `node_id` (see the module docs).
    pub fn call_token(
        &self,
        call_id: &str,
        party: Party,
        node_id: &str,
        expires_at: OffsetDateTime,
    ) -> String {
        let msg = format!(
            "vidid-call-token-v1\0{call_id}\0{}\0{node_id}\0{}",
            party.as_str(),
            expires_at.unix_timestamp()
        );
        let tag = ring::hmac::sign(&self.secret, msg.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
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

    /// Writes this media node's row now (also on drain, so signaling stops placing calls here
    /// at once).
    pub async fn heartbeat_now(&self, state: &AppState, ctx: &CasesCtx) {
        let calls = local_calls(state).await;
        self.set_load(calls);
        if self.role == NodeRole::Media
            && let Err(e) = ctx
                .cases
                .store()
                .heartbeat_node(&self.node_row(calls))
                .await
        {
            warn!(error = %e, "media node heartbeat failed");
        }
    }

    /// The registry, each node's load counting the calls placed on it that it may not have
    /// reported yet (a call counts from its placement, not from its first packet).
    async fn nodes_with_placements(
        &self,
        ctx: &CasesCtx,
    ) -> Result<Vec<MediaNode>, vidid_cases::CasesError> {
        let store = ctx.cases.store();
        let open = store.open_assignments(None).await?;
        let mut nodes = store.media_nodes().await?;
        for n in &mut nodes {
            let placed = open.iter().filter(|a| a.node_id == n.id).count();
            n.calls = n.calls.max(u32::try_from(placed).unwrap_or(u32::MAX));
        }
        Ok(nodes)
    }

    /// Whether some media node accepts calls now (checked before a customer is taken).
    pub async fn media_available(&self, ctx: &CasesCtx) -> bool {
        match self.nodes_with_placements(ctx).await {
            Ok(nodes) => pick_node(&nodes, OffsetDateTime::now_utc(), self.dead_after).is_some(),
            Err(_) => false,
        }
    }

    /// Places a taken case's call on the least-loaded healthy media node.
    pub async fn place(
        &self,
        ctx: &CasesCtx,
        case: &Case,
        ttl: time::Duration,
    ) -> Result<Placement, PlaceError> {
        let store = ctx.cases.store();
        let nodes = self
            .nodes_with_placements(ctx)
            .await
            .map_err(PlaceError::Store)?;
        let now = OffsetDateTime::now_utc();
        let node = pick_node(&nodes, now, self.dead_after)
            .cloned()
            .ok_or(PlaceError::NoNode)?;
        let call_id = crate::cases_api::call_id_of(case);
        let expires_at = now + ttl;
        store
            .assign_call(&CallAssignment {
                call_id: call_id.clone(),
                case_id: case.id.clone(),
                node_id: node.id.clone(),
                created_at: now,
                expires_at,
                ended_at: None,
            })
            .await
            .map_err(PlaceError::Store)?;
        info!(case_id = %case.id, call_id = %call_id, node = %node.id, "call placed on a media node");
        Ok(Placement {
            customer_token: self.call_token(&call_id, Party::Customer, &node.id, expires_at),
            agent_token: self.call_token(&call_id, Party::Agent, &node.id, expires_at),
            call_id,
            node,
            expires_at,
        })
    }
}

/// Why a call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("no media node is available")]
    NoNode,
    #[error("the store failed: {0}")]
    Store(vidid_cases::CasesError),
}

async fn local_calls(state: &AppState) -> u32 {
    match state.media.load().await {
        Ok(l) => u32::try_from(l.calls).unwrap_or(u32::MAX),
        Err(_) => 0,
    }
}

/// Starts what this role runs in the background: the media node's heartbeat and assignment
/// poller; the signaling side's failed-node sweeper; node metrics everywhere.
pub fn spawn(
    cluster: Arc<Cluster>,
    state: Arc<AppState>,
    ctx: Arc<CasesCtx>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let c = cluster.clone();
    let (s, x) = (state.clone(), ctx.clone());
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(c.heartbeat);
        loop {
            tick.tick().await;
            c.heartbeat_now(&s, &x).await;
        }
    }));
    if cluster.role == NodeRole::Media {
        let c = cluster.clone();
        let (s, x) = (state.clone(), ctx.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(StdDuration::from_millis(300));
            loop {
                tick.tick().await;
                open_assigned_rooms(&c, &s, &x).await;
            }
        }));
    }
    if cluster.role == NodeRole::Signaling {
        let c = cluster.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(c.heartbeat);
            loop {
                tick.tick().await;
                recover_failed_nodes(&c, &ctx).await;
            }
        }));
    }
    tasks
}

/// Media node: opens a room for every call placed here that it does not have yet, with the
/// tokens signaling gave the browsers, and watches it.
async fn open_assigned_rooms(cluster: &Cluster, state: &Arc<AppState>, ctx: &Arc<CasesCtx>) {
    let assigned = match ctx
        .cases
        .store()
        .open_assignments(Some(&cluster.node_id))
        .await
    {
        Ok(a) => a,
        Err(e) => {
            warn!(error = %e, "reading this node's call assignments");
            return;
        }
    };
    for a in assigned {
        if state.calls.get(&a.call_id).is_some() {
            continue;
        }
        let now = OffsetDateTime::now_utc();
        if a.expires_at <= now {
            let _ = ctx.cases.store().end_assignment(&a.call_id, now).await;
            continue;
        }
        let customer =
            cluster.call_token(&a.call_id, Party::Customer, &cluster.node_id, a.expires_at);
        let agent = cluster.call_token(&a.call_id, Party::Agent, &cluster.node_id, a.expires_at);
        if let Err(e) =
            state
                .calls
                .create_with_tokens(&a.call_id, &customer, &agent, now, a.expires_at)
        {
            warn!(call_id = %a.call_id, error = %e, "opening an assigned call room");
            continue;
        }
        info!(call_id = %a.call_id, case_id = %a.case_id, "call room opened for an assignment");
        let (state, ctx) = (state.clone(), ctx.clone());
        tokio::spawn(async move {
            crate::cases_api::watch_call(state, ctx.clone(), a.case_id.clone(), a.call_id.clone())
                .await;
            let _ = ctx
                .cases
                .store()
                .end_assignment(&a.call_id, OffsetDateTime::now_utc())
                .await;
        });
    }
}

/// Signaling: calls on media nodes that stopped heartbeating are given up; their customers go
/// back to the head of the queue and are told so.
async fn recover_failed_nodes(cluster: &Cluster, ctx: &CasesCtx) {
    let store = ctx.cases.store();
    let (nodes, open) = match (
        store.media_nodes().await,
        store.open_assignments(None).await,
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
            .any(|n| n.id == a.node_id && n.alive(now, cluster.dead_after));
        if alive {
            continue;
        }
        // Claim the assignment first: only one signaling process recovers each call.
        match store.end_assignment(&a.call_id, now).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                warn!(call_id = %a.call_id, error = %e, "ending a failed node's assignment");
                continue;
            }
        }
        let case = match store.case(&a.case_id).await {
            Ok(Some(c)) => c,
            _ => continue,
        };
        if !matches!(case.state, CaseState::InCall | CaseState::Checks)
            || crate::cases_api::call_id_of(&case) != a.call_id
        {
            continue;
        }
        let note = format!("media node {} stopped answering", a.node_id);
        match ctx
            .cases
            .requeue_after_node_failure(&a.case_id, &note)
            .await
        {
            Ok(case) => {
                warn!(case_id = %case.id, call_id = %a.call_id, node = %a.node_id, "media node failed: customer back at the head of the queue");
                ctx.hub.clear(&case.id);
                let message = match case.customer.language {
                    vidid_cases::Lang::Sl => {
                        "Povezava z video strežnikom je bila prekinjena. Ostajate na začetku čakalne vrste; svetovalec se vam bo kmalu pridružil."
                    }
                    vidid_cases::Lang::En => {
                        "The connection to the video server was lost. You keep your place at the head of the queue; an agent will be with you shortly."
                    }
                };
                ctx.hub.push(
                    &case.id,
                    CustomerMsg::Requeued {
                        message: message.into(),
                    },
                );
            }
            Err(e) => warn!(case_id = %a.case_id, error = %e, "requeueing after a node failure"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(secret: &[u8]) -> Arc<Cluster> {
        Cluster::new(
            ClusterSettings {
                role: NodeRole::Signaling,
                node_id: "s1".into(),
                public_url: "https://vidid.example/".into(),
                capacity: 10,
                heartbeat: StdDuration::from_secs(5),
                secret: secret.to_vec(),
            },
            &Registry::new(),
        )
        .unwrap()
    }

    #[test]
    fn tokens_bind_call_party_node_and_expiry() {
        let c = cluster(b"0123456789abcdef0123456789abcdef");
        let t = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        let a = c.call_token("cs_1-1", Party::Customer, "m1", t);
        assert_eq!(a, c.call_token("cs_1-1", Party::Customer, "m1", t));
        assert_eq!(a.len(), 43);
        for other in [
            c.call_token("cs_1-2", Party::Customer, "m1", t),
            c.call_token("cs_1-1", Party::Agent, "m1", t),
            c.call_token("cs_1-1", Party::Customer, "m2", t),
            c.call_token(
                "cs_1-1",
                Party::Customer,
                "m1",
                t + time::Duration::seconds(1),
            ),
            cluster(b"another secret, another cluster!").call_token(
                "cs_1-1",
                Party::Customer,
                "m1",
                t,
            ),
        ] {
            assert_ne!(a, other);
        }
        assert_eq!(c.public_url, "https://vidid.example");
        assert_eq!(c.dead_after, time::Duration::seconds(15));
    }
}
