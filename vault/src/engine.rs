//! The vault's engine: upload workers, retries, the manifest and chain at the end of a
//! recording, and recovery of a previous process's spool.
//!
//! Jobs are `Upload(recording, chunk)` and `Finalize(recording)`. A worker takes the first
//! job that is due; a failed job goes back with a later due time (0.5 s doubling up to
//! `retry_max_secs`) — nothing is ever dropped: while the store is unreachable, chunks stay in
//! the spool and the jobs keep coming round. Finalizing holds the chain lock, so manifests
//! enter the deployment's chain one at a time.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use vidid_recorder::{Party, RecordingMetadata, stream_serial};

use crate::VaultError;
use crate::config::VaultConfig;
use crate::format::ChunkHeader;
use crate::keys::{KeyProvider, ManifestSigner};
use crate::manifest::{
    ChainLinkRecord, ChainPosition, Codec, Encryption, GENESIS, MANIFEST_FORMAT, Manifest,
    ManifestObject, Participant, RetentionInfo, StreamInfo, canonical_record, chain_key, chunk_key,
    manifest_key, parse_manifest, sha256_hex, sign_manifest,
};
use crate::spool::{ChunkReceipt, Closed, RecordingState, Spool};
use crate::stats::VaultStats;
use crate::store::{
    COMPLIANCE, PutOptions, RecordingStore, StoreError, StoredObject, rfc3339, whole_seconds,
};

/// A unit of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Job {
    Upload { id: String, index: u32 },
    Finalize { id: String },
}

struct Pending {
    job: Job,
    due: Instant,
    attempt: u32,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Pending>,
    /// Recordings with a Finalize job queued or running.
    finalizing: HashSet<String>,
    busy: usize,
    stopping: bool,
}

/// The head of the deployment's hash chain.
#[derive(Debug, Clone)]
pub(crate) struct ChainHead {
    pub seq: u64,
    pub sha256: String,
    pub recording_id: Option<String>,
}

/// State shared by the outputs, the workers and the vault handle.
pub(crate) struct Core {
    pub cfg: VaultConfig,
    pub store: Arc<dyn RecordingStore>,
    pub keys: Arc<dyn KeyProvider>,
    pub signer: Arc<dyn ManifestSigner>,
    pub spool: Spool,
    pub stats: Arc<VaultStats>,
    queue: Mutex<Queue>,
    work: Condvar,
    chain: Mutex<ChainHead>,
    /// Recordings whose `close` waits for their manifest: id → stored yet.
    waiting: Mutex<std::collections::HashMap<String, bool>>,
    done_cv: Condvar,
}

/// `t` plus whole calendar years (29 February becomes 1 March).
pub(crate) fn add_years(t: OffsetDateTime, years: u32) -> OffsetDateTime {
    let year = t.year() + years as i32;
    t.replace_year(year).unwrap_or_else(|_| {
        (t + time::Duration::days(1))
            .replace_year(year)
            .unwrap_or(t + time::Duration::days(365 * i64::from(years)))
    })
}

impl Core {
    pub fn new(
        cfg: VaultConfig,
        store: Arc<dyn RecordingStore>,
        keys: Arc<dyn KeyProvider>,
        signer: Arc<dyn ManifestSigner>,
        spool: Spool,
        head: ChainHead,
    ) -> Self {
        let stats = Arc::new(VaultStats::default());
        stats
            .chain_seq
            .store(head.seq, std::sync::atomic::Ordering::Relaxed);
        Self {
            cfg,
            store,
            keys,
            signer,
            spool,
            stats,
            queue: Mutex::default(),
            work: Condvar::new(),
            chain: Mutex::new(head),
            waiting: Mutex::default(),
            done_cv: Condvar::new(),
        }
    }

    /// Retain-until of the objects a recording stores while it runs.
    pub fn initial_retain_until(&self, started_at: OffsetDateTime) -> OffsetDateTime {
        whole_seconds(
            add_years(started_at, self.cfg.retention_years)
                + time::Duration::days(i64::from(self.cfg.retention_margin_days)),
        ) + time::Duration::seconds(1)
    }

    pub fn enqueue(&self, job: Job) {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if let Job::Finalize { id } = &job
            && !q.finalizing.insert(id.clone())
        {
            return;
        }
        q.jobs.push(Pending {
            job,
            due: Instant::now(),
            attempt: 0,
        });
        self.work.notify_one();
    }

