//! End-to-end tests of the crate: real Opus packets through a sink into a temporary
//! directory, read back and exported.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::testutil::{FRAME, ToneEncoder, at, meta, read_wav, tone_level};
use crate::{
    AudioPacket, CallRecorder, ExportOptions, LocalRecordingSink, Party, RecorderError,
    RecordingSink, export_wav, export_wav_with, read_metadata, read_recording,
};

/// One packet to push: who, sequence, timestamp, arrival in ms since the start, payload.
struct Pkt {
    party: Party,
    seq: u16,
    ts: u32,
    arrival_ms: u64,
    payload: Vec<u8>,
}

/// `count` packets of a tone for `party`, 20 ms apart, starting at `start_ms`.
fn tone(party: Party, freq: f64, count: usize, start_ms: u64, seq0: u16, ts0: u32) -> Vec<Pkt> {
    let mut enc = ToneEncoder::new(freq);
    (0..count)
        .map(|i| Pkt {
            party,
            seq: seq0.wrapping_add(i as u16),
            ts: ts0.wrapping_add((i * FRAME) as u32),
            arrival_ms: start_ms + 20 * i as u64,
            payload: enc.packet(),
        })
        .collect()
}

fn push_all(rec: &mut dyn CallRecorder, started: Instant, pkts: &[Pkt]) {
    for p in pkts {
        rec.push(AudioPacket {
            party: p.party,
            sequence: p.seq,
            rtp_timestamp: p.ts,
            arrival: at(started, p.arrival_ms),
            payload: &p.payload,
        });
    }
}

/// Merge packet lists by arrival (stable).
fn by_arrival(mut lists: Vec<Vec<Pkt>>) -> Vec<Pkt> {
    let mut all: Vec<Pkt> = lists.drain(..).flatten().collect();
    all.sort_by_key(|p| p.arrival_ms);
    all
}

fn max_abs(samples: &[i16]) -> i32 {
    samples
        .iter()
        .map(|&s| i32::from(s).abs())
        .max()
        .unwrap_or(0)
}

/// First sample of the first 10 ms window (hop 2.5 ms) where `freq` is clearly present.
fn onset(samples: &[i16], freq: f64) -> usize {
    (0..samples.len().saturating_sub(480))
        .step_by(120)
        .find(|&i| tone_level(&samples[i..i + 480], freq) > 0.1)
        .expect("tone not found")
}

/// The payload bytes of `pkts`: the Ogg file is larger by its headers and page overhead.
fn payload_bytes(pkts: &[Pkt]) -> u64 {
    pkts.iter().map(|p| p.payload.len() as u64).sum()
}

fn record(dir: &Path, id: &str, pkts: &[Pkt]) -> Result<crate::RecordingSummary, RecorderError> {
    let sink = LocalRecordingSink::new(dir)?;
    let started = Instant::now();
    let mut rec = sink.start(meta(id, started))?;
    push_all(rec.as_mut(), started, pkts);
    rec.finish()
}

