//! Store scenarios shared by the SQLite and PostgreSQL tests, and a PostgreSQL server started
//! per test run on a temporary directory and a free port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sqlx::Connection as _;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};
use vidid_cases::audit::{BreakKind, parse_jsonl, verify_chain};
use vidid_cases::flow::default_questions;
use vidid_cases::store::SqlStore;
use vidid_cases::*;

/// Thursday 15 January 2026, 11:00 in Ljubljana: open.
pub const OPEN: OffsetDateTime = datetime!(2026-01-15 11:00 +1);

pub fn new_case(n: usize) -> NewCase {
    NewCase {
        name: "Janez Novak".into(),
        date_of_birth: date!(1990 - 05 - 17),
        document: Document {
            kind: DocumentKind::IdCard,
            country: "SI".into(),
            number: "IB1234567".into(),
        },
        phone: "+38641123456".into(),
        email: "janez@example.com".into(),
        contract_ref: format!("MOB-{n}"),
        language: Lang::En,
        callback_url: Some("https://shop.example/hook".into()),
        esign_url: Some("https://sign.example/c/1".into()),
    }
}

pub fn confirmed() -> ConfirmedData {
    ConfirmedData {
        name: "Janez Novak".into(),
        date_of_birth: date!(1990 - 05 - 17),
        document: Document {
            kind: DocumentKind::IdCard,
            country: "SI".into(),
            number: "IB1234567".into(),
        },
    }
}

pub fn photo() -> DocumentPhoto {
    DocumentPhoto {
        object_id: "photos/obj1".into(),
        content_type: "image/jpeg".into(),
        bytes: 120_000,
        sha256: "ab".repeat(32),
        uploaded_at: OPEN,
    }
}

/// A service over `store` with a test clock at [`OPEN`] and the outbox in `dir`.
pub fn service(
    store: Arc<dyn Store>,
    clock: Arc<TestClock>,
    dir: &Path,
    cfg: CasesConfig,
) -> Cases {
    Cases::new(cfg, store, clock, Arc::new(OutboxSms::new(dir))).unwrap()
}

pub async fn connect(url: &str) -> Arc<dyn Store> {
    Arc::new(SqlStore::connect(url, None).await.unwrap())
}

/// Creates a case and prepares it; returns the case id, the customer actor and the link token.
pub async fn prepared(cases: &Cases, n: usize) -> (String, Actor, String) {
    let link = cases
        .create_case(&Actor::ordering_system(), &new_case(n), None)
        .await
        .unwrap();
    let (customer, case) = cases.customer(&link.token).await.unwrap();
    cases
        .upload_photo(&customer, &case.id, photo())
        .await
        .unwrap();
    let (case, check) = cases
        .confirm_data(&customer, &case.id, &confirmed())
        .await
        .unwrap();
    assert!(check.is_match());
    assert_eq!(case.state, CaseState::Prepared);
    (case.id, customer, link.token)
}

pub async fn agent(cases: &Cases, name: &str, role: Role) -> Actor {
    cases
        .add_user(name, role, "a long enough password")
        .await
        .unwrap();
    let login = cases.login(name, "a long enough password").await.unwrap();
    let user = cases.authenticate(&login.token).await.unwrap();
    Actor::staff(&user)
}

fn tan_code(text: &str) -> String {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(5))
        .find(|i| b[*i..*i + 6].iter().all(u8::is_ascii_digit))
        .map(|i| text[i..i + 6].to_string())
        .expect("a six-digit code in the sms")
}

