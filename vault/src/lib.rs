//! The recording vault: call audio encrypted in the process, streamed to WORM storage while
//! the call runs, locked for 20 years, signed, and verifiable by anyone.
//!
//! The law keeps identification recordings 20 years, unaltered (rulebook art. 7); a trust
//! service provider must be able to prove that years later. The recorder (`vidid-recorder`)
//! produces a bit-exact Ogg Opus byte stream per call; this crate turns it into evidence.
//!
//! # Flow
//!
//! 1. [`Vault::open`] (at `vidid serve`): creates the keys on first start
//!    (`<data-dir>/keys/`, [`keys`]), opens the store ([`store::LocalStore`] or
//!    [`store::S3Store`]), checks it enforces WORM (S3: Object Lock with a COMPLIANCE
//!    default, else it refuses to start, naming the problem), publishes the signing public
//!    key, finds the head of the deployment's manifest chain, locks and recovers the spool
//!    (recordings a killed process left are closed as incomplete), and starts the upload
//!    workers.
//! 2. [`Vault::outputs`] goes to `LocalRecordingSink::with_outputs`: every recording's Ogg
//!    bytes go to a [`output::VaultOutput`] on the recorder's writer thread. It seals a
//!    **chunk** every `max_loss_secs / 2` seconds of audio (and at the end): a fresh
//!    independent STREAM ciphertext (AES-256-GCM, HKDF-SHA256, [`mod@format`]) under the
//!    recording's DEK, written to the spool, then queued for upload.
//! 3. Upload workers (`engine`) store each chunk with COMPLIANCE retention and tags, read
//!    the retention back (alarm: error log + `vidid_vault_retention_alarms_total`), record a
//!    receipt and drop the spooled copy. Failures retry with backoff, forever; the spool
//!    keeps the chunks through outages and restarts.
//! 4. When the recording is closed and every chunk stored, the engine writes its
//!    [`manifest`] (hashes of every object, timings, parties, codec, KEK id, completeness,
//!    previous manifest's hash), signs it with the deployment's Ed25519 key, stores it and
//!    the chain link, and removes the spool directory. The recorder's `finish` waits for
//!    that (at most `finish_wait_secs`).
//! 5. [`read`] decrypts a recording back as a stream (export to Ogg or WAV, never to disk
//!    unless asked); [`verify`] checks everything and names what failed.
//!
//! # Layout
//!
//! `format` (chunk bytes), `keys` (KEK provider, signing key), `canonical` (canonical JSON),
//! `manifest` (manifest, chain link, published key; store keys), `store` (trait, local WORM,
//! S3), `spool` (write-ahead chunks on disk), `engine` (workers, finalize, recovery),
//! `output` (the recorder seam), `read` (decrypting reader, export), `verify`, `config`,
//! `stats`, and `testing` (SeaweedFS for tests, feature `test-support`).
//!
//! The byte format, the store layout and the reasons behind them are in
//! `docs/recording-format.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_docs)]

pub mod canonical;
pub mod config;
mod engine;
pub mod evidence;
pub mod format;
pub mod keys;
pub mod manifest;
pub mod output;
pub mod read;
mod spool;
pub mod stats;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod verify;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use time::OffsetDateTime;

pub use config::{StoreKind, VaultConfig};
pub use stats::{VaultSnapshot, VaultStats};

use crate::engine::{Core, add_years, find_chain_head};
use crate::format::FormatError;
use crate::keys::{FileKeys, KeyError, KeyProvider, ManifestSigner, fingerprint};
use crate::manifest::{ManifestError, PublicKeyRecord, canonical_record, public_key_key};
use crate::spool::Spool;
use crate::store::{LocalStore, PutOptions, RecordingStore, S3Store, StoreError};

