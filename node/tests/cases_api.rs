//! The cases API over HTTP and the queue socket, against an in-process node (real media loop,
//! SQLite store in a temporary directory, a test clock): the whole identification from case
//! creation to approval and the signed webhook, and the refusals along the way.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vidid_cases::{Cases, OutboxSms, Role, TestClock};
use vidid_control::evidence::FsEvidenceStore;
use vidid_node::testing::TestNode;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Thursday 15 January 2026, 11:00 in Ljubljana: open.
const OPEN: OffsetDateTime = datetime!(2026-01-15 11:00 +1);
const KEY: &str = "test-key";
const SECRET: &str = "webhook-test-secret";
const PW: &str = "a long enough password";

struct Server {
    addr: std::net::SocketAddr,
    clock: Arc<TestClock>,
    cases: Arc<Cases>,
    dir: std::path::PathBuf,
    http: Client<HttpConnector, Full<Bytes>>,
    _node: TestNode,
}

/// An in-process node (`--role all`): a test clock, a 5 s rejoin grace, evidence as plain
/// files (so the test can look at what was stored), webhooks sent every 100 ms, and a portal
/// that cannot reach the recordings (its refusal is tested below).
async fn server() -> Server {
    let clock = Arc::new(TestClock::new(OPEN));
    let c = clock.clone();
    let node = TestNode::start(|cfg, wiring, dir| {
        cfg.cases.queue.rejoin_grace_secs = 5;
        cfg.api.key = Some(KEY.into());
        cfg.api.webhook_secret = Some(SECRET.into());
        wiring.clock = c;
        wiring.evidence = Some(Arc::new(FsEvidenceStore::new(dir)));
        wiring.webhook_every = Duration::from_millis(100);
        wiring.recordings_reachable = false;
    })
    .await;
    let cases = node.cases().clone();
    for (name, role) in [
        ("ana", Role::Agent),
        ("bor", Role::Agent),
        ("cene", Role::Compliance),
    ] {
        cases.add_user(name, role, PW).await.unwrap();
    }
    Server {
        addr: node.addr,
        clock,
        cases,
        dir: node.dir.path().to_path_buf(),
        http: Client::builder(TokioExecutor::new()).build_http(),
        _node: node,
    }
}

struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: Value,
}

impl Server {
    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let resp = self.http.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn json(&self, method: &str, path: &str, auth: &[(&str, &str)], body: Value) -> Resp {
        let mut h = auth.to_vec();
        h.push(("content-type", "application/json"));
        self.call(method, path, &h, Some(body.to_string().into_bytes()))
            .await
    }

