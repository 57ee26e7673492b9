//! What the control plane asks of the domain beyond the actors' actions: reads without an
//! actor (the call watcher, the node recovery, the queue sockets), the webhook outbox, the
//! media node registry, the bus between processes, and the figures behind the metrics.
//!
//! These are the only doors to the store from outside this crate; each names what it is for.

use std::collections::{HashMap, HashSet};

use time::Duration;
use tokio::sync::broadcast;

use crate::CasesError;
use crate::audit::AuditEvent;
use crate::case::Case;
use crate::cluster::{BusMsg, CallAssignment, MediaNode};
use crate::queue::QueueEvent;
use crate::service::Cases;
use crate::users::User;
use crate::webhook::{MAX_ATTEMPTS, WebhookDelivery, backoff};

impl Cases {
    /// A case as the system sees it, without an actor and without an audit entry: for the
    /// call watcher (has the attempt ended?), the failed-node recovery and the queue sockets.
    /// Never hand what it returns to a person.
    pub async fn peek_case(&self, case_id: &str) -> Result<Option<Case>, CasesError> {
        self.store().case(case_id).await
    }

    /// Usernames of staff ids (unknown ids are left out): one read of the staff table however
    /// many ids are asked for.
    pub async fn staff_names(
        &self,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<HashMap<String, String>, CasesError> {
        let wanted: HashSet<String> = ids.into_iter().collect();
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .store()
            .users()
            .await?
            .into_iter()
            .filter(|u| wanted.contains(&u.id))
            .map(|u| (u.id, u.username))
            .collect())
    }

    /// Every staff user (the operator's `vidid user list`).
    pub async fn users(&self) -> Result<Vec<User>, CasesError> {
        self.store().users().await
    }

    // ─── webhook outbox ──────────────────────────────────────────────────────────────────

    /// Claims up to `limit` due deliveries for `lease` (each claim counts as an attempt).
    pub async fn claim_webhooks(
        &self,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, CasesError> {
        self.store().claim_webhooks(self.now(), lease, limit).await
    }

    /// The receiver took the delivery.
    pub async fn webhook_delivered(&self, id: &str) -> Result<(), CasesError> {
        self.store().webhook_delivered(id, self.now()).await
    }

    /// The attempt failed: tried again after [`backoff`], or given up after
    /// [`MAX_ATTEMPTS`]. Returns whether it was given up.
    pub async fn webhook_failed(
        &self,
        delivery: &WebhookDelivery,
        error: &str,
    ) -> Result<bool, CasesError> {
        let next =
            (delivery.attempts < MAX_ATTEMPTS).then(|| self.now() + backoff(delivery.attempts));
        self.store()
            .webhook_failed(&delivery.id, error, next)
            .await?;
        Ok(next.is_none())
    }

    // ─── media node registry ─────────────────────────────────────────────────────────────

    /// Registers or refreshes a media node's row.
    pub async fn heartbeat_node(&self, node: &MediaNode) -> Result<(), CasesError> {
        self.store().heartbeat_node(node).await
    }

    /// A media node left cleanly.
    pub async fn remove_node(&self, id: &str) -> Result<(), CasesError> {
        self.store().remove_node(id).await
    }

    /// Every registered media node.
    pub async fn media_nodes(&self) -> Result<Vec<MediaNode>, CasesError> {
        self.store().media_nodes().await
    }

    /// Records that a call runs on a node.
    pub async fn assign_call(&self, a: &CallAssignment) -> Result<(), CasesError> {
        self.store().assign_call(a).await
    }

    /// Assignments not yet ended, of one node (`Some`) or of every node (`None`).
    pub async fn open_assignments(
        &self,
        node_id: Option<&str>,
    ) -> Result<Vec<CallAssignment>, CasesError> {
        self.store().open_assignments(node_id).await
    }

    /// Ends an assignment; false if it already was (so only one process acts on it).
    pub async fn end_assignment(&self, call_id: &str) -> Result<bool, CasesError> {
        self.store().end_assignment(call_id, self.now()).await
    }

    // ─── bus and events ──────────────────────────────────────────────────────────────────

    /// Sends a message to every process on this store (this one included).
    pub async fn publish(&self, msg: &BusMsg) -> Result<(), CasesError> {
        self.store().publish(msg).await
    }

    /// Messages from every process on this store.
    pub fn bus(&self) -> broadcast::Receiver<BusMsg> {
        self.store().bus()
    }

    /// Queue changes, from this process and (PostgreSQL) every other one.
    pub fn queue_events(&self) -> broadcast::Receiver<QueueEvent> {
        self.store().queue_events()
    }

    // ─── figures for the metrics ─────────────────────────────────────────────────────────

    /// How many customers wait (connected or within the rejoin grace).
    pub async fn queue_length(&self) -> Result<u32, CasesError> {
        self.store().queue_len().await
    }

    /// How long a taken case waited: from its last `queue_joined` before the call started to
    /// the start (read from its trail: the queue place is gone by then).
    pub async fn queue_wait(&self, case: &Case) -> Result<Option<std::time::Duration>, CasesError> {
        let taken_at = case.call_started_at.unwrap_or_else(|| self.now());
        let trail = self.store().audit(&case.id).await?;
        let joined = trail
            .iter()
            .rev()
            .filter(|e| e.at <= taken_at)
            .find(|e| matches!(e.event(), Ok(AuditEvent::QueueJoined)));
        Ok(joined.map(|j| (taken_at - j.at).unsigned_abs()))
    }
}
