//! The heart of the daemon: SSO sessions (locked / unlocked / expired), their tokens, and the
//! per-profile role-credential cache.
//!
//! The rule: **unlock is explicit, grant is transparent.** `unlock` may run a login; a
//! credential request never does. It is served from memory, refreshed when needed (one
//! upstream call per profile and per session at a time), or refused at once with the command a
//! human must run.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use serde::{Deserialize, Serialize};
use ssoagent_client::config::{AgentConfig, AwsCliCache, LoginFlow};
use tracing::{debug, info, trace, warn};

use crate::{
    aws::{AssumeRoleParams, Aws, AwsError, CallerIdentity, RoleCredentials},
    cli_cache::{self, CliCache},
    error::{Error, Result},
    login::{self, Prompt},
    profiles::{AwsConfig, ChainedProfile, RoleProfile, Served, SessionSpec},
    secret::Secret,
    store::{self, Registration, StoredSession, Token, TokenStore, unix_secs},
};

/// Refresh the SSO access token when less than this is left (the AWS SDK for Rust uses 5 min).
const TOKEN_REFRESH_BUFFER: Duration = Duration::from_secs(5 * 60);
/// Credentials are refreshed in the background this long before they enter the refresh window.
const REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// ... if they were served within this time.
const REFRESH_AHEAD_IF_USED_WITHIN: Duration = Duration::from_secs(30 * 60);
/// When AWS fails, cached credentials are still served if they have at least this much life.
const MIN_LIFE_WHEN_AWS_FAILS: Duration = Duration::from_secs(60);
/// STS region for a profile with no `region`, as the AWS SDKs default.
const DEFAULT_STS_REGION: &str = "us-east-1";
/// Reuse a client registration until this long before it expires.
const REGISTRATION_BUFFER: Duration = Duration::from_secs(15 * 60);

pub struct Agent {
    pub cfg: AgentConfig,
    pub config: AwsConfig,
    aws: Aws,
    store: Arc<dyn TokenStore>,
    store_label: String,
    cli: Arc<CliCache>,
    unlock_file: PathBuf,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    profiles: Mutex<HashMap<String, Arc<ProfileSlot>>>,
    /// Profile → when WhoAmI last succeeded and the ARN it reported.
    verified: Mutex<HashMap<String, (SystemTime, String)>>,
    /// Serialises writes of the unlock file.
    unlock_file_lock: tokio::sync::Mutex<()>,
}

struct Session {
    key: String,
    state: Mutex<SessionState>,
    /// Exactly one token refresh in flight: the refresh token rotates.
    refresh: tokio::sync::Mutex<()>,
    /// One unlock (and so one login) at a time.
    unlock: tokio::sync::Mutex<()>,
    /// Bumped on lock/logout/expiry so credentials fetched before that are never served after.
    generation: AtomicU64,
}

#[derive(Default)]
struct SessionState {
    /// Tokens and registration, in memory while the daemon knows them.
    stored: Option<StoredSession>,
    /// `Some` while unlocked; `until: None` means the session's own life.
    window: Option<Window>,
    /// The token is dead (rejected, or expired and not refreshable): a human must log in.
    expired: bool,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Window {
    #[serde(default, with = "opt_secs")]
    until: Option<SystemTime>,
}

struct ProfileSlot {
    fetch: tokio::sync::Mutex<()>,
    cached: Mutex<Option<CachedCreds>>,
    /// When credentials were last served: only profiles in use are refreshed ahead.
    last_served: Mutex<Option<Instant>>,
}

struct CachedCreds {
    fetched_at: Instant,
    /// How long AWS issued them for: too short a life is not worth refreshing ahead.
    lifetime: Duration,
    session: String,
    generation: u64,
    /// The profile definition the credentials were made for ([`Served::fingerprint`]).
    fingerprint: String,
    creds: Arc<RoleCredentials>,
}

/// A session's state as status shows it.
pub struct SessionView {
    pub spec: SessionSpec,
    pub state: &'static str,
    pub token_expires_at: Option<SystemTime>,
    pub unlocked_until: Option<SystemTime>,
    pub refreshable: bool,
}

pub struct UnlockOutcome {
    pub session: String,
    pub how: &'static str,
    pub unlocked_until: Option<SystemTime>,
    pub token_expires_at: SystemTime,
}

impl SessionState {
    fn token(&self) -> Option<&Token> {
        self.stored.as_ref()?.token.as_ref()
    }

    fn refreshable(&self, now: SystemTime) -> bool {
        let Some(s) = &self.stored else { return false };
        s.token.as_ref().is_some_and(|t| t.refresh_token.is_some())
            && s.registration.as_ref().is_some_and(|r| r.expires_at > now)
    }

    /// The background refresh's turn: a live, refreshable token within twice the request-driven
    /// buffer of its end (so requests rarely find it due themselves).
    fn background_refresh_due(&self, now: SystemTime) -> bool {
        !self.expired
            && self.refreshable(now)
            && self
                .token()
                .is_some_and(|t| t.expires_at <= now + TOKEN_REFRESH_BUFFER * 2)
    }

