//! Tokens in the OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows) through the `keyring` crate.
//!
//! Windows caps a credential at 2,560 bytes and SSO tokens plus a client secret can be larger,
//! so every platform stores a session the same way: the JSON split into chunks of at most
//! [`CHUNK`] bytes, written under a new generation, then a small header entry naming that
//! generation and its chunk count, then the old generation's chunks deleted. The header write
//! is the commit point: a crash before it leaves the previous generation whole.
//!
//! Entry names (the keyring "user" under service `ssoagent`) are prefixed and hashed so that
//! no session name can collide with another entry: `session:<sha256 of the name>` for the
//! header, `chunk:<sha256>:<generation>:<i>` for the chunks, `probe:write-check` for the write
//! probe at start (`:<pid>` appended). Entries under the names of earlier versions (`<session>` and
//! `<session>#<generation>.<i>`) are read once, rewritten under the new names and deleted.

use keyring::{Entry, Error as KError};
use sha2::{Digest, Sha256};

use super::{StoreError, StoredSession, TokenStore};

const SERVICE: &str = "ssoagent";
/// Comfortably under Windows' 2,560-byte credential blob limit.
pub const CHUNK: usize = 2000;

pub struct KeyringStore {
    chunk: usize,
}

#[derive(Debug, PartialEq)]
struct Header {
    generation: u64,
    chunks: usize,
}

impl Header {
    fn parse(s: &str) -> Option<Self> {
        let mut it = s.strip_prefix("ssoagent-v1:")?.split(':');
        let generation = it.next()?.parse().ok()?;
        let chunks = it.next()?.parse().ok()?;
        Some(Self { generation, chunks })
    }

    fn render(&self) -> String {
        format!("ssoagent-v1:{}:{}", self.generation, self.chunks)
    }
}

