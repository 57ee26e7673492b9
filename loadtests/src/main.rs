//! # vidid-load: the load generator
//!
//! Emulates identification calls against a running `vidid serve` over real WebRTC (ICE,
//! DTLS-SRTP with the default AES-128-GCM profile), each call a customer and an agent
//! sending media both ways, and measures what comes out of the server.
//!
//! ## Layout
//! - [`participant`]: one emulated browser: WebSocket signaling, one `rtc` peer connection,
//!   one UDP socket, Opus and probe-carrying VP8 packets on a 20 ms clock.
//! - [`stats`]: loss, one-way latency (HDR histogram), jitter.
//! - `proc_sample`: CPU and RSS of the server process from `/proc`.
//! - `main`: the commands: `smoke` (the CI check) and `run` (one step against any server).
//! - [`queue`] (with `queue_http`): `queue`, the signaling benchmark: N customers waiting on
//!   `/ws/queue`, join/leave/take latencies and fan-out.
//!
//! The generator runs on one thread so that on a 2-core machine the other core is the
//! server's; its own cost per packet is reported with the results.

mod bench;
mod janus;
mod participant;
mod proc_sample;
mod queue;
mod queue_http;
mod signal;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use serde::Serialize;
use vidid_e2e::{CreatedCall, Server};

#[derive(Parser)]
#[command(name = "vidid-load", about = "Load generator and benchmarks for vidid")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start vidid, run a few calls, check zero loss, complete recordings and sane numbers.
    Smoke {
        #[arg(long, default_value_t = 5)]
        calls: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Start vidid and run one step of N calls; print the figures as JSON.
    Run {
        #[arg(long)]
        calls: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Check every recording's duration and tones afterwards.
        #[arg(long)]
        check_recordings: bool,
    },
    /// Ramp calls through vidid and Janus side by side; write results JSON and BENCHMARKS.md.
    /// Run it through `loadtests/bench.sh`, which provides the network namespace Janus needs.
    Bench {
        #[arg(long, value_delimiter = ',', default_value = "10,25,50,100,150,200")]
        steps: Vec<usize>,
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Interface with a non-loopback address for Janus's ICE.
        #[arg(long, default_value = "v0")]
        interface: String,
        #[arg(long, default_value = "loadtests/results.json")]
        json: std::path::PathBuf,
        #[arg(long, default_value = "BENCHMARKS.md")]
        markdown: std::path::PathBuf,
        #[arg(long)]
        skip_janus: bool,
    },
    /// Start vidid with N customers waiting on `/ws/queue`; measure queue join, leave and take
    /// (and the position fan-out); print a table, write the JSON row and the BENCHMARKS.md
    /// section. Fails when a sanity check fails (positions, order, errors), never on timing.
    Queue {
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
        /// Samples of each operation (fewer when a phase's time budget runs out).
        #[arg(long, default_value_t = 200)]
        samples: usize,
        #[arg(long, value_enum, default_value = "sqlite")]
        store: queue::StoreKind,
        /// Wall-clock budget of the leave/join phase and of the take phase, each, in seconds.
        #[arg(long, default_value_t = 900)]
        phase_budget_secs: u64,
        /// Longest wait for one fan-out, or for the server to become idle, in seconds.
        #[arg(long, default_value_t = 600)]
        settle_timeout_secs: u64,
        #[arg(long, default_value = "loadtests/queue-results.json")]
        json: std::path::PathBuf,
        #[arg(long, default_value = "BENCHMARKS.md")]
        markdown: std::path::PathBuf,
        /// Measure nothing: rewrite the BENCHMARKS.md section from the JSON rows.
        #[arg(long)]
        render_only: bool,
    },
}

/// The figures of one step.
#[derive(Debug, Serialize)]
pub struct StepReport {
    pub calls: usize,
    pub media_seconds: u64,
    #[serde(flatten)]
    pub stats: stats::Summary,
    pub server_cpu_percent: f64,
    pub server_rss_mb: f64,
    pub generator_cpu_percent: f64,
    pub recordings_checked: usize,
}

fn opus_tone(freq: f64) -> anyhow::Result<Arc<Vec<Bytes>>> {
    let mut enc = opus::Encoder::new(48000, opus::Channels::Mono, opus::Application::Voip)?;
    let mut out = Vec::with_capacity(50);
    let mut buf = vec![0u8; 1500];
    for frame in 0..50 {
        let pcm: Vec<i16> = (0..960)
            .map(|i| {
                let t = (frame * 960 + i) as f64 / 48000.0;
                ((2.0 * std::f64::consts::PI * freq * t).sin() * 0.3 * i16::MAX as f64) as i16
            })
            .collect();
        let n = enc.encode(&pcm, &mut buf)?;
        out.push(Bytes::copy_from_slice(&buf[..n]));
    }
    Ok(Arc::new(out))
}

