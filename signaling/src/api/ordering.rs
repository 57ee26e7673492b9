//! The ordering system (API key): creates a case and sends the customer the link, reads its
//! state, cancels it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use vidid_cases::NewCase;

use crate::AppState;
use crate::api::extract::{CaseReader, OptionalJson, OrderingSystem, StrictJson};
use crate::api::views::{CaseView, CreatedCase, customer_link};
use crate::api::{ApiError, ApiResult};

/// `POST /api/v1/cases`, `GET /api/v1/cases/{id}`, `POST /api/v1/cases/{id}/cancel`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/cases", post(create_case))
        .route("/api/v1/cases/{id}", get(get_case))
        .route("/api/v1/cases/{id}/cancel", post(cancel_case))
}

/// `POST /api/v1/cases` (optional `Idempotency-Key`).
async fn create_case(
    State(state): State<Arc<AppState>>,
    OrderingSystem(actor): OrderingSystem,
    headers: HeaderMap,
    StrictJson(req): StrictJson<NewCase>,
) -> ApiResult {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "invalid idempotency_key: printable ascii only",
            )
        })?),
        None => None,
    };
    let link = state.cases.create_case(&actor, &req, key).await?;
    let status = if link.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = CreatedCase {
        case: CaseView::summary(&link.case),
        customer_link: customer_link(&link.token),
        customer_token: link.token,
        replayed: link.replayed,
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /api/v1/cases/{id}`: the ordering system (summary) or staff (with the customer).
async fn get_case(
    State(state): State<Arc<AppState>>,
    reader: CaseReader,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseView>> {
    Ok(Json(match reader {
        CaseReader::OrderingSystem(a) => CaseView::summary(&state.cases.case(&a, &id).await?),
        CaseReader::Staff(s) => CaseView::for_staff(&state.cases.case(&s.actor, &id).await?),
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonReq {
    #[serde(default)]
    reason: String,
}

/// `POST /api/v1/cases/{id}/cancel` (optional `{"reason": …}`).
async fn cancel_case(
    State(state): State<Arc<AppState>>,
    OrderingSystem(actor): OrderingSystem,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<ReasonReq>,
) -> ApiResult<Json<CaseView>> {
    let reason = match req.reason.as_str() {
        "" => "cancelled by the ordering system",
        r => r,
    };
    let case = state.coordinator.cancel(&actor, &id, reason).await?;
    Ok(Json(CaseView::summary(&case)))
}
