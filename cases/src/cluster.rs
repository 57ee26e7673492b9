//! Several vidid processes on one PostgreSQL store (issue 7): the media nodes' registry, which
//! call runs on which node, and a small message bus between the processes.
//!
//! - Media nodes write a [`MediaNode`] row every `node.heartbeat_secs` (public URL, capacity,
//!   calls, draining). A node whose heartbeat is older than the dead-after interval is not
//!   healthy: nothing new is assigned to it, and its open calls are given up (the customer
//!   goes back to the head of the queue).
//! - Signaling assigns each call to the least-loaded healthy node that is not draining
//!   ([`pick_node`]) and records a [`CallAssignment`]; the node picks its assignments up from
//!   the store and opens the call rooms.
//! - [`BusMsg`]s carry what one process must tell the others (a push to a customer's queue
//!   socket): `NOTIFY` on PostgreSQL, an in-process channel on SQLite.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// A media node as registered in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaNode {
    pub id: String,
    /// Where browsers reach the node's HTTP/WebSocket endpoint.
    pub public_url: String,
    /// Calls the node takes at most.
    pub capacity: u32,
    /// Calls running now.
    pub calls: u32,
    /// Finishing its calls before it stops: takes no new ones.
    pub draining: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub heartbeat_at: OffsetDateTime,
}

impl MediaNode {
    /// Calls over capacity, 0 to 1 (and above when over).
    pub fn load_ratio(&self) -> f64 {
        if self.capacity == 0 {
            1.0
        } else {
            f64::from(self.calls) / f64::from(self.capacity)
        }
    }

    /// Heard from within `dead_after`.
    pub fn alive(&self, now: OffsetDateTime, dead_after: Duration) -> bool {
        now - self.heartbeat_at <= dead_after
    }

    /// Alive, not draining, below capacity.
    pub fn accepts_calls(&self, now: OffsetDateTime, dead_after: Duration) -> bool {
        self.alive(now, dead_after) && !self.draining && self.calls < self.capacity
    }
}

/// The least-loaded node that accepts calls (ties: fewer calls, then id).
pub fn pick_node(
    nodes: &[MediaNode],
    now: OffsetDateTime,
    dead_after: Duration,
) -> Option<&MediaNode> {
    nodes
        .iter()
        .filter(|n| n.accepts_calls(now, dead_after))
        .min_by(|a, b| {
            a.load_ratio()
                .total_cmp(&b.load_ratio())
                .then(a.calls.cmp(&b.calls))
                .then(a.id.cmp(&b.id))
        })
}

/// A call room placed on a media node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallAssignment {
    pub call_id: String,
    pub case_id: String,
    pub node_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The join tokens' expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
}

/// A message between vidid processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusMsg {
    pub topic: String,
    pub payload: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn node(id: &str, calls: u32, capacity: u32, draining: bool, age_secs: i64) -> MediaNode {
        let now = datetime!(2026-01-15 11:00 UTC);
        MediaNode {
            id: id.into(),
            public_url: format!("https://{id}.example"),
            capacity,
            calls,
            draining,
            started_at: now - Duration::hours(1),
            heartbeat_at: now - Duration::seconds(age_secs),
        }
    }

    #[test]
    fn the_least_loaded_healthy_node_gets_the_call() {
        let now = datetime!(2026-01-15 11:00 UTC);
        let dead = Duration::seconds(15);
        let nodes = [
            node("a", 5, 10, false, 1),
            node("b", 30, 100, false, 1),
            node("c", 0, 10, true, 1),
            node("d", 0, 10, false, 60),
            node("e", 10, 10, false, 1),
        ];
        assert_eq!(
            pick_node(&nodes, now, dead).map(|n| n.id.as_str()),
            Some("b")
        );
        assert_eq!(
            pick_node(&nodes[2..], now, dead),
            None,
            "draining, dead, full"
        );
        let tie = [node("y", 1, 10, false, 1), node("x", 1, 10, false, 1)];
        assert_eq!(pick_node(&tie, now, dead).map(|n| n.id.as_str()), Some("x"));
    }
}
