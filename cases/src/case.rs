//! The case: what the ordering system asked for, and where the identification stands.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::CasesError;
use crate::matching::{Document, Lang, check_document};
use crate::tan::TanState;
pub use crate::vocabulary::SnapshotKind;
use crate::vocabulary::{AbortReason, CaseState, ChainHead, CheckItem, CheckRecord};

time::serde::format_description!(pub(crate) iso_date, Date, "[year]-[month]-[day]");

/// The customer as the order names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Full name as on the document.
    pub name: String,
    #[serde(with = "iso_date")]
    pub date_of_birth: Date,
    pub document: Document,
    /// E.164 mobile number; receives the TAN.
    pub phone: String,
    pub email: String,
    pub language: Lang,
}

/// The uploaded ID photo, stored elsewhere (the recorder's vault) and referenced here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentPhoto {
    pub object_id: String,
    pub content_type: String,
    pub bytes: u64,
    /// Hex SHA-256 of the plaintext.
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
}

/// An identification case. Read it freely; change it only through [`crate::Cases`].
/// A still image the agent took during the call, stored by the evidence store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub object_id: String,
    pub kind: SnapshotKind,
    pub content_type: String,
    pub bytes: u64,
    pub sha256: String,
    /// The attempt (call) it was taken in.
    pub attempt: u32,
    pub taken_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
}

/// A copy of the case's audit trail sealed into the recording vault (WORM, the recordings'
/// retention) when an attempt or the case ended: evidence that outlives the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedTrail {
    pub object_id: String,
    /// Entries in the copy, and the hash of its last one.
    pub entries: u64,
    pub head_hash: String,
    /// SHA-256 of the JSON-lines text.
    pub sha256: String,
    pub bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub sealed_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub state: CaseState,
    /// Incremented by every stored change.
    pub version: i64,
    pub customer: Customer,
    pub contract_ref: String,
    pub callback_url: Option<String>,
    /// Where the customer goes after approval (e-signing).
    pub esign_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the customer's link stops being valid ([`crate::validity`]).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub photo: Option<DocumentPhoto>,
    /// Snapshots taken during calls, oldest first.
    #[serde(default)]
    pub snapshots: Vec<Snapshot>,
    /// Copies of the trail sealed into the vault, oldest first.
    #[serde(default)]
    pub sealed_trails: Vec<SealedTrail>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub data_confirmed_at: Option<OffsetDateTime>,
    /// Calls taken so far (each is one identification attempt).
    pub attempts: u32,
    /// The retry cap in force when the case was created.
    pub max_attempts: u32,
    /// The agent of the current or last call.
    pub agent_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub call_started_at: Option<OffsetDateTime>,
    /// Answers of the current or last call, one per item.
    pub checklist: Vec<CheckRecord>,
    /// The TAN of the current or last call.
    pub tan: Option<TanState>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// Why the case was rejected, cancelled or last aborted.
    pub reason: Option<String>,
    pub last_abort: Option<AbortReason>,
    /// The hash of the customer's rejoin token from the last queue join (kept through the
    /// call, so a failed media node can put the customer back with the same token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejoin_hash: Option<String>,
    /// The audit trail's length and last hash.
    pub audit: ChainHead,
}

impl Case {
    /// Nothing more will happen to this case.
    pub fn is_final(&self) -> bool {
        match self.state {
            CaseState::Approved
            | CaseState::Rejected
            | CaseState::Expired
            | CaseState::Cancelled => true,
            CaseState::Aborted => self.attempts >= self.max_attempts,
            _ => false,
        }
    }

    /// Identification attempts still allowed.
    pub fn retries_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts)
    }

    /// The answer recorded for `item` in the current call.
    pub fn check(&self, item: CheckItem) -> Option<&CheckRecord> {
        self.checklist.iter().find(|r| r.item == item)
    }
}

/// A case as the ordering system submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    pub name: String,
    #[serde(with = "iso_date")]
    pub date_of_birth: Date,
    pub document: Document,
    pub phone: String,
    pub email: String,
    pub contract_ref: String,
    #[serde(default)]
    pub language: Lang,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub esign_url: Option<String>,
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

fn check_url(field: &'static str, url: &Option<String>) -> Result<Option<String>, CasesError> {
    let Some(u) = url else { return Ok(None) };
    let u = u.trim();
    let ok = (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() <= 2048
        && u.len() > "http://".len()
        && !u.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(CasesError::invalid(
            field,
            "must be an http(s) URL of at most 2048 characters",
        ));
    }
    Ok(Some(u.to_string()))
}

