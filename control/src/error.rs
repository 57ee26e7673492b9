use thiserror::Error;
use vidid_cases::CasesError;

/// Everything the control plane refuses or fails at, with the stable code clients see
/// (`docs/api.md`, `docs/signaling.md`). The adapters map each to their protocol (one table
/// in `vidid_signaling::http::error`).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ControlError {
    /// A rule of the domain (state, role, input, …): see [`CasesError`].
    #[error(transparent)]
    Cases(#[from] CasesError),
    /// No call with this id exists on this node.
    #[error("no such call")]
    NoSuchCall,
    /// The join token is unknown or malformed.
    #[error("the join token is unknown")]
    InvalidToken,
    /// Another connection holds this token's seat.
    #[error("this token is already in use by another connection")]
    TokenInUse,
    /// The call has ended; its tokens join nothing any more.
    #[error("the call has ended")]
    CallEnded,
    /// The call's join links have expired.
    #[error("the link has expired")]
    LinkExpired,
    /// A call with this id already exists, so it was not created again.
    #[error("a call with this id exists")]
    CallExists,
    /// The media plane could not do it (the room, the media loop).
    #[error("the media server could not take the participant: {0}")]
    MediaUnavailable(String),
    /// No media node accepts calls now (scale-out placement).
    #[error("no media node can take a call now; try again shortly")]
    NoMediaNode,
    /// The evidence store failed; nothing was stored.
    #[error("the evidence store is not reachable; nothing was stored, try again")]
    StorageUnavailable,
    /// The evidence store could not be read.
    #[error("the evidence store could not be read")]
    StorageUnreadable,
    /// A purpose grant is missing, forged, expired or for something else.
    #[error("{0}")]
    GrantInvalid(&'static str),
    /// The compliance portal cannot reach the recordings from this process.
    #[error("recordings are not reachable from this server")]
    RecordingsUnavailable,
    /// The vault could not produce the recording.
    #[error("the recording could not be read from the vault")]
    RecordingUnreadable,
    /// A background task died (a bug, reported, never shown in detail).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ControlError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::Cases(e) => e.code(),
            ControlError::NoSuchCall => "not_found",
            ControlError::InvalidToken => "invalid_token",
            ControlError::TokenInUse => "token_in_use",
            ControlError::CallEnded => "call_ended",
            ControlError::LinkExpired => "link_expired",
            ControlError::CallExists => "call_exists",
            ControlError::MediaUnavailable(_) | ControlError::NoMediaNode => "media_unavailable",
            ControlError::StorageUnavailable | ControlError::StorageUnreadable => {
                "storage_unavailable"
            }
            ControlError::GrantInvalid(_) => "grant_invalid",
            ControlError::RecordingsUnavailable => "recordings_unavailable",
            ControlError::RecordingUnreadable => "recording_unreadable",
            ControlError::Internal(_) => "internal",
        }
    }
}

/// The control plane's results.
pub type Result<T, E = ControlError> = std::result::Result<T, E>;
