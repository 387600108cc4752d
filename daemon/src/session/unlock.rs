//! Unlocking a session: a stored (or AWS CLI cached) token that is valid or refreshable is
//! reused with no browser, once a human confirmed it at a terminal (`presence = "tty"`);
//! otherwise a login runs and its prompt goes to the human. A login is proof of presence by
//! itself. A newer unlock of the same session supersedes an older one that waits or logs in.

use std::time::{Duration, SystemTime};

use ssoagent_client::config::{LoginFlow, Presence};
use tracing::info;

use super::{
    Session, Sessions,
    registry::superseded,
    state::{SessionState, TOKEN_REFRESH_BUFFER},
};
use crate::{
    aws::AwsError,
    caller::Caller,
    error::{Error, Result},
    events::Event,
    login::{self, Prompt},
    profiles::SessionSpec,
    store::{Registration, StoredSession, Token},
};

/// Reuse a client registration until this long before it expires.
const REGISTRATION_BUFFER: Duration = Duration::from_secs(15 * 60);

/// The longest unlock window (see the client config's `MAX_UNLOCK_WINDOW`).
pub const MAX_WINDOW: Duration = ssoagent_client::config::MAX_UNLOCK_WINDOW;

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
    /// A human confirmed a reuse at the caller's terminal (believed only when the caller has
    /// a controlling terminal).
    pub confirmed: bool,
}

pub struct UnlockOutcome {
    pub session: String,
    pub how: UnlockedBy,
    pub unlocked_until: Option<SystemTime>,
    pub token_expires_at: SystemTime,
}

/// The unlock would reuse a token without a login: a human must confirm it first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    pub session: String,
    /// The end of the window it would open; `None` is the SSO session's own life.
    pub until: Option<SystemTime>,
    /// The question, without the `[y/N]`.
    pub prompt: String,
}

pub enum UnlockAnswer {
    Unlocked(UnlockOutcome),
    /// Nothing changed; ask the human, then unlock again with `confirmed`.
    ConfirmationNeeded(Confirmation),
}

/// A token an unlock could use without a login, found without calling AWS or changing
/// anything (so a refused unlock leaves no trace).
enum Reusable {
    /// Ours, still valid.
    Stored(StoredSession),
    /// Ours, refreshable.
    Refresh(StoredSession),
    /// From the AWS CLI cache: valid (`false`) or to be refreshed (`true`).
    Import(StoredSession, bool),
}

impl Reusable {
    fn stored(&self) -> &StoredSession {
        match self {
            Self::Stored(s) | Self::Refresh(s) | Self::Import(s, _) => s,
        }
    }
}

