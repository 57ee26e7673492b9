//! The TAN: a one-time code sent to the customer's phone and read back during the call.
//!
//! Six decimal digits from the thread CSPRNG (ChaCha, seeded from the OS). Only a salted
//! SHA-256 of the code is stored, compared in constant time. A code is valid for
//! [`TanConfig::ttl_secs`] (default 5 minutes) and for [`TanConfig::max_attempts`] wrong
//! entries (default 3); sending a new code voids the old one, and at most
//! [`TanConfig::max_sends`] codes are sent per call. A stored hash of a six-digit code can be
//! brute-forced offline by someone who reads the database; what keeps that harmless is the
//! short lifetime and that the code is only accepted from the agent during the live call.
//!
//! [`SmsGateway`] is the seam to the SMS provider; [`OutboxSms`] is the embedded default, which
//! appends each message as a JSON line to `<data-dir>/outbox/sms.jsonl` (tests read it there).
//! It holds codes in plain text: a development and test gateway, not for production.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use rand::Rng;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::CasesError;
use crate::matching::Lang;

/// The `tan` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TanConfig {
    /// How long a code is valid.
    pub ttl_secs: u64,
    /// Wrong entries before the code is void.
    pub max_attempts: u32,
    /// Codes that may be sent per call.
    pub max_sends: u32,
}

impl Default for TanConfig {
    fn default() -> Self {
        TanConfig {
            ttl_secs: 300,
            max_attempts: 3,
            max_sends: 3,
        }
    }
}

impl TanConfig {
    pub(crate) fn validate(&self) -> Result<(), CasesError> {
        if !(30..=3600).contains(&self.ttl_secs) {
            return Err(CasesError::Config {
                key: "tan.ttl_secs",
                reason: "must be between 30 and 3600".into(),
            });
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(CasesError::Config {
                key: "tan.max_attempts",
                reason: "must be between 1 and 10".into(),
            });
        }
        if !(1..=10).contains(&self.max_sends) {
            return Err(CasesError::Config {
                key: "tan.max_sends",
                reason: "must be between 1 and 10".into(),
            });
        }
        Ok(())
    }
}

/// The stored state of the current code (part of the case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TanState {
    salt: String,
    hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Wrong entries so far.
    pub attempts: u32,
    /// Codes sent in this call, this one included.
    pub sends: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    /// Void after too many wrong entries.
    pub locked: bool,
}

/// The result of entering a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TanOutcome {
    Accepted,
    Wrong {
        attempts_left: u32,
    },
    Expired,
    /// Too many wrong entries: the code is void; send a new one or abort.
    Locked,
}

fn hash(salt: &str, code: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"vidid-tan-v1\n");
    ctx.update(salt.as_bytes());
    ctx.update(b"\n");
    ctx.update(code.as_bytes());
    hex::encode(ctx.finish())
}

/// Equality without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random code.
pub(crate) fn generate_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

impl TanState {
    /// The state for a freshly sent `code`; `sends` counts this one.
    pub(crate) fn new(code: &str, now: OffsetDateTime, cfg: &TanConfig, sends: u32) -> TanState {
        let salt = hex::encode(rand::random::<[u8; 16]>());
        TanState {
            hash: hash(&salt, code),
            salt,
            sent_at: now,
            expires_at: now + Duration::seconds(cfg.ttl_secs as i64),
            attempts: 0,
            sends,
            verified_at: None,
            locked: false,
        }
    }

    /// Checks an entered code and updates the counters.
    pub(crate) fn check(&mut self, code: &str, now: OffsetDateTime, cfg: &TanConfig) -> TanOutcome {
        if self.verified_at.is_some() {
            return TanOutcome::Accepted;
        }
        if self.locked {
            return TanOutcome::Locked;
        }
        if now >= self.expires_at {
            return TanOutcome::Expired;
        }
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let entered = hash(&self.salt, &code);
        if constant_time_eq(entered.as_bytes(), self.hash.as_bytes()) {
            self.verified_at = Some(now);
            return TanOutcome::Accepted;
        }
        self.attempts += 1;
        if self.attempts >= cfg.max_attempts {
            self.locked = true;
            return TanOutcome::Locked;
        }
        TanOutcome::Wrong {
            attempts_left: cfg.max_attempts - self.attempts,
        }
    }

    pub fn is_verified(&self) -> bool {
        self.verified_at.is_some()
    }
}

