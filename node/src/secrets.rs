//! Development secrets generated on first start, so a new user needs no set-up.
//!
//! They live in `<data-dir>/secrets/` with mode 0600; production configures its own.
//! Their values are never logged, only the path.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::NodeError;

fn secrets_error(e: std::io::Error) -> NodeError {
    NodeError::Io {
        what: "the secrets directory",
        source: e,
    }
}

/// Reads `<data-dir>/secrets/<name>`, creating it with a fresh random token if missing.
pub fn load_or_create(data_dir: &Path, name: &str) -> Result<(String, PathBuf), NodeError> {
    let dir = data_dir.join("secrets");
    std::fs::create_dir_all(&dir).map_err(secrets_error)?;
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok((s.trim().to_string(), path)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(secrets_error(e)),
    }
    let value = vidid_control::calls::random_token();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(secrets_error)?;
    f.write_all(value.as_bytes()).map_err(secrets_error)?;
    f.sync_all().map_err(secrets_error)?;
    Ok((value, path))
}

#[cfg(test)]
mod tests {
    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, path) = super::load_or_create(dir.path(), "api-key").unwrap();
        let (b, _) = super::load_or_create(dir.path(), "api-key").unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= 40);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
