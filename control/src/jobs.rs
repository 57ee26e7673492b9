//! Background work of the cases service: the sweeper (expired links, stale queue places) and
//! the webhook sender (HMAC-signed, retried with [`vidid_cases::webhook::backoff`]) over
//! `http://` or `https://` ([`WebhookClient`]: rustls on ring, the system's root certificates).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use tracing::{debug, info, warn};
use vidid_cases::webhook::WebhookDelivery;

use vidid_cases::Cases;

/// Header with `sha256=<hex HMAC-SHA256 of the body with the webhook secret>`.
pub const SIGNATURE_HEADER: &str = "x-vidid-signature";
/// Header with the delivery id (the receiver's idempotency key).
pub const DELIVERY_HEADER: &str = "x-vidid-delivery";
/// Header with the event name (`case.approved`, …).
pub const EVENT_HEADER: &str = "x-vidid-event";

/// How long to wait for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole delivery: connect, TLS handshake, request, response and its body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// At most this much of the receiver's answer is read (and then dropped).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// `sha256=<hex>` over `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body)))
}

/// Runs [`vidid_cases::Cases::sweep`] every `every`.
pub fn spawn_sweeper(cases: Arc<Cases>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match cases.sweep().await {
                Ok(r) if !r.expired.is_empty() || !r.dropped.is_empty() => {
                    info!(
                        expired = r.expired.len(),
                        dropped = r.dropped.len(),
                        "swept"
                    );
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "sweep failed"),
            }
        }
    })
}

