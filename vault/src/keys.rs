//! Keys: the KEK provider seam and the deployment's signing key, with an embedded file-based
//! implementation of both.
//!
//! A recording's DEK is wrapped by a key-encryption key (KEK) that never leaves its provider:
//! [`KeyProvider`] only wraps and unwraps, as a KMS does. The embedded [`FileKeys`] keeps the
//! keys in `<data-dir>/keys/` (directory 0700, secret files 0600):
//!
//! ```text
//! kek-<id>.key          32 random bytes, base64: one KEK per file; never deleted
//! kek.current           the id of the KEK that wraps new recordings' DEKs
//! signing-<id>.pk8      the deployment's Ed25519 key, PKCS#8 v2, base64
//! signing-<id>.pub      its public key, base64 (not secret: also published in the store)
//! signing.current       the id of the signing key that signs new manifests
//! ```
//!
//! Rotation writes a new key file and replaces the `*.current` file; old keys stay, so old
//! recordings keep decrypting and old signatures keep verifying. A running server reads
//! `kek.current` for every new recording, so a KEK rotation applies without a restart. Key
//! bytes are never logged or printed; `Debug` shows ids only.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::SecureRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::format::{DEK_LEN, Dek, rng};

/// Length of a wrapped DEK: nonce, encrypted key, tag.
pub const WRAPPED_DEK_LEN: usize = 12 + DEK_LEN + 16;

/// What goes wrong with keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file or directory could not be read or written.
    #[error("key store i/o failed at {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No key with this id.
    #[error("no {kind} with id {id:?} in {dir}")]
    Unknown {
        /// `KEK` or `signing key`.
        kind: &'static str,
        /// The id.
        id: String,
        /// Where it was looked for.
        dir: String,
    },
    /// No keys at all: run `vidid keys generate` (or `vidid serve`, which does it).
    #[error("no {kind} in {dir}: run `vidid keys generate`")]
    Missing {
        /// `KEK` or `signing key`.
        kind: &'static str,
        /// The key directory.
        dir: String,
    },
    /// A key file is malformed.
    #[error("malformed key file {path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A wrapped DEK does not unwrap under the KEK it names.
    #[error("the data key does not unwrap under KEK {0} (wrong key or altered)")]
    Unwrap(String),
    /// A cryptographic operation failed.
    #[error("key operation failed: {0}")]
    Crypto(&'static str),
}

/// Wraps and unwraps recording DEKs under key-encryption keys, as a KMS does: the KEK never
/// leaves the provider. Implementations: [`FileKeys`] (embedded); a cloud KMS or HSM
/// provider implements the same three calls.
pub trait KeyProvider: Send + Sync {
    /// The id of the KEK new recordings are wrapped under.
    fn current_kek_id(&self) -> Result<String, KeyError>;
    /// Wrap `dek` for `recording_id` under the current KEK: `(kek_id, wrapped)`.
    fn wrap(&self, dek: &Dek, recording_id: &str) -> Result<(String, Vec<u8>), KeyError>;
    /// Unwrap a DEK wrapped under `kek_id` (the current or any older KEK).
    fn unwrap(&self, kek_id: &str, wrapped: &[u8], recording_id: &str) -> Result<Dek, KeyError>;
}

/// Signs manifests with the deployment's Ed25519 key.
pub trait ManifestSigner: Send + Sync {
    /// The key's id (named in every manifest it signs).
    fn key_id(&self) -> String;
    /// The 32-byte Ed25519 public key.
    fn public_key(&self) -> Vec<u8>;
    /// An Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// Verify an Ed25519 signature.
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

/// SHA-256 of a public key, hex: what an auditor pins.
pub fn fingerprint(public_key: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, public_key))
}

