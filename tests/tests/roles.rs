//! Roles are compositions (the control-plane redesign): `vidid serve --role signaling` runs no
//! media loop — no UDP socket in the process, no media or recorder metrics, no participant
//! socket — and `--role media` serves only the participant socket and the operational
//! endpoints, while the pages, the staff sign-in and the cases API answer 404 there.
//! Real processes of the binary on one throwaway PostgreSQL, loopback only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::collections::HashSet;
use std::fs;

use anyhow::{Context, Result, ensure};
use vidid_cases::testing::Postgres;
use vidid_e2e::{Server, ServerOptions, free_tcp_port, http_request};

const SECRET: &str = "roles-test-secret-0123456789abcdef0123";

/// The inodes of the sockets `pid` holds open.
fn socket_inodes(pid: u32) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for fd in fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = fs::read_link(fd?.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
            out.insert(inode.to_string());
        }
    }
    Ok(out)
}

/// The UDP sockets (IPv4 and IPv6) among `pid`'s open sockets, as `local address` strings.
fn udp_sockets_of(pid: u32) -> Result<Vec<String>> {
    let mine = socket_inodes(pid)?;
    let mut found = Vec::new();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let text = fs::read_to_string(table).with_context(|| format!("reading {table}"))?;
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode …
            if let (Some(local), Some(inode)) = (cols.get(1), cols.get(9))
                && mine.contains(*inode)
            {
                found.push(format!("{table} {local}"));
            }
        }
    }
    Ok(found)
}

fn status(url: &str) -> Result<u16> {
    Ok(http_request("GET", url, &[], None)?.status)
}

fn node(role: &str, pg: &str, port: Option<u16>, extra: &[(&str, String)]) -> Result<Server> {
    let mut env = vec![
        ("VIDID__CASES__STORE__URL".to_string(), pg.to_string()),
        ("VIDID__CLUSTER__SECRET".to_string(), SECRET.to_string()),
        ("VIDID__NODE__HEARTBEAT_SECS".to_string(), "1".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Server::start_with(ServerOptions {
        args: vec!["--role".into(), role.into()],
        env,
        port,
        ..ServerOptions::default()
    })
}

#[test]
fn a_signaling_node_has_no_media_and_a_media_node_serves_only_calls_and_operations() -> Result<()> {
    let Some(pg) = Postgres::start() else {
        return Ok(());
    };
    let db = pg.database("vidid");

    // Signaling: the pages and the API, no media loop.
    let sig = node("signaling", &db, None, &[("VIDID__NODE__ID", "s1".into())])?;
    let pid = sig.pid().context("the signaling process runs")?;
    let udp = udp_sockets_of(pid)?;
    ensure!(
        udp.is_empty(),
        "the signaling process holds UDP sockets: {udp:?}"
    );
    let metrics = sig.metrics()?;
    let media_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("vidid_media_") || l.starts_with("vidid_recorder_"))
        .collect();
    ensure!(
        media_lines.is_empty(),
        "media metrics on signaling: {media_lines:?}"
    );
    ensure!(
        metrics.contains("vidid_queue_length"),
        "the queue's figures are there"
    );
    let base = sig.base_url();
    for path in [
        "/agent",
        "/compliance",
        "/api/v1/openapi.json",
        "/healthz",
        "/readyz",
    ] {
        ensure!(status(&format!("{base}{path}"))? == 200, "signaling {path}");
    }
    ensure!(
        status(&format!("{base}/api/v1/session"))? == 401,
        "signaling serves the staff sign-in"
    );
    ensure!(
        status(&format!("{base}/ws"))? == 404,
        "no participant socket on signaling"
    );

    // Media: the participant socket and the operational endpoints only.
    let port = free_tcp_port()?;
    let media = node(
        "media",
        &db,
        Some(port),
        &[
            ("VIDID__NODE__ID", "m1".into()),
            (
                "VIDID__NODE__PUBLIC_URL",
                format!("http://127.0.0.1:{port}"),
            ),
        ],
    )?;
    let mpid = media.pid().context("the media process runs")?;
    ensure!(
        !udp_sockets_of(mpid)?.is_empty(),
        "the media process holds its UDP socket (the check sees sockets)"
    );
    let base = media.base_url();
    for path in [
        "/api/v1/session",
        "/api/v1/cases",
        "/compliance",
        "/agent",
        "/customer",
        "/board",
        "/api/v1/queue",
        "/ws/queue",
        "/api/v1/calls",
    ] {
        let s = status(&format!("{base}{path}"))?;
        ensure!(s == 404, "media {path}: HTTP {s}, want 404");
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        ensure!(status(&format!("{base}{path}"))? == 200, "media {path}");
    }
    ensure!(
        media.metrics()?.contains("vidid_media_"),
        "media metrics on the media node"
    );
    // The participant socket answers with its protocol: a wrong token is refused by name.
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/ws"))
        .context("opening /ws on the media node")?;
    ws.send(tungstenite::Message::text(
        r#"{"type":"join","token":"not-a-token"}"#,
    ))?;
    let reply = ws.read()?.into_text()?.to_string();
    ensure!(
        reply.contains("invalid_token"),
        "join with a wrong token: {reply}"
    );
    Ok(())
}
