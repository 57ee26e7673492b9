//! What a transition asks the store to write besides the case, in the same transaction.

use time::OffsetDateTime;

use crate::audit::AuditEvent;

/// A change to the case's place in the queue, applied with the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOp {
    /// Append at the end; the store refuses with [`CasesError::QueueFull`] at `max_length`.
    Join {
        rejoin_hash: String,
        max_length: u32,
    },
    Remove,
    /// Keep the place, mark the customer disconnected since `at`.
    Disconnect {
        at: OffsetDateTime,
    },
    Reconnect,
    /// Put back at the head of the queue (the call's media node failed).
    JoinFront {
        rejoin_hash: String,
    },
}

/// What a transition asks the store to do besides saving the case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Appended to the case's trail, in order, with the acting actor and time.
    pub audit: Vec<AuditEvent>,
    pub queue: Option<QueueOp>,
    /// An agent whose call ended becomes available again.
    pub agent_freed: Option<String>,
    /// A handling time to remember for wait estimates: (agent, call start).
    pub handled: Option<(String, OffsetDateTime)>,
    /// Queue a webhook delivery for the case's new state.
    pub webhook: bool,
    /// Skip saving: the transition changed nothing (an idempotent repeat).
    pub unchanged: bool,
}
