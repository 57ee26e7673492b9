use thiserror::Error;
use time::OffsetDateTime;

use crate::vocabulary::{CaseState, ChainBreak, CheckItem, Permission, Role};

/// Everything this crate refuses or fails at.
///
/// Messages are lowercase and safe to show to the party that caused them (they name rules, not
/// internals); [`CasesError::code`] is the stable machine-readable code for APIs.
#[derive(Debug, Error)]
pub enum CasesError {
    /// A case, user, session, queue place or webhook delivery that does not exist.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The actor's role does not allow the action.
    #[error("a {role} may not {action}")]
    Forbidden { role: Role, action: &'static str },
    /// The actor's role lacks a permission (see [`crate::users::permits`]).
    #[error("the role {role} lacks the permission {permission}")]
    PermissionDenied { role: Role, permission: Permission },
    /// The case is handled by another agent.
    #[error("the case is assigned to another agent")]
    NotAssigned,
    /// The action is not allowed in the case's current state.
    #[error("cannot {action} while the case is {state}")]
    InvalidState {
        state: CaseState,
        action: &'static str,
    },
    /// The customer's link is no longer valid.
    #[error("the link expired at {0}")]
    LinkExpired(OffsetDateTime),
    /// Outside working hours: nobody new enters the queue.
    #[error("the queue is closed; it opens at {next_opening}")]
    QueueClosed { next_opening: OffsetDateTime },
    /// The queue holds its maximum number of customers.
    #[error("the queue is full ({max_length} customers)")]
    QueueFull { max_length: u32 },
    /// The estimated wait is longer than the configured maximum.
    #[error(
        "the estimated wait of {estimated_mins} minutes exceeds the maximum of {max_mins} minutes"
    )]
    WaitTooLong { estimated_mins: u64, max_mins: u64 },
    /// The case has no place in the queue.
    #[error("the customer is not in the queue")]
    NotInQueue,
    /// The rejoin token is wrong.
    #[error("the rejoin token is not valid")]
    RejoinRefused,
    /// The place was kept for the grace period only.
    #[error("the place in the queue was given up at {0}")]
    RejoinTooLate(OffsetDateTime),
    /// The agent is in a call (or paused, for taking calls).
    #[error("the agent is {0}")]
    AgentUnavailable(&'static str),
    /// No more repetitions of the identification are allowed.
    #[error("the identification was attempted {0} times, the maximum")]
    RetriesExhausted(u32),
    /// Only Slovenian ID cards and passports are accepted.
    #[error("document not accepted: {0}")]
    DocumentNotAccepted(&'static str),
    /// A field of a request is missing or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// The customer's confirmed data does not match the case.
    #[error("the confirmed data does not match the case")]
    DataMismatch,
    /// Approval needs every checklist item done.
    #[error("the checklist is incomplete; missing: {}", list(.0))]
    ChecklistIncomplete(Vec<CheckItem>),
    /// Approval needs every checklist item passed.
    #[error("the check {0} did not pass")]
    CheckFailed(CheckItem),
    /// No TAN is pending for the case.
    #[error("no verification code has been sent")]
    NoTan,
    /// The TAN may be sent only so many times per attempt.
    #[error("the verification code was already sent {0} times")]
    TanSendLimit(u32),
    /// The same idempotency key with a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyConflict,
    /// A user of that name exists.
    #[error("the user {0} already exists")]
    UserExists(String),
    /// Wrong user name or password (deliberately not saying which).
    #[error("wrong user name or password")]
    BadCredentials,
    /// The session token is unknown or expired.
    #[error("the session is not valid")]
    SessionInvalid,
    /// A configuration value is wrong; `key` is its dotted name.
    #[error("invalid configuration: {key}: {reason}")]
    Config { key: &'static str, reason: String },
    /// The audit chain does not verify.
    #[error("the audit trail does not verify: {0}")]
    AuditChain(ChainBreak),
    /// The SMS gateway failed.
    #[error("sms gateway: {0}")]
    Sms(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A file could not be written or read.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data could not be read back (corruption or a newer schema).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

fn list(items: &[CheckItem]) -> String {
    items
        .iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl CasesError {
    /// The stable machine-readable code (snake case).
    pub fn code(&self) -> &'static str {
        use CasesError::*;
        match self {
            NotFound(_) => "not_found",
            Forbidden { .. } | PermissionDenied { .. } => "forbidden",
            NotAssigned => "not_assigned",
            InvalidState { .. } => "invalid_state",
            LinkExpired(_) => "link_expired",
            QueueClosed { .. } => "queue_closed",
            QueueFull { .. } => "queue_full",
            WaitTooLong { .. } => "wait_too_long",
            NotInQueue => "not_in_queue",
            RejoinRefused => "rejoin_refused",
            RejoinTooLate(_) => "rejoin_too_late",
            AgentUnavailable(_) => "agent_unavailable",
            RetriesExhausted(_) => "retries_exhausted",
            DocumentNotAccepted(_) => "document_not_accepted",
            InvalidInput { .. } => "invalid_input",
            DataMismatch => "data_mismatch",
            ChecklistIncomplete(_) => "checklist_incomplete",
            CheckFailed(_) => "check_failed",
            NoTan => "no_tan",
            TanSendLimit(_) => "tan_send_limit",
            IdempotencyConflict => "idempotency_conflict",
            UserExists(_) => "user_exists",
            BadCredentials => "bad_credentials",
            SessionInvalid => "session_invalid",
            Config { .. } => "config",
            AuditChain(_) => "audit_chain_broken",
            Sms(_) => "sms_failed",
            Database(_) | Io(_) | Corrupt(_) => "internal",
        }
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        CasesError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