/// Everything that can go wrong in the vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key operation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A chunk is malformed or does not authenticate.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A manifest is malformed or cannot be signed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A local file operation failed.
    #[error("vault i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// The spool is not in the state expected.
    #[error("spool: {0}")]
    Spool(String),
    /// A key already holds different content: never overwritten.
    #[error("object {0} exists with different content; it is never overwritten")]
    Conflict(String),
    /// The configuration is invalid.
    #[error("invalid vault configuration: {0}")]
    Config(String),
    /// No such recording.
    #[error("no recording {0} in the store")]
    NotFound(String),
    /// A recording or object fails a check.
    #[error("{0}")]
    Invalid(String),
}

impl VaultError {
    /// Whether retrying later may help.
    pub fn is_transient(&self) -> bool {
        match self {
            VaultError::Store(e) => e.is_transient(),
            VaultError::Io(_) => true,
            _ => false,
        }
    }
}

/// Open the configured store (no check, no key): for the CLI's read-only commands too.
pub fn open_store(
    cfg: &VaultConfig,
    data_dir: &Path,
) -> Result<Arc<dyn RecordingStore>, VaultError> {
    cfg.validate().map_err(VaultError::Config)?;
    Ok(match cfg.store {
        StoreKind::Local => Arc::new(LocalStore::open(cfg.local_dir(data_dir))?),
        StoreKind::S3 => Arc::new(S3Store::new(&cfg.s3)?),
    })
}

/// A running vault: the store, the keys, the spool and the upload workers.
pub struct Vault {
    core: Arc<Core>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    _lock: std::fs::File,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("store", &self.core.store.describe())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Open the vault of `vidid serve` (see the crate docs, "Flow", step 1). Blocking; call
    /// it outside async code (or in `spawn_blocking`).
    pub fn open(cfg: &VaultConfig, data_dir: &Path) -> Result<Self, VaultError> {
        cfg.validate().map_err(VaultError::Config)?;
        let keys_dir = cfg.keys_dir(data_dir);
        let (keys, ensured) = FileKeys::ensure(&keys_dir)?;
        if let Some(id) = &ensured.created_kek {
            tracing::info!(dir = %keys_dir.display(), kek_id = %id, "generated the first key-encryption key (development default: keys on local disk)");
        }
        if let Some(id) = &ensured.created_signing_key {
            tracing::info!(dir = %keys_dir.display(), signing_key_id = %id, "generated the deployment's manifest signing key");
        }
        let signer = keys.signer()?;
        let store = open_store(cfg, data_dir)?;
        Self::open_with(
            cfg.clone(),
            store,
            Arc::new(keys),
            Arc::new(signer),
            &cfg.spool_dir(data_dir),
        )
    }

    /// Open with explicit parts (tests, other key providers).
    pub fn open_with(
        cfg: VaultConfig,
        store: Arc<dyn RecordingStore>,
        keys: Arc<dyn KeyProvider>,
        signer: Arc<dyn ManifestSigner>,
        spool_dir: &Path,
    ) -> Result<Self, VaultError> {
        cfg.validate().map_err(VaultError::Config)?;
        store.check_worm()?;
        // The KEK is usable (a provider that cannot wrap would fail every recording).
        keys.current_kek_id()?;
        publish_public_key(&cfg, store.as_ref(), signer.as_ref())?;
        let spool = Spool::open(spool_dir.to_path_buf())?;
        let lock = spool.lock()?;
        let head = find_chain_head(store.as_ref(), &cfg.deployment_id)?;
        let workers = cfg.upload_workers;
        let core = Arc::new(Core::new(cfg, store, keys, signer, spool, head.clone()));
        let recovered = core.recover()?;
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let c = Arc::clone(&core);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("vault-up-{i}"))
                    .spawn(move || c.work())?,
            );
        }
        tracing::info!(
            store = %core.store.describe(),
            chain_seq = head.seq,
            spooled_recordings = recovered,
            chunk_interval_ms = core.cfg.chunk_interval().as_millis() as u64,
            "recording vault open"
        );
        Ok(Self {
            core,
            workers: Mutex::new(handles),
            _lock: lock,
        })
    }

    /// The recorder's output factory.
    pub fn outputs(&self) -> Arc<dyn vidid_recorder::OutputFactory> {
        Arc::new(output::VaultOutputs {
            core: Arc::clone(&self.core),
        })
    }

    /// Counters, for metrics.
    pub fn stats(&self) -> Arc<VaultStats> {
        Arc::clone(&self.core.stats)
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn RecordingStore> {
        Arc::clone(&self.core.store)
    }

    /// Wait until nothing is queued or uploading, at most `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.core.wait_idle(timeout)
    }

    /// Wait (at most `timeout`) for pending uploads, then stop the workers. What is not
    /// stored stays in the spool for the next start. Returns whether everything was stored.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let idle = self.core.wait_idle(timeout);
        self.core.stop();
        let handles =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        for h in handles {
            let _ = h.join();
        }
        if !idle {
            tracing::warn!(
                spooled_chunks = self.core.stats.snapshot().spool_chunks,
                "vault stopped with work left in the spool; the next start finishes it"
            );
        }
        idle
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        self.core.stop();
    }
}

