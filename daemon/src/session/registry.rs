//! The sessions the daemon knows, by key, each with its state and its two async locks.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use super::state::{SessionState, State};

/// One SSO session. See the lock order in `session/mod.rs`.
pub struct Session {
    pub key: String,
    state: Mutex<SessionState>,
    /// Exactly one token refresh in flight: the refresh token rotates.
    pub(super) refresh: tokio::sync::Mutex<()>,
    /// One unlock (and so one login) at a time.
    pub(super) unlock: tokio::sync::Mutex<()>,
    /// Counts unlocks as they arrive: an unlock whose number is no longer the latest has been
    /// superseded, and gives up its wait or its login (a human's unlock is never stuck behind
    /// a login nobody will approve).
    unlocks: tokio::sync::watch::Sender<u64>,
    /// Bumped on lock/logout/expiry so credentials fetched before that are never served after.
    generation: AtomicU64,
}

impl Session {
    fn new(key: &str) -> Self {
        Self {
            key: key.to_string(),
            state: Mutex::default(),
            refresh: tokio::sync::Mutex::new(()),
            unlock: tokio::sync::Mutex::new(()),
            unlocks: tokio::sync::watch::Sender::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// Reads or changes the state; the lock is never held across an `.await`.
    pub fn with<R>(&self, f: impl FnOnce(&mut SessionState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn state(&self, now: SystemTime) -> State {
        self.with(|st| st.state(now))
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A new unlock arrives: it supersedes every older one. Returns its number and a
    /// receiver for [`superseded`].
    pub(super) fn begin_unlock(&self) -> (u64, tokio::sync::watch::Receiver<u64>) {
        let mut mine = 0;
        self.unlocks.send_modify(|n| {
            *n += 1;
            mine = *n;
        });
        (mine, self.unlocks.subscribe())
    }

    /// Nothing issued under the session so far is served again, including fetches in flight.
    pub fn revoke_issued(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Resolves once an unlock newer than `mine` has arrived.
pub(super) async fn superseded(rx: &mut tokio::sync::watch::Receiver<u64>, mine: u64) {
    if rx.wait_for(|n| *n != mine).await.is_err() {
        // The session (and its sender) is gone: nothing can supersede us.
        std::future::pending::<()>().await;
    }
}

#[derive(Default)]
pub struct Registry(Mutex<HashMap<String, Arc<Session>>>);

impl Registry {
    /// The session for `key`, created (locked) on first use.
    pub fn get(&self, key: &str) -> Arc<Session> {
        self.0
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Session::new(key)))
            .clone()
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        self.0.lock().unwrap().values().cloned().collect()
    }

    pub fn keys(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}
