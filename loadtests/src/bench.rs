//! The benchmark: the same calls through vidid and through Janus EchoTest (recording on
//! for both), ramped step by step, with CPU, memory, latency and loss per step, written as
//! JSON (for `plot.py`) and as the table in BENCHMARKS.md.
//!
//! A vidid call relays two participants to each other; an EchoTest session relays one
//! participant back to itself, so a "call" on Janus is two EchoTest sessions: the packets
//! the server receives and sends per call are the same (2 × 200 per second each way).

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::janus::Janus;
use crate::{Ender, Seat, StepReport, drive, signal};

/// Packets a call makes the server receive per second (2 participants × 50 audio + 150 video).
const PACKETS_PER_CALL_PER_SEC: f64 = 400.0;

#[derive(Debug, Serialize)]
struct Row {
    server: &'static str,
    calls: usize,
    ok: bool,
    error: Option<String>,
    report: Option<StepReport>,
    /// Server CPU per received-and-relayed packet, µs.
    cpu_us_per_packet: Option<f64>,
    /// Calls one core would carry at this load (calls ÷ cores busy).
    calls_per_core: Option<f64>,
    rss_kb_per_call: Option<f64>,
}

fn row(server: &'static str, calls: usize, r: anyhow::Result<StepReport>) -> Row {
    match r {
        Ok(rep) => {
            let cores = rep.server_cpu_percent / 100.0;
            Row {
                server,
                calls,
                ok: rep.stats.loss_fraction <= 0.01,
                error: None,
                cpu_us_per_packet: Some(cores * 1e6 / (calls as f64 * PACKETS_PER_CALL_PER_SEC)),
                calls_per_core: (cores > 0.0).then(|| calls as f64 / cores),
                rss_kb_per_call: Some(rep.server_rss_mb * 1024.0 / calls as f64),
                report: Some(rep),
            }
        }
        Err(e) => Row {
            server,
            calls,
            ok: false,
            error: Some(format!("{e:#}")),
            report: None,
            cpu_us_per_packet: None,
            calls_per_core: None,
            rss_kb_per_call: None,
        },
    }
}

fn janus_step(calls: usize, seconds: u64, interface: &str) -> anyhow::Result<StepReport> {
    let port = vidid_e2e::free_tcp_port()?;
    let janus = Janus::start(port, interface)?;
    let rec = janus.recordings_dir();
    let seats = (0..calls * 2)
        .map(|i| Seat {
            target: signal::Target::Janus {
                port,
                record_to: Some(rec.join(format!("p{i}")).display().to_string()),
            },
            tone_hz: if i % 2 == 0 { 440.0 } else { 1000.0 },
        })
        .collect();
    let mut report = drive(janus.pid(), seats, seconds, Ender::Themselves).with_context(|| {
        let log = janus.log();
        format!("janus log tail:\n{}", vidid_e2e::tail(&log, 20))
    })?;
    // EchoTest writes one .mjr per medium and participant.
    let files = std::fs::read_dir(&rec)?
        .flatten()
        .filter(|e| e.metadata().map(|m| m.len() > 0).unwrap_or(false))
        .count();
    // Two participants per call, an audio and a video .mjr each.
    report.recordings_checked = files / 4;
    eprintln!("janus: {} bytes of recordings", Janus::recorded_bytes(&rec));
    Ok(report)
}

pub fn run(
    steps: &[usize],
    seconds: u64,
    interface: &str,
    skip_janus: bool,
    json: &Path,
    markdown: &Path,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for (name, enabled) in [("vidid", true), ("janus", !skip_janus)] {
        if !enabled {
            continue;
        }
        for &calls in steps {
            eprintln!("{name}: {calls} calls for {seconds} s …");
            let r = if name == "vidid" {
                crate::step(calls, seconds, true)
            } else {
                janus_step(calls, seconds, interface)
            };
            let row = row(name, calls, r);
            eprintln!("{}", serde_json::to_string(&row)?);
            let saturated = !row.ok;
            rows.push(row);
            if saturated {
                break;
            }
        }
    }
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(json, serde_json::to_string_pretty(&rows)?)?;
    let old = std::fs::read_to_string(markdown).unwrap_or_default();
    let mut md = render(&rows, seconds);
    // Everything after the generated part is kept: hand-written notes (`## ` sections) and the
    // signaling benchmark's section (`vidid-load queue`), which is rendered afresh from its own
    // results when they are here and otherwise carried over as it was.
    let queue = crate::queue::markdown_section(&json.with_file_name("queue-results.json"));
    for section in kept_sections(&old) {
        if queue.is_some() && section.starts_with(QUEUE_HEADING) {
            continue;
        }
        md = format!("{}\n\n{}", md.trim_end(), section.trim_end());
    }
    if let Some(section) = queue {
        md = format!("{}\n\n{}", md.trim_end(), section.trim_end());
    }
    md.push('\n');
    std::fs::write(markdown, md)?;
    Ok(())
}

