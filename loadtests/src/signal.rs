//! How a participant reaches its server: vidid's WebSocket protocol (docs/signaling.md) or
//! Janus's HTTP API with the EchoTest plugin, the reference peer in the benchmarks.
//!
//! Both become the same thing for the media loop: send an offer, then a channel of
//! [`SignalEvent`]s fed by a reader task (so a `select!` never cancels a half-read message).

use anyhow::{Context, anyhow, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Which server a participant talks to.
#[derive(Debug, Clone)]
pub enum Target {
    /// `ws://…/ws` and a join token.
    Vidid { ws_url: String, token: String },
    /// Janus's HTTP API on 127.0.0.1:`port`; EchoTest, recording to `record_to` if set.
    Janus {
        port: u16,
        record_to: Option<String>,
    },
}

/// What the server says.
#[derive(Debug)]
pub enum SignalEvent {
    Answer(String),
    Candidate {
        candidate: String,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u16>,
    },
    /// The other participant's media path is up (vidid); media sent before would be dropped.
    PeerConnected,
    Ended,
}

/// An open signaling session.
pub struct Session {
    pub events: mpsc::UnboundedReceiver<SignalEvent>,
    /// Janus: session id, to destroy it at the end.
    janus: Option<(u16, u64)>,
}

impl Session {
    /// Joins, sends the offer, and starts the reader task.
    pub async fn open(target: &Target, offer_sdp: String) -> anyhow::Result<Session> {
        match target {
            Target::Vidid { ws_url, token } => vidid(ws_url, token, offer_sdp).await,
            Target::Janus { port, record_to } => {
                janus(*port, record_to.as_deref(), offer_sdp).await
            }
        }
    }

    /// Releases server-side state (Janus sessions); vidid's end comes from the API.
    pub async fn close(self) {
        if let Some((port, session)) = self.janus {
            let _ = http(
                port,
                "POST",
                &format!("/janus/{session}"),
                Some(&json!({"janus": "destroy", "transaction": "d"})),
            )
            .await;
        }
    }
}

async fn vidid(ws_url: &str, token: &str, offer_sdp: String) -> anyhow::Result<Session> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .context("websocket connect")?;
    ws.send(Message::Text(
        json!({"type": "join", "token": token}).to_string().into(),
    ))
    .await?;
    let joined = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await? {
            Some(Ok(Message::Text(t))) => break serde_json::from_str::<Value>(t.as_str())?,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("websocket closed before joined"),
        }
    };
    ensure!(joined["type"] == "joined", "join refused: {joined}");
    ws.send(Message::Text(
        json!({"type": "offer", "sdp": offer_sdp})
            .to_string()
            .into(),
    ))
    .await?;
    let (tx, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(t) = msg else { continue };
            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                continue;
            };
            let ev = match v["type"].as_str() {
                Some("answer") => {
                    SignalEvent::Answer(v["sdp"].as_str().unwrap_or_default().to_string())
                }
                Some("candidate") => SignalEvent::Candidate {
                    candidate: v["candidate"].as_str().unwrap_or_default().to_string(),
                    sdp_mid: v["sdpMid"].as_str().map(str::to_string),
                    sdp_mline_index: v["sdpMLineIndex"].as_u64().map(|i| i as u16),
                },
                Some("call_ended") => SignalEvent::Ended,
                Some("peer") if v["event"] == "connected" => SignalEvent::PeerConnected,
                Some("error") => {
                    tracing::warn!(error = %v, "server error");
                    continue;
                }
                _ => continue,
            };
            let end = matches!(ev, SignalEvent::Ended);
            if tx.send(ev).is_err() || end {
                break;
            }
        }
        let _ = tx.send(SignalEvent::Ended);
    });
    Ok(Session {
        events,
        janus: None,
    })
}

async fn janus(port: u16, record_to: Option<&str>, offer_sdp: String) -> anyhow::Result<Session> {
    let created = http(
        port,
        "POST",
        "/janus",
        Some(&json!({"janus": "create", "transaction": "c"})),
    )
    .await?;
    let session = created["data"]["id"]
        .as_u64()
        .ok_or_else(|| anyhow!("janus create: {created}"))?;
    let attached = http(
        port,
        "POST",
        &format!("/janus/{session}"),
        Some(&json!({"janus": "attach", "plugin": "janus.plugin.echotest", "transaction": "a"})),
    )
    .await?;
    let handle = attached["data"]["id"]
        .as_u64()
        .ok_or_else(|| anyhow!("janus attach: {attached}"))?;
    let mut body = json!({"audio": true, "video": true});
    if let Some(path) = record_to {
        body["record"] = json!(true);
        body["filename"] = json!(path);
    }
    let ack = http(
        port,
        "POST",
        &format!("/janus/{session}/{handle}"),
        Some(&json!({"janus": "message", "transaction": "m", "body": body, "jsep": {"type": "offer", "sdp": offer_sdp}})),
    )
    .await?;
    ensure!(
        ack["janus"] == "ack" || ack["janus"] == "success",
        "janus message: {ack}"
    );
    // Our candidates are in the offer.
    let _ = http(
        port,
        "POST",
        &format!("/janus/{session}/{handle}"),
        Some(&json!({"janus": "trickle", "transaction": "t", "candidate": {"completed": true}})),
    )
    .await;
    let (tx, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok(v) = http(port, "GET", &format!("/janus/{session}?maxev=10"), None).await else {
                break;
            };
            let list = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            for e in list {
                if let Some(sdp) = e["jsep"]["sdp"].as_str()
                    && tx.send(SignalEvent::Answer(sdp.to_string())).is_err()
                {
                    return;
                }
                if e["janus"] == "hangup" || e["janus"] == "detached" {
                    let _ = tx.send(SignalEvent::Ended);
                    return;
                }
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    Ok(Session {
        events,
        janus: Some((port, session)),
    })
}

/// One HTTP/1.1 request on a fresh connection to 127.0.0.1:`port`; the JSON body back.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no http header end"))?;
    ensure!(
        head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"),
        "{method} {path}: {}",
        head.lines().next().unwrap_or("")
    );
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)?
    } else {
        rest.to_string()
    };
    if body.trim().is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&body)?)
}

fn dechunk(mut s: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").ok_or_else(|| anyhow!("bad chunk"))?;
        let n = usize::from_str_radix(size.trim(), 16)?;
        if n == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..n).ok_or_else(|| anyhow!("short chunk"))?);
        s = rest.get(n + 2..).unwrap_or("");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dechunks() {
        assert_eq!(
            super::dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n").unwrap(),
            "Wikipedia"
        );
        assert!(super::dechunk("zz\r\n").is_err());
    }
}
