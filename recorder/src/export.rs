//! WAV export: both parties decoded onto the common timeline, customer left, agent right.

use std::path::{Path, PathBuf};

use crate::read::{RecordedPacket, Recording, read_recording};
use crate::toc::MAX_PACKET_SAMPLES;
use crate::{Party, RecorderError};

/// Frames rendered per step.
const CHUNK: usize = 4_800;
/// Gaps must be whole 2.5 ms Opus frames for the decoder's packet loss concealment.
const PLC_GRANULE: u64 = 120;

/// How [`export_wav_with`] renders gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// A gap right after a packet of at most this many milliseconds (capped at 120) is filled
    /// with the decoder's packet loss concealment, as a live receiver would have played it;
    /// longer gaps (DTX, a muted or absent party) are silence, and the decoder starts afresh
    /// after them. 0 renders every gap as silence.
    pub conceal_gaps_up_to_ms: u32,
}

impl Default for ExportOptions {
    /// Conceal gaps up to 60 ms (one to three lost 20 ms packets).
    fn default() -> Self {
        Self {
            conceal_gaps_up_to_ms: 60,
        }
    }
}

/// What [`export_wav`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    /// The WAV file.
    pub path: PathBuf,
    /// Stereo frames written (48 kHz).
    pub frames: u64,
    /// `frames` in milliseconds.
    pub duration_ms: u64,
    /// Customer packets decoded.
    pub customer_packets: u64,
    /// Agent packets decoded.
    pub agent_packets: u64,
    /// Samples (per channel, summed over both) filled by packet loss concealment.
    pub concealed_samples: u64,
    /// Packets the decoder refused (rendered as silence).
    pub decode_errors: u64,
}

/// Export a recording directory (or Ogg file) to a 48 kHz 16-bit stereo WAV with the default
/// [`ExportOptions`]: customer left, agent right, both on the recording's timeline.
pub fn export_wav(recording_dir: &Path, out: &Path) -> Result<ExportSummary, RecorderError> {
    export_wav_with(recording_dir, out, &ExportOptions::default())
}

