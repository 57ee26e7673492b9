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
    pub case: CaseView,
    pub customer_token: String,
    pub customer_link: String,
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
    pub user: UserView,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `GET /api/v1/session`.
#[derive(Debug, Serialize)]
pub struct WhoAmI {
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
    pub position: u32,
    pub estimated_wait_secs: Option<u64>,
    pub connected: bool,
}

/// `GET /api/v1/customer`.
#[derive(Debug, Serialize)]
pub struct CustomerStatus {
    pub case_id: String,
    pub state: CaseState,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub language: vidid_cases::Lang,
    pub photo_uploaded: bool,
    pub data_confirmed: bool,
    pub retries_left: u32,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub hours: HoursView,
    pub queue: Option<PlaceView>,
    pub message: Option<&'static str>,
    pub redirect_url: Option<String>,
}

/// `POST /api/v1/customer/photo`.
#[derive(Debug, Serialize)]
pub struct PhotoView {
    pub state: CaseState,
    pub photo: Option<DocumentPhoto>,
}

/// A case's state alone.
#[derive(Debug, Serialize)]
pub struct StateView {
    pub state: CaseState,
}

/// `POST /api/v1/customer/confirm`.
#[derive(Debug, Serialize)]
pub struct ConfirmView {
    pub state: CaseState,
    pub matches: bool,
    pub differences: Vec<String>,
    pub check: vidid_cases::DataCheck,
}

/// `POST /api/v1/customer/queue`.
#[derive(Debug, Serialize)]
pub struct JoinedQueue {
    pub position: u32,
    pub estimated_wait_secs: Option<u64>,
    pub rejoin_token: String,
}

/// A place in the queue as staff see it (no identity data).
#[derive(Debug, Serialize)]
pub struct QueueRow {
    #[serde(flatten)]
    pub place: QueuePlace,
    pub waiting_secs: i64,
}

/// `GET /api/v1/queue`.
#[derive(Debug, Serialize)]
pub struct QueueView {
    pub at: String,
    pub queue: Vec<QueueRow>,
    pub agents: Vec<AgentState>,
}

/// The call part of `POST /api/v1/agent/take`.
#[derive(Debug, Serialize)]
pub struct CallLink {
    pub link: String,
    pub call_id: String,
    pub token: String,
    pub media_url: Option<String>,
}

/// `POST /api/v1/agent/take`.
#[derive(Debug, Serialize)]
pub struct TakeView {
    pub case: CaseView,
    pub call: CallLink,
    pub questions: Vec<vidid_cases::Question>,
}

/// `POST /api/v1/cases/{id}/tan`.
#[derive(Debug, Serialize)]
pub struct TanSent {
    pub sent_to: String,
}

/// A case's audit trail and whether it verifies.
#[derive(Debug, Serialize)]
pub struct TrailView {
    pub verified: bool,
    pub broken: Option<String>,
    pub head: ChainHead,
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
    pub case_id: String,
    #[serde(flatten)]
    pub trail: TrailView,
}

/// `POST /api/v1/cases/{id}/access`.
#[derive(Debug, Serialize)]
pub struct AccessGranted {
    pub grant: String,
    pub action: &'static str,
    pub expires_at: String,
}

/// A row of `GET /api/v1/cases` (compliance search).
#[derive(Debug, Serialize)]
pub struct SearchRow {
    pub id: String,
    pub state: CaseState,
    pub customer_name: String,
    pub contract_ref: String,
    pub created_at: String,
    pub decided_at: Option<String>,
    pub attempts: u32,
    pub agent_id: Option<String>,
    pub agent: Option<String>,
}

/// `GET /api/v1/cases`.
#[derive(Debug, Serialize)]
pub struct SearchView {
    pub cases: Vec<SearchRow>,
    pub truncated: bool,
}

/// One evidence object of a case.
#[derive(Debug, Serialize)]
pub struct EvidenceItem {
    pub object_id: String,
    pub kind: String,
    pub content_type: String,
    pub bytes: u64,
    pub sha256: String,
    pub taken_at: String,
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
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
    pub recording_id: String,
    pub attempt: usize,
    pub duration_ms: Option<u64>,
    pub verification: Verification,
}

/// What the vault's verification of a recording found.
#[derive(Debug, Serialize)]
pub struct Verification {
    pub status: vidid_control::recordings::RecordingStatus,
    pub problems: Vec<String>,
}

/// `GET /api/v1/cases/{id}/dossier`.
#[derive(Debug, Serialize)]
pub struct DossierView {
    pub case: CaseView,
    pub agent: Option<String>,
    pub audit: TrailView,
    pub evidence: Vec<EvidenceItem>,
    pub recordings: Vec<RecordingRow>,
}
