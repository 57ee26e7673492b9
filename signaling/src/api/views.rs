//! What the API answers, as typed views (`docs/api.md` names every field). A view is built
//! from the domain's types and says which principal may see which part.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vidid_cases::flow::CheckRecord;
use vidid_cases::{
    AbortReason, AgentState, AuditEntry, Case, CaseState, ChainHead, Customer, DocumentPhoto,
    QueuePlace, User, WorkingHours,
};

/// RFC 3339, the API's time format.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The customer's link path for a token.
pub fn customer_link(token: &str) -> String {
    format!("/customer?case={token}")
}

/// A case as the ordering system sees it, and — with [`CaseView::for_staff`] — the agent of
/// the case and compliance (the customer's data and the checklist).
#[derive(Debug, Serialize)]
pub struct CaseView {
    id: String,
    state: CaseState,
    contract_ref: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    photo_uploaded: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    data_confirmed_at: Option<OffsetDateTime>,
    attempts: u32,
    max_attempts: u32,
    retries_left: u32,
    #[serde(rename = "final")]
    is_final: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    decided_at: Option<OffsetDateTime>,
    reason: Option<String>,
    last_abort: Option<AbortReason>,
    esign_url: Option<String>,
    callback_url: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    staff: Option<StaffFields>,
}

/// The part of a case only staff with a reason to see it get.
#[derive(Debug, Serialize)]
struct StaffFields {
    customer: Customer,
    agent_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    call_started_at: Option<OffsetDateTime>,
    checklist: Vec<CheckRecord>,
    tan_verified: bool,
}

impl CaseView {
    /// Without the customer's data.
    pub fn summary(c: &Case) -> Self {
        CaseView {
            id: c.id.clone(),
            state: c.state,
            contract_ref: c.contract_ref.clone(),
            created_at: c.created_at,
            expires_at: c.expires_at,
            photo_uploaded: c.photo.is_some(),
            data_confirmed_at: c.data_confirmed_at,
            attempts: c.attempts,
            max_attempts: c.max_attempts,
            retries_left: c.retries_left(),
            is_final: c.is_final(),
            decided_at: c.decided_at,
            reason: c.reason.clone(),
            last_abort: c.last_abort,
            esign_url: c.esign_url.clone(),
            callback_url: c.callback_url.clone(),
            staff: None,
        }
    }

    /// With the customer's data and the checklist.
    pub fn for_staff(c: &Case) -> Self {
        let mut v = CaseView::summary(c);
        v.staff = Some(StaffFields {
            customer: c.customer.clone(),
            agent_id: c.agent_id.clone(),
            call_started_at: c.call_started_at,
            checklist: c.checklist.clone(),
            tan_verified: c.tan.as_ref().is_some_and(|t| t.is_verified()),
        });
        v
    }
}

/// `201`/`200` of `POST /api/v1/cases`.
#[derive(Debug, Serialize)]
pub struct CreatedCase {
    /// The case, without the customer's data.
    pub case: CaseView,
    /// The customer's link token (for `X-Case-Token`); a replay gets a fresh valid one.
    pub customer_token: String,
    /// The customer's link, `/customer?case=<token>`.
    pub customer_link: String,
    /// Whether this answers a repeated `Idempotency-Key` with the same body (`200`, the same
    /// case) rather than creating one (`201`).
    pub replayed: bool,
}

/// A staff user.
#[derive(Debug, Serialize)]
pub struct UserView {
    id: String,
    username: String,
    role: vidid_cases::Role,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            role: u.role,
        }
    }
}

/// `POST /api/v1/session`.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// The signed-in user.
    pub user: UserView,
    /// When the session (and its cookie) ends.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `GET /api/v1/session`.
#[derive(Debug, Serialize)]
pub struct WhoAmI {
    /// The user of the session cookie.
    pub user: UserView,
}

/// Working hours now, in local time.
#[derive(Debug, Serialize)]
pub struct HoursView {
    open_now: bool,
    closes_at: Option<String>,
    next_opening: String,
}

