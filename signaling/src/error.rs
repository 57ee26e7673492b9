use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use thiserror::Error;

/// Everything signaling refuses, with the stable code clients see (docs/signaling.md).
#[derive(Debug, Error)]
pub enum SignalingError {
    #[error("missing or wrong api key")]
    Unauthorized,
    #[error("no such call")]
    NotFound,
    #[error("the join token is unknown")]
    InvalidToken,
    #[error("this token is already in use by another connection")]
    TokenInUse,
    #[error("the call has ended")]
    CallEnded,
    #[error("the link has expired")]
    LinkExpired,
    #[error("a call with this id exists")]
    CallExists,
    #[error("the media server could not take the participant: {0}")]
    MediaUnavailable(String),
    #[error("cannot create secrets in the data directory: {0}")]
    Secrets(std::io::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl SignalingError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SignalingError::Unauthorized => "unauthorized",
            SignalingError::NotFound => "not_found",
            SignalingError::InvalidToken => "invalid_token",
            SignalingError::TokenInUse => "token_in_use",
            SignalingError::CallEnded => "call_ended",
            SignalingError::LinkExpired => "link_expired",
            SignalingError::CallExists => "call_exists",
            SignalingError::MediaUnavailable(_) => "media_unavailable",
            SignalingError::Secrets(_) | SignalingError::Metrics(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            SignalingError::Unauthorized | SignalingError::InvalidToken => StatusCode::UNAUTHORIZED,
            SignalingError::NotFound => StatusCode::NOT_FOUND,
            SignalingError::TokenInUse | SignalingError::CallEnded | SignalingError::CallExists => {
                StatusCode::CONFLICT
            }
            SignalingError::LinkExpired => StatusCode::GONE,
            SignalingError::MediaUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            SignalingError::Secrets(_) | SignalingError::Metrics(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for SignalingError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        (self.status(), axum::Json(body)).into_response()
    }
}
