//! HTTPS from certificate files (`http.tls_cert`, `http.tls_key`): browsers open the camera only
//! on secure pages, so a deployment without a TLS proxy serves HTTPS itself. The certificate is
//! made here with `openssl`, checked by `curl` against it as the only trusted root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vidid_e2e::{free_tcp_port, vidid_bin};

fn curl(args: &[&str]) -> Result<(bool, String)> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .args(args)
        .output()
        .context("running curl (apt-get install curl)")?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[test]
fn serves_https_from_pem_files() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running openssl")?;
    ensure!(st.success(), "openssl req failed");
    let port = free_tcp_port()?;
    let log = std::fs::File::create(tmp.path().join("server.log"))?;
    let mut child = Command::new(vidid_bin()?)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(tmp.path().join("data"))
        .env("VIDID__HTTP__TLS_CERT", &cert)
        .env("VIDID__HTTP__TLS_KEY", &key)
        .env("VIDID__NODE__DRAIN_GRACE_SECS", "0")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let base = format!("https://127.0.0.1:{port}");
    let cacert = cert.display().to_string();
    let result = (|| -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (ok, out) = curl(&["--cacert", &cacert, &format!("{base}/readyz")])?;
            if ok && out.contains("\"ready\":true") {
                break;
            }
            if Instant::now() > deadline {
                bail!("no HTTPS /readyz within 30 s: {out}");
            }
            thread::sleep(Duration::from_millis(200));
        }
        let (ok, page) = curl(&["--cacert", &cacert, &format!("{base}/customer?case=x")])?;
        ensure!(
            ok && page.contains("<html"),
            "the journey page over HTTPS: {page}"
        );
        // Plain HTTP on the TLS port gets no page.
        let (_, plain) = curl(&[&format!("http://127.0.0.1:{port}/readyz")])?;
        ensure!(!plain.contains("\"ready\""), "plain HTTP answered: {plain}");
        // And the certificate is the one from the files (not some other).
        let (ok, out) = curl(&[&format!("{base}/readyz")])?;
        ensure!(
            !ok,
            "curl trusted the self-signed certificate without --cacert: {out}"
        );
        Ok(())
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait()?;
    if let Err(e) = result {
        let log = std::fs::read_to_string(tmp.path().join("server.log")).unwrap_or_default();
        bail!("{e:#}\n--- server log ---\n{log}");
    }
    ensure!(status.success(), "vidid stopped with {status}");
    Ok(())
}
