//! [`Cases`]: the one entry point for everything that reads or changes cases.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use tracing::{info, warn};

use crate::CasesError;
use crate::audit::{AuditEntry, AuditEvent, export_jsonl, verify_chain};
use crate::case::{Case, DocumentPhoto, NewCase};
use crate::clock::{Clock, SystemClock};
use crate::flow::{self, Effects, FlowConfig};
use crate::hours::{HoursConfig, WorkingHours};
use crate::matching::{ConfirmedData, DataCheck};
use crate::queue::{
    AgentState, AgentStatus, QueueConfig, QueueEntry, QueuePlace, QueueTicket, average_handling,
    estimate_wait,
};
use crate::store::{self, Created, Store, StoreConfig};
use crate::tan::{OutboxSms, Sms, SmsGateway, TanConfig, TanOutcome, tan_text};
use crate::users::{self, Actor, Login, User};
use crate::validity::link_expires_at;
use crate::vocabulary::{
    AbortReason, CaseState, ChainBreak, ChainHead, CheckAnswer, EvidenceAccess, Permission, Role,
};

/// The `sessions` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// How long a staff login lasts.
    pub ttl_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ttl_secs: 12 * 3600,
        }
    }
}

/// Everything this crate reads from the configuration, section by section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CasesConfig {
    pub store: StoreConfig,
    pub hours: HoursConfig,
    pub identification: FlowConfig,
    pub queue: QueueConfig,
    pub tan: TanConfig,
    pub sessions: SessionConfig,
}

impl CasesConfig {
    /// Checks every section; the error names the key.
    pub fn validate(&self) -> Result<(), CasesError> {
        if let Some(url) = &self.store.url {
            store::Backend::of_url(url)?;
        }
        if self.store.max_connections == Some(0) {
            return Err(CasesError::Config {
                key: "store.max_connections",
                reason: "must be at least 1".into(),
            });
        }
        WorkingHours::from_config(&self.hours)?;
        self.identification.validate()?;
        self.queue.validate()?;
        self.tan.validate()?;
        if !(60..=7 * 86_400).contains(&self.sessions.ttl_secs) {
            return Err(CasesError::Config {
                key: "sessions.ttl_secs",
                reason: "must be between 60 and 604800".into(),
            });
        }
        Ok(())
    }
}

/// A created case and its customer link token (which exists only here).
#[derive(Debug, Clone)]
pub struct NewLink {
    pub case: Case,
    /// Put into the customer's URL; stored only as a hash.
    pub token: String,
    /// This was an idempotent replay: `case` is the one the first request created, and
    /// `token` is an additional valid token for it.
    pub replayed: bool,
}

/// A case's audit trail, read and verified.
#[derive(Debug, Clone, Serialize)]
pub struct AuditTrail {
    pub case_id: String,
    pub entries: Vec<AuditEntry>,
    pub head: ChainHead,
    /// `None` when the chain verifies.
    pub broken: Option<ChainBreak>,
}

/// A compliance search ([`Cases::search_cases`]).
#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    /// A case id (`cs_…`), or a fragment of the customer's name or the contract reference.
    pub text: Option<String>,
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub to: Option<OffsetDateTime>,
    /// Any of these states (all when empty).
    pub states: Vec<CaseState>,
    pub limit: u32,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Cases whose link expired.
    pub expired: Vec<String>,
    /// Cases dropped from the queue (disconnected past the grace period, or waiting too long).
    pub dropped: Vec<String>,
}

const PHOTO_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "image/heic"];

fn check_token_shape(token: &str) -> Result<(), CasesError> {
    if token.is_empty() || token.len() > 128 {
        return Err(CasesError::NotFound("case"));
    }
    Ok(())
}

fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| users::hash_password("vidid-no-such-user").unwrap_or_default())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CasesError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CasesError::Corrupt(format!("blocking task: {e}")))
}

/// The identification service: rules, time, store and SMS in one place.
///
/// Each method checks the actor's role (and permission), the case's state and its own rules,
/// then applies the change and its audit entries in one store transaction. Time comes from the
/// [`Clock`]. Cheap to share: wrap it in an `Arc`.
pub struct Cases {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sms: Arc<dyn SmsGateway>,
    hours: WorkingHours,
    cfg: CasesConfig,
}

