//! The compliance portal's view of the recording vault: the [`RecordingLibrary`] seam.
//!
//! `vidid serve` implements it over `vidid_vault` (the same checks as `vidid recording
//! verify`, the same decryption as `vidid recording export`; see `node/src/library.rs`).
//! Plaintext audio is produced in memory for the one request that asked, never on disk.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{ControlError, Result};

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
    /// How the recording stands.
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

/// The recordings as the portal reaches them: the library (if this process has one) and a
/// small cache of decrypted WAVs, so an `<audio>` element's range requests do not decrypt
/// again (at most [`WAV_CACHE_ENTRIES`], for [`WAV_CACHE_TTL`], in memory only).
pub struct Recordings {
    lib: Option<Arc<dyn RecordingLibrary>>,
    cache: Mutex<VecDeque<CachedWav>>,
}

/// Recording id, the WAV, when it was decrypted.
type CachedWav = (String, Arc<Vec<u8>>, Instant);

/// Most WAVs kept decrypted at once.
pub const WAV_CACHE_ENTRIES: usize = 2;
/// How long a decrypted WAV is kept.
pub const WAV_CACHE_TTL: Duration = Duration::from_secs(300);

impl Recordings {
    /// `None`: recordings are not reachable from this process (the portal says so).
    pub fn new(lib: Option<Arc<dyn RecordingLibrary>>) -> Self {
        Recordings {
            lib,
            cache: Mutex::new(VecDeque::new()),
        }
    }

    /// Verifies a recording off the async threads.
    pub async fn check(&self, recording_id: &str) -> RecordingCheck {
        let Some(lib) = self.lib.clone() else {
            return RecordingCheck {
                status: RecordingStatus::Missing,
                problems: vec!["recordings are not reachable from this server".into()],
                duration_ms: None,
            };
        };
        let rid = recording_id.to_string();
        tokio::task::spawn_blocking(move || lib.check(&rid))
            .await
            .unwrap_or_else(|e| RecordingCheck {
                status: RecordingStatus::Failed,
                problems: vec![format!("the check did not finish: {e}")],
                duration_ms: None,
            })
    }

    /// The recording as WAV, decrypted in memory (or from the cache).
    pub async fn wav(&self, recording_id: &str) -> Result<Arc<Vec<u8>>> {
        if let Some(w) = self.cached(recording_id) {
            return Ok(w);
        }
        let lib = self
            .lib
            .clone()
            .ok_or(ControlError::RecordingsUnavailable)?;
        let rid = recording_id.to_string();
        let wav = tokio::task::spawn_blocking(move || lib.wav(&rid))
            .await
            .map_err(|e| ControlError::Internal(e.to_string()))?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    ControlError::Cases(vidid_cases::CasesError::NotFound("recording"))
                }
                _ => {
                    tracing::warn!(recording_id, error = %e, "recording export failed");
                    ControlError::RecordingUnreadable
                }
            })?;
        let wav = Arc::new(wav);
        self.remember(recording_id, wav.clone());
        Ok(wav)
    }

    fn cached(&self, rid: &str) -> Option<Arc<Vec<u8>>> {
        let mut g = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        g.retain(|(_, _, at)| at.elapsed() < WAV_CACHE_TTL);
        g.iter()
            .find(|(r, _, _)| r == rid)
            .map(|(_, b, _)| b.clone())
    }

    fn remember(&self, rid: &str, wav: Arc<Vec<u8>>) {
        let mut g = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        g.retain(|(r, _, _)| r != rid);
        g.push_back((rid.to_string(), wav, Instant::now()));
        while g.len() > WAV_CACHE_ENTRIES {
            g.pop_front();
        }
    }
}

/// The recording ids of a case: one per attempt (`<case id>-<attempt>`, the call id).
pub fn recording_ids(c: &vidid_cases::Case) -> Vec<String> {
    (1..=c.attempts).map(|a| format!("{}-{a}", c.id)).collect()
}
