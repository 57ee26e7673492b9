//! # vidid-control: the control plane, with no HTTP in it
//!
//! What happens around a call, whoever asks for it (the REST API, a socket, a background
//! task, another node): an agent takes a customer, the call is placed where media runs, the
//! room is watched, the attempt ends and its result reaches the customer and the evidence.
//! The adapters (`vidid-signaling`: HTTP, WebSockets, pages) call this crate; this crate calls
//! the domain ([`vidid_cases::Cases`]) and the media loop ([`vidid_server::MediaServer`]).
//!
//! ```text
//!   adapters (signaling: REST, /ws, /ws/queue)          node agent (heartbeat, poller, recovery)
//!        │ take, decide, instruct, join                       │
//!        ▼                                                    ▼
//!   Coordinator ──▶ Placement ──┬── LocalPlacement ──▶ Rooms (CallStore + MediaServer) ──▶ watch
//!        │                      └── RegistryPlacement ──▶ store: call_assignments ──▶ media node
//!        ▼
//!   Attempts (end of an attempt: Hub push, room end, trail sealed into the EvidenceStore)
//! ```
//!
//! ## Layout
//! - [`coordinator`]: [`Coordinator`]: take, instruct, approve/reject/abort/cancel.
//! - [`placement`]: the [`Placement`] seam: [`LocalPlacement`] (this process) and
//!   [`RegistryPlacement`] (media nodes through the PostgreSQL registry).
//! - [`attempt`]: [`Attempts`]: the end of an attempt, the requeue after a failed node, the
//!   trail sealed into the vault; [`call_id_of`].
//! - [`watch`]: the watcher of one call room.
//! - [`rooms`]: [`Rooms`]: this node's call store and media loop together.
//! - [`calls`]: the [`calls::CallStore`] seam (seats, hashed join tokens) and its in-memory
//!   implementation.
//! - [`tokens`]: join tokens minted with the cluster secret; [`grants`]: the compliance
//!   portal's purpose-bound access grants.
//! - [`node`]: [`NodeRole`], [`NodeAgent`] (drain flag, node metrics), the media node's
//!   heartbeat and assignment poller, the signaling side's failed-node recovery.
//! - [`hub`]: what is pushed to a customer's queue socket, across processes on the bus;
//!   [`queue_view`]: the queue snapshot every queue socket shares.
//! - [`evidence`]: the [`evidence::EvidenceStore`] seam for ID photos, snapshots and sealed
//!   trails; [`recordings`]: the [`recordings::RecordingLibrary`] seam for the portal.
//! - [`jobs`]: the sweeper and the HMAC-signed webhook sender.
//! - [`metrics`]: the queue figures in `/metrics`; [`ControlError`]: every refusal, with
//!   its stable code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attempt;
pub mod calls;
pub mod coordinator;
mod error;
pub mod evidence;
pub mod grants;
pub mod hub;
pub mod jobs;
pub mod metrics;
pub mod node;
pub mod placement;
pub mod queue_view;
pub mod recordings;
pub mod rooms;
pub mod tokens;
pub mod watch;

pub use attempt::{Attempts, call_id_of};
pub use coordinator::{Coordinator, Taken};
pub use error::{ControlError, Result};
pub use node::{NodeAgent, NodeRole, NodeSettings};
pub use placement::{LocalPlacement, PlacedCall, Placement, RegistryPlacement};
pub use rooms::Rooms;
/// The domain, re-exported for the adapters.
pub use vidid_cases;
