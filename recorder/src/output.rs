//! The seam between the Ogg muxer and storage.
//!
//! Two implementations: [`LocalFiles`] writes `audio.ogg` in the recording directory (tests,
//! and tools that want plain files); the recording vault (`vidid-vault`) encrypts the bytes
//! into chunks and stores them under WORM retention. `write` feeds plaintext Ogg bytes,
//! `flush` is called at least every second (the vault seals a chunk there when one is due),
//! `sync` makes what was written so far durable, `close` ends the output with the
//! recording's final metadata.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::RecordingMeta;
use crate::meta::RecordingMetadata;

/// The name of the audio file inside a recording directory.
pub(crate) const AUDIO_FILE: &str = "audio.ogg";

/// Where one recording's Ogg bytes go. Used only from the recording's writer thread.
///
/// Dropping an output that was not closed (the writer failed) must leave what was made
/// durable readable, and may mark the recording incomplete.
pub trait AudioOutput: Write + Send {
    /// Make everything written so far durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Finalise the output with the recording's final metadata (its `complete` says whether
    /// the recording was finished or its recorder dropped); nothing is written after this.
    /// May block until the output is stored (bounded by the implementation).
    fn close(&mut self, metadata: &RecordingMetadata) -> io::Result<()>;
}

/// Creates the output of a new recording. Called from [`crate::RecordingSink::start`], i.e.
/// on the media server's thread: it must be quick (no network, no fsync).
pub trait OutputFactory: Send + Sync + 'static {
    /// The output of the recording `meta`, whose directory `recording_dir` was just created.
    fn create(
        &self,
        meta: &RecordingMeta,
        recording_dir: &Path,
    ) -> io::Result<Box<dyn AudioOutput>>;
}

/// Plain local files: `<recording_dir>/audio.ogg`, created exclusively (never overwritten).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalFiles;

impl OutputFactory for LocalFiles {
    fn create(
        &self,
        _meta: &RecordingMeta,
        recording_dir: &Path,
    ) -> io::Result<Box<dyn AudioOutput>> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(recording_dir.join(AUDIO_FILE))?;
        Ok(Box::new(LocalFile(BufWriter::with_capacity(
            64 * 1024,
            file,
        ))))
    }
}

struct LocalFile(BufWriter<File>);

impl Write for LocalFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl AudioOutput for LocalFile {
    fn sync(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.0.get_ref().sync_data()
    }

    fn close(&mut self, _metadata: &RecordingMetadata) -> io::Result<()> {
        self.0.flush()?;
        self.0.get_ref().sync_all()
    }
}
