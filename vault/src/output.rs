//! The recorder's output into the vault: Ogg bytes in, encrypted chunks out.
//!
//! The recorder's writer thread writes Ogg pages; this output keeps them in memory and seals
//! them into a chunk (encrypts, writes to the spool, queues the upload) when the chunk is
//! due: on the first of the writer's once-a-second flushes at which the chunk's first byte is
//! `chunk_interval - 1 s` old (so a chunk is open at most `chunk_interval`), on `sync`, at
//! 4 MiB, and at `close` (the final chunk). The stored recording trails the live one by at
//! most `chunk_interval` plus the writer's page flush (1 s), its reorder window (0.1 s) and
//! the upload time.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use vidid_recorder::{AudioOutput, OutputFactory, RecordingMeta, RecordingMetadata};

use crate::engine::{Core, Job};
use crate::format::{Dek, SealParams, rng, seal_chunk};
use crate::spool::{Closed, RecordingState};
use crate::stats::VaultStats;

/// How often the recorder's writer flushes its output (at least).
const FLUSH_PERIOD: Duration = Duration::from_secs(1);
/// A chunk is sealed early when its plaintext reaches this size.
const MAX_CHUNK_PLAINTEXT: usize = 4 * 1024 * 1024;

/// Makes a [`VaultOutput`] per recording (give it to
/// `LocalRecordingSink::with_outputs`).
pub struct VaultOutputs {
    pub(crate) core: Arc<Core>,
}

impl OutputFactory for VaultOutputs {
    /// Creates the recording's spool directory and `recording.json` (no fsync, no network,
    /// no key operation: this runs on the media thread).
    fn create(
        &self,
        meta: &RecordingMeta,
        _recording_dir: &Path,
    ) -> io::Result<Box<dyn AudioOutput>> {
        let core = &self.core;
        let case_id = meta.call_id.clone();
        let state = RecordingState {
            recording_id: meta.recording_id.clone(),
            call_id: meta.call_id.clone(),
            tags: core.cfg.tags(&case_id),
            case_id,
            started_at: meta.started_at,
            retain_until: core.initial_retain_until(meta.started_at),
            segment_size: core.cfg.segment_size,
            chunk_interval_ms: core.cfg.chunk_interval().as_millis() as u64,
        };
        core.spool.create(&state)?;
        Ok(Box::new(VaultOutput {
            core: Arc::clone(core),
            recording_id: meta.recording_id.clone(),
            interval: core.cfg.chunk_interval(),
            wait: Duration::from_secs(core.cfg.finish_wait_secs),
            buf: Vec::with_capacity(64 * 1024),
            first_write: None,
            next_index: 0,
            key: None,
            closed: false,
        }))
    }
}

/// One recording's output (see the module docs).
pub struct VaultOutput {
    core: Arc<Core>,
    recording_id: String,
    interval: Duration,
    wait: Duration,
    buf: Vec<u8>,
    /// When the first byte of the open chunk was written.
    first_write: Option<Instant>,
    next_index: u32,
    /// The DEK, and its KEK id and wrapped form; made at the first seal (on this thread, so a
    /// remote KMS never runs on the media thread).
    key: Option<(Dek, String, Vec<u8>)>,
    closed: bool,
}

impl VaultOutput {
    fn seal(&mut self, final_chunk: bool) -> io::Result<()> {
        let (dek, kek_id, wrapped) = match &mut self.key {
            Some(k) => &*k,
            slot @ None => {
                let dek = Dek::generate(rng()).map_err(io::Error::other)?;
                let (kek_id, wrapped) = self
                    .core
                    .keys
                    .wrap(&dek, &self.recording_id)
                    .map_err(io::Error::other)?;
                &*slot.insert((dek, kek_id, wrapped))
            }
        };
        let index = self.next_index;
        let sealed = seal_chunk(
            &SealParams {
                recording_id: &self.recording_id,
                chunk_index: index,
                final_chunk,
                segment_size: self.core.cfg.segment_size,
                kek_id,
                wrapped_dek: wrapped,
                dek,
            },
            &self.buf,
            rng(),
        )
        .map_err(io::Error::other)?;
        self.core
            .spool
            .write_chunk(&self.recording_id, index, &sealed)?;
        let stats = &self.core.stats;
        VaultStats::add(&stats.chunks_sealed, 1);
        VaultStats::add(&stats.bytes_sealed, sealed.len() as u64);
        VaultStats::add(&stats.spool_chunks, 1);
        self.core.enqueue(Job::Upload {
            id: self.recording_id.clone(),
            index,
        });
        self.next_index += 1;
        self.buf.clear();
        self.first_write = None;
        Ok(())
    }

    fn mark_closed(&mut self, closed: &Closed) -> io::Result<()> {
        self.closed = true;
        self.core.spool.close(&self.recording_id, closed)?;
        self.core
            .maybe_finalize(&self.recording_id)
            .map_err(io::Error::other)
    }
}

impl Write for VaultOutput {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Err(io::Error::other("recording output already closed"));
        }
        if self.first_write.is_none() && !data.is_empty() {
            self.first_write = Some(Instant::now());
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= MAX_CHUNK_PLAINTEXT {
            self.seal(false)?;
        }
        Ok(data.len())
    }

    /// Seals the open chunk if it is due (the recorder flushes at least every second).
    fn flush(&mut self) -> io::Result<()> {
        // The recorder flushes about once a second: seal a chunk at the flush that brings it
        // within a second of the interval, so no chunk stays open longer than the interval.
        let due = self.interval.saturating_sub(FLUSH_PERIOD);
        if !self.closed && self.first_write.is_some_and(|t| t.elapsed() >= due) {
            self.seal(false)?;
        }
        Ok(())
    }
}

impl AudioOutput for VaultOutput {
    fn sync(&mut self) -> io::Result<()> {
        if !self.closed && !self.buf.is_empty() {
            self.seal(false)?;
        }
        Ok(())
    }

    /// Seals the final chunk, records how the recording ended, and waits (at most
    /// `finish_wait_secs`) for the manifest to be stored. After that the recording is durable
    /// in the spool and is finished in the background.
    fn close(&mut self, metadata: &RecordingMetadata) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.seal(true)?;
        self.core.expect_finalized(&self.recording_id);
        self.mark_closed(&Closed {
            complete: metadata.complete,
            reason: (!metadata.complete)
                .then(|| "the recorder was dropped without finishing the call".to_owned()),
            metadata: Some(metadata.clone()),
            chunks: self.next_index,
            closed_at: OffsetDateTime::now_utc(),
        })?;
        if !self.core.wait_finalized(&self.recording_id, self.wait) {
            tracing::warn!(
                recording_id = %self.recording_id,
                waited_secs = self.wait.as_secs(),
                "recording is durable in the spool; its manifest will be stored when the store accepts it"
            );
        }
        Ok(())
    }
}

impl Drop for VaultOutput {
    /// The writer failed: seal what is buffered and close the recording as incomplete.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if !self.buf.is_empty()
            && let Err(e) = self.seal(false)
        {
            tracing::error!(recording_id = %self.recording_id, error = %e, "cannot seal the last chunk of a failed recording");
        }
        let closed = Closed {
            complete: false,
            reason: Some("the recording's writer failed; closed with what was sealed".into()),
            metadata: None,
            chunks: self.next_index,
            closed_at: OffsetDateTime::now_utc(),
        };
        if let Err(e) = self.mark_closed(&closed) {
            tracing::error!(recording_id = %self.recording_id, error = %e, "cannot close a failed recording; the next start will");
        }
    }
}
