//! The webhook outbox: deliveries to the ordering system, queued in the same transaction as the
//! state change they report, sent elsewhere (the HTTP sender signs and posts them).
//!
//! A delivery has a stable id (`wh_…`, the receiver's idempotency key), a JSON payload fixed at
//! creation, an attempt counter and the time of the next attempt. The sender claims due
//! deliveries with a lease ([`crate::store::Store::claim_webhooks`]; across processes on
//! PostgreSQL with `SKIP LOCKED`), then reports [`crate::store::Store::webhook_delivered`] or
//! [`crate::store::Store::webhook_failed`] with the next time from [`backoff`].

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::audit::format_time;
use crate::case::Case;
use crate::vocabulary::CaseState;

/// One delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookDelivery {
    pub id: String,
    pub case_id: String,
    /// `case.approved`, `case.rejected`, `case.aborted`, `case.expired`, `case.cancelled`.
    pub event: String,
    pub url: String,
    /// The JSON body to post.
    pub payload: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Attempts made so far.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// Delay before attempt `attempts + 1`: 30 s doubling per attempt, at most 1 hour.
pub fn backoff(attempts: u32) -> Duration {
    let secs = 30u64.saturating_mul(1u64 << attempts.min(16));
    Duration::seconds(secs.min(3600) as i64)
}

/// Give up after this many attempts (about a day with [`backoff`]).
pub const MAX_ATTEMPTS: u32 = 30;

/// The delivery for `case`'s current state, if the case has a callback URL.
pub(crate) fn for_case(case: &Case, id: String, now: OffsetDateTime) -> Option<WebhookDelivery> {
    let url = case.callback_url.clone()?;
    let event = format!("case.{}", case.state.as_str());
    let payload = serde_json::json!({
        "id": id,
        "event": event,
        "case_id": case.id,
        "contract_ref": case.contract_ref,
        "state": case.state,
        "reason": case.reason,
        "esign_url": if case.state == CaseState::Approved { case.esign_url.clone() } else { None },
        "at": format_time(now),
    })
    .to_string();
    Some(WebhookDelivery {
        id,
        case_id: case.id.clone(),
        event,
        url,
        payload,
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        delivered_at: None,
        last_error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::seconds(30));
        assert_eq!(backoff(1), Duration::seconds(60));
        assert_eq!(backoff(6), Duration::seconds(1920));
        assert_eq!(backoff(7), Duration::hours(1));
        assert_eq!(backoff(40), Duration::hours(1));
    }
}