fn err(session: &str, e: KError) -> StoreError {
    StoreError::Io {
        path: format!("keyring entry {SERVICE}/{session}").into(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn entry(user: &str) -> Result<Entry, KError> {
    Entry::new(SERVICE, user)
}

/// The write probe's entry: a namespace of its own, apart from every session (the pid is
/// appended, so daemons starting side by side do not delete each other's probe).
const PROBE_USER: &str = "probe:write-check";

fn hashed(session: &str) -> String {
    hex::encode(Sha256::digest(session.as_bytes()))
}

fn header_user(session: &str) -> String {
    format!("session:{}", hashed(session))
}

fn chunk_user(session: &str, generation: u64, i: usize) -> String {
    format!("chunk:{}:{generation}:{i}", hashed(session))
}

/// The names before entries were hashed and prefixed (read once, then migrated).
mod legacy {
    pub fn header_user(session: &str) -> String {
        session.to_string()
    }

    pub fn chunk_user(session: &str, generation: u64, i: usize) -> String {
        format!("{session}#{generation}.{i}")
    }
}

/// How a session's entries are named: today's scheme or the earlier one.
#[derive(Clone, Copy)]
struct Names {
    header: fn(&str) -> String,
    chunk: fn(&str, u64, usize) -> String,
}

const CURRENT: Names = Names {
    header: header_user,
    chunk: chunk_user,
};
const LEGACY: Names = Names {
    header: legacy::header_user,
    chunk: legacy::chunk_user,
};

impl KeyringStore {
    /// Opens the platform keyring and checks that it answers and can store a secret (a
    /// locked or absent Secret Service fails here, not at the first unlock).
    pub fn open() -> Result<Self, String> {
        if let Err(e) = Entry::store_status() {
            return Err(format!("no OS keyring: {e}"));
        }
        let probe =
            entry(&format!("{PROBE_USER}:{}", std::process::id())).map_err(|e| e.to_string())?;
        probe
            .set_password("probe")
            .map_err(|e| format!("the keyring refused a write: {e}"))?;
        let _ = probe.delete_credential();
        Ok(Self { chunk: CHUNK })
    }

    /// For tests of the split: a tiny chunk size.
    #[cfg(test)]
    fn with_chunk(chunk: usize) -> Self {
        Self { chunk }
    }

    fn header(&self, session: &str) -> Result<Option<Header>, StoreError> {
        self.header_as(session, CURRENT)
    }

    fn header_as(&self, session: &str, names: Names) -> Result<Option<Header>, StoreError> {
        match entry(&(names.header)(session)).and_then(|e| e.get_password()) {
            Ok(h) => Header::parse(&h)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt {
                    path: format!("keyring entry {SERVICE}/{session}").into(),
                    message: "unknown header".into(),
                }),
            Err(KError::NoEntry) => Ok(None),
            Err(e) => Err(err(session, e)),
        }
    }

    fn delete_generation(&self, session: &str, h: &Header, names: Names) {
        for i in 0..h.chunks {
            if let Ok(e) = entry(&(names.chunk)(session, h.generation, i)) {
                let _ = e.delete_credential();
            }
        }
    }

    /// The session as stored under `names` (header, then its chunks).
    fn load_as(&self, session: &str, names: Names) -> Result<Option<StoredSession>, StoreError> {
        let Some(h) = self.header_as(session, names)? else {
            return Ok(None);
        };
        let mut json = zeroize::Zeroizing::new(String::new());
        for i in 0..h.chunks {
            let part = entry(&(names.chunk)(session, h.generation, i))
                .and_then(|e| e.get_password())
                .map_err(|e| err(session, e))?;
            json.push_str(&part);
        }
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: format!("keyring entry {SERVICE}/{session}").into(),
                message: e.to_string(),
            })
    }

    /// A session stored under the earlier names, if that is what they hold: the entry at the
    /// session's bare name may be another session's chunk, so only a whole header whose JSON
    /// names this very session counts.
    fn load_legacy(&self, session: &str) -> Option<(StoredSession, Header)> {
        let h = self.header_as(session, LEGACY).ok().flatten()?;
        let stored = self.load_as(session, LEGACY).ok().flatten()?;
        (stored.session == session).then_some((stored, h))
    }

    /// Rewrites a session found under the earlier names under today's, then deletes the old
    /// entries. Returns it.
    fn migrate_legacy(&self, session: &str) -> Result<Option<StoredSession>, StoreError> {
        let Some((stored, h)) = self.load_legacy(session) else {
            return Ok(None);
        };
        self.save(&stored)?;
        self.delete_legacy(session, &h);
        tracing::info!(session, "keyring entries moved to hashed names");
        Ok(Some(stored))
    }

    fn delete_legacy(&self, session: &str, h: &Header) {
        if let Ok(e) = entry(&legacy::header_user(session)) {
            let _ = e.delete_credential();
        }
        self.delete_generation(session, h, LEGACY);
    }
}

impl TokenStore for KeyringStore {
    fn load(&self, session: &str) -> Result<Option<StoredSession>, StoreError> {
        match self.load_as(session, CURRENT)? {
            Some(s) => Ok(Some(s)),
            None => self.migrate_legacy(session),
        }
    }

    fn save(&self, stored: &StoredSession) -> Result<(), StoreError> {
        let session = &stored.session;
        let old = self.header(session).ok().flatten();
        let json = zeroize::Zeroizing::new(serde_json::to_string(stored).expect("serializable"));
        // JSON of ours is ASCII, so byte chunks are char boundaries.
        let parts: Vec<&str> = json
            .as_bytes()
            .chunks(self.chunk)
            .map(|c| std::str::from_utf8(c).expect("ascii json"))
            .collect();
        let generation = old.as_ref().map(|h| h.generation + 1).unwrap_or(1);
        for (i, part) in parts.iter().enumerate() {
            entry(&chunk_user(session, generation, i))
                .and_then(|e| e.set_password(part))
                .map_err(|e| err(session, e))?;
        }
        let header = Header {
            generation,
            chunks: parts.len(),
        };
        entry(&header_user(session))
            .and_then(|e| e.set_password(&header.render()))
            .map_err(|e| err(session, e))?;
        if let Some(old) = old {
            self.delete_generation(session, &old, CURRENT);
        }
        Ok(())
    }

