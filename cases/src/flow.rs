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

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::CasesError;
use crate::audit::AuditEvent;
use crate::case::{Case, DocumentPhoto, Snapshot};
use crate::matching::{ConfirmedData, DataCheck, Lang, check_data};
use crate::tan::{TanConfig, TanOutcome, TanState, generate_code, mask_phone};
use crate::users::Actor;
pub use crate::vocabulary::{
    ALL_STATES, AbortReason, CHECKLIST, CaseState, CheckAnswer, CheckItem, CheckRecord,
    EvidenceAccess, IntentAnswer,
};
use crate::vocabulary::{Permission, Role};

/// A prepared question the agent asks, in Slovenian and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Stable id, recorded with the answer.
    pub id: String,
    pub sl: String,
    pub en: String,
}

impl Question {
    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::Sl => &self.sl,
            Lang::En => &self.en,
        }
    }
}

/// The default prepared questions.
pub fn default_questions() -> Vec<Question> {
    let q = |id: &str, sl: &str, en: &str| Question {
        id: id.into(),
        sl: sl.into(),
        en: en.into(),
    };
    vec![
        q(
            "wants_contract",
            "Ali želite skleniti to pogodbo za mobilne storitve?",
            "Do you want to conclude this mobile services contract?",
        ),
        q(
            "own_decision",
            "Vas je kdo prosil ali vam naročil, da opravite to identifikacijo?",
            "Has anyone asked or told you to do this identification?",
        ),
        q(
            "certificate_understood",
            "Ali razumete, da bo na podlagi te identifikacije na vaše ime izdano kvalificirano potrdilo za elektronski podpis?",
            "Do you understand that a qualified certificate for electronic signing will be issued in your name on the strength of this identification?",
        ),
    ]
}

impl AbortReason {
    /// What the customer is told. Suspicions are not named to the customer: they get the
    /// neutral message, so that an influencing third party learns nothing.
    pub fn customer_message(self, lang: Lang) -> &'static str {
        use AbortReason::*;
        match (self, lang) {
            (BadLight, Lang::Sl) => {
                "Identifikacijo smo prekinili, ker je bilo premalo svetlobe. Poiščite dobro osvetljen prostor in se ponovno uvrstite v vrsto."
            }
            (BadLight, Lang::En) => {
                "We stopped the identification because there was not enough light. Find a well-lit room and join the queue again."
            }
            (BadImage, Lang::Sl) => {
                "Identifikacijo smo prekinili, ker slika ni bila dovolj jasna. Preverite kamero in povezavo ter se ponovno uvrstite v vrsto."
            }
            (BadImage, Lang::En) => {
                "We stopped the identification because the picture was not clear enough. Check your camera and connection and join the queue again."
            }
            (BadSound, Lang::Sl) => {
                "Identifikacijo smo prekinili, ker se vas ni dobro slišalo. Poiščite tih prostor in se ponovno uvrstite v vrsto."
            }
            (BadSound, Lang::En) => {
                "We stopped the identification because we could not hear you well. Find a quiet room and join the queue again."
            }
            (ConnectionLost, Lang::Sl) => {
                "Povezava se je prekinila, zato identifikacije ni bilo mogoče dokončati. Ponovno se uvrstite v vrsto."
            }
            (ConnectionLost, Lang::En) => {
                "The connection was lost, so the identification could not be finished. Please join the queue again."
            }
            (CustomerLeft | CustomerRequest, Lang::Sl) => {
                "Identifikacijo ste prekinili. Kadar boste pripravljeni, se ponovno uvrstite v vrsto."
            }
            (CustomerLeft | CustomerRequest, Lang::En) => {
                "You ended the identification. Join the queue again when you are ready."
            }
            (AgentLeft | TechnicalProblem, Lang::Sl) => {
                "Zaradi tehnične težave na naši strani identifikacije ni bilo mogoče dokončati. Ponovno se uvrstite v vrsto."
            }
            (AgentLeft | TechnicalProblem, Lang::En) => {
                "A technical problem on our side stopped the identification. Please join the queue again."
            }
            (TanFailed, Lang::Sl) => {
                "Potrditvene kode ni bilo mogoče preveriti. Preverite, ali vaš telefon prejema SMS-sporočila, in se ponovno uvrstite v vrsto."
            }
            (TanFailed, Lang::En) => {
                "The verification code could not be confirmed. Check that your phone receives text messages and join the queue again."
            }
            (ThirdPartySuspected | OtherSuspicion, Lang::Sl) => {
                "Identifikacije ni bilo mogoče dokončati. Ponovno se lahko uvrstite v vrsto."
            }
            (ThirdPartySuspected | OtherSuspicion, Lang::En) => {
                "The identification could not be completed. You may join the queue again."
            }
        }
    }
}

/// The `identification` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// Calls allowed per case (the first plus repeats from the queue).
    pub max_attempts: u32,
    /// Link validity in counted hours ([`crate::validity`]).
    pub link_valid_hours: u32,
    /// The prepared questions, in the order they are asked.
    pub questions: Vec<Question>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_attempts: 3,
            link_valid_hours: 24,
            questions: default_questions(),
        }
    }
}

impl FlowConfig {
    pub(crate) fn validate(&self) -> Result<(), CasesError> {
        if !(1..=20).contains(&self.max_attempts) {
            return Err(CasesError::Config {
                key: "identification.max_attempts",
                reason: "must be between 1 and 20".into(),
            });
        }
        if !(1..=24 * 30).contains(&self.link_valid_hours) {
            return Err(CasesError::Config {
                key: "identification.link_valid_hours",
                reason: "must be between 1 and 720".into(),
            });
        }
        if self.questions.is_empty() {
            return Err(CasesError::Config {
                key: "identification.questions",
                reason: "must hold at least one question".into(),
            });
        }
        let mut ids: Vec<&str> = self.questions.iter().map(|q| q.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) || ids.iter().any(|i| i.trim().is_empty()) {
            return Err(CasesError::Config {
                key: "identification.questions",
                reason: "ids must be unique and not empty".into(),
            });
        }
        if self
            .questions
            .iter()
            .any(|q| q.sl.trim().is_empty() || q.en.trim().is_empty())
        {
            return Err(CasesError::Config {
                key: "identification.questions",
                reason: "every question needs sl and en text".into(),
            });
        }
        Ok(())
    }
}

