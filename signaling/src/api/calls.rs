//! The bare calls API (API key): a call room with two join links, without a case. Served only
//! where the rooms are and the API key is: one machine (`--role all`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tracing::info;
use vidid_control::calls::CallView;
use vidid_control::{ControlError, Rooms};
use vidid_server::CallSummary;

use crate::AppState;
use crate::api::ApiResult;
use crate::api::extract::OrderingSystem;
use crate::api::views::rfc3339;

/// `POST /api/v1/calls`, `GET /api/v1/calls/{call_id}`, `POST /api/v1/calls/{call_id}/end`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/calls", post(create_call))
        .route("/api/v1/calls/{call_id}", get(get_call))
        .route("/api/v1/calls/{call_id}/end", post(end_call))
}

#[derive(Serialize)]
struct Tokens {
    customer: String,
    agent: String,
}

#[derive(Serialize)]
struct CreatedCall {
    call_id: String,
    tokens: Tokens,
    links: Tokens,
    expires_at: String,
}

fn rooms(state: &AppState) -> Result<&Arc<Rooms>, ControlError> {
    state.rooms.as_ref().ok_or(ControlError::NoSuchCall)
}

/// `POST /api/v1/calls`
async fn create_call(State(state): State<Arc<AppState>>, _: OrderingSystem) -> ApiResult<Response> {
    let call = rooms(&state)?.open();
    info!(call_id = %call.call_id, "call created");
    let body = CreatedCall {
        links: Tokens {
            customer: format!("/customer?token={}", call.customer_token),
            agent: format!("/agent?token={}", call.agent_token),
        },
        call_id: call.call_id,
        tokens: Tokens {
            customer: call.customer_token,
            agent: call.agent_token,
        },
        expires_at: rfc3339(call.expires_at),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/calls/{id}`
async fn get_call(
    State(state): State<Arc<AppState>>,
    _: OrderingSystem,
    Path(call_id): Path<String>,
) -> ApiResult<Json<CallView>> {
    Ok(Json(
        rooms(&state)?
            .get(&call_id)
            .ok_or(ControlError::NoSuchCall)?,
    ))
}

/// `POST /api/v1/calls/{id}/end`
async fn end_call(
    State(state): State<Arc<AppState>>,
    _: OrderingSystem,
    Path(call_id): Path<String>,
) -> ApiResult<Json<CallSummary>> {
    Ok(Json(
        rooms(&state)?
            .end(&call_id, "ended through the api")
            .await?,
    ))
}
