//! Where tokens rest between unlocks: a small trait with the OS keyring ([`keyring`]) and a
//! 0600 file store ([`file`]) behind it, and the AWS CLI's cache format ([`cli_cache`]).
//!
//! Role credentials never come here: they live only in the daemon's memory.

pub mod cli_cache;
pub mod file;
pub mod keyring;

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use serde::{Deserialize, Serialize};
use ssoagent_client::config::{LoginFlow, StoreKind};

pub use self::{file::FileStore, keyring::KeyringStore};
pub use crate::clock::unix_secs;
use crate::secret::Secret;

/// The grant a client registration was made for.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RegisteredFlow {
    Pkce,
    Device,
    /// Taken from the AWS CLI cache: good for refreshing, never for a login of ours.
    Imported,
}

impl From<LoginFlow> for RegisteredFlow {
    fn from(f: LoginFlow) -> Self {
        match f {
            LoginFlow::Pkce => Self::Pkce,
            LoginFlow::Device => Self::Device,
        }
    }
}

/// An OIDC client registration (RegisterClient), reused until shortly before it expires.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registration {
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(with = "unix_secs")]
    pub expires_at: SystemTime,
    pub flow: RegisteredFlow,
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

impl StoredSession {
    /// A refresh token and a registration that has not expired at `now`.
    pub fn refreshable(&self, now: SystemTime) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| t.refresh_token.is_some())
            && self
                .registration
                .as_ref()
                .is_some_and(|r| r.expires_at > now)
    }
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
    check_private_file(path, &meta)?;
    fs::read(path)
        .map(|b| Some(zeroize::Zeroizing::new(b)))
        .map_err(io)
}

/// Unix: a file open to group or others is refused, with the chmod that fixes it.
#[cfg(unix)]
fn check_private_file(path: &Path, meta: &fs::Metadata) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Windows: files are written with an owner-only ACL (`fsutil::write_private`); an existing
/// file's ACL is not inspected.
#[cfg(windows)]
fn check_private_file(_path: &Path, _meta: &fs::Metadata) -> Result<(), StoreError> {
    Ok(())
}

/// [`ssoagent_client::fsutil::write_private`], with the path in the error.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    ssoagent_client::fsutil::write_private(path, bytes).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The store the config asks for, how status names it, and the other store (to migrate from).
pub struct Selected {
    pub store: Arc<dyn TokenStore>,
    /// "keyring", "file", or "file (no OS keyring …)" when `auto` fell back: never silent.
    pub label: String,
    pub other: Option<Arc<dyn TokenStore>>,
}

/// Picks the token store: `keyring` must work, `file` is always there, `auto` takes the
/// keyring when it answers and accepts a write, else the file store and says why.
pub fn select(kind: StoreKind, state_dir: &Path) -> Result<Selected, String> {
    let file: Arc<dyn TokenStore> = Arc::new(FileStore::new(state_dir));
    let keyring = |k: KeyringStore| Arc::new(k) as Arc<dyn TokenStore>;
    match kind {
        StoreKind::File => Ok(Selected {
            store: file,
            label: "file".into(),
            other: KeyringStore::open().ok().map(keyring),
        }),
        StoreKind::Keyring => {
            let k = KeyringStore::open().map_err(|e| format!("store = \"keyring\", but {e}"))?;
            Ok(Selected {
                store: keyring(k),
                label: "keyring".into(),
                other: Some(file),
            })
        }
        StoreKind::Auto => match KeyringStore::open() {
            Ok(k) => Ok(Selected {
                store: keyring(k),
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
