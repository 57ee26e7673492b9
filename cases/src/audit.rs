//! The evidence trail: an append-only, hash-chained log per case.
//!
//! Every entry records who (actor role and id), when (microsecond UTC), and what (an
//! [`AuditEvent`] as compact JSON text). Entry `n` (1-based `seq`) carries the SHA-256 of entry
//! `n − 1` (`prev_hash`; 64 zeros for the first) and its own `hash`, computed over
//!
//! ```text
//! "vidid-audit-v1\n" then, for each of case_id, seq, at, actor_role, actor_id, event, prev_hash:
//!     <byte length in decimal> ":" <UTF-8 bytes> "\n"
//! ```
//!
//! where `seq` is decimal and `at` is RFC 3339 in UTC with six fractional digits
//! (`2026-01-15T09:00:00.000000Z`). The event text is hashed exactly as stored, never
//! re-serialised, so a verifier in any language needs only SHA-256 and this paragraph.
//!
//! [`verify_chain`] finds an edited entry (its hash no longer matches), a deleted or reordered
//! one (sequence numbers or links break), and a truncated tail (the case row keeps the number of
//! entries and the last hash, see [`ChainHead`]). What a chain cannot show alone is a
//! consistent rewrite of the whole log and head by someone with write access to the database:
//! that is why the export ([`export_jsonl`]) goes into the write-once recording vault with the
//! recording, where the chain head is fixed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::CasesError;
use crate::case::{Customer, SnapshotKind};
use crate::matching::DataCheck;
use crate::users::Actor;
use crate::vocabulary::{AbortReason, CaseState, CheckAnswer, CheckItem, Role};
pub use crate::vocabulary::{BreakKind, ChainBreak, ChainHead, GENESIS};

/// What happened. Serialised as `{"type": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditEvent {
    /// The ordering system created the case: the identity to be established is evidence too.
    CaseCreated {
        contract_ref: String,
        customer: Customer,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    /// An idempotent replay of the creation issued another link token.
    LinkReissued,
    /// The case changed state.
    StateChanged { from: CaseState, to: CaseState },
    /// The customer uploaded the ID photo (stored elsewhere, by reference).
    DocumentPhotoUploaded {
        object_id: String,
        content_type: String,
        bytes: u64,
        sha256: String,
    },
    /// The customer's confirmed data was compared with the case.
    DataChecked { matches: bool, check: DataCheck },
    /// Entered the queue.
    QueueJoined,
    /// Left the queue by choice.
    QueueLeft,
    /// The customer's connection dropped while queued; the place is kept for the grace period.
    QueueDisconnected,
    /// The customer came back within the grace period.
    QueueRejoined,
    /// Removed from the queue by the system (`disconnected`, `max_wait`).
    QueueDropped { reason: String },
    /// An agent took the customer from the queue; attempt number `attempt`.
    CallTaken { agent_id: String, attempt: u32 },
    /// The agent began the checklist.
    ChecksStarted,
    /// A checklist answer (replaces an earlier answer to the same item).
    CheckRecorded {
        item: CheckItem,
        passed: bool,
        answer: CheckAnswer,
    },
    /// A TAN was sent (`to` is masked; the code is never logged).
    TanSent {
        to: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
        send: u32,
    },
    /// The TAN could not be handed to the SMS gateway.
    TanSendFailed { error: String },
    /// The code read back was right.
    TanVerified,
    /// The code read back was wrong.
    TanWrong { attempts_left: u32 },
    /// A code was entered after the TAN expired.
    TanExpired,
    /// Too many wrong codes; the TAN is void.
    TanLocked,
    /// The agent approved the identification.
    Approved,
    /// The agent rejected the identification.
    Rejected { reason: String },
    /// The attempt was interrupted.
    Aborted {
        reason: AbortReason,
        note: String,
        attempt: u32,
        retries_left: u32,
    },
    /// A copy of the trail up to the entry before this one was sealed into the vault.
    TrailSealed {
        object_id: String,
        entries: u64,
        head_hash: String,
        sha256: String,
    },
    /// The call's media node failed; back at the head of the queue, the attempt not counted.
    Requeued { note: String, attempt: u32 },
    /// The link expired before the identification.
    Expired,
    /// The ordering system cancelled the case.
    Cancelled { reason: String },
    /// Someone opened, played, exported or verified the recording or the evidence.
    EvidenceAccessed {
        recording_id: Option<String>,
        access: String,
        /// Why, as the staff member stated it (entries written before purposes were asked
        /// for have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        purpose: Option<String>,
    },
    /// The agent took a snapshot of the call (face, document front or back), stored
    /// encrypted by reference.
    SnapshotTaken {
        kind: SnapshotKind,
        object_id: String,
        content_type: String,
        bytes: u64,
        sha256: String,
    },
}