impl NewCase {
    /// Checks every field and returns the normalised request; `today` bounds the date of birth.
    pub fn validate(&self, today: Date) -> Result<NewCase, CasesError> {
        let name = self.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() || name.chars().count() > 200 || !printable(&name) {
            return Err(CasesError::invalid(
                "name",
                "must be 1 to 200 printable characters",
            ));
        }
        if self.date_of_birth > today || self.date_of_birth.year() < 1900 {
            return Err(CasesError::invalid(
                "date_of_birth",
                "is not a plausible date of birth",
            ));
        }
        let document = check_document(&self.document)?;
        let phone: String = self.phone.chars().filter(|c| !c.is_whitespace()).collect();
        let digits = phone.strip_prefix('+').unwrap_or("");
        if !(8..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(CasesError::invalid(
                "phone",
                "must be an international number like +38641123456",
            ));
        }
        let email = self.email.trim().to_string();
        let valid_email = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
        if !valid_email
            || email.len() > 254
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(CasesError::invalid("email", "is not an e-mail address"));
        }
        let contract_ref = self.contract_ref.trim().to_string();
        if contract_ref.is_empty()
            || contract_ref.chars().count() > 100
            || !printable(&contract_ref)
        {
            return Err(CasesError::invalid(
                "contract_ref",
                "must be 1 to 100 printable characters",
            ));
        }
        Ok(NewCase {
            name,
            date_of_birth: self.date_of_birth,
            document,
            phone,
            email,
            contract_ref,
            language: self.language,
            callback_url: check_url("callback_url", &self.callback_url)?,
            esign_url: check_url("esign_url", &self.esign_url)?,
        })
    }

    /// SHA-256 of the normalised request, to recognise an idempotent replay.
    pub(crate) fn fingerprint(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::matching::DocumentKind;
    use time::macros::date;

    pub(crate) fn new_case() -> NewCase {
        NewCase {
            name: "Janez Novak".into(),
            date_of_birth: date!(1990 - 05 - 17),
            document: Document {
                kind: DocumentKind::IdCard,
                country: "SI".into(),
                number: "IB1234567".into(),
            },
            phone: "+386 41 123 456".into(),
            email: "janez@example.com".into(),
            contract_ref: "MOB-2026-0001".into(),
            language: Lang::Sl,
            callback_url: Some("https://shop.example/hook".into()),
            esign_url: Some("https://sign.example/c/1".into()),
        }
    }

    #[test]
    fn new_case_validation() {
        let today = date!(2026 - 01 - 15);
        let ok = new_case().validate(today).unwrap();
        assert_eq!(ok.phone, "+38641123456");
        let bad = |f: fn(&mut NewCase)| {
            let mut c = new_case();
            f(&mut c);
            match c.validate(today) {
                Err(CasesError::InvalidInput { field, .. }) => field,
                Err(CasesError::DocumentNotAccepted(_)) => "document",
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(bad(|c| c.name = " ".into()), "name");
        assert_eq!(
            bad(|c| c.date_of_birth = date!(2027 - 01 - 01)),
            "date_of_birth"
        );
        assert_eq!(bad(|c| c.phone = "041 123 456".into()), "phone");
        assert_eq!(bad(|c| c.email = "janez".into()), "email");
        assert_eq!(bad(|c| c.contract_ref = String::new()), "contract_ref");
        assert_eq!(
            bad(|c| c.callback_url = Some("ftp://x".into())),
            "callback_url"
        );
        assert_eq!(bad(|c| c.document.country = "AT".into()), "document");
        let json = r#"{"name":"A B","date_of_birth":"1990-05-17","document":{"kind":"passport","country":"SI","number":"PB1234567"},"phone":"+38640111222","email":"a@b.si","contract_ref":"X","extra":1}"#;
        assert!(
            serde_json::from_str::<NewCase>(json)
                .unwrap_err()
                .to_string()
                .contains("extra")
        );
        let json = json.replace(r#","extra":1"#, "");
        let c: NewCase = serde_json::from_str(&json).unwrap();
        assert_eq!(c.date_of_birth, date!(1990 - 05 - 17));
        assert_eq!(c.language, Lang::Sl);
    }
}
