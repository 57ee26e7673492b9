//! The lifecycle: preparation, the queue, taking the call, and the decisions that end a case
//! (approve, reject, expire, cancel).

use time::OffsetDateTime;

use super::effects::{Effects, QueueOp};
use super::guards::{
    BEFORE_QUEUE, end_call, link_valid, mark_prepared, not_final, require_agent, require_customer,
    require_role, require_state, set_state,
};
use crate::CasesError;
use crate::audit::AuditEvent;
use crate::case::{Case, DocumentPhoto};
use crate::matching::{ConfirmedData, DataCheck, check_data};
use crate::users::Actor;
use crate::vocabulary::{CHECKLIST, CaseState, CheckItem, Permission, Role};

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
