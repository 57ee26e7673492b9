//! # vidid-node: the composition root
//!
//! A node is built from the configuration and its role, then run with a listener, a shutdown
//! future and a force future (mini-redis's `server::run`, LiveKit's `Stop(force)`). The drain
//! sequence is written once, here, for `vidid serve` and for the tests that start a node in
//! their own process.
//!
//! | role | media loop, UDP | rooms | placement | routes | background |
//! |---|---|---|---|---|---|
//! | `all` | yes | yes | [`LocalPlacement`] | everything | sweeper, webhooks, heartbeat |
//! | `signaling` | no | no | [`RegistryPlacement`] | pages, REST, `/ws/queue`, ops | sweeper, webhooks, heartbeat, failed-node recovery |
//! | `media` | yes | yes | — | `/ws`, ops | heartbeat (registry row), assignment poller |
//!
//! ## Layout
//! - `node`: [`Node`] ([`Node::build`], [`Node::run`], the drain) and [`Wiring`] (what a
//!   test may replace: the clock, the evidence store, the background intervals).
//! - [`config`]: the layered configuration ([`Config`]).
//! - [`library`]: the vault behind the control plane's evidence and recording seams.
//! - [`secrets`]: development secrets generated into the data directory.
//! - [`metrics`]: the recorder's and the vault's counters in `/metrics`.
//! - [`testing`] (feature `test-support`): an in-process node on a loopback port.
//!
//! ## The drain
//! On the shutdown future: not ready, no new calls (the registry is told at once); running
//! calls may finish within `node.drain_grace_secs`, unless the force future fires; background
//! tasks stop; the remaining calls are ended so every recording is finished, not cut; HTTP
//! connections close (10 s); a media node leaves the registry; the recorder and the vault
//! flush what they hold (10 s each).
//!
//! [`LocalPlacement`]: vidid_control::LocalPlacement
//! [`RegistryPlacement`]: vidid_control::RegistryPlacement

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod library;
pub mod metrics;
mod node;
pub mod secrets;
#[cfg(feature = "test-support")]
pub mod testing;

pub use config::Config;
pub use error::NodeError;
pub use node::{Node, RunReport, Wiring};
