//! The WebSocket protocol against a real in-process node (real media loop, real recorder):
//! every refusal in docs/signaling.md, and that a refusal leaves the call alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vidid_control::calls::CallStore;
use vidid_node::testing::{API_KEY, TestNode};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    addr: std::net::SocketAddr,
    calls: Arc<dyn CallStore>,
    api_key: String,
    _node: TestNode,
}

/// An in-process node (`--role all`: real media loop, real recorder).
async fn server() -> Server {
    let node = TestNode::start(|_, _, _| {}).await;
    Server {
        addr: node.addr,
        calls: node
            .state
            .rooms
            .as_ref()
            .expect("role all has rooms")
            .calls()
            .clone(),
        api_key: API_KEY.into(),
        _node: node,
    }
}

async fn connect(s: &Server) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", s.addr))
        .await
        .unwrap();
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON message, skipping server candidates and presence events.
async fn recv(ws: &mut Ws) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next())
            .await
            .expect("timed out waiting for a message")
        {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if matches!(v["type"].as_str(), Some("candidate") | Some("peer")) {
                    continue;
                }
                return Some(v);
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn expect_error(ws: &mut Ws, code: &str, fatal: bool) {
    let v = recv(ws).await.expect("socket closed before the error");
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["fatal"], fatal, "{v}");
    assert!(!v["message"].as_str().unwrap().is_empty());
}

async fn expect_alive(ws: &mut Ws) {
    send(ws, json!({"type": "ping"})).await;
    let v = recv(ws).await.expect("socket closed");
    assert_eq!(v["type"], "pong", "{v}");
}

async fn expect_closed(ws: &mut Ws) {
    assert!(recv(ws).await.is_none(), "socket should be closed");
}

async fn join(ws: &mut Ws, token: &str) -> Value {
    send(ws, json!({"type": "join", "token": token})).await;
    let v = recv(ws).await.expect("closed");
    assert_eq!(v["type"], "joined", "{v}");
    v
}

/// A real offer, made by the webrtc-rs stack playing a browser.
fn real_offer() -> String {
    use rtc::peer_connection::RTCPeerConnectionBuilder;
    use rtc::peer_connection::configuration::media_engine::MediaEngine;
    use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
    let mut me = MediaEngine::default();
    me.register_default_codecs().unwrap();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(me)
        .build(Instant::now())
        .unwrap();
    pc.add_transceiver_from_kind(RtpCodecKind::Audio, None)
        .unwrap();
    pc.add_transceiver_from_kind(RtpCodecKind::Video, None)
        .unwrap();
    pc.create_offer(None).unwrap().sdp
}

#[tokio::test]
async fn malformed_and_unknown_messages_get_errors_and_change_nothing() {
    let s = server().await;
    let mut ws = connect(&s).await;
    ws.send(Message::Text("{not json".into())).await.unwrap();
    expect_error(&mut ws, "bad_json", false).await;
    send(&mut ws, json!({"no_type": 1})).await;
    expect_error(&mut ws, "bad_json", false).await;
    send(&mut ws, json!({"type": "teleport"})).await;
    expect_error(&mut ws, "unknown_type", false).await;
    send(&mut ws, json!({"type": "offer", "sdp": "v=0"})).await;
    expect_error(&mut ws, "not_joined", false).await;
    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    expect_error(&mut ws, "binary_not_supported", false).await;
    send(&mut ws, json!({"type": "join"})).await;
    expect_error(&mut ws, "bad_message", false).await;
    expect_alive(&mut ws).await;
}

#[tokio::test]
async fn oversized_message_is_refused_and_closes() {
    let s = server().await;
    let mut ws = connect(&s).await;
    let big = "x".repeat(70 * 1024);
    ws.send(Message::Text(
        json!({"type": "ping", "pad": big}).to_string().into(),
    ))
    .await
    .unwrap();
    expect_error(&mut ws, "message_too_large", true).await;
    expect_closed(&mut ws).await;
}

#[tokio::test]
async fn wrong_token_is_refused() {
    let s = server().await;
    let mut ws = connect(&s).await;
    send(&mut ws, json!({"type": "join", "token": "forged-token"})).await;
    expect_error(&mut ws, "invalid_token", true).await;
    expect_closed(&mut ws).await;
}

