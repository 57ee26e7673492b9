//! Where a taken case's call runs: the [`Placement`] seam.
//!
//! - [`LocalPlacement`] (`--role all`): the room opens in this process's media loop and is
//!   watched here; the browsers join this server.
//! - [`RegistryPlacement`] (`--role signaling`): the least-loaded healthy media node in the
//!   store's registry gets a call assignment; the join tokens are minted with the cluster
//!   secret ([`crate::tokens`]) and the browsers join that node, which opens the room when it
//!   sees the assignment ([`crate::node`]).
//!
//! This is one interface with a local and a distributed implementation (LiveKit's
//! `LocalRouter`/`RedisRouter` idea): the coordinator's `take` has no branch on the role.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tracing::info;
use vidid_cases::cluster::{CallAssignment, MediaNode, pick_node};
use vidid_cases::{Case, Cases};
use vidid_server::Party;

use crate::attempt::{Attempts, call_id_of};
use crate::rooms::Rooms;
use crate::tokens::TokenSigner;
use crate::watch::watch_call;
use crate::{ControlError, Result};

/// A call placed somewhere, with both parties' join tokens.
#[derive(Debug, Clone)]
pub struct PlacedCall {
    /// The call room of the attempt: `<case id>-<attempt>`.
    pub call_id: String,
    /// The customer's join token, pushed on their queue socket.
    pub customer_token: String,
    /// The agent's join token, in the `take` answer.
    pub agent_token: String,
    /// The media node's base URL (`<media_url>/ws`); `None`: this server.
    pub media_url: Option<String>,
}

/// Where calls run; see the module docs.
#[async_trait]
pub trait Placement: Send + Sync + 'static {
    /// Whether a call could be placed now (asked before a customer is taken, so nobody is
    /// taken out of the queue for a call that cannot run).
    async fn available(&self) -> bool;
    /// Opens the room of a taken case's current attempt.
    async fn place(&self, case: &Case) -> Result<PlacedCall>;
}

/// Calls in this process's media loop.
pub struct LocalPlacement {
    rooms: Arc<Rooms>,
    attempts: Arc<Attempts>,
    /// A participant absent this long aborts the attempt.
    grace: Duration,
}

impl LocalPlacement {
    /// Opens rooms in `rooms` and watches them, aborting an attempt through `attempts` when a
    /// participant stays away longer than `grace`.
    pub fn new(rooms: Arc<Rooms>, attempts: Arc<Attempts>, grace: Duration) -> Self {
        LocalPlacement {
            rooms,
            attempts,
            grace,
        }
    }
}

#[async_trait]
impl Placement for LocalPlacement {
    async fn available(&self) -> bool {
        true
    }

    async fn place(&self, case: &Case) -> Result<PlacedCall> {
        let call_id = call_id_of(case);
        let call = self.rooms.open_with_id(&call_id)?;
        tokio::spawn(watch_call(
            self.attempts.clone(),
            self.rooms.clone(),
            case.id.clone(),
            call_id.clone(),
            self.grace,
        ));
        Ok(PlacedCall {
            call_id,
            customer_token: call.customer_token,
            agent_token: call.agent_token,
            media_url: None,
        })
    }
}

/// Calls on media nodes, through the store's registry.
pub struct RegistryPlacement {
    cases: Arc<Cases>,
    signer: Arc<TokenSigner>,
    /// A node silent this long is not placed on.
    dead_after: time::Duration,
    /// How long the join tokens stay valid.
    ttl: time::Duration,
}

impl RegistryPlacement {
    /// Places on the nodes in `cases`' registry that were heard from within `dead_after`,
    /// with tokens from `signer` valid for `ttl`.
    pub fn new(
        cases: Arc<Cases>,
        signer: Arc<TokenSigner>,
        dead_after: time::Duration,
        ttl: time::Duration,
    ) -> Self {
        RegistryPlacement {
            cases,
            signer,
            dead_after,
            ttl,
        }
    }

    /// The registry, each node's load counting the calls placed on it that it may not have
    /// reported yet (a call counts from its placement, not from its first packet).
    async fn nodes_with_placements(&self) -> Result<Vec<MediaNode>> {
        let open = self.cases.open_assignments(None).await?;
        let mut nodes = self.cases.media_nodes().await?;
        for n in &mut nodes {
            let placed = open.iter().filter(|a| a.node_id == n.id).count();
            n.calls = n.calls.max(u32::try_from(placed).unwrap_or(u32::MAX));
        }
        Ok(nodes)
    }
}

#[async_trait]
impl Placement for RegistryPlacement {
    async fn available(&self) -> bool {
        match self.nodes_with_placements().await {
            Ok(nodes) => pick_node(&nodes, OffsetDateTime::now_utc(), self.dead_after).is_some(),
            Err(_) => false,
        }
    }

    async fn place(&self, case: &Case) -> Result<PlacedCall> {
        let nodes = self.nodes_with_placements().await?;
        let now = OffsetDateTime::now_utc();
        let node = pick_node(&nodes, now, self.dead_after)
            .cloned()
            .ok_or(ControlError::NoMediaNode)?;
        let call_id = call_id_of(case);
        let expires_at = now + self.ttl;
        self.cases
            .assign_call(&CallAssignment {
                call_id: call_id.clone(),
                case_id: case.id.clone(),
                node_id: node.id.clone(),
                created_at: now,
                expires_at,
                ended_at: None,
            })
            .await?;
        info!(case_id = %case.id, call_id = %call_id, node = %node.id, "call placed on a media node");
        Ok(PlacedCall {
            customer_token: self
                .signer
                .call_token(&call_id, Party::Customer, &node.id, expires_at),
            agent_token: self
                .signer
                .call_token(&call_id, Party::Agent, &node.id, expires_at),
            call_id,
            media_url: Some(node.public_url),
        })
    }
}
