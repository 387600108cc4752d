//! The core's one face: every front-end (the gRPC service today) calls these methods with the
//! request's [`Caller`]. It wires the parts together and owns nothing of their logic:
//! `profiles` resolves a name into a chain, `session` decides whether a grant is open and
//! keeps tokens fresh, `creds` caches and fetches role credentials.
//!
//! The rule: **unlock is explicit, grant is transparent.** `unlock` may run a login; a
//! credential request never does. It is served from memory, refreshed when needed, or refused
//! at once with the command a human must run.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use ssoagent_client::{config::AgentConfig, policy_config::Action};
use tracing::info;

use crate::{
    aws::{AccountRoles, Aws, AwsError, CallerIdentity, RoleCredentials},
    caller::Caller,
    clock::SharedClock,
    creds::{self, Creds, DEFAULT_STS_REGION, MfaTarget},
    ending::Ending,
    error::{Error, Result},
    events::{Event, Events},
    login::Prompt,
    policy::{self, Policy},
    process,
    profiles::{AwsConfig, Chain, SessionSpec},
    session::{self, SessionView, Sessions, UnlockAnswer, UnlockOptions},
    store,
};

pub struct Agent {
    /// `~/.aws/config`, re-read when it changes.
    pub config: AwsConfig,
    aws: Arc<Aws>,
    sessions: Arc<Sessions>,
    creds: Creds,
    clock: SharedClock,
    events: Events,
    /// Profile → when WhoAmI last succeeded and the ARN it reported.
    verified: Mutex<HashMap<String, (SystemTime, String)>>,
    /// The `[[rule]]`s and the requests waiting for approval.
    pub policy: Policy,
    /// Which `ending` events were published already.
    ending: Ending,
    /// Read `/proc` per request: for the audit log or the rules (else watchers resolve late).
    resolve_callers: bool,
}

impl Agent {
    pub async fn new(
        cfg: AgentConfig,
        stores: store::Selected,
        state_dir: PathBuf,
        clock: SharedClock,
    ) -> Result<Self, crate::aws::InsecureEndpoint> {
        let aws = Arc::new(Aws::from_env(clock.clone()).await?);
        let events = Events::default();
        let config = AwsConfig::from_env().with_providers(crate::profiles::Providers::new(
            cfg.providers.clone(),
            ssoagent_client::config::config_path().display().to_string(),
        ));
        let other = stores.other.clone();
        let refresh_window = cfg.refresh_window;
        let terminal: session::TerminalCheck = Arc::new(Caller::has_controlling_terminal);
        if cfg.audit {
            crate::audit::spawn(
                events.subscribe(),
                &state_dir,
                cfg.audit_max_size,
                clock.clone(),
            );
        }
        let resolve_callers = cfg.audit || !cfg.rule.is_empty();
        crate::notify::spawn(events.subscribe_alerts(), cfg.notify, clock.clone());
        let policy = Policy::new(
            &cfg,
            ssoagent_client::config::config_path(),
            events.clone(),
            clock.clone(),
            terminal.clone(),
        );
        let sessions = Arc::new(Sessions::new(session::Parts {
            cfg,
            aws: aws.clone(),
            upstream: aws.clone(),
            stores,
            home: crate::profiles::home_dir(),
            state_dir,
            clock: clock.clone(),
            events: events.clone(),
            terminal,
        }));
        let configured = configured_session_keys(&config).await;
        sessions.start(other, configured).await;
        let creds = Creds::new(
            sessions.clone(),
            aws.clone(),
            clock.clone(),
            refresh_window,
            events.clone(),
        );
        Ok(Self {
            config,
            aws,
            sessions,
            creds,
            clock,
            events,
            verified: Mutex::default(),
            policy,
            ending: Ending::default(),
            resolve_callers,
        })
    }

    pub fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// Whether requests resolve their callers (the audit log is on, or a rule may name one).
    pub fn resolves_callers(&self) -> bool {
        self.resolve_callers
    }

    /// What happens in the core, as it happens.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Publishes an event of a front-end (e.g. a container-credentials grant).
    pub fn publish(&self, e: Event) {
        self.events.publish(e);
    }

    /// The console sign-in endpoint override (`AWS_ENDPOINT_URL_SIGNIN`), if any.
    pub fn signin_endpoint(&self) -> Option<String> {
        self.aws.endpoints().signin.clone()
    }

