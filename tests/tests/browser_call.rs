//! End-to-end: two real browsers in one vidid call, through the real `vidid serve`.
//!
//! (a) Chromium customer (440 Hz fake microphone) ↔ Chromium agent (1000 Hz): media flows both
//!     ways, and the exported recording has the customer's tone on the left channel and the
//!     agent's on the right.
//! (b) Firefox customer (generated 440 Hz fake microphone) ↔ Chromium agent (1000 Hz): media
//!     flows both ways; the recording has the agent's tone on the right channel and the
//!     customer's audio (its 440 Hz tone) on the left.
//! (c) As (a), but the customer's ICE candidates never reach the server (it must learn the
//!     browser's address from its checks, as behind a NAT), and the agent's "End call" button
//!     ends the call.
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/firefox-esr`, Node.js and `tests/browser/node_modules`
//! (`scripts/setup.sh` installs them all). `VIDID_SKIP_BROWSER=1` skips these tests loudly;
//! otherwise a missing browser is a failure. Artifacts (screenshots, browser consoles, server
//! log, the exported WAV, the analysis) go to `target/e2e-artifacts/<test>/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde_json::json;
use vidid_e2e::{
    Browser, CallArgs, DriverOutcome, EndedCall, Server, ServerOptions, Side, ToneReport,
    WavAnalysis, analyze_wav, artifacts_dir, browser_lock, drive_call, skip_browser_tests,
    write_tone_wav,
};

/// How long the call is sampled once both sides are connected.
const CALL_SECS: f64 = 15.0;
/// The share of the call's 100 ms windows in which a side's tone must dominate its channel.
const MIN_TONE_FRACTION: f64 = 0.80;
/// The share of windows in which the *other* side's tone may dominate a channel (crosstalk).
const MAX_CROSSTALK_FRACTION: f64 = 0.01;

#[test]
fn chromium_customer_and_chromium_agent() {
    let scenario = Scenario {
        name: "chromium_chromium",
        customer: Browser::Chromium,
        hide_customer_candidates: false,
        end_by_agent_button: false,
        call_secs: CALL_SECS,
    };
    run(&scenario, |out, duration_ms, wav| {
        assert_media_flows(out, "customer", CALL_SECS, true)?;
        assert_media_flows(out, "agent", CALL_SECS, true)?;
        assert_tones(wav, duration_ms)
    });
}

#[test]
fn firefox_customer_and_chromium_agent() {
    let scenario = Scenario {
        name: "firefox_chromium",
        customer: Browser::Firefox,
        hide_customer_candidates: false,
        end_by_agent_button: false,
        call_secs: CALL_SECS,
    };
    run(&scenario, |out, duration_ms, wav| {
        // Firefox's totalAudioEnergy is not the played-out measure Chromium's is: no energy
        // check on the customer's side.
        assert_media_flows(out, "customer", CALL_SECS, false)?;
        assert_media_flows(out, "agent", CALL_SECS, true)?;
        // Firefox's fake microphone is a generated tone, not a file; the driver sets it to
        // 440 Hz (`media.navigator.audio.fake_frequency`). The left channel must carry audio,
        // and that tone.
        assert_tones(wav, duration_ms)
    });
}

/// The customer's trickled candidates never reach the server (as behind a NAT, where the
/// browser's own addresses are unreachable): the server must learn its address from the
/// browser's connectivity checks (a peer-reflexive candidate). The agent ends the call with the
/// page's "End call" button (`end_call` on the WebSocket).
#[test]
fn customer_reached_only_by_its_checks_and_agent_ends_the_call() {
    const SECS: f64 = 8.0;
    let scenario = Scenario {
        name: "peer_reflexive_end_button",
        customer: Browser::Chromium,
        hide_customer_candidates: true,
        end_by_agent_button: true,
        call_secs: SECS,
    };
    run(&scenario, |out, duration_ms, wav| {
        assert_media_flows(out, "customer", SECS, true)?;
        assert_media_flows(out, "agent", SECS, true)?;
        assert_tones(wav, duration_ms)
    });
}

struct Scenario {
    /// Also the artifacts directory name.
    name: &'static str,
    customer: Browser,
    hide_customer_candidates: bool,
    /// End with the agent page's button instead of `POST /api/v1/calls/{id}/end`.
    end_by_agent_button: bool,
    call_secs: f64,
}

/// The check of one finished call: the driver's result, the call's duration as the server
/// reported it (when ended through the API), and the exported recording.
type Check<'a> = dyn FnOnce(&DriverOutcome, Option<u64>, &Path) -> Result<()> + 'a;

/// One call: server, tones, call, browsers, the end of the call while both pages are open (API
/// or button), the pages' view of the end, the recording export, then `check`.
fn run(scenario: &Scenario, check: impl FnOnce(&DriverOutcome, Option<u64>, &Path) -> Result<()>) {
    let name = scenario.name;
    if skip_browser_tests(name) {
        return;
    }
    let _lock = browser_lock().expect("browser test lock");
    let artifacts = artifacts_dir(name).expect("artifacts dir");
    let server = Server::start_with(ServerOptions {
        artifacts_dir: Some(artifacts.clone()),
        ..ServerOptions::default()
    })
    .expect("vidid serve starts and is ready");
    // Any failure below panics while `server` is alive, so its log is printed.
    if let Err(e) = call(&server, &artifacts, scenario, Box::new(check)) {
        panic!(
            "{name} failed: {e:?}\n(artifacts in {})",
            artifacts.display()
        );
    }
}