/// How the section of `vidid-load queue` starts (see `queue::markdown_section`).
const QUEUE_HEADING: &str = "## Signaling: queue";

/// The `## ` sections of an existing BENCHMARKS.md (what `render` does not write).
fn kept_sections(old: &str) -> Vec<&str> {
    let starts: Vec<usize> = old.match_indices("\n## ").map(|(i, _)| i + 1).collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &old[s..starts.get(k + 1).copied().unwrap_or(old.len())])
        .collect()
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

fn render(rows: &[Row], seconds: u64) -> String {
    let mut md = String::from(
        "# Benchmarks\n\nProduced by `loadtests/bench.sh` (see `loadtests/src/bench.rs`): real WebRTC calls (ICE, DTLS, SRTP AES-128-GCM) from the `vidid-load` generator, each call two participants sending Opus (50 packets/s) and probe-carrying VP8 (150 packets/s, ~1.4 Mbit/s) and receiving without decoding; recording on. vidid relays customer ↔ agent; Janus (Debian 1.1.2) runs two EchoTest sessions per call with recording on, so both servers receive and send the same packets. Both run in the same network namespace on the same machine, one after the other; the generator takes one core.\n\n",
    );
    md.push_str(&format!("Media time per step: {seconds} s. Latency is one-way, sender's `write_rtp` to receiver's `poll_read`, both inside the generator.\n\n"));
    md.push_str("| server | calls | ok | server CPU % | µs CPU / packet | calls per core | RSS MB | KB / call | p50 µs | p99 µs | loss | recordings |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        match &r.report {
            Some(rep) => md.push_str(&format!(
                "| {} | {} | {} | {:.1} | {} | {} | {:.1} | {} | {} | {} | {:.4} % | {} |\n",
                r.server,
                r.calls,
                if r.ok { "yes" } else { "no" },
                rep.server_cpu_percent,
                f(r.cpu_us_per_packet, 1),
                f(r.calls_per_core, 0),
                rep.server_rss_mb,
                f(r.rss_kb_per_call, 0),
                rep.stats.latency_p50_us,
                rep.stats.latency_p99_us,
                rep.stats.loss_fraction * 100.0,
                rep.recordings_checked
            )),
            None => md.push_str(&format!(
                "| {} | {} | no | – | – | – | – | – | – | – | – | {} |\n",
                r.server,
                r.calls,
                r.error
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .replace('|', "/")
            )),
        }
    }
    // Ratios at the largest step both servers completed.
    let best = |name: &str, calls: usize| {
        rows.iter()
            .find(|r| r.server == name && r.calls == calls && r.ok)
    };
    let common = rows
        .iter()
        .filter(|r| r.server == "vidid" && r.ok)
        .map(|r| r.calls)
        .filter(|&c| best("janus", c).is_some())
        .max();
    if let Some((c, v, j)) = common.and_then(|c| Some((c, best("vidid", c)?, best("janus", c)?))) {
        md.push_str(&format!(
            "\n**Ratios at {c} calls (Janus ÷ vidid, > 1 means vidid is better):** CPU per packet {}, memory per call {}, p99 latency {}.\n",
            ratio(j.cpu_us_per_packet, v.cpu_us_per_packet),
            ratio(j.rss_kb_per_call, v.rss_kb_per_call),
            ratio(j.report.as_ref().map(|r| r.stats.latency_p99_us as f64), v.report.as_ref().map(|r| r.stats.latency_p99_us as f64)),
        ));
    }
    md.push_str("\n![calls vs CPU and p99 latency](loadtests/bench.png)\n");
    md
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_queue_section_survive() {
        let old = "# Benchmarks\n\n| table |\n\n## Notes\n\ntext\n\n## Signaling: queue at N waiting\n\nrows\n";
        let kept = kept_sections(old);
        assert_eq!(kept.len(), 2);
        assert!(kept[0].starts_with("## Notes") && kept[0].contains("text"));
        assert!(kept[1].starts_with(QUEUE_HEADING) && kept[1].contains("rows"));
        assert!(kept_sections("# Benchmarks\n\n| table |\n").is_empty());
    }
}