    /// AWS's clock minus ours in seconds, from the last AWS answer, if any came yet.
    pub fn clock_skew(&self) -> Option<i64> {
        self.aws.clock_skew()
    }

    /// Which store holds tokens, as status and unlock show it.
    pub fn store_label(&self) -> &str {
        self.sessions.store_label()
    }

    /// Role credentials for a profile (and the chain it resolved to). Never starts a login.
    /// The caller is resolved (pid → exe, argv, cwd, ancestors) and the policy applied here,
    /// so every front-end gets both; the audit log records the outcome.
    pub async fn credentials(
        &self,
        caller: Caller,
        profile: &str,
    ) -> Result<(Arc<Chain>, Arc<RoleCredentials>)> {
        self.credentials_on(caller, None, profile).await
    }

    /// [`Self::credentials`] for a request on a connection whose caller is resolved once
    /// for all its requests (`conn`; `None` resolves this request's caller afresh).
    pub async fn credentials_on(
        &self,
        caller: Caller,
        conn: Option<&process::ConnCaller>,
        profile: &str,
    ) -> Result<(Arc<Chain>, Arc<RoleCredentials>)> {
        let chain = self.config.profile(profile).await?;
        let who = match conn {
            _ if !self.resolve_callers => Arc::new(process::Resolved::default()),
            Some(c) => c.get(&caller),
            None => Arc::new(process::resolve(&caller)),
        };
        let v = self.policy.decide(profile, &who);
        match v.action {
            Action::Deny => return Err(self.policy.deny(caller, profile, &who, &v)),
            Action::Confirm => {
                let s = self.sessions.get(&chain.session().key);
                // A locked session fails at once (exit 3, unlock), never waits for approval.
                if self.sessions.check_issuable(&s).is_ok() {
                    let w = policy::Window {
                        session: s.key.clone(),
                        generation: s.generation(),
                    };
                    self.policy.confirm(caller, profile, &who, &v, &w).await?;
                }
            }
            Action::Allow => {}
        }
        let (rule, max_lifetime) = (v.rule, v.max_lifetime);
        let req = creds::Request {
            caller,
            who: self.resolve_callers.then_some(who),
            rule,
            max_lifetime,
        };
        let creds = self.creds.get(req, &chain).await?;
        Ok((chain, creds))
    }

    /// The role hop of a profile that an MFA code would be used for, and its state; `None`
    /// when no hop of its chain has `mfa_serial`.
    pub async fn mfa_target(&self, profile: &str) -> Result<Option<MfaTarget>> {
        let chain = self.config.profile(profile).await?;
        if !chain.hops.iter().any(|h| h.mfa_serial.is_some()) {
            return Ok(None);
        }
        self.creds.mfa_target(&chain).map(Some)
    }

    /// Assumes a profile's MFA hop with a code a human typed; cached for the credentials' life.
    pub async fn unlock_mfa(&self, caller: Caller, profile: &str, code: &str) -> Result<MfaTarget> {
        let chain = self.config.profile(profile).await?;
        let (target, _) = self.creds.unlock_mfa(caller, &chain, code).await?;
        Ok(target)
    }

    /// `ssoagentctl approve`: see [`Policy::approve`]; the approval ends with the window.
    pub fn approve(
        &self,
        caller: Caller,
        id: &str,
        for_: Option<std::time::Duration>,
        confirmed: bool,
    ) -> Result<policy::ApprovedView> {
        let now = self.clock.now();
        self.policy.approve(caller, id, for_, confirmed, |session| {
            self.sessions
                .get(session)
                .with(|st| st.effective_until(now))
        })
    }

    /// STS GetCallerIdentity with a profile's credentials; remembered for status.
    pub async fn whoami(&self, caller: Caller, profile: &str) -> Result<CallerIdentity> {
        let (chain, creds) = self.credentials(caller, profile).await?;
        let region = chain.region().unwrap_or(DEFAULT_STS_REGION);
        let id = self
            .aws
            .caller_identity(region, &creds)
            .await
            .map_err(|e| e.into_error(format!("profile '{profile}'")))?;
        self.verified
            .lock()
            .unwrap()
            .insert(profile.to_string(), (self.clock.now(), id.arn.clone()));
        Ok(id)
    }

