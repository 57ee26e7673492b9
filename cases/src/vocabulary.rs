//! The shared terms of the identification domain: where a case is ([`CaseState`]), the
//! checklist ([`CheckItem`], [`CheckAnswer`], [`CheckRecord`]), why an attempt stopped
//! ([`AbortReason`]), what a snapshot shows ([`SnapshotKind`]), how evidence is accessed
//! ([`EvidenceAccess`]), who acts ([`Role`], [`Permission`]) and the audit chain's head and
//! breaks ([`ChainHead`], [`ChainBreak`]).
//!
//! [`crate::case`], [`crate::audit`], [`crate::flow`], [`crate::users`] and the error type all
//! speak these terms; this module depends on no other module of the crate, so none of them
//! depends on another through it. Behaviour that needs more than the terms lives with its
//! module: the customer messages of an [`AbortReason`] in `flow::aborts`, the permission matrix
//! in [`crate::users::permits`], parsing a [`Role`] into an error in [`crate::users`].

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

// ─── the case's lifecycle ────────────────────────────────────────────────────────────────

/// Where a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Created by the ordering system; the customer has not finished preparing.
    Created,
    /// ID photo uploaded and data confirmed; may queue during working hours.
    Prepared,
    /// Waiting for an agent.
    Queued,
    /// An agent took the customer; the call is being set up or running.
    InCall,
    /// The agent is going through the checklist.
    Checks,
    Approved,
    Rejected,
    /// The last attempt was interrupted; final once no retries are left.
    Aborted,
    Expired,
    Cancelled,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Created => "created",
            CaseState::Prepared => "prepared",
            CaseState::Queued => "queued",
            CaseState::InCall => "in_call",
            CaseState::Checks => "checks",
            CaseState::Approved => "approved",
            CaseState::Rejected => "rejected",
            CaseState::Aborted => "aborted",
            CaseState::Expired => "expired",
            CaseState::Cancelled => "cancelled",
        }
    }

    /// The inverse of [`CaseState::as_str`].
    pub fn parse(s: &str) -> Option<CaseState> {
        ALL_STATES.into_iter().find(|st| st.as_str() == s)
    }
}

/// Every state, in lifecycle order.
pub const ALL_STATES: [CaseState; 10] = [
    CaseState::Created,
    CaseState::Prepared,
    CaseState::Queued,
    CaseState::InCall,
    CaseState::Checks,
    CaseState::Approved,
    CaseState::Rejected,
    CaseState::Aborted,
    CaseState::Expired,
    CaseState::Cancelled,
];

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ─── the checklist ───────────────────────────────────────────────────────────────────────

/// The items of the agent's checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckItem {
    /// The customer showed the room; the agent attests nobody else was seen or heard.
    AloneInRoom,
    /// The prepared questions about the customer's intent, answered.
    Intent,
    /// The face matches the document photo.
    FaceMatchesDocument,
    /// The document's front was shown and its security features looked right.
    DocumentFront,
    /// The document's back likewise.
    DocumentBack,
    /// The TAN was read back correctly (recorded by [`crate::Cases::verify_tan`]).
    Tan,
}

/// The whole checklist, in the order the console shows it.
pub const CHECKLIST: [CheckItem; 6] = [
    CheckItem::AloneInRoom,
    CheckItem::Intent,
    CheckItem::FaceMatchesDocument,
    CheckItem::DocumentFront,
    CheckItem::DocumentBack,
    CheckItem::Tan,
];

impl CheckItem {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckItem::AloneInRoom => "alone_in_room",
            CheckItem::Intent => "intent",
            CheckItem::FaceMatchesDocument => "face_matches_document",
            CheckItem::DocumentFront => "document_front",
            CheckItem::DocumentBack => "document_back",
            CheckItem::Tan => "tan",
        }
    }
}

impl fmt::Display for CheckItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to one prepared question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentAnswer {
    /// The [`Question::id`].
    pub question_id: String,
    /// What the customer said, in the agent's words.
    pub answer: String,
    /// The agent judges the answer consistent with free will and the stated intent.
    pub acceptable: bool,
}

