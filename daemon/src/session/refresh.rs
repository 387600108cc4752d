//! Keeping a session's SSO access token fresh: on demand when a request finds it near its
//! end, and in the background ahead of that. One refresh per session at a time; the rotated
//! refresh token is saved before anything uses it.

use tracing::{debug, info, warn};

use super::{Session, Sessions, state::TOKEN_REFRESH_BUFFER};
use crate::{
    aws::AwsError,
    caller::Caller,
    error::{Error, Result},
    events::Event,
    secret::Secret,
    store::{StoredSession, Token},
};

/// What a request finds once it holds the session's refresh lock.
enum Found {
    /// Someone else refreshed while we waited.
    Usable((Secret, String)),
    Dead,
    Nothing,
    Stale(StoredSession, bool),
}

impl Sessions {
    /// A usable access token (and its SSO region), refreshed first when it is near its end.
    pub async fn access_token(&self, s: &Session) -> Result<(Secret, String)> {
        if let Some(t) = s.with(|st| st.usable_token(self.clock.now())) {
            return Ok(t);
        }
        debug!(session = %s.key, "access token near its end; refreshing");
        let _refreshing = s.refresh.lock().await;
        let now = self.clock.now();
        let found = s.with(|st| match (st.usable_token(now), &st.stored) {
            (Some(t), _) => Found::Usable(t),
            _ if st.token_dead => Found::Dead,
            (None, None) => Found::Nothing,
            (None, Some(stored)) => Found::Stale(stored.clone(), st.refreshable(now)),
        });
        let (stored, refreshable) = match found {
            Found::Usable(t) => return Ok(t),
            Found::Dead => return Err(Error::expired(&s.key)),
            Found::Nothing => return Err(Error::locked(&s.key)),
            Found::Stale(stored, refreshable) => (stored, refreshable),
        };
        let token = stored.token.clone().expect("unlocked session has a token");
        if refreshable {
            match self.refresh_token(s, &stored).await {
                Ok(t) => return Ok((t.access_token, stored.region.clone())),
                Err(e) if e.is_dead_token() => {
                    self.expire(s);
                    return Err(Error::expired(&s.key));
                }
                Err(e) if token.expires_at > self.clock.now() => {
                    // Keep what is still valid; the next request tries again.
                    warn!(session = %s.key, error = %e, "token refresh failed; using the current token");
                    self.refresh_failed(s, &e);
                }
                Err(e) => {
                    self.refresh_failed(s, &e);
                    return Err(e.into_error(format!("cannot refresh session '{}'", s.key)));
                }
            }
        }
        if token.expires_at > self.clock.now() {
            return Ok((token.access_token, stored.region));
        }
        self.expire(s);
        Err(Error::expired(&s.key))
    }

    fn refresh_failed(&self, s: &Session, e: &AwsError) {
        self.publish(Event::RefreshFailed {
            session: s.key.clone(),
            error: e.to_string(),
        });
    }

    /// Refreshes with the refresh token and saves the rotated token before anyone uses it.
    /// Callers hold `s.refresh`.
    ///
    /// When mirroring to the AWS CLI cache, that file is the shared truth (the AWS CLI and
    /// botocore refresh too, and the refresh token rotates): a newer token there is adopted
    /// instead of refreshing, and an `invalid_grant` re-reads it once before giving up.
    pub(super) async fn refresh_token(
        &self,
        s: &Session,
        stored: &StoredSession,
    ) -> Result<Token, AwsError> {
        let mirror = self.cli.mirroring() && !self.is_provider(&s.key);
        let mut stored = stored.clone();
        if mirror && let Some(newer) = self.cli.newer_than(&stored).await {
            stored = newer;
            let t = stored.token.clone().expect("adopted a token");
            if t.expires_at > self.clock.now() + TOKEN_REFRESH_BUFFER {
                info!(session = %s.key, "adopted a newer token from the AWS CLI cache");
                self.adopt(s, &stored).await;
                return Ok(t);
            }
        }
        let token = match self.refresh_once(&stored).await {
            Err(AwsError::InvalidGrant(m)) if mirror => {
                let Some(newer) = self.cli.newer_than(&stored).await else {
                    return Err(AwsError::InvalidGrant(m));
                };
                info!(session = %s.key, "refresh token was spent by another tool; adopting its token");
                stored = newer;
                let t = stored.token.clone().expect("adopted a token");
                if t.expires_at > self.clock.now() + TOKEN_REFRESH_BUFFER {
                    t
                } else {
                    self.refresh_once(&stored).await?
                }
            }
            other => other?,
        };
        stored.token = Some(token.clone());
        self.adopt(s, &stored).await;
        info!(session = %s.key, "refreshed the session's token");
        Ok(token)
    }

    async fn refresh_once(&self, stored: &StoredSession) -> Result<Token, AwsError> {
        if self.is_provider(&stored.session) {
            return self.oidc_refresh(stored).await;
        }
        let (Some(reg), Some(rt)) = (
            stored.registration.as_ref(),
            stored.token.as_ref().and_then(|t| t.refresh_token.as_ref()),
        ) else {
            return Err(AwsError::InvalidGrant(
                "no refresh token or client registration".into(),
            ));
        };
        self.upstream.refresh(&stored.region, reg, rt).await
    }

    /// Saves a session's tokens (before anyone uses them) and makes them the current ones.
    async fn adopt(&self, s: &Session, stored: &StoredSession) {
        if let Err(e) = self.save_stored(stored).await {
            // A spent refresh token cannot be taken back: keep the new one in memory.
            warn!(session = %s.key, error = %e, "tokens could not be saved");
        }
        s.with(|st| st.stored = Some(stored.clone()));
    }

    /// Housekeeping, run periodically: locks sessions whose deadline passed and refreshes SSO
    /// tokens of unlocked sessions ahead of their expiry, so requests rarely wait on AWS.
    pub async fn tick(&self) {
        let now = self.clock.now();
        let mut changed = false;
        for s in self.registry.all() {
            let (passed, wants_refresh) = s.with(|st| {
                let passed = st.window.is_some_and(|w| w.passed(now));
                (passed, st.background_refresh_due(now))
            });
            if passed {
                s.with(|st| st.window = None);
                s.revoke_issued();
                info!(session = %s.key, "unlock window ended; session locked");
                self.publish(Event::Locked {
                    caller: Caller::daemon(),
                    session: s.key.clone(),
                });
                changed = true;
            } else if wants_refresh && let Err(e) = self.refresh_in_background(&s).await {
                warn!(session = %s.key, error = %e, "background refresh failed");
            }
        }
        if changed {
            self.save_windows().await;
        }
    }

    /// Refreshes a session's token now (single-flight with request-driven refreshes).
    async fn refresh_in_background(&self, s: &Session) -> Result<()> {
        let _refreshing = s.refresh.lock().await;
        // A request may have refreshed while we waited for the lock.
        let Some(stored) = s.with(|st| {
            st.background_refresh_due(self.clock.now())
                .then(|| st.stored.clone())
                .flatten()
        }) else {
            return Ok(());
        };
        match self.refresh_token(s, &stored).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_dead_token() => {
                self.expire(s);
                Err(Error::expired(&s.key))
            }
            Err(e) => {
                self.refresh_failed(s, &e);
                Err(e.into_error(format!("session '{}'", s.key)))
            }
        }
    }
}
