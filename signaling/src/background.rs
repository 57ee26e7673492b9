//! Background work of the cases service: the sweeper (expired links, stale queue places) and
//! the webhook sender (HMAC-signed, retried with [`vidid_cases::webhook::backoff`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tracing::{debug, info, warn};
use vidid_cases::webhook::{MAX_ATTEMPTS, WebhookDelivery, backoff};

use crate::cases_api::CasesCtx;

/// Header with `sha256=<hex HMAC-SHA256 of the body with the webhook secret>`.
pub const SIGNATURE_HEADER: &str = "x-vidid-signature";
/// Header with the delivery id (the receiver's idempotency key).
pub const DELIVERY_HEADER: &str = "x-vidid-delivery";
/// Header with the event name (`case.approved`, …).
pub const EVENT_HEADER: &str = "x-vidid-event";

/// `sha256=<hex>` over `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body)))
}

/// Runs [`vidid_cases::Cases::sweep`] every `every`.
pub fn spawn_sweeper(ctx: Arc<CasesCtx>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match ctx.cases.sweep().await {
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

/// Sends due webhook deliveries every `every`.
pub fn spawn_webhook_sender(ctx: Arc<CasesCtx>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = ctx.cases.now();
            let due = match ctx
                .cases
                .store()
                .claim_webhooks(now, time::Duration::seconds(60), 20)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    warn!(error = %e, "claiming webhooks");
                    continue;
                }
            };
            for d in due {
                let result = deliver(&client, &ctx.webhook_secret, &d).await;
                let store = ctx.cases.store();
                let r = match result {
                    Ok(()) => {
                        info!(delivery = %d.id, event = %d.event, "webhook delivered");
                        store.webhook_delivered(&d.id, ctx.cases.now()).await
                    }
                    Err(why) => {
                        let next = (d.attempts < MAX_ATTEMPTS)
                            .then(|| ctx.cases.now() + backoff(d.attempts));
                        warn!(delivery = %d.id, attempts = d.attempts, error = %why, gave_up = next.is_none(), "webhook failed");
                        store.webhook_failed(&d.id, &why, next).await
                    }
                };
                if let Err(e) = r {
                    warn!(delivery = %d.id, error = %e, "recording the webhook outcome");
                }
            }
        }
    })
}

async fn deliver(
    client: &Client<HttpConnector, Full<Bytes>>,
    secret: &str,
    d: &WebhookDelivery,
) -> Result<(), String> {
    if !d.url.starts_with("http://") {
        // TODO: an https connector (hyper-rustls on ring) before production use.
        return Err("only http:// callback URLs are supported by this build".into());
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
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("http: {e}"))?;
    let status = resp.status();
    // Drain (bounded) so the connection can be reused.
    let _ = tokio::time::timeout(Duration::from_secs(2), resp.into_body().collect()).await;
    debug!(delivery = %d.id, %status, "webhook response");
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("http status {}", status.as_u16()))
    }
}