/// What the agent records for a checklist item (the TAN has its own functions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckAnswer {
    AloneInRoom {
        /// The customer turned the camera round the room.
        room_shown: bool,
        /// The agent's attestation.
        nobody_else_seen_or_heard: bool,
        #[serde(default)]
        observation: String,
    },
    Intent {
        /// One per configured question, in the configured order.
        answers: Vec<IntentAnswer>,
        /// The agent's observations of the customer's reactions and behaviour.
        #[serde(default)]
        observation: String,
    },
    FaceMatchesDocument {
        matches: bool,
        #[serde(default)]
        observation: String,
    },
    DocumentFront {
        shown: bool,
        security_features_ok: bool,
        #[serde(default)]
        observation: String,
    },
    DocumentBack {
        shown: bool,
        security_features_ok: bool,
        #[serde(default)]
        observation: String,
    },
    /// Written by the TAN functions; refused from [`crate::Cases::record_check`].
    Tan { verified: bool },
}

impl CheckAnswer {
    pub fn item(&self) -> CheckItem {
        match self {
            CheckAnswer::AloneInRoom { .. } => CheckItem::AloneInRoom,
            CheckAnswer::Intent { .. } => CheckItem::Intent,
            CheckAnswer::FaceMatchesDocument { .. } => CheckItem::FaceMatchesDocument,
            CheckAnswer::DocumentFront { .. } => CheckItem::DocumentFront,
            CheckAnswer::DocumentBack { .. } => CheckItem::DocumentBack,
            CheckAnswer::Tan { .. } => CheckItem::Tan,
        }
    }

    /// Whether the answer lets the identification proceed.
    pub fn passed(&self) -> bool {
        match self {
            CheckAnswer::AloneInRoom {
                room_shown,
                nobody_else_seen_or_heard,
                ..
            } => *room_shown && *nobody_else_seen_or_heard,
            CheckAnswer::Intent { answers, .. } => answers.iter().all(|a| a.acceptable),
            CheckAnswer::FaceMatchesDocument { matches, .. } => *matches,
            CheckAnswer::DocumentFront {
                shown,
                security_features_ok,
                ..
            }
            | CheckAnswer::DocumentBack {
                shown,
                security_features_ok,
                ..
            } => *shown && *security_features_ok,
            CheckAnswer::Tan { verified } => *verified,
        }
    }
}

/// One recorded checklist answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub item: CheckItem,
    pub passed: bool,
    pub answer: CheckAnswer,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

// ─── attempts, snapshots, evidence ───────────────────────────────────────────────────────

/// Why an attempt was interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortReason {
    BadLight,
    BadImage,
    BadSound,
    /// Someone else seems to be present or to influence the customer.
    ThirdPartySuspected,
    /// Another suspicion (document, behaviour) that does not allow continuing.
    OtherSuspicion,
    ConnectionLost,
    CustomerLeft,
    AgentLeft,
    /// The customer asked to stop.
    CustomerRequest,
    /// The TAN could not be confirmed (locked, not received).
    TanFailed,
    TechnicalProblem,
}

impl AbortReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AbortReason::BadLight => "bad_light",
            AbortReason::BadImage => "bad_image",
            AbortReason::BadSound => "bad_sound",
            AbortReason::ThirdPartySuspected => "third_party_suspected",
            AbortReason::OtherSuspicion => "other_suspicion",
            AbortReason::ConnectionLost => "connection_lost",
            AbortReason::CustomerLeft => "customer_left",
            AbortReason::AgentLeft => "agent_left",
            AbortReason::CustomerRequest => "customer_request",
            AbortReason::TanFailed => "tan_failed",
            AbortReason::TechnicalProblem => "technical_problem",
        }
    }
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a snapshot of the call shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    Face,
    DocumentFront,
    DocumentBack,
}

impl SnapshotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotKind::Face => "face",
            SnapshotKind::DocumentFront => "document_front",
            SnapshotKind::DocumentBack => "document_back",
        }
    }

    pub fn parse(s: &str) -> Option<SnapshotKind> {
        match s {
            "face" => Some(SnapshotKind::Face),
            "document_front" => Some(SnapshotKind::DocumentFront),
            "document_back" => Some(SnapshotKind::DocumentBack),
            _ => None,
        }
    }
}

