//! The vocabulary the media loop and its peer connections share: who a participant is, what
//! happens to them, the candidates they trickle.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

/// Identifies one participant's peer connection on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

/// Hashes a [`ParticipantId`] with one multiplication. The ids are handed out by the engine
/// (sequential, never chosen by a client), so SipHash's flood resistance buys nothing on a map
/// looked up several times per relayed packet.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by participant id.
pub(crate) type IdMap<V> = HashMap<ParticipantId, V, BuildHasherDefault<IdHasher>>;

/// An ICE candidate as the browser's `RTCIceCandidateInit` spells it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Candidate {
    /// The candidate line (`candidate:…`), as in SDP.
    pub candidate: String,
    /// The media stream identification tag the candidate belongs to, if given.
    #[serde(rename = "sdpMid")]
    pub sdp_mid: Option<String>,
    /// The index of the m-line the candidate belongs to, if given.
    #[serde(rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u16>,
}

/// What the media node tells the signaling side about one participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantEvent {
    /// A server ICE candidate to trickle to the browser.
    Candidate(Candidate),
    /// This participant's peer connection is up (DTLS done).
    Connected,
    /// This participant's peer connection failed; it must rejoin.
    Failed,
    /// The other participant took its seat / connected / left.
    PeerJoined,
    /// The other participant's peer connection is up.
    PeerConnected,
    /// The other participant left its seat.
    PeerLeft,
    /// The call is over.
    CallEnded {
        /// Why the call ended, as the caller of the end gave it.
        reason: String,
    },
}
