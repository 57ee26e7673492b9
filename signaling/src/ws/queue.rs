//! The customer's queue socket (`GET /ws/queue`): live place and wait, the call token when an
//! agent takes the customer, the agent's instructions, and the result (docs/signaling.md).
//!
//! First message `{"type":"queue","token":<link token>}` (plus `"rejoin_token"` after a
//! dropped connection). Closing the socket while queued marks the customer disconnected; the
//! place is kept for the grace period and reclaimed with the rejoin token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};
use vidid_cases::{Actor, CaseState, CasesError};

use vidid_control::hub::CustomerMsg;

use crate::AppState;
use crate::ratelimit::{Rate, TokenBucket};

const MAX_MESSAGE_BYTES: usize = 4096;
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages per second a client may send (it only needs `ping`).
/// Messages a customer's socket may send: 20 a second (more closes it).
const RATE: Rate = Rate::new(20.0, 20.0);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueHello {
    #[serde(rename = "type")]
    kind: String,
    token: String,
    #[serde(default)]
    rejoin_token: Option<String>,
}

/// `GET /ws/queue`
pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    // Small buffers: thousands of customers wait on these sockets with 4 KiB messages (the
    // defaults hold 128 KiB per socket).
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(MAX_MESSAGE_BYTES)
        .write_buffer_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(state, socket))
}

fn error(code: &'static str, message: impl Into<String>, fatal: bool) -> CustomerMsg {
    CustomerMsg::Error {
        code: code.to_string(),
        message: message.into(),
        fatal,
    }
}

async fn send(
    ws: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    m: &CustomerMsg,
) -> bool {
    match serde_json::to_string(m) {
        Ok(t) => ws.send(Message::Text(t.into())).await.is_ok(),
        Err(_) => true,
    }
}