/// A change to the case's place in the queue, applied with the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOp {
    /// Append at the end; the store refuses with [`CasesError::QueueFull`] at `max_length`.
    Join {
        rejoin_hash: String,
        max_length: u32,
    },
    Remove,
    /// Keep the place, mark the customer disconnected since `at`.
    Disconnect {
        at: OffsetDateTime,
    },
    Reconnect,
    /// Put back at the head of the queue (the call's media node failed).
    JoinFront {
        rejoin_hash: String,
    },
}

/// What a transition asks the store to do besides saving the case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Appended to the case's trail, in order, with the acting actor and time.
    pub audit: Vec<AuditEvent>,
    pub queue: Option<QueueOp>,
    /// An agent whose call ended becomes available again.
    pub agent_freed: Option<String>,
    /// A handling time to remember for wait estimates: (agent, call start).
    pub handled: Option<(String, OffsetDateTime)>,
    /// Queue a webhook delivery for the case's new state.
    pub webhook: bool,
    /// Skip saving: the transition changed nothing (an idempotent repeat).
    pub unchanged: bool,
}

fn set_state(case: &mut Case, to: CaseState, fx: &mut Effects) {
    if case.state != to {
        fx.audit.push(AuditEvent::StateChanged {
            from: case.state,
            to,
        });
        case.state = to;
    }
}

fn require_state(
    case: &Case,
    allowed: &[CaseState],
    action: &'static str,
) -> Result<(), CasesError> {
    if allowed.contains(&case.state) {
        Ok(())
    } else {
        Err(CasesError::InvalidState {
            state: case.state,
            action,
        })
    }
}

fn require_customer(case: &Case, actor: &Actor, action: &'static str) -> Result<(), CasesError> {
    if actor.role() != Role::Customer {
        return Err(CasesError::Forbidden {
            role: actor.role(),
            action,
        });
    }
    if actor.id() != case.id {
        return Err(CasesError::NotFound("case"));
    }
    Ok(())
}

/// The agent handling this case, in one of `states`: role first, then state, then assignment
/// (so an agent asking too early hears about the state, not about somebody else's case).
fn require_agent(
    case: &Case,
    actor: &Actor,
    action: &'static str,
    states: &[CaseState],
) -> Result<(), CasesError> {
    if actor.require(Permission::TakeCalls).is_err() {
        return Err(CasesError::Forbidden {
            role: actor.role(),
            action,
        });
    }
    require_state(case, states, action)?;
    if case.agent_id.as_deref() != Some(actor.id()) {
        return Err(CasesError::NotAssigned);
    }
    Ok(())
}

fn require_role(actor: &Actor, role: Role, action: &'static str) -> Result<(), CasesError> {
    if actor.role() == role {
        Ok(())
    } else {
        Err(CasesError::Forbidden {
            role: actor.role(),
            action,
        })
    }
}

const BEFORE_QUEUE: [CaseState; 3] = [CaseState::Created, CaseState::Prepared, CaseState::Aborted];

fn mark_prepared(case: &mut Case, fx: &mut Effects) {
    if case.state == CaseState::Created && case.photo.is_some() && case.data_confirmed_at.is_some()
    {
        set_state(case, CaseState::Prepared, fx);
    }
}

fn link_valid(case: &Case, now: OffsetDateTime) -> Result<(), CasesError> {
    if now >= case.expires_at {
        Err(CasesError::LinkExpired(case.expires_at))
    } else {
        Ok(())
    }
}

fn not_final(case: &Case, action: &'static str) -> Result<(), CasesError> {
    if case.is_final() {
        Err(CasesError::InvalidState {
            state: case.state,
            action,
        })
    } else {
        Ok(())
    }
}

/// Customer: records the uploaded ID photo.
pub(crate) fn upload_photo(
    case: &mut Case,
    actor: &Actor,
    photo: DocumentPhoto,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "upload the document photo";
    require_customer(case, actor, ACTION)?;
    require_state(case, &BEFORE_QUEUE, ACTION)?;
    not_final(case, ACTION)?;
    link_valid(case, now)?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::DocumentPhotoUploaded {
        object_id: photo.object_id.clone(),
        content_type: photo.content_type.clone(),
        bytes: photo.bytes,
        sha256: photo.sha256.clone(),
    });
    case.photo = Some(photo);
    mark_prepared(case, &mut fx);
    Ok(fx)
}

/// Customer: confirms their data. A mismatch is recorded and returned, not an error; it
/// withdraws an earlier confirmation.
pub(crate) fn confirm_data(
    case: &mut Case,
    actor: &Actor,
    data: &ConfirmedData,
    now: OffsetDateTime,
) -> Result<(Effects, DataCheck), CasesError> {
    const ACTION: &str = "confirm the data";
    require_customer(case, actor, ACTION)?;
    require_state(case, &BEFORE_QUEUE, ACTION)?;
    not_final(case, ACTION)?;
    link_valid(case, now)?;
    let c = &case.customer;
    let check = check_data(&c.name, c.date_of_birth, &c.document, data)?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::DataChecked {
        matches: check.is_match(),
        check: check.clone(),
    });
    if check.is_match() {
        case.data_confirmed_at = Some(now);
        mark_prepared(case, &mut fx);
    } else {
        case.data_confirmed_at = None;
        if case.state == CaseState::Prepared {
            set_state(case, CaseState::Created, &mut fx);
        }
    }
    Ok((fx, check))
}

/// Customer: enters the queue. Working hours, the queue length and the estimated wait are
/// checked by the caller ([`crate::Cases::join_queue`]) and the store.
pub(crate) fn join_queue(
    case: &mut Case,
    actor: &Actor,
    rejoin_hash: String,
    max_length: u32,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "join the queue";
    require_customer(case, actor, ACTION)?;
    if case.state == CaseState::Aborted && case.retries_left() == 0 {
        return Err(CasesError::RetriesExhausted(case.attempts));
    }
    require_state(case, &[CaseState::Prepared, CaseState::Aborted], ACTION)?;
    if case.photo.is_none() || case.data_confirmed_at.is_none() {
        return Err(CasesError::InvalidState {
            state: case.state,
            action: ACTION,
        });
    }
    link_valid(case, now)?;
    let mut fx = Effects::default();
    set_state(case, CaseState::Queued, &mut fx);
    fx.audit.push(AuditEvent::QueueJoined);
    case.rejoin_hash = Some(rejoin_hash.clone());
    fx.queue = Some(QueueOp::Join {
        rejoin_hash,
        max_length,
    });
    Ok(fx)
}

