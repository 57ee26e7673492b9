//! # vidid-cases: the identification domain and its store
//!
//! Everything around the call that must hold up in an audit, with no HTTP in it: when a
//! customer's link is valid, when agents work, whether the customer's data matches the order,
//! the queue, the identification state machine with its checklist and TAN, the hash-chained
//! evidence trail, staff users and sessions, and the persistence of all of it in SQLite
//! (embedded) or PostgreSQL (several processes sharing one queue).
//!
//! The API for the HTTP, WebSocket and CLI layers is [`Cases`]: every method takes the acting
//! [`Actor`], checks role, permission, state and rules, and changes the case together with its
//! audit entries in one transaction. Time comes from an injected [`Clock`].
//!
//! ```no_run
//! # async fn demo(new_case: vidid_cases::NewCase) -> Result<(), vidid_cases::CasesError> {
//! use vidid_cases::{Actor, Cases, CasesConfig};
//! let cases = Cases::open(CasesConfig::default(), std::path::Path::new("vidid-data")).await?;
//! let link = cases.create_case(&Actor::ordering_system(), &new_case, Some("order-42")).await?;
//! let (customer, _case) = cases.customer(&link.token).await?;
//! // … upload_photo, confirm_data, join_queue (customer) → take_next, start_checks,
//! // record_check, send_tan, verify_tan, approve (agent) …
//! # let _ = customer; Ok(()) }
//! ```
//!
//! ## Layout
//! - [`clock`]: the [`Clock`] trait, the system clock and a settable test clock.
//! - [`calendar`]: Slovenian work-free holidays (Easter computus), config overrides.
//! - [`hours`]: working hours in Europe/Ljubljana with the bundled tz database:
//!   `is_open`, `next_opening`, `closes_at`.
//! - [`validity`]: the link validity rule (24 counted hours; weekends and holidays skipped as
//!   whole local days).
//! - [`matching`]: name comparison with explanations, document acceptance, the data check.
//! - [`case`]: the [`Case`] and the ordering system's [`NewCase`].
//! - [`flow`]: the state machine, checklist, prepared questions, abort reasons.
//! - [`tan`]: one-time codes (hashed), the [`SmsGateway`] seam and the outbox gateway.
//! - [`audit`]: hash-chained entries, [`audit::verify_chain`], JSON-lines export.
//! - [`users`]: roles, the permission matrix, argon2id passwords, tokens.
//! - [`queue`]: queue and agent types, wait estimates.
//! - [`webhook`]: the delivery outbox's types and backoff.
//! - [`store`]: the [`Store`] trait and its SQL implementation (SQLite and PostgreSQL),
//!   migrations in `migrations/`.
//! - `service`: [`Cases`], which ties them together, and [`CasesConfig`].
//!
//! ## Configuration
//! [`CasesConfig`] has the sections `store`, `hours`, `identification`, `queue`, `tan` and
//! `sessions`; each rejects unknown keys, and [`CasesConfig::validate`] names a bad key.

#![forbid(unsafe_code)]

pub mod audit;
pub mod calendar;
pub mod case;
pub mod clock;
pub mod cluster;
mod error;
pub mod flow;
pub mod hours;
pub mod matching;
pub mod queue;
mod service;
pub mod store;
mod system;
pub mod tan;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod users;
pub mod validity;
pub mod vocabulary;
pub mod webhook;

pub use audit::{AuditEntry, AuditEvent, ChainBreak, ChainHead};
pub use case::{Case, Customer, DocumentPhoto, NewCase, SealedTrail, Snapshot};
pub use clock::{Clock, ShiftedClock, SystemClock, TestClock};
pub use error::CasesError;
pub use flow::Question;
pub use hours::WorkingHours;
pub use matching::{ConfirmedData, DataCheck, Document, DocumentKind, Lang, NameDifference};
pub use queue::{AgentState, AgentStatus, QueueEvent, QueuePlace, QueueTicket};
pub use service::{AuditTrail, CaseQuery, Cases, CasesConfig, NewLink, SessionConfig, SweepReport};
pub use store::{Backend, Store, StoreConfig};
pub use tan::{OutboxSms, Sms, SmsGateway, TanOutcome};
pub use users::{Actor, Login, User};
pub use vocabulary::{
    AbortReason, CaseState, CheckAnswer, CheckItem, EvidenceAccess, IntentAnswer, Permission, Role,
    SnapshotKind,
};