    fn delete(&self, session: &str) -> Result<(), StoreError> {
        if let Some((_, h)) = self.load_legacy(session) {
            self.delete_legacy(session, &h);
        }
        let Some(h) = self.header(session)? else {
            return Ok(());
        };
        match entry(&header_user(session)).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(KError::NoEntry) => {}
            Err(e) => return Err(err(session, e)),
        }
        self.delete_generation(session, &h, CURRENT);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            generation: 7,
            chunks: 3,
        };
        assert_eq!(Header::parse(&h.render()), Some(h));
        assert_eq!(Header::parse("garbage"), None);
    }

    /// Runs against a real Secret Service (tests/run starts a private gnome-keyring).
    #[test]
    fn split_entries_round_trip_against_a_real_keyring() {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "no DBUS_SESSION_BUS_ADDRESS: this test needs a Secret Service; run the tests with \
             tests/run, which starts a private gnome-keyring"
        );
        KeyringStore::open().expect("keyring");
        let store = KeyringStore::with_chunk(16);
        let s = StoredSession {
            session: "unit-split".into(),
            start_url: "https://x.awsapps.com/start".into(),
            region: "us-east-1".into(),
            ..Default::default()
        };
        store.save(&s).unwrap();
        store.save(&s).unwrap();
        assert!(store.header("unit-split").unwrap().unwrap().chunks > 3);
        assert_eq!(store.load("unit-split").unwrap(), Some(s));
        store.delete("unit-split").unwrap();
        assert_eq!(store.load("unit-split").unwrap(), None);
    }

    #[test]
    fn entry_names_are_prefixed_and_hashed() {
        assert_eq!(
            header_user("a"),
            "session:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
        assert!(chunk_user("a", 1, 0).starts_with("chunk:ca978112"));
        assert!(chunk_user("a", 1, 0).ends_with(":1:0"));
        // No session name produces another session's entry, or the probe's.
        for name in [
            "a#1.0",
            "ssoagent-probe",
            PROBE_USER,
            &chunk_user("a", 1, 0),
        ] {
            assert_ne!(header_user(name), chunk_user("a", 1, 0));
            assert_ne!(header_user(name), PROBE_USER);
        }
    }

    /// Entries under the earlier names are read once, rewritten hashed and deleted; an
    /// entry at a session's bare name that is really another session's chunk is left alone.
    #[test]
    fn legacy_entries_are_migrated_against_a_real_keyring() {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "no DBUS_SESSION_BUS_ADDRESS: this test needs a Secret Service; run the tests with \
             tests/run, which starts a private gnome-keyring"
        );
        KeyringStore::open().expect("keyring");
        let store = KeyringStore::with_chunk(16);
        let s = StoredSession {
            session: "unit-legacy".into(),
            start_url: "https://legacy.awsapps.com/start".into(),
            region: "us-east-1".into(),
            ..Default::default()
        };
        // Written the way earlier versions did.
        let json = serde_json::to_string(&s).unwrap();
        let parts: Vec<&str> = json
            .as_bytes()
            .chunks(16)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        for (i, p) in parts.iter().enumerate() {
            entry(&legacy::chunk_user("unit-legacy", 3, i))
                .unwrap()
                .set_password(p)
                .unwrap();
        }
        let h = Header {
            generation: 3,
            chunks: parts.len(),
        };
        entry("unit-legacy")
            .unwrap()
            .set_password(&h.render())
            .unwrap();
        // A session whose bare name is that session's chunk 0 has nothing of its own.
        assert_eq!(store.load("unit-legacy#3.0").unwrap(), None);

        assert_eq!(store.load("unit-legacy").unwrap(), Some(s.clone()));
        let gone = |user: &str| matches!(entry(user).unwrap().get_password(), Err(KError::NoEntry));
        assert!(gone("unit-legacy"), "the old header is deleted");
        assert!(
            gone(&legacy::chunk_user("unit-legacy", 3, 0)),
            "old chunks deleted"
        );
        assert!(
            store.header("unit-legacy").unwrap().is_some(),
            "rewritten hashed"
        );
        assert_eq!(store.load("unit-legacy").unwrap(), Some(s));
        store.delete("unit-legacy").unwrap();
        assert_eq!(store.load("unit-legacy").unwrap(), None);
    }
}