fn event_types(trail: &[AuditEntry]) -> Vec<String> {
    trail
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.event).unwrap();
            v["type"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The whole journey of one case, with the refusals along the way.
pub async fn full_flow(store: Arc<dyn Store>, dir: &Path) {
    let clock = Arc::new(TestClock::new(OPEN));
    let cases = service(store.clone(), clock.clone(), dir, CasesConfig::default());
    let ordering = Actor::ordering_system();

    // Creation, idempotent replay, conflicting replay.
    let link = cases
        .create_case(&ordering, &new_case(1), Some("order-1"))
        .await
        .unwrap();
    assert!(!link.replayed);
    assert_eq!(link.case.state, CaseState::Created);
    assert_eq!(link.case.expires_at, datetime!(2026-01-16 11:00 +1));
    let again = cases
        .create_case(&ordering, &new_case(1), Some("order-1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.case.id, link.case.id);
    assert_ne!(again.token, link.token);
    assert!(matches!(
        cases
            .create_case(&ordering, &new_case(2), Some("order-1"))
            .await,
        Err(CasesError::IdempotencyConflict)
    ));
    assert!(matches!(
        cases
            .create_case(&Actor::customer("x"), &new_case(3), None)
            .await,
        Err(CasesError::Forbidden { .. })
    ));
    let id = link.case.id.clone();
    let (customer, _) = cases.customer(&link.token).await.unwrap();
    let (customer2, _) = cases.customer(&again.token).await.unwrap();
    assert_eq!(customer, customer2, "both tokens lead to the case");
    assert!(matches!(
        cases.customer("nope").await,
        Err(CasesError::NotFound(_))
    ));

    // Preparation: a mismatch first, explained.
    cases.upload_photo(&customer, &id, photo()).await.unwrap();
    let mut wrong = confirmed();
    wrong.name = "Novak Janez".into();
    let (case, check) = cases.confirm_data(&customer, &id, &wrong).await.unwrap();
    assert_eq!(case.state, CaseState::Created);
    assert_eq!(check.name, vec![NameDifference::WordOrder]);
    assert!(check.explain(Lang::En)[0].contains("order"));
    let (case, _) = cases
        .confirm_data(&customer, &id, &confirmed())
        .await
        .unwrap();
    assert_eq!(case.state, CaseState::Prepared);

    // Staff.
    let agent = agent(&cases, "ana", Role::Agent).await;
    let other = self::agent(&cases, "bor", Role::Agent).await;
    let compliance = self::agent(&cases, "cene", Role::Compliance).await;
    cases
        .set_availability(&agent, AgentStatus::Available)
        .await
        .unwrap();
    assert!(matches!(
        cases
            .set_availability(&compliance, AgentStatus::Available)
            .await,
        Err(CasesError::PermissionDenied { .. })
    ));

    // Outside hours the queue is closed and says when it opens.
    clock.set(datetime!(2026-01-15 18:00 +1));
    match cases.join_queue(&customer, &id).await {
        Err(CasesError::QueueClosed { next_opening }) => {
            assert_eq!(next_opening, datetime!(2026-01-16 10:00 +1));
            assert_eq!(
                next_opening.offset().whole_hours(),
                1,
                "local time for the message"
            );
        }
        other => panic!("{other:?}"),
    }
    clock.set(OPEN);

    let ticket = cases.join_queue(&customer, &id).await.unwrap();
    assert_eq!(ticket.place.position, 1);
    assert_eq!(
        ticket.place.estimated_wait_secs,
        Some(0),
        "an agent is free"
    );
    assert!(matches!(
        cases.join_queue(&customer, &id).await,
        Err(CasesError::InvalidState { .. })
    ));
    assert!(matches!(
        cases.take_next(&other).await,
        Err(CasesError::AgentUnavailable("not available"))
    ));

    // The call.
    clock.advance(Duration::minutes(2));
    let case = cases.take_next(&agent).await.unwrap().expect("a customer");
    assert_eq!((case.state, case.attempts), (CaseState::InCall, 1));
    assert!(matches!(
        cases.take_next(&agent).await,
        Err(CasesError::AgentUnavailable("in a call"))
    ));
    cases
        .set_availability(&other, AgentStatus::Available)
        .await
        .unwrap();
    assert!(
        cases.take_next(&other).await.unwrap().is_none(),
        "nobody else waits"
    );
    assert!(matches!(
        cases.start_checks(&other, &id).await,
        Err(CasesError::NotAssigned)
    ));
    cases.start_checks(&agent, &id).await.unwrap();
    for answer in [
        CheckAnswer::AloneInRoom {
            room_shown: true,
            nobody_else_seen_or_heard: true,
            observation: "quiet room".into(),
        },
        CheckAnswer::Intent {
            answers: default_questions()
                .into_iter()
                .map(|q| IntentAnswer {
                    question_id: q.id,
                    answer: "yes, my own decision".into(),
                    acceptable: true,
                })
                .collect(),
            observation: "relaxed, answered directly".into(),
        },
        CheckAnswer::FaceMatchesDocument {
            matches: true,
            observation: String::new(),
        },
        CheckAnswer::DocumentFront {
            shown: true,
            security_features_ok: true,
            observation: "hologram tilts".into(),
        },
        CheckAnswer::DocumentBack {
            shown: true,
            security_features_ok: true,
            observation: String::new(),
        },
    ] {
        cases.record_check(&agent, &id, answer).await.unwrap();
    }
    assert!(matches!(
        cases.approve(&agent, &id).await,
        Err(CasesError::ChecklistIncomplete(m)) if m == vec![CheckItem::Tan]
    ));
    cases.send_tan(&agent, &id).await.unwrap();
    let outbox = OutboxSms::read(&dir.join("outbox/sms.jsonl")).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to, "+38641123456");
    let code = tan_code(&outbox[0].text);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(
        cases.verify_tan(&agent, &id, wrong).await.unwrap(),
        TanOutcome::Wrong { attempts_left: 2 }
    );
    assert_eq!(
        cases.verify_tan(&agent, &id, &code).await.unwrap(),
        TanOutcome::Accepted
    );
    clock.advance(Duration::minutes(3));
    let case = cases.approve(&agent, &id).await.unwrap();
    assert_eq!(case.state, CaseState::Approved);
    assert!(case.is_final());

    // Agent free again, handling time recorded.
    let agents = cases.agents(&agent).await.unwrap();
    assert!(
        agents.iter().all(|a| a.status == AgentStatus::Available),
        "{agents:?}"
    );
    assert_eq!(
        store.recent_handling_times(10).await.unwrap(),
        vec![Duration::minutes(3)]
    );

    // The webhook outbox.
    let hooks = store.webhooks(&id).await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].event, "case.approved");
    let payload: serde_json::Value = serde_json::from_str(&hooks[0].payload).unwrap();
    assert_eq!(payload["id"], hooks[0].id.as_str());
    assert_eq!(payload["esign_url"], "https://sign.example/c/1");
    let now = cases.now();
    let claimed = store
        .claim_webhooks(now, Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        store
            .claim_webhooks(now, Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let retry = now + vidid_cases::webhook::backoff(1);
    store
        .webhook_failed(&claimed[0].id, "http 500", Some(retry))
        .await
        .unwrap();
    assert!(
        store
            .claim_webhooks(now, Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_webhooks(retry, Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed[0].attempts, 2);
    store
        .webhook_delivered(&claimed[0].id, retry)
        .await
        .unwrap();
    assert!(
        store
            .claim_webhooks(retry + Duration::hours(1), Duration::seconds(30), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Evidence: permissions, logging, verification, export.
    assert!(matches!(
        cases
            .access_evidence(&agent, &id, Some("rec_1"), EvidenceAccess::Play, None)
            .await,
        Err(CasesError::PermissionDenied { .. })
    ));
    assert!(matches!(
        cases.audit_trail(&agent, &id).await,
        Err(CasesError::PermissionDenied { .. })
    ));
    cases
        .access_evidence(&compliance, &id, Some("rec_1"), EvidenceAccess::Play, None)
        .await
        .unwrap();
    let trail = cases.audit_trail(&compliance, &id).await.unwrap();
    assert_eq!(trail.broken, None);
    let types = event_types(&trail.entries);
    let expected = [
        "case_created",
        "link_reissued",
        "document_photo_uploaded",
        "data_checked",
        "data_checked",
        "state_changed",
        "state_changed",
        "queue_joined",
        "call_taken",
        "state_changed",
        "checks_started",
        "state_changed",
        "check_recorded",
        "check_recorded",
        "check_recorded",
        "check_recorded",
        "check_recorded",
        "tan_sent",
        "tan_wrong",
        "tan_verified",
        "check_recorded",
        "approved",
        "state_changed",
        "evidence_accessed",
        "evidence_accessed",
    ];
    assert_eq!(types, expected);
    let roles: HashSet<Role> = trail.entries.iter().map(|e| e.actor_role).collect();
    assert_eq!(
        roles,
        HashSet::from([
            Role::OrderingSystem,
            Role::Customer,
            Role::Agent,
            Role::Compliance
        ])
    );
    assert!(
        !trail.entries[1..].iter().any(|e| e.event.contains(&code)),
        "the tan never enters the trail"
    );
    let (jsonl, head) = cases.export_audit(&compliance, &id).await.unwrap();
    let exported = parse_jsonl(&jsonl).unwrap();
    assert_eq!(exported.len(), expected.len() + 1, "the export logs itself");
    assert_eq!(verify_chain(&exported, Some(&head)), Ok(()));
    assert!(matches!(
        cases
            .export_audit(
                &Actor::staff(&store.user_by_name("ana").await.unwrap().unwrap()),
                &id
            )
            .await,
        Err(CasesError::PermissionDenied { .. })
    ));
    // A decided case cannot be cancelled, and its link still shows it.
    assert!(matches!(
        cases.cancel(&ordering, &id, "late").await,
        Err(CasesError::InvalidState { .. })
    ));
    let (_, case) = cases.customer(&link.token).await.unwrap();
    assert_eq!(case.state, CaseState::Approved);
}

/// Edits, deletions and reorders made directly in the database are found.
pub async fn tamper(store: Arc<dyn Store>, url: &str, dir: &Path) {
    let clock = Arc::new(TestClock::new(OPEN));
    let cases = service(store.clone(), clock, dir, CasesConfig::default());
    let compliance = agent(&cases, "cene", Role::Compliance).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(prepared(&cases, n).await.0);
    }
    for id in &ids {
        assert_eq!(
            cases.audit_trail(&compliance, id).await.unwrap().broken,
            None
        );
    }
    let mut raw = sqlx::AnyConnection::connect(url).await.unwrap();
    // The append-only trigger refuses edits.
    let refused = sqlx::query("UPDATE audit_entries SET event = 'x' WHERE case_id = $1")
        .bind(&ids[0])
        .execute(&mut raw)
        .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    // Someone with DDL rights removes it.
    let drop = if url.starts_with("sqlite") {
        vec![
            "DROP TRIGGER audit_no_update",
            "DROP TRIGGER audit_no_delete",
        ]
    } else {
        vec!["ALTER TABLE audit_entries DISABLE TRIGGER audit_append_only"]
    };
    for sql in drop {
        sqlx::query(sql).execute(&mut raw).await.unwrap();
    }
    // Edit.
    sqlx::query("UPDATE audit_entries SET event = replace(event, 'MOB-0', 'MOB-9') WHERE case_id = $1 AND seq = 1")
        .bind(&ids[0])
        .execute(&mut raw)
        .await
        .unwrap();
    // Deletion in the middle.
    sqlx::query("DELETE FROM audit_entries WHERE case_id = $1 AND seq = 2")
        .bind(&ids[1])
        .execute(&mut raw)
        .await
        .unwrap();
    // Deletion of the tail.
    sqlx::query("DELETE FROM audit_entries WHERE case_id = $1 AND seq = (SELECT max(seq) FROM audit_entries WHERE case_id = $1)")
        .bind(&ids[2])
        .execute(&mut raw)
        .await
        .unwrap();
    // Reorder: swap the sequence numbers of entries 2 and 3.
    for (from, to) in [(2i64, -1i64), (3, 2), (-1, 3)] {
        sqlx::query("UPDATE audit_entries SET seq = $3 WHERE case_id = $1 AND seq = $2")
            .bind(&ids[3])
            .bind(from)
            .bind(to)
            .execute(&mut raw)
            .await
            .unwrap();
    }
    let broken = |i: usize| {
        let cases = &cases;
        let compliance = &compliance;
        let id = ids[i].clone();
        async move {
            // Read without appending, so the check sees exactly the tampered rows.
            let entries = cases.store().audit(&id).await.unwrap();
            let case = cases.store().case(&id).await.unwrap().unwrap();
            let direct = verify_chain(&entries, Some(&case.audit)).unwrap_err();
            let trail = cases.audit_trail(compliance, &id).await.unwrap();
            assert!(trail.broken.is_some());
            assert!(matches!(
                cases.export_audit(compliance, &id).await,
                Err(CasesError::AuditChain(_))
            ));
            direct
        }
    };
    let b = broken(0).await;
    assert_eq!((b.seq, b.kind), (1, BreakKind::Edited));
    let b = broken(1).await;
    assert_eq!((b.seq, b.kind), (2, BreakKind::Missing));
    let b = broken(2).await;
    assert_eq!(b.kind, BreakKind::Truncated);
    let b = broken(3).await;
    assert_eq!(
        (b.seq, b.kind),
        (2, BreakKind::Edited),
        "entry 2 now holds entry 3's content"
    );
    raw.close().await.unwrap();
}

/// Users, passwords, sessions, roles.
pub async fn users_and_sessions(store: Arc<dyn Store>, dir: &Path) {
    let clock = Arc::new(TestClock::new(OPEN));
    let cases = service(store.clone(), clock.clone(), dir, CasesConfig::default());
    let user = cases
        .add_user("ana", Role::Agent, "a long enough password")
        .await
        .unwrap();
    assert!(user.id.starts_with("us_"));
    assert!(matches!(
        cases
            .add_user("ana", Role::Admin, "another long password")
            .await,
        Err(CasesError::UserExists(_))
    ));
    assert!(matches!(
        cases
            .add_user("x", Role::Customer, "a long enough password")
            .await,
        Err(CasesError::InvalidInput { field: "role", .. })
    ));
    assert!(matches!(
        cases.add_user("bob", Role::Agent, "short").await,
        Err(CasesError::InvalidInput {
            field: "password",
            ..
        })
    ));
    let stored = store.user_by_name("ana").await.unwrap().unwrap();
    assert!(
        serde_json::to_string(&stored)
            .unwrap()
            .find("argon2")
            .is_none(),
        "hash not serialised"
    );
    assert!(matches!(
        cases.login("ana", "wrong password!").await,
        Err(CasesError::BadCredentials)
    ));
    assert!(matches!(
        cases.login("nobody", "a long enough password").await,
        Err(CasesError::BadCredentials)
    ));
    let login = cases.login("ana", "a long enough password").await.unwrap();
    assert_eq!(cases.authenticate(&login.token).await.unwrap().id, user.id);
    assert!(matches!(
        cases.authenticate("forged").await,
        Err(CasesError::SessionInvalid)
    ));
    // Expiry.
    clock.advance(Duration::hours(12));
    assert!(matches!(
        cases.authenticate(&login.token).await,
        Err(CasesError::SessionInvalid)
    ));
    // Logout, password change and disabling end sessions.
    let login = cases.login("ana", "a long enough password").await.unwrap();
    cases.logout(&login.token).await.unwrap();
    assert!(cases.authenticate(&login.token).await.is_err());
    let login = cases.login("ana", "a long enough password").await.unwrap();
    cases
        .set_password("ana", "a brand new password")
        .await
        .unwrap();
    assert!(cases.authenticate(&login.token).await.is_err());
    assert!(cases.login("ana", "a long enough password").await.is_err());
    let login = cases.login("ana", "a brand new password").await.unwrap();
    cases.set_disabled("ana", true).await.unwrap();
    assert!(cases.authenticate(&login.token).await.is_err());
    assert!(matches!(
        cases.login("ana", "a brand new password").await,
        Err(CasesError::BadCredentials)
    ));
    cases.set_disabled("ana", false).await.unwrap();
    cases.login("ana", "a brand new password").await.unwrap();
    // Role limits at the service.
    let compliance = agent(&cases, "cene", Role::Compliance).await;
    assert!(matches!(
        cases.take_next(&compliance).await,
        Err(CasesError::PermissionDenied { .. })
    ));
    let admin = agent(&cases, "dora", Role::Admin).await;
    assert!(cases.queue(&admin).await.is_ok());
    assert!(matches!(
        cases.audit_trail(&admin, "cs_x").await,
        Err(CasesError::PermissionDenied { .. })
    ));
    assert_eq!(store.users().await.unwrap().len(), 3);
}

/// Queue limits, grace period, maximum wait, link expiry: the sweeper's work.
pub async fn queue_rules(store: Arc<dyn Store>, dir: &Path) {
    let clock = Arc::new(TestClock::new(OPEN));
    let mut cfg = CasesConfig::default();
    cfg.queue.max_length = 3;
    cfg.queue.default_handling_secs = 600;
    cfg.queue.max_wait_secs = 1500;
    let cases = service(store.clone(), clock.clone(), dir, cfg);
    let agent = agent(&cases, "ana", Role::Agent).await;
    let mut c = Vec::new();
    for n in 0..5 {
        c.push(prepared(&cases, n).await);
    }
    // Nobody on duty: no estimate, joining allowed.
    let t0 = cases.join_queue(&c[0].1, &c[0].0).await.unwrap();
    assert_eq!(t0.place.estimated_wait_secs, None);
    cases
        .set_availability(&agent, AgentStatus::Paused)
        .await
        .unwrap();
    let t1 = cases.join_queue(&c[1].1, &c[1].0).await.unwrap();
    assert_eq!(t1.place.position, 2);
    // One agent on duty, busy elsewhere? Available: position 3 waits 1 round (600 s) + …
    cases
        .set_availability(&agent, AgentStatus::Available)
        .await
        .unwrap();
    let t2 = cases.join_queue(&c[2].1, &c[2].0).await.unwrap();
    assert_eq!(t2.place.position, 3);
    assert_eq!(t2.place.estimated_wait_secs, Some(1200));
    match cases.join_queue(&c[3].1, &c[3].0).await {
        Err(CasesError::QueueFull { max_length: 3 }) => {}
        other => panic!("{other:?}"),
    }
    // The estimate limit: with 3 waiting and room for 4, position 4 would wait 1800 s > 1500 s.
    let mut cfg = CasesConfig::default();
    cfg.queue.max_length = 4;
    cfg.queue.default_handling_secs = 600;
    cfg.queue.max_wait_secs = 1500;
    let wider = service(store.clone(), clock.clone(), dir, cfg);
    match wider.join_queue(&c[3].1, &c[3].0).await {
        Err(e @ CasesError::WaitTooLong { .. }) => {
            assert_eq!(
                e.to_string(),
                "the estimated wait of 30 minutes exceeds the maximum of 25 minutes"
            )
        }
        other => panic!("{other:?}"),
    }
    // Disconnect keeps the place; the agent gets the next connected customer.
    cases
        .disconnected(&Actor::system("ws"), &c[0].0)
        .await
        .unwrap();
    let places = cases.queue(&agent).await.unwrap();
    assert_eq!(
        places
            .iter()
            .map(|p| (p.position, p.connected))
            .collect::<Vec<_>>(),
        vec![(1, false), (2, true), (3, true)]
    );
    let taken = cases.take_next(&agent).await.unwrap().unwrap();
    assert_eq!(taken.id, c[1].0);
    assert_eq!(
        cases.queue_place(&c[0].0).await.unwrap().unwrap().position,
        1,
        "kept its place"
    );
    assert_eq!(
        cases.queue_place(&c[2].0).await.unwrap().unwrap().position,
        2
    );
    // Wrong token, then back within the grace period.
    clock.advance(Duration::seconds(60));
    assert!(matches!(
        cases.rejoin(&c[0].1, &c[0].0, "wrong").await,
        Err(CasesError::RejoinRefused)
    ));
    let place = cases
        .rejoin(&c[0].1, &c[0].0, &t0.rejoin_token)
        .await
        .unwrap();
    assert_eq!((place.position, place.connected), (1, true));
    // Dropped again and too late.
    cases.disconnected(&c[0].1, &c[0].0).await.unwrap();
    clock.advance(Duration::seconds(121));
    assert!(matches!(
        cases.rejoin(&c[0].1, &c[0].0, &t0.rejoin_token).await,
        Err(CasesError::RejoinTooLate(_))
    ));
    let report = cases.sweep().await.unwrap();
    assert_eq!(report.dropped, vec![c[0].0.clone()]);
    assert_eq!(
        cases.case(&c[0].1, &c[0].0).await.unwrap().state,
        CaseState::Prepared
    );
    // Maximum wait.
    clock.advance(Duration::seconds(1500));
    let report = cases.sweep().await.unwrap();
    assert_eq!(report.dropped, vec![c[2].0.clone()]);
    assert!(cases.queue(&agent).await.unwrap().is_empty());
    // Link expiry: the unqueued cases expire after 24 counted hours; the one in a call does not.
    clock.set(datetime!(2026-01-16 11:00:01 +1));
    assert!(matches!(
        cases.customer(&c[4].2).await,
        Err(CasesError::LinkExpired(_))
    ));
    let mut report = cases.sweep().await.unwrap();
    report.expired.sort();
    let mut want: Vec<String> = [0, 2, 3, 4].iter().map(|i| c[*i].0.clone()).collect();
    want.sort();
    assert_eq!(report.expired, want);
    assert_eq!(
        cases.case(&agent, &c[1].0).await.unwrap().state,
        CaseState::InCall
    );
    let hooks = store.webhooks(&c[4].0).await.unwrap();
    assert_eq!(hooks[0].event, "case.expired");
    assert!(
        cases.sweep().await.unwrap().expired.is_empty(),
        "nothing twice"
    );
    // A connection lost during the call aborts it; the customer may repeat (but not on an
    // expired link).
    let case = cases
        .abort(
            &Actor::system("ws"),
            &c[1].0,
            AbortReason::ConnectionLost,
            "ice failed",
        )
        .await
        .unwrap();
    assert_eq!((case.state, case.retries_left()), (CaseState::Aborted, 2));
    assert!(matches!(
        cases.join_queue(&c[1].1, &c[1].0).await,
        Err(CasesError::LinkExpired(_))
    ));
}

/// Two store instances (as two processes) share one queue with many customers and agents.
pub async fn two_processes(a: Arc<dyn Store>, b: Arc<dyn Store>, cross_events: bool, dir: &Path) {
    const CUSTOMERS: usize = 40;
    const AGENTS: usize = 6;
    let clock = Arc::new(TestClock::new(OPEN));
    let mut cfg = CasesConfig::default();
    cfg.queue.max_length = 100;
    cfg.queue.max_wait_secs = 86_400;
    let ca = Arc::new(service(a.clone(), clock.clone(), dir, cfg.clone()));
    let cb = Arc::new(service(b.clone(), clock.clone(), dir, cfg));
    let mut events_b = b.queue_events();

    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let svc = if i % 2 == 0 { &ca } else { &cb };
        let actor = agent(svc, &format!("agent{i}"), Role::Agent).await;
        svc.set_availability(&actor, AgentStatus::Available)
            .await
            .unwrap();
        agents.push(actor);
    }
    let mut customers = Vec::new();
    for n in 0..CUSTOMERS {
        customers.push(prepared(if n % 2 == 0 { &ca } else { &cb }, n).await);
    }
    // Everyone joins at once, through both processes.
    let mut joins = Vec::new();
    for (n, (id, actor, _)) in customers.iter().cloned().enumerate() {
        let svc = if n % 2 == 0 { ca.clone() } else { cb.clone() };
        joins.push(tokio::spawn(async move {
            let t = svc.join_queue(&actor, &id).await.unwrap();
            (id, t)
        }));
    }
    let mut tickets = HashMap::new();
    for j in joins {
        let (id, t) = j.await.unwrap();
        tickets.insert(id, t);
    }
    // Both processes see the same queue, positions 1..n, each customer once.
    let qa = ca.queue(&agents[0]).await.unwrap();
    let qb = cb.queue(&agents[1]).await.unwrap();
    assert_eq!(qa, qb);
    assert_eq!(
        qa.iter().map(|p| p.position).collect::<Vec<_>>(),
        (1..=CUSTOMERS as u32).collect::<Vec<_>>()
    );
    let order: Vec<String> = qa.iter().map(|p| p.case_id.clone()).collect();
    assert_eq!(order.iter().collect::<HashSet<_>>().len(), CUSTOMERS);
    // (A ticket's position is a snapshot taken after its own commit; with joins committing
    // concurrently two tickets may show the same number for a moment. The queue itself, above,
    // is what must be consistent; listeners re-read it on every event.)
    assert!(
        tickets
            .values()
            .all(|t| (1..=CUSTOMERS as u32).contains(&t.place.position))
    );
    if cross_events {
        // B heard about the joins made through A.
        let via_a: HashSet<String> = customers.iter().step_by(2).map(|c| c.0.clone()).collect();
        let mut heard = HashSet::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while heard.len() < via_a.len() {
            match tokio::time::timeout_at(deadline, events_b.recv()).await {
                Ok(Ok(ev)) if ev.kind == "joined" && via_a.contains(&ev.case_id) => {
                    heard.insert(ev.case_id);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("{e}"),
                Err(_) => panic!(
                    "only {} of {} joins were notified across processes",
                    heard.len(),
                    via_a.len()
                ),
            }
        }
    }

    // The customer in third place drops; their place is kept and nobody takes them.
    let dropped = order[2].clone();
    let dropped_actor = Actor::customer(&dropped);
    ca.disconnected(&dropped_actor, &dropped).await.unwrap();

    let taken: Arc<Mutex<Vec<String>>> = Arc::default();
    let run_agents = |limit: usize| {
        let mut tasks = Vec::new();
        for (i, actor) in agents.iter().cloned().enumerate() {
            let svc = if i % 2 == 0 { ca.clone() } else { cb.clone() };
            let taken = taken.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    if taken.lock().unwrap().len() >= limit {
                        break;
                    }
                    let Some(case) = svc.take_next(&actor).await.unwrap() else {
                        break;
                    };
                    assert_eq!(case.agent_id.as_deref(), Some(actor.id()));
                    taken.lock().unwrap().push(case.id.clone());
                    tokio::task::yield_now().await;
                    svc.abort(&actor, &case.id, AbortReason::BadSound, "test")
                        .await
                        .unwrap();
                }
            }));
        }
        tasks
    };
    for t in run_agents(20) {
        t.await.unwrap();
    }
    let first: Vec<String> = taken.lock().unwrap().clone();
    assert!(first.len() >= 20);
    assert!(
        !first.contains(&dropped),
        "a disconnected customer is never handed out"
    );
    // The remaining queue keeps the original order, the dropped customer first.
    let rest = ca.queue(&agents[0]).await.unwrap();
    let want: Vec<&String> = order.iter().filter(|id| !first.contains(id)).collect();
    assert_eq!(rest.iter().map(|p| &p.case_id).collect::<Vec<_>>(), want);
    assert_eq!(rest[0].case_id, dropped);
    assert_eq!(
        rest.iter().map(|p| p.position).collect::<Vec<_>>(),
        (1..=want.len() as u32).collect::<Vec<_>>()
    );

    // Back within the grace period through the other process: same place.
    clock.advance(Duration::seconds(60));
    let place = cb
        .rejoin(&dropped_actor, &dropped, &tickets[&dropped].rejoin_token)
        .await
        .unwrap();
    assert_eq!((place.position, place.connected), (1, true));

    // Another one drops and misses the grace period: the place is given up.
    let late = rest.last().unwrap().case_id.clone();
    let late_actor = Actor::customer(&late);
    cb.disconnected(&late_actor, &late).await.unwrap();
    clock.advance(Duration::seconds(121));
    assert!(matches!(
        ca.rejoin(&late_actor, &late, &tickets[&late].rejoin_token)
            .await,
        Err(CasesError::RejoinTooLate(_))
    ));
    assert_eq!(cb.sweep().await.unwrap().dropped, vec![late.clone()]);

    for t in run_agents(usize::MAX) {
        t.await.unwrap();
    }
    let all = taken.lock().unwrap().clone();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "a customer was taken twice: {all:?}"
    );
    assert_eq!(all.len(), CUSTOMERS - 1, "everyone but the late one");
    assert!(!all.contains(&late));
    let second = &all[first.len()..];
    assert!(
        second[..AGENTS].contains(&dropped),
        "the rejoined customer went first: {second:?}"
    );
    assert!(ca.queue(&agents[0]).await.unwrap().is_empty());
    // Each case was taken exactly once, by one agent, and its trail verifies.
    for id in &all {
        let entries = a.audit(id).await.unwrap();
        let takes = entries
            .iter()
            .filter(|e| e.event.contains("\"call_taken\""))
            .count();
        assert_eq!(takes, 1, "{id}");
        let case = b.case(id).await.unwrap().unwrap();
        assert_eq!((case.state, case.attempts), (CaseState::Aborted, 1));
        assert_eq!(verify_chain(&entries, Some(&case.audit)), Ok(()));
    }
    let agents_now = b.agents().await.unwrap();
    assert!(
        agents_now
            .iter()
            .all(|s| s.status == AgentStatus::Available && s.case_id.is_none())
    );
    assert_eq!(
        a.recent_handling_times(1000).await.unwrap().len(),
        CUSTOMERS - 1
    );
}

