//! Ending a grant: `lock` stops issuing at once (stored tokens stay); `logout` also revokes
//! the token with SSO Logout and deletes what is stored.

use tracing::{info, warn};

use super::{Sessions, state::SessionState};
use crate::{
    caller::Caller,
    error::{Error, Result},
    events::Event,
};

impl Sessions {
    /// Locks `keys`: no more issuing, cached role credentials dropped, tokens kept.
    pub async fn lock(&self, caller: Caller, keys: &[String]) {
        for key in keys {
            let s = self.get(key);
            s.with(|st| st.window = None);
            s.revoke_issued();
            info!(session = %key, %caller, "locked");
            self.publish(Event::Locked {
                caller,
                session: key.clone(),
            });
        }
        self.save_windows().await;
    }

    /// Revokes each session's token with SSO Logout (best effort) and deletes what is stored.
    pub async fn logout(&self, caller: Caller, keys: &[String]) -> Result<()> {
        for key in keys {
            let s = self.get(key);
            let stored = match s.with(|st| st.stored.clone()) {
                Some(st) => Some(st),
                None => self.load_stored(key).await.unwrap_or(None),
            };
            if let Some(st) = &stored
                && let Some(t) = &st.token
                && !self.is_provider(key)
            {
                if let Err(e) = self.aws.logout(&st.region, &t.access_token).await {
                    warn!(session = %key, error = %e, "SSO Logout failed; deleting stored tokens anyway");
                }
                self.cli.forget(st).await;
            }
            s.with(|st| *st = SessionState::default());
            s.revoke_issued();
            let store = self.store.clone();
            let k = key.clone();
            tokio::task::spawn_blocking(move || store.delete(&k))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|e| Error::Internal(format!("cannot delete stored tokens: {e}")))?;
            info!(session = %key, %caller, "logged out");
            self.publish(Event::LoggedOut {
                caller,
                session: key.clone(),
            });
        }
        self.save_windows().await;
        Ok(())
    }

    /// A portal call answered 401 on the session's token: it is dead.
    pub fn token_rejected(&self, key: &str) -> Error {
        self.expire(&self.get(key));
        Error::expired(key)
    }
}
