//! The queue as data: FIFO places, agent availability and wait estimates.
//!
//! A place is a row ordered by a store-assigned sequence number; a customer's **position** is
//! one plus the number of places ahead of theirs. A customer whose connection drops keeps the
//! place for [`QueueConfig::rejoin_grace_secs`] and can reclaim it with the rejoin token issued
//! at joining; a disconnected customer is never handed to an agent (agents take the first
//! *connected* customer), and is dropped when the grace period is over. Places older than
//! [`QueueConfig::max_wait_secs`] are dropped too ([`crate::Cases::sweep`]).
//!
//! Taking the next customer is one store transaction that claims the first connected place
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: a write transaction), so no two agents, in
//! one process or several, get the same customer.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::CasesError;

/// The `queue` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Customers waiting at most; joining beyond is refused.
    pub max_length: u32,
    /// Longest wait: joining is refused when the estimate exceeds it, and places older than it
    /// are dropped.
    pub max_wait_secs: u64,
    /// How long a disconnected customer keeps the place.
    pub rejoin_grace_secs: u64,
    /// Handling time assumed while there are no recent calls.
    pub default_handling_secs: u64,
    /// How many recent calls the handling-time average uses.
    pub handling_sample: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_length: 50,
            max_wait_secs: 3600,
            rejoin_grace_secs: 120,
            default_handling_secs: 420,
            handling_sample: 20,
        }
    }
}

impl QueueConfig {
    pub(crate) fn validate(&self) -> Result<(), CasesError> {
        let bad = |key, reason: &str| {
            Err(CasesError::Config {
                key,
                reason: reason.into(),
            })
        };
        if !(1..=10_000).contains(&self.max_length) {
            return bad("queue.max_length", "must be between 1 and 10000");
        }
        if !(60..=86_400).contains(&self.max_wait_secs) {
            return bad("queue.max_wait_secs", "must be between 60 and 86400");
        }
        if !(5..=3600).contains(&self.rejoin_grace_secs) {
            return bad("queue.rejoin_grace_secs", "must be between 5 and 3600");
        }
        if !(10..=7200).contains(&self.default_handling_secs) {
            return bad("queue.default_handling_secs", "must be between 10 and 7200");
        }
        if !(1..=1000).contains(&self.handling_sample) {
            return bad("queue.handling_sample", "must be between 1 and 1000");
        }
        Ok(())
    }

    pub fn max_wait(&self) -> Duration {
        Duration::seconds(self.max_wait_secs as i64)
    }

    pub fn grace(&self) -> Duration {
        Duration::seconds(self.rejoin_grace_secs as i64)
    }
}

/// A place in the queue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub case_id: String,
    /// Store-assigned, increasing; orders the queue.
    pub seq: i64,
    pub joined_at: OffsetDateTime,
    /// Set while the customer is disconnected (the place is kept for the grace period).
    pub disconnected_at: Option<OffsetDateTime>,
    pub(crate) rejoin_hash: String,
}

/// A place as shown to the customer or an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuePlace {
    pub case_id: String,
    /// 1 = next.
    pub position: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    pub connected: bool,
    /// `None` while no agent is on duty.
    pub estimated_wait_secs: Option<u64>,
}

/// What a customer gets on joining: the rejoin token exists only here.
#[derive(Debug, Clone)]
pub struct QueueTicket {
    pub place: QueuePlace,
    pub rejoin_token: String,
}

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Available,
    Paused,
    InCall,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Available => "available",
            AgentStatus::Paused => "paused",
            AgentStatus::InCall => "in_call",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<AgentStatus> {
        Some(match s {
            "available" => AgentStatus::Available,
            "paused" => AgentStatus::Paused,
            "in_call" => AgentStatus::InCall,
            _ => return None,
        })
    }
}

/// An agent's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentState {
    pub user_id: String,
    pub status: AgentStatus,
    /// The case of the current call.
    pub case_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// Something changed in the queue; listeners re-read positions and estimates
/// ([`crate::Cases::queue`], [`crate::Cases::queue_place`]). A receiver that lags behind
/// (`RecvError::Lagged`) has missed events and should simply re-read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEvent {
    /// `joined`, `left` (left, dropped or cancelled), `taken`, `disconnected`, `rejoined`, or
    /// `agent` (an agent's availability changed; `case_id` is then the call's case or empty).
    pub kind: String,
    pub case_id: String,
}

/// The estimated wait of the customer at `position` (1-based).
///
/// `free` agents take the first `free` customers at once; beyond that every `on_duty` agents
/// (available or in a call; paused ones do not count) handle one round of customers per
/// average handling time. `None` when nobody is on duty.
pub fn estimate_wait(
    position: u32,
    free: u32,
    on_duty: u32,
    average: Duration,
) -> Option<Duration> {
    if on_duty == 0 {
        return None;
    }
    let ahead = position.saturating_sub(1);
    if ahead < free {
        return Some(Duration::ZERO);
    }
    let rounds = (ahead - free) / on_duty + 1;
    Some(average * rounds as i32)
}

/// The mean of recent handling times, or `default` without any.
pub fn average_handling(recent: &[Duration], default: Duration) -> Duration {
    if recent.is_empty() {
        return default;
    }
    let total: Duration = recent.iter().copied().sum();
    total / recent.len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates() {
        let avg = Duration::minutes(6);
        assert_eq!(estimate_wait(1, 0, 0, avg), None, "nobody on duty");
        assert_eq!(estimate_wait(1, 1, 1, avg), Some(Duration::ZERO));
        assert_eq!(estimate_wait(2, 1, 1, avg), Some(avg));
        assert_eq!(estimate_wait(1, 0, 1, avg), Some(avg));
        assert_eq!(estimate_wait(5, 0, 2, avg), Some(avg * 3));
        assert_eq!(estimate_wait(3, 2, 3, avg), Some(avg));
        assert_eq!(
            average_handling(&[Duration::minutes(4), Duration::minutes(8)], avg),
            Duration::minutes(6)
        );
        assert_eq!(average_handling(&[], avg), avg);
    }

    #[test]
    fn config_validation() {
        assert!(QueueConfig::default().validate().is_ok());
        let c = QueueConfig {
            max_length: 0,
            ..QueueConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(CasesError::Config {
                key: "queue.max_length",
                ..
            })
        ));
    }
}