impl HoursView {
    /// The working hours as they stand at `now`.
    pub fn at(hours: &WorkingHours, now: OffsetDateTime) -> Self {
        HoursView {
            open_now: hours.is_open(now),
            closes_at: hours.closes_at(now).map(|t| rfc3339(hours.to_local(t))),
            next_opening: rfc3339(hours.to_local(hours.next_opening(now))),
        }
    }
}

/// The customer's own place in the queue.
#[derive(Debug, Serialize)]
pub struct PlaceView {
    /// The place in the queue; 1 is next.
    pub position: u32,
    /// The estimated wait in seconds; `None` while no agent is on duty.
    pub estimated_wait_secs: Option<u64>,
    /// Whether the customer's queue socket is connected (agents skip disconnected customers).
    pub connected: bool,
}

/// `GET /api/v1/customer`.
#[derive(Debug, Serialize)]
pub struct CustomerStatus {
    /// The customer's case.
    pub case_id: String,
    /// Where the case is.
    pub state: CaseState,
    /// When the customer's link stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The customer's language (`sl`, `en`).
    pub language: vidid_cases::Lang,
    /// Whether the ID photo has been uploaded.
    pub photo_uploaded: bool,
    /// Whether the customer has confirmed their data.
    pub data_confirmed: bool,
    /// Attempts the customer has left.
    pub retries_left: u32,
    /// Whether nothing more will happen to the case (`final` on the wire).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The working hours now.
    pub hours: HoursView,
    /// The customer's place in the queue; `None` when not queued.
    pub queue: Option<PlaceView>,
    /// Aborted: why, in the customer's language; else `None`.
    pub message: Option<&'static str>,
    /// Approved: where the customer goes next (e-signing); else `None`.
    pub redirect_url: Option<String>,
}

/// `POST /api/v1/customer/photo`.
#[derive(Debug, Serialize)]
pub struct PhotoView {
    /// Where the case is after the upload.
    pub state: CaseState,
    /// The stored photo: object id, content type, size, SHA-256, upload time.
    pub photo: Option<DocumentPhoto>,
}

/// A case's state alone.
#[derive(Debug, Serialize)]
pub struct StateView {
    /// Where the case is.
    pub state: CaseState,
}

/// `POST /api/v1/customer/confirm`.
#[derive(Debug, Serialize)]
pub struct ConfirmView {
    /// Where the case is; `prepared` when the data matches and the photo is there.
    pub state: CaseState,
    /// Whether the confirmed data matches the case (a mismatch is an answer, not an error).
    pub matches: bool,
    /// What differs, explained in the customer's language; empty when it matches.
    pub differences: Vec<String>,
    /// The comparison, field by field.
    pub check: vidid_cases::DataCheck,
}

/// `POST /api/v1/customer/queue`.
#[derive(Debug, Serialize)]
pub struct JoinedQueue {
    /// The place in the queue; 1 is next.
    pub position: u32,
    /// The estimated wait in seconds; `None` while no agent is on duty.
    pub estimated_wait_secs: Option<u64>,
    /// The token a reconnecting queue socket must send (`rejoin_token` on `/ws/queue`).
    pub rejoin_token: String,
}

/// A place in the queue as staff see it (no identity data).
#[derive(Debug, Serialize)]
pub struct QueueRow {
    /// The place (case id, position, when it joined, connected, estimated wait), flattened.
    #[serde(flatten)]
    pub place: QueuePlace,
    /// Seconds since the customer joined the queue, by the server's clock (never negative).
    pub waiting_secs: i64,
}

/// `GET /api/v1/queue`.
#[derive(Debug, Serialize)]
pub struct QueueView {
    /// The server's time the answer was made at (RFC 3339); `waiting_secs` count to it.
    pub at: String,
    /// The waiting customers' places.
    pub queue: Vec<QueueRow>,
    /// The agents, their availability and the case of their current call.
    pub agents: Vec<AgentState>,
}