/// Customer: leaves the queue; back to `prepared`.
pub(crate) fn leave_queue(case: &mut Case, actor: &Actor) -> Result<Effects, CasesError> {
    const ACTION: &str = "leave the queue";
    require_customer(case, actor, ACTION)?;
    require_state(case, &[CaseState::Queued], ACTION)?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::QueueLeft);
    set_state(case, CaseState::Prepared, &mut fx);
    fx.queue = Some(QueueOp::Remove);
    Ok(fx)
}

/// System: the queued customer's connection dropped; the place is kept.
pub(crate) fn disconnect(
    case: &mut Case,
    actor: &Actor,
    already: bool,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "mark a queued customer disconnected";
    if !matches!(actor.role(), Role::System | Role::Customer)
        || (actor.role() == Role::Customer && actor.id() != case.id)
    {
        return Err(CasesError::Forbidden {
            role: actor.role(),
            action: ACTION,
        });
    }
    require_state(case, &[CaseState::Queued], ACTION)?;
    let mut fx = Effects::default();
    if already {
        fx.unchanged = true;
        return Ok(fx);
    }
    fx.audit.push(AuditEvent::QueueDisconnected);
    fx.queue = Some(QueueOp::Disconnect { at: now });
    Ok(fx)
}

/// Customer: back within the grace period with the rejoin token (hash compared by the caller).
pub(crate) fn rejoin(
    case: &mut Case,
    actor: &Actor,
    token_ok: bool,
    disconnected_at: Option<OffsetDateTime>,
    grace: time::Duration,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "rejoin the queue";
    require_customer(case, actor, ACTION)?;
    require_state(case, &[CaseState::Queued], ACTION)?;
    if !token_ok {
        return Err(CasesError::RejoinRefused);
    }
    let mut fx = Effects::default();
    match disconnected_at {
        None => {
            fx.unchanged = true;
        }
        Some(at) if now >= at + grace => return Err(CasesError::RejoinTooLate(at + grace)),
        Some(_) => {
            fx.audit.push(AuditEvent::QueueRejoined);
            fx.queue = Some(QueueOp::Reconnect);
        }
    }
    Ok(fx)
}

/// System: removes a customer from the queue (`disconnected` past the grace period, or
/// `max_wait`); back to `prepared`.
pub(crate) fn drop_from_queue(
    case: &mut Case,
    actor: &Actor,
    reason: &str,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "drop a customer from the queue";
    require_role(actor, Role::System, ACTION)?;
    require_state(case, &[CaseState::Queued], ACTION)?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::QueueDropped {
        reason: reason.to_string(),
    });
    set_state(case, CaseState::Prepared, &mut fx);
    fx.queue = Some(QueueOp::Remove);
    Ok(fx)
}

/// Agent: takes the customer (the store has claimed the queue row and the agent).
pub(crate) fn take(
    case: &mut Case,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "take a call";
    if actor.require(Permission::TakeCalls).is_err() {
        return Err(CasesError::Forbidden {
            role: actor.role(),
            action: ACTION,
        });
    }
    require_state(case, &[CaseState::Queued], ACTION)?;
    let mut fx = Effects::default();
    case.attempts += 1;
    case.agent_id = Some(actor.id().to_string());
    case.call_started_at = Some(now);
    case.checklist.clear();
    case.tan = None;
    fx.audit.push(AuditEvent::CallTaken {
        agent_id: actor.id().to_string(),
        attempt: case.attempts,
    });
    set_state(case, CaseState::InCall, &mut fx);
    Ok(fx)
}

/// Agent: begins the checklist.
pub(crate) fn start_checks(case: &mut Case, actor: &Actor) -> Result<Effects, CasesError> {
    const ACTION: &str = "start the checks";
    require_agent(case, actor, ACTION, &[CaseState::InCall])?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::ChecksStarted);
    set_state(case, CaseState::Checks, &mut fx);
    Ok(fx)
}

fn put_check(
    case: &mut Case,
    answer: CheckAnswer,
    by: &str,
    now: OffsetDateTime,
    fx: &mut Effects,
) {
    let record = CheckRecord {
        item: answer.item(),
        passed: answer.passed(),
        answer: answer.clone(),
        by: by.to_string(),
        at: now,
    };
    fx.audit.push(AuditEvent::CheckRecorded {
        item: record.item,
        passed: record.passed,
        answer,
    });
    case.checklist.retain(|r| r.item != record.item);
    case.checklist.push(record);
    case.checklist.sort_by_key(|r| r.item);
}

/// Agent: records a checklist answer (replacing an earlier one for the same item).
pub(crate) fn record_check(
    case: &mut Case,
    actor: &Actor,
    answer: CheckAnswer,
    questions: &[Question],
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "record a check";
    require_agent(case, actor, ACTION, &[CaseState::Checks])?;
    match &answer {
        CheckAnswer::Tan { .. } => {
            return Err(CasesError::invalid(
                "item",
                "the tan is checked by entering the code the customer reads back",
            ));
        }
        CheckAnswer::Intent { answers, .. } => {
            let given: Vec<&str> = answers.iter().map(|a| a.question_id.as_str()).collect();
            let expected: Vec<&str> = questions.iter().map(|q| q.id.as_str()).collect();
            if given != expected {
                return Err(CasesError::invalid(
                    "answers",
                    format!("answer the questions {} in this order", expected.join(", ")),
                ));
            }
            if answers.iter().any(|a| a.answer.trim().is_empty()) {
                return Err(CasesError::invalid(
                    "answers",
                    "every answer needs the customer's words",
                ));
            }
        }
        _ => {}
    }
    let mut fx = Effects::default();
    put_check(case, answer, actor.id(), now, &mut fx);
    Ok(fx)
}

/// Agent: creates a new TAN (voiding an earlier one). Returns the plaintext code for the SMS.
pub(crate) fn send_tan(
    case: &mut Case,
    actor: &Actor,
    cfg: &TanConfig,
    now: OffsetDateTime,
) -> Result<(Effects, String), CasesError> {
    const ACTION: &str = "send a verification code";
    require_agent(case, actor, ACTION, &[CaseState::Checks])?;
    if case.tan.as_ref().is_some_and(TanState::is_verified) {
        return Err(CasesError::InvalidState {
            state: case.state,
            action: "send a verification code after it was verified",
        });
    }
    let sends = case.tan.as_ref().map_or(0, |t| t.sends);
    if sends >= cfg.max_sends {
        return Err(CasesError::TanSendLimit(sends));
    }
    let code = generate_code();
    let tan = TanState::new(&code, now, cfg, sends + 1);
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::TanSent {
        to: mask_phone(&case.customer.phone),
        expires_at: tan.expires_at,
        send: tan.sends,
    });
    case.tan = Some(tan);
    Ok((fx, code))
}