    async fn login(&self, user: &str) -> String {
        let r = self
            .json(
                "POST",
                "/api/v1/session",
                &[],
                json!({"username": user, "password": PW}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let c = r.headers["set-cookie"].to_str().unwrap().to_string();
        for attr in ["HttpOnly", "Secure", "SameSite=Strict"] {
            assert!(c.contains(attr), "{c}");
        }
        c.split(';').next().unwrap().to_string()
    }

    async fn new_case(&self, n: u32, key: Option<&str>) -> (String, String) {
        let mut h = vec![("authorization", "Bearer test-key")];
        if let Some(k) = key {
            h.push(("idempotency-key", k));
        }
        let r = self.json("POST", "/api/v1/cases", &h, new_case(n)).await;
        assert!(r.status == 201 || r.status == 200, "{}", r.body);
        assert_eq!(
            r.body["customer_link"],
            format!(
                "/customer?case={}",
                r.body["customer_token"].as_str().unwrap()
            )
        );
        (
            r.body["case"]["id"].as_str().unwrap().to_string(),
            r.body["customer_token"].as_str().unwrap().to_string(),
        )
    }

    async fn ws(&self, path: &str) -> Ws {
        tokio_tungstenite::connect_async(format!("ws://{}{path}", self.addr))
            .await
            .unwrap()
            .0
    }
}

fn new_case(n: u32) -> Value {
    json!({
        "name": "Janez Novak",
        "date_of_birth": "1990-05-17",
        "document": {"kind": "id_card", "country": "SI", "number": "IB1234567"},
        "phone": "+38641123456",
        "email": "janez@example.com",
        "contract_ref": format!("MOB-{n}"),
        "language": "en",
        "callback_url": "http://127.0.0.1:1/unused",
        "esign_url": "https://sign.example/c/1",
    })
}

fn confirmed(name: &str) -> Value {
    json!({
        "name": name,
        "date_of_birth": "1990-05-17",
        "document": {"kind": "id_card", "country": "SI", "number": "IB1234567"},
    })
}

fn jpeg() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend(std::iter::repeat_n(7u8, 200_000)); // over the calls API's 64 KiB limit
    v
}

/// A JPEG small enough that a refusal before the body is read does not break the upload.
fn small_jpeg() -> Vec<u8> {
    jpeg()[..1024].to_vec()
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON message of one of `types` (others skipped), or `None` when closed.
async fn recv_type(ws: &mut Ws, types: &[&str]) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next())
            .await
            .expect("timed out waiting for a message")
        {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if types.contains(&v["type"].as_str().unwrap_or("")) {
                    return Some(v);
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

fn tan_code(text: &str) -> String {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(5))
        .find(|i| b[*i..*i + 6].iter().all(u8::is_ascii_digit))
        .map(|i| text[i..i + 6].to_string())
        .expect("a six-digit code in the sms")
}

/// A local receiver for webhooks: (headers, body) of every POST.
async fn receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, Bytes)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap, b: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((h, b));
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_identification_over_http_with_signed_webhook_and_audit() {
    let s = server().await;
    let (hook_url, mut hooks) = receiver().await;
    let key = [("authorization", "Bearer test-key")];

    // Creation: API key, idempotency.
    let mut body = new_case(1);
    body["callback_url"] = json!(hook_url);
    let r = s.json("POST", "/api/v1/cases", &[], body.clone()).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let h = [key[0], ("idempotency-key", "order-1")];
    let r = s.json("POST", "/api/v1/cases", &h, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["case"]["id"].as_str().unwrap().to_string();
    let token = r.body["customer_token"].as_str().unwrap().to_string();
    assert_eq!(r.body["case"]["state"], "created");
    let again = s.json("POST", "/api/v1/cases", &h, body).await;
    assert_eq!(
        (again.status, again.body["replayed"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(again.body["case"]["id"], id.as_str());
    let r = s
        .call("GET", &format!("/api/v1/cases/{id}"), &key, None)
        .await;
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("created")));
    assert!(
        r.body.get("customer").is_none(),
        "the ordering view is lean"
    );

    // The customer prepares.
    let ct = [("x-case-token", token.as_str())];
    let r = s.call("GET", "/api/v1/customer", &ct, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["hours"]["open_now"], true);
    let r = s
        .call(
            "POST",
            "/api/v1/customer/photo",
            &[ct[0], ("content-type", "image/png")],
            Some(jpeg()),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("bad_upload")),
        "type mismatch"
    );
    let r = s
        .call(
            "POST",
            "/api/v1/customer/photo",
            &[ct[0], ("content-type", "image/jpeg")],
            Some(jpeg()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["photo"]["bytes"], 200_004);
    let obj = r.body["photo"]["object_id"].as_str().unwrap();
    let stored = s.dir.as_path().join("evidence").join(&id).join(obj);
    assert_eq!(std::fs::read(stored).unwrap(), jpeg());
    let r = s
        .json(
            "POST",
            "/api/v1/customer/confirm",
            &ct,
            confirmed("Novak Janez"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["matches"].as_bool()),
        (200, Some(false)),
        "{}",
        r.body
    );
    assert!(
        r.body["differences"][0].as_str().unwrap().contains("order"),
        "{}",
        r.body
    );
    let r = s
        .json(
            "POST",
            "/api/v1/customer/confirm",
            &ct,
            confirmed("Janez Novak"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("prepared")),
        "{}",
        r.body
    );

    // Staff log in; roles are checked.
    let r = s
        .json(
            "POST",
            "/api/v1/session",
            &[],
            json!({"username": "ana", "password": "nope"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("bad_credentials"))
    );
    let ana = s.login("ana").await;
    let cene = s.login("cene").await;
    let ana_h = [("cookie", ana.as_str())];
    let cene_h = [("cookie", cene.as_str())];
    let r = s
        .json(
            "PUT",
            "/api/v1/agent/availability",
            &cene_h,
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("forbidden")),
        "a compliance officer takes no calls"
    );
    let r = s
        .json(
            "PUT",
            "/api/v1/agent/availability",
            &ana_h,
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Outside hours the queue is closed and names the next opening.
    s.clock.set(datetime!(2026-01-15 18:00 +1));
    let r = s.call("POST", "/api/v1/customer/queue", &ct, None).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("queue_closed")),
        "{}",
        r.body
    );
    assert_eq!(r.body["next_opening"], "2026-01-16T10:00:00+01:00");
    s.clock.set(OPEN);

    // Queue: REST join, then the socket.
    let r = s.call("POST", "/api/v1/customer/queue", &ct, None).await;
    assert_eq!(
        (r.status, r.body["position"].as_u64()),
        (200, Some(1)),
        "{}",
        r.body
    );
    let mut q = s.ws("/ws/queue").await;
    send(&mut q, json!({"type": "queue", "token": token})).await;
    let v = recv_type(&mut q, &["queue"]).await.unwrap();
    assert_eq!(v["position"], 1);
    assert_eq!(v["estimated_wait_secs"], 0);

    // The agent takes the customer; both get call tokens and join the call room.
    let r = s.call("POST", "/api/v1/agent/take", &cene_h, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.call("POST", "/api/v1/agent/take", &ana_h, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["case"]["state"], "in_call");
    let call_id = r.body["call"]["call_id"].as_str().unwrap().to_string();
    assert_eq!(call_id, format!("{id}-1"));
    let agent_token = r.body["call"]["token"].as_str().unwrap().to_string();
    let v = recv_type(&mut q, &["call_ready"]).await.unwrap();
    assert_eq!(v["call_id"], call_id.as_str());
    let customer_token = v["token"].as_str().unwrap().to_string();
    let mut cw = s.ws("/ws").await;
    send(&mut cw, json!({"type": "join", "token": customer_token})).await;
    let v = recv_type(&mut cw, &["joined", "error"]).await.unwrap();
    assert_eq!(
        (v["type"].as_str(), v["role"].as_str()),
        (Some("joined"), Some("customer")),
        "{v}"
    );
    let mut aw = s.ws("/ws").await;
    send(&mut aw, json!({"type": "join", "token": agent_token})).await;
    let v = recv_type(&mut aw, &["joined", "error"]).await.unwrap();
    assert_eq!(v["role"], "agent", "{v}");

    // Instructions reach the customer's queue socket.
    let r = s
        .json(
            "POST",
            &format!("/api/v1/cases/{id}/instruction"),
            &ana_h,
            json!({"text": "Please turn the camera around the room."}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let v = recv_type(&mut q, &["instruction"]).await.unwrap();
    assert_eq!(v["text"], "Please turn the camera around the room.");

    // The checklist, with the refusals.
    let case_path = format!("/api/v1/cases/{id}");
    let r = s
        .call("POST", &format!("{case_path}/approve"), &ana_h, None)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("invalid_state")),
        "{}",
        r.body
    );
    let r = s
        .call("POST", &format!("{case_path}/checks/start"), &ana_h, None)
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("checks")),
        "{}",
        r.body
    );
    let r = s
        .json(
            "POST",
            &format!("{case_path}/checks"),
            &ana_h,
            json!({"item": "face_matches_document", "matches": true, "extra": 1}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("bad_json")),
        "unknown field: {}",
        r.body
    );
    let questions: Vec<Value> = s
        .cases
        .config()
        .identification
        .questions
        .iter()
        .map(|q| json!({"question_id": q.id, "answer": "yes, my own decision", "acceptable": true}))
        .collect();
    for answer in [
        json!({"item": "alone_in_room", "room_shown": true, "nobody_else_seen_or_heard": true, "observation": "quiet room"}),
        json!({"item": "intent", "answers": questions, "observation": "relaxed"}),
        json!({"item": "face_matches_document", "matches": true}),
        json!({"item": "document_front", "shown": true, "security_features_ok": true}),
        json!({"item": "document_back", "shown": true, "security_features_ok": true}),
    ] {
        let r = s
            .json("POST", &format!("{case_path}/checks"), &ana_h, answer)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = s
        .call("POST", &format!("{case_path}/approve"), &ana_h, None)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("checklist_incomplete")),
        "{}",
        r.body
    );
    assert_eq!(r.body["missing"], json!(["tan"]));