/// The call part of `POST /api/v1/agent/take`.
#[derive(Debug, Serialize)]
pub struct CallLink {
    /// The agent's join page, `<media_url>/agent?token=<token>` (relative in the one-machine
    /// mode).
    pub link: String,
    /// The call room: `<case id>-<attempt>`.
    pub call_id: String,
    /// The agent's join token for `/ws`.
    pub token: String,
    /// The media node the call was placed on (join on `<media_url>/ws`); `None` in the
    /// one-machine mode.
    pub media_url: Option<String>,
}

/// `POST /api/v1/agent/take`.
#[derive(Debug, Serialize)]
pub struct TakeView {
    /// The taken case, with the customer's data.
    pub case: CaseView,
    /// Where and how the agent joins the call.
    pub call: CallLink,
    /// The prepared questions the agent goes through.
    pub questions: Vec<vidid_cases::Question>,
}

/// `POST /api/v1/cases/{id}/tan`.
#[derive(Debug, Serialize)]
pub struct TanSent {
    /// The customer's phone number the TAN went to, masked.
    pub sent_to: String,
}

/// A case's audit trail and whether it verifies.
#[derive(Debug, Serialize)]
pub struct TrailView {
    /// Whether every entry's hash and the chain check out.
    pub verified: bool,
    /// Where and how the chain breaks; `None` when it verifies.
    pub broken: Option<String>,
    /// The number of entries and the last hash kept with the case.
    pub head: ChainHead,
    /// The trail's entries, oldest first.
    pub entries: Vec<AuditEntry>,
}

impl From<vidid_cases::AuditTrail> for TrailView {
    fn from(t: vidid_cases::AuditTrail) -> Self {
        TrailView {
            verified: t.broken.is_none(),
            broken: t.broken.map(|b| b.to_string()),
            head: t.head,
            entries: t.entries,
        }
    }
}

/// `GET /api/v1/cases/{id}/audit`.
#[derive(Debug, Serialize)]
pub struct AuditView {
    /// The case the trail belongs to.
    pub case_id: String,
    /// The trail and whether it verifies, flattened.
    #[serde(flatten)]
    pub trail: TrailView,
}

/// `POST /api/v1/cases/{id}/access`.
#[derive(Debug, Serialize)]
pub struct AccessGranted {
    /// The grant token, for `?grant=` on the dossier, evidence and audio endpoints.
    pub grant: String,
    /// What the grant allows: `view`, `play` or `download`.
    pub action: &'static str,
    /// When the grant stops working (RFC 3339; 15 minutes after issue).
    pub expires_at: String,
}

/// A row of `GET /api/v1/cases` (compliance search).
#[derive(Debug, Serialize)]
pub struct SearchRow {
    /// The case id.
    pub id: String,
    /// Where the case is.
    pub state: CaseState,
    /// The customer's name.
    pub customer_name: String,
    /// The ordering system's contract reference.
    pub contract_ref: String,
    /// When the case was created (RFC 3339).
    pub created_at: String,
    /// When the case ended for good (RFC 3339); `None` while it is not final.
    pub decided_at: Option<String>,
    /// Identification attempts made so far.
    pub attempts: u32,
    /// The id of the agent of the case, if any.
    pub agent_id: Option<String>,
    /// That agent's username; `None` without an agent or when the name could not be read.
    pub agent: Option<String>,
}

/// `GET /api/v1/cases`.
#[derive(Debug, Serialize)]
pub struct SearchView {
    /// The matching cases, at most `limit` of them.
    pub cases: Vec<SearchRow>,
    /// Whether more cases matched than were returned.
    pub truncated: bool,
}