fn call(
    server: &Server,
    artifacts: &Path,
    scenario: &Scenario,
    check: Box<Check<'_>>,
) -> Result<()> {
    let tones = server.temp_dir();
    let tone_440 = tones.join("tone-440.wav");
    let tone_1000 = tones.join("tone-1000.wav");
    write_tone_wav(&tone_440, 440.0, 60.0, 0.3)?;
    write_tone_wav(&tone_1000, 1000.0, 60.0, 0.3)?;

    let created = server.create_call()?;
    ensure!(
        created.links.customer.starts_with("/customer?token=")
            && created.links.agent.starts_with("/agent?token="),
        "unexpected links: {:?}",
        created.links
    );
    let call_id = created.call_id.clone();
    let customer = scenario.customer;
    let args = CallArgs {
        base_url: server.base_url(),
        customer: Side {
            url: created.links.customer.clone(),
            browser: customer,
            wav: (customer == Browser::Chromium).then(|| tone_440.clone()),
            tone_hz: (customer == Browser::Firefox).then_some(440),
            hide_candidates: scenario.hide_customer_candidates,
        },
        agent: Side {
            url: created.links.agent.clone(),
            browser: Browser::Chromium,
            wav: Some(tone_1000.clone()),
            tone_hz: None,
            hide_candidates: false,
        },
        duration_secs: scenario.call_secs,
        samples: 6,
        artifacts_dir: artifacts.to_path_buf(),
        connect_timeout_secs: 60,
        click_end_call: scenario.end_by_agent_button,
        wait_for_end: true,
        end_timeout_secs: 20,
        timeout_secs: 240,
    };

    // Unless the agent's button ends it, end the call through the API once the driver has
    // sampled, with both pages still open: both must then show "ended" (they get `call_ended`).
    let mut ended: Option<EndedCall> = None;
    let mut while_connected = None;
    let outcome = drive_call(&args, |event| {
        match event.get("event").and_then(|e| e.as_str()) {
            Some("connected") => while_connected = Some(server.get_call(&call_id)?),
            Some("sampled") if !scenario.end_by_agent_button => {
                ended = Some(server.end_call(&call_id)?)
            }
            _ => {}
        }
        Ok(())
    })?;
    fs::write(
        artifacts.join("driver-result.json"),
        serde_json::to_vec_pretty(&outcome.result)?,
    )?;
    ensure!(
        outcome.ok(),
        "the browser driver failed:\n{}",
        outcome.describe()
    );

    // The API's view while both were connected.
    let during = while_connected.context("the driver never reported \"connected\"")?;
    ensure!(
        during["state"] == "active"
            && during["participants"]["customer"] == "connected"
            && during["participants"]["agent"] == "connected",
        "GET /api/v1/calls/{{id}} while both pages were connected: {during}"
    );
    for side in ["customer", "agent"] {
        ensure!(
            outcome.str(&format!("/{side}/state")) == Some("ended"),
            "the {side} page does not show the end of the call:\n{}",
            outcome.describe()
        );
    }
    let after = server.get_call(&call_id)?;
    ensure!(
        after["state"] == "ended",
        "GET /api/v1/calls/{{id}} after the end: {after}"
    );

    let (recording_id, duration_ms) = match &ended {
        Some(e) => {
            ensure!(e.call_id == call_id, "end answered for another call: {e:?}");
            (e.recording_id.clone(), e.duration_ms)
        }
        None => (after["recording_id"].as_str().map(str::to_string), None),
    };
    let recording_id = recording_id
        .with_context(|| format!("the ended call names no recording: {ended:?} / {after}"))?;
    let wav = artifacts.join("recording.wav");
    server.export_wav(&recording_id, &wav)?;
    check(&outcome, duration_ms, &wav).map_err(|e| e.context(outcome.describe()))
}

