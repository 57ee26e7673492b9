//! The spool: sealed chunks on local disk until they are stored (write-ahead).
//!
//! Every chunk is written here, encrypted, before it is uploaded, so neither a storage
//! outage nor a crash between sealing and storing loses it. Plaintext never touches disk.
//!
//! ```text
//! <data-dir>/spool/.lock                       held by the running server (flock)
//! <data-dir>/spool/<recording_id>/
//!     recording.json                           what the manifest needs from the start
//!     chunk-000000.vrec                        a sealed chunk not yet stored
//!     chunk-000000.stored.json                 its receipt once stored (the .vrec is removed)
//!     closed.json                              written when the recording ends
//! ```
//!
//! A recording's directory is removed once its manifest and chain link are stored. At
//! start-up, a directory without `closed.json` is a recording the previous process did not
//! end: it is closed as incomplete with what was sealed.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use vidid_recorder::RecordingMetadata;

/// What the manifest needs from the start of a recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecordingState {
    pub recording_id: String,
    pub call_id: String,
    pub case_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Retain-until of the objects stored during the call.
    #[serde(with = "time::serde::rfc3339")]
    pub retain_until: OffsetDateTime,
    pub segment_size: u32,
    pub chunk_interval_ms: u64,
    pub tags: Vec<(String, String)>,
}

/// A stored chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChunkReceipt {
    pub index: u32,
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub version_id: Option<String>,
    pub final_chunk: bool,
    pub plaintext_bytes: u64,
    pub kek_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sealed_at: OffsetDateTime,
}

/// How a recording ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Closed {
    pub complete: bool,
    pub reason: Option<String>,
    /// The recorder's final metadata (none if the process died).
    pub metadata: Option<RecordingMetadata>,
    /// Chunks sealed: indexes `0..chunks`.
    pub chunks: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub closed_at: OffsetDateTime,
}

/// The spool directory.
#[derive(Debug, Clone)]
pub(crate) struct Spool {
    root: PathBuf,
}

fn chunk_name(index: u32) -> String {
    format!("chunk-{index:06}.vrec")
}

fn receipt_name(index: u32) -> String {
    format!("chunk-{index:06}.stored.json")
}

/// Parse `chunk-NNNNNN.vrec` / `chunk-NNNNNN.stored.json`.
fn parse_index(name: &str, suffix: &str) -> Option<u32> {
    name.strip_prefix("chunk-")?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Write a file through a temporary name, fsync, rename, fsync the directory.
fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_durable(path, &bytes)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Spool {
    pub fn open(root: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    /// Take the spool's lock: one server per data directory.
    pub fn lock(&self) -> io::Result<File> {
        let path = self.root.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} is locked: another vidid server uses this data directory",
                    path.display()
                ),
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Start a recording: its directory (which must not exist) and `recording.json`. No
    /// fsync here (this runs on the media thread); the first seal makes it durable.
    pub fn create(&self, state: &RecordingState) -> io::Result<()> {
        let dir = self.dir(&state.recording_id);
        fs::create_dir(&dir)?;
        let bytes = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
        fs::write(dir.join("recording.json"), bytes)
    }

    pub fn state(&self, id: &str) -> io::Result<RecordingState> {
        read_json(&self.dir(id).join("recording.json"))?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("spool of {id} has no recording.json"),
            )
        })
    }

    /// Write a sealed chunk durably (the recording directory too, the first time).
    pub fn write_chunk(&self, id: &str, index: u32, bytes: &[u8]) -> io::Result<()> {
        let dir = self.dir(id);
        if index == 0 {
            File::open(dir.join("recording.json"))?.sync_all()?;
            sync_dir(&self.root)?;
        }
        write_durable(&dir.join(chunk_name(index)), bytes)
    }

    pub fn chunk_path(&self, id: &str, index: u32) -> PathBuf {
        self.dir(id).join(chunk_name(index))
    }

    /// Record a stored chunk and drop its spooled copy.
    pub fn stored(&self, id: &str, receipt: &ChunkReceipt) -> io::Result<()> {
        let dir = self.dir(id);
        write_json(&dir.join(receipt_name(receipt.index)), receipt)?;
        match fs::remove_file(dir.join(chunk_name(receipt.index))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        sync_dir(&dir)
    }

    pub fn receipt(&self, id: &str, index: u32) -> io::Result<Option<ChunkReceipt>> {
        read_json(&self.dir(id).join(receipt_name(index)))
    }

    /// Indexes of spooled (not yet stored) chunks, and of receipts, sorted.
    pub fn contents(&self, id: &str) -> io::Result<(Vec<u32>, Vec<u32>)> {
        let mut pending = Vec::new();
        let mut stored = Vec::new();
        for entry in fs::read_dir(self.dir(id))? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(i) = parse_index(name, ".vrec") {
                pending.push(i);
            } else if let Some(i) = parse_index(name, ".stored.json") {
                stored.push(i);
            }
        }
        pending.sort_unstable();
        stored.sort_unstable();
        Ok((pending, stored))
    }

    pub fn close(&self, id: &str, closed: &Closed) -> io::Result<()> {
        write_json(&self.dir(id).join("closed.json"), closed)
    }

    pub fn closed(&self, id: &str) -> io::Result<Option<Closed>> {
        read_json(&self.dir(id).join("closed.json"))
    }

    pub fn exists(&self, id: &str) -> bool {
        self.dir(id).is_dir()
    }

    /// Remove a finished recording's spool directory.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        fs::remove_dir_all(self.dir(id))?;
        sync_dir(&self.root)
    }

    /// Recordings in the spool.
    pub fn recordings(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            if let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
            {
                out.push(name.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// When a spooled chunk was sealed (its modification time).
    pub fn sealed_at(&self, id: &str, index: u32) -> OffsetDateTime {
        fs::metadata(self.chunk_path(id, index))
            .and_then(|m| m.modified())
            .map(OffsetDateTime::from)
            .unwrap_or_else(|_| OffsetDateTime::now_utc())
    }
}