#[test]
fn both_parties_are_aligned_customer_left_agent_right() {
    let tmp = tempfile::tempdir().unwrap();
    let customer = tone(Party::Customer, 440.0, 100, 0, 1_000, 123_456);
    // The agent joins 500 ms later.
    let agent = tone(Party::Agent, 1_000.0, 75, 500, 40_000, 9_999);
    let customer_payloads: Vec<Vec<u8>> = customer.iter().map(|p| p.payload.clone()).collect();
    let agent_payloads: Vec<Vec<u8>> = agent.iter().map(|p| p.payload.clone()).collect();
    let summary = record(tmp.path(), "aligned-1", &by_arrival(vec![customer, agent])).unwrap();
    assert_eq!(summary.duration_ms, 2_000);
    assert_eq!(summary.packets_written, 175);
    assert_eq!(summary.packets_dropped, 0);

    // The Ogg holds the payloads bit-exact, in order, at their places.
    let rec = read_recording(&summary.path).unwrap();
    let c = rec.customer.as_ref().unwrap();
    let a = rec.agent.as_ref().unwrap();
    assert_eq!(
        c.packets.iter().map(|p| &p.data).collect::<Vec<_>>(),
        customer_payloads.iter().collect::<Vec<_>>()
    );
    assert_eq!(
        a.packets.iter().map(|p| &p.data).collect::<Vec<_>>(),
        agent_payloads.iter().collect::<Vec<_>>()
    );
    for (i, p) in c.packets.iter().enumerate() {
        assert_eq!((p.start, p.samples), (i as u64 * 960, 960));
        assert_eq!(p.granule, p.start + 960);
    }
    assert_eq!(a.packets[0].start, 24_000);
    assert_eq!(a.packets[74].end(), 96_000);
    assert_eq!(c.comment("party"), Some("customer"));
    assert_eq!(a.comment("PARTY"), Some("agent"));
    assert_eq!(c.comment("RECORDING_ID"), Some("aligned-1"));
    assert_eq!((c.head.channels, c.head.pre_skip), (2, 0));
    assert!(c.ended && a.ended && !rec.truncated);

    let wav = tmp.path().join("out.wav");
    let export = export_wav(&summary.path, &wav).unwrap();
    assert_eq!(export.frames, 96_000);
    assert_eq!((export.customer_packets, export.agent_packets), (100, 75));
    let (left, right) = read_wav(&wav);
    assert_eq!(left.len(), 96_000);
    let mid = 48_000..72_000;
    assert!(
        tone_level(&left[mid.clone()], 440.0) > 0.2,
        "customer tone on the left"
    );
    assert!(
        tone_level(&left[mid.clone()], 1_000.0) < 0.02,
        "no agent on the left"
    );
    assert!(
        tone_level(&right[mid.clone()], 1_000.0) > 0.2,
        "agent tone on the right"
    );
    assert!(
        tone_level(&right[mid], 440.0) < 0.02,
        "no customer on the right"
    );
    // Before the agent joined, the right channel is silent; the agent starts at 500 ms.
    assert_eq!(max_abs(&right[..24_000]), 0);
    assert!(onset(&right, 1_000.0).abs_diff(24_000) <= 960);
    assert!(
        !tmp.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp"))
    );
}

#[test]
fn a_two_second_gap_keeps_alignment() {
    let tmp = tempfile::tempdir().unwrap();
    let ts0 = 77_000;
    let mut customer = tone(Party::Customer, 440.0, 50, 0, 500, ts0);
    // Two seconds without packets (DTX), then a new tone from t = 3 s; the sequence goes on.
    customer.extend(tone(
        Party::Customer,
        1_000.0,
        50,
        3_000,
        550,
        ts0 + 3 * 48_000,
    ));
    let agent = tone(Party::Agent, 600.0, 200, 0, 7, 5);
    let summary = record(tmp.path(), "gap-1", &by_arrival(vec![customer, agent])).unwrap();
    assert_eq!(summary.duration_ms, 4_000);

    let rec = read_recording(&summary.path).unwrap();
    let c = &rec.customer.as_ref().unwrap().packets;
    assert_eq!(c[49].end(), 48_000);
    assert_eq!(
        c[50].start, 144_000,
        "the gap is a jump of the granule position"
    );

    let wav = tmp.path().join("gap.wav");
    export_wav(&summary.path, &wav).unwrap();
    let (left, right) = read_wav(&wav);
    assert_eq!(left.len(), 192_000);
    let start = 96_000 + onset(&left[96_000..], 1_000.0);
    assert!(
        start.abs_diff(144_000) <= 960,
        "tone at 3 s lands at {start}"
    );
    assert_eq!(max_abs(&left[49_000..143_000]), 0, "the gap is silent");
    // The agent runs on through the customer's gap.
    assert!(tone_level(&right[96_000..120_000], 600.0) > 0.2);
    assert!(tone_level(&left[150_000..190_000], 1_000.0) > 0.2);
}

