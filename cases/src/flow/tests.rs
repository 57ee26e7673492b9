//! Every transition from every state by every actor, and the rules one by one.

use time::OffsetDateTime;
use time::macros::{date, datetime};

use super::*;
use crate::CasesError;
use crate::audit::AuditEvent;
use crate::case::{Case, Customer, DocumentPhoto};
use crate::matching::{ConfirmedData, Document, DocumentKind, Lang};
use crate::tan::{TanConfig, TanOutcome};
use crate::users::Actor;
use crate::vocabulary::Role;

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
            run: Box::new(|c, a| record_check(c, a, intent_answer(), &default_questions(), NOW)),
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
    assert!(access_evidence(&actor("supervisor"), None, EvidenceAccess::ReadAudit, None).is_ok());
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
