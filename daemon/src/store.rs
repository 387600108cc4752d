//! Where tokens rest between unlocks. A small trait so the keyring can sit beside the file store.
//!
//! Role credentials never come here: they live only in the daemon's memory.

use std::{
    fs,
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    time::SystemTime,
};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::secret::Secret;

/// An OIDC client registration (RegisterClient), reused until shortly before it expires.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registration {
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(with = "unix_secs")]
    pub expires_at: SystemTime,
    /// "pkce" or "device": the grant the client was registered for.
    pub flow: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// An SSO access token with what is needed to refresh it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Token {
    pub access_token: Secret,
    #[serde(with = "unix_secs")]
    pub expires_at: SystemTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
}

/// Everything stored for one session.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredSession {
    pub session: String,
    pub start_url: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Token>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid token file ({message})")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "{path} is readable by other users (mode {mode:o}); refusing to use it. Fix with: chmod 600 {path}"
    )]
    Permissions { path: PathBuf, mode: u32 },
}

/// A place for session tokens. Calls may block (a keyring is a D-Bus call away).
pub trait TokenStore: Send + Sync {
    fn load(&self, session: &str) -> Result<Option<StoredSession>, StoreError>;
    fn save(&self, stored: &StoredSession) -> Result<(), StoreError>;
    fn delete(&self, session: &str) -> Result<(), StoreError>;
}

/// One 0600 JSON file per session under `<state dir>/tokens/`, named like the AWS CLI's cache
/// (sha1 of the session name or legacy start URL) so names never leak into file names.
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("tokens"),
        }
    }

    fn path(&self, session: &str) -> PathBuf {
        let digest = Sha1::digest(session.as_bytes());
        self.dir.join(format!("{}.json", hex::encode(digest)))
    }
}

impl TokenStore for FileStore {
    fn load(&self, session: &str) -> Result<Option<StoredSession>, StoreError> {
        let path = self.path(session);
        let Some(bytes) = read_private(&path)? else {
            return Ok(None);
        };
        let stored: StoredSession =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(Some(stored))
    }

    fn save(&self, stored: &StoredSession) -> Result<(), StoreError> {
        let bytes =
            zeroize::Zeroizing::new(serde_json::to_vec_pretty(stored).expect("serializable"));
        write_private(&self.path(&stored.session), &bytes)
    }

    fn delete(&self, session: &str) -> Result<(), StoreError> {
        let path = self.path(session);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }
}

/// Reads a file that must be private to its owner; `None` when it does not exist.
pub fn read_private(path: &Path) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    fs::read(path)
        .map(|b| Some(zeroize::Zeroizing::new(b)))
        .map_err(io)
}

/// Writes atomically: a 0600 temp file in the same directory (private from creation), fsync,
/// rename over the target, fsync the directory. A crash leaves the old file or the new one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().expect("file path has a parent");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Seconds since the Unix epoch on the wire and on disk.
pub mod unix_secs {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn to_secs(t: SystemTime) -> i64 {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        }
    }

    pub fn from_secs(s: i64) -> SystemTime {
        if s >= 0 {
            UNIX_EPOCH + Duration::from_secs(s as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
        }
    }

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(to_secs(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        Ok(from_secs(i64::deserialize(d)?))
    }
}

/// The store the config asks for, how status names it, and the other store (to migrate from).
pub struct Selected {
    pub store: std::sync::Arc<dyn TokenStore>,
    /// "keyring", "file", or "file (no OS keyring …)" when `auto` fell back: never silent.
    pub label: String,
    pub other: Option<std::sync::Arc<dyn TokenStore>>,
}

/// Picks the token store: `keyring` must work, `file` is always there, `auto` takes the
/// keyring when it answers and accepts a write, else the file store and says why.
pub fn select(
    kind: ssoagent_client::config::StoreKind,
    state_dir: &Path,
) -> Result<Selected, String> {
    use std::sync::Arc;

    use ssoagent_client::config::StoreKind;

    use crate::keyring_store::KeyringStore;
    let file: Arc<dyn TokenStore> = Arc::new(FileStore::new(state_dir));
    match kind {
        StoreKind::File => Ok(Selected {
            store: file,
            label: "file".into(),
            other: KeyringStore::open()
                .ok()
                .map(|k| Arc::new(k) as Arc<dyn TokenStore>),
        }),
        StoreKind::Keyring => {
            let k = KeyringStore::open().map_err(|e| format!("store = \"keyring\", but {e}"))?;
            Ok(Selected {
                store: Arc::new(k),
                label: "keyring".into(),
                other: Some(file),
            })
        }
        StoreKind::Auto => match KeyringStore::open() {
            Ok(k) => Ok(Selected {
                store: Arc::new(k),
                label: "keyring".into(),
                other: Some(file),
            }),
            Err(e) => {
                tracing::warn!(reason = %e, "no usable OS keyring; tokens go to the file store");
                Ok(Selected {
                    store: file,
                    label: "file (no OS keyring available; see the daemon log)".into(),
                    other: None,
                })
            }
        },
    }
}

/// Moves sessions that rest in the other store into the chosen one (after a change of
/// `store`), so switching loses no session. A session already in the chosen store wins.
pub fn migrate(sel: &Selected, sessions: &[String]) -> Vec<String> {
    let Some(other) = &sel.other else {
        return Vec::new();
    };
    let mut moved = Vec::new();
    for key in sessions {
        if matches!(sel.store.load(key), Ok(Some(_))) {
            continue;
        }
        let Ok(Some(s)) = other.load(key) else {
            continue;
        };
        if sel.store.save(&s).is_ok() && other.delete(key).is_ok() {
            moved.push(key.clone());
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        assert!(store.load("work").unwrap().is_none());
        let s = StoredSession {
            session: "work".into(),
            start_url: "https://x.awsapps.com/start".into(),
            region: "us-east-1".into(),
            token: Some(Token {
                access_token: "at".into(),
                expires_at: unix_secs::from_secs(2_000_000_000),
                refresh_token: Some("rt".into()),
            }),
            registration: None,
        };
        store.save(&s).unwrap();
        let path = store.path("work");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(store.load("work").unwrap(), Some(s));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = store.load("work").unwrap_err().to_string();
        assert!(err.contains("readable by other users"), "{err}");
        store.delete("work").unwrap();
        assert!(store.load("work").unwrap().is_none());
    }
}