#[test]
fn reordered_packets_are_written_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let pkts = tone(Party::Customer, 440.0, 20, 0, 65_000, 0);
    let expected: Vec<Vec<u8>> = pkts.iter().map(|p| p.payload.clone()).collect();
    // Swap pairs 2<->3, 7<->8 and 12<->14 in arrival order (arrival times swap as well).
    let mut swapped = pkts;
    for (a, b) in [(2, 3), (7, 8), (12, 14)] {
        swapped.swap(a, b);
        let (x, y) = (swapped[a].arrival_ms, swapped[b].arrival_ms);
        swapped[a].arrival_ms = y;
        swapped[b].arrival_ms = x;
    }
    let summary = record(tmp.path(), "reorder-1", &swapped).unwrap();
    assert_eq!(summary.packets_dropped, 0);
    let rec = read_recording(&summary.path).unwrap();
    let got = &rec.customer.as_ref().unwrap().packets;
    assert_eq!(
        got.iter().map(|p| p.data.clone()).collect::<Vec<_>>(),
        expected
    );
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.start, i as u64 * 960);
    }
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = LocalRecordingSink::new(tmp.path()).unwrap();
    let started = Instant::now();
    let mut rec = sink.start(meta("dup-1", started)).unwrap();
    let pkts = tone(Party::Agent, 440.0, 30, 0, 10, 10);
    push_all(rec.as_mut(), started, &pkts);
    // Every packet again, after all were written (a looping network path).
    let again: Vec<Pkt> = pkts
        .iter()
        .map(|p| Pkt {
            payload: p.payload.clone(),
            arrival_ms: p.arrival_ms + 605,
            ..*p
        })
        .collect();
    push_all(rec.as_mut(), started, &again);
    let summary = rec.finish().unwrap();
    assert_eq!(summary.packets_written, 30);
    assert_eq!(summary.packets_dropped, 30);
    let stats = sink.stats().snapshot();
    assert_eq!(stats.dropped_duplicate, 30);
    assert_eq!(stats.packets_written, 30);
    assert_eq!(stats.packets_dropped(), 30);
    assert_eq!(stats.recordings_active, 0, "finish joined the writer");
    assert_eq!(
        (stats.recordings_started, stats.recordings_completed),
        (1, 1)
    );
    assert!(stats.bytes_written > payload_bytes(&pkts));
    let md = read_metadata(&summary.path).unwrap();
    assert_eq!((md.agent.packets, md.agent.duplicates), (30, 30));
    assert_eq!(
        read_recording(&summary.path)
            .unwrap()
            .agent
            .unwrap()
            .packets
            .len(),
        30
    );
}

#[test]
fn rtp_timestamp_and_sequence_wrap() {
    let tmp = tempfile::tempdir().unwrap();
    // Both counters wrap after the fifth packet.
    let mut pkts = tone(
        Party::Customer,
        440.0,
        25,
        0,
        65_531,
        u32::MAX - 5 * 960 + 1,
    );
    // Jitter: the packet that wraps arrives 7 ms late; its place comes from its timestamp.
    pkts[5].arrival_ms += 7;
    let summary = record(tmp.path(), "wrap-1", &pkts).unwrap();
    assert_eq!(summary.packets_written, 25);
    let md = read_metadata(&summary.path).unwrap();
    assert_eq!((md.customer.reanchors, md.customer.lost), (0, 0));
    let rec = read_recording(&summary.path).unwrap();
    let got = &rec.customer.as_ref().unwrap().packets;
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.start, i as u64 * 960, "packet {i}");
    }
    let wav = tmp.path().join("wrap.wav");
    export_wav(&summary.path, &wav).unwrap();
    let (left, _) = read_wav(&wav);
    assert_eq!(left.len(), 25 * 960);
    // The tone runs on across the wrap (packets 4..6).
    assert!(tone_level(&left[3 * 960..7 * 960], 440.0) > 0.2);
}

#[test]
fn drop_without_finish_leaves_a_decodable_file() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = LocalRecordingSink::new(tmp.path()).unwrap();
    let started = Instant::now();
    let mut rec = sink.start(meta("dropped-1", started)).unwrap();
    let pkts = tone(Party::Customer, 440.0, 50, 0, 1, 1);
    push_all(rec.as_mut(), started, &pkts);
    drop(rec);
    assert!(
        sink.wait_idle(Duration::from_secs(20)),
        "writer closes the file"
    );
    assert_eq!(sink.stats().recordings_active(), 0);

    let dir = sink.recording_dir("dropped-1").unwrap();
    let md = read_metadata(&dir).unwrap();
    assert!(!md.complete);
    assert!(md.ended_at.is_some());
    assert_eq!(md.customer.packets, 50);
    let rec = read_recording(&dir).unwrap();
    assert!(rec.customer.as_ref().unwrap().ended);
    let wav = tmp.path().join("dropped.wav");
    export_wav(&dir, &wav).unwrap();
    let (left, _) = read_wav(&wav);
    assert!(tone_level(&left[9_600..38_400], 440.0) > 0.2);
}

