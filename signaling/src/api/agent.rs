//! Agents (staff session): availability, the queue, taking the next customer into a call,
//! the checklist, the TAN, instructions to the customer, snapshots, the customer's ID photo,
//! and the decision.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use vidid_cases::{
    AbortReason, AgentState, AgentStatus, CasesError, CheckAnswer, Snapshot, SnapshotKind,
    TanOutcome,
};
use vidid_control::evidence;

use crate::AppState;
use crate::api::ApiResult;
use crate::api::customer::TanReq;
use crate::api::extract::{Image, Staff, StrictJson};
use crate::api::views::{
    CallLink, CaseView, EvidenceItem, QueueRow, QueueView, TakeView, TanSent, rfc3339,
};

/// The agents' routes: availability, queue, take, checks, TAN, instructions, snapshots, the
/// ID photo and the decisions.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/agent/availability", put(set_availability))
        .route("/api/v1/queue", get(queue))
        .route("/api/v1/agent/take", post(take))
        .route("/api/v1/cases/{id}/checks/start", post(start_checks))
        .route("/api/v1/cases/{id}/checks", post(record_check))
        .route("/api/v1/cases/{id}/tan", post(send_tan))
        .route("/api/v1/cases/{id}/tan/verify", post(verify_tan))
        .route("/api/v1/cases/{id}/instruction", post(instruction))
        .route("/api/v1/cases/{id}/snapshots", post(snapshot))
        .route("/api/v1/cases/{id}/id-photo", get(id_photo))
        .route("/api/v1/cases/{id}/approve", post(approve))
        .route("/api/v1/cases/{id}/reject", post(reject))
        .route("/api/v1/cases/{id}/abort", post(abort))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailabilityReq {
    status: AgentStatus,
}

/// `PUT /api/v1/agent/availability` `{"status": "available" | "paused"}`
async fn set_availability(
    State(state): State<Arc<AppState>>,
    s: Staff,
    StrictJson(req): StrictJson<AvailabilityReq>,
) -> ApiResult<Json<AgentState>> {
    if req.status == AgentStatus::InCall {
        return Err(CasesError::invalid("status", "available or paused").into());
    }
    Ok(Json(
        state.cases.set_availability(&s.actor, req.status).await?,
    ))
}

/// `GET /api/v1/queue` (staff with `view_queue`)
async fn queue(State(state): State<Arc<AppState>>, s: Staff) -> ApiResult<Json<QueueView>> {
    let places = state.cases.queue(&s.actor).await?;
    let agents = state.cases.agents(&s.actor).await?;
    let now = state.cases.now();
    let queue = places
        .into_iter()
        .map(|p| QueueRow {
            waiting_secs: (now - p.joined_at).whole_seconds().max(0),
            place: p,
        })
        .collect();
    Ok(Json(QueueView {
        at: rfc3339(now),
        queue,
        agents,
    }))
}

/// `POST /api/v1/agent/take`: the next connected customer → a call room, the agent's join
/// token, the customer's pushed on their queue socket. `204` when nobody waits.
async fn take(State(state): State<Arc<AppState>>, s: Staff) -> ApiResult {
    let Some(t) = state.coordinator.take(&s.actor).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let base = t.call.media_url.as_deref().unwrap_or("");
    let link = format!("{base}/agent?token={}", t.call.agent_token);
    Ok(Json(TakeView {
        case: CaseView::for_staff(&t.case),
        call: CallLink {
            link,
            call_id: t.call.call_id,
            token: t.call.agent_token,
            media_url: t.call.media_url,
        },
        questions: state.coordinator.questions().to_vec(),
    })
    .into_response())
}

