//! The customer (link token in `X-Case-Token`): the case as they see it, the ID photo, the
//! data check, the queue, and the TAN they type. Their queue socket is [`crate::ws::queue`].

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use time::Date;
use vidid_cases::{CaseState, ConfirmedData, Document, DocumentPhoto, TanOutcome};
use vidid_control::evidence;

use crate::AppState;
use crate::api::ApiResult;
use crate::api::extract::{Customer, Image, StrictJson};
use crate::api::views::{
    ConfirmView, CustomerStatus, HoursView, JoinedQueue, PhotoView, PlaceView, StateView,
};

/// The customer's routes under `/api/v1/customer`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/customer", get(status))
        .route("/api/v1/customer/photo", post(photo))
        .route("/api/v1/customer/confirm", post(confirm))
        .route(
            "/api/v1/customer/queue",
            post(join_queue).delete(leave_queue),
        )
        .route("/api/v1/customer/tan", post(tan))
}

/// `GET /api/v1/customer`: the case as the customer sees it, with the hours.
async fn status(
    State(state): State<Arc<AppState>>,
    c: Customer,
) -> ApiResult<Json<CustomerStatus>> {
    let case = c.case;
    let now = state.cases.now();
    let place = state.cases.queue_place(&case.id).await?;
    let lang = case.customer.language;
    Ok(Json(CustomerStatus {
        state: case.state,
        expires_at: case.expires_at,
        language: lang,
        photo_uploaded: case.photo.is_some(),
        data_confirmed: case.data_confirmed_at.is_some(),
        retries_left: case.retries_left(),
        is_final: case.is_final(),
        hours: HoursView::at(state.cases.hours(), now),
        queue: place.map(|p| PlaceView {
            position: p.position,
            estimated_wait_secs: p.estimated_wait_secs,
            connected: p.connected,
        }),
        message: case
            .last_abort
            .filter(|_| case.state == CaseState::Aborted)
            .map(|r| r.customer_message(lang)),
        redirect_url: (case.state == CaseState::Approved)
            .then(|| case.esign_url.clone())
            .flatten(),
        case_id: case.id,
    }))
}

/// `POST /api/v1/customer/photo`: the raw JPEG or PNG bytes as the body.
async fn photo(
    State(state): State<Arc<AppState>>,
    c: Customer,
    img: Image,
) -> ApiResult<Json<PhotoView>> {
    let len = img.bytes.len() as u64;
    let stored = evidence::put(
        state.evidence.clone(),
        &c.case.id,
        &img.content_type,
        img.bytes,
    )
    .await?;
    let photo = DocumentPhoto {
        object_id: stored.object_id,
        content_type: img.content_type,
        bytes: len,
        sha256: stored.sha256,
        uploaded_at: state.cases.now(),
    };
    let case = state
        .cases
        .upload_photo(&c.actor, &c.case.id, photo)
        .await?;
    Ok(Json(PhotoView {
        state: case.state,
        photo: case.photo,
    }))
}

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmReq {
    name: String,
    #[serde(with = "iso_date")]
    date_of_birth: Date,
    document: Document,
}

/// `POST /api/v1/customer/confirm`
async fn confirm(
    State(state): State<Arc<AppState>>,
    c: Customer,
    StrictJson(req): StrictJson<ConfirmReq>,
) -> ApiResult<Json<ConfirmView>> {
    let data = ConfirmedData {
        name: req.name,
        date_of_birth: req.date_of_birth,
        document: req.document,
    };
    let (case, check) = state
        .cases
        .confirm_data(&c.actor, &c.case.id, &data)
        .await?;
    Ok(Json(ConfirmView {
        state: case.state,
        matches: check.is_match(),
        differences: check.explain(case.customer.language),
        check,
    }))
}

/// `POST /api/v1/customer/queue`
async fn join_queue(
    State(state): State<Arc<AppState>>,
    c: Customer,
) -> ApiResult<Json<JoinedQueue>> {
    let ticket = state.cases.join_queue(&c.actor, &c.case.id).await?;
    Ok(Json(JoinedQueue {
        position: ticket.place.position,
        estimated_wait_secs: ticket.place.estimated_wait_secs,
        rejoin_token: ticket.rejoin_token,
    }))
}

/// `DELETE /api/v1/customer/queue`
async fn leave_queue(
    State(state): State<Arc<AppState>>,
    c: Customer,
) -> ApiResult<Json<StateView>> {
    let case = state.cases.leave_queue(&c.actor, &c.case.id).await?;
    Ok(Json(StateView { state: case.state }))
}

/// `{"code": "123456"}`: the agent's read-back or the customer's own entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TanReq {
    pub(crate) code: String,
}

/// `POST /api/v1/customer/tan {code}`: the customer types the code they received.
async fn tan(
    State(state): State<Arc<AppState>>,
    c: Customer,
    StrictJson(req): StrictJson<TanReq>,
) -> ApiResult<Json<TanOutcome>> {
    let outcome = state
        .cases
        .verify_tan(&c.actor, &c.case.id, req.code.trim())
        .await?;
    Ok(Json(outcome))
}
