//! Janus (Debian's `janus` package), the reference peer: started with a generated
//! configuration (HTTP transport and the EchoTest plugin only), stopped on drop.
//!
//! Janus leaves loopback interfaces out of ICE, so it must run where a non-loopback
//! interface exists: `loadtests/bench.sh` makes a network namespace with a veth holding
//! 127.0.0.2/32 and runs the whole benchmark (both servers and the generator) inside it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Janus {
    child: Child,
    pub dir: tempfile::TempDir,
}

const PLUGINS: &str = "/usr/lib/x86_64-linux-gnu/janus/plugins";
const TRANSPORTS: &str = "/usr/lib/x86_64-linux-gnu/janus/transports";

impl Janus {
    /// Starts `janus` with ICE on `interface` only and the HTTP API on `port`.
    pub fn start(port: u16, interface: &str) -> anyhow::Result<Janus> {
        let dir = tempfile::Builder::new().prefix("vidid-janus-").tempdir()?;
        let cfg = dir.path();
        let disabled_plugins = [
            "audiobridge",
            "duktape",
            "lua",
            "nosip",
            "recordplay",
            "sip",
            "streaming",
            "textroom",
            "videocall",
            "videoroom",
            "voicemail",
        ]
        .map(|p| format!("libjanus_{p}.so"))
        .join(",");
        let disabled_transports = ["mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"]
            .map(|p| format!("libjanus_{p}.so"))
            .join(",");
        std::fs::write(
            cfg.join("janus.jcfg"),
            format!(
                "general: {{\n  configs_folder = \"{c}\"\n  plugins_folder = \"{PLUGINS}\"\n  transports_folder = \"{TRANSPORTS}\"\n  debug_level = 3\n  session_timeout = 120\n}}\n\
                 media: {{\n  rtp_port_range = \"20000-40000\"\n}}\n\
                 nat: {{\n  ice_enforce_list = \"{interface}\"\n  ice_ignore_list = \"\"\n}}\n\
                 plugins: {{\n  disable = \"{disabled_plugins}\"\n}}\n\
                 transports: {{\n  disable = \"{disabled_transports}\"\n}}\n\
                 events: {{\n  broadcast = false\n}}\n",
                c = cfg.display()
            ),
        )?;
        std::fs::write(
            cfg.join("janus.transport.http.jcfg"),
            format!(
                "general: {{\n  json = \"plain\"\n  base_path = \"/janus\"\n  http = true\n  port = {port}\n  ip = \"127.0.0.1\"\n  https = false\n}}\nadmin: {{\n  admin_http = false\n}}\n"
            ),
        )?;
        std::fs::write(cfg.join("janus.plugin.echotest.jcfg"), "general: {\n}\n")?;
        let log = std::fs::File::create(cfg.join("janus.log"))?;
        let child = Command::new("janus")
            .arg("-F")
            .arg(cfg)
            .arg("-C")
            .arg(cfg.join("janus.jcfg"))
            .arg("-o")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting janus (apt-get install janus)")?;
        let mut j = Janus { child, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(j);
            }
            if let Ok(Some(status)) = j.child.try_wait() {
                bail!("janus exited ({status}):\n{}", j.log());
            }
            if Instant::now() > deadline {
                bail!("janus did not open its HTTP port:\n{}", j.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("janus.log")).unwrap_or_default()
    }

    /// Where EchoTest recordings of this run go.
    pub fn recordings_dir(&self) -> PathBuf {
        let d = self.dir.path().join("recordings");
        let _ = std::fs::create_dir_all(&d);
        d
    }

    /// Bytes of the `.mjr` recordings written under `dir`.
    pub fn recorded_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .map(|it| {
                it.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