/// The associated data of a DEK wrap: binds the wrapped key to its KEK and recording.
fn wrap_aad(kek_id: &str, recording_id: &str) -> Vec<u8> {
    let mut aad = b"vidid-dek-v1\0".to_vec();
    aad.extend_from_slice(kek_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(recording_id.as_bytes());
    aad
}

/// AES-256-GCM wrap of a DEK: `nonce(12) ‖ ciphertext(32) ‖ tag(16)`.
pub fn wrap_with(
    kek: &[u8; 32],
    kek_id: &str,
    dek: &Dek,
    recording_id: &str,
) -> Result<Vec<u8>, KeyError> {
    let key = LessSafeKey::new(
        UnboundKey::new(&aead::AES_256_GCM, kek).map_err(|_| KeyError::Crypto("bad kek"))?,
    );
    let mut nonce = [0u8; 12];
    rng()
        .fill(&mut nonce)
        .map_err(|_| KeyError::Crypto("random generator failed"))?;
    let mut out = Vec::with_capacity(WRAPPED_DEK_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(dek.as_bytes());
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(wrap_aad(kek_id, recording_id)),
            &mut out[12..],
        )
        .map_err(|_| KeyError::Crypto("wrap failed"))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Inverse of [`wrap_with`].
pub fn unwrap_with(
    kek: &[u8; 32],
    kek_id: &str,
    wrapped: &[u8],
    recording_id: &str,
) -> Result<Dek, KeyError> {
    if wrapped.len() != WRAPPED_DEK_LEN {
        return Err(KeyError::Unwrap(kek_id.to_owned()));
    }
    let key = LessSafeKey::new(
        UnboundKey::new(&aead::AES_256_GCM, kek).map_err(|_| KeyError::Crypto("bad kek"))?,
    );
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&wrapped[..12]);
    let mut buf = Zeroizing::new(wrapped[12..].to_vec());
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(wrap_aad(kek_id, recording_id)),
            &mut buf,
        )
        .map_err(|_| KeyError::Unwrap(kek_id.to_owned()))?;
    let mut dek = [0u8; DEK_LEN];
    dek.copy_from_slice(plain);
    Ok(Dek::from_bytes(dek))
}

/// Keys in files under one directory (see the module docs).
pub struct FileKeys {
    dir: PathBuf,
    keks: RwLock<HashMap<String, Zeroizing<[u8; 32]>>>,
    signing: RwLock<HashMap<String, Ed25519KeyPair>>,
}

impl std::fmt::Debug for FileKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeys")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What [`FileKeys::ensure`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ensured {
    /// A KEK was generated (the id).
    pub created_kek: Option<String>,
    /// A signing key was generated (the id).
    pub created_signing_key: Option<String>,
}

impl FileKeys {
    /// Keys in `dir`, read lazily. The directory must exist.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyError> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(KeyError::Missing {
                kind: "key directory",
                dir: dir.display().to_string(),
            });
        }
        warn_if_open(&dir);
        Ok(Self {
            dir,
            keks: RwLock::default(),
            signing: RwLock::default(),
        })
    }

    /// Create the directory and a first KEK and signing key if there are none (first start).
    pub fn ensure(dir: impl Into<PathBuf>) -> Result<(Self, Ensured), KeyError> {
        let dir = dir.into();
        // Keys provisioned from outside (a read-only Kubernetes Secret, a systemd
        // `ReadOnlyPaths=`) are opened as they are: nothing to create, nothing to chmod.
        let provisioned = read_current(&dir, "kek.current").ok().flatten().is_some()
            && read_current(&dir, "signing.current")
                .ok()
                .flatten()
                .is_some();
        if provisioned {
            return Ok((Self::open(dir)?, Ensured::default()));
        }
        create_private_dir(&dir)?;
        let mut ensured = Ensured::default();
        if read_current(&dir, "kek.current")?.is_none() {
            ensured.created_kek = Some(new_kek(&dir)?);
        }
        if read_current(&dir, "signing.current")?.is_none() {
            ensured.created_signing_key = Some(new_signing_key(&dir)?);
        }
        Ok((Self::open(dir)?, ensured))
    }

    /// Generate a new KEK and make it current; older KEKs stay for decryption.
    pub fn rotate_kek(dir: &Path) -> Result<String, KeyError> {
        create_private_dir(dir)?;
        new_kek(dir)
    }

    /// Generate a new signing key and make it current; older ones stay for verification.
    pub fn rotate_signing_key(dir: &Path) -> Result<String, KeyError> {
        create_private_dir(dir)?;
        new_signing_key(dir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Ids of every KEK in the directory, sorted.
    pub fn kek_ids(&self) -> Result<Vec<String>, KeyError> {
        list_ids(&self.dir, "kek-", ".key")
    }

    /// Ids of every signing key in the directory, sorted.
    pub fn signing_key_ids(&self) -> Result<Vec<String>, KeyError> {
        list_ids(&self.dir, "signing-", ".pk8")
    }

    /// The current signing key's id.
    pub fn current_signing_key_id(&self) -> Result<String, KeyError> {
        read_current(&self.dir, "signing.current")?.ok_or_else(|| KeyError::Missing {
            kind: "signing key",
            dir: self.dir.display().to_string(),
        })
    }

    /// The public key of a signing key of this directory (from its `.pub` file, or derived).
    pub fn signing_public_key(&self, id: &str) -> Result<Vec<u8>, KeyError> {
        let path = self.dir.join(format!("signing-{id}.pub"));
        match std::fs::read_to_string(&path) {
            Ok(text) => B64.decode(text.trim()).map_err(|e| KeyError::Malformed {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.with_signing_key(id, |k| k.public_key().as_ref().to_vec())
            }
            Err(source) => Err(KeyError::Io { path, source }),
        }
    }

    /// A signer with the current signing key (loaded now: a signing-key rotation applies
    /// to signers made after it, i.e. at the next start of the server).
    pub fn signer(&self) -> Result<StaticSigner, KeyError> {
        let id = self.current_signing_key_id()?;
        check_id(&id)?;
        let path = self.dir.join(format!("signing-{id}.pk8"));
        let der = read_secret_b64(&path, "signing key", &id, &self.dir)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|e| KeyError::Malformed {
            path,
            reason: e.to_string(),
        })?;
        Ok(StaticSigner { id, pair })
    }

    fn with_signing_key<T>(
        &self,
        id: &str,
        f: impl FnOnce(&Ed25519KeyPair) -> T,
    ) -> Result<T, KeyError> {
        if let Some(k) = self
            .signing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            return Ok(f(k));
        }
        check_id(id)?;
        let path = self.dir.join(format!("signing-{id}.pk8"));
        let der = read_secret_b64(&path, "signing key", id, &self.dir)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|e| KeyError::Malformed {
            path,
            reason: e.to_string(),
        })?;
        let out = f(&pair);
        self.signing
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), pair);
        Ok(out)
    }

    fn kek(&self, id: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        if let Some(k) = self.keks.read().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(k.clone());
        }
        check_id(id)?;
        let path = self.dir.join(format!("kek-{id}.key"));
        let bytes = read_secret_b64(&path, "KEK", id, &self.dir)?;
        if bytes.len() != 32 {
            return Err(KeyError::Malformed {
                path,
                reason: format!("{} bytes, want 32", bytes.len()),
            });
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes);
        self.keks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), key.clone());
        Ok(key)
    }
}

