//! Vault counters for metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one vault. Relaxed atomics; read with [`VaultStats::snapshot`]. All but the
/// gauges (`spool_chunks`, `chain_seq`) only grow.
#[derive(Debug, Default)]
pub struct VaultStats {
    pub(crate) chunks_sealed: AtomicU64,
    pub(crate) bytes_sealed: AtomicU64,
    pub(crate) uploads: AtomicU64,
    pub(crate) bytes_uploaded: AtomicU64,
    pub(crate) upload_retries: AtomicU64,
    pub(crate) spool_chunks: AtomicU64,
    pub(crate) retention_alarms: AtomicU64,
    pub(crate) manifests_written: AtomicU64,
    pub(crate) recordings_recovered: AtomicU64,
    pub(crate) chain_seq: AtomicU64,
}

/// A copy of [`VaultStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct VaultSnapshot {
    /// Encrypted chunks written to the spool.
    pub chunks_sealed: u64,
    /// Their bytes.
    pub bytes_sealed: u64,
    /// Objects stored (chunks, manifests, chain links).
    pub uploads: u64,
    /// Their bytes.
    pub bytes_uploaded: u64,
    /// Failed store attempts that will be retried.
    pub upload_retries: u64,
    /// Chunks in the spool waiting to be stored (a gauge).
    pub spool_chunks: u64,
    /// Objects whose retention read back missing or short (each one is an error log line).
    pub retention_alarms: u64,
    /// Manifests signed and stored.
    pub manifests_written: u64,
    /// Recordings of a previous process closed as incomplete at start-up.
    pub recordings_recovered: u64,
    /// The chain's head sequence number (a gauge).
    pub chain_seq: u64,
}

impl VaultStats {
    /// Read all counters.
    pub fn snapshot(&self) -> VaultSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        VaultSnapshot {
            chunks_sealed: g(&self.chunks_sealed),
            bytes_sealed: g(&self.bytes_sealed),
            uploads: g(&self.uploads),
            bytes_uploaded: g(&self.bytes_uploaded),
            upload_retries: g(&self.upload_retries),
            spool_chunks: g(&self.spool_chunks),
            retention_alarms: g(&self.retention_alarms),
            manifests_written: g(&self.manifests_written),
            recordings_recovered: g(&self.recordings_recovered),
            chain_seq: g(&self.chain_seq),
        }
    }

    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(c: &AtomicU64, n: u64) {
        let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(n))
        });
    }
}