/// Publish the signing public key in the store (`keys/signing-<id>.json`), locked at least
/// as long as any manifest it signs from now; its retention read back is the start-up proof
/// that the store really keeps object locks.
fn publish_public_key(
    cfg: &VaultConfig,
    store: &dyn RecordingStore,
    signer: &dyn ManifestSigner,
) -> Result<(), VaultError> {
    let id = signer.key_id();
    let pk = signer.public_key();
    let record = PublicKeyRecord {
        algorithm: "Ed25519".into(),
        key_id: id.clone(),
        public_key: base64::engine::general_purpose::STANDARD.encode(&pk),
        fingerprint_sha256: fingerprint(&pk),
        deployment_id: cfg.deployment_id.clone(),
    };
    let bytes = canonical_record(&record)?;
    let key = public_key_key(&id);
    let until = store::whole_seconds(
        add_years(OffsetDateTime::now_utc(), cfg.retention_years)
            + time::Duration::days(i64::from(cfg.retention_margin_days) + 1),
    );
    let version = match store.head(&key)? {
        Some(existing) => {
            let stored = store.get(&key, existing.version_id.as_deref())?;
            // Nodes of one deployment may share a signing key (a Kubernetes Secret): the record
            // names the first to publish it; the same key under another node's name is fine.
            let same_key = stored == bytes
                || serde_json::from_slice::<PublicKeyRecord>(&stored).is_ok_and(|r| {
                    (
                        r.algorithm.as_str(),
                        r.key_id.as_str(),
                        r.public_key.as_str(),
                        r.fingerprint_sha256.as_str(),
                    ) == (
                        record.algorithm.as_str(),
                        record.key_id.as_str(),
                        record.public_key.as_str(),
                        record.fingerprint_sha256.as_str(),
                    )
                });
            if !same_key {
                return Err(VaultError::Conflict(key));
            }
            let current = store.retention(&key, existing.version_id.as_deref())?;
            if current.is_none_or(|r| r.retain_until < until) {
                store.extend_retention(&key, existing.version_id.as_deref(), until)?;
            }
            existing.version_id
        }
        None => {
            let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
            let mut sha256 = [0u8; 32];
            sha256.copy_from_slice(digest.as_ref());
            store
                .put(
                    &key,
                    &bytes,
                    &PutOptions {
                        retain_until: until,
                        tags: vec![
                            ("retention-class".into(), cfg.retention_class.clone()),
                            ("legal-basis".into(), cfg.legal_basis.clone()),
                        ],
                        sha256,
                        content_type: "application/json",
                    },
                )?
                .version_id
        }
    };
    match store.retention(&key, version.as_deref())? {
        Some(r)
            if r.mode == store::COMPLIANCE
                && r.retain_until >= until - time::Duration::seconds(1) =>
        {
            Ok(())
        }
        found => Err(VaultError::Store(StoreError::Misconfigured(format!(
            "the store accepted {key} but reports its retention as {found:?}, not COMPLIANCE \
             until {}: it does not keep object locks (some servers drop the lock headers)",
            store::rfc3339(until)
        )))),
    }
}