impl KeyProvider for FileKeys {
    fn current_kek_id(&self) -> Result<String, KeyError> {
        read_current(&self.dir, "kek.current")?.ok_or_else(|| KeyError::Missing {
            kind: "KEK",
            dir: self.dir.display().to_string(),
        })
    }

    fn wrap(&self, dek: &Dek, recording_id: &str) -> Result<(String, Vec<u8>), KeyError> {
        let id = self.current_kek_id()?;
        let kek = self.kek(&id)?;
        let wrapped = wrap_with(&kek, &id, dek, recording_id)?;
        Ok((id, wrapped))
    }

    fn unwrap(&self, kek_id: &str, wrapped: &[u8], recording_id: &str) -> Result<Dek, KeyError> {
        let kek = self.kek(kek_id)?;
        unwrap_with(&kek, kek_id, wrapped, recording_id)
    }
}

/// A signer that owns its Ed25519 key pair.
pub struct StaticSigner {
    id: String,
    pair: Ed25519KeyPair,
}

impl StaticSigner {
    /// A fresh random key (tests).
    pub fn generate(id: &str) -> Result<Self, KeyError> {
        let doc = Ed25519KeyPair::generate_pkcs8(rng())
            .map_err(|_| KeyError::Crypto("ed25519 key generation failed"))?;
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
            .map_err(|_| KeyError::Crypto("ed25519 key generation failed"))?;
        Ok(Self {
            id: id.to_owned(),
            pair,
        })
    }
}

impl ManifestSigner for StaticSigner {
    fn key_id(&self) -> String {
        self.id.clone()
    }

    fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.pair.sign(message).as_ref().to_vec())
    }
}

/// A new key id: `<prefix>-YYYYMMDDTHHMMSSZ-<6 hex>`.
fn new_id() -> Result<String, KeyError> {
    let now = time::OffsetDateTime::now_utc();
    let mut r = [0u8; 3];
    rng()
        .fill(&mut r)
        .map_err(|_| KeyError::Crypto("random generator failed"))?;
    Ok(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        hex::encode(r)
    ))
}

/// Ids are safe file-name parts: ASCII letters, digits, `-`, `_`, `.`, at most 64.
fn check_id(id: &str) -> Result<(), KeyError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::Malformed {
            path: PathBuf::from(id),
            reason: "not a valid key id".into(),
        })
    }
}

fn new_kek(dir: &Path) -> Result<String, KeyError> {
    let id = new_id()?;
    let mut key = Zeroizing::new([0u8; 32]);
    rng()
        .fill(key.as_mut())
        .map_err(|_| KeyError::Crypto("random generator failed"))?;
    write_secret(
        &dir.join(format!("kek-{id}.key")),
        B64.encode(key.as_ref()).as_bytes(),
    )?;
    write_current(dir, "kek.current", &id)?;
    Ok(id)
}

