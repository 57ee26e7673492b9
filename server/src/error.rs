use thiserror::Error;

/// Everything the media server can refuse or fail at.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The media UDP socket could not be bound (address in use, no permission, bad address).
    #[error("cannot bind the media udp socket {addr}: {source}")]
    Bind {
        /// The address the socket was to be bound to.
        addr: std::net::SocketAddr,
        /// Why the operating system refused.
        source: std::io::Error,
    },
    /// The media loop is no longer running, so the command was not carried out.
    #[error("the media server has stopped")]
    Stopped,
    /// No room is open on this node for the call id given.
    #[error("no such call: {0}")]
    NoSuchCall(String),
    /// The participant id names no peer connection on this node (it left or never joined).
    #[error("no such participant")]
    NoSuchParticipant,
    /// The seat (`customer` or `agent`) is already held by another participant.
    #[error("the {0} seat of this call is taken")]
    SeatTaken(&'static str),
    /// The call is over; nothing more can be done in it.
    #[error("the call has ended")]
    CallEnded,
    /// This participant already sent an offer and got an answer; a second one is refused.
    #[error("the offer was already accepted")]
    AlreadyNegotiated,
    /// The browser's SDP offer could not be parsed or applied.
    #[error("invalid sdp offer: {0}")]
    BadSdp(String),
    /// The browser's ICE candidate could not be parsed or added.
    #[error("invalid ice candidate: {0}")]
    BadCandidate(String),
    /// The WebRTC engine or the loop's thread failed, the node is at capacity, or the media
    /// configuration is invalid; the text says which.
    #[error("webrtc engine error: {0}")]
    Engine(String),
    /// The call recorder could not start or write the recording.
    #[error("recorder failed: {0}")]
    Recorder(#[from] vidid_recorder::RecorderError),
    /// The media metrics could not be registered (a name already taken in the registry).
    #[error("metrics registration failed: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl From<rtc::shared::error::Error> for MediaError {
    fn from(e: rtc::shared::error::Error) -> Self {
        MediaError::Engine(e.to_string())
    }
}