    /// The end of the window: its deadline, or the token's end when it cannot be refreshed.
    fn effective_until(&self, now: SystemTime) -> Option<SystemTime> {
        let w = self.window?;
        let token_end = (!self.refreshable(now))
            .then(|| self.token().map(|t| t.expires_at))
            .flatten();
        match (w.until, token_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn label(&self, now: SystemTime) -> &'static str {
        match self.window {
            None => "locked",
            Some(w) if w.until.is_some_and(|u| u <= now) => "locked",
            Some(_) if self.expired || self.token().is_none() => "expired",
            Some(_) if self.effective_until(now).is_some_and(|u| u <= now) => "expired",
            Some(_) => "unlocked",
        }
    }
}

impl Agent {
    pub async fn new(cfg: AgentConfig, stores: store::Selected, state_dir: PathBuf) -> Self {
        let agent = Self {
            cfg,
            config: AwsConfig::from_env(),
            aws: Aws::from_env().await,
            store: stores.store.clone(),
            store_label: stores.label.clone(),
            cli: Arc::new(CliCache::new(&crate::profiles::home_dir())),
            unlock_file: state_dir.join("unlocked.json"),
            sessions: Mutex::default(),
            profiles: Mutex::default(),
            verified: Mutex::default(),
            unlock_file_lock: tokio::sync::Mutex::new(()),
        };
        agent.migrate(&stores).await;
        agent.restore().await;
        agent
    }

    /// AWS's clock minus ours in seconds, from the last AWS answer, if any came yet.
    pub fn clock_skew(&self) -> Option<i64> {
        self.aws.clock_skew()
    }

    /// Which store holds tokens, as status and unlock show it.
    pub fn store_label(&self) -> &str {
        &self.store_label
    }

