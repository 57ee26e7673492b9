//! Scale-out on loopback (issue 7): PostgreSQL and SeaweedFS started here, one signaling and
//! two media processes of the real binary, identification calls in Chromium.
//!
//! - Calls land on both media nodes (least loaded first).
//! - SIGTERM to a media node mid-call: it stops taking calls (new ones go to the other node),
//!   lets its call finish, closes the recording (which verifies), and exits by itself.
//! - kill -9 of a media node mid-call: signaling notices the silence, the customer is back at
//!   the head of the queue (told on their queue socket, the place kept), and the partial
//!   recording verifies as authentic but incomplete once the node's spool is recovered.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::json;
use vidid_cases::testing::Postgres;
use vidid_e2e::journey::{OPEN_HOURS, QueuedCustomer};
use vidid_e2e::{
    Browser, CallArgs, DriverOutcome, Server, ServerOptions, Side, artifacts_dir, browser_lock,
    drive_call, free_tcp_port, http_request, skip_browser_tests, write_tone_wav,
};
use vidid_vault::testing::{SeaweedFs, skip_s3};

const BUCKET: &str = "vidid-cluster";
const SECRET: &str = "cluster-test-secret-0123456789abcdef";

/// What every node of the deployment shares.
fn shared_env(pg: &str, weed: &SeaweedFs, keys: &Path) -> Vec<(String, String)> {
    let mut env = weed.vidid_env(BUCKET);
    for (k, v) in [
        ("VIDID__CASES__STORE__URL", pg.to_string()),
        ("VIDID__CLUSTER__SECRET", SECRET.to_string()),
        ("VIDID__VAULT__KEYS_DIR", keys.display().to_string()),
        ("VIDID__NODE__HEARTBEAT_SECS", "1".to_string()),
        ("VIDID_FAKE_NOW", OPEN_HOURS.to_string()),
    ] {
        env.push((k.into(), v));
    }
    env
}

fn media_node(
    id: &str,
    shared: &[(String, String)],
    artifacts: &Path,
    port: u16,
    data_dir: Option<std::path::PathBuf>,
) -> Result<Server> {
    let mut env = shared.to_vec();
    for (k, v) in [
        ("VIDID__NODE__ID", id.to_string()),
        (
            "VIDID__NODE__PUBLIC_URL",
            format!("http://127.0.0.1:{port}"),
        ),
        ("VIDID__VAULT__DEPLOYMENT_ID", id.to_string()),
        ("VIDID__NODE__DRAIN_GRACE_SECS", "120".to_string()),
    ] {
        env.push((k.into(), v));
    }
    Server::start_with(ServerOptions {
        args: vec!["--role".into(), "media".into()],
        env,
        artifacts_dir: Some(artifacts.join(id)),
        data_dir,
        port: Some(port),
    })
}

/// Both browsers of one call: the bare call pages come from signaling (media nodes serve no
/// pages) and join the call socket on the media node the call was placed on (`&media=`);
/// returns when the call ends (or the node dies).
fn browsers(
    sig_url: &str,
    media_url: &str,
    customer_token: &str,
    agent_token: &str,
    tones: &Path,
    artifacts: &Path,
    connected: mpsc::Sender<()>,
) -> thread::JoinHandle<Result<DriverOutcome>> {
    let side = |url: String, wav: &str| Side {
        url,
        browser: Browser::Chromium,
        wav: Some(tones.join(wav)),
        tone_hz: None,
        hide_candidates: false,
    };
    let args = CallArgs {
        base_url: sig_url.to_string(),
        customer: side(
            format!("{sig_url}/customer?token={customer_token}&media={media_url}"),
            "440.wav",
        ),
        agent: side(
            format!("{sig_url}/agent?token={agent_token}&media={media_url}"),
            "1000.wav",
        ),
        duration_secs: 3.0,
        samples: 2,
        artifacts_dir: artifacts.to_path_buf(),
        connect_timeout_secs: 60,
        click_end_call: false,
        wait_for_end: true,
        end_timeout_secs: 150,
        timeout_secs: 240,
    };
    thread::spawn(move || {
        drive_call(&args, |ev| {
            if ev["event"] == "connected" {
                let _ = connected.send(());
            }
            Ok(())
        })
    })
}

fn media_url_of(server: &Server) -> String {
    format!("http://127.0.0.1:{}", server.port())
}

