use thiserror::Error;

/// Everything the media server can refuse or fail at.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    #[error("cannot bind the media udp socket {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("the media server has stopped")]
    Stopped,
    #[error("no such call: {0}")]
    NoSuchCall(String),
    #[error("no such participant")]
    NoSuchParticipant,
    #[error("the {0} seat of this call is taken")]
    SeatTaken(&'static str),
    #[error("the call has ended")]
    CallEnded,
    #[error("the offer was already accepted")]
    AlreadyNegotiated,
    #[error("invalid sdp offer: {0}")]
    BadSdp(String),
    #[error("invalid ice candidate: {0}")]
    BadCandidate(String),
    #[error("webrtc engine error: {0}")]
    Engine(String),
    #[error("recorder failed: {0}")]
    Recorder(#[from] vidid_recorder::RecorderError),
    #[error("metrics registration failed: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl From<rtc::shared::error::Error> for MediaError {
    fn from(e: rtc::shared::error::Error) -> Self {
        MediaError::Engine(e.to_string())
    }
}
