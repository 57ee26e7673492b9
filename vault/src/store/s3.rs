//! S3-compatible storage with Object Lock (AWS S3, MinIO, Ceph RGW, SeaweedFS).
//!
//! Generic: an endpoint, a region, path-style or virtual-host addressing, static credentials
//! (from the config, else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`). The client runs on
//! a small runtime of its own, so the store's methods are blocking calls usable from the
//! recorder's and the uploader's threads and from the CLI. They must not be called from
//! inside another tokio runtime's worker thread (use `spawn_blocking`).

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ObjectLockEnabled, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
};
use base64::Engine as _;
use time::OffsetDateTime;

use super::{
    ObjectInfo, PutOptions, RecordingStore, Retention, StoreError, StoredObject, check_key,
    rfc3339, tag_escape, whole_seconds,
};

/// Where the S3 store is and how to reach it (`[vault.s3]`).
#[derive(Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL, e.g. `http://127.0.0.1:8333`; unset = AWS's endpoint for the region.
    pub endpoint: Option<String>,
    /// Region (SeaweedFS and MinIO accept any; `us-east-1` is usual).
    pub region: String,
    /// The bucket: must have Object Lock enabled with a COMPLIANCE default retention.
    pub bucket: String,
    /// Key prefix inside the bucket, e.g. `vidid/` (empty: the bucket root).
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), as MinIO, Ceph and SeaweedFS want.
    pub path_style: bool,
    /// Access key id; unset = `AWS_ACCESS_KEY_ID`.
    #[serde(skip_serializing)]
    pub access_key_id: Option<String>,
    /// Secret key; unset = `AWS_SECRET_ACCESS_KEY`. Never logged.
    #[serde(skip_serializing)]
    pub secret_access_key: Option<String>,
    /// TCP connect timeout.
    pub connect_timeout_secs: u64,
    /// Limit for one whole request (upload included).
    pub request_timeout_secs: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: String::new(),
            path_style: true,
            access_key_id: None,
            secret_access_key: None,
            connect_timeout_secs: 3,
            request_timeout_secs: 30,
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field(
                "access_key_id",
                &self.access_key_id.as_ref().map(|_| "<set>"),
            )
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// An S3 bucket with Object Lock (see the module docs).
pub struct S3Store {
    rt: Option<tokio::runtime::Runtime>,
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's context panics; this does not.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl S3Store {
    /// A client for `cfg`. Makes no request (see [`RecordingStore::check_worm`]).
    pub fn new(cfg: &S3Config) -> Result<Self, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(StoreError::Misconfigured(
                "vault.s3.bucket is not set".into(),
            ));
        }
        let prefix = cfg.prefix.trim_matches('/');
        if !prefix.is_empty() {
            check_key(prefix).map_err(|_| {
                StoreError::Misconfigured(format!("bad vault.s3.prefix {prefix:?}"))
            })?;
        }
        let access = cfg
            .access_key_id
            .clone()
            .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())
            .filter(|s| !s.is_empty());
        let secret = cfg
            .secret_access_key
            .clone()
            .or_else(|| std::env::var("AWS_SECRET_ACCESS_KEY").ok())
            .filter(|s| !s.is_empty());
        let (Some(access), Some(secret)) = (access, secret) else {
            return Err(StoreError::Misconfigured(
                "no S3 credentials: set vault.s3.access_key_id and vault.s3.secret_access_key \
                 (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                    .into(),
            ));
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vault-s3")
            .enable_all()
            .build()?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .credentials_provider(Credentials::new(access, secret, None, None, "vidid-config"))
            .force_path_style(cfg.path_style)
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs.max(1)))
                    .operation_timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
                    .build(),
            );
        if let Some(ep) = &cfg.endpoint {
            b = b.endpoint_url(ep);
        }
        let client = Client::from_conf(b.build());
        Ok(Self {
            rt: Some(rt),
            client,
            bucket: cfg.bucket.clone(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            endpoint: cfg
                .endpoint
                .clone()
                .unwrap_or_else(|| format!("aws:{}", cfg.region)),
        })
    }

    /// The SDK client (tests use it to act as an attacker or an administrator).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The bucket key of a store key.
    pub fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Run a future of the client to completion on the store's runtime.
    #[allow(
        clippy::expect_used,
        reason = "the runtime is taken only in Drop, after the last use"
    )]
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt
            .as_ref()
            .expect("the runtime lives as long as the store")
            .block_on(f)
    }
}