/// Export like [`export_wav`], with options.
///
/// Sample `n` of the WAV is timeline sample `n`: 48 kHz samples since the recording started.
/// Each party is decoded (mono) from its packets, each placed at the start its granule
/// position gives; gaps are concealed or silent (see [`ExportOptions`]). The file ends with
/// the last packet of either party. It is written to a temporary file beside `out` and
/// renamed into place, so `out` never holds a partial export.
pub fn export_wav_with(
    recording_dir: &Path,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, RecorderError> {
    let recording = read_recording(recording_dir)?;
    export_recording_wav(&recording, out, options)
}

/// The WAV of [`export_recording_wav`] in memory (for serving it without a plaintext file);
/// the summary's `path` is empty.
pub fn export_recording_wav_bytes(
    recording: &Recording,
    options: &ExportOptions,
) -> Result<(Vec<u8>, ExportSummary), RecorderError> {
    let frames = recording.end_sample();
    let mut renderers = renderers(recording, options)?;
    let mut buf = std::io::Cursor::new(Vec::with_capacity(44 + frames as usize * 4));
    render_wav(&mut buf, frames, &mut renderers)?;
    Ok((
        buf.into_inner(),
        summary(PathBuf::new(), frames, &renderers),
    ))
}

/// Export a recording already read (e.g. with [`crate::read_recording_from`] from the
/// vault's decrypting reader) to a WAV, like [`export_wav_with`].
pub fn export_recording_wav(
    recording: &Recording,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportSummary, RecorderError> {
    let frames = recording.end_sample();
    let mut renderers = renderers(recording, options)?;

    let tmp = temp_path(out)?;
    let result = write_wav(&tmp, frames, &mut renderers).and_then(|()| {
        std::fs::rename(&tmp, out)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::durable::sync_dir(dir)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let summary = summary(out.to_path_buf(), frames, &renderers);
    tracing::info!(
        source = %recording.audio_path.display(),
        out = %out.display(),
        frames = summary.frames,
        concealed_samples = summary.concealed_samples,
        decode_errors = summary.decode_errors,
        "recording exported to wav"
    );
    Ok(summary)
}

fn temp_path(out: &Path) -> Result<PathBuf, RecorderError> {
    let name = out.file_name().ok_or_else(|| {
        RecorderError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "export path has no file name",
        ))
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp-{}", std::process::id()));
    Ok(out.with_file_name(tmp))
}

/// Both parties' renderers (customer, agent) for a recording.
fn renderers<'a>(
    recording: &'a Recording,
    options: &ExportOptions,
) -> Result<[Renderer<'a>; 2], RecorderError> {
    let conceal_max =
        (u64::from(options.conceal_gaps_up_to_ms) * 48).min(u64::from(MAX_PACKET_SAMPLES));
    let empty: &[RecordedPacket] = &[];
    let renderers = Party::ALL.map(|p| {
        let packets = recording.track(p).map_or(empty, |t| t.packets.as_slice());
        Renderer::new(packets, conceal_max)
    });
    if let Some(e) = renderers.iter().find_map(|r| r.init_error.clone()) {
        return Err(RecorderError::Codec(e));
    }
    Ok(renderers)
}

fn summary(path: PathBuf, frames: u64, renderers: &[Renderer<'_>; 2]) -> ExportSummary {
    let [customer, agent] = renderers;
    ExportSummary {
        path,
        frames,
        duration_ms: frames / 48,
        customer_packets: customer.decoded,
        agent_packets: agent.decoded,
        concealed_samples: customer.concealed + agent.concealed,
        decode_errors: customer.decode_errors + agent.decode_errors,
    }
}

fn write_wav(
    path: &Path,
    frames: u64,
    renderers: &mut [Renderer<'_>; 2],
) -> Result<(), RecorderError> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    render_wav(file, frames, renderers)?;
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

fn render_wav<W: std::io::Write + std::io::Seek>(
    out: W,
    frames: u64,
    renderers: &mut [Renderer<'_>; 2],
) -> Result<(), RecorderError> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::new(out, spec)?;
    let mut left = vec![0i16; CHUNK];
    let mut right = vec![0i16; CHUNK];
    let mut done = 0u64;
    while done < frames {
        let n = CHUNK.min(usize::try_from(frames - done).unwrap_or(CHUNK));
        let [customer, agent] = renderers;
        customer.fill(&mut left[..n]);
        agent.fill(&mut right[..n]);
        let mut w = wav.get_i16_writer(2 * n as u32);
        for (&l, &r) in left[..n].iter().zip(&right[..n]) {
            w.write_sample(l);
            w.write_sample(r);
        }
        w.flush()?;
        done += n as u64;
    }
    wav.finalize()?;
    Ok(())
}

/// Decodes one party's packets into a continuous channel, chunk by chunk.
struct Renderer<'a> {
    packets: &'a [RecordedPacket],
    next: usize,
    decoder: Option<opus::Decoder>,
    init_error: Option<String>,
    /// The next sample `fill` produces.
    pos: u64,
    /// Decoded audio covering `[buf_start, buf_start + buf_len)`.
    buf: Vec<i16>,
    buf_start: u64,
    buf_len: usize,
    /// End of the last decoded packet while the gap after it is still undecided.
    gap_from: Option<u64>,
    conceal_max: u64,
    decoded: u64,
    concealed: u64,
    decode_errors: u64,
}

impl<'a> Renderer<'a> {
    fn new(packets: &'a [RecordedPacket], conceal_max: u64) -> Self {
        let (decoder, init_error) = match opus::Decoder::new(48_000, opus::Channels::Mono) {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(format!("cannot create opus decoder: {e}"))),
        };
        Self {
            packets,
            next: 0,
            decoder,
            init_error,
            pos: 0,
            buf: vec![0; MAX_PACKET_SAMPLES as usize],
            buf_start: 0,
            buf_len: 0,
            gap_from: None,
            conceal_max,
            decoded: 0,
            concealed: 0,
            decode_errors: 0,
        }
    }

    /// Produce the next `out.len()` samples of this party's channel.
    fn fill(&mut self, out: &mut [i16]) {
        let mut i = 0;
        while i < out.len() {
            let pos = self.pos + i as u64;
            let buf_end = self.buf_start + self.buf_len as u64;
            if pos >= self.buf_start && pos < buf_end {
                let from = (pos - self.buf_start) as usize;
                let n = (out.len() - i).min(self.buf_len - from);
                out[i..i + n].copy_from_slice(&self.buf[from..from + n]);
                i += n;
                continue;
            }
            let Some(packet) = self.packets.get(self.next) else {
                out[i..].fill(0);
                break;
            };
            if packet.start > pos {
                let gap = packet.start - pos;
                if self.gap_from == Some(pos) {
                    self.gap_from = None;
                    if gap <= self.conceal_max
                        && gap.is_multiple_of(PLC_GRANULE)
                        && self.conceal(pos, gap)
                    {
                        continue;
                    }
                    if gap > self.conceal_max
                        && let Some(d) = &mut self.decoder
                    {
                        let _ = d.reset_state();
                    }
                }
                let n = (out.len() - i).min(usize::try_from(gap).unwrap_or(usize::MAX));
                out[i..i + n].fill(0);
                i += n;
                continue;
            }
            self.decode(packet);
            self.next += 1;
        }
        self.pos += out.len() as u64;
    }

    /// Fill `[pos, pos + gap)` with packet loss concealment.
    fn conceal(&mut self, pos: u64, gap: u64) -> bool {
        let Some(d) = &mut self.decoder else {
            return false;
        };
        let n = gap as usize;
        match d.decode(&[], &mut self.buf[..n], false) {
            Ok(got) => {
                self.buf[got.min(n)..n].fill(0);
                self.buf_start = pos;
                self.buf_len = n;
                self.concealed += gap;
                true
            }
            Err(_) => false,
        }
    }

    fn decode(&mut self, packet: &RecordedPacket) {
        let n = packet.samples as usize;
        let result = match &mut self.decoder {
            Some(d) => d.decode(&packet.data, &mut self.buf[..n], false),
            None => Ok(0),
        };
        match result {
            Ok(got) => {
                self.buf[got.min(n)..n].fill(0);
                self.decoded += 1;
            }
            Err(e) => {
                self.buf[..n].fill(0);
                self.decode_errors += 1;
                tracing::warn!(start = packet.start, error = %e, "opus packet not decodable, rendered as silence");
                if let Some(d) = &mut self.decoder {
                    let _ = d.reset_state();
                }
            }
        }
        self.buf_start = packet.start;
        self.buf_len = n;
        self.gap_from = Some(packet.end());
    }
}
