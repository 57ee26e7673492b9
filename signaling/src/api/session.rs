//! Staff sign in and out: the session cookie (`HttpOnly; Secure; SameSite=Strict`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use tracing::info;

use crate::AppState;
use crate::api::ApiResult;
use crate::api::extract::{SESSION_COOKIE, Staff, StrictJson, cookie};
use crate::api::views::{SessionView, UserView, WhoAmI};

/// `POST`, `GET` and `DELETE /api/v1/session`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/session", post(login).get(whoami).delete(logout))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginReq {
    username: String,
    password: String,
}

/// `POST /api/v1/session`
async fn login(
    State(state): State<Arc<AppState>>,
    StrictJson(req): StrictJson<LoginReq>,
) -> ApiResult {
    let login = state.cases.login(&req.username, &req.password).await?;
    let max_age = (login.expires_at - state.cases.now())
        .whole_seconds()
        .max(0);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict",
        login.token
    );
    info!(user = %login.user.username, "staff login");
    let mut resp = Json(SessionView {
        user: UserView::from(&login.user),
        expires_at: login.expires_at,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /api/v1/session`
async fn whoami(s: Staff) -> Json<WhoAmI> {
    Json(WhoAmI {
        user: UserView::from(&s.user),
    })
}

/// `DELETE /api/v1/session`
async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.cases.logout(token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "vidid_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
        ),
    );
    Ok(resp)
}
