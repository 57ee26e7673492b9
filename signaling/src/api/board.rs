//! Supervisors' live board: hours, the queue (no identity data), agents, running calls.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use time::OffsetDateTime;
use vidid_cases::{AgentStatus, CaseState, CasesError, Role};
use vidid_control::call_id_of;

use crate::AppState;
use crate::api::ApiResult;
use crate::api::extract::Staff;
use crate::api::views::{HoursView, rfc3339};

/// `GET /api/v1/board`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/board", get(board))
}

#[derive(Serialize)]
struct Board {
    at: String,
    hours: HoursView,
    queue: BoardQueue,
    agents: Vec<BoardAgent>,
    calls: Vec<BoardCall>,
}

#[derive(Serialize)]
struct BoardQueue {
    length: usize,
    connected: usize,
    longest_wait_secs: i64,
    estimated_wait_secs: Option<u64>,
    places: Vec<BoardPlace>,
}

#[derive(Serialize)]
struct BoardPlace {
    case_id: String,
    position: u32,
    waiting_secs: i64,
    connected: bool,
}

#[derive(Serialize)]
struct BoardAgent {
    user_id: String,
    username: Option<String>,
    status: AgentStatus,
    since: String,
    case_id: Option<String>,
}

#[derive(Serialize)]
struct BoardCall {
    case_id: String,
    call_id: String,
    agent: Option<String>,
    state: CaseState,
    since: Option<String>,
}

fn secs_since(now: OffsetDateTime, t: OffsetDateTime) -> i64 {
    (now - t).whole_seconds().max(0)
}

/// `GET /api/v1/board` (supervisors, admins).
async fn board(State(state): State<Arc<AppState>>, s: Staff) -> ApiResult<Json<Board>> {
    if !matches!(s.actor.role(), Role::Supervisor | Role::Admin) {
        return Err(CasesError::Forbidden {
            role: s.actor.role(),
            action: "view the live board",
        }
        .into());
    }
    let now = state.cases.now();
    let places = state.cases.queue(&s.actor).await?;
    let agents = state.cases.agents(&s.actor).await?;
    let calls = state
        .cases
        .cases_in_states(&s.actor, &[CaseState::InCall, CaseState::Checks])
        .await?;
    let names = state
        .staff_names(agents.iter().map(|a| a.user_id.clone()))
        .await;
    let longest = places
        .iter()
        .map(|p| secs_since(now, p.joined_at))
        .max()
        .unwrap_or(0);
    Ok(Json(Board {
        at: rfc3339(now),
        hours: HoursView::at(state.cases.hours(), now),
        queue: BoardQueue {
            length: places.len(),
            connected: places.iter().filter(|p| p.connected).count(),
            longest_wait_secs: longest,
            estimated_wait_secs: places.last().and_then(|p| p.estimated_wait_secs),
            places: places
                .iter()
                .map(|p| BoardPlace {
                    case_id: p.case_id.clone(),
                    position: p.position,
                    waiting_secs: secs_since(now, p.joined_at),
                    connected: p.connected,
                })
                .collect(),
        },
        agents: agents
            .iter()
            .map(|a| BoardAgent {
                user_id: a.user_id.clone(),
                username: names.get(&a.user_id).cloned(),
                status: a.status,
                since: rfc3339(a.since),
                case_id: a.case_id.clone(),
            })
            .collect(),
        calls: calls
            .iter()
            .map(|c| BoardCall {
                case_id: c.id.clone(),
                call_id: call_id_of(c),
                agent: c
                    .agent_id
                    .as_ref()
                    .and_then(|id| names.get(id))
                    .or(c.agent_id.as_ref())
                    .cloned(),
                state: c.state,
                since: c.call_started_at.map(rfc3339),
            })
            .collect(),
    }))
}