fn new_signing_key(dir: &Path) -> Result<String, KeyError> {
    let id = new_id()?;
    let doc = Ed25519KeyPair::generate_pkcs8(rng())
        .map_err(|_| KeyError::Crypto("ed25519 key generation failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
        .map_err(|_| KeyError::Crypto("ed25519 key generation failed"))?;
    write_secret(
        &dir.join(format!("signing-{id}.pk8")),
        B64.encode(doc.as_ref()).as_bytes(),
    )?;
    let pub_path = dir.join(format!("signing-{id}.pub"));
    std::fs::write(&pub_path, format!("{}\n", B64.encode(pair.public_key()))).map_err(
        |source| KeyError::Io {
            path: pub_path,
            source,
        },
    )?;
    write_current(dir, "signing.current", &id)?;
    Ok(id)
}

fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Create a secret file (mode 0600), never replacing one.
fn write_secret(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(contents).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)
}

fn write_current(dir: &Path, name: &str, id: &str) -> Result<(), KeyError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(format!("{id}\n").as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

fn read_current(dir: &Path, name: &str) -> Result<Option<String>, KeyError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => {
            let id = s.trim().to_owned();
            check_id(&id)?;
            Ok(Some(id))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Io { path, source }),
    }
}

fn read_secret_b64(
    path: &Path,
    kind: &'static str,
    id: &str,
    dir: &Path,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Unknown {
                kind,
                id: id.to_owned(),
                dir: dir.display().to_string(),
            });
        }
        Err(source) => {
            return Err(KeyError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    B64.decode(text.trim())
        .map(Zeroizing::new)
        .map_err(|e| KeyError::Malformed {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn list_ids(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<String>, KeyError> {
    let entries = std::fs::read_dir(dir).map_err(|source| KeyError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut ids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| {
            n.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(suffix))
                .map(str::to_owned)
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// Warn (once per open) if the key directory is readable by group or others.
fn warn_if_open(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(dir)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{:o}", m.permissions().mode() & 0o777),
                "the key directory is accessible to group or others; it should be 0700"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn provisioned_keys_are_opened_as_they_are() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        let (_, first) = FileKeys::ensure(&dir).unwrap();
        assert!(first.created_kek.is_some() && first.created_signing_key.is_some());
        // A Secret volume's mode (and, on a read-only mount, no chmod possible).
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        let (keys, again) = FileKeys::ensure(&dir).unwrap();
        assert!(again.created_kek.is_none() && again.created_signing_key.is_none());
        assert!(keys.current_kek_id().is_ok());
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750, "left alone");
    }

    #[test]
    fn generate_rotate_and_unwrap_with_old_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        let (keys, ensured) = FileKeys::ensure(&dir).unwrap();
        let first = ensured.created_kek.clone().unwrap();
        assert!(ensured.created_signing_key.is_some());
        let (_, again) = FileKeys::ensure(&dir).unwrap();
        assert_eq!(again, Ensured::default(), "ensure is idempotent");

        let dek = Dek::generate(rng()).unwrap();
        let (id1, w1) = keys.wrap(&dek, "rec-1").unwrap();
        assert_eq!(id1, first);
        assert_eq!(w1.len(), WRAPPED_DEK_LEN);

        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = FileKeys::rotate_kek(&dir).unwrap();
        assert_ne!(first, second);
        // The running provider sees the rotation without a restart.
        let (id2, w2) = keys.wrap(&dek, "rec-2").unwrap();
        assert_eq!(id2, second);
        assert_eq!(
            keys.unwrap(&id1, &w1, "rec-1").unwrap().as_bytes(),
            dek.as_bytes()
        );
        assert_eq!(
            keys.unwrap(&id2, &w2, "rec-2").unwrap().as_bytes(),
            dek.as_bytes()
        );
        // Bound to the recording and the KEK id.
        assert!(matches!(
            keys.unwrap(&id1, &w1, "rec-2"),
            Err(KeyError::Unwrap(_))
        ));
        assert!(keys.unwrap(&id2, &w1, "rec-1").is_err());
        assert_eq!(keys.kek_ids().unwrap().len(), 2);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join(format!("kek-{first}.key"))), 0o600);
        }
        // Debug never shows key material.
        let shown = format!("{keys:?} {dek:?}");
        assert!(!shown.contains(&B64.encode(dek.as_bytes())));
    }

    #[test]
    fn signatures_verify_with_the_published_key_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (keys, _) = FileKeys::ensure(tmp.path()).unwrap();
        let signer = keys.signer().unwrap();
        let sig = signer.sign(b"manifest").unwrap();
        let pk = keys.signing_public_key(&signer.key_id()).unwrap();
        assert_eq!(pk, signer.public_key());
        assert!(verify_signature(&pk, b"manifest", &sig));
        assert!(!verify_signature(&pk, b"manifesT", &sig));
        let new_id = FileKeys::rotate_signing_key(tmp.path()).unwrap();
        assert_eq!(keys.signer().unwrap().key_id(), new_id);
        assert_eq!(keys.signing_key_ids().unwrap().len(), 2);
    }
}
