//! placeholder: the recorder helper replaces this file. Public API contract below.

use std::path::PathBuf;
use std::time::Instant;

/// Which side of the call a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    Customer,
    Agent,
}

/// What the recorder is told when a call's recording starts.
#[derive(Debug, Clone)]
pub struct RecordingMeta {
    pub recording_id: String,
    pub call_id: String,
    pub started_at: time::OffsetDateTime,
    pub started: Instant,
}

/// One Opus RTP packet as the media server received it (after SRTP).
#[derive(Debug, Clone, Copy)]
pub struct AudioPacket<'a> {
    pub party: Party,
    pub sequence: u16,
    pub rtp_timestamp: u32,
    pub arrival: Instant,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordingSummary {
    pub recording_id: String,
    pub path: PathBuf,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("recording i/o failed: {0}")]
    Io(#[from] std::io::Error),
}

pub trait RecordingSink: Send + Sync + 'static {
    fn start(&self, meta: RecordingMeta) -> Result<Box<dyn CallRecorder>, RecorderError>;
}

pub trait CallRecorder: Send + 'static {
    fn push(&mut self, pkt: AudioPacket<'_>);
    fn finish(self: Box<Self>) -> Result<RecordingSummary, RecorderError>;
}