/// `POST /api/v1/calls/{id}/end` without blocking the generator's thread.
async fn end_call(port: u16, api_key: &str, call_id: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let req = format!(
        "POST /api/v1/calls/{call_id}/end HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {api_key}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    ensure!(
        out.starts_with("HTTP/1.1 200"),
        "ending {call_id}: {}",
        out.lines().next().unwrap_or("")
    );
    Ok(())
}

/// Who ends the calls: vidid's API (the participants then get `call_ended`), or nobody
/// (Janus EchoTest participants leave by themselves).
pub(crate) enum Ender<'a> {
    Vidid {
        port: u16,
        api_key: &'a str,
        call_ids: Vec<String>,
    },
    Themselves,
}

/// One participant to start: where it signals and which tone it speaks.
pub(crate) struct Seat {
    pub target: signal::Target,
    pub tone_hz: f64,
}

/// Runs the participants to completion: connect, media for `seconds`, end. Measures the
/// server process `pid` over the media time.
pub(crate) fn drive(
    pid: u32,
    seats: Vec<Seat>,
    seconds: u64,
    ender: Ender<'_>,
) -> anyhow::Result<StepReport> {
    let stats = Arc::new(stats::Stats::default());
    let epoch = Instant::now();
    let tones = [(440.0, opus_tone(440.0)?), (1000.0, opus_tone(1000.0)?)];
    let leave = matches!(ender, Ender::Themselves);
    let n = seats.len();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for seat in seats {
            let opus = tones
                .iter()
                .find(|(hz, _)| *hz == seat.tone_hz)
                .map(|(_, t)| t.clone())
                .context("tone")?;
            let plan = participant::Plan {
                target: seat.target,
                leave_after_media: leave,
                media_for: Duration::from_secs(seconds),
                epoch,
                opus,
                stats: stats.clone(),
            };
            tasks.push(tokio::spawn(participant::run(plan)));
            // Spread the handshakes a little, as real arrivals are.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Wait for every peer connection, then measure the server over the media time.
        let want = n as u64;
        let deadline = Instant::now() + Duration::from_secs(30 + n as u64 / 5);
        while stats.connected.load(std::sync::atomic::Ordering::Relaxed) < want {
            if Instant::now() > deadline || tasks.iter().any(|t| t.is_finished()) {
                for t in tasks.iter_mut().filter(|t| t.is_finished()) {
                    if let Ok(Err(e)) = t.await {
                        bail!("a participant failed before all connected: {e:#}");
                    }
                }
                bail!(
                    "only {} of {want} participants connected",
                    stats.connected.load(std::sync::atomic::Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let srv = proc_sample::Sampler::new(pid)?;
        let generator = proc_sample::Sampler::new(std::process::id())?;
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let server_cpu_percent = srv.cpu_percent()?;
        let generator_cpu_percent = generator.cpu_percent()?;
        let server_rss_mb = proc_sample::rss_mb(pid)?;
        // Let the last packets land, then end the calls.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ender::Vidid {
            port,
            api_key,
            call_ids,
        } = &ender
        {
            for id in call_ids {
                end_call(*port, api_key, id).await?;
            }
        }
        for t in tasks {
            match tokio::time::timeout(Duration::from_secs(15), t).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => bail!("a participant failed: {e:#}"),
                Ok(Err(e)) => bail!("a participant panicked: {e}"),
                Err(_) => bail!("a participant did not stop after its call ended"),
            }
        }
        Ok(StepReport {
            calls: n / 2,
            media_seconds: seconds,
            stats: stats.summary(),
            server_cpu_percent,
            server_rss_mb,
            generator_cpu_percent,
            recordings_checked: 0,
        })
    })
}

fn vidid_seats(server: &Server, calls: &[CreatedCall]) -> Vec<Seat> {
    let ws_url = format!("ws://127.0.0.1:{}/ws", server.port());
    calls
        .iter()
        .flat_map(|c| {
            [
                (c.tokens.customer.clone(), 440.0),
                (c.tokens.agent.clone(), 1000.0),
            ]
            .map(|(token, tone_hz)| Seat {
                target: signal::Target::Vidid {
                    ws_url: ws_url.clone(),
                    token,
                },
                tone_hz,
            })
        })
        .collect()
}

/// Every call's recording: long enough, customer's tone left and agent's right.
fn check_recordings(
    server: &Server,
    calls: &[CreatedCall],
    seconds: u64,
    dir: &std::path::Path,
) -> anyhow::Result<usize> {
    for call in calls {
        let wav = dir.join(format!("{}.wav", call.call_id));
        server.export_wav(&call.call_id, &wav)?;
        let a = vidid_e2e::analyze_wav(&wav)?;
        ensure!(
            a.duration_ms + 1000 >= seconds * 1000,
            "recording {} lasts {} ms, media ran {} s",
            call.call_id,
            a.duration_ms,
            seconds
        );
        for (channel, hz) in [(0, 440), (1, 1000)] {
            let r = a.tone_report(channel, hz, None)?;
            ensure!(
                r.expected_fraction >= 0.8,
                "recording {}: {hz} Hz dominates channel {channel} in only {:.0} % of the windows",
                call.call_id,
                r.expected_fraction * 100.0
            );
        }
        let _ = std::fs::remove_file(&wav);
    }
    Ok(calls.len())
}

fn start_server() -> anyhow::Result<Server> {
    Server::start_with(vidid_e2e::ServerOptions {
        env: vec![("RUST_LOG".into(), "warn".into())],
        ..Default::default()
    })
}

pub(crate) fn step(calls: usize, seconds: u64, check: bool) -> anyhow::Result<StepReport> {
    let server = start_server()?;
    let created = (0..calls)
        .map(|_| server.create_call())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pid = server.pid().context("the server is not running")?;
    let ender = Ender::Vidid {
        port: server.port(),
        api_key: server.api_key(),
        call_ids: created.iter().map(|c| c.call_id.clone()).collect(),
    };
    let mut report = drive(pid, vidid_seats(&server, &created), seconds, ender)?;
    if check {
        let dir = tempfile::tempdir()?;
        report.recordings_checked = check_recordings(&server, &created, seconds, dir.path())?;
    }
    Ok(report)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().command {
        Cmd::Smoke { calls, seconds } => {
            let r = step(calls, seconds, true)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            smoke_verdict(&r, calls)
        }
        Cmd::Bench {
            steps,
            seconds,
            interface,
            json,
            markdown,
            skip_janus,
        } => bench::run(&steps, seconds, &interface, skip_janus, &json, &markdown),
        Cmd::Queue {
            customers,
            samples,
            store,
            phase_budget_secs,
            settle_timeout_secs,
            json,
            markdown,
            render_only,
        } => {
            if render_only {
                let section = queue::markdown_section(&json)
                    .with_context(|| format!("no rows in {}", json.display()))?;
                return queue::merge_markdown(&markdown, &section);
            }
            let opts = queue::Opts {
                customers,
                samples,
                store,
                phase_budget: Duration::from_secs(phase_budget_secs),
                settle_timeout: Duration::from_secs(settle_timeout_secs),
                json,
                markdown,
            };
            let r = queue::run(&opts)?;
            queue::print_table(&r);
            queue::save_json(&opts.json, &r)?;
            if let Some(section) = queue::markdown_section(&opts.json) {
                queue::merge_markdown(&opts.markdown, &section)?;
            }
            eprintln!("{}", serde_json::to_string_pretty(&r)?);
            ensure!(r.checks.ok(), "queue sanity checks failed: {:?}", r.checks);
            Ok(())
        }
        Cmd::Run {
            calls,
            seconds,
            check_recordings,
        } => {
            let r = step(calls, seconds, check_recordings)?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
    }
}

/// What the CI smoke run asserts.
fn smoke_verdict(r: &StepReport, calls: usize) -> anyhow::Result<()> {
    ensure!(
        r.stats.connected == 2 * calls as u64,
        "{} of {} participants connected",
        r.stats.connected,
        2 * calls
    );
    let expected_video = 2 * calls as u64 * r.media_seconds * 150;
    ensure!(
        r.stats.sent_video * 10 >= expected_video * 9,
        "the generator sent {} video packets, expected about {expected_video}: it is not keeping its clock",
        r.stats.sent_video
    );
    ensure!(
        r.stats.lost_video == 0,
        "{} of {} video packets lost",
        r.stats.lost_video,
        r.stats.sent_video
    );
    ensure!(
        r.stats.duplicate_video == 0,
        "{} duplicate video packets",
        r.stats.duplicate_video
    );
    ensure!(
        r.stats.latency_p50_us > 0 && r.stats.latency_p99_us < 250_000,
        "latency figures are not sane: p50 {} µs, p99 {} µs",
        r.stats.latency_p50_us,
        r.stats.latency_p99_us
    );
    ensure!(
        r.server_cpu_percent > 0.0 && r.server_rss_mb > 1.0,
        "server figures are not sane: {} % CPU, {} MB",
        r.server_cpu_percent,
        r.server_rss_mb
    );
    ensure!(
        r.recordings_checked == calls,
        "{} of {calls} recordings checked",
        r.recordings_checked
    );
    Ok(())
}
