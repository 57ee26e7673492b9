//! The seam between the Ogg muxer and storage.
//!
//! Today one implementation writes a local file. The planned encrypting, segmenting writer
//! (AES-256-GCM per segment, segments uploaded to S3 under Object Lock) implements the same
//! two traits: `write` feeds plaintext Ogg bytes, `sync` seals and persists what was written
//! so far, `close` writes the last segment and any trailer.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The name of the audio file inside a recording directory.
pub(crate) const AUDIO_FILE: &str = "audio.ogg";

/// Where one recording's Ogg bytes go. Used only from the recording's writer thread.
pub(crate) trait AudioOutput: Write + Send {
    /// Make everything written so far durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Finalise the output; nothing is written after this.
    fn close(&mut self) -> io::Result<()>;
}

/// Creates the output of a new recording inside its (already created) directory.
pub(crate) trait OutputFactory: Send + Sync + 'static {
    fn create(&self, recording_dir: &Path) -> io::Result<Box<dyn AudioOutput>>;
}

/// Plain local files: `<recording_dir>/audio.ogg`, created exclusively (never overwritten).
pub(crate) struct LocalFiles;

impl OutputFactory for LocalFiles {
    fn create(&self, recording_dir: &Path) -> io::Result<Box<dyn AudioOutput>> {
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

    fn close(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.0.get_ref().sync_all()
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory, fsync it, rename
/// it into place and fsync the directory, so `path` is always either old or new, never torn.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Persist a directory's entries (new files, renames).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