#[tokio::test]
async fn third_participant_and_bad_sdp_leave_the_call_alone() {
    let s = server().await;
    let call = s
        .calls
        .create(time::OffsetDateTime::now_utc(), time::Duration::hours(1));
    let mut customer = connect(&s).await;
    let joined = join(&mut customer, &call.customer_token).await;
    assert_eq!(joined["role"], "customer");
    assert_eq!(joined["peer_present"], false);
    let mut agent = connect(&s).await;
    let joined = join(&mut agent, &call.agent_token).await;
    assert_eq!(joined["peer_present"], true);

    // A third party holding a copied token cannot take a seat.
    let mut intruder = connect(&s).await;
    send(
        &mut intruder,
        json!({"type": "join", "token": call.customer_token}),
    )
    .await;
    expect_error(&mut intruder, "token_in_use", true).await;
    expect_closed(&mut intruder).await;

    // Broken and oversized offers are refused without hurting the session.
    send(
        &mut customer,
        json!({"type": "offer", "sdp": "this is not sdp"}),
    )
    .await;
    expect_error(&mut customer, "bad_sdp", false).await;
    send(
        &mut customer,
        json!({"type": "offer", "sdp": format!("v=0\r\n{}", "a=x\r\n".repeat(8000))}),
    )
    .await;
    expect_error(&mut customer, "sdp_too_large", false).await;
    send(
        &mut customer,
        json!({"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"}),
    )
    .await;
    expect_error(&mut customer, "bad_sdp", false).await;
    send(&mut customer, json!({"type": "candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0})).await;
    expect_error(&mut customer, "bad_candidate", false).await;

    // A real offer still works afterwards, and only once.
    send(&mut customer, json!({"type": "offer", "sdp": real_offer()})).await;
    let answer = recv(&mut customer).await.unwrap();
    assert_eq!(answer["type"], "answer", "{answer}");
    let sdp = answer["sdp"].as_str().unwrap();
    assert!(sdp.contains("a=fingerprint:sha-256"), "{sdp}");
    assert!(sdp.contains("opus/48000"), "{sdp}");
    send(&mut customer, json!({"type": "offer", "sdp": real_offer()})).await;
    expect_error(&mut customer, "already_negotiated", false).await;
    send(
        &mut customer,
        json!({"type": "candidate", "candidate": "garbage", "sdpMid": "0", "sdpMLineIndex": 0}),
    )
    .await;
    expect_error(&mut customer, "bad_candidate", false).await;

    // Only the agent ends calls.
    send(&mut customer, json!({"type": "end_call"})).await;
    expect_error(&mut customer, "forbidden", false).await;
    expect_alive(&mut customer).await;
    expect_alive(&mut agent).await;

    send(&mut agent, json!({"type": "end_call", "reason": "done"})).await;
    for ws in [&mut customer, &mut agent] {
        let v = recv(ws).await.expect("call_ended before close");
        assert_eq!(v["type"], "call_ended", "{v}");
        expect_closed(ws).await;
    }
    // The token of an ended call is spent.
    let mut late = connect(&s).await;
    send(
        &mut late,
        json!({"type": "join", "token": call.agent_token}),
    )
    .await;
    expect_error(&mut late, "call_ended", true).await;
}

#[tokio::test]
async fn flood_is_rate_limited_without_dropping_the_socket() {
    let s = server().await;
    let mut ws = connect(&s).await;
    for _ in 0..150 {
        send(&mut ws, json!({"type": "ping"})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    for _ in 0..150 {
        let v = recv(&mut ws).await.expect("closed");
        match v["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") if v["code"] == "rate_limited" => limited += 1,
            _ => panic!("unexpected {v}"),
        }
    }
    assert!(limited > 0, "a burst of 150 must hit the limit");
    assert!(pongs >= 100, "the burst allowance is served: {pongs}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    expect_alive(&mut ws).await;
}

#[tokio::test]
async fn api_requires_the_key() {
    let s = server().await;
    let client = |path: &str, key: Option<&str>| {
        let addr = s.addr;
        let path = path.to_string();
        let key = key.map(str::to_string);
        async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let auth = key
                .map(|k| format!("Authorization: Bearer {k}\r\n"))
                .unwrap_or_default();
            let req = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            tokio::io::AsyncWriteExt::write_all(&mut stream, req.as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut out)
                .await
                .unwrap();
            out
        }
    };
    assert!(
        client("/api/v1/calls", None)
            .await
            .starts_with("HTTP/1.1 401")
    );
    assert!(
        client("/api/v1/calls", Some("wrong"))
            .await
            .starts_with("HTTP/1.1 401")
    );
    let ok = client("/api/v1/calls", Some(&s.api_key)).await;
    assert!(ok.starts_with("HTTP/1.1 201"), "{ok}");
    assert!(ok.contains("\"customer\""));
    let end = client("/api/v1/calls/c_nope/end", Some(&s.api_key)).await;
    assert!(end.starts_with("HTTP/1.1 404"), "{end}");
}
