//! The participant WebSocket (`GET /ws`): join, offer/answer, trickle ICE, presence.
//!
//! One task per socket. Messages are handled in order; a bad message gets an `error` reply and
//! changes nothing else. The seat a token names is held for as long as the socket is open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, info_span, warn};
use vidid_server::{Candidate, IceServer, MediaError, ParticipantEvent, ParticipantId, Party};

use vidid_control::calls::SeatClaim;
use vidid_control::{ControlError, Rooms};

use crate::AppState;
use crate::ratelimit::{Rate, TokenBucket};

/// Largest accepted frame.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest accepted SDP offer.
pub const MAX_SDP_BYTES: usize = 32 * 1024;
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages a socket may send: 50 a second, 100 at once.
const RATE: Rate = Rate::new(50.0, 100.0);
/// Rate-limit violations after which the socket is closed.
const MAX_VIOLATIONS: u32 = 200;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMsg {
    Joined {
        call_id: String,
        role: Party,
        ice_servers: Vec<IceServer>,
        peer_present: bool,
    },
    Answer {
        sdp: String,
    },
    Candidate(Candidate),
    Peer {
        event: &'static str,
    },
    CallEnded {
        reason: String,
    },
    Pong,
    Error {
        code: &'static str,
        message: String,
        fatal: bool,
    },
}

