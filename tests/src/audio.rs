//! Tones and their analysis: the fake-microphone WAVs the browsers play ([`write_tone_wav`]) and
//! the measurement of recordings ([`analyze_wav`]): per 100 ms window and channel, RMS and the
//! amplitudes of 440 Hz and 1000 Hz ([`goertzel_amplitude`]), summed up per channel by
//! [`WavAnalysis::tone_report`].

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Serialize;

/// Writes a mono 48 kHz 16-bit sine WAV.
pub fn write_tone_wav(path: &Path, freq_hz: f64, seconds: f64, amplitude: f64) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    let n = (seconds * 48_000.0) as usize;
    for i in 0..n {
        let t = i as f64 / 48_000.0;
        let v = amplitude * (2.0 * std::f64::consts::PI * freq_hz * t).sin();
        w.write_sample((v * f64::from(i16::MAX)).round() as i16)?;
    }
    w.finalize()?;
    Ok(())
}

/// Length of one analysis window.
pub const WINDOW_MS: u64 = 100;

/// The measurements of one 100 ms window of one channel. Amplitudes are relative to full scale.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Window {
    pub rms: f64,
    /// Estimated amplitude of the 440 Hz component.
    pub a440: f64,
    /// Estimated amplitude of the 1000 Hz component.
    pub a1000: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WavAnalysis {
    pub sample_rate: u32,
    pub channels: u16,
    pub duration_ms: u64,
    /// `windows[channel][i]`
    pub windows: Vec<Vec<Window>>,
}

/// Per channel, per 100 ms window: RMS and the 440 Hz and 1000 Hz amplitudes (Goertzel).
pub fn analyze_wav(path: &Path) -> Result<WavAnalysis> {
    let mut r =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spec = r.spec();
    let channels = usize::from(spec.channels);
    ensure!(channels > 0, "WAV without channels");
    let scale = match spec.sample_format {
        hound::SampleFormat::Int => 1.0 / f64::from(1u32 << (spec.bits_per_sample - 1)),
        hound::SampleFormat::Float => 1.0,
    };
    let samples: Vec<f64> = match spec.sample_format {
        hound::SampleFormat::Int => r
            .samples::<i32>()
            .map(|s| s.map(|v| f64::from(v) * scale))
            .collect::<Result<_, _>>()?,
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| s.map(f64::from))
            .collect::<Result<_, _>>()?,
    };
    let frames = samples.len() / channels;
    let rate = f64::from(spec.sample_rate);
    let win = (spec.sample_rate as usize * WINDOW_MS as usize) / 1000;
    ensure!(win > 0, "sample rate {} too low", spec.sample_rate);
    let mut windows = vec![Vec::with_capacity(frames / win); channels];
    let mut buf = vec![0.0f64; win];
    for (ch, out) in windows.iter_mut().enumerate() {
        for start in (0..frames.saturating_sub(win - 1)).step_by(win) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = samples[(start + i) * channels + ch];
            }
            let rms = (buf.iter().map(|x| x * x).sum::<f64>() / win as f64).sqrt();
            out.push(Window {
                rms,
                a440: goertzel_amplitude(&buf, 440.0, rate),
                a1000: goertzel_amplitude(&buf, 1000.0, rate),
            });
        }
    }
    Ok(WavAnalysis {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        duration_ms: frames as u64 * 1000 / u64::from(spec.sample_rate),
        windows,
    })
}

/// The amplitude of the `freq` component of `x` (a full-scale sine of that frequency gives ~1).
pub fn goertzel_amplitude(x: &[f64], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    2.0 * power.sqrt() / x.len() as f64
}

/// Which tone a window is said to carry.
pub const TONE_MIN_AMPLITUDE: f64 = 0.01; // -40 dBFS
/// How much stronger (amplitude ratio) the dominant tone must be: 10 dB.
pub const TONE_DOMINANCE_RATIO: f64 = 3.162;

/// How one channel matches an expected tone.
#[derive(Debug, Clone, Serialize)]
pub struct ToneReport {
    pub channel: usize,
    pub expected_hz: u32,
    pub other_hz: u32,
    /// Windows counted (the denominator): the call duration in windows.
    pub windows: usize,
    /// Windows actually present in the WAV.
    pub windows_in_wav: usize,
    pub expected_dominant: usize,
    pub other_dominant: usize,
    /// Windows with RMS above -40 dBFS.
    pub loud: usize,
    pub expected_fraction: f64,
    pub other_fraction: f64,
    pub loud_fraction: f64,
    pub mean_rms: f64,
}