    /// Queue the recording's Finalize job if it is closed and every chunk is stored.
    pub fn maybe_finalize(&self, id: &str) -> Result<(), VaultError> {
        let Some(closed) = self.spool.closed(id)? else {
            return Ok(());
        };
        let (pending, stored) = self.spool.contents(id)?;
        if pending.is_empty() && (0..closed.chunks).all(|i| stored.binary_search(&i).is_ok()) {
            self.enqueue(Job::Finalize { id: id.to_owned() });
        }
        Ok(())
    }

    /// Announce that [`Core::wait_finalized`] will be called for `id` (before closing it,
    /// so that a quick finalize is not missed).
    pub fn expect_finalized(&self, id: &str) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), false);
    }

    /// Wait until the recording's manifest is stored, at most `timeout` (after
    /// [`Core::expect_finalized`]).
    pub fn wait_finalized(&self, id: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if waiting.get(id) != Some(&false) {
                waiting.remove(id);
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                waiting.remove(id);
                return false;
            };
            waiting = self
                .done_cv
                .wait_timeout(waiting, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Wait until no job is queued or running, at most `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        while !q.jobs.is_empty() || q.busy > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            q = self
                .work
                .wait_timeout(q, left.min(Duration::from_millis(100)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    pub fn stop(&self) {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.stopping = true;
        self.work.notify_all();
    }

    /// A worker thread's loop.
    pub fn work(self: &Arc<Self>) {
        loop {
            let pending = {
                let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if q.stopping {
                        return;
                    }
                    let now = Instant::now();
                    if let Some(pos) = q.jobs.iter().position(|p| p.due <= now) {
                        q.busy += 1;
                        break q.jobs.remove(pos);
                    }
                    let wait = q
                        .jobs
                        .iter()
                        .map(|p| p.due - now)
                        .min()
                        .unwrap_or(Duration::from_secs(1));
                    q = self
                        .work
                        .wait_timeout(q, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            };
            let result = match &pending.job {
                Job::Upload { id, index } => self.upload_chunk(id, *index),
                Job::Finalize { id } => self.finalize(id),
            };
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.busy -= 1;
            match result {
                Ok(()) => {
                    if let Job::Finalize { id } = &pending.job {
                        q.finalizing.remove(id);
                    }
                }
                Err(e) => {
                    VaultStats::add(&self.stats.upload_retries, 1);
                    let attempt = pending.attempt + 1;
                    let backoff = Duration::from_millis(500)
                        .saturating_mul(1 << attempt.min(16))
                        .min(Duration::from_secs(self.cfg.retry_max_secs.max(1)));
                    let what = match &pending.job {
                        Job::Upload { id, index } => format!("store chunk {index} of {id}"),
                        Job::Finalize { id } => format!("finalize {id}"),
                    };
                    if !attempt.is_power_of_two() {
                        // Logged at 1, 2, 4, 8, … failures of the same job, not every retry.
                        tracing::debug!(job = %what, attempt, error = %e, "vault job failed, will retry");
                    } else if e.is_transient() {
                        tracing::warn!(job = %what, attempt, retry_in_ms = backoff.as_millis() as u64, error = %e, "vault job failed, will retry");
                    } else {
                        tracing::error!(job = %what, attempt, retry_in_ms = backoff.as_millis() as u64, error = %e, "vault job failed (not transient), will retry");
                    }
                    q.jobs.push(Pending {
                        job: pending.job,
                        due: Instant::now() + backoff,
                        attempt,
                    });
                }
            }
            self.work.notify_all();
        }
    }

    /// Store an object once: an existing object with the same content is success (a retry
    /// after a lost reply); one with other content is a conflict.
    pub(crate) fn put_once(
        &self,
        key: &str,
        body: &[u8],
        opts: &PutOptions,
    ) -> Result<StoredObject, VaultError> {
        if let Some(existing) = self.store.head(key)? {
            return self.same_content(
                key,
                body,
                opts,
                existing.size,
                existing.sha256,
                existing.version_id,
            );
        }
        match self.store.put(key, body, opts) {
            Ok(s) => {
                VaultStats::add(&self.stats.uploads, 1);
                VaultStats::add(&self.stats.bytes_uploaded, body.len() as u64);
                Ok(s)
            }
            Err(StoreError::AlreadyExists(_)) => {
                let existing = self
                    .store
                    .head(key)?
                    .ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
                self.same_content(
                    key,
                    body,
                    opts,
                    existing.size,
                    existing.sha256,
                    existing.version_id,
                )
            }
            Err(e) => Err(e.into()),
        }
    }

    fn same_content(
        &self,
        key: &str,
        body: &[u8],
        opts: &PutOptions,
        size: u64,
        sha256: Option<String>,
        version_id: Option<String>,
    ) -> Result<StoredObject, VaultError> {
        let want = hex::encode(opts.sha256);
        let same = match sha256 {
            Some(h) => h == want && size == body.len() as u64,
            None => sha256_hex(&self.store.get(key, version_id.as_deref())?) == want,
        };
        if same {
            Ok(StoredObject {
                key: key.to_owned(),
                version_id,
                size,
            })
        } else {
            Err(VaultError::Conflict(key.to_owned()))
        }
    }

    /// Read back an object's retention; alarm (error log, counter) and try to set it if it
    /// is missing or short. A transient failure to read it is an error (the job is retried).
    pub(crate) fn check_retention(
        &self,
        key: &str,
        version_id: Option<&str>,
        want: OffsetDateTime,
    ) -> Result<bool, VaultError> {
        let found = self.store.retention(key, version_id)?;
        let ok = |r: &Option<crate::store::Retention>| {
            r.as_ref().is_some_and(|r| {
                r.mode == COMPLIANCE
                    && r.retain_until >= whole_seconds(want) - time::Duration::seconds(1)
            })
        };
        if ok(&found) {
            return Ok(true);
        }
        VaultStats::add(&self.stats.retention_alarms, 1);
        tracing::error!(
            alarm = "retention",
            key,
            version_id,
            found = ?found,
            want_until = %rfc3339(want),
            "RETENTION ALARM: stored object lacks the required COMPLIANCE retention; setting it"
        );
        match self.store.extend_retention(key, version_id, want) {
            Ok(()) => {
                let again = self.store.retention(key, version_id)?;
                if ok(&again) {
                    tracing::warn!(key, "retention set after the alarm");
                } else {
                    tracing::error!(alarm = "retention", key, found = ?again, "retention still missing after setting it: the store does not enforce object lock");
                }
            }
            Err(e) => {
                tracing::error!(alarm = "retention", key, error = %e, "cannot set the retention")
            }
        }
        Ok(false)
    }

    fn upload_chunk(&self, id: &str, index: u32) -> Result<(), VaultError> {
        if self.spool.receipt(id, index)?.is_some() {
            return Ok(());
        }
        let path = self.spool.chunk_path(id, index);
        let bytes = std::fs::read(&path)?;
        let header = ChunkHeader::parse(&bytes)?;
        let state = self.spool.state(id)?;
        let sha = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(sha.as_ref());
        let key = chunk_key(id, index);
        let opts = PutOptions {
            retain_until: state.retain_until,
            tags: state.tags.clone(),
            sha256,
            content_type: "application/octet-stream",
        };
        let stored = self.put_once(&key, &bytes, &opts)?;
        self.check_retention(&key, stored.version_id.as_deref(), state.retain_until)?;
        let receipt = ChunkReceipt {
            index,
            key,
            size: bytes.len() as u64,
            sha256: hex::encode(sha256),
            version_id: stored.version_id,
            final_chunk: header.final_chunk,
            plaintext_bytes: crate::format::plaintext_len(&header, bytes.len())?,
            kek_id: header.kek_id,
            sealed_at: self.spool.sealed_at(id, index),
        };
        self.spool.stored(id, &receipt)?;
        VaultStats::sub(&self.stats.spool_chunks, 1);
        tracing::debug!(
            recording_id = id,
            index,
            bytes = bytes.len(),
            "chunk stored"
        );
        self.maybe_finalize(id)
    }

    fn finalize(&self, id: &str) -> Result<(), VaultError> {
        let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.spool.exists(id) {
            return Ok(());
        }
        let state = self.spool.state(id)?;
        let closed = self
            .spool
            .closed(id)?
            .ok_or_else(|| VaultError::Spool(format!("{id} is not closed")))?;
        let mut receipts = Vec::with_capacity(closed.chunks as usize);
        for i in 0..closed.chunks {
            receipts.push(
                self.spool
                    .receipt(id, i)?
                    .ok_or_else(|| VaultError::Spool(format!("chunk {i} of {id} not stored")))?,
            );
        }
        let mkey = manifest_key(id);
        if self.store.head(&mkey)?.is_some() {
            // Stored by an earlier attempt whose process died before the chain link.
            let signed = parse_manifest(&self.store.get(&mkey, None)?)?;
            let pos = &signed.manifest.chain;
            if pos.seq == chain.seq + 1 && pos.prev_manifest_sha256 == chain.sha256 {
                self.put_link(
                    &mut chain,
                    id,
                    &mkey,
                    &signed.sha256,
                    state.retain_until,
                    &state.tags,
                )?;
            } else if pos.seq > chain.seq {
                return Err(VaultError::Spool(format!(
                    "manifest of {id} has chain position {} but the head is {}",
                    pos.seq, chain.seq
                )));
            }
            return self.done(id);
        }

        // Retention: end + years; objects stored during the call carry start + years +
        // margin, which covers it unless the recording outlasted the margin.
        let end = closed
            .metadata
            .as_ref()
            .and_then(|m| m.ended_at)
            .or_else(|| receipts.last().map(|r| r.sealed_at))
            .unwrap_or(closed.closed_at);
        let required =
            whole_seconds(add_years(end, self.cfg.retention_years)) + time::Duration::seconds(1);
        let mut retain_until = state.retain_until;
        if required > retain_until {
            for r in &receipts {
                self.store
                    .extend_retention(&r.key, r.version_id.as_deref(), required)?;
            }
            retain_until = required;
            tracing::info!(recording_id = id, retain_until = %rfc3339(required), "retention extended to the recording's end");
        }

        let manifest = self.build_manifest(&state, &closed, &receipts, retain_until, &chain);
        let (bytes, hash) = sign_manifest(&manifest, self.signer.as_ref())?;
        let opts = PutOptions {
            retain_until,
            tags: state.tags.clone(),
            sha256: digest(&bytes),
            content_type: "application/json",
        };
        let stored = self.put_once(&mkey, &bytes, &opts)?;
        self.check_retention(&mkey, stored.version_id.as_deref(), retain_until)?;
        self.put_link(&mut chain, id, &mkey, &hash, retain_until, &state.tags)?;
        VaultStats::add(&self.stats.manifests_written, 1);
        tracing::info!(
            recording_id = id,
            complete = manifest.complete,
            chunks = receipts.len(),
            chain_seq = chain.seq,
            manifest_sha256 = %hash,
            "recording manifest signed and stored"
        );
        self.done(id)
    }

    fn done(&self, id: &str) -> Result<(), VaultError> {
        self.spool.remove(id)?;
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stored) = waiting.get_mut(id) {
            *stored = true;
            self.done_cv.notify_all();
        }
        Ok(())
    }

    fn put_link(
        &self,
        chain: &mut ChainHead,
        id: &str,
        mkey: &str,
        hash: &str,
        retain_until: OffsetDateTime,
        tags: &[(String, String)],
    ) -> Result<(), VaultError> {
        let seq = chain.seq + 1;
        let link = ChainLinkRecord {
            seq,
            recording_id: id.to_owned(),
            manifest_key: mkey.to_owned(),
            manifest_sha256: hash.to_owned(),
            prev_manifest_sha256: chain.sha256.clone(),
        };
        let bytes = canonical_record(&link)?;
        let key = chain_key(&self.cfg.deployment_id, seq);
        let opts = PutOptions {
            retain_until,
            tags: tags.to_vec(),
            sha256: digest(&bytes),
            content_type: "application/json",
        };
        let stored = self.put_once(&key, &bytes, &opts)?;
        self.check_retention(&key, stored.version_id.as_deref(), retain_until)?;
        *chain = ChainHead {
            seq,
            sha256: hash.to_owned(),
            recording_id: Some(id.to_owned()),
        };
        self.stats
            .chain_seq
            .store(seq, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn build_manifest(
        &self,
        state: &RecordingState,
        closed: &Closed,
        receipts: &[ChunkReceipt],
        retain_until: OffsetDateTime,
        chain: &ChainHead,
    ) -> Manifest {
        let meta: Option<&RecordingMetadata> = closed.metadata.as_ref();
        let participants = meta.map_or_else(Vec::new, |m| {
            Party::ALL
                .iter()
                .map(|&p| {
                    let c = m.party(p);
                    Participant {
                        party: p.as_str().to_owned(),
                        packets: c.packets,
                        bytes: c.bytes,
                        first_sample: c.first_sample,
                        end_sample: c.end_sample,
                        lost: c.lost,
                        dropped: c.duplicates + c.late + c.invalid + c.overflow,
                    }
                })
                .collect()
        });
        let complete = closed.complete && meta.is_some_and(|m| m.complete);
        let reason = if complete {
            None
        } else {
            closed.reason.clone().or_else(|| {
                Some("the recording was closed without the call being finished".to_owned())
            })
        };
        Manifest {
            format: MANIFEST_FORMAT.into(),
            deployment_id: self.cfg.deployment_id.clone(),
            recording_id: state.recording_id.clone(),
            call_id: state.call_id.clone(),
            case_id: state.case_id.clone(),
            started_at: rfc3339(state.started_at),
            ended_at: meta.and_then(|m| m.ended_at).map(rfc3339),
            closed_at: rfc3339(OffsetDateTime::now_utc()),
            duration_ms: meta.map(|m| m.duration_ms),
            complete,
            incomplete_reason: reason,
            codec: Codec {
                container: "ogg".into(),
                codec: "opus".into(),
                rtp_codec: vidid_recorder::CODEC.into(),
                pre_skip: meta.map_or(0, |m| m.pre_skip),
                streams: Party::ALL
                    .iter()
                    .map(|&p| StreamInfo {
                        party: p.as_str().to_owned(),
                        serial: meta.map_or_else(
                            || stream_serial(&state.recording_id, p),
                            |m| m.party(p).serial,
                        ),
                    })
                    .collect(),
            },
            participants,
            encryption: Encryption {
                scheme: "vidid-stream/1".into(),
                kek_id: receipts.first().map(|r| r.kek_id.clone()),
                segment_size: state.segment_size,
                chunk_interval_ms: state.chunk_interval_ms,
            },
            objects: receipts
                .iter()
                .map(|r| ManifestObject {
                    key: r.key.clone(),
                    index: r.index,
                    size: r.size,
                    sha256: r.sha256.clone(),
                    version_id: r.version_id.clone(),
                    final_chunk: r.final_chunk,
                    plaintext_bytes: r.plaintext_bytes,
                    sealed_at: rfc3339(r.sealed_at),
                })
                .collect(),
            retention: RetentionInfo {
                mode: COMPLIANCE.into(),
                retain_until: rfc3339(retain_until),
                years: self.cfg.retention_years,
                tags: state.tags.iter().cloned().collect(),
            },
            chain: ChainPosition {
                seq: chain.seq + 1,
                prev_manifest_sha256: chain.sha256.clone(),
                prev_recording_id: chain.recording_id.clone(),
            },
            signing_key_id: self.signer.key_id(),
            software: concat!("vidid ", env!("CARGO_PKG_VERSION")).into(),
        }
    }

    /// Pick up the spool a previous process left: recordings it did not close are closed as
    /// incomplete; every spooled chunk is queued; closed recordings are finalized.
    pub fn recover(&self) -> Result<usize, VaultError> {
        let mut found = 0;
        for id in self.spool.recordings()? {
            let (pending, stored) = self.spool.contents(&id)?;
            if self.spool.state(&id).is_err() {
                if pending.is_empty() && stored.is_empty() {
                    tracing::warn!(recording_id = %id, "removing an empty spool directory");
                    self.spool.remove(&id)?;
                } else {
                    tracing::error!(recording_id = %id, "spool directory without recording.json; left for inspection");
                }
                continue;
            }
            found += 1;
            if self.spool.closed(&id)?.is_none() {
                let chunks = pending
                    .iter()
                    .chain(stored.iter())
                    .max()
                    .map_or(0, |m| m + 1);
                self.spool.close(
                    &id,
                    &Closed {
                        complete: false,
                        reason: Some(
                            "the server stopped during the recording (crash or kill); closed as \
                             incomplete when it restarted"
                                .into(),
                        ),
                        metadata: None,
                        chunks,
                        closed_at: OffsetDateTime::now_utc(),
                    },
                )?;
                VaultStats::add(&self.stats.recordings_recovered, 1);
                tracing::warn!(recording_id = %id, chunks, "recording of a previous process closed as incomplete");
            }
            VaultStats::add(&self.stats.spool_chunks, pending.len() as u64);
            for index in pending {
                self.enqueue(Job::Upload {
                    id: id.clone(),
                    index,
                });
            }
            self.maybe_finalize(&id)?;
        }
        Ok(found)
    }
}

pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Find the chain head in the store: chain links are written in sequence and never removed,
/// so probe 1, 2, 4, … then bisect (O(log n) HEAD requests).
pub(crate) fn find_chain_head(
    store: &dyn RecordingStore,
    deployment_id: &str,
) -> Result<ChainHead, VaultError> {
    let exists = |n: u64| -> Result<bool, VaultError> {
        Ok(store.head(&chain_key(deployment_id, n))?.is_some())
    };
    if !exists(1)? {
        return Ok(ChainHead {
            seq: 0,
            sha256: GENESIS.into(),
            recording_id: None,
        });
    }
    let (mut lo, mut hi) = (1u64, 2u64);
    while exists(hi)? {
        lo = hi;
        hi = hi.saturating_mul(2);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if exists(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let bytes = store.get(&chain_key(deployment_id, lo), None)?;
    let link: ChainLinkRecord = serde_json::from_slice(&bytes)
        .map_err(|e| VaultError::Spool(format!("chain link {lo} is malformed: {e}")))?;
    Ok(ChainHead {
        seq: lo,
        sha256: link.manifest_sha256,
        recording_id: Some(link.recording_id),
    })
}