/// A text message to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sms {
    pub id: String,
    pub case_id: String,
    /// E.164 number.
    pub to: String,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The text of a TAN message.
pub fn tan_text(code: &str, ttl_secs: u64, lang: Lang) -> String {
    let mins = ttl_secs.div_ceil(60);
    match lang {
        Lang::Sl => format!(
            "Vasa koda za video identifikacijo: {code}. Velja {mins} min. Preberite jo samo agentu v klicu."
        ),
        Lang::En => format!(
            "Your video identification code: {code}. Valid for {mins} min. Read it only to the agent in your call."
        ),
    }
}

/// `+38641123456` → `+386*****456`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 4 || i >= chars.len() - 3 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Sends text messages.
#[async_trait]
pub trait SmsGateway: Send + Sync + 'static {
    async fn send(&self, sms: &Sms) -> Result<(), CasesError>;
}

/// The embedded gateway: one JSON line per message in `<data-dir>/outbox/sms.jsonl`.
#[derive(Debug)]
pub struct OutboxSms {
    path: PathBuf,
    lock: Mutex<()>,
}

impl OutboxSms {
    /// The outbox of `data_dir` (the directory is created on the first message).
    pub fn new(data_dir: &Path) -> Self {
        OutboxSms {
            path: data_dir.join("outbox").join("sms.jsonl"),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All messages written to an outbox file so far (none if it does not exist).
    pub fn read(path: &Path) -> Result<Vec<Sms>, CasesError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| CasesError::Corrupt(format!("outbox: {e}")))
            })
            .collect()
    }

    fn append(&self, line: &str) -> Result<(), CasesError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        f.flush()?;
        Ok(())
    }
}

#[async_trait]
impl SmsGateway for OutboxSms {
    async fn send(&self, sms: &Sms) -> Result<(), CasesError> {
        let mut line =
            serde_json::to_string(sms).map_err(|e| CasesError::Sms(format!("encode: {e}")))?;
        line.push('\n');
        // A short local append; not worth a blocking-pool hop.
        self.append(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cfg() -> TanConfig {
        TanConfig::default()
    }

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50).map(|_| generate_code()).collect();
        assert!(codes.len() > 40);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
    }

    #[test]
    fn right_code() {
        let now = datetime!(2026-01-15 10:00 UTC);
        let mut s = TanState::new("042137", now, &cfg(), 1);
        assert!(
            !serde_json::to_string(&s).unwrap().contains("042137"),
            "only a hash is stored"
        );
        assert_eq!(
            s.check(" 042 137", now + Duration::minutes(4), &cfg()),
            TanOutcome::Accepted
        );
        assert!(s.is_verified());
    }

    #[test]
    fn wrong_then_locked() {
        let now = datetime!(2026-01-15 10:00 UTC);
        let mut s = TanState::new("111111", now, &cfg(), 1);
        assert_eq!(
            s.check("111112", now, &cfg()),
            TanOutcome::Wrong { attempts_left: 2 }
        );
        assert_eq!(
            s.check("000000", now, &cfg()),
            TanOutcome::Wrong { attempts_left: 1 }
        );
        assert_eq!(s.check("123456", now, &cfg()), TanOutcome::Locked);
        assert_eq!(
            s.check("111111", now, &cfg()),
            TanOutcome::Locked,
            "void after the limit"
        );
    }

    #[test]
    fn expired() {
        let now = datetime!(2026-01-15 10:00 UTC);
        let mut s = TanState::new("111111", now, &cfg(), 1);
        assert_eq!(
            s.check("111111", now + Duration::minutes(5), &cfg()),
            TanOutcome::Expired
        );
        assert_eq!(s.attempts, 0);
    }

    #[tokio::test]
    async fn outbox_writes_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let gw = OutboxSms::new(dir.path());
        for i in 0..2 {
            gw.send(&Sms {
                id: format!("m{i}"),
                case_id: "cs_1".into(),
                to: "+38641000000".into(),
                text: tan_text("123456", 300, Lang::En),
                at: datetime!(2026-01-15 10:00 UTC),
            })
            .await
            .unwrap();
        }
        let back = OutboxSms::read(gw.path()).unwrap();
        assert_eq!(back.len(), 2);
        assert!(back[1].text.contains("123456"));
        assert_eq!(mask_phone("+38641123456"), "+386*****456");
    }
}