    // The TAN, read from the outbox.
    let r = s
        .call("POST", &format!("{case_path}/tan"), &ana_h, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sms = OutboxSms::read(&s.dir.as_path().join("outbox/sms.jsonl")).unwrap();
    assert_eq!(sms.len(), 1);
    let code = tan_code(&sms[0].text);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = s
        .json(
            "POST",
            &format!("{case_path}/tan/verify"),
            &ana_h,
            json!({"code": wrong}),
        )
        .await;
    assert_eq!(r.body, json!({"result": "wrong", "attempts_left": 2}));
    let r = s
        .json(
            "POST",
            &format!("{case_path}/tan/verify"),
            &ana_h,
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.body, json!({"result": "accepted"}));

    // Approval: the customer is sent to e-signing, the call room closes.
    let r = s
        .call("POST", &format!("{case_path}/approve"), &ana_h, None)
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("approved")),
        "{}",
        r.body
    );
    let v = recv_type(&mut q, &["result"]).await.unwrap();
    assert_eq!(v["state"], "approved");
    assert_eq!(v["redirect_url"], "https://sign.example/c/1");
    let v = recv_type(&mut cw, &["call_ended"]).await.unwrap();
    assert_eq!(v["type"], "call_ended");
    let r = s
        .call(
            "POST",
            &format!("{case_path}/reject"),
            &ana_h,
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(r.status, 415, "{}", r.body);
    let r = s
        .json(
            "POST",
            &format!("{case_path}/reject"),
            &ana_h,
            json!({"reason": "late"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("invalid_state")),
        "{}",
        r.body
    );

    // The webhook, signed.
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), hooks.recv())
        .await
        .expect("webhook within 10 s")
        .unwrap();
    let sig = headers["x-vidid-signature"].to_str().unwrap();
    assert_eq!(sig, vidid_control::jobs::sign(SECRET, &body));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mac = hex::decode(sig.strip_prefix("sha256=").unwrap()).unwrap();
    ring::hmac::verify(&key, &body, &mac).expect("valid hmac");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["event"], "case.approved");
    assert_eq!(payload["case_id"], id.as_str());
    assert_eq!(
        headers["x-vidid-delivery"].to_str().unwrap(),
        payload["id"].as_str().unwrap()
    );

    // The audit trail: compliance only, verified; then tampered with and caught.
    let r = s
        .call("GET", &format!("{case_path}/audit"), &ana_h, None)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("forbidden"))
    );
    let r = s
        .call("GET", &format!("{case_path}/audit"), &cene_h, None)
        .await;
    assert_eq!(
        (r.status, r.body["verified"].as_bool()),
        (200, Some(true)),
        "{}",
        r.body
    );
    assert!(r.body["entries"].as_array().unwrap().len() > 15);
    {
        use sqlx::Connection as _;
        let url = vidid_cases::store::default_sqlite_url(s.dir.as_path());
        let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for sql in [
            "DROP TRIGGER audit_no_update",
            "DROP TRIGGER audit_no_delete",
        ] {
            sqlx::query(sql).execute(&mut raw).await.unwrap();
        }
        sqlx::query("UPDATE audit_entries SET event = replace(event, 'MOB-1', 'MOB-9') WHERE case_id = ? AND seq = 1")
            .bind(&id)
            .execute(&mut raw)
            .await
            .unwrap();
    }
    let r = s
        .call("GET", &format!("{case_path}/audit"), &cene_h, None)
        .await;
    assert_eq!(
        (r.status, r.body["verified"].as_bool()),
        (200, Some(false)),
        "{}",
        r.body
    );
    assert!(!r.body["broken"].as_str().unwrap().is_empty());

    // Logout ends the session.
    let r = s.call("DELETE", "/api/v1/session", &ana_h, None).await;
    assert_eq!(r.status, 204);
    let r = s.call("GET", "/api/v1/session", &ana_h, None).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("session_invalid"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_bad_input_and_expiry() {
    let s = server().await;
    let key = [("authorization", "Bearer test-key")];
    let keyj = [key[0], ("content-type", "application/json")];

    // Malformed, unknown fields, oversized, wrong type.
    let r = s
        .call("POST", "/api/v1/cases", &keyj, Some(b"{\"name\":".to_vec()))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("bad_json"))
    );
    let mut body = new_case(1);
    body["colour"] = json!("red");
    let r = s.json("POST", "/api/v1/cases", &key, body).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("bad_json"))
    );
    assert!(
        r.body["message"].as_str().unwrap().contains("colour"),
        "{}",
        r.body
    );
    let mut body = new_case(1);
    body["name"] = json!("x".repeat(20_000));
    let r = s.json("POST", "/api/v1/cases", &key, body).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (413, Some("too_large"))
    );
    let r = s
        .call(
            "POST",
            "/api/v1/cases",
            &key,
            Some(new_case(1).to_string().into_bytes()),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let mut body = new_case(1);
    body["document"]["country"] = json!("AT");
    let r = s.json("POST", "/api/v1/cases", &key, body).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("document_not_accepted"))
    );
    let (id, token) = s.new_case(1, Some("k1")).await;
    let mut other = new_case(2);
    other["contract_ref"] = json!("MOB-other");
    let r = s
        .json(
            "POST",
            "/api/v1/cases",
            &[key[0], ("idempotency-key", "k1")],
            other,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("idempotency_conflict"))
    );

    // Customer: unknown token, wrong state, bad uploads.
    let r = s
        .call("GET", "/api/v1/customer", &[("x-case-token", "nope")], None)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (404, Some("not_found"))
    );
    let r = s.call("GET", "/api/v1/customer", &[], None).await;
    assert_eq!(r.status, 401);
    let ct = [("x-case-token", token.as_str())];
    let r = s.call("POST", "/api/v1/customer/queue", &ct, None).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("invalid_state")),
        "{}",
        r.body
    );
    let photo = |ty: &'static str, bytes: Vec<u8>| {
        let s = &s;
        let token = token.clone();
        async move {
            s.call(
                "POST",
                "/api/v1/customer/photo",
                &[("x-case-token", token.as_str()), ("content-type", ty)],
                Some(bytes),
            )
            .await
        }
    };
    let r = photo("image/gif", b"GIF89a".repeat(100)).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let r = photo("image/jpeg", b"GIF89a".repeat(100)).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("bad_upload"))
    );
    let r = photo("image/jpeg", vec![0xFF, 0xD8, 0xFF]).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("bad_upload"))
    );
    let mut big = jpeg();
    big.resize(8 * 1024 * 1024 + 1, 0);
    let r = photo("image/jpeg", big).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (413, Some("too_large"))
    );
    let r = s
        .json(
            "POST",
            "/api/v1/customer/confirm",
            &ct,
            json!({"name": "Janez Novak"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("bad_json"))
    );

    // Staff endpoints without a session, and with the wrong role.
    let r = s.call("POST", "/api/v1/agent/take", &[], None).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("session_invalid"))
    );
    let r = s
        .call(
            "GET",
            &format!("/api/v1/cases/{id}"),
            &[("cookie", "vidid_session=forged")],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("session_invalid"))
    );
    let bor = s.login("bor").await;
    let r = s
        .call(
            "POST",
            "/api/v1/agent/take",
            &[("cookie", bor.as_str())],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("agent_unavailable")),
        "paused agents take nobody"
    );
    let r = s
        .call(
            "GET",
            &format!("/api/v1/cases/{id}"),
            &[("cookie", bor.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "agents read cases: {}", r.body);
    assert_eq!(r.body["customer"]["name"], "Janez Novak");
    let r = s
        .call(
            "POST",
            &format!("/api/v1/cases/{id}/cancel"),
            &[("cookie", bor.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 401, "only the ordering system cancels");

    // Expiry: the test clock moves past the link's validity (Thursday 11:00 → Friday 11:00).
    s.clock.advance(time::Duration::hours(25));
    let r = s.call("GET", "/api/v1/customer", &ct, None).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (410, Some("link_expired")),
        "{}",
        r.body
    );
    assert_eq!(r.body["expired_at"], "2026-01-16T10:00:00Z");
    let r = photo("image/jpeg", jpeg()).await;
    assert_eq!(r.status, 410);
    let mut q = s.ws("/ws/queue").await;
    send(&mut q, json!({"type": "queue", "token": token})).await;
    let v = recv_type(&mut q, &["error"]).await.unwrap();
    assert_eq!(
        (v["code"].as_str(), v["fatal"].as_bool()),
        (Some("link_expired"), Some(true))
    );

    // Cancel (the ordering system) of another case, then nothing more happens to it.
    let (id2, token2) = s.new_case(3, None).await;
    let r = s
        .call("POST", &format!("/api/v1/cases/{id2}/cancel"), &key, None)
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("cancelled")),
        "{}",
        r.body
    );
    let r = s
        .call("POST", &format!("/api/v1/cases/{id2}/cancel"), &key, None)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("invalid_state"))
    );
    let r = s
        .call(
            "GET",
            "/api/v1/customer",
            &[("x-case-token", token2.as_str())],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("cancelled")),
        "{}",
        r.body
    );

    // The OpenAPI document is served and names the endpoints.
    let r = s.call("GET", "/api/v1/openapi.json", &[], None).await;
    assert_eq!((r.status, r.body["openapi"].as_str()), (200, Some("3.1.0")));
    for p in [
        "/api/v1/cases",
        "/api/v1/cases/{id}",
        "/api/v1/customer/photo",
        "/api/v1/agent/take",
    ] {
        assert!(r.body["paths"].get(p).is_some(), "{p} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_queue_socket_keeps_the_place_and_absent_participant_aborts() {
    let s = server().await;
    let (_, token) = s.new_case(1, None).await;
    let ct = [("x-case-token", token.as_str())];
    s.call(
        "POST",
        "/api/v1/customer/photo",
        &[ct[0], ("content-type", "image/jpeg")],
        Some(jpeg()),
    )
    .await;
    let r = s
        .json(
            "POST",
            "/api/v1/customer/confirm",
            &ct,
            confirmed("Janez Novak"),
        )
        .await;
    assert_eq!(r.body["state"], "prepared");
    let r = s.call("POST", "/api/v1/customer/queue", &ct, None).await;
    let rejoin = r.body["rejoin_token"].as_str().unwrap().to_string();
    let mut q = s.ws("/ws/queue").await;
    send(&mut q, json!({"type": "queue", "token": token})).await;
    recv_type(&mut q, &["queue"]).await.unwrap();
    // A flood of messages closes the socket (which also drops the connection).
    for _ in 0..40 {
        send(&mut q, json!({"type": "ping"})).await;
    }
    let v = recv_type(&mut q, &["error"]).await.unwrap();
    assert_eq!(
        (v["code"].as_str(), v["fatal"].as_bool()),
        (Some("rate_limited"), Some(true))
    );
    assert!(
        recv_type(&mut q, &["queue"]).await.is_none(),
        "closed after the flood"
    );
    drop(q);
    // The server notices the drop; the place is kept but needs the rejoin token.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = s.call("GET", "/api/v1/customer", &ct, None).await;
        if r.body["queue"]["connected"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "never marked disconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut q = s.ws("/ws/queue").await;
    send(&mut q, json!({"type": "queue", "token": token})).await;
    let v = recv_type(&mut q, &["error"]).await.unwrap();
    assert_eq!(v["code"], "rejoin_refused");
    let mut q = s.ws("/ws/queue").await;
    send(
        &mut q,
        json!({"type": "queue", "token": token, "rejoin_token": rejoin}),
    )
    .await;
    let v = recv_type(&mut q, &["queue"]).await.unwrap();
    assert_eq!(v["position"], 1);

    // A reload: the new socket attaches before the old one closes; the old one's close does not
    // mark the customer disconnected (agents would skip them).
    let mut q2 = s.ws("/ws/queue").await;
    send(&mut q2, json!({"type": "queue", "token": token})).await;
    recv_type(&mut q2, &["queue"]).await.unwrap();
    drop(q);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = s.call("GET", "/api/v1/customer", &ct, None).await;
    assert_eq!(r.body["queue"]["connected"], true, "{}", r.body);
    let mut q = q2;

    // Taken, but nobody joins the call: after the grace period (5 s) the attempt is aborted.
    let ana = s.login("ana").await;
    let h = [("cookie", ana.as_str())];
    s.json(
        "PUT",
        "/api/v1/agent/availability",
        &h,
        json!({"status": "available"}),
    )
    .await;
    let r = s.call("POST", "/api/v1/agent/take", &h, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    recv_type(&mut q, &["call_ready"]).await.unwrap();
    let v = tokio::time::timeout(Duration::from_secs(15), recv_type(&mut q, &["result"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v["state"], "aborted", "{v}");
    assert_eq!(v["retries_left"], 2);
    let r = s.call("GET", "/api/v1/customer", &ct, None).await;
    assert_eq!(r.body["state"], "aborted");
    let r = s.call("POST", "/api/v1/agent/take", &h, None).await;
    assert_eq!(
        r.status, 204,
        "the agent is free again and nobody waits: {}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_customer_tan_board_search_and_purpose_bound_access() {
    let s = server().await;
    s.cases
        .add_user("dana", Role::Supervisor, PW)
        .await
        .unwrap();
    let (id, token) = s.new_case(7, None).await;
    let ct = [("x-case-token", token.as_str())];
    let photo_h = [ct[0], ("content-type", "image/jpeg")];
    let r = s
        .call("POST", "/api/v1/customer/photo", &photo_h, Some(jpeg()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .json(
            "POST",
            "/api/v1/customer/confirm",
            &ct,
            confirmed("Janez Novak"),
        )
        .await;
    assert_eq!(r.body["state"], "prepared", "{}", r.body);
    let r = s.call("POST", "/api/v1/customer/queue", &ct, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut q = s.ws("/ws/queue").await;
    send(&mut q, json!({"type": "queue", "token": token})).await;
    recv_type(&mut q, &["queue"]).await.unwrap();

    let (ana, bor, cene, dana) = (
        s.login("ana").await,
        s.login("bor").await,
        s.login("cene").await,
        s.login("dana").await,
    );
    let [ana_h, _, cene_h, dana_h] = [&ana, &bor, &cene, &dana].map(|c| [("cookie", c.as_str())]);
    let r = s
        .json(
            "PUT",
            "/api/v1/agent/availability",
            &ana_h,
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let case_path = format!("/api/v1/cases/{id}");
    let snap = |kind: &str| format!("{case_path}/snapshots?kind={kind}");
    fn img(cookie: &str) -> [(&'static str, &str); 2] {
        [("content-type", "image/jpeg"), ("cookie", cookie)]
    }

    // The console's queue shows how long each customer has waited, by the server's clock.
    s.clock.advance(time::Duration::seconds(30));
    let r = s.call("GET", "/api/v1/queue", &ana_h, None).await;
    assert_eq!(r.body["queue"][0]["case_id"], id.as_str(), "{}", r.body);
    assert_eq!(r.body["queue"][0]["waiting_secs"], 30, "{}", r.body);

    // Before the call nobody may add snapshots.
    let r = s
        .call("POST", &snap("face"), &img(&ana), Some(small_jpeg()))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("invalid_state")),
        "no call yet: {}",
        r.body
    );
    let r = s.call("POST", "/api/v1/agent/take", &ana_h, None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Snapshots: the call's agent only, known kinds, real images.
    let r = s
        .call("POST", &snap("face"), &img(&bor), Some(small_jpeg()))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("not_assigned")),
        "{}",
        r.body
    );
    let r = s
        .call("POST", &snap("face"), &img(&cene), Some(small_jpeg()))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s
        .call("POST", &snap("selfie"), &img(&ana), Some(small_jpeg()))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("invalid_input")),
        "{}",
        r.body
    );
    let r = s
        .call(
            "POST",
            &snap("face"),
            &img(&ana),
            Some(b"GIF89a not a jpeg at all, really not".repeat(4)),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("bad_upload")),
        "{}",
        r.body
    );
    let r = s
        .call("POST", &snap("face"), &img(&ana), Some(jpeg()))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["kind"].as_str(), r.body["attempt"].as_u64()),
        (Some("face"), Some(1))
    );
    let face_id = r.body["object_id"].as_str().unwrap().to_string();

    // The call's agent sees the uploaded ID photo (logged); nobody else does.
    let r = s
        .call("GET", &format!("{case_path}/id-photo"), &ana_h, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "image/jpeg");
    for h in [&bor, &cene] {
        let r = s
            .call(
                "GET",
                &format!("{case_path}/id-photo"),
                &[("cookie", h.as_str())],
                None,
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
    }

    // The live board: supervisors only; it shows the call.
    let r = s.call("GET", "/api/v1/board", &ana_h, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.call("GET", "/api/v1/board", &dana_h, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["calls"][0]["case_id"], id.as_str(), "{}", r.body);
    assert_eq!(r.body["calls"][0]["agent"], "ana", "{}", r.body);
    assert_eq!(r.body["queue"]["length"], 0, "{}", r.body);
    assert!(
        r.body["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["username"] == "ana")
    );

    // The customer types the TAN themselves; the same attempts count.
    let r = s
        .call("POST", &format!("{case_path}/checks/start"), &ana_h, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .call("POST", &format!("{case_path}/tan"), &ana_h, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sms = OutboxSms::read(&s.dir.as_path().join("outbox/sms.jsonl")).unwrap();
    let code = tan_code(&sms.last().unwrap().text);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = s
        .json("POST", "/api/v1/customer/tan", &ct, json!({"code": wrong}))
        .await;
    assert_eq!(r.body, json!({"result": "wrong", "attempts_left": 2}));
    let r = s
        .json("POST", "/api/v1/customer/tan", &[], json!({"code": code}))
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = s
        .json("POST", "/api/v1/customer/tan", &ct, json!({"code": code}))
        .await;
    assert_eq!(r.body, json!({"result": "accepted"}));
    let r = s.call("GET", &case_path, &ana_h, None).await;
    assert_eq!(r.body["tan_verified"], true, "{}", r.body);
    let r = s
        .json(
            "POST",
            &format!("{case_path}/abort"),
            &ana_h,
            json!({"reason": "bad_light", "note": "dark room"}),
        )
        .await;
    assert_eq!(r.body["state"], "aborted", "{}", r.body);
    // The trail is sealed into the evidence store in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s
        .cases
        .peek_case(&id)
        .await
        .unwrap()
        .unwrap()
        .sealed_trails
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the trail was never sealed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Search: compliance and supervisors; by name without diacritics, by id, by outcome.
    let r = s.call("GET", "/api/v1/cases?q=novak", &ana_h, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s
        .call(
            "GET",
            "/api/v1/cases?q=NOVAK&from=2026-01-15&to=2026-01-15",
            &cene_h,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["cases"][0]["id"], id.as_str(), "{}", r.body);
    assert_eq!(r.body["cases"][0]["customer_name"], "Janez Novak");
    assert_eq!(r.body["cases"][0]["agent"], "ana", "{}", r.body);
    let r = s
        .call("GET", &format!("/api/v1/cases?q={id}"), &dana_h, None)
        .await;
    assert_eq!(r.body["cases"].as_array().unwrap().len(), 1, "{}", r.body);
    for q in [
        "q=novak&outcome=approved",
        "q=novak&from=2026-01-16",
        "q=horvat",
    ] {
        let r = s
            .call("GET", &format!("/api/v1/cases?{q}"), &cene_h, None)
            .await;
        assert_eq!(r.body["cases"], json!([]), "{q}: {}", r.body);
    }
    let r = s
        .call("GET", "/api/v1/cases?outcome=won", &cene_h, None)
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = s
        .call("GET", "/api/v1/cases?sort=name", &cene_h, None)
        .await;
    assert_eq!(r.status, 400, "unknown parameter: {}", r.body);

    // Access needs a stated purpose and the right role; the grant is bound to case and user.
    let access = |action: &str, purpose: &str| json!({"action": action, "purpose": purpose});
    let why = "complaint 2026/118: the customer disputes consent";
    let r = s
        .json(
            "POST",
            &format!("{case_path}/access"),
            &ana_h,
            access("view", why),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s
        .json(
            "POST",
            &format!("{case_path}/access"),
            &cene_h,
            access("view", "because"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (422, Some("invalid_input")),
        "{}",
        r.body
    );
    let r = s
        .json(
            "POST",
            &format!("{case_path}/access"),
            &dana_h,
            access("play", why),
        )
        .await;
    assert_eq!(
        r.status, 403,
        "a supervisor cannot open recordings: {}",
        r.body
    );
    let r = s
        .call("GET", &format!("{case_path}/dossier"), &cene_h, None)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("grant_invalid")),
        "{}",
        r.body
    );
    let r = s
        .json(
            "POST",
            &format!("{case_path}/access"),
            &cene_h,
            access("view", why),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let grant = r.body["grant"].as_str().unwrap().to_string();
    let r = s
        .call(
            "GET",
            &format!("{case_path}/dossier?grant={grant}"),
            &dana_h,
            None,
        )
        .await;
    assert_eq!(r.status, 403, "another user's grant: {}", r.body);
    let r = s
        .call(
            "GET",
            &format!("{case_path}/dossier?grant={grant}"),
            &cene_h,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["audit"]["verified"], true, "{}", r.body);
    let kinds: Vec<&str> = r.body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["id_photo", "audit_trail", "face"]);
    // The trail sealed into the vault when the attempt ended: complete up to then, intact.
    let sealed = &r.body["evidence"][1];
    let t = s
        .call(
            "GET",
            &format!(
                "{case_path}/evidence/{}?grant={grant}",
                sealed["object_id"].as_str().unwrap()
            ),
            &cene_h,
            None,
        )
        .await;
    assert_eq!(t.status, 200);
    assert!(
        t.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = t.body.as_str().map(String::from).unwrap_or_else(|| {
        // One JSON line parses as JSON.
        t.body.to_string()
    });
    let entries = vidid_cases::audit::parse_jsonl(&text).unwrap();
    vidid_cases::audit::verify_chain(&entries, None).unwrap();
    assert_eq!(entries.len() as u64, sealed["entries"].as_u64().unwrap());
    assert_eq!(
        entries.last().unwrap().hash,
        sealed["head_hash"].as_str().unwrap()
    );
    assert!(
        entries.iter().any(|e| e.event.contains("aborted")),
        "the sealed copy includes the abort"
    );
    assert_eq!(r.body["recordings"][0]["recording_id"], format!("{id}-1"));
    assert_eq!(r.body["recordings"][0]["verification"]["status"], "missing");
    let entries = r.body["audit"]["entries"].to_string();
    assert!(
        entries.contains("snapshot_taken") && entries.contains(why),
        "{entries}"
    );
    assert!(
        entries.contains("id_photo"),
        "the agent's look at the photo is logged"
    );
    assert_eq!(r.body["agent"], "ana");
    let r = s
        .call(
            "GET",
            &format!("{case_path}/evidence/{face_id}?grant={grant}"),
            &cene_h,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "image/jpeg");
    let r = s
        .call(
            "GET",
            &format!("{case_path}/recordings/{id}-1/audio.wav?grant={grant}"),
            &cene_h,
            None,
        )
        .await;
    assert_eq!(r.status, 403, "a view grant does not play: {}", r.body);
    let (other, _) = s.new_case(8, None).await;
    let r = s
        .call(
            "GET",
            &format!("/api/v1/cases/{other}/dossier?grant={grant}"),
            &cene_h,
            None,
        )
        .await;
    assert_eq!(r.status, 403, "a grant for another case: {}", r.body);
    let r = s
        .json(
            "POST",
            &format!("{case_path}/access"),
            &cene_h,
            access("play", why),
        )
        .await;
    let play = r.body["grant"].as_str().unwrap().to_string();
    let r = s
        .call(
            "GET",
            &format!("{case_path}/recordings/{id}-9/audio.wav?grant={play}"),
            &cene_h,
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s
        .call(
            "GET",
            &format!("{case_path}/recordings/{id}-1/audio.wav?grant={play}"),
            &cene_h,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (503, Some("recordings_unavailable")),
        "this test server has no vault: {}",
        r.body
    );
}
