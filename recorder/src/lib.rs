//! Call audio recording for vidid: both parties of a call, bit-exact Opus, on one timeline.
//!
//! The law asks for the call's audio to be recorded (rulebook art. 7) and kept unaltered.
//! The media server hands every received Opus RTP packet of a call to a [`CallRecorder`];
//! this crate stores the packets exactly as received (never re-encoded) in one Ogg file,
//! places both parties on a common wall-clock timeline, and can read a recording back or
//! render it to a stereo WAV for listening.
//!
//! # Flow
//!
//! 1. [`RecordingSink::start`] on a [`LocalRecordingSink`] validates the recording id,
//!    creates `<data_dir>/recordings/<recording_id>/` (refusing one that exists: recordings
//!    are never overwritten), writes a first `meta.json` (`complete: false`), creates the
//!    output (`audio.ogg`, or the vault's; see "Storage") and starts one writer thread for
//!    the recording (named `rec-<id>`).
//! 2. [`CallRecorder::push`] runs in the media server's hot loop. It copies the payload into
//!    a pooled buffer and `try_send`s it on a bounded queue
//!    ([`DEFAULT_QUEUE_CAPACITY`] packets). It never blocks and never touches files: if the
//!    queue is full the packet is dropped, counted and logged (rate-limited).
//! 3. The writer thread reads the Opus TOC byte for each packet's duration, runs each party's
//!    timeline (unwrapping, reordering, duplicate and late drops, placement), and writes Ogg
//!    pages. Open pages are written out and the file flushed at least every second of wall
//!    clock (and every page holds at most 1 s of audio); the file is fsynced every 10 s.
//! 4. [`CallRecorder::finish`] sends an end marker and joins the writer thread: it blocks
//!    until the queue is drained, the reorder buffers are released, both streams' end pages
//!    are written, `audio.ogg` is fsynced and `meta.json` is rewritten with `complete: true`.
//!    Dropping the recorder without `finish` does not block: the writer sees the queue
//!    disconnect and closes the file the same way, with `complete: false`.
//!    [`LocalRecordingSink::wait_idle`] waits for such writers at shutdown.
//! 5. [`read_recording`] demuxes a recording back into per-party packets with their
//!    positions; [`export_wav`] renders it as a stereo WAV (customer left, agent right).
//!
//! [`RecorderStats`] (from [`LocalRecordingSink::stats`]) counts active recordings, packets
//! and bytes written, and drops by reason, for Prometheus.
//!
//! # Layout
//!
//! ```text
//! <data_dir>/recordings/<recording_id>/
//!     audio.ogg   one Ogg file: two concurrently multiplexed Opus logical streams
//!     meta.json   ids, started_at/ended_at (RFC 3339), codec "opus/48000/2", per-party
//!                 packet, byte and drop counts, duration_ms, complete (RecordingMetadata)
//! ```
//!
//! ## `audio.ogg`
//!
//! - Pages: the customer's `OpusHead` page (beginning of stream), the agent's `OpusHead`
//!   page, the customer's `OpusTags` page, the agent's `OpusTags` page, then audio pages of
//!   both streams interleaved in the order they were completed (so roughly in time order,
//!   one page per stream at least every second). Each stream's last page carries the
//!   end-of-stream flag and its last packet (the newest packet of a stream is held back
//!   until the next one comes, for that); a stream without audio ends with an empty
//!   end-of-stream page at granule position 0.
//! - Serial numbers are derived from the recording id and the party name (FNV-1a). Identify
//!   a stream by its `PARTY` tag, not its serial.
//! - `OpusHead`: version 1, **channel count 2** (the SDP's `opus/48000/2`; mono packets
//!   decode to both channels), **pre-skip 0**, input rate 48000, gain 0, mapping family 0.
//!   Pre-skip is 0 because the packets come from a live encoder that a WebRTC receiver plays
//!   from its very first sample: the recording starts with what the listener heard.
//! - `OpusTags`: vendor `vidid-recorder <version>`; comments `PARTY=customer|agent`,
//!   `RECORDING_ID`, `CALL_ID`, `STARTED_AT` (RFC 3339).
//! - Audio packets are the RTP payloads byte for byte, one Ogg packet each, never split
//!   across pages.
//!
//! ## Timeline and granule positions
//!
//! Every position is in 48 kHz samples since [`RecordingMeta::started`]: sample 0 of both
//! streams is the same instant, and with pre-skip 0 a granule position *is* a position.
//!
//! - A page's granule position is the end of the last packet on the page.
//! - The packets on one page are contiguous: a packet ends where the next one starts, so a
//!   packet's end is the page's granule position minus the durations (from the TOC byte) of
//!   the packets after it on the page.
//! - A page always ends before a packet that does not start exactly where the previous one
//!   ended. So every gap lies between pages: a page's first packet starts at its granule
//!   position minus the durations of all its packets, and if that is later than the
//!   previous page's granule position, the difference is a **gap**: no audio was received
//!   for that time (DTX, loss, a muted party). The first audio page's start is the party's
//!   offset from the start of the recording (e.g. the agent joined 2 s later).
//!
//! Placement, per party: the first packet is placed at its arrival time (rounded down to
//! the 2.5 ms Opus frame grid). Every later packet is placed at that anchor plus the
//! difference of its unwrapped RTP timestamp (the Opus RTP clock is 48 kHz) to the anchor's,
//! so network jitter does not move audio and a silence the sender measured is kept exactly.
//! RTP timestamps (32 bit) and sequence numbers (16 bit) are unwrapped to 64 bits, so both
//! wrap freely. A packet whose predicted position disagrees with its arrival time by more
//! than 10 s (an absurd timestamp jump forward or back), or lies more than the reorder window
//! (100 ms) before the end of the previous packet, re-anchors the party at its arrival time
//! (never before the end of the previous packet); a smaller overlap is clamped to the end of
//! the previous packet. Two consecutive packets more than 100 sequence numbers behind are a
//! sender restart: the party starts over with them, re-anchored.
//!
//! Reordering: each party has a reorder buffer ordered by unwrapped sequence number. A
//! packet is written as soon as it is the next in sequence; with a hole before it, it waits
//! until a packet of either party has arrived 100 ms after it, or more than 8 packets wait.
//! Then the hole is given up (counted as lost; its time is a gap). A packet behind the
//! release point is dropped as late; one whose sequence number is already held or written
//! is dropped as a duplicate. Packets whose TOC byte gives no valid duration are dropped as
//! invalid. All drops are counted in [`RecorderStats`] and per party in `meta.json`.
//!
//! Conformance: RFC 7845 §4 wants granule positions without gaps (and its §4.1 asks muxers
//! to fill gaps with packet-loss-concealment packets). This file deliberately departs from
//! that so that it holds exactly the packets that were received: a gap is a jump of the
//! granule position between pages. Each stream is otherwise a well-formed Ogg Opus stream.
//! Checked with opus-tools 0.2: `opusinfo` reads both streams, warns "sample count behind
//! granule" at each gap and "implausibly low preskip" (pre-skip 0, above), and reports the
//! timeline length; `opusdec` decodes the first (customer) stream with the gaps closed up
//! (a 4 s recording with a 2 s gap decodes to 2 s). So a standard player plays each party's
//! speech, but only [`read_recording`] / [`export_wav`] put it on the true timeline. A
//! strictly conforming copy can be made mechanically by inserting PLC packets (RFC 6716
//! §3.2.1 zero-length frames) into the gaps: anchors lie on the 2.5 ms grid, so gaps are
//! whole Opus frames whenever the sender's timestamps are.
//!
//! ## Durability
//!
//! What a crash of the process can lose: packets still in the queue or the reorder buffers
//! (about 100 ms), each party's newest packet (held back so that the end-of-stream page
//! carries a packet), and pages not yet written out (at most 1 s). A power loss can lose
//! what was not yet fsynced (at most 10 s). [`read_recording`] reads such a cut file up to
//! its last whole page and reports it as truncated.
//!
//! ## Source layout
//!
//! `sink` (the sink, recorder and writer thread), `timeline` (sans-IO reorder and
//! placement, fed with media time), `mux` (Ogg page writer), `output` (the storage seam),
//! `toc` (Opus packet durations), `meta` (`meta.json`), `read`, `export`, `stats`.
//!
//! # Storage: the output seam
//!
//! The Ogg muxer does not know where its bytes go: it writes to a `Box<dyn AudioOutput>`
//! (`Write + Send` plus `sync` and `close(metadata)`) made by the [`OutputFactory`] the sink
//! holds. [`LocalRecordingSink::new`] uses [`LocalFiles`] (`audio.ogg`, described above);
//! `vidid serve` passes the recording vault's factory
//! ([`LocalRecordingSink::with_outputs`]), which encrypts the bytes into chunks on a timer
//! and stores them under WORM retention with a signed manifest (crate `vidid-vault`,
//! `docs/recording-format.md`). Then the recording directory holds only `meta.json`, and
//! the vault reads the audio back through [`read_recording_from`] and
//! [`export_recording_wav`]. Neither the timeline nor the muxer know the difference.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_docs)]