impl WavAnalysis {
    /// How often `expected_hz` (440 or 1000) dominates `channel` over `over_ms` (the call
    /// duration; windows missing from the WAV count as not dominated), or over the whole WAV.
    pub fn tone_report(
        &self,
        channel: usize,
        expected_hz: u32,
        over_ms: Option<u64>,
    ) -> Result<ToneReport> {
        let ws = self.windows.get(channel).ok_or_else(|| {
            anyhow!(
                "the WAV has {} channel(s), no channel {channel}",
                self.channels
            )
        })?;
        let other_hz = match expected_hz {
            440 => 1000,
            1000 => 440,
            _ => bail!("only 440 and 1000 Hz are analysed"),
        };
        let pick = |w: &Window, hz: u32| if hz == 440 { w.a440 } else { w.a1000 };
        let dominates = |w: &Window, a: u32, b: u32| {
            pick(w, a) >= TONE_MIN_AMPLITUDE && pick(w, a) >= TONE_DOMINANCE_RATIO * pick(w, b)
        };
        let windows = over_ms
            .map_or(ws.len(), |ms| (ms / WINDOW_MS) as usize)
            .max(1);
        let counted = &ws[..ws.len().min(windows)];
        let expected_dominant = counted
            .iter()
            .filter(|w| dominates(w, expected_hz, other_hz))
            .count();
        let other_dominant = counted
            .iter()
            .filter(|w| dominates(w, other_hz, expected_hz))
            .count();
        let loud = counted
            .iter()
            .filter(|w| w.rms >= TONE_MIN_AMPLITUDE)
            .count();
        let mean_rms = if counted.is_empty() {
            0.0
        } else {
            counted.iter().map(|w| w.rms).sum::<f64>() / counted.len() as f64
        };
        Ok(ToneReport {
            channel,
            expected_hz,
            other_hz,
            windows,
            windows_in_wav: ws.len(),
            expected_dominant,
            other_dominant,
            loud,
            expected_fraction: expected_dominant as f64 / windows as f64,
            other_fraction: other_dominant as f64 / windows as f64,
            loud_fraction: loud as f64 / windows as f64,
            mean_rms,
        })
    }

    /// One line per second and channel: which tone dominates (`L`ow 440, `H`igh 1000, `.` quiet,
    /// `?` mixed), for failure messages.
    pub fn timeline(&self) -> String {
        let mut out = String::new();
        for (ch, ws) in self.windows.iter().enumerate() {
            out.push_str(&format!("ch{ch}: "));
            for (i, w) in ws.iter().enumerate() {
                if i > 0 && i % 10 == 0 {
                    out.push(' ');
                }
                let c = if w.a440 >= TONE_MIN_AMPLITUDE && w.a440 >= TONE_DOMINANCE_RATIO * w.a1000
                {
                    'L'
                } else if w.a1000 >= TONE_MIN_AMPLITUDE && w.a1000 >= TONE_DOMINANCE_RATIO * w.a440
                {
                    'H'
                } else if w.rms < TONE_MIN_AMPLITUDE {
                    '.'
                } else {
                    '?'
                };
                out.push(c);
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goertzel_finds_the_tone() {
        let rate = 48_000.0;
        let x: Vec<f64> = (0..4800)
            .map(|i| 0.3 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / rate).sin())
            .collect();
        let a440 = goertzel_amplitude(&x, 440.0, rate);
        let a1000 = goertzel_amplitude(&x, 1000.0, rate);
        assert!((a440 - 0.3).abs() < 0.01, "a440 = {a440}");
        assert!(a1000 < 0.003, "a1000 = {a1000}");
    }

    #[test]
    fn tone_wav_round_trip() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("t.wav");
        write_tone_wav(&p, 1000.0, 1.0, 0.3)?;
        let a = analyze_wav(&p)?;
        assert_eq!(
            (a.channels, a.sample_rate, a.duration_ms),
            (1, 48_000, 1000)
        );
        let r = a.tone_report(0, 1000, None)?;
        assert_eq!(
            (r.windows, r.expected_dominant, r.other_dominant),
            (10, 10, 0)
        );
        let r = a.tone_report(0, 440, Some(2000))?;
        assert_eq!(
            (r.windows, r.expected_dominant, r.other_dominant),
            (20, 0, 10)
        );
        Ok(())
    }
}
