//! Helpers for the crate's tests: real Opus packets of a tone, and tone detection.

use std::f64::consts::TAU;
use std::time::{Duration, Instant};

use crate::RecordingMeta;

/// 20 ms at 48 kHz.
pub(crate) const FRAME: usize = 960;

/// Encodes a continuous sine into 20 ms Opus packets.
pub(crate) struct ToneEncoder {
    encoder: opus::Encoder,
    freq: f64,
    phase: f64,
}

impl ToneEncoder {
    pub(crate) fn new(freq: f64) -> Self {
        let encoder =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio).unwrap();
        Self {
            encoder,
            freq,
            phase: 0.0,
        }
    }

    /// The next 20 ms packet of the tone (amplitude 0.3 of full scale).
    pub(crate) fn packet(&mut self) -> Vec<u8> {
        let mut pcm = [0i16; FRAME];
        for s in &mut pcm {
            *s = (self.phase.sin() * 0.3 * f64::from(i16::MAX)) as i16;
            self.phase = (self.phase + TAU * self.freq / 48_000.0) % TAU;
        }
        self.encoder.encode_vec(&pcm, 4_000).unwrap()
    }
}

/// The amplitude (0..1 of full scale) of `freq` in `samples` (Goertzel).
pub(crate) fn tone_level(samples: &[i16], freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * freq / 48_000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / f64::from(i16::MAX) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

/// A recording that started at `started`.
pub(crate) fn meta(id: &str, started: Instant) -> RecordingMeta {
    RecordingMeta {
        recording_id: id.to_owned(),
        call_id: format!("call-{id}"),
        started_at: time::macros::datetime!(2026-03-02 10:15:00 UTC),
        started,
    }
}

/// `ms` milliseconds after `t`.
pub(crate) fn at(t: Instant, ms: u64) -> Instant {
    t + Duration::from_millis(ms)
}

/// Read a stereo WAV into (left, right).
pub(crate) fn read_wav(path: &std::path::Path) -> (Vec<i16>, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 48_000, 16)
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}
