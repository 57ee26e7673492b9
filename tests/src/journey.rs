//! Set-up for the journeys (`tests/tests/*_journey.rs`, `cluster.rs`, `queue_processes.rs`): a
//! server whose cases clock is at a chosen time, cases created through the ordering system's
//! API, staff users and their sessions, customers prepared and queued over REST with their
//! queue socket open, and the TANs the embedded SMS gateway wrote to its outbox.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::http::http_request;
use crate::server::{Server, ServerOptions, vidid_bin};

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

/// A small valid-looking JPEG (the magic bytes are what the server checks).
pub fn jpeg() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend(std::iter::repeat_n(9u8, 4096));
    v
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// A customer prepared and queued over REST, with a queue socket open (on any server of the
/// deployment).
pub struct QueuedCustomer {
    pub case_id: String,
    pub token: String,
    pub rejoin_token: String,
    /// The place the queue join answered.
    pub joined_position: u64,
    ws: Option<Ws>,
}

impl Server {
    /// `POST /api/v1/session`: the `vidid_session=…` cookie.
    pub fn login(&self, user: &str, password: &str) -> Result<String> {
        let body = json!({"username": user, "password": password}).to_string();
        let r = http_request(
            "POST",
            &format!("{}/api/v1/session", self.base_url()),
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        )?;
        ensure!(r.status == 200, "login {user}: {} {}", r.status, r.text());
        let c = r.header("set-cookie").context("no session cookie")?;
        Ok(c.split(';').next().unwrap_or_default().to_string())
    }

    /// A staff request with a session cookie: (status, JSON body or null).
    pub fn staff(
        &self,
        cookie: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let b = body.map(|b| b.to_string());
        let mut h = vec![("Cookie", cookie)];
        if b.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        let r = http_request(
            method,
            &format!("{}{path}", self.base_url()),
            &h,
            b.as_deref().map(str::as_bytes),
        )?;
        let v = if r.body.is_empty() {
            Value::Null
        } else {
            r.json()?
        };
        Ok((r.status, v))
    }

    /// A case for `name`, prepared (photo, confirmed data) and queued on this server; the
    /// queue socket is opened on `socket_on`.
    pub fn queued_customer(&self, name: &str, socket_on: &Server) -> Result<QueuedCustomer> {
        let link = self.create_case(name, json!({}))?;
        let base = self.base_url();
        let tok = [("X-Case-Token", link.token.as_str())];
        let r = http_request(
            "POST",
            &format!("{base}/api/v1/customer/photo"),
            &[tok[0], ("Content-Type", "image/jpeg")],
            Some(&jpeg()),
        )?;
        ensure!(r.status == 200, "photo: {} {}", r.status, r.text());
        let confirm = json!({
            "name": name,
            "date_of_birth": "1985-04-12",
            "document": {"kind": "id_card", "country": "SI", "number": "IA1234567"},
        })
        .to_string();
        let r = http_request(
            "POST",
            &format!("{base}/api/v1/customer/confirm"),
            &[tok[0], ("Content-Type", "application/json")],
            Some(confirm.as_bytes()),
        )?;
        ensure!(r.json()?["state"] == "prepared", "confirm: {}", r.text());
        let r = http_request("POST", &format!("{base}/api/v1/customer/queue"), &tok, None)?;
        ensure!(r.status == 200, "queue: {} {}", r.status, r.text());
        let joined = r.json()?;
        let mut c = QueuedCustomer {
            case_id: link.id,
            token: link.token,
            rejoin_token: joined["rejoin_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            joined_position: joined["position"].as_u64().unwrap_or(0),
            ws: None,
        };
        c.connect(socket_on, false)?;
        Ok(c)
    }
}

impl QueuedCustomer {
    /// Opens the queue socket on `server` (`rejoin`: with the rejoin token, after a drop).
    pub fn connect(&mut self, server: &Server, rejoin: bool) -> Result<()> {
        let (mut ws, _) =
            tungstenite::connect(format!("ws://127.0.0.1:{}/ws/queue", server.port()))
                .context("opening the queue socket")?;
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
        }
        let mut hello = json!({"type": "queue", "token": self.token});
        if rejoin {
            hello["rejoin_token"] = json!(self.rejoin_token);
        }
        ws.send(tungstenite::Message::text(hello.to_string()))?;
        self.ws = Some(ws);
        Ok(())
    }

    /// Closes the queue socket (the connection "drops").
    pub fn drop_socket(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
    }

    /// The next message of type `ty` (others skipped) within `timeout`.
    pub fn expect(&mut self, ty: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let ws = self.ws.as_mut().context("the queue socket is closed")?;
        while Instant::now() < deadline {
            match ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str())?;
                    if v["type"] == ty {
                        return Ok(v);
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => bail!("queue socket of {}: {e}", self.case_id),
            }
        }
        bail!("no {ty} message for {} within {timeout:?}", self.case_id)
    }

    /// The last `queue` position received within `settle` (the newest after a change).
    pub fn latest_position(&mut self, settle: Duration) -> Result<Option<u64>> {
        let mut last = None;
        let deadline = Instant::now() + settle;
        while Instant::now() < deadline {
            match self.expect("queue", deadline.saturating_duration_since(Instant::now())) {
                Ok(v) => last = v["position"].as_u64(),
                Err(_) => break,
            }
        }
        Ok(last)
    }
}