/// One entry of a case's trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub case_id: String,
    /// 1-based position in the case's trail.
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor_role: Role,
    pub actor_id: String,
    /// The [`AuditEvent`] as compact JSON, exactly as hashed.
    pub event: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The event, parsed.
    pub fn event(&self) -> Result<AuditEvent, CasesError> {
        serde_json::from_str(&self.event)
            .map_err(|e| CasesError::Corrupt(format!("audit event {}: {e}", self.seq)))
    }

    /// The hash this entry should carry.
    pub fn compute_hash(&self) -> String {
        entry_hash(
            &self.case_id,
            self.seq,
            self.at,
            self.actor_role,
            &self.actor_id,
            &self.event,
            &self.prev_hash,
        )
    }
}

/// RFC 3339 UTC with six fractional digits.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn entry_hash(
    case_id: &str,
    seq: u64,
    at: OffsetDateTime,
    role: Role,
    actor_id: &str,
    event: &str,
    prev: &str,
) -> String {
    let mut buf = Vec::with_capacity(256 + event.len());
    buf.extend_from_slice(b"vidid-audit-v1\n");
    let seq = seq.to_string();
    let at = format_time(at);
    for field in [case_id, &seq, &at, role.as_str(), actor_id, event, prev] {
        buf.extend_from_slice(field.len().to_string().as_bytes());
        buf.push(b':');
        buf.extend_from_slice(field.as_bytes());
        buf.push(b'\n');
    }
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &buf))
}

/// Builds the entry that follows `head` (the store calls this inside its transaction).
pub fn next_entry(
    case_id: &str,
    head: &ChainHead,
    at: OffsetDateTime,
    actor: &Actor,
    event: &AuditEvent,
) -> Result<AuditEntry, CasesError> {
    let event = serde_json::to_string(event)
        .map_err(|e| CasesError::Corrupt(format!("audit event: {e}")))?;
    let mut e = AuditEntry {
        case_id: case_id.to_string(),
        seq: head.len + 1,
        at: crate::clock::truncate(at),
        actor_role: actor.role(),
        actor_id: actor.id().to_string(),
        event,
        prev_hash: head.hash.clone(),
        hash: String::new(),
    };
    e.hash = e.compute_hash();
    Ok(e)
}

/// Verifies a case's whole trail, in the order given; `head`, when known (from the case),
/// also catches removed trailing entries. See the module docs.
pub fn verify_chain(entries: &[AuditEntry], head: Option<&ChainHead>) -> Result<(), ChainBreak> {
    let mut prev = GENESIS.to_string();
    let case_id = entries.first().map(|e| e.case_id.as_str()).unwrap_or("");
    for (i, e) in entries.iter().enumerate() {
        let expected = i as u64 + 1;
        if e.case_id != case_id {
            return Err(ChainBreak {
                seq: e.seq,
                kind: BreakKind::WrongCase,
            });
        }
        if e.seq != expected {
            let kind = if e.seq > expected && !entries[i..].iter().any(|x| x.seq == expected) {
                BreakKind::Missing
            } else {
                BreakKind::OutOfOrder
            };
            let seq = if kind == BreakKind::Missing {
                expected
            } else {
                e.seq
            };
            return Err(ChainBreak { seq, kind });
        }
        if e.compute_hash() != e.hash {
            return Err(ChainBreak {
                seq: e.seq,
                kind: BreakKind::Edited,
            });
        }
        if e.prev_hash != prev {
            return Err(ChainBreak {
                seq: e.seq,
                kind: BreakKind::BrokenLink,
            });
        }
        prev = e.hash.clone();
    }
    if let Some(h) = head {
        let len = entries.len() as u64;
        if len < h.len || (len == h.len && prev != h.hash) {
            return Err(ChainBreak {
                seq: len,
                kind: BreakKind::Truncated,
            });
        }
        if len > h.len {
            // More entries than the head records: the extra ones were added outside the store.
            return Err(ChainBreak {
                seq: h.len + 1,
                kind: BreakKind::BrokenLink,
            });
        }
    }
    Ok(())
}