#[test]
fn a_file_cut_inside_a_page_reads_up_to_that_page() {
    let tmp = tempfile::tempdir().unwrap();
    let pkts = tone(Party::Customer, 440.0, 150, 0, 1, 1);
    let summary = record(tmp.path(), "cut-1", &pkts).unwrap();
    let bytes = std::fs::read(&summary.audio_path).unwrap();
    let cut = tmp.path().join("cut.ogg");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let rec = read_recording(&cut).unwrap();
    assert!(rec.truncated);
    let got = rec.customer.unwrap().packets;
    // Pages hold at most 1 s: the first two seconds survive.
    assert!(got.len() >= 100 && got.len() < 150, "{} packets", got.len());
    assert!(got.iter().zip(&pkts).all(|(g, p)| g.data == p.payload));
}

#[test]
fn invalid_recording_ids_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = LocalRecordingSink::new(tmp.path()).unwrap();
    let long = "x".repeat(129);
    for id in [
        "",
        ".",
        "..",
        "../escape",
        "a/b",
        "a\\b",
        ".hidden",
        "with space",
        "ümlaut",
        "nul\0",
        long.as_str(),
    ] {
        let err = sink.start(meta(id, Instant::now())).err();
        assert!(
            matches!(err, Some(RecorderError::InvalidRecordingId { .. })),
            "{id:?}: {err:?}"
        );
    }
    assert_eq!(sink.recordings_dir().read_dir().unwrap().count(), 0);
    assert!(!tmp.path().join("escape").exists());

    let ok = "0b6f3c1e-5d2a-4e8f-9c41-7a2d9e0f1b23";
    let rec = sink.start(meta(ok, Instant::now())).unwrap();
    let again = sink.start(meta(ok, Instant::now())).err();
    assert!(
        matches!(again, Some(RecorderError::AlreadyExists(_))),
        "{again:?}"
    );
    rec.finish().unwrap();
    let message = crate::validate_recording_id("../x")
        .unwrap_err()
        .to_string();
    assert_eq!(message, r#"invalid recording id "../x": starts with a dot"#);
}

#[test]
fn a_full_queue_drops_without_blocking_and_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = LocalRecordingSink::new(tmp.path())
        .unwrap()
        .with_queue_capacity(1);
    let started = Instant::now();
    let mut rec = sink.start(meta("overflow-1", started)).unwrap();
    let payload = ToneEncoder::new(440.0).packet();
    let n = 3_000u16;
    for i in 0..n {
        rec.push(AudioPacket {
            party: Party::Customer,
            sequence: i,
            rtp_timestamp: u32::from(i) * 960,
            arrival: at(started, u64::from(i) * 20),
            payload: &payload,
        });
    }
    let summary = rec.finish().unwrap();
    let md = read_metadata(&summary.path).unwrap();
    assert_eq!(md.customer.packets + md.customer.overflow, u64::from(n));
    assert_eq!(summary.packets_dropped, md.customer.overflow);
    assert_eq!(
        sink.stats().snapshot().dropped_overflow,
        md.customer.overflow
    );
}

#[test]
fn invalid_opus_packets_are_dropped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkts = tone(Party::Customer, 440.0, 10, 0, 1, 1);
    pkts[4].payload.clear();
    pkts[6].payload = vec![0x03]; // code 3 without its frame count byte
    let summary = record(tmp.path(), "invalid-1", &pkts).unwrap();
    assert_eq!(summary.packets_written, 8);
    let md = read_metadata(&summary.path).unwrap();
    assert_eq!((md.customer.invalid, md.customer.lost), (2, 2));
}

#[test]
fn meta_json_describes_the_recording() {
    let tmp = tempfile::tempdir().unwrap();
    let customer = tone(Party::Customer, 440.0, 10, 0, 1, 1);
    let bytes: u64 = customer.iter().map(|p| p.payload.len() as u64).sum();
    let summary = record(tmp.path(), "meta-1", &customer).unwrap();
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(summary.path.join("meta.json")).unwrap()).unwrap();
    assert_eq!(raw["recording_id"], "meta-1");
    assert_eq!(raw["call_id"], "call-meta-1");
    assert_eq!(raw["codec"], "opus/48000/2");
    assert_eq!(raw["started_at"], "2026-03-02T10:15:00Z");
    assert!(raw["ended_at"].is_string());
    assert_eq!(raw["complete"], true);
    assert_eq!(raw["duration_ms"], 200);
    assert_eq!(raw["customer"]["packets"], 10);
    assert_eq!(raw["customer"]["bytes"], bytes);
    assert_eq!(raw["agent"]["packets"], 0);
    assert_eq!(raw["agent"]["first_sample"], serde_json::Value::Null);
    // A party that never spoke still has a well-formed, empty stream.
    let rec = read_recording(&summary.path).unwrap();
    let agent = rec.agent.unwrap();
    assert!(agent.packets.is_empty() && agent.ended);
}