/// The recording is stereo, the customer's 440 Hz dominates the left channel and the agent's
/// 1000 Hz the right one for at least [`MIN_TONE_FRACTION`] of the call's 100 ms windows (the
/// call's length is the server's `duration_ms`, else the WAV's), and neither tone dominates
/// the other side's channel.
fn assert_tones(wav: &Path, duration_ms: Option<u64>) -> Result<()> {
    let analysis = analyze_wav(wav)?;
    let over = duration_ms
        .filter(|&d| d > 0)
        .unwrap_or(analysis.duration_ms);
    let left = analysis.tone_report(0, 440, Some(over))?;
    let right = analysis.tone_report(1, 1000, Some(over))?;
    write_analysis(wav, &analysis, &[&left, &right])?;
    let show = || format!("left: {left:?}\nright: {right:?}\n{}", analysis.timeline());
    ensure!(
        analysis.channels == 2,
        "the recording should be stereo: {}",
        show()
    );
    ensure!(
        left.loud_fraction >= MIN_TONE_FRACTION,
        "the left (customer) channel has audio above -40 dBFS in only {:.0}% of the call's windows\n{}",
        left.loud_fraction * 100.0,
        show()
    );
    ensure!(
        left.expected_fraction >= MIN_TONE_FRACTION,
        "the customer's 440 Hz dominates the left channel in only {:.0}% of the call's windows (need {:.0}%)\n{}",
        left.expected_fraction * 100.0,
        MIN_TONE_FRACTION * 100.0,
        show()
    );
    ensure!(
        right.expected_fraction >= MIN_TONE_FRACTION,
        "the agent's 1000 Hz dominates the right channel in only {:.0}% of the call's windows (need {:.0}%)\n{}",
        right.expected_fraction * 100.0,
        MIN_TONE_FRACTION * 100.0,
        show()
    );
    ensure!(
        left.other_fraction <= MAX_CROSSTALK_FRACTION,
        "the agent's 1000 Hz dominates the left (customer) channel in {:.1}% of the windows\n{}",
        left.other_fraction * 100.0,
        show()
    );
    ensure!(
        right.other_fraction <= MAX_CROSSTALK_FRACTION,
        "the customer's 440 Hz dominates the right (agent) channel in {:.1}% of the windows\n{}",
        right.other_fraction * 100.0,
        show()
    );
    Ok(())
}

/// The side's inbound media grew while sampled: audio packets and bytes, video bytes and
/// decoded frames; and, for Chromium (`played_energy`), the played-out audio energy.
fn assert_media_flows(
    out: &DriverOutcome,
    side: &str,
    call_secs: f64,
    played_energy: bool,
) -> Result<()> {
    let secs = out.num(&format!("/{side}/stats/seconds")).unwrap_or(0.0);
    ensure!(secs >= call_secs * 0.8, "{side}: sampled over {secs}s only");
    let get = |p: &str| out.num(&format!("/{side}/stats/{p}")).unwrap_or(0.0);
    let audio_packets = get("growth/inbound/audio/packetsReceived");
    let audio_bytes = get("growth/inbound/audio/bytesReceived");
    let video_bytes = get("growth/inbound/video/bytesReceived");
    let frames_last = get("last/inbound/video/framesDecoded");
    let frames = get("growth/inbound/video/framesDecoded");
    let summary = || {
        format!(
            "{side}: over {secs:.1}s audio +{audio_packets} packets +{audio_bytes} B, video +{video_bytes} B \
             +{frames} frames (total {frames_last}); stats: {}",
            out.result
                .pointer(&format!("/{side}/stats"))
                .unwrap_or(&json!(null))
        )
    };
    // Opus sends 50 packets a second; half of that proves a steady flow.
    ensure!(
        audio_packets >= 25.0 * secs,
        "too little audio received. {}",
        summary()
    );
    ensure!(audio_bytes > 0.0, "no audio bytes received. {}", summary());
    ensure!(video_bytes > 0.0, "no video bytes received. {}", summary());
    ensure!(frames_last > 0.0, "no video frame decoded. {}", summary());
    // The fake cameras give 20-30 fps; on two busy cores, 2 fps still proves a live picture.
    ensure!(
        frames >= 2.0 * secs,
        "too few video frames decoded. {}",
        summary()
    );
    let audio_codec = out
        .str(&format!("/{side}/stats/last/inbound/audio/codec"))
        .unwrap_or("");
    ensure!(
        audio_codec.eq_ignore_ascii_case("audio/opus"),
        "audio codec {audio_codec:?}. {}",
        summary()
    );
    let video_codec = out
        .str(&format!("/{side}/stats/last/inbound/video/codec"))
        .unwrap_or("");
    ensure!(
        video_codec.eq_ignore_ascii_case("video/VP8")
            || video_codec.eq_ignore_ascii_case("video/H264"),
        "video codec {video_codec:?}. {}",
        summary()
    );
    if played_energy {
        let energy = get("growth/inbound/audio/totalAudioEnergy");
        ensure!(
            energy > 0.0,
            "no remote audio was played out (totalAudioEnergy did not grow). {}",
            summary()
        );
    }
    let width = get("last/inbound/video/frameWidth");
    ensure!(width > 0.0, "no decoded frame width. {}", summary());
    Ok(())
}

fn write_analysis(wav: &Path, analysis: &WavAnalysis, reports: &[&ToneReport]) -> Result<()> {
    let out = wav.with_extension("analysis.txt");
    let mut text = String::new();
    text.push_str(&format!(
        "{}: {} Hz, {} channel(s), {} ms\n",
        wav.display(),
        analysis.sample_rate,
        analysis.channels,
        analysis.duration_ms
    ));
    for r in reports {
        text.push_str(&format!("{r:?}\n"));
    }
    text.push_str(
        "timeline, one char per 100 ms (L = 440 Hz, H = 1000 Hz, . = quiet, ? = mixed):\n",
    );
    text.push_str(&analysis.timeline());
    fs::write(&out, text).with_context(|| format!("writing {}", out.display()))
}
