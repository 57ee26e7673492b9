//! Process-wide recorder counters for metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by a [`crate::LocalRecordingSink`] and all its recordings. Cheap to update
/// (relaxed atomics); read them with [`RecorderStats::snapshot`]. All counters but
/// `recordings_active` only ever grow, so they map to Prometheus counters.
#[derive(Debug, Default)]
pub struct RecorderStats {
    pub(crate) recordings_active: AtomicU64,
    pub(crate) recordings_started: AtomicU64,
    pub(crate) recordings_completed: AtomicU64,
    pub(crate) recordings_incomplete: AtomicU64,
    pub(crate) recordings_failed: AtomicU64,
    pub(crate) packets_written: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) dropped_late: AtomicU64,
    pub(crate) dropped_duplicate: AtomicU64,
    pub(crate) dropped_overflow: AtomicU64,
    pub(crate) dropped_invalid: AtomicU64,
}

/// A point-in-time copy of [`RecorderStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Recordings whose writer thread is running (a gauge).
    pub recordings_active: u64,
    /// Recordings started.
    pub recordings_started: u64,
    /// Recordings finished with `finish` and written completely.
    pub recordings_completed: u64,
    /// Recordings closed because their recorder was dropped without `finish` (the file is
    /// whole, but `meta.json` says `complete: false`).
    pub recordings_incomplete: u64,
    /// Recordings whose writer hit an error (the error is in their `meta.json`).
    pub recordings_failed: u64,
    /// Opus packets written to recordings.
    pub packets_written: u64,
    /// Ogg bytes written to storage (payload plus page overhead).
    pub bytes_written: u64,
    /// Packets that arrived after their place was written (reorder window passed).
    pub dropped_late: u64,
    /// Packets whose sequence number was already held or written.
    pub dropped_duplicate: u64,
    /// Packets dropped because a recording's queue was full (the writer fell behind).
    pub dropped_overflow: u64,
    /// Packets that are not valid Opus (no duration can be read from the TOC byte).
    pub dropped_invalid: u64,
}

impl StatsSnapshot {
    /// All dropped packets, whatever the reason.
    pub fn packets_dropped(&self) -> u64 {
        self.dropped_late + self.dropped_duplicate + self.dropped_overflow + self.dropped_invalid
    }
}

impl RecorderStats {
    /// Read all counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            recordings_active: get(&self.recordings_active),
            recordings_started: get(&self.recordings_started),
            recordings_completed: get(&self.recordings_completed),
            recordings_incomplete: get(&self.recordings_incomplete),
            recordings_failed: get(&self.recordings_failed),
            packets_written: get(&self.packets_written),
            bytes_written: get(&self.bytes_written),
            dropped_late: get(&self.dropped_late),
            dropped_duplicate: get(&self.dropped_duplicate),
            dropped_overflow: get(&self.dropped_overflow),
            dropped_invalid: get(&self.dropped_invalid),
        }
    }

    /// Recordings whose writer thread is running.
    pub fn recordings_active(&self) -> u64 {
        self.recordings_active.load(Ordering::Relaxed)
    }

    /// Opus packets written.
    pub fn packets_written(&self) -> u64 {
        self.packets_written.load(Ordering::Relaxed)
    }

    /// Ogg bytes written to storage.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Packets dropped for any reason (late, duplicate, overflow, invalid).
    pub fn packets_dropped(&self) -> u64 {
        self.snapshot().packets_dropped()
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
