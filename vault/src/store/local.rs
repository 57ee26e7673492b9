//! The embedded store: WORM files under one directory, enforced by this code.
//!
//! ```text
//! <root>/objects/<key>            the object; created once (hard link of a finished temporary
//!                                 file, so it is never seen half-written), then mode 0444
//! <root>/retention/<key>.json     {"mode":"COMPLIANCE","retain_until":…,"tags":{…},
//!                                  "sha256":…,"size":…,"stored_at":…}, mode 0444; replaced
//!                                 only by a later retain-until date
//! ```
//!
//! No method overwrites an object, and `delete` refuses before the retain-until date. This
//! protects recordings from every code path and operator mistake; it cannot protect them from
//! root on the machine, which is what S3 Object Lock (COMPLIANCE) on separate storage is for.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::{
    COMPLIANCE, ObjectInfo, PutOptions, RecordingStore, Retention, StoreError, StoredObject,
    check_key, rfc3339, whole_seconds,
};

/// WORM files under a root directory (see the module docs).
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct LockRecord {
    mode: String,
    #[serde(with = "time::serde::rfc3339")]
    retain_until: OffsetDateTime,
    tags: BTreeMap<String, String>,
    sha256: String,
    size: u64,
    #[serde(with = "time::serde::rfc3339")]
    stored_at: OffsetDateTime,
}