impl Sessions {
    /// Unlocks a session: a stored token that is valid or refreshable is reused with no
    /// browser (with `presence = "tty"` only once a human confirmed it at a terminal: else
    /// the answer is [`UnlockAnswer::ConfirmationNeeded`] and nothing changes); otherwise
    /// (or with `force_login`, or `presence = "login"`) a login runs and `prompt` tells the
    /// human.
    pub async fn unlock(
        &self,
        caller: Caller,
        spec: SessionSpec,
        opts: UnlockOptions,
        prompt: impl FnOnce(Prompt) + Send,
    ) -> Result<UnlockAnswer> {
        let window = opts.window.map(check_window).transpose()?;
        let s = self.get(&spec.key);
        let (mine, mut newer) = s.begin_unlock();
        let _one_at_a_time = tokio::select! {
            g = s.unlock.lock() => g,
            () = superseded(&mut newer, mine) => return Err(superseded_error(&spec.key)),
        };
        let stored = self.stored_for(&s, &spec).await?;
        let now = self.clock.now();
        let until = window.map(|d| now + d);
        let fresh_login = opts.force_login || self.cfg.presence == Presence::Login;
        let plan = match fresh_login {
            false => self.reusable(&s, &spec, &stored).await,
            true => None,
        };
        if let Some(p) = &plan
            && self.cfg.presence == Presence::Tty
            && !(opts.confirmed && (self.terminal)(&caller))
        {
            let mut preview = SessionState::default();
            preview.open(p.stored().clone(), until);
            let until = preview.effective_until(now);
            info!(session = %spec.key, %caller, confirmed = opts.confirmed, "reuse without a login needs a human's confirmation at a terminal");
            return Ok(UnlockAnswer::ConfirmationNeeded(Confirmation {
                prompt: confirmation_prompt(&spec.key, until),
                session: spec.key,
                until,
            }));
        }
        let reused = match plan {
            Some(p) => self.reuse(&s, &spec, p).await,
            None => None,
        };
        let (stored, how, saved) = match reused {
            Some(r) => r,
            None => {
                let login = self.login(&spec, stored, opts, prompt);
                tokio::select! {
                    r = login => (r?, UnlockedBy::Login, false),
                    () = superseded(&mut newer, mine) => return Err(superseded_error(&spec.key)),
                }
            }
        };
        let unlocked_until = self
            .open_window(&s, &spec, stored, saved, until, now)
            .await?;
        let token_expires_at = s
            .with(|st| st.token().map(|t| t.expires_at))
            .expect("an unlocked session has a token");
        self.save_windows().await;
        info!(session = %spec.key, how = ?how, %caller, "session unlocked");
        if how == UnlockedBy::Login {
            self.publish(Event::Login {
                caller,
                session: spec.key.clone(),
            });
        }
        self.publish(Event::Unlocked {
            caller,
            session: spec.key.clone(),
        });
        Ok(UnlockAnswer::Unlocked(UnlockOutcome {
            session: spec.key,
            how,
            unlocked_until,
            token_expires_at,
        }))
    }