/// The webhook sender's HTTP client: `http://` and `https://` (rustls on ring, TLS 1.2 and
/// 1.3, certificates checked against the system's roots), HTTP/1.1, redirects not followed (a
/// 3xx is a failed attempt), bounded in time and in what it reads.
#[derive(Clone)]
pub struct WebhookClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl WebhookClient {
    /// Trusts the system's root certificates and `extra_roots` (DER). Production passes none;
    /// tests pass the root of their own receiver.
    pub fn new(extra_roots: &[CertificateDer<'static>]) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            warn!(error = %e, "loading the system's root certificates");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        debug!(added, ignored, "system root certificates for webhooks");
        for c in extra_roots {
            roots
                .add(c.clone())
                .map_err(|e| format!("extra root certificate: {e}"))?;
        }
        if roots.is_empty() {
            warn!("no root certificates: https webhooks will fail (install ca-certificates)");
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(WebhookClient {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// One attempt: `Ok` on any 2xx, else why not (lowercase, stored as the last error).
    pub async fn deliver(&self, secret: &str, d: &WebhookDelivery) -> Result<(), String> {
        let scheme_ok = d
            .url
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
            || d.url
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("http://"));
        if !scheme_ok {
            return Err("the callback url is neither http:// nor https://".into());
        }
        let body = Bytes::from(d.payload.clone());
        let req = hyper::Request::post(d.url.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "vidid-webhook/1")
            .header(SIGNATURE_HEADER, sign(secret, &body))
            .header(DELIVERY_HEADER, d.id.as_str())
            .header(EVENT_HEADER, d.event.as_str())
            .body(Full::new(body))
            .map_err(|e| format!("bad request: {e}"))?;
        let attempt = async {
            let resp = self.client.request(req).await.map_err(describe)?;
            let status = resp.status();
            // Read (bounded) so the connection can be reused; the content is not used.
            let _ = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await;
            Ok::<_, String>(status)
        };
        let status = tokio::time::timeout(REQUEST_TIMEOUT, attempt)
            .await
            .map_err(|_| "timed out".to_string())??;
        debug!(delivery = %d.id, %status, "webhook response");
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("http status {}", status.as_u16()))
        }
    }
}

/// A client error with its causes (the TLS reason sits a few sources down).
fn describe(e: hyper_util::client::legacy::Error) -> String {
    let mut msg = format!("http: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

/// Sends due webhook deliveries every `every`, trusting the system's root certificates.
pub fn spawn_webhook_sender(
    cases: Arc<Cases>,
    secret: String,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    match WebhookClient::new(&[]) {
        Ok(client) => spawn_webhook_sender_with(cases, secret, every, client),
        Err(e) => tokio::spawn(async move {
            warn!(error = %e, "no webhook client: webhooks are not sent");
        }),
    }
}

/// Sends due webhook deliveries every `every` with `client`.
pub fn spawn_webhook_sender_with(
    cases: Arc<Cases>,
    secret: String,
    every: Duration,
    client: WebhookClient,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let due = match cases.claim_webhooks(time::Duration::seconds(60), 20).await {
                Ok(d) => d,
                Err(e) => {
                    warn!(error = %e, "claiming webhooks");
                    continue;
                }
            };
            for d in due {
                let r = match client.deliver(&secret, &d).await {
                    Ok(()) => {
                        info!(delivery = %d.id, event = %d.event, "webhook delivered");
                        cases.webhook_delivered(&d.id).await
                    }
                    Err(why) => cases.webhook_failed(&d, &why).await.map(|gave_up| {
                        warn!(delivery = %d.id, attempts = d.attempts, error = %why, gave_up, "webhook failed");
                    }),
                };
                if let Err(e) = r {
                    warn!(delivery = %d.id, error = %e, "recording the webhook outcome");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    /// What the receiver got: the request head (lowercase) and the body.
    struct Received {
        head: String,
        body: Vec<u8>,
    }

    /// An HTTPS receiver on 127.0.0.1 with a fresh self-signed certificate; answers every
    /// request with `status_line` (and `extra` headers). Returns the port, the certificate
    /// and what it receives.
    async fn receiver(
        status_line: &'static str,
        extra: &'static str,
    ) -> (
        u16,
        CertificateDer<'static>,
        mpsc::UnboundedReceiver<Received>,
    ) {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = ck.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    // A failed handshake (the untrusting client) just ends the connection.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let n = tls.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let n = tls.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body = buf[head_end..head_end + len].to_vec();
                    let _ = tx.send(Received { head, body });
                    let resp = format!(
                        "HTTP/1.1 {status_line}\r\n{extra}content-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (port, cert, rx)
    }

    fn delivery(url: String) -> WebhookDelivery {
        let now = time::OffsetDateTime::now_utc();
        WebhookDelivery {
            id: "d-1".into(),
            case_id: "c-1".into(),
            event: "case.approved".into(),
            url,
            payload: r#"{"event":"case.approved"}"#.into(),
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            delivered_at: None,
            last_error: None,
        }
    }

    #[tokio::test]
    async fn https_delivery_to_a_trusted_receiver() {
        let (port, cert, mut rx) = receiver("200 OK", "").await;
        let client = WebhookClient::new(&[cert]).unwrap();
        let d = delivery(format!("https://127.0.0.1:{port}/hook"));
        client.deliver("s3cret", &d).await.unwrap();
        let got = rx.recv().await.unwrap();
        assert!(got.head.starts_with("post /hook http/1.1"), "{}", got.head);
        assert_eq!(got.body, d.payload.as_bytes());
        let sig = format!(
            "{SIGNATURE_HEADER}: {}",
            sign("s3cret", d.payload.as_bytes())
        );
        assert!(got.head.contains(&sig), "{}", got.head);
        assert!(got.head.contains("x-vidid-delivery: d-1"));
        assert!(got.head.contains("x-vidid-event: case.approved"));
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_refused() {
        let (port, _cert, mut rx) = receiver("200 OK", "").await;
        // The production client: the system's roots only.
        let client = WebhookClient::new(&[]).unwrap();
        let d = delivery(format!("https://127.0.0.1:{port}/hook"));
        let err = client.deliver("s3cret", &d).await.unwrap_err();
        assert!(err.to_lowercase().contains("certificate"), "{err}");
        assert!(
            rx.try_recv().is_err(),
            "nothing may reach an untrusted receiver"
        );
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_errors_are_failures() {
        let (port, cert, mut rx) =
            receiver("302 Found", "location: https://127.0.0.1:1/elsewhere\r\n").await;
        let client = WebhookClient::new(&[cert]).unwrap();
        let d = delivery(format!("https://127.0.0.1:{port}/hook"));
        assert_eq!(
            client.deliver("s3cret", &d).await.unwrap_err(),
            "http status 302"
        );
        assert!(rx.recv().await.is_some());
        let d = delivery("ftp://127.0.0.1/hook".into());
        assert!(client.deliver("s3cret", &d).await.is_err());
    }

    #[tokio::test]
    async fn plain_http_still_works_and_a_dead_port_fails() {
        // A plain HTTP receiver answering 204.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tcp.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            tcp.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
        });
        let client = WebhookClient::new(&[]).unwrap();
        client
            .deliver("s", &delivery(format!("http://127.0.0.1:{port}/x")))
            .await
            .unwrap();
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_port = dead.local_addr().unwrap().port();
        drop(dead);
        assert!(
            client
                .deliver("s", &delivery(format!("https://127.0.0.1:{dead_port}/x")))
                .await
                .is_err()
        );
    }
}
