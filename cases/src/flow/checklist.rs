//! The checklist during the call: recorded answers, and the TAN sent and read back.

use time::OffsetDateTime;

use super::config::Question;
use super::effects::Effects;
use super::guards::{require_agent, require_customer, require_state};
use crate::CasesError;
use crate::audit::AuditEvent;
use crate::case::Case;
use crate::tan::{TanConfig, TanOutcome, TanState, generate_code, mask_phone};
use crate::users::Actor;
use crate::vocabulary::{CaseState, CheckAnswer, CheckRecord, Role};

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