use std::path::PathBuf;
use std::time::Instant;

mod durable;
mod export;
mod meta;
mod mux;
mod output;
mod read;
mod sink;
mod stats;
mod timeline;
mod toc;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use export::{
    ExportOptions, ExportSummary, export_recording_wav, export_recording_wav_bytes, export_wav,
    export_wav_with,
};
pub use meta::{CODEC, PartyCounters, RecordingMetadata, read_metadata};
pub use output::{AudioOutput, LocalFiles, OutputFactory};
pub use read::{
    OpusHead, PartyTrack, RecordedPacket, Recording, read_recording, read_recording_from,
};
pub use sink::{
    DEFAULT_QUEUE_CAPACITY, LocalRecordingSink, MAX_RECORDING_ID_LEN, validate_recording_id,
};
pub use stats::{RecorderStats, StatsSnapshot};
pub use toc::{MAX_PACKET_SAMPLES, SAMPLE_RATE, packet_samples};

/// The Ogg serial number of a party's stream in a recording (FNV-1a of the recording id and
/// the party name; see the crate docs, "Layout").
pub fn stream_serial(recording_id: &str, party: Party) -> u32 {
    mux::serial_for(recording_id, party.as_str())
}

/// Which side of the call a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    /// The customer being identified (left channel in exports).
    Customer,
    /// The agent (right channel in exports).
    Agent,
}

