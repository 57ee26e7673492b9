//! `[vault]`: where recordings are stored and how long they are kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::format::{MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE};
use crate::store::S3Config;

/// Which store recordings go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Files under `<data-dir>/vault/`, WORM enforced by vidid (one machine, development).
    Local,
    /// An S3-compatible bucket with Object Lock in COMPLIANCE mode (production).
    S3,
}

/// The `[vault]` section of the configuration.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// `local` or `s3`.
    pub store: StoreKind,
    /// The local store's directory; default `<data-dir>/vault`.
    pub local_dir: Option<PathBuf>,
    /// The key directory (KEKs, signing key); default `<data-dir>/keys`.
    pub keys_dir: Option<PathBuf>,
    /// At most this much audio may be missing from storage if the node dies mid-call
    /// (seconds). Chunks are sealed every `max_loss_secs / 2` seconds while audio flows.
    pub max_loss_secs: u64,
    /// Plaintext bytes per STREAM segment inside a chunk.
    pub segment_size: u32,
    /// Retention in years, counted from the end of the recording.
    pub retention_years: u32,
    /// Objects uploaded during the call are locked until `start + retention_years +
    /// retention_margin_days`; a recording that ends later than the margin allows has its
    /// objects' retention extended when it closes.
    pub retention_margin_days: u32,
    /// The `retention-class` tag of every object.
    pub retention_class: String,
    /// The `legal-basis` tag of every object.
    pub legal_basis: String,
    /// Names this deployment's manifest hash chain (one writer per chain: a scaled-out
    /// deployment gives each media node its own id).
    pub deployment_id: String,
    /// Upload threads.
    pub upload_workers: usize,
    /// `finish` of a recording waits this long for its manifest to be stored; after that the
    /// recording is durable in the spool and completes in the background.
    pub finish_wait_secs: u64,
    /// Longest pause between upload retries (they start at 0.5 s and double).
    pub retry_max_secs: u64,
    /// `[vault.s3]`, used when `store = "s3"`.
    pub s3: S3Config,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            store: StoreKind::Local,
            local_dir: None,
            keys_dir: None,
            max_loss_secs: 10,
            segment_size: 16 * 1024,
            retention_years: 20,
            retention_margin_days: 1,
            retention_class: "aml-20y".into(),
            legal_basis: "ZPPDFT-2 rulebook art. 7".into(),
            deployment_id: "vidid".into(),
            upload_workers: 2,
            finish_wait_secs: 10,
            retry_max_secs: 10,
            s3: S3Config::default(),
        }
    }
}

/// Characters S3 allows in tag values (and so in ours).
fn tag_safe(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, ' ' | '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
    })
}

impl VaultConfig {
    /// Check the values; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_loss_secs < 2 {
            return Err("vault.max_loss_secs must be at least 2".into());
        }
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&self.segment_size) {
            return Err(format!(
                "vault.segment_size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE}"
            ));
        }
        if self.retention_years == 0 {
            return Err("vault.retention_years must be at least 1".into());
        }
        for (key, v) in [
            ("vault.retention_class", &self.retention_class),
            ("vault.legal_basis", &self.legal_basis),
        ] {
            if v.is_empty() || v.len() > 256 || !tag_safe(v) {
                return Err(format!(
                    "{key} must be 1 to 256 characters of letters, digits, spaces and _ . : / = + - @ (S3 tag rules)"
                ));
            }
        }
        let id_ok = !self.deployment_id.is_empty()
            && self.deployment_id.len() <= 64
            && !self.deployment_id.starts_with('.')
            && self
                .deployment_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !id_ok {
            return Err(
                "vault.deployment_id must be 1 to 64 ascii letters, digits, '-', '_' or '.'".into(),
            );
        }
        if self.upload_workers == 0 {
            return Err("vault.upload_workers must be at least 1".into());
        }
        if self.store == StoreKind::S3 && self.s3.bucket.is_empty() {
            return Err("vault.s3.bucket must be set when vault.store = \"s3\"".into());
        }
        Ok(())
    }

    /// How often a chunk is sealed while audio is written.
    pub fn chunk_interval(&self) -> Duration {
        Duration::from_millis(self.max_loss_secs.max(2) * 1000 / 2)
    }

    /// The local store's directory.
    pub fn local_dir(&self, data_dir: &Path) -> PathBuf {
        self.local_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("vault"))
    }

    /// The key directory.
    pub fn keys_dir(&self, data_dir: &Path) -> PathBuf {
        self.keys_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("keys"))
    }

    /// The spool directory: `<data-dir>/spool`.
    pub fn spool_dir(&self, data_dir: &Path) -> PathBuf {
        data_dir.join("spool")
    }

    /// The tags of a recording's objects.
    pub fn tags(&self, case_id: &str) -> Vec<(String, String)> {
        let mut case: String = case_id
            .chars()
            .map(|c| if tag_safe(&c.to_string()) { c } else { '_' })
            .collect();
        case.truncate(256);
        vec![
            ("case-id".into(), case),
            ("legal-basis".into(), self.legal_basis.clone()),
            ("retention-class".into(), self.retention_class.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        VaultConfig::default().validate().unwrap();
        assert_eq!(
            VaultConfig::default().chunk_interval(),
            Duration::from_secs(5)
        );
        let c = VaultConfig {
            legal_basis: "a;b".into(),
            ..VaultConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("vault.legal_basis"));
        let c = VaultConfig {
            store: StoreKind::S3,
            ..VaultConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("vault.s3.bucket"));
    }
}