async fn run(state: Arc<AppState>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let hub = state.coordinator.hub().clone();
    let view = state.queue_view.clone();
    let mut view_rx = view.subscribe();
    view_rx.mark_unchanged();
    let mut push_rx = hub.subscribe();
    let hello = match tokio::time::timeout(JOIN_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<QueueHello>(t.as_str()),
        Ok(_) => return,
        Err(_) => {
            let _ = send(
                &mut sink,
                &error("join_timeout", "no queue message within 10 seconds", true),
            )
            .await;
            return;
        }
    };
    let hello = match hello {
        Ok(h) if h.kind == "queue" => h,
        Ok(_) => {
            let _ = send(&mut sink, &error("not_joined", "send queue first", true)).await;
            return;
        }
        Err(e) => {
            let _ = send(
                &mut sink,
                &error("bad_message", format!("bad queue message: {e}"), true),
            )
            .await;
            return;
        }
    };
    let (actor, case_id) = match attach(&state, &hello).await {
        Ok(x) => x,
        Err(e) => {
            let _ = send(&mut sink, &error(e.code(), e.to_string(), true)).await;
            let _ = sink.send(Message::Close(None)).await;
            return;
        }
    };
    hub.socket_opened(&case_id);
    'session: {
        let mut last_place = None;
        if !refresh(&state, &case_id, &mut sink, &mut last_place).await {
            break 'session;
        }
        for m in hub.pending(&case_id) {
            if !send(&mut sink, &m).await {
                break 'session;
            }
        }
        let mut bucket = TokenBucket::full(&RATE, Instant::now());
        loop {
            tokio::select! {
                frame = stream.next() => {
                    match frame {
                        Some(Ok(Message::Text(t))) => {
                            if bucket.try_take(&RATE, Instant::now()).is_err() {
                                let _ = send(&mut sink, &error("rate_limited", "too many messages; closing", true)).await;
                                // Close politely and read out what the client already sent: closing
                                // with unread data makes the kernel reset the connection, and the
                                // client would lose the error above.
                                let _ = sink.send(Message::Close(None)).await;
                                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                                    while let Some(Ok(_)) = stream.next().await {}
                                })
                                .await;
                                break;
                            }
                            let kind = serde_json::from_str::<serde_json::Value>(t.as_str())
                                .ok()
                                .and_then(|v| v.get("type").and_then(|k| k.as_str()).map(str::to_string));
                            let reply = match kind.as_deref() {
                                Some("ping") => CustomerMsg::Pong,
                                Some(_) => error("unknown_type", "unknown message type", false),
                                None => error("bad_json", "the message must be a json object with a string `type`", false),
                            };
                            if !send(&mut sink, &reply).await {
                                break;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            if !send(&mut sink, &error("binary_not_supported", "only json text messages are accepted", false)).await {
                                break;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => break,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            debug!(error = %e, "queue socket receive error");
                            break;
                        }
                    }
                }
                changed = view_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = view_rx.borrow_and_update().places.get(&case_id).copied();
                    if let Some((position, estimated_wait_secs)) = now
                        && last_place != Some((position, estimated_wait_secs))
                    {
                        last_place = Some((position, estimated_wait_secs));
                        if !send(&mut sink, &CustomerMsg::Queue { position, estimated_wait_secs }).await {
                            break;
                        }
                    }
                }
                p = push_rx.recv() => {
                    match p {
                        Ok(p) if p.case_id == case_id => {
                            let end = matches!(p.msg, CustomerMsg::Result { .. });
                            if !send(&mut sink, &p.msg).await || end {
                                break;
                            }
                            if matches!(p.msg, CustomerMsg::Requeued { .. }) {
                                // Back in the queue: say where, even if it is the old place.
                                last_place = None;
                                if !refresh(&state, &case_id, &mut sink, &mut last_place).await {
                                    break;
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => {
                            let mut gone = false;
                            for m in hub.pending(&case_id) {
                                gone = gone || !send(&mut sink, &m).await;
                            }
                            if gone {
                                break;
                            }
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    // Still waiting, and no newer socket of the case here: keep the place for the grace period.
    if hub.socket_closed(&case_id)
        && let Ok(Some(case)) = state.cases.peek_case(&case_id).await
        && case.state == CaseState::Queued
    {
        match state.cases.disconnected(&actor, &case_id).await {
            Ok(_) | Err(CasesError::InvalidState { .. }) => {}
            Err(e) => warn!(case_id, error = %e, "marking the customer disconnected"),
        }
    }
}

/// Resolves the link and (re)claims the place; returns the customer and the case id.
async fn attach(state: &AppState, hello: &QueueHello) -> Result<(Actor, String), CasesError> {
    let (actor, case) = state.cases.customer(hello.token.trim()).await?;
    match case.state {
        CaseState::Queued => {
            let place = state
                .cases
                .queue_place(&case.id)
                .await?
                .ok_or(CasesError::NotInQueue)?;
            if !place.connected {
                let rejoin = hello
                    .rejoin_token
                    .as_deref()
                    .ok_or(CasesError::RejoinRefused)?;
                state.cases.rejoin(&actor, &case.id, rejoin).await?;
            }
        }
        // Taken already: the pending call token follows.
        CaseState::InCall | CaseState::Checks => {}
        _ => return Err(CasesError::NotInQueue),
    }
    Ok((actor, case.id))
}

/// Sends the current place if it changed; false when the socket is gone.
async fn refresh(
    state: &AppState,
    case_id: &str,
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    last: &mut Option<(u32, Option<u64>)>,
) -> bool {
    let place = match state.cases.queue_place(case_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return true,
        Err(e) => {
            warn!(case_id, error = %e, "reading the queue place");
            return true;
        }
    };
    let now = (place.position, place.estimated_wait_secs);
    if *last == Some(now) {
        return true;
    }
    *last = Some(now);
    send(
        sink,
        &CustomerMsg::Queue {
            position: place.position,
            estimated_wait_secs: place.estimated_wait_secs,
        },
    )
    .await
}