/// One evidence object of a case.
#[derive(Debug, Serialize)]
pub struct EvidenceItem {
    /// The object's id, for `GET /api/v1/cases/{id}/evidence/{object_id}`.
    pub object_id: String,
    /// What it is: `id_photo`, `face`, `document_front`, `document_back` or `audit_trail`.
    pub kind: String,
    /// The object's media type (`image/jpeg`, `image/png`, `application/x-ndjson`).
    pub content_type: String,
    /// The object's size in bytes.
    pub bytes: u64,
    /// The plaintext's SHA-256, in hex.
    pub sha256: String,
    /// When it was uploaded, taken or sealed (RFC 3339).
    pub taken_at: String,
    /// The attempt a snapshot was taken in; `None` for the ID photo and sealed trails.
    pub attempt: Option<u32>,
    /// Who produced it: `customer`, `system` or the agent's id; absent in the agent's own
    /// answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_by: Option<String>,
    /// A sealed trail's entry count; absent for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// A sealed trail's head hash (for `vidid audit verify --head`); absent for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
}

impl EvidenceItem {
    /// Every evidence object of a case: the ID photo, the sealed trails, the snapshots.
    pub fn all_of(c: &Case) -> Vec<EvidenceItem> {
        let mut out = Vec::new();
        if let Some(p) = &c.photo {
            out.push(EvidenceItem {
                object_id: p.object_id.clone(),
                kind: "id_photo".into(),
                content_type: p.content_type.clone(),
                bytes: p.bytes,
                sha256: p.sha256.clone(),
                taken_at: rfc3339(p.uploaded_at),
                attempt: None,
                taken_by: Some("customer".into()),
                entries: None,
                head_hash: None,
            });
        }
        for t in &c.sealed_trails {
            out.push(EvidenceItem {
                object_id: t.object_id.clone(),
                kind: "audit_trail".into(),
                content_type: "application/x-ndjson".into(),
                bytes: t.bytes,
                sha256: t.sha256.clone(),
                taken_at: rfc3339(t.sealed_at),
                attempt: None,
                taken_by: Some("system".into()),
                entries: Some(t.entries),
                head_hash: Some(t.head_hash.clone()),
            });
        }
        for s in &c.snapshots {
            out.push(EvidenceItem::snapshot(s, true));
        }
        out
    }

    /// A snapshot (`taken_by` for the portal, not in the agent's own answer).
    pub fn snapshot(s: &vidid_cases::Snapshot, with_taker: bool) -> EvidenceItem {
        EvidenceItem {
            object_id: s.object_id.clone(),
            kind: s.kind.as_str().into(),
            content_type: s.content_type.clone(),
            bytes: s.bytes,
            sha256: s.sha256.clone(),
            taken_at: rfc3339(s.taken_at),
            attempt: Some(s.attempt),
            taken_by: with_taker.then(|| s.taken_by.clone()),
            entries: None,
            head_hash: None,
        }
    }
}

/// A recording of a case in the dossier.
#[derive(Debug, Serialize)]
pub struct RecordingRow {
    /// The recording's id (the call id, `<case id>-<attempt>`).
    pub recording_id: String,
    /// The attempt it recorded, from 1.
    pub attempt: usize,
    /// The recorded timeline's length in milliseconds, when known.
    pub duration_ms: Option<u64>,
    /// What `vidid recording verify` finds.
    pub verification: Verification,
}

/// What the vault's verification of a recording found.
#[derive(Debug, Serialize)]
pub struct Verification {
    /// `verified`, `incomplete`, `failed` or `missing`.
    pub status: vidid_control::recordings::RecordingStatus,
    /// What failed or is odd, in words.
    pub problems: Vec<String>,
}

/// `GET /api/v1/cases/{id}/dossier`.
#[derive(Debug, Serialize)]
pub struct DossierView {
    /// The case, staff view.
    pub case: CaseView,
    /// The username of the case's agent; `None` without one or when it could not be read.
    pub agent: Option<String>,
    /// The audit trail and whether it verifies.
    pub audit: TrailView,
    /// Every evidence object: the ID photo, the sealed trails, the snapshots.
    pub evidence: Vec<EvidenceItem>,
    /// One row per attempt's recording.
    pub recordings: Vec<RecordingRow>,
}
