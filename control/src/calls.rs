//! The rooms of live calls and their join tokens: the [`CallStore`] seam behind the participant
//! socket, the calls API and the call watcher.
//!
//! [`MemoryCallStore`] keeps them in memory, per process: a call room lives on the node whose
//! media loop relays it. Tokens are kept only as SHA-256 digests, so a memory dump holds no
//! usable token.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use serde::Serialize;
use time::OffsetDateTime;
use vidid_server::Party;

use crate::ControlError;

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    /// Created; nobody has joined yet.
    Waiting,
    /// A participant has joined at least once; the call is not over.
    Active,
    /// Ended; its tokens join nothing any more.
    Ended,
}

/// Where a participant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeatState {
    /// Nobody holds the seat (never joined, or left).
    Absent,
    /// A socket holds the seat; its peer connection is not up.
    Joined,
    /// A socket holds the seat and its peer connection is up.
    Connected,
}

/// A call as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    /// The call's id: `c_<hex>` for the bare calls API, `<case id>-<attempt>` for an attempt.
    pub call_id: String,
    /// Where the call is in its life.
    pub state: CallState,
    /// Where each of the two participants is.
    pub participants: Participants,
    /// The call's recording, set when the call ends; `None` before that or if nothing was
    /// recorded.
    pub recording_id: Option<String>,
    /// When the call was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the join links stop working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The two seats of a call, as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Participants {
    /// The customer's seat.
    pub customer: SeatState,
    /// The agent's seat.
    pub agent: SeatState,
}

/// A new call and the plaintext tokens, which exist only in this value.
#[derive(Debug, Clone)]
pub struct NewCall {
    /// The new call's id.
    pub call_id: String,
    /// The customer's join token, in plaintext.
    pub customer_token: String,
    /// The agent's join token, in plaintext.
    pub agent_token: String,
    /// When the tokens stop working.
    pub expires_at: OffsetDateTime,
}

/// A seat held by one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatClaim {
    /// The call the seat belongs to.
    pub call_id: String,
    /// Which seat: customer or agent.
    pub role: Party,
    /// The participant socket holding the seat (a per-process connection number).
    pub connection: u64,
}