#[allow(unused_imports)]
pub use vidid_cases::testing::Postgres;

/// Media nodes register and are picked by load; a call placed on a node that dies puts its
/// customer back at the head of the queue, with the same rejoin token; the bus reaches every
/// store instance (`cross` stores on one database: other processes).
pub async fn cluster(a: Arc<dyn Store>, b: Arc<dyn Store>, dir: &Path) {
    use vidid_cases::cluster::{BusMsg, CallAssignment, MediaNode, pick_node};
    let clock = Arc::new(TestClock::new(OPEN));
    let cases = service(a.clone(), clock.clone(), dir, CasesConfig::default());
    let now = clock.now();

    // Registry: heartbeats upsert; the least loaded live node wins.
    for (id, calls) in [("m1", 3), ("m2", 1)] {
        a.heartbeat_node(&MediaNode {
            id: id.into(),
            public_url: format!("https://{id}.example:8443"),
            capacity: 10,
            calls,
            draining: false,
            started_at: now,
            heartbeat_at: now,
        })
        .await
        .unwrap();
    }
    let nodes = b.media_nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(
        pick_node(&nodes, now, Duration::seconds(15)).unwrap().id,
        "m2"
    );
    let mut m2 = nodes[1].clone();
    m2.draining = true;
    b.heartbeat_node(&m2).await.unwrap();
    let nodes = a.media_nodes().await.unwrap();
    assert_eq!(
        pick_node(&nodes, now, Duration::seconds(15)).unwrap().id,
        "m1",
        "a draining node takes no new calls"
    );

    // Two customers queue; the first is taken and placed on m1.
    let ana = agent(&cases, "ana", Role::Agent).await;
    cases
        .set_availability(&ana, AgentStatus::Available)
        .await
        .unwrap();
    let (first, c1, _) = prepared(&cases, 1).await;
    let ticket = cases.join_queue(&c1, &first).await.unwrap();
    let (second, c2, _) = prepared(&cases, 2).await;
    cases.join_queue(&c2, &second).await.unwrap();
    let taken = cases.take_next(&ana).await.unwrap().unwrap();
    assert_eq!(taken.id, first);
    let call_id = format!("{first}-1");
    a.assign_call(&CallAssignment {
        call_id: call_id.clone(),
        case_id: first.clone(),
        node_id: "m1".into(),
        created_at: now,
        expires_at: now + Duration::hours(1),
        ended_at: None,
    })
    .await
    .unwrap();
    assert_eq!(b.open_assignments(Some("m1")).await.unwrap().len(), 1);
    assert_eq!(b.open_assignments(Some("m2")).await.unwrap().len(), 0);
    assert_eq!(b.open_assignments(None).await.unwrap().len(), 1);
    assert_eq!(
        cases.queue(&ana).await.unwrap()[0].case_id,
        second,
        "the second customer is next"
    );

    // m1 dies: the first customer is back at the head, the attempt not counted.
    let case = cases
        .requeue_after_node_failure(&first, "media node m1 stopped heartbeating")
        .await
        .unwrap();
    assert_eq!(case.state, CaseState::Queued);
    assert_eq!((case.attempts, case.max_attempts), (1, 4));
    let queue = cases.queue(&ana).await.unwrap();
    assert_eq!(
        queue.iter().map(|p| p.case_id.as_str()).collect::<Vec<_>>(),
        [first.as_str(), second.as_str()]
    );
    assert!(b.end_assignment(&call_id, now).await.unwrap());
    assert!(!a.end_assignment(&call_id, now).await.unwrap(), "once");
    assert!(b.open_assignments(None).await.unwrap().is_empty());
    // The old rejoin token still holds the place.
    cases.disconnected(&c1, &first).await.unwrap();
    cases
        .rejoin(&c1, &first, &ticket.rejoin_token)
        .await
        .unwrap();
    assert_eq!(
        cases.queue_place(&first).await.unwrap().unwrap().position,
        1
    );
    // The agent is free again; the trail says what happened.
    let agents = cases.agents(&ana).await.unwrap();
    assert_eq!(agents[0].status, AgentStatus::Available);
    let trail = cases
        .audit_trail(&agent(&cases, "cene", Role::Compliance).await, &first)
        .await
        .unwrap();
    assert!(trail.broken.is_none());
    assert!(event_types(&trail.entries).contains(&"requeued".to_string()));
    // Taken again: attempt 2, a fresh recording id.
    let again = cases.take_next(&ana).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (first.as_str(), 2));

    // The bus reaches both instances.
    let mut rx_a = a.bus();
    let mut rx_b = b.bus();
    let msg = BusMsg {
        topic: "test".into(),
        payload: serde_json::json!({"hello": 1}),
    };
    b.publish(&msg).await.unwrap();
    for rx in [&mut rx_a, &mut rx_b] {
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("bus message within 5 s")
            .unwrap();
        assert_eq!(got, msg);
    }
    a.remove_node("m2").await.unwrap();
    assert_eq!(b.media_nodes().await.unwrap().len(), 1);
}