fn verify(sig: &Server, recording_id: &str) -> Result<(i32, String)> {
    let out = sig.vidid(&["recording", "verify", recording_id])?;
    Ok((
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[test]
fn calls_spread_over_media_nodes_drain_on_sigterm_and_survive_a_killed_node() -> Result<()> {
    if skip_browser_tests("cluster") || skip_s3("cluster") {
        return Ok(());
    }
    let Some(pg) = Postgres::start() else {
        return Ok(());
    };
    let _lock = browser_lock()?;
    let artifacts = artifacts_dir("cluster")?;
    let weed = SeaweedFs::start().map_err(anyhow::Error::msg)?;
    weed.create_locked_bucket(BUCKET, 1)
        .map_err(anyhow::Error::msg)?;
    let db = pg.database("vidid");
    let tmp = tempfile::tempdir()?;
    let keys = tmp.path().join("keys");
    let shared = shared_env(&db, &weed, &keys);

    // Signaling first (it creates the deployment's keys), then two media nodes.
    let mut sig_env = shared.clone();
    sig_env.push(("VIDID__VAULT__DEPLOYMENT_ID".into(), "signaling".into()));
    let sig = Server::start_with(ServerOptions {
        args: vec!["--role".into(), "signaling".into()],
        env: sig_env,
        artifacts_dir: Some(artifacts.join("signaling")),
        ..ServerOptions::default()
    })?;
    let (p1, p2) = (free_tcp_port()?, free_tcp_port()?);
    let mut m1 = media_node("m1", &shared, &artifacts, p1, None)?;
    let mut m2 = media_node("m2", &shared, &artifacts, p2, None)?;
    let (url1, url2) = (media_url_of(&m1), media_url_of(&m2));
    let mut cookies = Vec::new();
    for a in ["a1", "a2", "a3"] {
        let pw = sig.add_user(a, "agent")?;
        cookies.push(sig.login(a, &pw)?);
    }
    for c in &cookies {
        let (st, v) = sig.staff(
            c,
            "PUT",
            "/api/v1/agent/availability",
            Some(json!({"status": "available"})),
        )?;
        ensure!(st == 200, "availability: {st} {v}");
    }
    // Both nodes heartbeat into the registry.
    thread::sleep(Duration::from_secs(2));

    let tones = tmp.path();
    write_tone_wav(&tones.join("440.wav"), 440.0, 120.0, 0.3)?;
    write_tone_wav(&tones.join("1000.wav"), 1000.0, 120.0, 0.3)?;

    // Two calls: one on each node.
    let mut a: QueuedCustomer = sig.queued_customer("Ana Kovač", &sig)?;
    let mut b = sig.queued_customer("Bojan Zupan", &sig)?;
    let (st, take_a) = sig.staff(&cookies[0], "POST", "/api/v1/agent/take", None)?;
    ensure!(st == 200, "take A: {st} {take_a}");
    let (st, take_b) = sig.staff(&cookies[1], "POST", "/api/v1/agent/take", None)?;
    ensure!(st == 200, "take B: {st} {take_b}");
    ensure!(
        take_a["case"]["id"] == a.case_id.as_str() && take_b["case"]["id"] == b.case_id.as_str()
    );
    ensure!(
        take_a["call"]["media_url"] == url1.as_str(),
        "call A on m1: {take_a}"
    );
    ensure!(
        take_b["call"]["media_url"] == url2.as_str(),
        "call B on m2 (m1 has one): {take_b}"
    );
    let ready_a = a.expect("call_ready", Duration::from_secs(10))?;
    let ready_b = b.expect("call_ready", Duration::from_secs(10))?;
    ensure!(ready_a["media_url"] == url1.as_str(), "{ready_a}");
    ensure!(ready_b["media_url"] == url2.as_str(), "{ready_b}");
    let (tx, rx) = mpsc::channel();
    let call_a = browsers(
        &sig.base_url(),
        &url1,
        ready_a["token"].as_str().unwrap_or_default(),
        take_a["call"]["token"].as_str().unwrap_or_default(),
        tones,
        &artifacts.join("call-a"),
        tx.clone(),
    );
    let call_b = browsers(
        &sig.base_url(),
        &url2,
        ready_b["token"].as_str().unwrap_or_default(),
        take_b["call"]["token"].as_str().unwrap_or_default(),
        tones,
        &artifacts.join("call-b"),
        tx,
    );
    for _ in 0..2 {
        rx.recv_timeout(Duration::from_secs(90))
            .context("both calls connect in Chromium")?;
    }
    // A token is only good on the node its call was placed on.
    let wrong = tungstenite::connect(format!("ws://127.0.0.1:{p2}/ws")).map(|(mut ws, _)| {
        let _ = ws.send(tungstenite::Message::text(
            json!({"type": "join", "token": ready_a["token"]}).to_string(),
        ));
        ws.read().map(|m| m.to_string()).unwrap_or_default()
    })?;
    ensure!(wrong.contains("invalid_token"), "A's token on m2: {wrong}");
    thread::sleep(Duration::from_secs(6)); // audio for the recordings

    // SIGTERM m1: not ready, no new calls, its call goes on.
    m1.sigterm();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http_request("GET", &format!("{url1}/readyz"), &[], None)?;
        if r.status == 503 && r.text().contains("draining") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "m1 never reported draining: {} {}",
            r.status,
            r.text()
        );
        thread::sleep(Duration::from_millis(200));
    }
    thread::sleep(Duration::from_secs(2)); // the registry hears of it
    let mut c = sig.queued_customer("Cvetka Horvat", &sig)?;
    let (st, take_c) = sig.staff(&cookies[2], "POST", "/api/v1/agent/take", None)?;
    ensure!(st == 200, "take C: {st} {take_c}");
    ensure!(
        take_c["call"]["media_url"] == url2.as_str(),
        "a new call avoids the draining node: {take_c}"
    );
    c.expect("call_ready", Duration::from_secs(10))?;
    let c_id = c.case_id.clone();
    let (st, v) = sig.staff(
        &cookies[2],
        "POST",
        &format!("/api/v1/cases/{c_id}/abort"),
        Some(json!({"reason": "other_suspicion", "note": "test: not needed"})),
    )?;
    ensure!(st == 200, "abort C: {st} {v}");
    ensure!(m1.is_running(), "m1 waits for its call");

    // A's agent decides: the call ends, the recording closes, and the drained node exits.
    let a_id = a.case_id.clone();
    let (st, v) = sig.staff(
        &cookies[0],
        "POST",
        &format!("/api/v1/cases/{a_id}/reject"),
        Some(json!({"reason": "test: drain"})),
    )?;
    ensure!(st == 200, "reject A: {st} {v}");
    a.expect("result", Duration::from_secs(10))?;
    let status = m1
        .wait_exit(Duration::from_secs(60))
        .context("m1 exits after its last call")?;
    ensure!(status.success(), "m1 exited with {status}");
    let out_a = call_a
        .join()
        .map_err(|_| anyhow::anyhow!("call A driver panicked"))??;
    ensure!(out_a.ok(), "call A in Chromium: {}", out_a.describe());
    let (code, report) = verify(&sig, &format!("{a_id}-1"))?;
    ensure!(code == 0, "A's recording verifies (exit {code}):\n{report}");

    // kill -9 m2 mid-call: B goes back to the head of the queue, ahead of D who waits.
    let mut d = sig.queued_customer("Darja Novak", &sig)?;
    d.expect("queue", Duration::from_secs(10))?;
    thread::sleep(Duration::from_secs(3));
    m2.kill9();
    let requeued = b.expect("requeued", Duration::from_secs(20))?;
    ensure!(
        requeued["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{requeued}"
    );
    let place = b.expect("queue", Duration::from_secs(10))?;
    ensure!(place["position"] == 1, "B at the head: {place}");
    let case_b = sig
        .api("GET", &format!("/api/v1/cases/{}", b.case_id), None)?
        .json()?;
    ensure!(case_b["state"] == "queued", "{case_b}");
    let (_, queue) = sig.staff(&cookies[1], "GET", "/api/v1/queue", None)?;
    let order: Vec<&str> = queue["queue"]
        .as_array()
        .context("queue")?
        .iter()
        .filter_map(|p| p["case_id"].as_str())
        .collect();
    ensure!(
        order == [b.case_id.as_str(), d.case_id.as_str()],
        "queue order: {order:?}"
    );
    let _ = call_b.join();

    // The killed node's spool closes the partial recording at its next start.
    // (`m2` keeps its temporary data directory alive; the restart uses it.)
    let m2_dir = m2.data_dir().to_path_buf();
    let _m2_again = media_node("m2", &shared, &artifacts.join("restart"), p2, Some(m2_dir))?;
    let rid = format!("{}-1", b.case_id);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (code, report) = loop {
        let (code, report) = verify(&sig, &rid)?;
        if code != 1 || Instant::now() > deadline {
            break (code, report);
        }
        thread::sleep(Duration::from_secs(1));
    };
    ensure!(
        code == 3,
        "B's partial recording: authentic but incomplete (exit 3), got {code}:\n{report}"
    );
    drop(pg);
    Ok(())
}