/// The store of calls; see the module docs.
pub trait CallStore: Send + Sync + 'static {
    /// Creates a call with a random id and fresh tokens, valid for `ttl` from `now`.
    fn create(&self, now: OffsetDateTime, ttl: time::Duration) -> NewCall;
    /// Creates a call with a chosen id (an identification attempt of a case); refuses an id
    /// that exists.
    fn create_with_id(
        &self,
        call_id: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<NewCall, ControlError>;
    /// A room with tokens made elsewhere (a media node opening a call signaling placed on
    /// it; `crate::cluster`).
    fn create_with_tokens(
        &self,
        call_id: &str,
        customer_token: &str,
        agent_token: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<NewCall, ControlError>;
    /// The call as the API shows it; `None` when there is no such call.
    fn get(&self, call_id: &str) -> Option<CallView>;
    /// Takes the seat a token names for `connection`; refuses if another connection holds it.
    fn claim(
        &self,
        token: &str,
        connection: u64,
        now: OffsetDateTime,
    ) -> Result<SeatClaim, ControlError>;
    /// Records whether the claimed seat's peer connection is up; ignored if the claim no
    /// longer holds the seat.
    fn set_connected(&self, claim: &SeatClaim, connected: bool);
    /// Frees the claimed seat (the socket left); ignored if the claim no longer holds it.
    fn release(&self, claim: &SeatClaim);
    /// Marks the call ended; returns false if it already was.
    fn end(&self, call_id: &str, recording_id: Option<String>) -> Result<bool, ControlError>;
}

struct Call {
    state: CallState,
    seats: [Option<u64>; 2],
    connected: [bool; 2],
    recording_id: Option<String>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

#[derive(Default)]
struct Inner {
    calls: HashMap<String, Call>,
    tokens: HashMap<[u8; 32], (String, Party)>,
}

/// Calls in memory: the embedded single-process default.
#[derive(Default)]
pub struct MemoryCallStore {
    inner: Mutex<Inner>,
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn idx(role: Party) -> usize {
    match role {
        Party::Customer => 0,
        Party::Agent => 1,
    }
}

fn seat_state(c: &Call, role: Party) -> SeatState {
    match (c.seats[idx(role)], c.connected[idx(role)]) {
        (None, _) => SeatState::Absent,
        (Some(_), false) => SeatState::Joined,
        (Some(_), true) => SeatState::Connected,
    }
}

impl MemoryCallStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves consistent maps (no multi-step invariants).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, call_id: String, now: OffsetDateTime, ttl: time::Duration) -> NewCall {
        self.insert_tokens(
            NewCall {
                call_id,
                customer_token: random_token(),
                agent_token: random_token(),
                expires_at: now + ttl,
            },
            now,
        )
    }

    fn insert_tokens(&self, new: NewCall, now: OffsetDateTime) -> NewCall {
        let call_id = new.call_id.clone();
        let mut g = self.lock();
        g.tokens.insert(
            digest(&new.customer_token),
            (call_id.clone(), Party::Customer),
        );
        g.tokens
            .insert(digest(&new.agent_token), (call_id.clone(), Party::Agent));
        g.calls.insert(
            call_id,
            Call {
                state: CallState::Waiting,
                seats: [None, None],
                connected: [false, false],
                recording_id: None,
                created_at: now,
                expires_at: new.expires_at,
            },
        );
        new
    }
}

impl CallStore for MemoryCallStore {
    fn create(&self, now: OffsetDateTime, ttl: time::Duration) -> NewCall {
        let raw: [u8; 12] = rand::random();
        let call_id = format!("c_{}", hex::encode(raw));
        self.insert(call_id, now, ttl)
    }

    fn create_with_id(
        &self,
        call_id: &str,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<NewCall, ControlError> {
        if self.lock().calls.contains_key(call_id) {
            return Err(ControlError::CallExists);
        }
        Ok(self.insert(call_id.to_string(), now, ttl))
    }

    fn create_with_tokens(
        &self,
        call_id: &str,
        customer_token: &str,
        agent_token: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<NewCall, ControlError> {
        if self.lock().calls.contains_key(call_id) {
            return Err(ControlError::CallExists);
        }
        Ok(self.insert_tokens(
            NewCall {
                call_id: call_id.to_string(),
                customer_token: customer_token.to_string(),
                agent_token: agent_token.to_string(),
                expires_at,
            },
            now,
        ))
    }

    fn get(&self, call_id: &str) -> Option<CallView> {
        let g = self.lock();
        let c = g.calls.get(call_id)?;
        Some(CallView {
            call_id: call_id.to_string(),
            state: c.state,
            participants: Participants {
                customer: seat_state(c, Party::Customer),
                agent: seat_state(c, Party::Agent),
            },
            recording_id: c.recording_id.clone(),
            created_at: c.created_at,
            expires_at: c.expires_at,
        })
    }

    fn claim(
        &self,
        token: &str,
        connection: u64,
        now: OffsetDateTime,
    ) -> Result<SeatClaim, ControlError> {
        if token.is_empty() || token.len() > 128 {
            return Err(ControlError::InvalidToken);
        }
        let mut g = self.lock();
        let (call_id, role) = g
            .tokens
            .get(&digest(token))
            .cloned()
            .ok_or(ControlError::InvalidToken)?;
        let call = g
            .calls
            .get_mut(&call_id)
            .ok_or(ControlError::InvalidToken)?;
        if call.state == CallState::Ended {
            return Err(ControlError::CallEnded);
        }
        if now >= call.expires_at {
            return Err(ControlError::LinkExpired);
        }
        if call.seats[idx(role)].is_some() {
            return Err(ControlError::TokenInUse);
        }
        call.seats[idx(role)] = Some(connection);
        call.state = CallState::Active;
        Ok(SeatClaim {
            call_id,
            role,
            connection,
        })
    }

    fn set_connected(&self, claim: &SeatClaim, connected: bool) {
        let mut g = self.lock();
        if let Some(c) = g.calls.get_mut(&claim.call_id)
            && c.seats[idx(claim.role)] == Some(claim.connection)
        {
            c.connected[idx(claim.role)] = connected;
        }
    }

    fn release(&self, claim: &SeatClaim) {
        let mut g = self.lock();
        if let Some(c) = g.calls.get_mut(&claim.call_id)
            && c.seats[idx(claim.role)] == Some(claim.connection)
        {
            c.seats[idx(claim.role)] = None;
            c.connected[idx(claim.role)] = false;
        }
    }

    fn end(&self, call_id: &str, recording_id: Option<String>) -> Result<bool, ControlError> {
        let mut g = self.lock();
        let c = g.calls.get_mut(call_id).ok_or(ControlError::NoSuchCall)?;
        if c.state == CallState::Ended {
            return Ok(false);
        }
        c.state = CallState::Ended;
        c.seats = [None, None];
        c.connected = [false, false];
        if recording_id.is_some() {
            c.recording_id = recording_id;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifecycle() {
        let store = MemoryCallStore::default();
        let now = OffsetDateTime::now_utc();
        let call = store.create(now, time::Duration::hours(1));
        assert!(matches!(
            store.claim("nope", 1, now),
            Err(ControlError::InvalidToken)
        ));
        let claim = store.claim(&call.customer_token, 1, now).unwrap();
        assert_eq!(claim.role, Party::Customer);
        // A second connection with the same token is refused while the first holds it.
        assert!(matches!(
            store.claim(&call.customer_token, 2, now),
            Err(ControlError::TokenInUse)
        ));
        store.release(&claim);
        let again = store.claim(&call.customer_token, 2, now).unwrap();
        assert_eq!(again.connection, 2);
        assert!(store.end(&call.call_id, Some("r".into())).unwrap());
        assert!(!store.end(&call.call_id, None).unwrap());
        assert!(matches!(
            store.claim(&call.agent_token, 3, now),
            Err(ControlError::CallEnded)
        ));
        assert_eq!(
            store.get(&call.call_id).unwrap().recording_id.as_deref(),
            Some("r")
        );
    }

    #[test]
    fn expired_link_refused() {
        let store = MemoryCallStore::default();
        let now = OffsetDateTime::now_utc();
        let call = store.create(now, time::Duration::minutes(5));
        let later = now + time::Duration::minutes(6);
        assert!(matches!(
            store.claim(&call.agent_token, 1, later),
            Err(ControlError::LinkExpired)
        ));
    }
}
