//! A minimal HTTP/1.1 client over one keep-alive connection (loopback only, no TLS), for the
//! queue benchmark: tens of thousands of requests must not each cost a fresh TCP connection
//! (ephemeral ports, `TIME_WAIT`), and the latency measured should be the server's, not a
//! connection set-up's.

use std::net::SocketAddr;

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "HTTP {} body is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection; reconnects when the server closed it.
pub struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    pub fn new(port: u16) -> Http {
        Http {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            conn: None,
        }
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Resp> {
        // A kept-alive connection the server has meanwhile closed fails before any byte of
        // the answer: then (only then) the request is sent again on a fresh connection.
        let reused = self.conn.is_some();
        match self.once(method, path, headers, body).await {
            Ok(r) => Ok(r),
            Err(Attempt::Unanswered(e)) if reused => {
                self.conn = None;
                self.once(method, path, headers, body)
                    .await
                    .map_err(|a| a.into_inner())
                    .with_context(|| format!("{method} {path} (after {e:#})"))
            }
            Err(a) => {
                self.conn = None;
                Err(a.into_inner()).with_context(|| format!("{method} {path}"))
            }
        }
    }

    async fn once(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Resp, Attempt> {
        let conn = match &mut self.conn {
            Some(c) => c,
            slot @ None => {
                let s = TcpStream::connect(self.addr)
                    .await
                    .map_err(|e| Attempt::Failed(e.into()))?;
                s.set_nodelay(true).map_err(|e| Attempt::Failed(e.into()))?;
                slot.insert(BufReader::new(s))
            }
        };
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (k, v) in headers {
            req.push_str(k);
            req.push_str(": ");
            req.push_str(v);
            req.push_str("\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        conn.get_mut()
            .write_all(&bytes)
            .await
            .map_err(|e| Attempt::Unanswered(e.into()))?;
        let mut line = String::new();
        let n = conn
            .read_line(&mut line)
            .await
            .map_err(|e| Attempt::Unanswered(e.into()))?;
        if n == 0 {
            return Err(Attempt::Unanswered(anyhow::anyhow!(
                "connection closed before the answer"
            )));
        }
        read_rest(conn, &line, method)
            .await
            .map(|(r, close)| {
                if close {
                    self.conn = None;
                }
                r
            })
            .map_err(Attempt::Failed)
    }
}

enum Attempt {
    /// Nothing of an answer arrived: safe to send again on a fresh connection.
    Unanswered(anyhow::Error),
    Failed(anyhow::Error),
}

impl Attempt {
    fn into_inner(self) -> anyhow::Error {
        match self {
            Attempt::Unanswered(e) | Attempt::Failed(e) => e,
        }
    }
}

/// Reads the rest of an answer after its status line; true when the connection must close.
async fn read_rest(
    conn: &mut BufReader<TcpStream>,
    status_line: &str,
    method: &str,
) -> anyhow::Result<(Resp, bool)> {
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        ensure!(conn.read_line(&mut l).await? > 0, "truncated headers");
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let close = get("connection").is_some_and(|v| v.contains("close"));
    let mut body = Vec::new();
    if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().context("content-length")?;
        body.resize(len, 0);
        conn.read_exact(&mut body).await?;
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut l = String::new();
            ensure!(conn.read_line(&mut l).await? > 0, "truncated chunk header");
            let size = usize::from_str_radix(l.trim().split(';').next().unwrap_or(""), 16)
                .with_context(|| format!("bad chunk size {l:?}"))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut t = String::new();
                    if conn.read_line(&mut t).await? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let at = body.len();
            body.resize(at + size + 2, 0);
            conn.read_exact(&mut body[at..]).await?;
            body.truncate(at + size);
        }
    } else {
        conn.read_to_end(&mut body).await?;
        return Ok((
            Resp {
                status,
                headers,
                body,
            },
            true,
        ));
    }
    if status >= 600 {
        bail!("bad status {status}");
    }
    Ok((
        Resp {
            status,
            headers,
            body,
        },
        close,
    ))
}