impl Cases {
    /// A service over explicit parts (tests inject a [`crate::TestClock`] here).
    pub fn new(
        cfg: CasesConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sms: Arc<dyn SmsGateway>,
    ) -> Result<Cases, CasesError> {
        cfg.validate()?;
        Ok(Cases {
            hours: WorkingHours::from_config(&cfg.hours)?,
            store,
            clock,
            sms,
            cfg,
        })
    }

    /// The production wiring: the configured store (SQLite in `data_dir` by default, migrated),
    /// the system clock, and the outbox SMS gateway in `data_dir`.
    pub async fn open(cfg: CasesConfig, data_dir: &Path) -> Result<Cases, CasesError> {
        Cases::open_with_clock(cfg, data_dir, Arc::new(SystemClock)).await
    }

    /// [`Cases::open`] with another clock (`vidid serve` passes a
    /// [`crate::clock::ShiftedClock`] when end-to-end tests ask for one).
    pub async fn open_with_clock(
        cfg: CasesConfig,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Cases, CasesError> {
        cfg.validate()?;
        let store = store::open(&cfg.store, data_dir).await?;
        Cases::new(cfg, store, clock, Arc::new(OutboxSms::new(data_dir)))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn hours(&self) -> &WorkingHours {
        &self.hours
    }

    pub fn config(&self) -> &CasesConfig {
        &self.cfg
    }

    /// Now, from the service's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    async fn update(
        &self,
        case_id: &str,
        actor: &Actor,
        mut f: impl FnMut(&mut Case, Option<&QueueEntry>, OffsetDateTime) -> Result<Effects, CasesError>
        + Send,
    ) -> Result<Case, CasesError> {
        let now = self.now();
        self.store
            .update_case(case_id, actor, now, &mut |c, e| f(c, e, now))
            .await
    }

    // ─── ordering system ───────────────────────────────────────────────────────────────────

    /// Creates a case (ordering system only). With `idempotency_key`, a repeat of the same
    /// request returns the first case with a fresh valid token, and a different request with
    /// the same key is refused.
    pub async fn create_case(
        &self,
        actor: &Actor,
        req: &NewCase,
        idempotency_key: Option<&str>,
    ) -> Result<NewLink, CasesError> {
        if actor.role() != Role::OrderingSystem {
            return Err(CasesError::Forbidden {
                role: actor.role(),
                action: "create a case",
            });
        }
        if let Some(k) = idempotency_key
            && (k.is_empty() || k.len() > 255 || k.chars().any(char::is_control))
        {
            return Err(CasesError::invalid(
                "idempotency_key",
                "1 to 255 printable characters",
            ));
        }
        let now = self.now();
        let req = req.validate(self.hours.local_date(now))?;
        let valid_for = Duration::hours(i64::from(self.cfg.identification.link_valid_hours));
        let token = users::random_token();
        let case = Case {
            id: users::new_id("cs_"),
            state: CaseState::Created,
            version: 0,
            customer: crate::case::Customer {
                name: req.name.clone(),
                date_of_birth: req.date_of_birth,
                document: req.document.clone(),
                phone: req.phone.clone(),
                email: req.email.clone(),
                language: req.language,
            },
            contract_ref: req.contract_ref.clone(),
            callback_url: req.callback_url.clone(),
            esign_url: req.esign_url.clone(),
            created_at: now,
            expires_at: link_expires_at(&self.hours, now, valid_for),
            photo: None,
            snapshots: Vec::new(),
            sealed_trails: Vec::new(),
            rejoin_hash: None,
            data_confirmed_at: None,
            attempts: 0,
            max_attempts: self.cfg.identification.max_attempts,
            agent_id: None,
            call_started_at: None,
            checklist: Vec::new(),
            tan: None,
            decided_at: None,
            reason: None,
            last_abort: None,
            audit: ChainHead::default(),
        };
        let fingerprint = req.fingerprint();
        let idem = idempotency_key.map(|k| (k, fingerprint.as_str()));
        let created = self
            .store
            .create_case(&case, &users::token_hash(&token), idem, actor, now)
            .await?;
        let (case, replayed) = match created {
            Created::New(c) => (c, false),
            Created::Replayed(c) => (c, true),
        };
        info!(case_id = %case.id, replayed, "case created");
        Ok(NewLink {
            case,
            token,
            replayed,
        })
    }

    /// Cancels a case (ordering system only; not during a call).
    pub async fn cancel(
        &self,
        actor: &Actor,
        case_id: &str,
        reason: &str,
    ) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, _, now| {
            flow::cancel(c, actor, reason, now)
        })
        .await
    }

    /// Reads a case: the ordering system, staff with `read_cases`, the system, or the case's
    /// own customer.
    pub async fn case(&self, actor: &Actor, case_id: &str) -> Result<Case, CasesError> {
        match actor.role() {
            Role::OrderingSystem | Role::System => {}
            Role::Customer if actor.id() == case_id => {}
            Role::Customer => return Err(CasesError::NotFound("case")),
            _ => actor.require(Permission::ReadCases)?,
        }
        self.store
            .case(case_id)
            .await?
            .ok_or(CasesError::NotFound("case"))
    }

    /// Cases by contract reference, newest first (ordering system or `read_cases`).
    pub async fn find_cases(
        &self,
        actor: &Actor,
        contract_ref: &str,
    ) -> Result<Vec<Case>, CasesError> {
        if actor.role() != Role::OrderingSystem {
            actor.require(Permission::ReadCases)?;
        }
        self.store.cases_by_contract_ref(contract_ref).await
    }

    // ─── customer ──────────────────────────────────────────────────────────────────────────

    /// Resolves a customer link token. Refuses with [`CasesError::LinkExpired`] once the link
    /// has expired, unless the customer is already queued or in a call (those finish).
    pub async fn customer(&self, token: &str) -> Result<(Actor, Case), CasesError> {
        check_token_shape(token)?;
        let case = self
            .store
            .case_by_token(&users::token_hash(token))
            .await?
            .ok_or(CasesError::NotFound("case"))?;
        let waiting = matches!(
            case.state,
            CaseState::Created | CaseState::Prepared | CaseState::Aborted
        );
        if case.state == CaseState::Expired
            || (waiting && !case.is_final() && self.now() >= case.expires_at)
        {
            return Err(CasesError::LinkExpired(case.expires_at));
        }
        Ok((Actor::customer(&case.id), case))
    }

    /// Records the uploaded ID photo (its `uploaded_at` is set here). Size limits and storage
    /// are the caller's; this checks the type and the digest's shape.
    pub async fn upload_photo(
        &self,
        actor: &Actor,
        case_id: &str,
        photo: DocumentPhoto,
    ) -> Result<Case, CasesError> {
        if !PHOTO_TYPES.contains(&photo.content_type.as_str()) {
            return Err(CasesError::invalid(
                "content_type",
                format!("use one of {}", PHOTO_TYPES.join(", ")),
            ));
        }
        if photo.sha256.len() != 64 || !photo.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CasesError::invalid("sha256", "64 hex digits"));
        }
        if photo.object_id.is_empty() || photo.object_id.len() > 200 || photo.bytes == 0 {
            return Err(CasesError::invalid(
                "object_id",
                "1 to 200 characters, and a non-empty file",
            ));
        }
        self.update(case_id, actor, |c, _, now| {
            let p = DocumentPhoto {
                uploaded_at: now,
                ..photo.clone()
            };
            flow::upload_photo(c, actor, p, now)
        })
        .await
    }

    /// Compares the customer's confirmed data with the case; a mismatch is returned (and
    /// recorded), not an error.
    pub async fn confirm_data(
        &self,
        actor: &Actor,
        case_id: &str,
        data: &ConfirmedData,
    ) -> Result<(Case, DataCheck), CasesError> {
        let mut check = None;
        let case = self
            .update(case_id, actor, |c, _, now| {
                let (fx, ch) = flow::confirm_data(c, actor, data, now)?;
                check = Some(ch);
                Ok(fx)
            })
            .await?;
        let check = check.ok_or_else(|| CasesError::Corrupt("data check missing".into()))?;
        Ok((case, check))
    }

    /// Agents available, agents on duty (available or in a call), and the average handling
    /// time: what wait estimates are made of.
    async fn staffing(&self) -> Result<(u32, u32, Duration), CasesError> {
        let agents = self.store.agents().await?;
        let free = agents
            .iter()
            .filter(|a| a.status == AgentStatus::Available)
            .count() as u32;
        let busy = agents
            .iter()
            .filter(|a| a.status == AgentStatus::InCall)
            .count() as u32;
        let recent = self
            .store
            .recent_handling_times(self.cfg.queue.handling_sample)
            .await?;
        let avg = average_handling(
            &recent,
            Duration::seconds(self.cfg.queue.default_handling_secs as i64),
        );
        Ok((free, free + busy, avg))
    }

    async fn wait_estimate(&self, position: u32) -> Result<Option<Duration>, CasesError> {
        let (free, on_duty, avg) = self.staffing().await?;
        Ok(estimate_wait(position, free, on_duty, avg))
    }

    async fn places(&self, entries: &[QueueEntry]) -> Result<Vec<QueuePlace>, CasesError> {
        self.places_at(entries, 1).await
    }

    /// `entries` are consecutive places, the first at position `first`.
    async fn places_at(
        &self,
        entries: &[QueueEntry],
        first: u32,
    ) -> Result<Vec<QueuePlace>, CasesError> {
        let (free, on_duty, avg) = self.staffing().await?;
        Ok(entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let position = i as u32 + first;
                QueuePlace {
                    case_id: e.case_id.clone(),
                    position,
                    joined_at: e.joined_at,
                    connected: e.disconnected_at.is_none(),
                    estimated_wait_secs: estimate_wait(position, free, on_duty, avg)
                        .map(|d| d.whole_seconds().max(0) as u64),
                }
            })
            .collect())
    }

    /// Puts the customer in the queue. Refused, with the rule named, outside working hours
    /// ([`CasesError::QueueClosed`] with the next opening), when the queue is full, when the
    /// estimated wait exceeds the maximum, after the link expired, or with no retries left.
    pub async fn join_queue(
        &self,
        actor: &Actor,
        case_id: &str,
    ) -> Result<QueueTicket, CasesError> {
        let now = self.now();
        let mut probe = self
            .store
            .case(case_id)
            .await?
            .ok_or(CasesError::NotFound("case"))?;
        // Role and state first, so the answer is about this customer before it is about the queue.
        flow::join_queue(&mut probe, actor, String::new(), u32::MAX, now)?;
        if !self.hours.is_open(now) {
            return Err(CasesError::QueueClosed {
                next_opening: self.hours.to_local(self.hours.next_opening(now)),
            });
        }
        let waiting = self.store.queue_len().await?;
        if waiting >= self.cfg.queue.max_length {
            return Err(CasesError::QueueFull {
                max_length: self.cfg.queue.max_length,
            });
        }
        if let Some(est) = self.wait_estimate(waiting + 1).await?
            && est > self.cfg.queue.max_wait()
        {
            return Err(CasesError::WaitTooLong {
                estimated_mins: est.whole_minutes().max(0) as u64,
                max_mins: self.cfg.queue.max_wait_secs / 60,
            });
        }
        let token = users::random_token();
        let hash = users::token_hash(&token);
        let max = self.cfg.queue.max_length;
        self.update(case_id, actor, |c, _, now| {
            flow::join_queue(c, actor, hash.clone(), max, now)
        })
        .await?;
        let place = self
            .queue_place(case_id)
            .await?
            .ok_or(CasesError::NotInQueue)?;
        Ok(QueueTicket {
            place,
            rejoin_token: token,
        })
    }

    /// The customer leaves the queue.
    pub async fn leave_queue(&self, actor: &Actor, case_id: &str) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, _, _| flow::leave_queue(c, actor))
            .await
    }

    /// A queued customer's connection dropped (system or the customer's own socket): the place
    /// is kept for the grace period.
    pub async fn disconnected(&self, actor: &Actor, case_id: &str) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, e, now| {
            let already = e.is_none_or(|e| e.disconnected_at.is_some());
            flow::disconnect(c, actor, already, now)
        })
        .await
    }

    /// The customer is back with the rejoin token: the place is theirs again within the grace
    /// period ([`CasesError::RejoinTooLate`] after it).
    pub async fn rejoin(
        &self,
        actor: &Actor,
        case_id: &str,
        rejoin_token: &str,
    ) -> Result<QueuePlace, CasesError> {
        let presented = users::token_hash(rejoin_token);
        let grace = self.cfg.queue.grace();
        self.update(case_id, actor, |c, e, now| {
            let ok = e.is_some_and(|e| {
                crate::tan::constant_time_eq(e.rejoin_hash.as_bytes(), presented.as_bytes())
            });
            flow::rejoin(c, actor, ok, e.and_then(|e| e.disconnected_at), grace, now)
        })
        .await?;
        self.queue_place(case_id)
            .await?
            .ok_or(CasesError::NotInQueue)
    }

    /// The case's place in the queue, if queued.
    pub async fn queue_place(&self, case_id: &str) -> Result<Option<QueuePlace>, CasesError> {
        let Some((entry, position)) = self.store.queue_entry(case_id).await? else {
            return Ok(None);
        };
        Ok(self
            .places_at(std::slice::from_ref(&entry), position)
            .await?
            .pop())
    }

    /// The whole queue with estimates, for pushing each customer their place (no actor: the
    /// caller shows each customer only their own).
    pub async fn queue_snapshot(&self) -> Result<Vec<QueuePlace>, CasesError> {
        let entries = self.store.queue().await?;
        self.places(&entries).await
    }

    /// The whole queue (staff with `view_queue`).
    pub async fn queue(&self, actor: &Actor) -> Result<Vec<QueuePlace>, CasesError> {
        actor.require(Permission::ViewQueue)?;
        self.queue_snapshot().await
    }

    // ─── agent ─────────────────────────────────────────────────────────────────────────────

    /// An agent sets themself available or paused (refused during a call).
    pub async fn set_availability(
        &self,
        actor: &Actor,
        status: AgentStatus,
    ) -> Result<AgentState, CasesError> {
        actor.require(Permission::TakeCalls)?;
        self.store.set_agent_status(actor, status, self.now()).await
    }

    /// Agents and their availability (staff with `view_queue`).
    pub async fn agents(&self, actor: &Actor) -> Result<Vec<AgentState>, CasesError> {
        actor.require(Permission::ViewQueue)?;
        self.store.agents().await
    }

    /// The available agent takes the first connected customer; `None` if nobody waits.
    pub async fn take_next(&self, actor: &Actor) -> Result<Option<Case>, CasesError> {
        actor.require(Permission::TakeCalls)?;
        let now = self.now();
        self.store
            .take_next(actor, now, &mut |c, _| flow::take(c, actor, now))
            .await
    }

    /// The agent begins the checklist.
    pub async fn start_checks(&self, actor: &Actor, case_id: &str) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, _, _| flow::start_checks(c, actor))
            .await
    }

    /// The agent records a checklist answer.
    pub async fn record_check(
        &self,
        actor: &Actor,
        case_id: &str,
        answer: CheckAnswer,
    ) -> Result<Case, CasesError> {
        let questions = &self.cfg.identification.questions;
        self.update(case_id, actor, |c, _, now| {
            flow::record_check(c, actor, answer.clone(), questions, now)
        })
        .await
    }

    /// The agent sends a TAN to the customer's phone.
    pub async fn send_tan(&self, actor: &Actor, case_id: &str) -> Result<Case, CasesError> {
        let mut code = None;
        let tan_cfg = &self.cfg.tan;
        let case = self
            .update(case_id, actor, |c, _, now| {
                let (fx, cd) = flow::send_tan(c, actor, tan_cfg, now)?;
                code = Some(cd);
                Ok(fx)
            })
            .await?;
        let code = code.ok_or_else(|| CasesError::Corrupt("tan missing".into()))?;
        let sms = Sms {
            id: users::new_id("sms_"),
            case_id: case.id.clone(),
            to: case.customer.phone.clone(),
            text: tan_text(&code, tan_cfg.ttl_secs, case.customer.language),
            at: self.now(),
        };
        if let Err(e) = self.sms.send(&sms).await {
            warn!(case_id, error = %e, "sms gateway failed");
            let error = e.to_string();
            self.update(case_id, &Actor::system("sms"), |_, _, _| {
                Ok(Effects {
                    audit: vec![AuditEvent::TanSendFailed {
                        error: error.clone(),
                    }],
                    ..Effects::default()
                })
            })
            .await?;
            return Err(e);
        }
        Ok(case)
    }

    /// The agent enters the code the customer read back.
    pub async fn verify_tan(
        &self,
        actor: &Actor,
        case_id: &str,
        code: &str,
    ) -> Result<TanOutcome, CasesError> {
        let mut outcome = None;
        let tan_cfg = &self.cfg.tan;
        self.update(case_id, actor, |c, _, now| {
            let (fx, o) = flow::verify_tan(c, actor, code, tan_cfg, now)?;
            outcome = Some(o);
            Ok(fx)
        })
        .await?;
        outcome.ok_or_else(|| CasesError::Corrupt("tan outcome missing".into()))
    }

    /// The agent approves (every checklist item recorded and passed).
    pub async fn approve(&self, actor: &Actor, case_id: &str) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, _, now| flow::approve(c, actor, now))
            .await
    }

    /// The agent rejects, with a reason.
    pub async fn reject(
        &self,
        actor: &Actor,
        case_id: &str,
        reason: &str,
    ) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, _, now| {
            flow::reject(c, actor, reason, now)
        })
        .await
    }

    /// Interrupts the attempt: the agent, the system (connection lost, a party left), or the
    /// customer (leaving). Tell the customer [`AbortReason::customer_message`].
    pub async fn abort(
        &self,
        actor: &Actor,
        case_id: &str,
        reason: AbortReason,
        note: &str,
    ) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, _, now| {
            flow::abort(c, actor, reason, note, now)
        })
        .await
    }

    /// The media node of the call failed: the customer goes back to the head of the queue
    /// (see [`flow::requeue_front`]).
    pub async fn requeue_after_node_failure(
        &self,
        case_id: &str,
        note: &str,
    ) -> Result<Case, CasesError> {
        let system = Actor::system("cluster");
        self.update(case_id, &system, |c, _, _| {
            flow::requeue_front(c, &system, note)
        })
        .await
    }

    // ─── compliance ────────────────────────────────────────────────────────────────────────

    /// Reads and verifies the trail (`read_audit`); the reading itself is logged first.
    pub async fn audit_trail(
        &self,
        actor: &Actor,
        case_id: &str,
    ) -> Result<AuditTrail, CasesError> {
        actor.require(Permission::ReadAudit)?;
        let case = self
            .update(case_id, actor, |_, _, _| {
                flow::access_evidence(actor, None, EvidenceAccess::ReadAudit, None)
            })
            .await?;
        let entries = self.store.audit(case_id).await?;
        let broken = verify_chain(&entries, Some(&case.audit)).err();
        Ok(AuditTrail {
            case_id: case_id.to_string(),
            entries,
            head: case.audit,
            broken,
        })
    }

    /// Logs an access to a case's recording before it is granted; refused without the
    /// permission the access needs (an agent cannot open recordings).
    pub async fn access_evidence(
        &self,
        actor: &Actor,
        case_id: &str,
        recording_id: Option<&str>,
        access: EvidenceAccess,
        purpose: Option<&str>,
    ) -> Result<Case, CasesError> {
        actor.require(access.permission())?;
        self.update(case_id, actor, |_, _, _| {
            flow::access_evidence(actor, recording_id, access, purpose)
        })
        .await
    }

    /// The trail as stored, verified against the case's head, without logging a read (for
    /// callers that logged the access themselves, with a stated purpose).
    pub async fn trail_unlogged(&self, case: &Case) -> Result<AuditTrail, CasesError> {
        let entries = self.store.audit(&case.id).await?;
        let broken = verify_chain(&entries, Some(&case.audit)).err();
        Ok(AuditTrail {
            case_id: case.id.clone(),
            entries,
            head: case.audit.clone(),
            broken,
        })
    }

    /// The trail as JSON lines, verified, and its head: what the system seals into the vault
    /// ([`Cases::record_trail_sealed`] logs it). Refused if the chain does not verify.
    pub async fn trail_for_sealing(
        &self,
        case_id: &str,
    ) -> Result<(String, ChainHead), CasesError> {
        let case = self
            .store
            .case(case_id)
            .await?
            .ok_or(CasesError::NotFound("case"))?;
        let entries = self.store.audit(case_id).await?;
        verify_chain(&entries, Some(&case.audit)).map_err(CasesError::AuditChain)?;
        Ok((export_jsonl(&entries), case.audit))
    }

    /// Records a sealed copy of the trail (an entry of its own).
    pub async fn record_trail_sealed(
        &self,
        case_id: &str,
        sealed: crate::case::SealedTrail,
    ) -> Result<Case, CasesError> {
        let system = Actor::system("vault");
        self.update(case_id, &system, |c, _, _| {
            flow::trail_sealed(c, &system, sealed.clone())
        })
        .await
    }

    /// The call's agent opens the customer's ID photo (logged first); returns the case.
    pub async fn view_id_photo(&self, actor: &Actor, case_id: &str) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, _, _| flow::view_id_photo(c, actor))
            .await
    }

    /// Whether `actor` may add a snapshot to the case now (checked before the image is
    /// stored; [`Cases::add_snapshot`] checks again atomically).
    pub async fn can_snapshot(&self, actor: &Actor, case_id: &str) -> Result<(), CasesError> {
        let case = self
            .store
            .case(case_id)
            .await?
            .ok_or(CasesError::NotFound("case"))?;
        flow::may_snapshot(&case, actor)
    }

    /// The agent adds a snapshot of the running call (already stored).
    pub async fn add_snapshot(
        &self,
        actor: &Actor,
        case_id: &str,
        snapshot: crate::case::Snapshot,
    ) -> Result<Case, CasesError> {
        self.update(case_id, actor, |c, _, _| {
            flow::add_snapshot(c, actor, snapshot.clone())
        })
        .await
    }

    /// Cases created in `[from, to)` (newest first, at most `limit`; the flag says whether
    /// more matched), filtered by state and by a case id or a fragment of the customer's name
    /// or the contract reference (case- and diacritic-insensitive). Staff with `read_audit`
    /// (compliance, supervisors, admins).
    pub async fn search_cases(
        &self,
        actor: &Actor,
        query: &CaseQuery,
    ) -> Result<(Vec<Case>, bool), CasesError> {
        const PAGE: u32 = 500;
        actor.require(Permission::ReadAudit)?;
        let limit = query.limit.clamp(1, 500) as usize;
        let text = query.text.as_deref().map(str::trim).unwrap_or("");
        if text.starts_with("cs_") {
            let found = self.store.case(text).await?;
            return Ok((found.into_iter().collect(), false));
        }
        let needle = crate::matching::fold(text);
        // Names live in the case body: filter here, scanning newest first in pages.
        let mut out = Vec::new();
        let mut before = query.to;
        loop {
            let page = self
                .store
                .cases_created_between(query.from, before, &query.states, PAGE)
                .await?;
            let n = page.len();
            let last = page.last().map(|c| c.created_at);
            for c in page {
                let hit = needle.is_empty()
                    || crate::matching::fold(&c.customer.name).contains(&needle)
                    || crate::matching::fold(&c.contract_ref).contains(&needle);
                if hit {
                    if out.len() == limit {
                        return Ok((out, true));
                    }
                    out.push(c);
                }
            }
            match last {
                Some(t) if n == PAGE as usize => before = Some(t),
                _ => return Ok((out, false)),
            }
        }
    }

    /// Cases in any of `states`, newest first, at most 1000 (the supervisors' board shows the
    /// calls in progress).
    pub async fn cases_in_states(
        &self,
        actor: &Actor,
        states: &[CaseState],
    ) -> Result<Vec<Case>, CasesError> {
        actor.require(Permission::ViewQueue)?;
        self.store
            .cases_created_between(None, None, states, 1000)
            .await
    }

    /// The trail as JSON lines for the recording vault (`export_evidence`; logged first, so
    /// the export contains its own access entry). Refused if the chain does not verify.
    pub async fn export_audit(
        &self,
        actor: &Actor,
        case_id: &str,
    ) -> Result<(String, ChainHead), CasesError> {
        actor.require(Permission::ExportEvidence)?;
        let case = self
            .update(case_id, actor, |_, _, _| {
                flow::access_evidence(actor, None, EvidenceAccess::Export, None)
            })
            .await?;
        let entries = self.store.audit(case_id).await?;
        verify_chain(&entries, Some(&case.audit)).map_err(CasesError::AuditChain)?;
        Ok((export_jsonl(&entries), case.audit))
    }

    // ─── maintenance ───────────────────────────────────────────────────────────────────────

    /// Expires cases whose link ran out and drops stale queue places. Call it periodically
    /// (every few seconds); running it in several processes at once is safe.
    pub async fn sweep(&self) -> Result<SweepReport, CasesError> {
        let mut report = SweepReport::default();
        let system = Actor::system("sweeper");
        let now = self.now();
        for id in self.store.expired_cases(now, 500).await? {
            match self
                .update(&id, &system, |c, _, now| flow::expire(c, &system, now))
                .await
            {
                Ok(_) => report.expired.push(id),
                // Changed meanwhile (joined the queue, cancelled): nothing to do.
                Err(CasesError::InvalidState { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let grace = self.cfg.queue.grace();
        let max_wait = self.cfg.queue.max_wait();
        let due = |e: &QueueEntry, now: OffsetDateTime| -> Option<&'static str> {
            if e.disconnected_at.is_some_and(|d| now >= d + grace) {
                Some("disconnected")
            } else if now >= e.joined_at + max_wait {
                Some("max_wait")
            } else {
                None
            }
        };
        for entry in self.store.queue().await? {
            if due(&entry, now).is_none() {
                continue;
            }
            let r = self
                .update(&entry.case_id, &system, |c, e, now| {
                    match e.and_then(|e| due(e, now)) {
                        Some(reason) => flow::drop_from_queue(c, &system, reason),
                        // Reconnected or taken meanwhile.
                        None => Ok(Effects {
                            unchanged: true,
                            ..Effects::default()
                        }),
                    }
                })
                .await;
            match r {
                Ok(c) if c.state == CaseState::Prepared => report.dropped.push(entry.case_id),
                Ok(_) | Err(CasesError::InvalidState { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    // ─── users ─────────────────────────────────────────────────────────────────────────────

    /// Adds a local staff user (for `vidid user add`; an HTTP admin endpoint must check
    /// [`Permission::ManageUsers`] first).
    pub async fn add_user(
        &self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<User, CasesError> {
        users::validate_username(username)?;
        if !role.is_staff() {
            return Err(CasesError::invalid(
                "role",
                "use agent, supervisor, compliance or admin",
            ));
        }
        let pw = password.to_string();
        let hash = blocking(move || users::hash_password(&pw)).await??;
        let user = User {
            id: users::new_id("us_"),
            username: username.to_string(),
            role,
            disabled: false,
            created_at: self.now(),
            password_hash: hash,
        };
        self.store.insert_user(&user).await?;
        info!(user = username, role = %role, "user added");
        Ok(user)
    }

    /// Sets a new password and ends the user's sessions.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), CasesError> {
        let mut user = self
            .store
            .user_by_name(username)
            .await?
            .ok_or(CasesError::NotFound("user"))?;
        let pw = password.to_string();
        user.password_hash = blocking(move || users::hash_password(&pw)).await??;
        self.store.update_user(&user).await?;
        self.store.delete_sessions_of(&user.id, self.now()).await
    }

    /// Disables or re-enables a user; disabling ends their sessions.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), CasesError> {
        let mut user = self
            .store
            .user_by_name(username)
            .await?
            .ok_or(CasesError::NotFound("user"))?;
        user.disabled = disabled;
        self.store.update_user(&user).await?;
        self.store.delete_sessions_of(&user.id, self.now()).await
    }

    /// Checks the password and opens a session. Unknown users, wrong passwords and disabled
    /// users get the same error after the same work.
    pub async fn login(&self, username: &str, password: &str) -> Result<Login, CasesError> {
        let user = self.store.user_by_name(username).await?;
        let phc = user
            .as_ref()
            .map_or_else(|| dummy_hash().to_string(), |u| u.password_hash.clone());
        let pw = password.to_string();
        let ok = blocking(move || users::verify_password(&pw, &phc)).await?;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            _ => return Err(CasesError::BadCredentials),
        };
        let now = self.now();
        let token = users::random_token();
        let expires_at = now + Duration::seconds(self.cfg.sessions.ttl_secs as i64);
        self.store
            .insert_session(&users::token_hash(&token), &user.id, now, expires_at)
            .await?;
        Ok(Login {
            token,
            user,
            expires_at,
        })
    }

    /// The user of a session token; act as them with [`Actor::staff`].
    pub async fn authenticate(&self, token: &str) -> Result<User, CasesError> {
        if token.is_empty() || token.len() > 128 {
            return Err(CasesError::SessionInvalid);
        }
        self.store
            .session_user(&users::token_hash(token), self.now())
            .await?
            .ok_or(CasesError::SessionInvalid)
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<(), CasesError> {
        self.store.delete_session(&users::token_hash(token)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_validate_and_unknown_keys_are_refused() {
        assert!(CasesConfig::default().validate().is_ok());
        let e = serde_json::from_str::<CasesConfig>(r#"{"queue":{"max_lenght":3}}"#).unwrap_err();
        assert!(e.to_string().contains("max_lenght"), "{e}");
        let cfg: CasesConfig =
            serde_json::from_str(r#"{"hours":{"open":"09:00"},"tan":{"ttl_secs":120}}"#).unwrap();
        assert_eq!(cfg.hours.close, "18:00", "unset keys keep their defaults");
        let mut bad = cfg.clone();
        bad.store.url = Some("mysql://x".into());
        assert!(matches!(
            bad.validate(),
            Err(CasesError::Config {
                key: "store.url",
                ..
            })
        ));
        let mut bad = cfg;
        bad.sessions.ttl_secs = 1;
        assert!(matches!(
            bad.validate(),
            Err(CasesError::Config {
                key: "sessions.ttl_secs",
                ..
            })
        ));
    }
}