/// Agent: enters the code the customer read back.
pub(crate) fn verify_tan(
    case: &mut Case,
    actor: &Actor,
    code: &str,
    cfg: &TanConfig,
    now: OffsetDateTime,
) -> Result<(Effects, TanOutcome), CasesError> {
    const ACTION: &str = "verify the code";
    if actor.role() == Role::Customer {
        // The customer may type the code they received into their page instead of reading
        // it out; the same attempts count.
        require_customer(case, actor, ACTION)?;
        require_state(case, &[CaseState::Checks], ACTION)?;
    } else {
        require_agent(case, actor, ACTION, &[CaseState::Checks])?;
    }
    if code.len() > 32 {
        return Err(CasesError::invalid("code", "too long"));
    }
    let tan = case.tan.as_mut().ok_or(CasesError::NoTan)?;
    let already = tan.is_verified();
    let outcome = tan.check(code, now, cfg);
    let mut fx = Effects::default();
    match outcome {
        TanOutcome::Accepted if already => fx.unchanged = true,
        TanOutcome::Accepted => {
            fx.audit.push(AuditEvent::TanVerified);
            put_check(
                case,
                CheckAnswer::Tan { verified: true },
                actor.id(),
                now,
                &mut fx,
            );
        }
        TanOutcome::Wrong { attempts_left } => {
            fx.audit.push(AuditEvent::TanWrong { attempts_left })
        }
        TanOutcome::Expired => fx.audit.push(AuditEvent::TanExpired),
        TanOutcome::Locked => fx.audit.push(AuditEvent::TanLocked),
    }
    Ok((fx, outcome))
}

fn end_call(case: &mut Case, fx: &mut Effects) {
    if let (Some(agent), Some(start)) = (case.agent_id.clone(), case.call_started_at) {
        fx.agent_freed = Some(agent.clone());
        fx.handled = Some((agent, start));
    }
}

/// Agent: approves; every checklist item must be recorded and passed.
pub(crate) fn approve(
    case: &mut Case,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "approve";
    require_agent(case, actor, ACTION, &[CaseState::Checks])?;
    let missing: Vec<CheckItem> = CHECKLIST
        .into_iter()
        .filter(|i| case.check(*i).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CasesError::ChecklistIncomplete(missing));
    }
    if let Some(failed) = case.checklist.iter().find(|r| !r.passed) {
        return Err(CasesError::CheckFailed(failed.item));
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::Approved);
    set_state(case, CaseState::Approved, &mut fx);
    case.decided_at = Some(now);
    end_call(case, &mut fx);
    fx.webhook = true;
    Ok(fx)
}

/// Agent: rejects (the identity could not be established).
pub(crate) fn reject(
    case: &mut Case,
    actor: &Actor,
    reason: &str,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "reject";
    require_agent(case, actor, ACTION, &[CaseState::InCall, CaseState::Checks])?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(CasesError::invalid(
            "reason",
            "give a reason of at most 2000 characters",
        ));
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::Rejected {
        reason: reason.to_string(),
    });
    set_state(case, CaseState::Rejected, &mut fx);
    case.decided_at = Some(now);
    case.reason = Some(reason.to_string());
    end_call(case, &mut fx);
    fx.webhook = true;
    Ok(fx)
}

/// Agent (any reason), system (any reason), or the customer (leaving or asking to stop):
/// interrupts the attempt.
pub(crate) fn abort(
    case: &mut Case,
    actor: &Actor,
    reason: AbortReason,
    note: &str,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "abort";
    match actor.role() {
        Role::System => {}
        Role::Customer => {
            require_customer(case, actor, ACTION)?;
            if !matches!(
                reason,
                AbortReason::CustomerLeft | AbortReason::CustomerRequest
            ) {
                return Err(CasesError::Forbidden {
                    role: Role::Customer,
                    action: "abort for that reason",
                });
            }
        }
        _ => require_agent(case, actor, ACTION, &[CaseState::InCall, CaseState::Checks])?,
    }
    require_state(case, &[CaseState::InCall, CaseState::Checks], ACTION)?;
    if note.chars().count() > 2000 {
        return Err(CasesError::invalid("note", "at most 2000 characters"));
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::Aborted {
        reason,
        note: note.to_string(),
        attempt: case.attempts,
        retries_left: case.retries_left(),
    });
    set_state(case, CaseState::Aborted, &mut fx);
    case.last_abort = Some(reason);
    case.reason = Some(reason.as_str().to_string());
    end_call(case, &mut fx);
    if case.is_final() {
        case.decided_at = Some(now);
        fx.webhook = true;
    }
    Ok(fx)
}

/// System: the link ran out before the customer queued (queued customers and calls are left
/// to finish).
pub(crate) fn expire(
    case: &mut Case,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "expire";
    require_role(actor, Role::System, ACTION)?;
    require_state(case, &BEFORE_QUEUE, ACTION)?;
    not_final(case, ACTION)?;
    if now < case.expires_at {
        return Err(CasesError::InvalidState {
            state: case.state,
            action: "expire a case whose link is still valid",
        });
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::Expired);
    set_state(case, CaseState::Expired, &mut fx);
    case.decided_at = Some(now);
    fx.webhook = true;
    Ok(fx)
}

/// Ordering system: cancels the case (not while a call is running).
pub(crate) fn cancel(
    case: &mut Case,
    actor: &Actor,
    reason: &str,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "cancel a case";
    require_role(actor, Role::OrderingSystem, ACTION)?;
    require_state(
        case,
        &[
            CaseState::Created,
            CaseState::Prepared,
            CaseState::Queued,
            CaseState::Aborted,
        ],
        ACTION,
    )?;
    not_final(case, ACTION)?;
    if reason.chars().count() > 2000 {
        return Err(CasesError::invalid("reason", "at most 2000 characters"));
    }
    let mut fx = Effects::default();
    if case.state == CaseState::Queued {
        fx.queue = Some(QueueOp::Remove);
    }
    fx.audit.push(AuditEvent::Cancelled {
        reason: reason.to_string(),
    });
    set_state(case, CaseState::Cancelled, &mut fx);
    case.decided_at = Some(now);
    case.reason = Some(reason.to_string());
    fx.webhook = true;
    Ok(fx)
}

