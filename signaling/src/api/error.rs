//! The API's refusals as JSON (`{"error": code, "message": …, …details}`) and the one table
//! from an error to its HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::warn;
use vidid_cases::CasesError;
use vidid_control::ControlError;

use crate::SignalingError;
use crate::api::views::rfc3339;

/// A refusal; see the module docs.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

/// What a handler returns.
pub type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    /// A refusal with this status, code and message, and no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code (`error` in the body).
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// The table: every domain and control-plane error and its status.
fn status_of(e: &ControlError) -> StatusCode {
    use CasesError as C;
    use ControlError as K;
    match e {
        K::Cases(c) => match c {
            C::NotFound(_) => StatusCode::NOT_FOUND,
            C::Forbidden { .. } | C::PermissionDenied { .. } | C::NotAssigned => {
                StatusCode::FORBIDDEN
            }
            C::LinkExpired(_) => StatusCode::GONE,
            C::BadCredentials | C::SessionInvalid => StatusCode::UNAUTHORIZED,
            C::InvalidInput { .. } | C::DocumentNotAccepted(_) => StatusCode::UNPROCESSABLE_ENTITY,
            C::QueueFull { .. } | C::WaitTooLong { .. } => StatusCode::SERVICE_UNAVAILABLE,
            C::TanSendLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            C::Sms(_) => StatusCode::BAD_GATEWAY,
            C::Config { .. } | C::Database(_) | C::Io(_) | C::Corrupt(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::CONFLICT,
        },
        K::NoSuchCall => StatusCode::NOT_FOUND,
        K::InvalidToken => StatusCode::UNAUTHORIZED,
        K::LinkExpired => StatusCode::GONE,
        K::TokenInUse | K::CallEnded | K::CallExists => StatusCode::CONFLICT,
        K::MediaUnavailable(_)
        | K::NoMediaNode
        | K::StorageUnavailable
        | K::StorageUnreadable
        | K::RecordingsUnavailable
        | K::RecordingUnreadable => StatusCode::SERVICE_UNAVAILABLE,
        K::GrantInvalid(_) => StatusCode::FORBIDDEN,
        K::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Fields a client can act on, beside the message.
fn details_of(e: &ControlError) -> Option<Value> {
    let ControlError::Cases(c) = e else {
        return None;
    };
    match c {
        CasesError::QueueClosed { next_opening } => {
            Some(json!({ "next_opening": rfc3339(*next_opening) }))
        }
        CasesError::LinkExpired(at) => Some(json!({ "expired_at": rfc3339(*at) })),
        CasesError::InvalidInput { field, .. } => Some(json!({ "field": field })),
        CasesError::ChecklistIncomplete(items) => Some(json!({ "missing": items })),
        _ => None,
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let status = status_of(&e);
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            warn!(error = %e, "internal error");
            "internal error".to_string()
        } else {
            e.to_string()
        };
        ApiError {
            status,
            code: e.code(),
            details: details_of(&e),
            message,
        }
    }
}

impl From<CasesError> for ApiError {
    fn from(e: CasesError) -> Self {
        ControlError::Cases(e).into()
    }
}

impl From<SignalingError> for ApiError {
    fn from(e: SignalingError) -> Self {
        let status = match &e {
            SignalingError::Unauthorized => StatusCode::UNAUTHORIZED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let (Some(Value::Object(d)), Value::Object(b)) = (self.details, &mut body) {
            b.extend(d);
        }
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_and_internal_errors_say_nothing() {
        let cases = |e: CasesError| ApiError::from(e);
        assert_eq!(
            cases(CasesError::NotFound("case")).status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(cases(CasesError::NotAssigned).status, StatusCode::FORBIDDEN);
        assert_eq!(
            cases(CasesError::SessionInvalid).status,
            StatusCode::UNAUTHORIZED
        );
        let bad = cases(CasesError::invalid("text", "too long"));
        assert_eq!(
            (bad.status, bad.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")
        );
        assert_eq!(bad.details, Some(json!({"field": "text"})));
        let internal = cases(CasesError::Corrupt("secret detail".into()));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.message, "internal error");
        let media = ApiError::from(ControlError::NoMediaNode);
        assert_eq!(
            (media.status, media.code),
            (StatusCode::SERVICE_UNAVAILABLE, "media_unavailable")
        );
        let grant = ApiError::from(ControlError::GrantInvalid("grant not valid"));
        assert_eq!(
            (grant.status, grant.code),
            (StatusCode::FORBIDDEN, "grant_invalid")
        );
        assert_eq!(
            ApiError::from(ControlError::TokenInUse).status,
            StatusCode::CONFLICT
        );
    }
}
