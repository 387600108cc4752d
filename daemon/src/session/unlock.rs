//! Unlocking a session: a stored (or AWS CLI cached) token that is valid or refreshable is
//! reused with no browser; otherwise a login runs and its prompt goes to the human.

use std::time::{Duration, SystemTime};

use ssoagent_client::config::LoginFlow;
use tracing::info;

use super::{Session, Sessions, state::TOKEN_REFRESH_BUFFER};
use crate::{
    aws::AwsError,
    caller::Caller,
    error::Result,
    events::Event,
    login::{self, Prompt},
    profiles::SessionSpec,
    store::{Registration, StoredSession, Token},
};

/// Reuse a client registration until this long before it expires.
const REGISTRATION_BUFFER: Duration = Duration::from_secs(15 * 60);

/// How an unlock got its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlockedBy {
    /// A stored token that was still valid.
    Stored,
    /// A stored token, refreshed.
    Refreshed,
    /// The token `aws sso login` left in the AWS CLI cache.
    Imported,
    /// A login the human approved.
    Login,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct UnlockOptions {
    /// Caps the window; `None` is the session's own life.
    pub window: Option<Duration>,
    pub device_code: bool,
    pub force_login: bool,
}

pub struct UnlockOutcome {
    pub session: String,
    pub how: UnlockedBy,
    pub unlocked_until: Option<SystemTime>,
    pub token_expires_at: SystemTime,
}

impl Sessions {
    /// Unlocks a session: a stored token that is valid or refreshable is reused with no
    /// browser; otherwise (or with `force_login`) a login runs and `prompt` tells the human.
    pub async fn unlock(
        &self,
        caller: Caller,
        spec: SessionSpec,
        opts: UnlockOptions,
        prompt: impl FnOnce(Prompt) + Send,
    ) -> Result<UnlockOutcome> {
        let s = self.get(&spec.key);
        let _one_at_a_time = s.unlock.lock().await;
        let stored = self.stored_for(&s, &spec).await?;
        let reused = match opts.force_login {
            false => self.reuse(&s, &spec, stored.clone()).await,
            true => None,
        };
        let (stored, how) = match reused {
            Some(r) => r,
            None => (
                self.login(&spec, stored, opts, prompt).await?,
                UnlockedBy::Login,
            ),
        };
        // Saved before anything uses it: a rotated refresh token must never be lost.
        self.save_stored(&stored).await?;
        let token_expires_at = stored.token.as_ref().expect("token").expires_at;
        let until = opts.window.map(|d| self.clock.now() + d);
        s.with(|st| st.open(stored, until));
        self.save_windows().await;
        let unlocked_until = s.with(|st| st.effective_until(self.clock.now()));
        info!(session = %spec.key, how = ?how, %caller, "session unlocked");
        self.publish(Event::Unlocked {
            caller,
            session: spec.key.clone(),
        });
        Ok(UnlockOutcome {
            session: spec.key,
            how,
            unlocked_until,
            token_expires_at,
        })
    }

    /// What we hold for the session (memory, else the store), for this start URL and region.
    async fn stored_for(&self, s: &Session, spec: &SessionSpec) -> Result<StoredSession> {
        let mut stored = s.with(|st| st.stored.clone());
        if stored.is_none() {
            stored = self.load_stored(&spec.key).await?;
        }
        let mut stored = stored.unwrap_or_default();
        if stored.start_url != spec.start_url || stored.region != spec.region {
            if stored.token.is_some() {
                info!(session = %spec.key, "start URL or region changed; stored token not reused");
            }
            stored = StoredSession::default();
        }
        stored.session = spec.key.clone();
        stored.start_url = spec.start_url.clone();
        stored.region = spec.region.clone();
        Ok(stored)
    }

