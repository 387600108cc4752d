//! One 0600 JSON file per session under `<state dir>/tokens/`, named like the AWS CLI's cache
//! (sha1 of the session name or legacy start URL) so names never leak into file names.

use std::{
    fs,
    path::{Path, PathBuf},
};

use ssoagent_client::fsutil::sha1_file_name;

use super::{StoreError, StoredSession, TokenStore, read_private, write_private};

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
        self.dir.join(sha1_file_name(session))
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::store::{Token, unix_secs};

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
