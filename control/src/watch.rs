//! The watcher of one call room, on the node that relays it: ends the room when the case
//! leaves the call states, and gives up the attempt (`connection_lost`) when a participant
//! stays away longer than the grace period or the room ended before a decision.
//!
//! It polls the case every [`POLL`]; a store event per case would scale better past a few
//! hundred calls per node.

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;
use vidid_cases::CaseState;

use crate::attempt::Attempts;
use crate::calls::{CallState, SeatState};
use crate::rooms::Rooms;

/// How often the case and the room are looked at.
pub const POLL: Duration = Duration::from_millis(500);

/// Watches `call_id` of `case_id` until the attempt is over; see the module docs.
pub async fn watch_call(
    attempts: Arc<Attempts>,
    rooms: Arc<Rooms>,
    case_id: String,
    call_id: String,
    grace: Duration,
) {
    let start = tokio::time::Instant::now();
    let mut absent_since = [Some(start), Some(start)];
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        let case = match attempts.cases().peek_case(&case_id).await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                warn!(case_id, error = %e, "call watch: reading the case");
                continue;
            }
        };
        if !matches!(case.state, CaseState::InCall | CaseState::Checks) {
            rooms
                .end_quietly(&call_id, "the identification ended")
                .await;
            break;
        }
        let Some(view) = rooms.get(&call_id) else {
            break;
        };
        if view.state == CallState::Ended {
            // Ended through the call protocol (`end_call`) while the case was still open.
            attempts
                .abort(&case_id, "the call ended before a decision")
                .await;
            break;
        }
        let now = tokio::time::Instant::now();
        let seats = [view.participants.customer, view.participants.agent];
        let mut lost = None;
        for (i, seat) in seats.iter().enumerate() {
            if *seat == SeatState::Absent {
                let since = *absent_since[i].get_or_insert(now);
                if now.duration_since(since) > grace {
                    lost = Some(if i == 0 { "customer" } else { "agent" });
                }
            } else {
                absent_since[i] = None;
            }
        }
        if let Some(who) = lost {
            attempts
                .abort(
                    &case_id,
                    &format!("the {who} was away longer than the grace period"),
                )
                .await;
            break;
        }
    }
    attempts.hub().clear(&case_id);
}