    /// Runs a login (PKCE, or the device flow when asked, configured, or legacy).
    async fn login(
        &self,
        spec: &SessionSpec,
        mut stored: StoredSession,
        opts: UnlockOptions,
        prompt: impl FnOnce(Prompt) + Send,
    ) -> Result<StoredSession> {
        let flow =
            if opts.device_code || self.cfg.login_flow == LoginFlow::Device || spec.is_legacy() {
                LoginFlow::Device
            } else {
                LoginFlow::Pkce
            };
        let reg = self
            .registration(spec, stored.registration.take(), flow)
            .await?;
        stored.registration = Some(reg.clone());
        let login = login::Login {
            aws: &self.aws,
            spec,
            reg: &reg,
            clock: &*self.clock,
        };
        let token = match flow {
            LoginFlow::Pkce => {
                let base = self
                    .aws
                    .oidc_base(&spec.region)
                    .await
                    .map_err(|e| e.into_error("login"))?;
                login::pkce::run(&login, &base, prompt).await?
            }
            LoginFlow::Device => login::device::run(&login, prompt).await?,
        };
        stored.token = Some(token);
        Ok(stored)
    }

    /// A token that unlocks without a browser: ours if still valid or refreshable, else (unless
    /// `aws_cli_cache = "off"`) one that `aws sso login` left in the AWS CLI cache.
    async fn reuse(
        &self,
        s: &Session,
        spec: &SessionSpec,
        stored: StoredSession,
    ) -> Option<(StoredSession, UnlockedBy)> {
        let now = self.clock.now();
        let valid = |st: &StoredSession| {
            st.token
                .as_ref()
                .is_some_and(|t| t.expires_at > now + TOKEN_REFRESH_BUFFER)
        };
        if valid(&stored) && !s.with(|st| st.token_dead) {
            return Some((stored, UnlockedBy::Stored));
        }
        if stored.refreshable(now)
            && let Some(st) = self.refreshed(s, &stored).await
        {
            return Some((st, UnlockedBy::Refreshed));
        }
        if self.cli.off() {
            return None;
        }
        let c = self.cli.read(&spec.key, &spec.start_url).await?;
        let candidate = StoredSession {
            token: Some(c.token),
            registration: c.registration.or(stored.registration),
            ..stored
        };
        if valid(&candidate) {
            info!(session = %spec.key, "imported a token from the AWS CLI cache");
            return Some((candidate, UnlockedBy::Imported));
        }
        if candidate.refreshable(now) {
            let st = self.refreshed(s, &candidate).await?;
            info!(session = %spec.key, "imported and refreshed a token from the AWS CLI cache");
            return Some((st, UnlockedBy::Imported));
        }
        None
    }

    /// `stored`, refreshed (under the session's refresh lock); `None` when that fails.
    async fn refreshed(&self, s: &Session, stored: &StoredSession) -> Option<StoredSession> {
        let _refreshing = s.refresh.lock().await;
        let r: Result<Token, AwsError> = self.refresh_token(s, stored).await;
        match r {
            Ok(_) => s.with(|st| st.stored.clone()),
            Err(e) => {
                info!(session = %s.key, error = %e, "token cannot be refreshed");
                None
            }
        }
    }

    /// A registration for `flow`: the stored one while it is valid, for the same flow and
    /// scopes, else a new RegisterClient.
    async fn registration(
        &self,
        spec: &SessionSpec,
        existing: Option<Registration>,
        flow: LoginFlow,
    ) -> Result<Registration> {
        if let Some(r) = existing
            && r.flow == flow.into()
            && r.scopes == spec.scopes
            && r.expires_at > self.clock.now() + REGISTRATION_BUFFER
        {
            // A registration can be revoked (or the service reset) before it expires; a login
            // with it would fail in the human's browser, so check it first.
            if self.aws.client_is_known(&spec.region, &r).await {
                return Ok(r);
            }
            info!(session = %spec.key, "stored client registration is no longer accepted; registering anew");
        }
        self.aws
            .register_client(
                &spec.region,
                &self.cfg.client_name,
                flow,
                &spec.scopes,
                &spec.start_url,
            )
            .await
            .map_err(|e| e.into_error("cannot register with IAM Identity Center"))
    }
}
