//! Unlock windows survive a daemon restart: `<state dir>/unlocked.json` maps each unlocked
//! session to its deadline (0600, written atomically). Tokens stay in the token store.

use std::{collections::HashMap, path::PathBuf};

use tracing::{info, warn};

use super::{Sessions, state::Window};
use crate::store;

/// The unlock file and the lock that serialises its writes.
pub struct UnlockFile {
    path: PathBuf,
    write: tokio::sync::Mutex<()>,
}

impl UnlockFile {
    pub fn new(state_dir: &std::path::Path) -> Self {
        Self {
            path: state_dir.join("unlocked.json"),
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// The file as written: session → window. Damage means every session starts locked.
    pub fn read(&self) -> HashMap<String, Window> {
        match store::read_private(&self.path) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(file = %self.path.display(), error = %e, "ignoring a damaged unlock file");
                HashMap::new()
            }),
            Ok(None) => HashMap::new(),
            Err(e) => {
                warn!(error = %e, "cannot read the unlock file; every session starts locked");
                HashMap::new()
            }
        }
    }

    async fn write(&self, windows: &HashMap<String, Window>) {
        let _one_writer = self.write.lock().await;
        let bytes = serde_json::to_vec_pretty(windows).expect("serializable");
        if let Err(e) = store::write_private(&self.path, &bytes) {
            warn!(error = %e, "cannot save the unlock state; it will not survive a restart");
        }
    }
}

impl Sessions {
    /// Writes the open windows so an unlock survives a restart.
    pub(super) async fn save_windows(&self) {
        let windows: HashMap<String, Window> = self
            .registry
            .all()
            .into_iter()
            .filter_map(|s| Some((s.key.clone(), s.with(|st| st.window)?)))
            .collect();
        self.windows.write(&windows).await;
    }

    /// At start: moves sessions from the other store after a change of `store`, then brings
    /// back the unlock windows that were open when the daemon last stopped.
    pub async fn start(
        &self,
        other: Option<std::sync::Arc<dyn store::TokenStore>>,
        configured: Vec<String>,
    ) {
        let windows = self.windows.read();
        if let Some(other) = other {
            let mut keys = configured;
            keys.extend(windows.keys().cloned());
            keys.sort();
            keys.dedup();
            self.migrate(other, keys).await;
        }
        let now = self.clock.now();
        for (key, window) in windows {
            if window.passed(now) {
                continue;
            }
            match self.load_stored(&key).await {
                Ok(Some(stored)) if stored.token.is_some() => {
                    self.get(&key).with(|st| {
                        st.stored = Some(stored);
                        st.window = Some(window);
                    });
                    info!(session = %key, "unlock restored");
                }
                Ok(_) => info!(session = %key, "no stored token; session stays locked"),
                Err(e) => {
                    warn!(session = %key, error = %e, "cannot load stored token; session stays locked")
                }
            }
        }
        self.save_windows().await;
    }

    async fn migrate(&self, other: std::sync::Arc<dyn store::TokenStore>, keys: Vec<String>) {
        let sel = store::Selected {
            store: self.store.clone(),
            label: self.store_label.clone(),
            other: Some(other),
        };
        let moved = tokio::task::spawn_blocking(move || store::migrate(&sel, &keys))
            .await
            .unwrap_or_default();
        for key in moved {
            info!(session = %key, to = %self.store_label, "moved stored tokens to the configured store");
        }
    }
}