fn to_s3_time(t: OffsetDateTime) -> DateTime {
    DateTime::from_secs(whole_seconds(t).unix_timestamp())
}

fn from_s3_time(t: &DateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.secs()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The HTTP status and error code of a failed call, if the server answered.
fn status_code<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<(u16, String)> {
    match e {
        SdkError::ServiceError(se) => Some((
            se.raw().status().as_u16(),
            se.err().code().unwrap_or_default().to_owned(),
        )),
        _ => None,
    }
}

fn map_err<E>(
    op: &str,
    key: &str,
    e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = format!("{op} {key}: {}", DisplayErrorContext(&e));
    match status_code(&e) {
        Some((404, _)) => StoreError::NotFound(key.to_owned()),
        Some((412, _)) => StoreError::AlreadyExists(key.to_owned()),
        Some((408 | 429 | 500..=599, _)) => StoreError::Unavailable(text),
        Some(_) => StoreError::Rejected(text),
        None => match e {
            SdkError::ConstructionFailure(_) => StoreError::Rejected(text),
            _ => StoreError::Unavailable(text),
        },
    }
}

impl RecordingStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{} ({})", self.bucket, self.prefix, self.endpoint)
    }

    fn check_worm(&self) -> Result<(), StoreError> {
        let bucket = &self.bucket;
        self.block_on(self.client.head_bucket().bucket(bucket).send())
            .map_err(|e| match status_code(&e) {
                Some((404, _)) => {
                    StoreError::Misconfigured(format!("bucket {bucket} does not exist"))
                }
                Some((403, _)) => StoreError::Misconfigured(format!(
                    "access to bucket {bucket} denied (check the credentials)"
                )),
                _ => map_err("HeadBucket", bucket, e),
            })?;
        let out = self
            .block_on(
                self.client
                    .get_object_lock_configuration()
                    .bucket(bucket)
                    .send(),
            )
            .map_err(|e| match status_code(&e) {
                Some((404, _)) | Some((400, _)) => StoreError::Misconfigured(format!(
                    "bucket {bucket} has no Object Lock configuration: create it with Object Lock \
                     enabled and a COMPLIANCE default retention"
                )),
                _ => map_err("GetObjectLockConfiguration", bucket, e),
            })?;
        let cfg = out.object_lock_configuration().ok_or_else(|| {
            StoreError::Misconfigured(format!("bucket {bucket} has no Object Lock configuration"))
        })?;
        if cfg.object_lock_enabled() != Some(&ObjectLockEnabled::Enabled) {
            return Err(StoreError::Misconfigured(format!(
                "bucket {bucket}: Object Lock is not enabled"
            )));
        }
        let mode = cfg
            .rule()
            .and_then(|r| r.default_retention())
            .and_then(|d| d.mode());
        match mode {
            Some(ObjectLockRetentionMode::Compliance) => Ok(()),
            Some(other) => Err(StoreError::Misconfigured(format!(
                "bucket {bucket}: the default retention mode is {}, not COMPLIANCE",
                other.as_str()
            ))),
            None => Err(StoreError::Misconfigured(format!(
                "bucket {bucket}: Object Lock has no default retention rule (COMPLIANCE required)"
            ))),
        }
    }

    fn put(&self, key: &str, body: &[u8], opts: &PutOptions) -> Result<StoredObject, StoreError> {
        check_key(key)?;
        let tagging = opts
            .tags
            .iter()
            .map(|(k, v)| format!("{}={}", tag_escape(k), tag_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        let full = self.full_key(key);
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .body(ByteStream::from(body.to_vec()))
            .content_type(opts.content_type)
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(to_s3_time(opts.retain_until))
            .tagging(tagging)
            .metadata("sha256", hex::encode(opts.sha256))
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(opts.sha256))
            // Create-only where the server supports conditional writes.
            .if_none_match("*");
        let out = self
            .block_on(req.send())
            .map_err(|e| map_err("PutObject", key, e))?;
        Ok(StoredObject {
            key: key.to_owned(),
            version_id: out.version_id().map(str::to_owned),
            size: body.len() as u64,
        })
    }

    fn get(&self, key: &str, version_id: Option<&str>) -> Result<Vec<u8>, StoreError> {
        check_key(key)?;
        let out = self
            .block_on(
                self.client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(self.full_key(key))
                    .set_version_id(version_id.map(str::to_owned))
                    .send(),
            )
            .map_err(|e| map_err("GetObject", key, e))?;
        let bytes = self
            .block_on(out.body.collect())
            .map_err(|e| StoreError::Unavailable(format!("GetObject {key}: reading body: {e}")))?;
        Ok(bytes.into_bytes().to_vec())
    }

    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        check_key(key)?;
        let result = self.block_on(
            self.client
                .head_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .send(),
        );
        match result {
            Ok(out) => Ok(Some(ObjectInfo {
                key: key.to_owned(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                version_id: out.version_id().map(str::to_owned),
                sha256: out.metadata().and_then(|m| m.get("sha256")).cloned(),
            })),
            Err(e) => match map_err("HeadObject", key, e) {
                StoreError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let full_prefix = self.full_key(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .block_on(
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&full_prefix)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| map_err("ListObjectsV2", prefix, e))?;
            for o in page.contents() {
                let Some(k) = o.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                    continue;
                };
                out.push(ObjectInfo {
                    key: k.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    version_id: None,
                    sha256: None,
                });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn version_count(&self, key: &str) -> Result<usize, StoreError> {
        check_key(key)?;
        let full = self.full_key(key);
        let out = self
            .block_on(
                self.client
                    .list_object_versions()
                    .bucket(&self.bucket)
                    .prefix(&full)
                    .send(),
            )
            .map_err(|e| map_err("ListObjectVersions", key, e))?;
        let versions = out
            .versions()
            .iter()
            .filter(|v| v.key() == Some(full.as_str()))
            .count();
        let markers = out
            .delete_markers()
            .iter()
            .filter(|v| v.key() == Some(full.as_str()))
            .count();
        Ok(versions + markers)
    }

    fn retention(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Retention>, StoreError> {
        check_key(key)?;
        let result = self.block_on(
            self.client
                .get_object_retention()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .set_version_id(version_id.map(str::to_owned))
                .send(),
        );
        match result {
            Ok(out) => Ok(out.retention().and_then(|r| {
                Some(Retention {
                    mode: r.mode()?.as_str().to_owned(),
                    retain_until: from_s3_time(r.retain_until_date()?),
                })
            })),
            Err(e) => {
                let code = status_code(&e);
                match code {
                    // "NoSuchObjectLockConfiguration": the object exists without retention.
                    Some((_, c)) if c.contains("ObjectLock") => Ok(None),
                    _ => Err(map_err("GetObjectRetention", key, e)),
                }
            }
        }
    }

    fn tags(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        check_key(key)?;
        let out = self
            .block_on(
                self.client
                    .get_object_tagging()
                    .bucket(&self.bucket)
                    .key(self.full_key(key))
                    .set_version_id(version_id.map(str::to_owned))
                    .send(),
            )
            .map_err(|e| map_err("GetObjectTagging", key, e))?;
        let mut tags: Vec<(String, String)> = out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        tags.sort();
        Ok(tags)
    }

    fn extend_retention(
        &self,
        key: &str,
        version_id: Option<&str>,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let retention = ObjectLockRetention::builder()
            .mode(ObjectLockRetentionMode::Compliance)
            .retain_until_date(to_s3_time(until))
            .build();
        self.block_on(
            self.client
                .put_object_retention()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .set_version_id(version_id.map(str::to_owned))
                .retention(retention)
                .send(),
        )
        .map_err(|e| map_err("PutObjectRetention", key, e))?;
        Ok(())
    }

    fn delete(&self, key: &str, version_id: Option<&str>) -> Result<(), StoreError> {
        check_key(key)?;
        let result = self.block_on(
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .set_version_id(version_id.map(str::to_owned))
                .send(),
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(status_code(&e), Some((403, _))) => {
                let until = self
                    .retention(key, version_id)
                    .ok()
                    .flatten()
                    .map_or_else(|| "unknown".to_owned(), |r| rfc3339(r.retain_until));
                Err(StoreError::Locked {
                    key: key.to_owned(),
                    until,
                    mode: "COMPLIANCE".to_owned(),
                    action: "delete it",
                })
            }
            Err(e) => Err(map_err("DeleteObject", key, e)),
        }
    }
}