    /// The unlock file as written: session → window.
    fn read_windows(&self) -> HashMap<String, Window> {
        match store::read_private(&self.unlock_file) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(file = %self.unlock_file.display(), error = %e, "ignoring a damaged unlock file");
                HashMap::new()
            }),
            Ok(None) => HashMap::new(),
            Err(e) => {
                warn!(error = %e, "cannot read the unlock file; every session starts locked");
                HashMap::new()
            }
        }
    }

    /// After a change of `store`, moves known sessions from the other store into this one.
    async fn migrate(&self, stores: &store::Selected) {
        if stores.other.is_none() {
            return;
        }
        let mut keys = self.configured_session_keys().await;
        keys.extend(self.read_windows().into_keys());
        keys.sort();
        keys.dedup();
        let other = stores.other.clone();
        let sel = store::Selected {
            store: stores.store.clone(),
            label: stores.label.clone(),
            other,
        };
        let moved = tokio::task::spawn_blocking(move || store::migrate(&sel, &keys))
            .await
            .unwrap_or_default();
        for key in moved {
            info!(session = %key, to = %self.store_label, "moved stored tokens to the configured store");
        }
    }

    /// Brings back the unlock windows that were open when the daemon last stopped.
    async fn restore(&self) {
        let windows = self.read_windows();
        let now = SystemTime::now();
        for (key, window) in windows {
            if window.until.is_some_and(|u| u <= now) {
                continue;
            }
            match self.load_stored(&key).await {
                Ok(Some(stored)) if stored.token.is_some() => {
                    let s = self.session(&key);
                    let mut st = s.state.lock().unwrap();
                    st.stored = Some(stored);
                    st.window = Some(window);
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

    fn session(&self, key: &str) -> Arc<Session> {
        self.sessions
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Session {
                    key: key.to_string(),
                    state: Mutex::default(),
                    refresh: tokio::sync::Mutex::new(()),
                    unlock: tokio::sync::Mutex::new(()),
                    generation: AtomicU64::new(0),
                })
            })
            .clone()
    }

    fn slot(&self, profile: &str) -> Arc<ProfileSlot> {
        self.profiles
            .lock()
            .unwrap()
            .entry(profile.to_string())
            .or_insert_with(|| {
                Arc::new(ProfileSlot {
                    fetch: tokio::sync::Mutex::new(()),
                    cached: Mutex::new(None),
                    last_served: Mutex::new(None),
                })
            })
            .clone()
    }

    async fn load_stored(&self, key: &str) -> Result<Option<StoredSession>> {
        let store = self.store.clone();
        let key = key.to_string();
        tokio::task::spawn_blocking(move || store.load(&key))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(|e| match e {
                // A local setup problem the user fixes (chmod), not an AWS failure.
                store::StoreError::Permissions { .. } => Error::config(e.to_string()),
                e => Error::Internal(format!("cannot read stored tokens: {e}")),
            })
    }

    /// Saves to the token store and, with `aws_cli_cache = "mirror"`, to the AWS CLI cache.
    async fn save_stored(&self, stored: &StoredSession) -> Result<()> {
        let store = self.store.clone();
        let cli = (self.cfg.aws_cli_cache == AwsCliCache::Mirror).then(|| self.cli.clone());
        let stored = stored.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(cli) = cli
                && let Err(e) = cli.write(&stored) {
                    warn!(session = %stored.session, error = %e, "cannot mirror the token to the AWS CLI cache");
                }
            store.save(&stored)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::Internal(format!("cannot save tokens: {e}")))
    }

    /// Writes the open windows (session → deadline) so an unlock survives a restart.
    async fn save_windows(&self) {
        let _g = self.unlock_file_lock.lock().await;
        let windows: HashMap<String, Window> = self
            .sessions
            .lock()
            .unwrap()
            .values()
            .filter_map(|s| Some((s.key.clone(), s.state.lock().unwrap().window?)))
            .collect();
        let bytes = serde_json::to_vec_pretty(&windows).expect("serializable");
        if let Err(e) = store::write_private(&self.unlock_file, &bytes) {
            warn!(error = %e, "cannot save the unlock state; it will not survive a restart");
        }
    }

    /// Refuses at once unless the session is unlocked; a passed deadline locks it.
    fn check_issuable(&self, s: &Session) -> Result<()> {
        let now = SystemTime::now();
        let label = s.state.lock().unwrap().label(now);
        match label {
            "unlocked" => Ok(()),
            "expired" => Err(Error::expired(&s.key)),
            _ => Err(Error::locked(&s.key)),
        }
    }

    /// Role credentials for a profile: from memory when they have at least the refresh window
    /// left, else fetched (once, however many callers wait). Never starts a login.
    pub async fn credentials(&self, profile: &str) -> Result<Arc<RoleCredentials>> {
        let served = self.config.profile(profile).await?;
        self.credentials_of(&served).await
    }

    /// The same for a resolved profile; a chained one first gets its source's credentials
    /// (cached and single-flighted the same way), then assumes its role with STS.
    fn credentials_of<'a>(
        &'a self,
        served: &'a Served,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Arc<RoleCredentials>>> + Send + 'a>,
    > {
        Box::pin(async move {
            let name = served.name();
            let session = self.session(&served.session().key);
            self.check_issuable(&session)?;
            let slot = self.slot(name);
            let fingerprint = served.fingerprint();
            // Usable: same session generation and definition, and at least the refresh window
            // left, or fetched while this request waited (AWS may issue less than the window;
            // callers queued behind one fetch share it rather than each fetching again).
            let fresh = |waited_since: Option<Instant>| -> Option<Arc<RoleCredentials>> {
                let c = slot.cached.lock().unwrap();
                let c = c.as_ref()?;
                let now = SystemTime::now();
                let same = c.session == session.key
                    && c.generation == session.generation.load(Ordering::SeqCst)
                    && c.fingerprint == fingerprint;
                let long_enough = c.creds.expires_at > now + self.cfg.refresh_window
                    || (waited_since.is_some_and(|t| c.fetched_at >= t)
                        && c.creds.expires_at > now);
                (same && long_enough).then(|| c.creds.clone())
            };
            *slot.last_served.lock().unwrap() = Some(Instant::now());
            if let Some(c) = fresh(None) {
                trace!(profile = name, "served from cache");
                return Ok(c);
            }
            debug!(profile = name, "no usable cached credentials; fetching");
            let waited_since = Instant::now();
            let _fetching = slot.fetch.lock().await;
            self.check_issuable(&session)?;
            if let Some(c) = fresh(Some(waited_since)) {
                debug!(profile = name, "served credentials fetched while waiting");
                return Ok(c);
            }
            match self.fetch_into(served, &session, &slot).await {
                // AWS failed (5xx, throttling, timeouts) after its retries: credentials that
                // are inside the refresh window but still valid beat no credentials. Never for
                // a locked/expired session or a refusal: those are answers, not outages.
                Err(Error::AwsFailed(e)) => {
                    let still_valid = {
                        let c = slot.cached.lock().unwrap();
                        c.as_ref()
                            .filter(|c| {
                                c.session == session.key
                                    && c.generation == session.generation.load(Ordering::SeqCst)
                                    && c.fingerprint == fingerprint
                                    && c.creds.expires_at
                                        > SystemTime::now() + MIN_LIFE_WHEN_AWS_FAILS
                            })
                            .map(|c| c.creds.clone())
                    };
                    match still_valid {
                        Some(c) => {
                            warn!(profile = name, error = %e, "refresh failed; serving cached credentials that are still valid");
                            Ok(c)
                        }
                        None => Err(Error::AwsFailed(e)),
                    }
                }
                other => other,
            }
        })
    }

    /// Fetches a profile's credentials from AWS and caches them. Callers hold `slot.fetch`.
    async fn fetch_into(
        &self,
        served: &Served,
        session: &Session,
        slot: &ProfileSlot,
    ) -> Result<Arc<RoleCredentials>> {
        let generation = session.generation.load(Ordering::SeqCst);
        let creds = match served {
            Served::Sso(p) => self.fetch_sso(session, p).await?,
            Served::Chained(c) => {
                let source = self.credentials_of(&c.source).await?;
                self.assume(c, &source).await?
            }
        };
        *slot.cached.lock().unwrap() = Some(CachedCreds {
            fetched_at: Instant::now(),
            lifetime: creds
                .expires_at
                .duration_since(SystemTime::now())
                .unwrap_or_default(),
            session: session.key.clone(),
            generation,
            fingerprint: served.fingerprint(),
            creds: creds.clone(),
        });
        Ok(creds)
    }

    /// Refreshes ahead, in the background, the credentials of profiles in use that are about to
    /// enter the refresh window, so requests keep being served from memory and never wait on
    /// AWS while valid credentials exist.
    async fn refresh_ahead(&self) {
        let now = SystemTime::now();
        let due: Vec<(String, Arc<ProfileSlot>)> = self
            .profiles
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, slot)| {
                let in_use = slot
                    .last_served
                    .lock()
                    .unwrap()
                    .is_some_and(|t| t.elapsed() < REFRESH_AHEAD_IF_USED_WITHIN);
                // Credentials that AWS issues for less than the window plus twice the lead
                // would be refetched on every tick; requests fetch those on demand instead.
                let nearing = slot.cached.lock().unwrap().as_ref().is_some_and(|c| {
                    c.lifetime > self.cfg.refresh_window + REFRESH_AHEAD * 2
                        && c.creds.expires_at > now
                        && c.creds.expires_at <= now + self.cfg.refresh_window + REFRESH_AHEAD
                });
                in_use && nearing
            })
            .map(|(name, slot)| (name.clone(), slot.clone()))
            .collect();
        for (name, slot) in due {
            let Ok(served) = self.config.profile(&name).await else {
                continue;
            };
            let session = self.session(&served.session().key);
            if self.check_issuable(&session).is_err() {
                continue;
            }
            // A request already fetching does the job.
            let Ok(_fetching) = slot.fetch.try_lock() else {
                continue;
            };
            match self.fetch_into(&served, &session, &slot).await {
                Ok(_) => {
                    debug!(profile = %name, "refreshed credentials ahead of the refresh window")
                }
                Err(e) => {
                    warn!(profile = %name, error = %e, "refresh ahead failed; cached credentials stay in use")
                }
            }
        }
    }

    async fn fetch_sso(&self, session: &Session, p: &RoleProfile) -> Result<Arc<RoleCredentials>> {
        let (token, region) = self.access_token(session).await?;
        match self
            .aws
            .role_credentials(&region, &token, &p.account_id, &p.role_name)
            .await
        {
            Ok(c) => {
                info!(profile = %p.name, account = %p.account_id, role = %p.role_name, "fetched role credentials");
                Ok(Arc::new(c))
            }
            Err(AwsError::Unauthorized(detail)) => {
                warn!(session = %session.key, %detail, "the portal rejected a token believed valid; session expired");
                self.expire(session).await;
                Err(Error::expired(&session.key))
            }
            Err(AwsError::Forbidden(m)) => Err(Error::AwsRefused(format!(
                "profile '{}': role {} in account {} was refused: {m}",
                p.name, p.role_name, p.account_id
            ))),
            Err(e) => Err(Error::AwsFailed(format!("profile '{}': {e}", p.name))),
        }
    }

    async fn assume(
        &self,
        c: &ChainedProfile,
        source: &RoleCredentials,
    ) -> Result<Arc<RoleCredentials>> {
        let region = c.region.as_deref().unwrap_or(DEFAULT_STS_REGION);
        let params = AssumeRoleParams {
            role_arn: &c.role_arn,
            session_name: &c.role_session_name,
            external_id: c.external_id.as_deref(),
            duration_seconds: c.duration_seconds,
        };
        match self.aws.assume_role(region, source, params).await {
            Ok(creds) => {
                info!(profile = %c.name, role_arn = %c.role_arn, "assumed role");
                Ok(Arc::new(creds))
            }
            Err(AwsError::Forbidden(m)) => Err(Error::AwsRefused(format!(
                "profile '{}': assuming {} was refused: {m}",
                c.name, c.role_arn
            ))),
            Err(e) => Err(Error::AwsFailed(format!("profile '{}': {e}", c.name))),
        }
    }

    /// STS GetCallerIdentity with a profile's credentials; remembered for status.
    pub async fn whoami(&self, profile: &str) -> Result<CallerIdentity> {
        let served = self.config.profile(profile).await?;
        let creds = self.credentials_of(&served).await?;
        let region = served.region().unwrap_or(DEFAULT_STS_REGION);
        let id = self
            .aws
            .caller_identity(region, &creds)
            .await
            .map_err(|e| match e {
                AwsError::Forbidden(m) => Error::AwsRefused(format!("profile '{profile}': {m}")),
                e => Error::AwsFailed(format!("profile '{profile}': {e}")),
            })?;
        self.verified
            .lock()
            .unwrap()
            .insert(profile.to_string(), (SystemTime::now(), id.arn.clone()));
        Ok(id)
    }

    /// When a profile was last verified with [`Agent::whoami`], and as whom.
    pub fn verified(&self, profile: &str) -> Option<(SystemTime, String)> {
        self.verified.lock().unwrap().get(profile).cloned()
    }

    /// A usable access token (and its SSO region), refreshed first when it is near its end.
    async fn access_token(&self, s: &Session) -> Result<(Secret, String)> {
        let usable = |st: &SessionState| -> Option<(Secret, String)> {
            let stored = st.stored.as_ref()?;
            let t = stored.token.as_ref()?;
            (!st.expired && t.expires_at > SystemTime::now() + TOKEN_REFRESH_BUFFER)
                .then(|| (t.access_token.clone(), stored.region.clone()))
        };
        if let Some(t) = usable(&s.state.lock().unwrap()) {
            return Ok(t);
        }
        debug!(session = %s.key, "access token near its end; refreshing");
        let _refreshing = s.refresh.lock().await;
        let (stored, refreshable) = {
            let st = s.state.lock().unwrap();
            if let Some(t) = usable(&st) {
                return Ok(t);
            }
            if st.expired {
                return Err(Error::expired(&s.key));
            }
            (st.stored.clone(), st.refreshable(SystemTime::now()))
        };
        let Some(stored) = stored else {
            return Err(Error::locked(&s.key));
        };
        let token = stored.token.as_ref().expect("unlocked session has a token");
        if refreshable {
            match self.refresh_token(s, &stored).await {
                Ok(t) => return Ok((t.access_token, stored.region.clone())),
                Err(AwsError::InvalidGrant(_) | AwsError::InvalidClient(_)) => {
                    self.expire(s).await;
                    return Err(Error::expired(&s.key));
                }
                Err(e) if token.expires_at > SystemTime::now() => {
                    // Keep what is still valid; the next request tries again.
                    warn!(session = %s.key, error = %e, "token refresh failed; using the current token");
                }
                Err(e) => {
                    return Err(Error::AwsFailed(format!(
                        "cannot refresh session '{}': {e}",
                        s.key
                    )));
                }
            }
        }
        if token.expires_at > SystemTime::now() {
            return Ok((token.access_token.clone(), stored.region.clone()));
        }
        self.expire(s).await;
        Err(Error::expired(&s.key))
    }

    /// Refreshes with the refresh token and saves the rotated token before anyone uses it.
    /// Callers hold `s.refresh`.
    ///
    /// When mirroring to the AWS CLI cache, that file is the shared truth (the AWS CLI and
    /// botocore refresh too, and the refresh token rotates): a newer token there is adopted
    /// instead of refreshing, and an `invalid_grant` re-reads it once before giving up.
    async fn refresh_token(&self, s: &Session, stored: &StoredSession) -> Result<Token, AwsError> {
        let mirror = self.cfg.aws_cli_cache == AwsCliCache::Mirror;
        let mut stored = stored.clone();
        if mirror && let Some(newer) = self.newer_in_cli_cache(&stored).await {
            stored = newer;
            let t = stored.token.clone().expect("adopted a token");
            if t.expires_at > SystemTime::now() + TOKEN_REFRESH_BUFFER {
                info!(session = %s.key, "adopted a newer token from the AWS CLI cache");
                self.adopt(s, &stored).await;
                return Ok(t);
            }
        }
        let token = match self.refresh_once(&stored).await {
            Err(AwsError::InvalidGrant(m)) if mirror => {
                let Some(newer) = self.newer_in_cli_cache(&stored).await else {
                    return Err(AwsError::InvalidGrant(m));
                };
                info!(session = %s.key, "refresh token was spent by another tool; adopting its token");
                stored = newer;
                let t = stored.token.clone().expect("adopted a token");
                if t.expires_at > SystemTime::now() + TOKEN_REFRESH_BUFFER {
                    t
                } else {
                    self.refresh_once(&stored).await?
                }
            }
            other => other?,
        };
        stored.token = Some(token.clone());
        self.adopt(s, &stored).await;
        info!(session = %s.key, "refreshed the SSO token");
        Ok(token)
    }

    async fn refresh_once(&self, stored: &StoredSession) -> Result<Token, AwsError> {
        let (Some(reg), Some(rt)) = (
            stored.registration.as_ref(),
            stored.token.as_ref().and_then(|t| t.refresh_token.as_ref()),
        ) else {
            return Err(AwsError::InvalidGrant(
                "no refresh token or client registration".into(),
            ));
        };
        self.aws.refresh(&stored.region, reg, rt).await
    }

    /// Saves a session's tokens (before anyone uses them) and makes them the current ones.
    async fn adopt(&self, s: &Session, stored: &StoredSession) {
        if let Err(e) = self.save_stored(stored).await {
            // A spent refresh token cannot be taken back: keep the new one in memory.
            warn!(session = %s.key, error = %e, "tokens could not be saved");
        }
        s.state.lock().unwrap().stored = Some(stored.clone());
    }

    /// The AWS CLI cache's token for this session when it is not ours and lasts longer.
    async fn newer_in_cli_cache(&self, stored: &StoredSession) -> Option<StoredSession> {
        let ours = stored.token.as_ref()?;
        let c = self
            .read_cli_cache(&stored.session, &stored.start_url)
            .await?;
        if c.token.access_token == ours.access_token || c.token.expires_at <= ours.expires_at {
            return None;
        }
        Some(StoredSession {
            token: Some(c.token),
            registration: c.registration.or_else(|| stored.registration.clone()),
            ..stored.clone()
        })
    }

    /// Reads the AWS CLI cache entry of a session (for the same start URL); problems are
    /// logged, never fatal: the cache is a convenience.
    async fn read_cli_cache(&self, session: &str, start_url: &str) -> Option<cli_cache::Cached> {
        let cli = self.cli.clone();
        let key = session.to_string();
        let read = tokio::task::spawn_blocking(move || cli.read(&key))
            .await
            .ok()?;
        match read {
            Ok(Some(c)) if c.start_url.as_deref().is_none_or(|u| u == start_url) => Some(c),
            Ok(_) => None,
            Err(e) => {
                warn!(session, error = %e, "ignoring the AWS CLI cache entry");
                None
            }
        }
    }

    /// Marks a session's token dead and drops what was issued under it.
    async fn expire(&self, s: &Session) {
        s.state.lock().unwrap().expired = true;
        self.revoke_issued(s);
    }

    /// Nothing issued under the session so far is served again: cached credentials go, and
    /// any fetch already in flight is stamped with an old generation.
    fn revoke_issued(&self, s: &Session) {
        s.generation.fetch_add(1, Ordering::SeqCst);
        self.drop_credentials(&s.key);
    }

    fn drop_credentials(&self, session: &str) {
        for slot in self.profiles.lock().unwrap().values() {
            let mut c = slot.cached.lock().unwrap();
            if c.as_ref().is_some_and(|c| c.session == session) {
                *c = None;
            }
        }
    }

    /// Which session a request means: explicit, through a profile, or the only one there is.
    pub async fn resolve_session(&self, session: &str, profile: &str) -> Result<SessionSpec> {
        if !session.is_empty() {
            return self.config.session(session).await;
        }
        if !profile.is_empty() {
            return Ok(self.config.profile(profile).await?.session().clone());
        }
        let all = self.config.sessions().await?;
        match all.len() {
            1 => Ok(all.into_iter().next().unwrap()),
            0 => Err(Error::config(format!(
                "{} defines no SSO session; add an [sso-session NAME] section (see ssoagentctl --help)",
                self.config.path().display()
            ))),
            _ => Err(Error::config(format!(
                "several SSO sessions are configured ({}); name one, e.g. ssoagentctl unlock {}",
                all.iter()
                    .map(|s| s.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                all[0].key
            ))),
        }
    }

    /// Unlocks a session: a stored token that is valid or refreshable is reused with no
    /// browser; otherwise (or with `force_login`) a login runs and `prompt` tells the human.
    pub async fn unlock(
        &self,
        spec: SessionSpec,
        window: Option<Duration>,
        device_code: bool,
        force_login: bool,
        prompt: impl FnOnce(Prompt) + Send,
    ) -> Result<UnlockOutcome> {
        let s = self.session(&spec.key);
        let _one_at_a_time = s.unlock.lock().await;
        let mut stored = s.state.lock().unwrap().stored.clone();
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

        let mut how = None;
        if !force_login && let Some((reused, h)) = self.reuse(&s, &spec, stored.clone()).await {
            stored = reused;
            how = Some(h);
        }
        if how.is_none() {
            let flow = if device_code || self.cfg.login_flow == LoginFlow::Device || spec.legacy {
                "device"
            } else {
                "pkce"
            };
            let reg = self
                .registration(&spec, stored.registration.take(), flow)
                .await?;
            stored.registration = Some(reg.clone());
            let token = match flow {
                "pkce" => {
                    let base = self
                        .aws
                        .oidc_base(&spec.region)
                        .await
                        .map_err(|e| Error::AwsFailed(e.to_string()))?;
                    login::pkce(&self.aws, &spec, &reg, &base, prompt).await?
                }
                _ => login::device(&self.aws, &spec, &reg, prompt).await?,
            };
            stored.token = Some(token);
            how = Some("login");
        }
        // Saved before anything uses it: a rotated refresh token must never be lost.
        self.save_stored(&stored).await?;
        let token_expires_at = stored.token.as_ref().expect("token").expires_at;
        let until = window.map(|d| SystemTime::now() + d);
        {
            let mut st = s.state.lock().unwrap();
            st.stored = Some(stored);
            st.window = Some(Window { until });
            st.expired = false;
        }
        self.save_windows().await;
        let unlocked_until = s.state.lock().unwrap().effective_until(SystemTime::now());
        info!(session = %spec.key, how = how.unwrap(), "session unlocked");
        Ok(UnlockOutcome {
            session: spec.key.clone(),
            how: how.unwrap(),
            unlocked_until,
            token_expires_at,
        })
    }

    /// A token that unlocks without a browser: ours if still valid or refreshable, else (unless
    /// `aws_cli_cache = "off"`) one that `aws sso login` left in the AWS CLI cache.
    async fn reuse(
        &self,
        s: &Session,
        spec: &SessionSpec,
        stored: StoredSession,
    ) -> Option<(StoredSession, &'static str)> {
        let now = SystemTime::now();
        let valid = |st: &StoredSession| {
            st.token
                .as_ref()
                .is_some_and(|t| t.expires_at > now + TOKEN_REFRESH_BUFFER)
        };
        let refreshable = |st: &StoredSession| {
            SessionState {
                stored: Some(st.clone()),
                ..Default::default()
            }
            .refreshable(now)
        };
        let refreshed = |r: Result<Token, AwsError>| match r {
            Ok(_) => s.state.lock().unwrap().stored.clone(),
            Err(e) => {
                info!(session = %spec.key, error = %e, "token cannot be refreshed");
                None
            }
        };
        if valid(&stored) && !s.state.lock().unwrap().expired {
            return Some((stored, "stored"));
        }
        if refreshable(&stored) {
            let _refreshing = s.refresh.lock().await;
            if let Some(st) = refreshed(self.refresh_token(s, &stored).await) {
                return Some((st, "refreshed"));
            }
        }
        if self.cfg.aws_cli_cache == AwsCliCache::Off {
            return None;
        }
        let c = self.read_cli_cache(&spec.key, &spec.start_url).await?;
        let candidate = StoredSession {
            token: Some(c.token),
            registration: c.registration.or(stored.registration),
            ..stored
        };
        if valid(&candidate) {
            info!(session = %spec.key, "imported a token from the AWS CLI cache");
            return Some((candidate, "imported"));
        }
        if refreshable(&candidate) {
            let _refreshing = s.refresh.lock().await;
            if let Some(st) = refreshed(self.refresh_token(s, &candidate).await) {
                info!(session = %spec.key, "imported and refreshed a token from the AWS CLI cache");
                return Some((st, "imported"));
            }
        }
        None
    }

    /// A registration for `flow`: the stored one while it is valid, for the same flow and
    /// scopes, else a new RegisterClient.
    async fn registration(
        &self,
        spec: &SessionSpec,
        existing: Option<Registration>,
        flow: &str,
    ) -> Result<Registration> {
        if let Some(r) = existing
            && r.flow == flow
            && r.scopes == spec.scopes
            && r.expires_at > SystemTime::now() + REGISTRATION_BUFFER
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
            .map_err(|e| Error::AwsFailed(format!("cannot register with IAM Identity Center: {e}")))
    }

    /// The sessions ~/.aws/config defines (none when it cannot be read).
    async fn configured_session_keys(&self) -> Vec<String> {
        let sessions = self.config.sessions().await.unwrap_or_default();
        sessions.into_iter().map(|s| s.key).collect()
    }

    /// The sessions a lock/logout request names: one, or all known.
    async fn targets(&self, session: &str, all: bool) -> Result<Vec<String>> {
        if all {
            let mut keys = self.configured_session_keys().await;
            for k in self.sessions.lock().unwrap().keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
            return Ok(keys);
        }
        Ok(vec![self.resolve_session(session, "").await?.key])
    }

    /// Stops issuing at once and drops cached role credentials; stored tokens stay.
    pub async fn lock(&self, session: &str, all: bool) -> Result<Vec<String>> {
        let keys = self.targets(session, all).await?;
        for key in &keys {
            let s = self.session(key);
            s.state.lock().unwrap().window = None;
            self.revoke_issued(&s);
            info!(session = %key, "locked");
        }
        self.save_windows().await;
        Ok(keys)
    }

    /// Revokes the token with SSO Logout (best effort) and deletes what is stored.
    pub async fn logout(&self, session: &str, all: bool) -> Result<Vec<String>> {
        let keys = self.targets(session, all).await?;
        for key in &keys {
            let s = self.session(key);
            let stored = s.state.lock().unwrap().stored.clone();
            let stored = match stored {
                Some(st) => Some(st),
                None => self.load_stored(key).await.unwrap_or(None),
            };
            if let Some(st) = &stored
                && let Some(t) = &st.token
            {
                if let Err(e) = self.aws.logout(&st.region, &t.access_token).await {
                    warn!(session = %key, error = %e, "SSO Logout failed; deleting stored tokens anyway");
                }
                // The AWS CLI cache entry goes too when it is ours (mirrored, or the same token).
                let cached = self.read_cli_cache(key, &st.start_url).await;
                if self.cfg.aws_cli_cache == AwsCliCache::Mirror
                    || cached.is_some_and(|c| c.token.access_token == t.access_token)
                {
                    self.cli.delete(key);
                }
            }
            *s.state.lock().unwrap() = SessionState::default();
            self.revoke_issued(&s);
            let store = self.store.clone();
            let k = key.clone();
            tokio::task::spawn_blocking(move || store.delete(&k))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|e| Error::Internal(format!("cannot delete stored tokens: {e}")))?;
            info!(session = %key, "logged out");
        }
        self.save_windows().await;
        Ok(keys)
    }

    /// Accounts and roles of a session's user. Like a credential request, never logs in.
    pub async fn accounts(&self, session: &str) -> Result<(String, Vec<crate::aws::AccountRoles>)> {
        let spec = self.resolve_session(session, "").await?;
        let s = self.session(&spec.key);
        self.check_issuable(&s)?;
        let (token, region) = self.access_token(&s).await?;
        match self.aws.accounts(&region, &token).await {
            Ok(a) => Ok((spec.key, a)),
            Err(AwsError::Unauthorized(_)) => {
                self.expire(&s).await;
                Err(Error::expired(&spec.key))
            }
            Err(AwsError::Forbidden(m)) => Err(Error::AwsRefused(m)),
            Err(e) => Err(Error::AwsFailed(e.to_string())),
        }
    }

    /// Every configured session (and any other the daemon holds) with its state.
    pub async fn sessions_view(&self) -> Result<Vec<SessionView>> {
        let specs = self.config.sessions().await?;
        let now = SystemTime::now();
        let mut out = Vec::new();
        for spec in specs {
            let s = self.session(&spec.key);
            let st = s.state.lock().unwrap();
            out.push(SessionView {
                state: st.label(now),
                token_expires_at: st.token().map(|t| t.expires_at),
                unlocked_until: st.effective_until(now),
                refreshable: st.refreshable(now),
                spec,
            });
        }
        Ok(out)
    }

    /// When the cached credentials of a profile expire, if any are cached.
    pub fn cached_expiry(&self, profile: &str) -> Option<SystemTime> {
        let slot = self.profiles.lock().unwrap().get(profile)?.clone();
        let c = slot.cached.lock().unwrap();
        c.as_ref().map(|c| c.creds.expires_at)
    }

    /// Housekeeping, run periodically: locks sessions whose deadline passed and refreshes SSO
    /// tokens of unlocked sessions ahead of their expiry, so requests rarely wait on AWS.
    pub async fn tick(&self) {
        let now = SystemTime::now();
        let sessions: Vec<Arc<Session>> = self.sessions.lock().unwrap().values().cloned().collect();
        let mut changed = false;
        for s in sessions {
            let (deadline_passed, wants_refresh) = {
                let st = s.state.lock().unwrap();
                let passed = st.window.is_some_and(|w| w.until.is_some_and(|u| u <= now));
                let wants = st.window.is_some() && st.background_refresh_due(now);
                (passed, wants)
            };
            if deadline_passed {
                s.state.lock().unwrap().window = None;
                self.revoke_issued(&s);
                info!(session = %s.key, "unlock window ended; session locked");
                changed = true;
            } else if wants_refresh && let Err(e) = self.access_token_refreshing(&s).await {
                warn!(session = %s.key, error = %e, "background refresh failed");
            }
        }
        if changed {
            self.save_windows().await;
        }
        self.refresh_ahead().await;
    }

    /// Refreshes a session's token now (single-flight with request-driven refreshes).
    async fn access_token_refreshing(&self, s: &Session) -> Result<()> {
        let _refreshing = s.refresh.lock().await;
        let stored = {
            let st = s.state.lock().unwrap();
            // A request may have refreshed while we waited for the lock.
            if !st.background_refresh_due(SystemTime::now()) {
                return Ok(());
            }
            st.stored.clone().expect("refreshable")
        };
        match self.refresh_token(s, &stored).await {
            Ok(_) => Ok(()),
            Err(AwsError::InvalidGrant(_) | AwsError::InvalidClient(_)) => {
                self.expire(s).await;
                Err(Error::expired(&s.key))
            }
            Err(e) => Err(Error::AwsFailed(e.to_string())),
        }
    }
}

mod opt_secs {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    use crate::store::unix_secs;

    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&unix_secs::to_secs(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(unix_secs::from_secs))
    }
}

/// Unix seconds, 0 for none (the wire format of times in the proto).
pub fn secs(t: Option<SystemTime>) -> i64 {
    t.map(unix_secs::to_secs).unwrap_or(0)
}
