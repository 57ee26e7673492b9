//! The compliance portal's view of the recording vault: the [`RecordingLibrary`] seam.
//!
//! `vidid serve` implements it over `vidid_vault` (the same checks as `vidid recording
//! verify`, the same decryption as `vidid recording export`; see `cli/src/library.rs`).
//! Plaintext audio is produced in memory for the one request that asked, never on disk.

/// How a recording stands, from the vault's verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// Signature, chain, every object's hash and tag check out, and it is complete.
    Verified,
    /// Authentic, but the recording ended early (e.g. the media node died mid-call).
    Incomplete,
    /// A check failed: tampered, damaged or missing objects.
    Failed,
    /// No recording with that id in the store.
    Missing,
}

/// What the verification found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordingCheck {
    pub status: RecordingStatus,
    /// What failed or is odd, in words.
    pub problems: Vec<String>,
    /// Duration of the recorded timeline, when known.
    pub duration_ms: Option<u64>,
}

/// Blocking: call from `spawn_blocking`.
pub trait RecordingLibrary: Send + Sync + 'static {
    /// Verifies a recording.
    fn check(&self, recording_id: &str) -> RecordingCheck;
    /// The recording as a 48 kHz 16-bit stereo WAV (customer left, agent right).
    fn wav(&self, recording_id: &str) -> std::io::Result<Vec<u8>>;
}
