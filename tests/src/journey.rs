//! Set-up for the page journeys (`tests/tests/*_journey.rs`): a server whose cases clock is at
//! a chosen time, cases created through the ordering system's API, staff users, and the TANs
//! the embedded SMS gateway wrote to its outbox.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::{Server, ServerOptions, vidid_bin};

/// Tuesday 24 November 2026, 11:00 in Ljubljana: a working day, the queue open.
pub const OPEN_HOURS: &str = "2026-11-24T11:00:00+01:00";
/// Saturday 28 November 2026, 11:00 in Ljubljana: the queue closed.
pub const WEEKEND: &str = "2026-11-28T11:00:00+01:00";

/// `vidid serve` with its cases clock at `now` (RFC 3339; [`OPEN_HOURS`], [`WEEKEND`] …),
/// plus `opts`.
pub fn start_server_at(now: &str, mut opts: ServerOptions) -> Result<Server> {
    opts.env.push(("VIDID_FAKE_NOW".into(), now.into()));
    Server::start_with(opts)
}

/// A case as the ordering system created it.
#[derive(Debug, Clone)]
pub struct CaseLink {
    pub id: String,
    /// The customer's token (`X-Case-Token`).
    pub token: String,
    /// `/customer?case=<token>`
    pub link: String,
    /// What the API answered.
    pub body: Value,
}

/// The customer data the test cases are created with (what the customer then confirms).
pub fn customer_data(name: &str) -> Value {
    json!({
        "name": name,
        "date_of_birth": "1985-04-12",
        "document": {"kind": "id_card", "country": "SI", "number": "IA1234567"},
        "phone": "+38640123456",
        "email": "customer@example.com",
        "contract_ref": format!("K-{}", rand_suffix()),
        "language": "sl",
        "callback_url": "http://127.0.0.1:9/hook",
        "esign_url": "https://esign.example.com/sign/abc",
    })
}

fn rand_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}", t % 0xffff_ffff)
}

impl Server {
    /// `POST /api/v1/cases` with [`customer_data`] for `name`, overridden by `extra`'s fields.
    pub fn create_case(&self, name: &str, extra: Value) -> Result<CaseLink> {
        let mut body = customer_data(name);
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self.api("POST", "/api/v1/cases", Some(&body))?;
        ensure!(
            r.status == 201,
            "create case: HTTP {}: {}",
            r.status,
            r.text()
        );
        let v = r.json()?;
        let s = |p: &str| -> Result<String> {
            v.pointer(p)
                .and_then(Value::as_str)
                .map(String::from)
                .with_context(|| format!("{p} missing in {v}"))
        };
        Ok(CaseLink {
            id: s("/case/id")?,
            token: s("/customer_token")?,
            link: s("/customer_link")?,
            body: v,
        })
    }

    /// `vidid user add <name> --role <role>` with a generated password, which is returned.
    pub fn add_user(&self, name: &str, role: &str) -> Result<String> {
        let password = format!("pw-{name}-{}-correct-horse", rand_suffix());
        let mut child = Command::new(vidid_bin()?)
            .args(["user", "add", name, "--role", role, "--data-dir"])
            .arg(self.data_dir())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting vidid user add")?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(format!("{password}\n").as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "vidid user add {name}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(password)
    }

    /// The embedded SMS gateway's outbox file.
    pub fn sms_outbox(&self) -> PathBuf {
        self.data_dir().join("outbox").join("sms.jsonl")
    }

    /// Every SMS written so far, as JSON objects.
    pub fn sms_messages(&self) -> Result<Vec<Value>> {
        let text = match fs::read_to_string(self.sms_outbox()) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).context("outbox line"))
            .collect()
    }
}
