//! The identification state machine, enforced here and nowhere else.
//!
//! ```text
//!  created ──(photo + matching data)──▶ prepared ──join──▶ queued ──take──▶ in_call ──start──▶ checks
//!     │                                   ▲  ▲               │  leave/drop        │                │
//!     │                                   │  └───────────────┘                    │ abort          ├─approve─▶ approved
//!     │                                   │                                       ▼                ├─reject──▶ rejected
//!     │                                   └──────────── join (retries left) ── aborted ◀──abort────┘
//!     ├─ expire (link validity over; not while queued or in a call) ─▶ expired
//!     └─ cancel (ordering system; not during a call) ─────────────────▶ cancelled
//! ```
//!
//! Every transition is a function of the current case, the actor and the time; it checks the
//! actor's role (and, for agents, that the case is theirs), the state, and its own rules, then
//! changes the case and returns the [`Effects`] the store applies in the same transaction
//! (audit entries, queue and agent changes, a webhook). A refused transition changes nothing
//! and returns a typed [`CasesError`].
//!
//! An *attempt* is one call: taking a customer from the queue starts it, and approval,
//! rejection or an abort ends it. After an abort the customer may queue again until
//! `max_attempts` calls have been made; then the case is final.
//!
//! ## Files
//! - `config`: [`FlowConfig`], the prepared [`Question`]s and their defaults.
//! - `effects`: [`Effects`] and [`QueueOp`], what a transition hands the store.
//! - `guards`: the role, state, assignment and link checks transitions are made of.
//! - `transitions`: preparation, the queue, the take, and the decisions.
//! - `checklist`: recorded answers and the TAN.
//! - `aborts`: interrupted attempts, their customer messages, the requeue after a node failure.
//! - `evidence`: logged accesses, snapshots, the ID photo view, sealed trails.
//! - `tests`: the transition table and the rules.
//!
//! The terms (states, checklist items, answers, abort reasons) are in [`crate::vocabulary`]
//! and re-exported here.

mod aborts;
mod checklist;
mod config;
mod effects;
mod evidence;
mod guards;
#[cfg(test)]
mod tests;
mod transitions;

pub use crate::vocabulary::{
    ALL_STATES, AbortReason, CHECKLIST, CaseState, CheckAnswer, CheckItem, CheckRecord,
    EvidenceAccess, IntentAnswer,
};
pub use config::{FlowConfig, Question, default_questions};
pub use effects::{Effects, QueueOp};
pub use evidence::MAX_SNAPSHOTS;

pub(crate) use aborts::{abort, requeue_front};
pub(crate) use checklist::{record_check, send_tan, verify_tan};
pub(crate) use evidence::{
    access_evidence, add_snapshot, may_snapshot, trail_sealed, view_id_photo,
};
pub(crate) use transitions::{
    approve, cancel, confirm_data, disconnect, drop_from_queue, expire, join_queue, leave_queue,
    reject, rejoin, start_checks, take, upload_photo,
};