/// Staff: an access to the recording or evidence, logged before it is granted.
pub(crate) fn access_evidence(
    actor: &Actor,
    recording_id: Option<&str>,
    access: EvidenceAccess,
    purpose: Option<&str>,
) -> Result<Effects, CasesError> {
    actor.require(access.permission())?;
    let purpose = match purpose.map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")) {
        Some(p) if p.chars().count() < 10 || p.chars().count() > 500 => {
            return Err(CasesError::invalid(
                "purpose",
                "state the purpose in 10 to 500 characters",
            ));
        }
        p => p,
    };
    if recording_id
        .is_some_and(|r| r.is_empty() || r.len() > 200 || r.chars().any(char::is_control))
    {
        return Err(CasesError::invalid(
            "recording_id",
            "1 to 200 printable characters",
        ));
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::EvidenceAccessed {
        recording_id: recording_id.map(str::to_string),
        access: access.as_str().to_string(),
        purpose,
    });
    Ok(fx)
}

/// Whether `actor` may add a snapshot now: the call's agent, during the call, below the cap.
pub(crate) fn may_snapshot(case: &Case, actor: &Actor) -> Result<(), CasesError> {
    const ACTION: &str = "take a snapshot";
    require_agent(case, actor, ACTION, &[CaseState::InCall, CaseState::Checks])?;
    if case.snapshots.len() >= MAX_SNAPSHOTS {
        return Err(CasesError::invalid(
            "snapshot",
            "this case has the most snapshots allowed",
        ));
    }
    Ok(())
}

/// Agent: a snapshot of the running call (face, document front or back), already stored.
pub(crate) fn add_snapshot(
    case: &mut Case,
    actor: &Actor,
    snapshot: Snapshot,
) -> Result<Effects, CasesError> {
    may_snapshot(case, actor)?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::SnapshotTaken {
        kind: snapshot.kind,
        object_id: snapshot.object_id.clone(),
        content_type: snapshot.content_type.clone(),
        bytes: snapshot.bytes,
        sha256: snapshot.sha256.clone(),
    });
    case.snapshots.push(Snapshot {
        attempt: case.attempts,
        taken_by: actor.id().to_string(),
        ..snapshot
    });
    Ok(fx)
}

/// System: the media node running the call failed. The attempt does not count against the
/// customer: they go back to the head of the queue with their old rejoin token, and the
/// attempt cap grows by one (attempt numbers keep increasing: they name the recordings).
pub(crate) fn requeue_front(
    case: &mut Case,
    actor: &Actor,
    note: &str,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "put back in the queue";
    require_role(actor, Role::System, ACTION)?;
    require_state(case, &[CaseState::InCall, CaseState::Checks], ACTION)?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::Requeued {
        note: note.chars().take(500).collect(),
        attempt: case.attempts,
    });
    end_call(case, &mut fx);
    // A handling time of a failed node says nothing about agents' speed.
    fx.handled = None;
    case.max_attempts += 1;
    case.checklist.clear();
    case.tan = None;
    set_state(case, CaseState::Queued, &mut fx);
    fx.queue = Some(QueueOp::JoinFront {
        rejoin_hash: case.rejoin_hash.clone().unwrap_or_default(),
    });
    Ok(fx)
}

/// Agent: opens the customer's uploaded ID photo during the call (to compare it with the
/// document shown); logged like every access to evidence.
pub(crate) fn view_id_photo(case: &mut Case, actor: &Actor) -> Result<Effects, CasesError> {
    const ACTION: &str = "view the id photo";
    require_agent(case, actor, ACTION, &[CaseState::InCall, CaseState::Checks])?;
    if case.photo.is_none() {
        return Err(CasesError::NotFound("id photo"));
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::EvidenceAccessed {
        recording_id: None,
        access: "id_photo".into(),
        purpose: Some(
            "the agent compares the uploaded document with the one shown in the call".into(),
        ),
    });
    Ok(fx)
}

/// System: a copy of the trail was sealed into the vault.
pub(crate) fn trail_sealed(
    case: &mut Case,
    actor: &Actor,
    sealed: crate::case::SealedTrail,
) -> Result<Effects, CasesError> {
    require_role(actor, Role::System, "seal the trail")?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::TrailSealed {
        object_id: sealed.object_id.clone(),
        entries: sealed.entries,
        head_hash: sealed.head_hash.clone(),
        sha256: sealed.sha256.clone(),
    });
    case.sealed_trails.push(sealed);
    Ok(fx)
}