fn err(code: &'static str, message: impl Into<String>, fatal: bool) -> ServerMsg {
    ServerMsg::Error {
        code,
        message: message.into(),
        fatal,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinMsg {
    #[serde(rename = "type")]
    _type: String,
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfferMsg {
    #[serde(rename = "type")]
    _type: String,
    sdp: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateMsg {
    #[serde(rename = "type")]
    _type: String,
    candidate: String,
    #[serde(rename = "sdpMid", default)]
    sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex", default)]
    sdp_mline_index: Option<u16>,
    #[serde(rename = "usernameFragment", default)]
    _ufrag: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndCallMsg {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `GET /ws` (only where this process relays calls).
pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    let Some(rooms) = state.rooms.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            let connection = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
            let span = info_span!(
                "ws",
                connection,
                call_id = tracing::field::Empty,
                role = tracing::field::Empty
            );
            Session::new(state, rooms, connection)
                .run(socket)
                .instrument(span)
        })
}

struct Joined {
    claim: SeatClaim,
    participant: ParticipantId,
    negotiated: bool,
}

struct Session {
    state: Arc<AppState>,
    rooms: Arc<Rooms>,
    connection: u64,
    joined: Option<Joined>,
    bucket: TokenBucket,
    violations: u32,
}

enum Flow {
    Continue,
    Close,
}

impl Session {
    fn new(state: Arc<AppState>, rooms: Arc<Rooms>, connection: u64) -> Self {
        Session {
            state,
            rooms,
            connection,
            joined: None,
            bucket: TokenBucket::full(&RATE, Instant::now()),
            violations: 0,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        self.state.metrics.ws_connections.inc();
        let (mut sink, mut stream) = socket.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<ServerMsg>();
        let writer = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                let fatal = matches!(
                    msg,
                    ServerMsg::Error { fatal: true, .. } | ServerMsg::CallEnded { .. }
                );
                let text = match serde_json::to_string(&msg) {
                    Ok(t) => t,
                    Err(_) => continue,
                };
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
                if fatal {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
        });
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<ParticipantEvent>();
        let join_deadline = tokio::time::sleep(JOIN_TIMEOUT);
        tokio::pin!(join_deadline);
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let flow = match frame {
                        None => Flow::Close,
                        Some(Err(e)) => {
                            // tungstenite reports an oversized frame as a protocol error.
                            let text = e.to_string();
                            if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                                self.state.metrics.ws_errors.with_label_values(&["message_too_large"]).inc();
                                let _ = out_tx.send(err("message_too_large", format!("messages are limited to {MAX_MESSAGE_BYTES} bytes"), true));
                            } else {
                                debug!(error = %e, "websocket receive error");
                            }
                            Flow::Close
                        }
                        Some(Ok(Message::Text(text))) => self.text(text.as_str(), &out_tx, &ev_tx).await,
                        Some(Ok(Message::Binary(_))) => {
                            self.reply_err(&out_tx, "binary_not_supported", "only json text messages are accepted", false)
                        }
                        Some(Ok(Message::Close(_))) => Flow::Close,
                        Some(Ok(_)) => Flow::Continue,
                    };
                    if matches!(flow, Flow::Close) {
                        break;
                    }
                }
                Some(ev) = ev_rx.recv() => {
                    if matches!(self.media_event(ev, &out_tx), Flow::Close) {
                        break;
                    }
                }
                _ = &mut join_deadline, if self.joined.is_none() => {
                    let _ = out_tx.send(err("join_timeout", "no join message within 10 seconds", true));
                    break;
                }
            }
        }
        self.cleanup().await;
        drop(out_tx);
        let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
        // Read out what the client still sends until it answers the close: closing with unread
        // data makes the kernel reset the connection, and the client would lose our last message.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
        self.state.metrics.ws_connections.dec();
    }

    fn reply_err(
        &self,
        out: &mpsc::UnboundedSender<ServerMsg>,
        code: &'static str,
        message: &str,
        fatal: bool,
    ) -> Flow {
        self.state
            .metrics
            .ws_errors
            .with_label_values(&[code])
            .inc();
        debug!(code, "client error");
        let _ = out.send(err(code, message, fatal));
        if fatal { Flow::Close } else { Flow::Continue }
    }

    fn rate_ok(&mut self) -> bool {
        self.bucket.try_take(&RATE, Instant::now()).is_ok()
    }

    async fn text(
        &mut self,
        text: &str,
        out: &mpsc::UnboundedSender<ServerMsg>,
        ev_tx: &mpsc::UnboundedSender<ParticipantEvent>,
    ) -> Flow {
        if !self.rate_ok() {
            self.violations += 1;
            if self.violations > MAX_VIOLATIONS {
                return self.reply_err(out, "rate_limited", "too many messages; closing", true);
            }
            return self.reply_err(out, "rate_limited", "too many messages; slow down", false);
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => {
                return self.reply_err(out, "bad_json", "the message is not valid json", false);
            }
        };
        let Some(kind) = value.get("type").and_then(Value::as_str) else {
            return self.reply_err(
                out,
                "bad_json",
                "the message must be a json object with a string `type`",
                false,
            );
        };
        match kind {
            "ping" => {
                let _ = out.send(ServerMsg::Pong);
                Flow::Continue
            }
            "join" => {
                if self.joined.is_some() {
                    return self.reply_err(
                        out,
                        "already_joined",
                        "this socket has already joined",
                        false,
                    );
                }
                match serde_json::from_value::<JoinMsg>(value) {
                    Ok(m) => self.join(m.token, out, ev_tx).await,
                    Err(e) => {
                        self.reply_err(out, "bad_message", &format!("bad join message: {e}"), false)
                    }
                }
            }
            "offer" | "candidate" | "leave" | "end_call" if self.joined.is_none() => {
                self.reply_err(out, "not_joined", "send join first", false)
            }
            "offer" => match serde_json::from_value::<OfferMsg>(value) {
                Ok(m) => self.offer(m.sdp, out).await,
                Err(e) => self.reply_err(
                    out,
                    "bad_message",
                    &format!("bad offer message: {e}"),
                    false,
                ),
            },
            "candidate" => match serde_json::from_value::<CandidateMsg>(value) {
                Ok(m) => self.candidate(m, out).await,
                Err(e) => self.reply_err(
                    out,
                    "bad_message",
                    &format!("bad candidate message: {e}"),
                    false,
                ),
            },
            "leave" => Flow::Close,
            "end_call" => match serde_json::from_value::<EndCallMsg>(value) {
                Ok(m) => self.end_call(m.reason, out).await,
                Err(e) => self.reply_err(
                    out,
                    "bad_message",
                    &format!("bad end_call message: {e}"),
                    false,
                ),
            },
            _ => self.reply_err(out, "unknown_type", "unknown message type", false),
        }
    }

    async fn join(
        &mut self,
        token: String,
        out: &mpsc::UnboundedSender<ServerMsg>,
        ev_tx: &mpsc::UnboundedSender<ParticipantEvent>,
    ) -> Flow {
        let now = time::OffsetDateTime::now_utc();
        let claim = match self.rooms.calls().claim(&token, self.connection, now) {
            Ok(c) => c,
            Err(e) => {
                warn!(code = e.code(), "join refused");
                return self.reply_err(out, e.code(), &e.to_string(), true);
            }
        };
        let joined = match self
            .rooms
            .media()
            .join(&claim.call_id, claim.role, ev_tx.clone())
            .await
        {
            Ok(j) => j,
            Err(e) => {
                self.rooms.calls().release(&claim);
                let (code, msg) = match e {
                    MediaError::SeatTaken(_) => ("token_in_use", e.to_string()),
                    other => ("media_unavailable", other.to_string()),
                };
                return self.reply_err(out, code, &msg, true);
            }
        };
        let span = tracing::Span::current();
        span.record("call_id", claim.call_id.as_str());
        span.record("role", format!("{:?}", claim.role).to_lowercase().as_str());
        info!(call_id = %claim.call_id, role = ?claim.role, "participant joined");
        let unix = now.unix_timestamp().max(0) as u64;
        let _ = out.send(ServerMsg::Joined {
            call_id: claim.call_id.clone(),
            role: claim.role,
            ice_servers: self.state.turn.ice_servers(&claim.call_id, unix),
            peer_present: joined.peer_present,
        });
        self.joined = Some(Joined {
            claim,
            participant: joined.participant,
            negotiated: false,
        });
        Flow::Continue
    }

    async fn offer(&mut self, sdp: String, out: &mpsc::UnboundedSender<ServerMsg>) -> Flow {
        let Some(j) = self.joined.as_ref() else {
            return Flow::Continue;
        };
        if j.negotiated {
            return self.reply_err(
                out,
                "already_negotiated",
                "the offer was already accepted",
                false,
            );
        }
        if sdp.len() > MAX_SDP_BYTES {
            return self.reply_err(out, "sdp_too_large", "the sdp offer is over 32 KiB", false);
        }
        match self.rooms.media().offer(j.participant, sdp).await {
            Ok(answer) => {
                if let Some(j) = self.joined.as_mut() {
                    j.negotiated = true;
                }
                let _ = out.send(ServerMsg::Answer { sdp: answer });
                Flow::Continue
            }
            Err(MediaError::BadSdp(why)) => self.reply_err(
                out,
                "bad_sdp",
                &format!("the offer was refused: {why}"),
                false,
            ),
            Err(MediaError::AlreadyNegotiated) => self.reply_err(
                out,
                "already_negotiated",
                "the offer was already accepted",
                false,
            ),
            Err(e) => self.reply_err(out, "media_unavailable", &e.to_string(), true),
        }
    }

    async fn candidate(&mut self, m: CandidateMsg, out: &mpsc::UnboundedSender<ServerMsg>) -> Flow {
        let Some(j) = self.joined.as_ref() else {
            return Flow::Continue;
        };
        if m.candidate.len() > 1024 {
            return self.reply_err(out, "bad_candidate", "the candidate is too long", false);
        }
        let c = Candidate {
            candidate: m.candidate,
            sdp_mid: m.sdp_mid,
            sdp_mline_index: m.sdp_mline_index,
        };
        match self.rooms.media().add_candidate(j.participant, c).await {
            Ok(()) => Flow::Continue,
            Err(MediaError::BadCandidate(why)) => self.reply_err(
                out,
                "bad_candidate",
                &format!("the candidate was refused: {why}"),
                false,
            ),
            Err(e) => self.reply_err(out, "media_unavailable", &e.to_string(), true),
        }
    }

    async fn end_call(
        &mut self,
        reason: Option<String>,
        out: &mpsc::UnboundedSender<ServerMsg>,
    ) -> Flow {
        let Some(j) = self.joined.as_ref() else {
            return Flow::Continue;
        };
        if j.claim.role != Party::Agent {
            return self.reply_err(out, "forbidden", "only the agent can end the call", false);
        }
        let call_id = j.claim.call_id.clone();
        let reason = reason.unwrap_or_else(|| "ended by the agent".into());
        let reason: String = reason.chars().take(200).collect();
        match self.rooms.end(&call_id, &reason).await {
            // The media engine tells both sockets `call_ended` through their event channels.
            Ok(_) => Flow::Continue,
            Err(e) => self.reply_err(out, e.code(), &e.to_string(), false),
        }
    }

    fn media_event(
        &mut self,
        ev: ParticipantEvent,
        out: &mpsc::UnboundedSender<ServerMsg>,
    ) -> Flow {
        let msg = match ev {
            ParticipantEvent::Candidate(c) => ServerMsg::Candidate(c),
            ParticipantEvent::Connected => {
                if let Some(j) = &self.joined {
                    self.rooms.calls().set_connected(&j.claim, true);
                }
                return Flow::Continue;
            }
            ParticipantEvent::Failed => {
                if let Some(j) = &self.joined {
                    self.rooms.calls().set_connected(&j.claim, false);
                }
                err(
                    "media_unavailable",
                    "the media connection failed; join again",
                    true,
                )
            }
            ParticipantEvent::PeerJoined => ServerMsg::Peer { event: "joined" },
            ParticipantEvent::PeerConnected => ServerMsg::Peer { event: "connected" },
            ParticipantEvent::PeerLeft => ServerMsg::Peer { event: "left" },
            ParticipantEvent::CallEnded { reason } => {
                if let Some(j) = self.joined.take() {
                    // The engine has already removed the participant.
                    self.rooms.calls().release(&j.claim);
                }
                let _ = out.send(ServerMsg::CallEnded { reason });
                return Flow::Close;
            }
        };
        let fatal = matches!(msg, ServerMsg::Error { fatal: true, .. });
        let _ = out.send(msg);
        if fatal { Flow::Close } else { Flow::Continue }
    }

    async fn cleanup(&mut self) {
        if let Some(j) = self.joined.take() {
            self.rooms.media().leave(j.participant).await;
            self.rooms.calls().release(&j.claim);
            info!(call_id = %j.claim.call_id, "participant left");
        }
    }
}

impl From<ControlError> for ServerMsg {
    fn from(e: ControlError) -> Self {
        err(e.code(), e.to_string(), false)
    }
}