    /// When a profile was last verified with [`Agent::whoami`], and as whom.
    pub fn verified(&self, profile: &str) -> Option<(SystemTime, String)> {
        self.verified.lock().unwrap().get(profile).cloned()
    }

    /// When the cached credentials of a profile expire, if any are cached.
    pub fn cached_expiry(&self, chain: &Chain) -> Option<SystemTime> {
        self.creds.cached_expiry(chain)
    }

    /// What an unlock without a login needs from a human (`presence`).
    pub fn presence(&self) -> ssoagent_client::config::Presence {
        self.sessions.presence()
    }

    /// Unlocks a session, or says that a human must confirm first (see [`Sessions::unlock`]).
    pub async fn unlock(
        &self,
        caller: Caller,
        spec: SessionSpec,
        opts: UnlockOptions,
        prompt: impl FnOnce(Prompt) + Send,
    ) -> Result<UnlockAnswer> {
        self.sessions.unlock(caller, spec, opts, prompt).await
    }

    /// Stops issuing at once and drops cached role credentials; stored tokens stay.
    pub async fn lock(&self, caller: Caller, session: &str, all: bool) -> Result<Vec<String>> {
        let keys = self.targets(session, all).await?;
        self.sessions.lock(caller, &keys).await;
        keys.iter().for_each(|k| self.creds.drop_session(k));
        Ok(keys)
    }

    /// Revokes the token with SSO Logout (best effort) and deletes what is stored.
    pub async fn logout(&self, caller: Caller, session: &str, all: bool) -> Result<Vec<String>> {
        let keys = self.targets(session, all).await?;
        let r = self.sessions.logout(caller, &keys).await;
        keys.iter().for_each(|k| self.creds.drop_session(k));
        r.map(|()| keys)
    }

    /// Accounts and roles of a session's user. Like a credential request, never logs in.
    pub async fn accounts(
        &self,
        caller: Caller,
        session: &str,
    ) -> Result<(String, Vec<AccountRoles>)> {
        let spec = self.resolve_session(session, "").await?;
        if spec.is_oidc() {
            return Err(Error::config(format!(
                "'{}' is an OIDC identity provider; accounts lists IAM Identity Center accounts and roles only",
                spec.key
            )));
        }
        let s = self.sessions.get(&spec.key);
        self.sessions.check_issuable(&s)?;
        let (token, region) = self.sessions.access_token(&s).await?;
        info!(session = %spec.key, %caller, "listing accounts");
        match self.aws.accounts(&region, &token).await {
            Ok(a) => Ok((spec.key, a)),
            Err(AwsError::Unauthorized(_)) => Err(self.sessions.token_rejected(&spec.key)),
            Err(e) => Err(e.into_error(format!("session '{}'", spec.key))),
        }
    }

    /// Every configured session with its state.
    pub async fn sessions_view(&self) -> Result<Vec<SessionView>> {
        let specs = self.config.sessions().await?;
        Ok(specs.into_iter().map(|s| self.sessions.view(s)).collect())
    }

    /// Housekeeping, run periodically: ends passed windows, refreshes tokens and credentials
    /// ahead of need.
    pub async fn tick(&self) {
        self.sessions.tick().await;
        self.creds.refresh_ahead(&self.config).await;
        let now = self.clock.now();
        let ends = self.sessions.keys().into_iter().filter_map(|k| {
            let until = self.sessions.get(&k).with(|st| {
                (st.state(now) == session::State::Unlocked)
                    .then(|| st.effective_until(now))
                    .flatten()
            })?;
            Some((k, until))
        });
        for e in self.ending.due(ends, now) {
            self.events.publish(e);
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

    /// The sessions a lock/logout request names: one, or all known.
    async fn targets(&self, session: &str, all: bool) -> Result<Vec<String>> {
        if !all {
            return Ok(vec![self.resolve_session(session, "").await?.key]);
        }
        let mut keys = configured_session_keys(&self.config).await;
        for k in self.sessions.keys() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        Ok(keys)
    }
}

/// The sessions ~/.aws/config defines (none when it cannot be read).
async fn configured_session_keys(config: &AwsConfig) -> Vec<String> {
    let sessions = config.sessions().await.unwrap_or_default();
    sessions.into_iter().map(|s| s.key).collect()
}