impl LocalStore {
    /// A store rooted at `root` (created if missing).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        fs::create_dir_all(root.join("objects"))?;
        fs::create_dir_all(root.join("retention"))?;
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding an object (for tests and auditors who look at the files).
    pub fn object_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join("objects").join(key))
    }

    fn lock_path(&self, key: &str) -> PathBuf {
        self.root.join("retention").join(format!("{key}.json"))
    }

    fn read_lock(&self, key: &str) -> Result<Option<LockRecord>, StoreError> {
        match fs::read(self.lock_path(key)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("retention record of {key}: {e}"),
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn check_version(key: &str, version_id: Option<&str>) -> Result<(), StoreError> {
        match version_id {
            None | Some("null") => Ok(()),
            Some(v) => Err(StoreError::NotFound(format!("{key} (version {v})"))),
        }
    }
}

/// Write `bytes` to a temporary file in `dir` with `mode`, fsynced.
fn write_temp(dir: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, StoreError> {
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::format::random_hex(8)
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(tmp)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or_else(|| Path::new("."))
}

impl RecordingStore for LocalStore {
    fn describe(&self) -> String {
        format!("local:{}", self.root.display())
    }

    fn check_worm(&self) -> Result<(), StoreError> {
        // Enforced by this code; check that the directories are there and writable.
        let probe = write_temp(&self.root.join("objects"), b"", 0o600)?;
        fs::remove_file(probe)?;
        Ok(())
    }

    fn put(&self, key: &str, body: &[u8], opts: &PutOptions) -> Result<StoredObject, StoreError> {
        let path = self.object_path(key)?;
        if path.exists() {
            return Err(StoreError::AlreadyExists(key.to_owned()));
        }
        let lock_path = self.lock_path(key);
        fs::create_dir_all(parent(&path))?;
        fs::create_dir_all(parent(&lock_path))?;
        // The retention record first: an object is never without one. A record without an
        // object (a crash in between) belongs to no object and is replaced here.
        let record = LockRecord {
            mode: COMPLIANCE.to_owned(),
            retain_until: whole_seconds(opts.retain_until),
            tags: opts.tags.iter().cloned().collect(),
            sha256: hex::encode(opts.sha256),
            size: body.len() as u64,
            stored_at: OffsetDateTime::now_utc(),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        let tmp = write_temp(parent(&lock_path), &json, 0o444)?;
        let renamed = fs::rename(&tmp, &lock_path);
        if renamed.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        renamed?;
        sync_dir(parent(&lock_path))?;

        let tmp = write_temp(parent(&path), body, 0o444)?;
        // A hard link fails if the name exists: create-new, and the object appears whole.
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists(key.to_owned()));
            }
            other => other?,
        }
        sync_dir(parent(&path))?;
        Ok(StoredObject {
            key: key.to_owned(),
            version_id: None,
            size: body.len() as u64,
        })
    }

    fn get(&self, key: &str, version_id: Option<&str>) -> Result<Vec<u8>, StoreError> {
        Self::check_version(key, version_id)?;
        match fs::read(self.object_path(key)?) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(key.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let path = self.object_path(key)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(ObjectInfo {
                key: key.to_owned(),
                size: m.len(),
                version_id: None,
                sha256: self.read_lock(key)?.map(|r| r.sha256),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let objects = self.root.join("objects");
        // Start at the deepest directory the prefix names.
        let dir_part = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        let start = if dir_part.is_empty() {
            objects.clone()
        } else {
            check_key(dir_part)?;
            objects.join(dir_part)
        };
        let mut out = Vec::new();
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                let path = entry.path();
                let ft = entry.file_type()?;
                if ft.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&objects) else {
                    continue;
                };
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                if key.starts_with(prefix) {
                    out.push(ObjectInfo {
                        size: entry.metadata()?.len(),
                        version_id: None,
                        sha256: self.read_lock(&key)?.map(|r| r.sha256),
                        key,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn version_count(&self, key: &str) -> Result<usize, StoreError> {
        Ok(usize::from(self.object_path(key)?.exists()))
    }

    fn retention(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Retention>, StoreError> {
        Self::check_version(key, version_id)?;
        check_key(key)?;
        Ok(self.read_lock(key)?.map(|r| Retention {
            mode: r.mode,
            retain_until: r.retain_until,
        }))
    }

    fn tags(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Self::check_version(key, version_id)?;
        check_key(key)?;
        Ok(self
            .read_lock(key)?
            .map(|r| r.tags.into_iter().collect())
            .unwrap_or_default())
    }

    fn extend_retention(
        &self,
        key: &str,
        version_id: Option<&str>,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Self::check_version(key, version_id)?;
        check_key(key)?;
        let mut record = self
            .read_lock(key)?
            .ok_or_else(|| StoreError::NotFound(format!("retention record of {key}")))?;
        let until = whole_seconds(until);
        if until < record.retain_until {
            return Err(StoreError::Locked {
                key: key.to_owned(),
                until: rfc3339(record.retain_until),
                mode: record.mode,
                action: "shorten its retention",
            });
        }
        if until == record.retain_until {
            return Ok(());
        }
        record.retain_until = until;
        let lock_path = self.lock_path(key);
        let json = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        let tmp = write_temp(parent(&lock_path), &json, 0o444)?;
        fs::rename(&tmp, &lock_path)?;
        sync_dir(parent(&lock_path))
    }

    fn delete(&self, key: &str, version_id: Option<&str>) -> Result<(), StoreError> {
        Self::check_version(key, version_id)?;
        let path = self.object_path(key)?;
        if !path.exists() {
            return Err(StoreError::NotFound(key.to_owned()));
        }
        let record = self.read_lock(key)?;
        let now = OffsetDateTime::now_utc();
        match record {
            Some(r) if r.retain_until > now => Err(StoreError::Locked {
                key: key.to_owned(),
                until: rfc3339(r.retain_until),
                mode: r.mode,
                action: "delete it",
            }),
            None => Err(StoreError::Locked {
                key: key.to_owned(),
                until: "unknown (no retention record)".to_owned(),
                mode: COMPLIANCE.to_owned(),
                action: "delete it",
            }),
            Some(_) => {
                // Retention has expired: erasure (e.g. GDPR) is allowed now.
                fs::remove_file(&path)?;
                fs::remove_file(self.lock_path(key))?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(until: OffsetDateTime) -> PutOptions {
        PutOptions {
            retain_until: until,
            tags: vec![("case-id".into(), "c-1".into())],
            sha256: [0; 32],
            content_type: "application/octet-stream",
        }
    }

    #[test]
    fn objects_are_written_once_read_only_and_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalStore::open(tmp.path()).unwrap();
        let until = OffsetDateTime::now_utc() + time::Duration::days(365 * 20);
        store
            .put("recordings/r1/a.vrec", b"abc", &opts(until))
            .unwrap();
        assert_eq!(store.get("recordings/r1/a.vrec", None).unwrap(), b"abc");
        assert!(matches!(
            store.put("recordings/r1/a.vrec", b"xyz", &opts(until)),
            Err(StoreError::AlreadyExists(_))
        ));
        let err = store.delete("recordings/r1/a.vrec", None).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("refusing to delete"), "{err}");
        assert!(matches!(
            store.extend_retention(
                "recordings/r1/a.vrec",
                None,
                until - time::Duration::days(1)
            ),
            Err(StoreError::Locked { .. })
        ));
        store
            .extend_retention(
                "recordings/r1/a.vrec",
                None,
                until + time::Duration::days(1),
            )
            .unwrap();
        let r = store
            .retention("recordings/r1/a.vrec", None)
            .unwrap()
            .unwrap();
        assert_eq!(r.mode, COMPLIANCE);
        assert_eq!(
            r.retain_until,
            whole_seconds(until + time::Duration::days(1))
        );
        assert_eq!(
            store.tags("recordings/r1/a.vrec", None).unwrap(),
            vec![("case-id".to_owned(), "c-1".to_owned())]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = store.object_path("recordings/r1/a.vrec").unwrap();
            assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o444);
        }
        let listed = store.list("recordings/r1/").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "recordings/r1/a.vrec");
        assert!(store.list("recordings/r2/").unwrap().is_empty());
        assert!(store.put("../x", b"", &opts(until)).is_err());
    }

    #[test]
    fn expired_objects_may_be_erased() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalStore::open(tmp.path()).unwrap();
        let past = OffsetDateTime::now_utc() - time::Duration::days(1);
        store.put("x/y", b"1", &opts(past)).unwrap();
        store.delete("x/y", None).unwrap();
        assert!(store.head("x/y").unwrap().is_none());
    }
}
