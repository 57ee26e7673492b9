//! HTTP requests to the server under test: [`http_request`] over [`ureq`] (blocking HTTP/1.1,
//! plain `http://` only: every server the tests talk to is on 127.0.0.1) and the
//! [`HttpResponse`] it returns.
//!
//! The client is set up to show the tests what the server said and nothing more: a non-2xx
//! status is a response, not an error; redirects are returned, not followed; no proxy from the
//! environment, no cookie store, no compression, no automatic `User-Agent` or `Accept`; one
//! connection per request (`Connection: close`, nothing pooled), so a draining or restarted
//! server never meets a stale socket. Every phase has a time limit (see the constants below).

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use ureq::http::{Method, Request};

/// Connecting to the server (it is on this machine: a refusal comes at once).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Any one write of the request.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Any one read of the response (the server's slowest answers are well below this).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// A whole request, however slowly it trickles.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest response body read (ureq's own default is 10 MB).
pub const MAX_BODY_BYTES: u64 = 1 << 30;

/// What the server answered.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// In the order received; names in lower case (compare with [`HttpResponse::header`]).
    pub headers: Vec<(String, String)>,
    /// Decoded from the transfer encoding (chunked or not).
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("HTTP {} body is not JSON: {}", self.status, self.text()))
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The one client of the process (it holds no connections: see the module doc).
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .user_agent("")
            .accept("")
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_write(Some(WRITE_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent()
    })
}

/// One request over a fresh connection (`Connection: close`). `url` is `http://host:port/path`;
/// `headers` are sent as given. `body` is sent with its `Content-Length`; a POST, PUT or PATCH
/// without one sends `Content-Length: 0`. Any status comes back as a response; only a failure
/// to connect, send or read is an error.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<HttpResponse> {
    ensure!(
        url.starts_with("http://"),
        "only http:// URLs are supported: {url}"
    );
    let method_name = method;
    let method = Method::from_bytes(method.as_bytes())
        .with_context(|| format!("bad HTTP method {method_name:?}"))?;
    let mut req = Request::builder()
        .method(method.clone())
        .uri(url)
        .header("Connection", "close");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let bad = || format!("building the request {method_name} {url}");
    let sent = match body {
        Some(b) => agent().run(req.body(b).with_context(bad)?),
        None if matches!(method, Method::POST | Method::PUT | Method::PATCH) => {
            agent().run(req.body(&[][..]).with_context(bad)?)
        }
        None => agent().run(req.body(()).with_context(bad)?),
    };
    let mut resp = sent.with_context(|| format!("{method_name} {url}"))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .with_context(|| format!("reading the response to {method_name} {url}"))?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A one-request server on 127.0.0.1: answers `response` and returns the request it read
    /// (head and body).
    fn serve_once(response: &'static [u8]) -> Result<(String, thread::JoinHandle<Vec<u8>>)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut request = Vec::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("request line");
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().expect("content-length");
                }
                request.extend_from_slice(line.as_bytes());
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("request body");
            request.extend_from_slice(&body);
            let mut stream = reader.into_inner();
            stream.write_all(response).expect("response");
            request
        });
        Ok((url, handle))
    }

    #[test]
    fn chunked_bodies_are_decoded() -> Result<()> {
        let (url, server) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
        )?;
        let r = http_request("GET", &format!("{url}/x"), &[], None)?;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.json()?, serde_json::json!({"a": 1}));
        let request = String::from_utf8(server.join().expect("server"))?;
        assert!(request.starts_with("GET /x HTTP/1.1\r\n"), "{request}");
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("connection: close\r\n"), "{request}");
        assert!(!lower.contains("content-length"), "{request}");
        Ok(())
    }

    #[test]
    fn errors_and_redirects_are_responses() -> Result<()> {
        let (url, server) = serve_once(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nno such x",
        )?;
        let r = http_request("DELETE", &format!("{url}/x"), &[], None)?;
        assert_eq!((r.status, r.text().as_str()), (404, "no such x"));
        server.join().expect("server");

        let (url, server) = serve_once(
            b"HTTP/1.1 303 See Other\r\nLocation: /elsewhere\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
        )?;
        let r = http_request("POST", &format!("{url}/login"), &[], None)?;
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some("/elsewhere"));
        assert_eq!(r.header("set-cookie"), Some("a=1; Path=/"));
        let request = String::from_utf8(server.join().expect("server"))?;
        assert!(
            request
                .to_ascii_lowercase()
                .contains("content-length: 0\r\n"),
            "a POST without a body says so: {request}"
        );
        Ok(())
    }

    #[test]
    fn binary_bodies_and_headers_go_out_as_given() -> Result<()> {
        let (url, server) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\x00\xff\x01")?;
        let photo: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let r = http_request(
            "PUT",
            &format!("{url}/photo"),
            &[("Content-Type", "image/jpeg"), ("X-Case-Token", "t0k")],
            Some(&photo),
        )?;
        assert_eq!((r.status, r.body.as_slice()), (200, &[0u8, 0xff, 1][..]));
        let request = server.join().expect("server");
        let split = request
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of head")
            + 4;
        let head = String::from_utf8_lossy(&request[..split]).to_ascii_lowercase();
        assert!(head.starts_with("put /photo http/1.1\r\n"), "{head}");
        assert!(head.contains("content-type: image/jpeg\r\n"), "{head}");
        assert!(head.contains("x-case-token: t0k\r\n"), "{head}");
        assert!(head.contains("content-length: 200000\r\n"), "{head}");
        assert!(!head.contains("user-agent"), "{head}");
        assert_eq!(&request[split..], photo.as_slice());
        Ok(())
    }

    #[test]
    fn only_plain_http() {
        let e = http_request("GET", "https://127.0.0.1:1/", &[], None).unwrap_err();
        assert!(e.to_string().contains("only http://"), "{e:#}");
    }
}