/// The trail as JSON lines (one [`AuditEntry`] per line), for the recording vault.
pub fn export_jsonl(entries: &[AuditEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        // Serialising plain strings and numbers cannot fail.
        if let Ok(line) = serde_json::to_string(e) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Reads an export back (for re-verification); blank lines are skipped.
pub fn parse_jsonl(text: &str) -> Result<Vec<AuditEntry>, CasesError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| CasesError::Corrupt(format!("audit export line {}: {e}", i + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn chain(n: usize) -> (Vec<AuditEntry>, ChainHead) {
        let actor = Actor::system("test");
        let mut head = ChainHead::default();
        let mut out = Vec::new();
        for i in 0..n {
            let e = next_entry(
                "cs_1",
                &head,
                datetime!(2026-01-15 09:00 UTC) + time::Duration::seconds(i as i64),
                &actor,
                &AuditEvent::QueueDropped {
                    reason: format!("r{i}"),
                },
            )
            .unwrap();
            head = ChainHead {
                len: e.seq,
                hash: e.hash.clone(),
            };
            out.push(e);
        }
        (out, head)
    }

    #[test]
    fn intact_chain_verifies_and_round_trips() {
        let (c, head) = chain(5);
        assert_eq!(verify_chain(&c, Some(&head)), Ok(()));
        let text = export_jsonl(&c);
        assert_eq!(text.lines().count(), 5);
        let back = parse_jsonl(&text).unwrap();
        assert_eq!(back, c);
        assert_eq!(verify_chain(&back, Some(&head)), Ok(()));
        assert_eq!(c[0].prev_hash, GENESIS);
        assert_eq!(format_time(c[0].at), "2026-01-15T09:00:00.000000Z");
    }

    #[test]
    fn edit_is_detected() {
        let (mut c, head) = chain(5);
        c[2].event = c[2].event.replace("r2", "rX");
        let err = verify_chain(&c, Some(&head)).unwrap_err();
        assert_eq!((err.seq, err.kind.clone()), (3, BreakKind::Edited));
        assert_eq!(err.to_string(), "entry 3 was edited");
        // Re-hashing the edited entry breaks the link of the next one.
        c[2].hash = c[2].compute_hash();
        let err = verify_chain(&c, Some(&head)).unwrap_err();
        assert_eq!((err.seq, err.kind), (4, BreakKind::BrokenLink));
        // Other fields are covered too.
        let (mut c, _) = chain(3);
        c[1].actor_id = "someone-else".into();
        assert_eq!(verify_chain(&c, None).unwrap_err().seq, 2);
        let (mut c, _) = chain(3);
        c[0].at += time::Duration::microseconds(1);
        assert_eq!(verify_chain(&c, None).unwrap_err().kind, BreakKind::Edited);
    }

    #[test]
    fn deletion_is_detected() {
        let (mut c, head) = chain(5);
        c.remove(1);
        let err = verify_chain(&c, Some(&head)).unwrap_err();
        assert_eq!((err.seq, err.kind), (2, BreakKind::Missing));
        // The first entry removed.
        let (mut c, head) = chain(3);
        c.remove(0);
        assert_eq!(
            verify_chain(&c, Some(&head)).unwrap_err().kind,
            BreakKind::Missing
        );
        // Tail removed: only the head shows it.
        let (mut c, head) = chain(5);
        c.truncate(3);
        assert_eq!(verify_chain(&c, None), Ok(()));
        let err = verify_chain(&c, Some(&head)).unwrap_err();
        assert_eq!((err.seq, err.kind), (3, BreakKind::Truncated));
    }

    #[test]
    fn reorder_is_detected() {
        let (mut c, head) = chain(5);
        c.swap(1, 3);
        let err = verify_chain(&c, Some(&head)).unwrap_err();
        assert_eq!((err.seq, err.kind), (4, BreakKind::OutOfOrder));
        // Renumbering after a swap breaks the hashes instead.
        c[1].seq = 2;
        c[3].seq = 4;
        assert_eq!(
            verify_chain(&c, Some(&head)).unwrap_err().kind,
            BreakKind::Edited
        );
    }
}