/// How evidence is accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceAccess {
    /// Opened the case's evidence (trail, checklist, snapshots) in the compliance portal.
    View,
    /// Opened or played the recording.
    Play,
    /// Downloaded the recording.
    Download,
    /// Exported the recording or the evidence bundle.
    Export,
    /// Verified the recording or the trail.
    Verify,
    /// Read the audit trail.
    ReadAudit,
}

impl EvidenceAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceAccess::View => "view",
            EvidenceAccess::Play => "play",
            EvidenceAccess::Download => "download",
            EvidenceAccess::Export => "export",
            EvidenceAccess::Verify => "verify",
            EvidenceAccess::ReadAudit => "read_audit",
        }
    }

    /// The permission the access needs.
    pub fn permission(self) -> Permission {
        match self {
            EvidenceAccess::Play | EvidenceAccess::Download | EvidenceAccess::Verify => {
                Permission::OpenRecordings
            }
            EvidenceAccess::View => Permission::ReadAudit,
            EvidenceAccess::Export => Permission::ExportEvidence,
            EvidenceAccess::ReadAudit => Permission::ReadAudit,
        }
    }
}

// ─── who acts ────────────────────────────────────────────────────────────────────────────

/// A role an actor acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Agent,
    Supervisor,
    Compliance,
    Admin,
    /// The ordering system, through the API key.
    OrderingSystem,
    /// vidid itself: sweepers, connection monitors.
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Compliance => "compliance",
            Role::Admin => "admin",
            Role::OrderingSystem => "ordering_system",
            Role::System => "system",
        }
    }

    /// Parses a staff role (`agent`, `supervisor`, `compliance`, `admin`).
    pub fn parse_staff(s: &str) -> Option<Role> {
        Some(match s {
            "agent" => Role::Agent,
            "supervisor" => Role::Supervisor,
            "compliance" => Role::Compliance,
            "admin" => Role::Admin,
            _ => return None,
        })
    }

    /// Any role by its [`Role::as_str`] name.
    pub(crate) fn parse(s: &str) -> Option<Role> {
        Role::parse_staff(s).or(match s {
            "customer" => Some(Role::Customer),
            "ordering_system" => Some(Role::OrderingSystem),
            "system" => Some(Role::System),
            _ => None,
        })
    }

    /// A role local users can have.
    pub fn is_staff(self) -> bool {
        matches!(
            self,
            Role::Agent | Role::Supervisor | Role::Compliance | Role::Admin
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What staff may do; see the module docs for the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    TakeCalls,
    ViewQueue,
    ReadCases,
    ReadAudit,
    OpenRecordings,
    ExportEvidence,
    ManageUsers,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::TakeCalls => "take_calls",
            Permission::ViewQueue => "view_queue",
            Permission::ReadCases => "read_cases",
            Permission::ReadAudit => "read_audit",
            Permission::OpenRecordings => "open_recordings",
            Permission::ExportEvidence => "export_evidence",
            Permission::ManageUsers => "manage_users",
        })
    }
}

// ─── the audit chain ─────────────────────────────────────────────────────────────────────

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The number of entries and the last hash, kept with the case so truncation is visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub len: u64,
    pub hash: String,
}

impl Default for ChainHead {
    fn default() -> Self {
        ChainHead {
            len: 0,
            hash: GENESIS.into(),
        }
    }
}

/// What is wrong with a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The entry's content does not match its hash.
    Edited,
    /// An entry with this sequence number is missing.
    Missing,
    /// Entries are out of order.
    OutOfOrder,
    /// The entry does not link to the hash of the entry before it.
    BrokenLink,
    /// Entries after this one were removed (the chain is shorter than its recorded head).
    Truncated,
    /// The entry belongs to another case.
    WrongCase,
}

/// Where and how a chain fails to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The sequence number of the entry at fault (for `Missing`, the missing one).
    pub seq: u64,
    pub kind: BreakKind,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            BreakKind::Edited => "was edited",
            BreakKind::Missing => "is missing",
            BreakKind::OutOfOrder => "is out of order",
            BreakKind::BrokenLink => "does not link to the entry before it",
            BreakKind::Truncated => "is the last left; later entries were removed",
            BreakKind::WrongCase => "belongs to another case",
        };
        write!(f, "entry {} {what}", self.seq)
    }
}
