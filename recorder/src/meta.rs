//! `meta.json`: what a recording is, and how it went.

use std::path::Path;

use time::OffsetDateTime;

use crate::durable::write_atomic;
use crate::{Party, RecorderError};

/// The name of the metadata file inside a recording directory.
pub(crate) const META_FILE: &str = "meta.json";

/// The codec of every recording, as in the SDP.
pub const CODEC: &str = "opus/48000/2";

/// The contents of a recording's `meta.json`.
///
/// Written when the recording starts (`complete: false`, no `ended_at`) and rewritten
/// atomically when it ends. `complete` is true only if the recording was ended with
/// [`crate::CallRecorder::finish`] and everything was written; a recording whose recorder was
/// dropped, or whose writer failed (see `error`), says `false`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordingMetadata {
    /// Version of this file's format.
    pub format: u32,
    /// The recording's id (its directory name).
    pub recording_id: String,
    /// The call it belongs to.
    pub call_id: String,
    /// Wall-clock time of timeline sample 0.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Wall-clock time the recording was closed (`started_at` plus monotonic elapsed time).
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Always [`CODEC`].
    pub codec: String,
    /// The audio file's name inside the directory.
    pub audio_file: String,
    /// Pre-skip in the `OpusHead` headers (0: see the crate docs).
    pub pre_skip: u16,
    /// End of the last audio packet of either party, in ms since `started_at`.
    pub duration_ms: u64,
    /// Whether the recording was finished and written completely.
    pub complete: bool,
    /// Why the writer failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The customer's stream.
    pub customer: PartyCounters,
    /// The agent's stream.
    pub agent: PartyCounters,
}

/// One party's stream in `meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartyCounters {
    /// The Ogg serial number of the party's logical stream.
    pub serial: u32,
    /// Opus packets written.
    pub packets: u64,
    /// Opus payload bytes written (without Ogg overhead).
    pub bytes: u64,
    /// Packets dropped as duplicates.
    pub duplicates: u64,
    /// Packets dropped as too late for the reorder window.
    pub late: u64,
    /// Packets dropped as not valid Opus.
    pub invalid: u64,
    /// Packets dropped because the recording's queue was full.
    pub overflow: u64,
    /// Sequence numbers never seen (lost before reaching the recorder).
    pub lost: u64,
    /// Times the timeline was re-anchored to arrival time after an RTP timestamp jump.
    pub reanchors: u64,
    /// Times the sender restarted its RTP sequence.
    pub restarts: u64,
    /// Timeline position (48 kHz samples) where the party's first packet starts.
    pub first_sample: Option<u64>,
    /// Timeline position (48 kHz samples) where the party's last packet ends.
    pub end_sample: u64,
}

impl RecordingMetadata {
    /// The counters of one party.
    pub fn party(&self, party: Party) -> &PartyCounters {
        match party {
            Party::Customer => &self.customer,
            Party::Agent => &self.agent,
        }
    }
}

/// Read a recording directory's `meta.json`.
pub fn read_metadata(recording_dir: &Path) -> Result<RecordingMetadata, RecorderError> {
    let bytes = std::fs::read(recording_dir.join(META_FILE))?;
    Ok(serde_json::from_slice(&bytes)?)
}

pub(crate) fn metadata_json(metadata: &RecordingMetadata) -> Result<Vec<u8>, RecorderError> {
    let mut bytes = serde_json::to_vec_pretty(metadata)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Replace a recording's `meta.json` atomically and durably.
pub(crate) fn write_metadata(
    recording_dir: &Path,
    metadata: &RecordingMetadata,
) -> Result<(), RecorderError> {
    write_atomic(&recording_dir.join(META_FILE), &metadata_json(metadata)?)?;
    Ok(())
}
