//! Tokens in the OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows) through the `keyring` crate.
//!
//! Windows caps a credential at 2,560 bytes and SSO tokens plus a client secret can be larger,
//! so every platform stores a session the same way: the JSON split into chunks of at most
//! [`CHUNK`] bytes, written under a new generation, then a small header entry naming that
//! generation and its chunk count, then the old generation's chunks deleted. The header write
//! is the commit point: a crash before it leaves the previous generation whole.

use keyring::{Entry, Error as KError};

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

fn chunk_user(session: &str, generation: u64, i: usize) -> String {
    format!("{session}#{generation}.{i}")
}

impl KeyringStore {
    /// Opens the platform keyring and checks that it answers and can store a secret (a
    /// locked or absent Secret Service fails here, not at the first unlock).
    pub fn open() -> Result<Self, String> {
        if let Err(e) = Entry::store_status() {
            return Err(format!("no OS keyring: {e}"));
        }
        let probe = entry("ssoagent-probe").map_err(|e| e.to_string())?;
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
        match entry(session).and_then(|e| e.get_password()) {
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

    fn delete_generation(&self, session: &str, h: &Header) {
        for i in 0..h.chunks {
            if let Ok(e) = entry(&chunk_user(session, h.generation, i)) {
                let _ = e.delete_credential();
            }
        }
    }
}

impl TokenStore for KeyringStore {
    fn load(&self, session: &str) -> Result<Option<StoredSession>, StoreError> {
        let Some(h) = self.header(session)? else {
            return Ok(None);
        };
        let mut json = zeroize::Zeroizing::new(String::new());
        for i in 0..h.chunks {
            let part = entry(&chunk_user(session, h.generation, i))
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
        entry(session)
            .and_then(|e| e.set_password(&header.render()))
            .map_err(|e| err(session, e))?;
        if let Some(old) = old {
            self.delete_generation(session, &old);
        }
        Ok(())
    }

    fn delete(&self, session: &str) -> Result<(), StoreError> {
        let Some(h) = self.header(session)? else {
            return Ok(());
        };
        match entry(session).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(KError::NoEntry) => {}
            Err(e) => return Err(err(session, e)),
        }
        self.delete_generation(session, &h);
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

    /// Runs against a real Secret Service when one answers (the e2e suite starts a private
    /// gnome-keyring for its keyring tests); says why it did not run otherwise.
    #[test]
    fn split_entries_round_trip_against_a_real_keyring() {
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
            eprintln!(
                "SKIPPED: no DBUS_SESSION_BUS_ADDRESS; the keyring store is tested by the e2e suite"
            );
            return;
        }
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
}
