//! Shared helpers of the vault's integration tests: a vault on a temporary data directory,
//! real Opus tone packets pushed through the recorder in real time, and tone checks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]
#![allow(dead_code)]

use std::f64::consts::TAU;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vidid_recorder::{
    AudioPacket, CallRecorder, LocalRecordingSink, Party, RecordingMeta, RecordingSink,
};
use vidid_vault::keys::FileKeys;
use vidid_vault::read::Archive;
use vidid_vault::store::RecordingStore;
use vidid_vault::{Vault, VaultConfig};

/// 20 ms of 48 kHz audio.
pub const FRAME: usize = 960;

/// A vault config for tests: chunks sealed every second, small segments (several per chunk).
pub fn test_config() -> VaultConfig {
    VaultConfig {
        max_loss_secs: 2,
        segment_size: 256,
        upload_workers: 2,
        retry_max_secs: 1,
        finish_wait_secs: 10,
        ..VaultConfig::default()
    }
}

/// A vault, its recorder sink, and the reading side, on one data directory.
pub struct Harness {
    pub data_dir: PathBuf,
    pub cfg: VaultConfig,
    pub vault: Vault,
    pub sink: LocalRecordingSink,
}

impl Harness {
    pub fn open(data_dir: &Path, cfg: VaultConfig) -> Self {
        let vault = Vault::open(&cfg, data_dir).expect("vault opens");
        Self::with_vault(data_dir, cfg, vault)
    }

    pub fn with_vault(data_dir: &Path, cfg: VaultConfig, vault: Vault) -> Self {
        let sink = LocalRecordingSink::new(data_dir)
            .unwrap()
            .with_outputs(vault.outputs());
        Self {
            data_dir: data_dir.to_path_buf(),
            cfg,
            vault,
            sink,
        }
    }

    /// The reading side over `store` with this data directory's keys.
    pub fn archive_of(&self, store: Arc<dyn RecordingStore>) -> Archive {
        archive(&self.data_dir, &self.cfg, store)
    }

    pub fn archive(&self) -> Archive {
        self.archive_of(self.vault.store())
    }
}

pub fn archive(data_dir: &Path, cfg: &VaultConfig, store: Arc<dyn RecordingStore>) -> Archive {
    let keys = Arc::new(FileKeys::open(cfg.keys_dir(data_dir)).unwrap());
    Archive {
        store,
        keys: Some(keys.clone()),
        local_keys: Some(keys),
        trusted_key: None,
    }
}

/// Encodes a continuous sine into 20 ms Opus packets.
pub struct ToneEncoder {
    encoder: opus::Encoder,
    freq: f64,
    phase: f64,
}

impl ToneEncoder {
    pub fn new(freq: f64) -> Self {
        Self {
            encoder: opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio)
                .unwrap(),
            freq,
            phase: 0.0,
        }
    }

    pub fn packet(&mut self) -> Vec<u8> {
        let mut pcm = [0i16; FRAME];
        for s in &mut pcm {
            *s = (self.phase.sin() * 0.3 * f64::from(i16::MAX)) as i16;
            self.phase = (self.phase + TAU * self.freq / 48_000.0) % TAU;
        }
        self.encoder.encode_vec(&pcm, 4_000).unwrap()
    }
}

/// A call in progress: both parties' tones, pushed as the wall clock goes.
pub struct Call {
    pub recorder: Box<dyn CallRecorder>,
    pub started: Instant,
    customer: ToneEncoder,
    agent: ToneEncoder,
    sent: u32,
}

impl Call {
    pub fn start(sink: &LocalRecordingSink, id: &str) -> Self {
        let started = Instant::now();
        let recorder = sink
            .start(RecordingMeta {
                recording_id: id.to_owned(),
                call_id: id.to_owned(),
                started_at: time::OffsetDateTime::now_utc(),
                started,
            })
            .expect("recording starts");
        Self {
            recorder,
            started,
            customer: ToneEncoder::new(440.0),
            agent: ToneEncoder::new(1000.0),
            sent: 0,
        }
    }

    /// Push 20 ms packets of both parties until `secs` of audio have been sent, pacing them
    /// with the wall clock (so the vault's chunk timer runs as in a real call).
    pub fn run_for(&mut self, secs: f64) {
        let until = self.sent + (secs * 50.0) as u32;
        while self.sent < until {
            let due = self.started + Duration::from_millis(20 * u64::from(self.sent));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let i = self.sent;
            for (party, payload) in [
                (Party::Customer, self.customer.packet()),
                (Party::Agent, self.agent.packet()),
            ] {
                self.recorder.push(AudioPacket {
                    party,
                    sequence: i as u16,
                    rtp_timestamp: i * FRAME as u32,
                    arrival: due,
                    payload: &payload,
                });
            }
            self.sent += 1;
        }
    }
}

/// The amplitude of `freq` in `samples` (Goertzel), 0..1 of full scale.
pub fn tone_level(samples: &[i16], freq: f64) -> f64 {
    let coeff = 2.0 * (TAU * freq / 48_000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / f64::from(i16::MAX) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len().max(1) as f64
}

/// Read a stereo WAV and check: customer 440 Hz left, agent 1000 Hz right, over the middle of
/// the recording; returns its length in seconds.
pub fn assert_tones(wav: &Path) -> f64 {
    let mut reader = hound::WavReader::open(wav).unwrap();
    assert_eq!(reader.spec().channels, 2);
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let n = left.len();
    assert!(n > 48_000, "the WAV is shorter than a second: {n} frames");
    let mid = &left[n / 4..3 * n / 4];
    let mid_r = &right[n / 4..3 * n / 4];
    assert!(tone_level(mid, 440.0) > 0.1, "no 440 Hz on the left");
    assert!(
        tone_level(mid, 1000.0) < 0.02,
        "1000 Hz leaks into the left"
    );
    assert!(tone_level(mid_r, 1000.0) > 0.1, "no 1000 Hz on the right");
    assert!(
        tone_level(mid_r, 440.0) < 0.02,
        "440 Hz leaks into the right"
    );
    n as f64 / 48_000.0
}

/// Copy a directory tree (files keep their permissions; made writable for tampering).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            make_writable(&target);
        }
    }
}

pub fn make_writable(path: &Path) {
    let mut perm = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(path, perm).unwrap();
}