impl Party {
    /// Both parties, customer first.
    pub const ALL: [Party; 2] = [Party::Customer, Party::Agent];

    /// `"customer"` or `"agent"`, as in tags, logs and `meta.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Customer => "customer",
            Party::Agent => "agent",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Party::Customer => 0,
            Party::Agent => 1,
        }
    }
}

/// What the recorder is told when a call's recording starts.
#[derive(Debug, Clone)]
pub struct RecordingMeta {
    /// A safe path component (see [`validate_recording_id`]); names the directory.
    pub recording_id: String,
    /// The call the recording belongs to.
    pub call_id: String,
    /// Wall-clock time of timeline sample 0.
    pub started_at: time::OffsetDateTime,
    /// Monotonic time of timeline sample 0; packet arrivals are measured from it.
    pub started: Instant,
}

/// One Opus RTP packet as the media server received it (after SRTP).
#[derive(Debug, Clone, Copy)]
pub struct AudioPacket<'a> {
    /// Who sent it.
    pub party: Party,
    /// RTP sequence number.
    pub sequence: u16,
    /// RTP timestamp (48 kHz for Opus).
    pub rtp_timestamp: u32,
    /// When the media server received it.
    pub arrival: Instant,
    /// The Opus packet (RTP payload).
    pub payload: &'a [u8],
}

/// What a finished recording is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordingSummary {
    /// The recording's id.
    pub recording_id: String,
    /// The recording directory (what [`read_recording`] and [`export_wav`] take).
    pub path: PathBuf,
    /// End of the last audio packet of either party, in ms since the start.
    pub duration_ms: u64,
    /// The Ogg file inside `path` (with the default [`LocalFiles`] output; with the recording
    /// vault's output the audio is in the vault and this file does not exist).
    pub audio_path: PathBuf,
    /// Opus packets written, both parties.
    pub packets_written: u64,
    /// Packets dropped (duplicate, late, invalid, queue overflow), both parties.
    pub packets_dropped: u64,
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// A file-system or other i/o operation failed.
    #[error("recording i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// The recording id cannot be used as a directory name.
    #[error("invalid recording id {id:?}: {reason}")]
    InvalidRecordingId {
        /// The id (cut to 128 characters).
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A recording with this id exists; recordings are never overwritten.
    #[error("recording already exists: {}", .0.display())]
    AlreadyExists(PathBuf),
    /// A packet whose duration cannot be read from its TOC byte.
    #[error("invalid opus packet: {0}")]
    InvalidOpusPacket(&'static str),
    /// A recording file that is not what this crate writes.
    #[error("malformed recording: {0}")]
    Format(String),
    /// `meta.json` could not be written or read.
    #[error("recording metadata failed: {0}")]
    Metadata(#[from] serde_json::Error),
    /// The Opus decoder failed.
    #[error("opus codec failed: {0}")]
    Codec(String),
    /// The WAV writer failed.
    #[error("wav export failed: {0}")]
    Wav(String),
    /// The recording's writer thread could not start, panicked, or was already joined.
    #[error("recording writer failed: {0}")]
    Writer(String),
}

/// Where recordings go. The media server holds one and starts a recording per call.
pub trait RecordingSink: Send + Sync + 'static {
    /// Start recording a call. Fails if the recording cannot be stored (bad id, existing
    /// recording, file-system error): the call should then not go ahead unrecorded.
    fn start(&self, meta: RecordingMeta) -> Result<Box<dyn CallRecorder>, RecorderError>;
}

/// One call's recording.
pub trait CallRecorder: Send + 'static {
    /// Record one received packet. Never blocks and never does i/o; a packet that cannot be
    /// queued is dropped and counted.
    fn push(&mut self, pkt: AudioPacket<'_>);
    /// End the recording: blocks until everything pushed is written and made durable.
    /// Dropping the recorder instead closes the recording in the background, marked
    /// incomplete.
    fn finish(self: Box<Self>) -> Result<RecordingSummary, RecorderError>;
}

impl From<hound::Error> for RecorderError {
    fn from(e: hound::Error) -> Self {
        match e {
            hound::Error::IoError(e) => RecorderError::Io(e),
            other => RecorderError::Wav(other.to_string()),
        }
    }
}