/// `POST /api/v1/cases/{id}/checks/start`
async fn start_checks(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseView>> {
    let case = state.cases.start_checks(&s.actor, &id).await?;
    Ok(Json(CaseView::for_staff(&case)))
}

/// `POST /api/v1/cases/{id}/checks` with a checklist answer.
async fn record_check(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
    StrictJson(answer): StrictJson<CheckAnswer>,
) -> ApiResult<Json<CaseView>> {
    let case = state.cases.record_check(&s.actor, &id, answer).await?;
    Ok(Json(CaseView::for_staff(&case)))
}

/// `POST /api/v1/cases/{id}/tan`: send a code to the customer's phone.
async fn send_tan(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
) -> ApiResult<Json<TanSent>> {
    let case = state.cases.send_tan(&s.actor, &id).await?;
    Ok(Json(TanSent {
        sent_to: vidid_cases::tan::mask_phone(&case.customer.phone),
    }))
}

/// `POST /api/v1/cases/{id}/tan/verify` `{"code": "123456"}`: the agent's read-back.
async fn verify_tan(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
    StrictJson(req): StrictJson<TanReq>,
) -> ApiResult<Json<TanOutcome>> {
    Ok(Json(
        state.cases.verify_tan(&s.actor, &id, &req.code).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstructionReq {
    text: String,
}

/// `POST /api/v1/cases/{id}/instruction`: a message shown to the customer (their socket).
async fn instruction(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
    StrictJson(req): StrictJson<InstructionReq>,
) -> ApiResult<StatusCode> {
    state.coordinator.instruct(&s.actor, &id, &req.text).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    kind: String,
}

/// `POST /api/v1/cases/{id}/snapshots?kind=face|document_front|document_back` (the agent of
/// the running call; the body a JPEG or PNG).
async fn snapshot(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
    query: Result<Query<SnapshotQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let kind = query
        .ok()
        .and_then(|Query(q)| SnapshotKind::parse(&q.kind))
        .ok_or_else(|| CasesError::invalid("kind", "face, document_front or document_back"))?;
    // Refuse before reading or storing anything: only the call's agent, only during the call.
    state.cases.can_snapshot(&s.actor, &id).await?;
    let img = Image::read(&headers, body).await?;
    let len = img.bytes.len() as u64;
    let stored = evidence::put(state.evidence.clone(), &id, &img.content_type, img.bytes).await?;
    let snap = Snapshot {
        object_id: stored.object_id,
        kind,
        content_type: img.content_type,
        bytes: len,
        sha256: stored.sha256,
        attempt: 0,
        taken_by: s.actor.id().to_string(),
        taken_at: state.cases.now(),
    };
    let case = state.cases.add_snapshot(&s.actor, &id, snap).await?;
    let view = case
        .snapshots
        .last()
        .map(|s| EvidenceItem::snapshot(s, false));
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `GET /api/v1/cases/{id}/id-photo`: the customer's uploaded ID photo, for the call's agent
/// during the call (audited).
async fn id_photo(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let case = state.cases.view_id_photo(&s.actor, &id).await?;
    let photo = case.photo.ok_or(CasesError::NotFound("id photo"))?;
    crate::api::compliance::serve_evidence(&state, &id, &photo.object_id, &photo.content_type).await
}

/// `POST /api/v1/cases/{id}/approve`
async fn approve(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseView>> {
    let case = state.coordinator.approve(&s.actor, &id).await?;
    Ok(Json(CaseView::for_staff(&case)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectReq {
    reason: String,
}

/// `POST /api/v1/cases/{id}/reject` `{"reason": …}`
async fn reject(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
    StrictJson(req): StrictJson<RejectReq>,
) -> ApiResult<Json<CaseView>> {
    let case = state.coordinator.reject(&s.actor, &id, &req.reason).await?;
    Ok(Json(CaseView::for_staff(&case)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AbortReq {
    reason: AbortReason,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/cases/{id}/abort` `{"reason": "bad_light", "note": …}`
async fn abort(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
    StrictJson(req): StrictJson<AbortReq>,
) -> ApiResult<Json<CaseView>> {
    let case = state
        .coordinator
        .abort(&s.actor, &id, req.reason, &req.note)
        .await?;
    Ok(Json(CaseView::for_staff(&case)))
}