    /// Opens the unlock window on the session's token and returns when it ends. Only what
    /// changed is saved, under the refresh lock and against the current token: a copy read at
    /// the start must never overwrite a refresh token rotated meanwhile.
    async fn open_window(
        &self,
        s: &Session,
        spec: &SessionSpec,
        stored: StoredSession,
        saved: bool,
        until: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<Option<SystemTime>> {
        let _refreshing = s.refresh.lock().await;
        let current = if saved {
            // Nothing new, or saved by the refresh already: the current token is the truth.
            s.with(|st| st.stored.clone())
                .filter(|c| {
                    c.token.is_some() && c.start_url == spec.start_url && c.region == spec.region
                })
                .unwrap_or(stored)
        } else {
            // A new token (a login, an import): saved before anything uses it.
            self.save_stored(&stored).await?;
            stored
        };
        Ok(s.with(|st| {
            st.open(current, until);
            st.effective_until(now)
        }))
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
        if spec.is_oidc() {
            return self.oidc_login(spec, stored, opts, prompt).await;
        }
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

    /// A token that could unlock without a browser: ours if still valid or refreshable, else
    /// (unless `aws_cli_cache = "off"`) one that `aws sso login` left in the AWS CLI cache.
    /// Reads only; calls no AWS.
    async fn reusable(
        &self,
        s: &Session,
        spec: &SessionSpec,
        stored: &StoredSession,
    ) -> Option<Reusable> {
        let now = self.clock.now();
        if valid(stored, now) && !s.with(|st| st.token_dead) {
            return Some(Reusable::Stored(stored.clone()));
        }
        if stored.refreshable(now) {
            return Some(Reusable::Refresh(stored.clone()));
        }
        self.cli_candidate(spec, stored).await
    }

    /// A token from the AWS CLI cache that is valid or refreshable, unless interop is off.
    async fn cli_candidate(&self, spec: &SessionSpec, stored: &StoredSession) -> Option<Reusable> {
        if self.cli.off() || spec.is_oidc() {
            return None;
        }
        let now = self.clock.now();
        let c = self.cli.read(&spec.key, &spec.start_url).await?;
        let candidate = StoredSession {
            token: Some(c.token),
            registration: c.registration.or(stored.registration.clone()),
            ..stored.clone()
        };
        if valid(&candidate, now) {
            return Some(Reusable::Import(candidate, false));
        }
        candidate
            .refreshable(now)
            .then_some(Reusable::Import(candidate, true))
    }

    /// Uses a reusable token: refreshes it when it must be (a failed refresh of ours falls
    /// back to the AWS CLI cache); `None` when nothing worked and a login is needed. The flag
    /// says whether the token is already what the store holds (nothing left to save).
    async fn reuse(
        &self,
        s: &Session,
        spec: &SessionSpec,
        plan: Reusable,
    ) -> Option<(StoredSession, UnlockedBy, bool)> {
        let plan = match plan {
            Reusable::Stored(st) => return Some((st, UnlockedBy::Stored, true)),
            Reusable::Refresh(st) => match self.refreshed(s, &st).await {
                Some(st) => return Some((st, UnlockedBy::Refreshed, true)),
                None => self.cli_candidate(spec, &st).await?,
            },
            p => p,
        };
        match plan {
            Reusable::Import(st, false) => {
                info!(session = %spec.key, "imported a token from the AWS CLI cache");
                Some((st, UnlockedBy::Imported, false))
            }
            Reusable::Import(st, true) => {
                let st = self.refreshed(s, &st).await?;
                info!(session = %spec.key, "imported and refreshed a token from the AWS CLI cache");
                Some((st, UnlockedBy::Imported, true))
            }
            Reusable::Stored(_) | Reusable::Refresh(_) => None,
        }
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

/// A token with more than the refresh buffer left.
fn valid(st: &StoredSession, now: SystemTime) -> bool {
    st.token
        .as_ref()
        .is_some_and(|t| t.expires_at > now + TOKEN_REFRESH_BUFFER)
}

/// `--for` as asked, unless no SSO session could last that long.
fn check_window(d: Duration) -> Result<Duration> {
    if d > MAX_WINDOW {
        return Err(Error::config(format!(
            "an unlock window of {} is longer than an SSO session can last (at most {}); pass a shorter --for",
            humantime::format_duration(d),
            humantime::format_duration(MAX_WINDOW)
        )));
    }
    Ok(d)
}

fn superseded_error(session: &str) -> Error {
    Error::Cancelled(format!(
        "a newer unlock of session '{session}' took over; this one was cancelled"
    ))
}

/// The question a human answers before a token is reused without a login.
fn confirmation_prompt(session: &str, until: Option<SystemTime>) -> String {
    let until = match until {
        Some(t) => {
            let stamp = humantime::format_rfc3339_seconds(t).to_string();
            // 2026-12-01T18:30:00Z -> 2026-12-01 18:30 UTC
            format!("until {} {} UTC", &stamp[..10], &stamp[11..16])
        }
        None => "until the SSO session ends".to_string(),
    };
    format!("Unlock session '{session}' {until} for every process of this user?")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::unix_secs;

    #[test]
    fn the_prompt_says_what_is_granted_and_to_whom() {
        let t = unix_secs::from_secs(1_795_717_800); // 2026-11-26T18:30:00Z
        assert_eq!(
            confirmation_prompt("work", Some(t)),
            "Unlock session 'work' until 2026-11-26 18:30 UTC for every process of this user?"
        );
        assert!(confirmation_prompt("work", None).contains("until the SSO session ends"));
    }

    #[test]
    fn windows_beyond_an_sso_session_are_refused() {
        assert!(check_window(MAX_WINDOW).is_ok());
        let e = check_window(Duration::from_secs(u64::MAX)).unwrap_err();
        assert!(
            matches!(&e, Error::Config(m) if m.contains("longer than an SSO session can last")),
            "{e}"
        );
    }
}
