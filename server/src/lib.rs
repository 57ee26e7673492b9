//! # vidid-server: the media server
//!
//! A selective forwarding unit (SFU) for one-to-one identification calls, on the sans-IO
//! WebRTC core of webrtc-rs (`rtc` 0.21, pinned). One call is one room with two seats,
//! customer and agent; each browser has one peer connection to this server, which relays RTP
//! between the two without transcoding and taps the audio for the recorder.
//!
//! ## Layout
//! - [`engine`]: the media loop and its handle [`MediaServer`]. One thread owns one UDP socket
//!   and every peer connection; datagrams are routed by ICE ufrag (STUN) and source address.
//! - `participant`: the shared vocabulary (participant ids and events, ICE candidates).
//! - [`peer`]: building one participant's peer connection (codecs, interceptors, ICE
//!   credentials, the two outbound tracks) and the payload-type lookups the relay needs.
//! - [`feedback`]: the interceptor that lets PLI/FIR/REMB and loss reports reach the relay.
//! - [`downlink`]: the loss-based downlink estimate that becomes REMB to the sender.
//! - [`stun`]: the few bytes of STUN parsing routing needs.
//! - [`turn`]: ICE servers for browsers, with coturn time-limited credentials.
//! - [`config`], [`metrics`], [`MediaError`].
//!
//! ## Flow of a packet
//! socket → [`stun::local_ufrag`] or address map → `RTCPeerConnection::handle_read` (ICE, DTLS,
//! SRTP, interceptors: NACK generator, TWCC feedback, receiver reports) → `poll_read` yields RTP
//! → audio is pushed to the call's [`vidid_recorder::CallRecorder`] → the payload type and SSRC
//! are rewritten for the other leg and its header extensions dropped → the other peer
//! connection's `write_rtp` (NACK responder buffer, sender reports, SRTP) → `poll_write` →
//! socket. RTCP feedback about a relayed stream (PLI, FIR) becomes a rate-limited PLI to the
//! original sender; receiver loss reports drive a REMB that caps the sender's bitrate to
//! what the receiver's downlink carries.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod downlink;
pub mod engine;
mod error;
pub mod feedback;
pub mod metrics;
mod participant;
mod peer;
pub mod stun;
pub mod turn;

pub use config::MediaConfig;
pub use engine::{
    CallSummary, Candidate, Joined, MediaServer, NodeLoad, ParticipantEvent, ParticipantId,
};
pub use error::MediaError;
pub use metrics::MediaMetrics;
pub use turn::{IceServer, TurnConfig};
pub use vidid_recorder::Party;
