//! The rooms this process relays: the call store (seats and join tokens) and the media loop
//! together, so that a room is opened, joined and ended in one place.
//!
//! Only a node that runs media has [`Rooms`] (`--role all` and `--role media`); a signaling
//! node places calls elsewhere ([`crate::placement`]).

use std::sync::Arc;

use time::OffsetDateTime;
use vidid_server::{CallSummary, MediaError, MediaServer, NodeLoad};

use crate::calls::{CallState, CallStore, CallView, NewCall};
use crate::{ControlError, Result};

/// The call rooms of this node; see the module docs.
pub struct Rooms {
    calls: Arc<dyn CallStore>,
    media: MediaServer,
    /// How long a room's join tokens stay valid.
    ttl: time::Duration,
}

impl Rooms {
    /// The rooms over `calls` and `media`; join tokens stay valid for `ttl`.
    pub fn new(calls: Arc<dyn CallStore>, media: MediaServer, ttl: time::Duration) -> Self {
        Rooms { calls, media, ttl }
    }

    /// The seats and tokens (the participant socket claims and releases seats).
    pub fn calls(&self) -> &Arc<dyn CallStore> {
        &self.calls
    }

    /// The media loop (the participant socket's offers, candidates, presence).
    pub fn media(&self) -> &MediaServer {
        &self.media
    }

    /// A room with fresh tokens and a random id (the bare calls API).
    pub fn open(&self) -> NewCall {
        self.calls.create(OffsetDateTime::now_utc(), self.ttl)
    }

    /// The room of an identification attempt, with fresh tokens.
    pub fn open_with_id(&self, call_id: &str) -> Result<NewCall> {
        self.calls
            .create_with_id(call_id, OffsetDateTime::now_utc(), self.ttl)
    }

    /// A room whose tokens were minted by the signaling node that placed the call here.
    pub fn open_with_tokens(
        &self,
        call_id: &str,
        customer_token: &str,
        agent_token: &str,
        expires_at: OffsetDateTime,
    ) -> Result<NewCall> {
        self.calls.create_with_tokens(
            call_id,
            customer_token,
            agent_token,
            OffsetDateTime::now_utc(),
            expires_at,
        )
    }

    /// The call as the API shows it; `None` when there is no such call here.
    pub fn get(&self, call_id: &str) -> Option<CallView> {
        self.calls.get(call_id)
    }

    /// Ends a room: media first (participants told, recording finished), then the store.
    pub async fn end(&self, call_id: &str, reason: &str) -> Result<CallSummary> {
        let view = self.calls.get(call_id).ok_or(ControlError::NoSuchCall)?;
        if view.state == CallState::Ended {
            return Err(ControlError::CallEnded);
        }
        let summary = match self.media.end_call(call_id, reason).await {
            Ok(s) => s,
            // Nobody ever joined: there is no room in the media loop and no recording.
            Err(MediaError::NoSuchCall(_)) => CallSummary {
                call_id: call_id.to_string(),
                recording_id: None,
                duration_ms: 0,
            },
            Err(e) => return Err(ControlError::MediaUnavailable(e.to_string())),
        };
        if !self.calls.end(call_id, summary.recording_id.clone())? {
            return Err(ControlError::CallEnded);
        }
        Ok(summary)
    }

    /// Ends a room if it is still open; a room already gone or ended is fine.
    pub async fn end_quietly(&self, call_id: &str, reason: &str) {
        match self.end(call_id, reason).await {
            Ok(_) | Err(ControlError::CallEnded) | Err(ControlError::NoSuchCall) => {}
            Err(e) => tracing::warn!(call_id, error = %e, "ending the call room"),
        }
    }

    /// Ends every room (shutdown): every recording is finished, not cut.
    pub async fn end_all(&self, reason: &str) -> Vec<CallSummary> {
        let ended = self.media.end_all(reason).await;
        for call in &ended {
            let _ = self.calls.end(&call.call_id, call.recording_id.clone());
        }
        ended
    }

    /// The media loop's load (calls, capacity).
    pub async fn load(&self) -> Result<NodeLoad> {
        self.media
            .load()
            .await
            .map_err(|e| ControlError::MediaUnavailable(e.to_string()))
    }

    /// Calls running here now (0 when the media loop does not answer).
    pub async fn running(&self) -> u32 {
        match self.media.load().await {
            Ok(l) => u32::try_from(l.calls).unwrap_or(u32::MAX),
            Err(_) => 0,
        }
    }

    /// Returns once no call runs here, or after `grace`.
    pub async fn wait_until_idle(&self, grace: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            match self.media.load().await {
                Ok(l) if l.calls == 0 => return true,
                Err(_) => return true,
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
            }
        }
        false
    }
}