/// Snapshots a case may hold over all its attempts.
pub const MAX_SNAPSHOTS: usize = 60;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Customer;
    use crate::matching::{Document, DocumentKind};
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2026-01-15 11:00 +1);

    fn user(id: &str, role: Role) -> Actor {
        Actor::staff(&crate::users::User {
            id: id.into(),
            username: id.into(),
            role,
            disabled: false,
            created_at: NOW,
            password_hash: String::new(),
        })
    }

    /// Every actor the tests try, by name.
    fn pool() -> Vec<(&'static str, Actor)> {
        vec![
            ("customer", Actor::customer("cs_test")),
            ("other_customer", Actor::customer("cs_other")),
            ("agent", user("us_agent", Role::Agent)),
            ("other_agent", user("us_agent2", Role::Agent)),
            ("supervisor", user("us_sup", Role::Supervisor)),
            ("compliance", user("us_comp", Role::Compliance)),
            ("admin", user("us_admin", Role::Admin)),
            ("ordering", Actor::ordering_system()),
            ("system", Actor::system("test")),
        ]
    }

    fn actor(name: &str) -> Actor {
        pool().into_iter().find(|(n, _)| *n == name).unwrap().1
    }

    fn doc() -> Document {
        Document {
            kind: DocumentKind::IdCard,
            country: "SI".into(),
            number: "IB1234567".into(),
        }
    }

    fn confirmed() -> ConfirmedData {
        ConfirmedData {
            name: "Janez Novak".into(),
            date_of_birth: date!(1990 - 05 - 17),
            document: doc(),
        }
    }

    fn photo() -> DocumentPhoto {
        DocumentPhoto {
            object_id: "obj1".into(),
            content_type: "image/jpeg".into(),
            bytes: 1000,
            sha256: "ab".repeat(32),
            uploaded_at: NOW,
        }
    }

    fn passed(answer: CheckAnswer) -> CheckRecord {
        CheckRecord {
            item: answer.item(),
            passed: answer.passed(),
            answer,
            by: "us_agent".into(),
            at: NOW,
        }
    }

    fn intent_answer() -> CheckAnswer {
        CheckAnswer::Intent {
            answers: default_questions()
                .iter()
                .map(|q| IntentAnswer {
                    question_id: q.id.clone(),
                    answer: "da".into(),
                    acceptable: true,
                })
                .collect(),
            observation: "calm".into(),
        }
    }

    fn full_checklist() -> Vec<CheckRecord> {
        vec![
            passed(CheckAnswer::AloneInRoom {
                room_shown: true,
                nobody_else_seen_or_heard: true,
                observation: String::new(),
            }),
            passed(intent_answer()),
            passed(CheckAnswer::FaceMatchesDocument {
                matches: true,
                observation: String::new(),
            }),
            passed(CheckAnswer::DocumentFront {
                shown: true,
                security_features_ok: true,
                observation: String::new(),
            }),
            passed(CheckAnswer::DocumentBack {
                shown: true,
                security_features_ok: true,
                observation: String::new(),
            }),
            passed(CheckAnswer::Tan { verified: true }),
        ]
    }

    /// A case in `state` with everything that state normally implies.
    fn case_in(state: CaseState) -> Case {
        let before_call = matches!(
            state,
            CaseState::Created | CaseState::Prepared | CaseState::Queued
        );
        Case {
            id: "cs_test".into(),
            state,
            version: 1,
            customer: Customer {
                name: "Janez Novak".into(),
                date_of_birth: date!(1990 - 05 - 17),
                document: doc(),
                phone: "+38641123456".into(),
                email: "j@example.com".into(),
                language: Lang::Sl,
            },
            contract_ref: "R1".into(),
            callback_url: Some("https://shop.example/hook".into()),
            esign_url: None,
            created_at: NOW - time::Duration::hours(1),
            expires_at: NOW + time::Duration::hours(23),
            photo: (state != CaseState::Created).then(photo),
            snapshots: Vec::new(),
            sealed_trails: Vec::new(),
            rejoin_hash: None,
            data_confirmed_at: Some(NOW),
            attempts: u32::from(!before_call),
            max_attempts: 3,
            agent_id: (!before_call).then(|| "us_agent".into()),
            call_started_at: (!before_call).then_some(NOW),
            checklist: if state == CaseState::Checks {
                full_checklist()
            } else {
                Vec::new()
            },
            tan: None,
            decided_at: None,
            reason: None,
            last_abort: None,
            audit: Default::default(),
        }
    }

    type Run = Box<dyn Fn(&mut Case, &Actor) -> Result<Effects, CasesError>>;

    struct Row {
        name: &'static str,
        from: &'static [CaseState],
        to: fn(CaseState) -> CaseState,
        allowed: &'static [&'static str],
        run: Run,
    }

    fn same(s: CaseState) -> CaseState {
        s
    }

    fn rows() -> Vec<Row> {
        use CaseState::*;
        let tan = TanConfig::default();
        let tan2 = tan.clone();
        vec![
            Row {
                name: "upload_photo",
                from: &[Created, Prepared, Aborted],
                to: |s| if s == Created { Prepared } else { s },
                allowed: &["customer"],
                run: Box::new(|c, a| upload_photo(c, a, photo(), NOW)),
            },
            Row {
                name: "confirm_data",
                from: &[Created, Prepared, Aborted],
                to: same,
                allowed: &["customer"],
                run: Box::new(|c, a| confirm_data(c, a, &confirmed(), NOW).map(|x| x.0)),
            },
            Row {
                name: "join_queue",
                from: &[Prepared, Aborted],
                to: |_| Queued,
                allowed: &["customer"],
                run: Box::new(|c, a| join_queue(c, a, "h".into(), 10, NOW)),
            },
            Row {
                name: "leave_queue",
                from: &[Queued],
                to: |_| Prepared,
                allowed: &["customer"],
                run: Box::new(leave_queue),
            },
            Row {
                name: "disconnect",
                from: &[Queued],
                to: same,
                allowed: &["customer", "system"],
                run: Box::new(|c, a| disconnect(c, a, false, NOW)),
            },
            Row {
                name: "rejoin",
                from: &[Queued],
                to: same,
                allowed: &["customer"],
                run: Box::new(|c, a| {
                    rejoin(
                        c,
                        a,
                        true,
                        Some(NOW - time::Duration::seconds(10)),
                        time::Duration::seconds(120),
                        NOW,
                    )
                }),
            },
            Row {
                name: "drop_from_queue",
                from: &[Queued],
                to: |_| Prepared,
                allowed: &["system"],
                run: Box::new(|c, a| drop_from_queue(c, a, "max_wait")),
            },
            Row {
                name: "take",
                from: &[Queued],
                to: |_| InCall,
                allowed: &["agent", "other_agent", "supervisor"],
                run: Box::new(|c, a| take(c, a, NOW)),
            },
            Row {
                name: "start_checks",
                from: &[InCall],
                to: |_| Checks,
                allowed: &["agent"],
                run: Box::new(start_checks),
            },
            Row {
                name: "record_check",
                from: &[Checks],
                to: same,
                allowed: &["agent"],
                run: Box::new(|c, a| {
                    record_check(c, a, intent_answer(), &default_questions(), NOW)
                }),
            },
            Row {
                name: "send_tan",
                from: &[Checks],
                to: same,
                allowed: &["agent"],
                run: Box::new(move |c, a| send_tan(c, a, &tan, NOW).map(|x| x.0)),
            },
            Row {
                name: "verify_tan",
                from: &[Checks],
                to: same,
                allowed: &["agent"],
                run: Box::new(move |c, a| {
                    let (_, code) = send_tan(c, a, &tan2, NOW)?;
                    verify_tan(c, a, &code, &tan2, NOW).map(|x| x.0)
                }),
            },
            Row {
                name: "approve",
                from: &[Checks],
                to: |_| Approved,
                allowed: &["agent"],
                run: Box::new(|c, a| approve(c, a, NOW)),
            },
            Row {
                name: "reject",
                from: &[InCall, Checks],
                to: |_| Rejected,
                allowed: &["agent"],
                run: Box::new(|c, a| reject(c, a, "face does not match", NOW)),
            },
            Row {
                name: "abort",
                from: &[InCall, Checks],
                to: |_| Aborted,
                allowed: &["agent", "system"],
                run: Box::new(|c, a| abort(c, a, AbortReason::ConnectionLost, "", NOW)),
            },
            Row {
                name: "expire",
                from: &[Created, Prepared, Aborted],
                to: |_| Expired,
                allowed: &["system"],
                run: Box::new(|c, a| expire(c, a, NOW + time::Duration::days(2))),
            },
            Row {
                name: "cancel",
                from: &[Created, Prepared, Queued, Aborted],
                to: |_| Cancelled,
                allowed: &["ordering"],
                run: Box::new(|c, a| cancel(c, a, "order withdrawn", NOW)),
            },
        ]
    }

    #[test]
    fn every_transition_allowed_and_refused() {
        let mut checked = 0;
        for row in rows() {
            for state in ALL_STATES {
                for (who, a) in pool() {
                    let before = case_in(state);
                    let mut c = before.clone();
                    let r = (row.run)(&mut c, &a);
                    let ctx = format!("{} from {state} by {who}", row.name);
                    match (row.from.contains(&state), row.allowed.contains(&who)) {
                        (true, true) => {
                            let fx = r.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                            assert_eq!(c.state, (row.to)(state), "{ctx}");
                            assert!(!fx.audit.is_empty() || fx.unchanged, "{ctx}: no audit");
                        }
                        (true, false) => {
                            let e = r.expect_err(&ctx);
                            assert!(
                                matches!(
                                    e,
                                    CasesError::Forbidden { .. }
                                        | CasesError::NotAssigned
                                        | CasesError::NotFound(_)
                                ),
                                "{ctx}: {e:?}"
                            );
                            assert_eq!(c, before, "{ctx}: refused but changed");
                        }
                        (false, true) => {
                            let e = r.expect_err(&ctx);
                            assert!(matches!(e, CasesError::InvalidState { .. }), "{ctx}: {e:?}");
                            assert_eq!(c, before, "{ctx}: refused but changed");
                        }
                        (false, false) => {
                            assert!(r.is_err(), "{ctx}");
                            assert_eq!(c, before, "{ctx}: refused but changed");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 17 * 10 * 9);
    }

    #[test]
    fn error_messages_name_the_rule() {
        let mut c = case_in(CaseState::Queued);
        let e = approve(&mut c, &actor("agent"), NOW).unwrap_err();
        assert_eq!(e.to_string(), "cannot approve while the case is queued");
        let e = take(&mut c, &actor("compliance"), NOW).unwrap_err();
        assert_eq!(e.to_string(), "a compliance may not take a call");
        let mut c = case_in(CaseState::Checks);
        let e = approve(&mut c, &actor("other_agent"), NOW).unwrap_err();
        assert_eq!(e.code(), "not_assigned");
    }

    #[test]
    fn approval_needs_every_check_passed() {
        let agent = actor("agent");
        let mut c = case_in(CaseState::Checks);
        c.checklist
            .retain(|r| !matches!(r.item, CheckItem::Tan | CheckItem::DocumentBack));
        match approve(&mut c, &agent, NOW) {
            Err(CasesError::ChecklistIncomplete(m)) => {
                assert_eq!(m, vec![CheckItem::DocumentBack, CheckItem::Tan])
            }
            other => panic!("{other:?}"),
        }
        let mut c = case_in(CaseState::Checks);
        record_check(
            &mut c,
            &agent,
            CheckAnswer::AloneInRoom {
                room_shown: true,
                nobody_else_seen_or_heard: false,
                observation: "a voice in the background".into(),
            },
            &default_questions(),
            NOW,
        )
        .unwrap();
        assert!(matches!(
            approve(&mut c, &agent, NOW),
            Err(CasesError::CheckFailed(CheckItem::AloneInRoom))
        ));
        assert_eq!(c.checklist.len(), 6, "the answer replaced the earlier one");
    }

    #[test]
    fn intent_questions_in_order() {
        let agent = actor("agent");
        let mut c = case_in(CaseState::Checks);
        let mut answer = intent_answer();
        if let CheckAnswer::Intent { answers, .. } = &mut answer {
            answers.swap(0, 1);
        }
        let e = record_check(&mut c, &agent, answer, &default_questions(), NOW).unwrap_err();
        assert!(
            e.to_string().contains("wants_contract, own_decision"),
            "{e}"
        );
        let e = record_check(
            &mut c,
            &agent,
            CheckAnswer::Tan { verified: true },
            &default_questions(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_input");
    }

    #[test]
    fn tan_in_the_flow() {
        let agent = actor("agent");
        let cfg = TanConfig::default();
        let mut c = case_in(CaseState::Checks);
        c.checklist.retain(|r| r.item != CheckItem::Tan);
        assert!(matches!(
            verify_tan(&mut c, &agent, "000000", &cfg, NOW),
            Err(CasesError::NoTan)
        ));
        let (fx, code) = send_tan(&mut c, &agent, &cfg, NOW).unwrap();
        assert!(
            matches!(&fx.audit[0], AuditEvent::TanSent { to, send: 1, .. } if to == "+386*****456")
        );
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let (fx, o) = verify_tan(&mut c, &agent, wrong, &cfg, NOW).unwrap();
        assert_eq!(o, TanOutcome::Wrong { attempts_left: 2 });
        assert_eq!(fx.audit, vec![AuditEvent::TanWrong { attempts_left: 2 }]);
        // Expired.
        let (_, o) = verify_tan(
            &mut c,
            &agent,
            &code,
            &cfg,
            NOW + time::Duration::minutes(6),
        )
        .unwrap();
        assert_eq!(o, TanOutcome::Expired);
        // A new code; too many wrong entries lock it.
        let (_, code) = send_tan(&mut c, &agent, &cfg, NOW).unwrap();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..2 {
            verify_tan(&mut c, &agent, wrong, &cfg, NOW).unwrap();
        }
        let (fx, o) = verify_tan(&mut c, &agent, wrong, &cfg, NOW).unwrap();
        assert_eq!(
            (o, fx.audit),
            (TanOutcome::Locked, vec![AuditEvent::TanLocked])
        );
        assert_eq!(
            verify_tan(&mut c, &agent, &code, &cfg, NOW).unwrap().1,
            TanOutcome::Locked
        );
        // Third and last code: right.
        let (_, code) = send_tan(&mut c, &agent, &cfg, NOW).unwrap();
        let (fx, o) = verify_tan(&mut c, &agent, &code, &cfg, NOW).unwrap();
        assert_eq!(o, TanOutcome::Accepted);
        assert_eq!(fx.audit[0], AuditEvent::TanVerified);
        assert!(c.check(CheckItem::Tan).unwrap().passed);
        assert!(matches!(
            send_tan(&mut c, &agent, &cfg, NOW),
            Err(CasesError::InvalidState { .. })
        ));
        approve(&mut c, &agent, NOW).unwrap();
        // The send limit.
        let mut c = case_in(CaseState::Checks);
        for _ in 0..3 {
            send_tan(&mut c, &agent, &cfg, NOW).unwrap();
        }
        assert!(matches!(
            send_tan(&mut c, &agent, &cfg, NOW),
            Err(CasesError::TanSendLimit(3))
        ));
    }

    #[test]
    fn retries_are_capped() {
        let agent = actor("agent");
        let customer = actor("customer");
        let mut c = case_in(CaseState::Prepared);
        for attempt in 1..=3 {
            join_queue(&mut c, &customer, "h".into(), 10, NOW).unwrap();
            take(&mut c, &agent, NOW).unwrap();
            assert_eq!(c.attempts, attempt);
            let fx = abort(&mut c, &agent, AbortReason::BadLight, "dark", NOW).unwrap();
            assert_eq!(fx.agent_freed.as_deref(), Some("us_agent"));
            assert_eq!(fx.webhook, attempt == 3, "a webhook only when final");
        }
        assert!(c.is_final());
        assert!(matches!(
            join_queue(&mut c, &customer, "h".into(), 10, NOW),
            Err(CasesError::RetriesExhausted(3))
        ));
        assert!(matches!(
            cancel(&mut c, &actor("ordering"), "", NOW),
            Err(CasesError::InvalidState { .. })
        ));
    }

    #[test]
    fn customer_may_only_leave() {
        let mut c = case_in(CaseState::InCall);
        let customer = actor("customer");
        assert!(matches!(
            abort(&mut c, &customer, AbortReason::BadLight, "", NOW),
            Err(CasesError::Forbidden { .. })
        ));
        abort(&mut c, &customer, AbortReason::CustomerLeft, "", NOW).unwrap();
        assert_eq!(c.last_abort, Some(AbortReason::CustomerLeft));
        let msg = AbortReason::ThirdPartySuspected.customer_message(Lang::En);
        assert!(
            !msg.to_lowercase().contains("third"),
            "suspicion is not named: {msg}"
        );
    }

    #[test]
    fn data_mismatch_withdraws_preparation() {
        let customer = actor("customer");
        let mut c = case_in(CaseState::Prepared);
        let mut data = confirmed();
        data.name = "Novak Janez".into();
        let (fx, check) = confirm_data(&mut c, &customer, &data, NOW).unwrap();
        assert!(!check.is_match());
        assert_eq!(c.state, CaseState::Created);
        assert!(matches!(
            &fx.audit[0],
            AuditEvent::DataChecked { matches: false, .. }
        ));
        assert!(matches!(
            join_queue(&mut c, &customer, "h".into(), 10, NOW),
            Err(CasesError::InvalidState { .. })
        ));
        confirm_data(&mut c, &customer, &confirmed(), NOW).unwrap();
        assert_eq!(c.state, CaseState::Prepared);
    }

    #[test]
    fn expired_link_and_late_rejoin() {
        let customer = actor("customer");
        let mut c = case_in(CaseState::Prepared);
        let late = c.expires_at;
        assert!(matches!(
            join_queue(&mut c, &customer, "h".into(), 10, late),
            Err(CasesError::LinkExpired(_))
        ));
        assert!(matches!(
            expire(&mut c, &actor("system"), NOW),
            Err(CasesError::InvalidState { .. })
        ));
        let mut c = case_in(CaseState::Queued);
        let grace = time::Duration::seconds(120);
        let dropped = NOW - time::Duration::seconds(120);
        assert!(matches!(
            rejoin(&mut c, &customer, true, Some(dropped), grace, NOW),
            Err(CasesError::RejoinTooLate(_))
        ));
        assert!(matches!(
            rejoin(&mut c, &customer, false, Some(NOW), grace, NOW),
            Err(CasesError::RejoinRefused)
        ));
    }

    #[test]
    fn evidence_access_permissions() {
        assert!(matches!(
            access_evidence(&actor("agent"), Some("rec1"), EvidenceAccess::Play, None),
            Err(CasesError::PermissionDenied { .. })
        ));
        assert!(
            access_evidence(
                &actor("compliance"),
                Some("rec1"),
                EvidenceAccess::Play,
                None
            )
            .is_ok()
        );
        assert!(
            access_evidence(&actor("supervisor"), None, EvidenceAccess::ReadAudit, None).is_ok()
        );
        assert!(
            access_evidence(
                &actor("supervisor"),
                Some("rec1"),
                EvidenceAccess::Export,
                None
            )
            .is_err()
        );
        // The portal's accesses: a purpose of substance, and roles kept apart.
        let why = Some("complaint 2026/118: customer disputes consent");
        assert!(access_evidence(&actor("agent"), None, EvidenceAccess::View, why).is_err());
        assert!(access_evidence(&actor("supervisor"), None, EvidenceAccess::View, why).is_ok());
        assert!(
            access_evidence(
                &actor("supervisor"),
                Some("r"),
                EvidenceAccess::Download,
                why
            )
            .is_err()
        );
        let fx = access_evidence(
            &actor("compliance"),
            Some("r"),
            EvidenceAccess::Download,
            why,
        )
        .expect("compliance may download");
        assert!(matches!(
            &fx.audit[0],
            AuditEvent::EvidenceAccessed { access, purpose: Some(p), .. }
                if access == "download" && p.starts_with("complaint")
        ));
        assert!(matches!(
            access_evidence(
                &actor("compliance"),
                None,
                EvidenceAccess::View,
                Some("  because  ")
            ),
            Err(CasesError::InvalidInput { .. })
        ));
    }

    #[test]
    fn check_answers_from_json() {
        let a: CheckAnswer = serde_json::from_str(
            r#"{"item":"alone_in_room","room_shown":true,"nobody_else_seen_or_heard":true}"#,
        )
        .unwrap();
        assert!(a.passed());
        assert_eq!(a.item(), CheckItem::AloneInRoom);
        let e = serde_json::from_str::<CheckAnswer>(
            r#"{"item":"face_matches_document","matches":true,"extra":1}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
        assert!(serde_json::from_str::<CheckAnswer>(r#"{"item":"nope"}"#).is_err());
    }

    #[test]
    fn config_validation() {
        assert!(FlowConfig::default().validate().is_ok());
        let mut c = FlowConfig::default();
        c.questions.push(c.questions[0].clone());
        assert!(matches!(
            c.validate(),
            Err(CasesError::Config {
                key: "identification.questions",
                ..
            })
        ));
        for s in ALL_STATES {
            assert_eq!(CaseState::parse(s.as_str()), Some(s));
        }
    }
}