#[test]
fn short_losses_are_concealed_long_gaps_are_silent() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pkts = tone(Party::Customer, 440.0, 30, 0, 1, 1);
    pkts.remove(10); // one lost 20 ms packet
    let summary = record(tmp.path(), "plc-1", &pkts).unwrap();
    let gap = 10 * 960..11 * 960;

    let wav = tmp.path().join("plc.wav");
    let export = export_wav(&summary.path, &wav).unwrap();
    assert_eq!(export.concealed_samples, 960);
    let (left, _) = read_wav(&wav);
    assert!(
        max_abs(&left[gap.clone()]) > 1_000,
        "concealment fills the lost packet"
    );

    let wav = tmp.path().join("silent.wav");
    let export = export_wav_with(
        &summary.path,
        &wav,
        &ExportOptions {
            conceal_gaps_up_to_ms: 0,
        },
    )
    .unwrap();
    assert_eq!(export.concealed_samples, 0);
    let (left, _) = read_wav(&wav);
    assert_eq!(max_abs(&left[gap]), 0);
}

#[test]
fn damaged_files_are_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let pkts = tone(Party::Customer, 440.0, 20, 0, 1, 1);
    let summary = record(tmp.path(), "damaged-1", &pkts).unwrap();
    let mut bytes = std::fs::read(&summary.audio_path).unwrap();
    // Flip a bit inside the 11th packet's payload.
    let payload = &pkts[10].payload;
    let at = bytes
        .windows(payload.len())
        .position(|w| w == payload.as_slice())
        .unwrap();
    bytes[at + payload.len() / 2] ^= 0x40;
    let flipped = tmp.path().join("flipped.ogg");
    std::fs::write(&flipped, &bytes).unwrap();
    let err = read_recording(&flipped).unwrap_err().to_string();
    assert!(
        err.starts_with("malformed recording: page checksum mismatch at byte"),
        "{err}"
    );

    let not_ogg = tmp.path().join("not.ogg");
    std::fs::write(&not_ogg, b"RIFF....WAVEfmt definitely not an ogg file").unwrap();
    let err = read_recording(&not_ogg).unwrap_err().to_string();
    assert_eq!(err, "malformed recording: no ogg page at byte 0");

    let missing = tmp.path().join("recordings").join("nope");
    let err = export_wav(&missing, &tmp.path().join("x.wav")).unwrap_err();
    assert!(
        matches!(err, RecorderError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert!(!tmp.path().join("x.wav").exists());
}

#[test]
fn an_independent_ogg_parser_reads_the_same_packets() {
    let tmp = tempfile::tempdir().unwrap();
    let customer = tone(Party::Customer, 440.0, 120, 0, 1, 1);
    let agent = tone(Party::Agent, 1_000.0, 60, 700, 9, 9);
    let summary = record(
        tmp.path(),
        "crosscheck-1",
        &by_arrival(vec![customer, agent]),
    )
    .unwrap();
    let ours = read_recording(&summary.path).unwrap();
    let file = std::fs::File::open(&summary.audio_path).unwrap();
    let mut theirs = ogg::PacketReader::new(std::io::BufReader::new(file));
    let mut by_serial: std::collections::HashMap<u32, Vec<Vec<u8>>> = Default::default();
    while let Some(p) = theirs.read_packet().unwrap() {
        by_serial.entry(p.stream_serial()).or_default().push(p.data);
    }
    for party in Party::ALL {
        let track = ours.track(party).unwrap();
        let packets = &by_serial[&track.serial];
        // OpusHead, OpusTags, then the audio.
        assert!(packets[0].starts_with(b"OpusHead") && packets[1].starts_with(b"OpusTags"));
        let audio: Vec<&Vec<u8>> = track.packets.iter().map(|p| &p.data).collect();
        assert_eq!(audio, packets[2..].iter().collect::<Vec<_>>(), "{party:?}");
    }
}
