//! Test-only: a fake AWS behind the [`Upstream`] seam and a core built on a [`ManualClock`],
//! a temp file store and no AWS CLI cache, so the state machine runs without sleeps.

use std::{
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use ssoagent_client::config::{AgentConfig, AwsCliCache, Presence};
use tokio::sync::Semaphore;

use crate::{
    aws::{AssumeRoleParams, Aws, AwsError, RoleCredentials, Upstream},
    caller::Caller,
    clock::{Clock, ManualClock},
    creds::Creds,
    events::Events,
    profiles::{Chain, RoleHop, SessionKind, SessionSpec, Source, SsoRole},
    secret::Secret,
    session::{self, Sessions, UnlockAnswer, UnlockOptions},
    store::{
        FileStore, RegisteredFlow, Registration, StoreError, StoredSession, Token, TokenStore,
    },
};

/// The file store, with a gate: saves of a chosen refresh token wait until released, so a
/// test can land one writer's save after another's.
pub struct GatedStore {
    inner: FileStore,
    hold: Mutex<Option<String>>,
    released: (Mutex<bool>, Condvar),
    /// Saves waiting at the gate now.
    pub waiting: AtomicUsize,
}

impl GatedStore {
    /// From now on, saves whose refresh token is `rt` wait for [`GatedStore::release`].
    pub fn hold_saves_of(&self, rt: &str) {
        *self.released.0.lock().unwrap() = false;
        *self.hold.lock().unwrap() = Some(rt.to_string());
    }

    pub fn release(&self) {
        *self.hold.lock().unwrap() = None;
        *self.released.0.lock().unwrap() = true;
        self.released.1.notify_all();
    }
}

impl TokenStore for GatedStore {
    fn load(&self, session: &str) -> Result<Option<StoredSession>, StoreError> {
        self.inner.load(session)
    }

    fn save(&self, stored: &StoredSession) -> Result<(), StoreError> {
        let rt = stored
            .token
            .as_ref()
            .and_then(|t| t.refresh_token.as_ref())
            .map(|r| r.expose().to_string());
        let held = rt.is_some() && *self.hold.lock().unwrap() == rt;
        if held {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let mut released = self.released.0.lock().unwrap();
            while !*released {
                released = self.released.1.wait(released).unwrap();
            }
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        self.inner.save(stored)
    }

    fn delete(&self, session: &str) -> Result<(), StoreError> {
        self.inner.delete(session)
    }
}

pub const MIN: Duration = Duration::from_secs(60);

/// A scripted AWS: counts calls, can hold GetRoleCredentials until released, rotates
/// refresh tokens `rt-0` → `rt-1` → …
pub struct FakeAws {
    clock: Arc<ManualClock>,
    pub role_calls: AtomicUsize,
    pub assume_calls: AtomicUsize,
    /// The refresh tokens presented, in order.
    pub refreshed_with: Mutex<Vec<String>>,
    /// How long issued role credentials live.
    pub creds_life: Mutex<Duration>,
    /// When set, GetRoleCredentials waits for a permit.
    pub gate: Mutex<Option<Arc<Semaphore>>>,
    /// The answer to the next refreshes, instead of a new token.
    pub refresh_error: Mutex<Option<fn() -> AwsError>>,
}

#[tonic::async_trait]
impl Upstream for FakeAws {
    async fn refresh(
        &self,
        _region: &str,
        _reg: &Registration,
        rt: &Secret,
    ) -> Result<Token, AwsError> {
        let n = {
            let mut seen = self.refreshed_with.lock().unwrap();
            seen.push(rt.expose().to_string());
            seen.len()
        };
        if let Some(e) = *self.refresh_error.lock().unwrap() {
            return Err(e());
        }
        Ok(Token {
            access_token: Secret::new(format!("at-{n}")),
            expires_at: self.clock.now() + 60 * MIN,
            refresh_token: Some(Secret::new(format!("rt-{n}"))),
        })
    }

    async fn role_credentials(
        &self,
        _region: &str,
        _token: &Secret,
        account_id: &str,
        _role: &str,
    ) -> Result<RoleCredentials, AwsError> {
        let n = self.role_calls.fetch_add(1, Ordering::SeqCst) + 1;
        let gate = self.gate.lock().unwrap().clone();
        if let Some(g) = gate {
            g.acquire().await.expect("gate").forget();
        }
        Ok(self.creds(&format!("SSO-{account_id}-{n}")))
    }

    async fn assume_role(
        &self,
        _region: &str,
        _caller: &RoleCredentials,
        p: AssumeRoleParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        let n = self.assume_calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mfa = if p.mfa.is_some() { "MFA-" } else { "" };
        Ok(self.creds(&format!("STS-{mfa}{}-{n}", p.role_arn)))
    }
}

impl FakeAws {
    fn creds(&self, id: &str) -> RoleCredentials {
        RoleCredentials {
            access_key_id: id.to_string(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expires_at: self.clock.now() + *self.creds_life.lock().unwrap(),
        }
    }

    pub fn role_calls(&self) -> usize {
        self.role_calls.load(Ordering::SeqCst)
    }
}

/// The core without the gRPC front-end, on a manual clock.
pub struct World {
    pub clock: Arc<ManualClock>,
    pub aws: Arc<FakeAws>,
    pub store: Arc<GatedStore>,
    /// Whether callers have a controlling terminal (what `/proc/PID/stat` would say).
    pub terminal: Arc<AtomicBool>,
    pub sessions: Arc<Sessions>,
    pub creds: Creds,
    pub events: Events,
    _dir: tempfile::TempDir,
}

impl World {
    /// A core with `presence = "tty"` (the default), whose callers have a terminal.
    pub async fn new() -> Self {
        Self::with_presence(Presence::Tty).await
    }

    pub async fn with_presence(presence: Presence) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let aws = Arc::new(FakeAws {
            clock: clock.clone(),
            role_calls: AtomicUsize::new(0),
            assume_calls: AtomicUsize::new(0),
            refreshed_with: Mutex::default(),
            creds_life: Mutex::new(60 * MIN),
            gate: Mutex::new(None),
            refresh_error: Mutex::new(None),
        });
        let store = Arc::new(GatedStore {
            inner: FileStore::new(&dir.path().join("state")),
            hold: Mutex::new(None),
            released: (Mutex::new(true), Condvar::new()),
            waiting: AtomicUsize::new(0),
        });
        let terminal = Arc::new(AtomicBool::new(true));
        let events = Events::default();
        let cfg = AgentConfig {
            aws_cli_cache: AwsCliCache::Off,
            presence,
            ..AgentConfig::default()
        };
        let refresh_window = cfg.refresh_window;
        let sessions = Arc::new(Sessions::new(session::Parts {
            cfg,
            // Only logins, registration and logout go to the real client; none run here.
            aws: Arc::new(Aws::from_env(clock.clone()).await.expect("endpoints")),
            upstream: aws.clone(),
            stores: crate::store::Selected {
                store: store.clone(),
                label: "file".into(),
                other: None,
            },
            home: dir.path().join("home"),
            state_dir: dir.path().join("state"),
            clock: clock.clone(),
            events: events.clone(),
            terminal: {
                let t = terminal.clone();
                Arc::new(move |_: &Caller| t.load(Ordering::SeqCst))
            },
        }));
        let creds = Creds::new(
            sessions.clone(),
            aws.clone(),
            clock.clone(),
            refresh_window,
            events.clone(),
        );
        Self {
            clock,
            aws,
            store,
            terminal,
            sessions,
            creds,
            events,
            _dir: dir,
        }
    }

    pub fn spec() -> SessionSpec {
        SessionSpec {
            key: "work".into(),
            start_url: "https://d-1.awsapps.com/start".into(),
            region: "eu-west-1".into(),
            scopes: vec!["sso:account:access".into()],
            kind: SessionKind::SsoSession,
        }
    }

    /// An SSO profile of session `work`.
    pub fn profile(name: &str, account: &str) -> Chain {
        Chain {
            source: Source::Sso(SsoRole {
                name: name.into(),
                session: Self::spec(),
                account_id: account.into(),
                role_name: "ReadOnly".into(),
                region: None,
                warning: None,
            }),
            hops: Vec::new(),
        }
    }

    /// `chain` with one more role hop, defined by profile `name`.
    pub fn hop(mut chain: Chain, name: &str) -> Chain {
        chain.hops.push(RoleHop {
            profile: name.into(),
            role_arn: format!("arn:aws:iam::222222222222:role/{name}"),
            role_session_name: format!("ssoagent-{name}"),
            external_id: None,
            duration_seconds: None,
            region: None,
            mfa_serial: None,
        });
        chain
    }

    /// Stores a token (and a registration when refreshable) for `work`, as a past unlock left.
    pub fn store_token(&self, life: Duration, refreshable: bool) {
        let now = self.clock.now();
        let s = StoredSession {
            session: "work".into(),
            start_url: Self::spec().start_url,
            region: Self::spec().region,
            token: Some(Token {
                access_token: "at-0".into(),
                expires_at: now + life,
                refresh_token: refreshable.then(|| "rt-0".into()),
            }),
            registration: refreshable.then(|| Registration {
                client_id: "client".into(),
                client_secret: "secret".into(),
                expires_at: now + 90 * 24 * 60 * MIN,
                flow: RegisteredFlow::Pkce,
                scopes: Self::spec().scopes,
            }),
        };
        self.store.save(&s).unwrap();
    }

    /// Unlocks `work` with the stored token (no login), for `window` if given, as a human
    /// who confirmed at a terminal.
    pub async fn unlock(&self, window: Option<Duration>) -> session::UnlockOutcome {
        let opts = UnlockOptions {
            window,
            confirmed: true,
            ..Default::default()
        };
        match self.try_unlock(opts).await.expect("unlock") {
            UnlockAnswer::Unlocked(o) => o,
            UnlockAnswer::ConfirmationNeeded(c) => panic!("unlock asked for a confirmation: {c:?}"),
        }
    }

    /// Unlocks `work` with `opts`; a login would panic (there is none in unit tests).
    pub async fn try_unlock(&self, opts: UnlockOptions) -> crate::error::Result<UnlockAnswer> {
        self.sessions
            .unlock(caller(), Self::spec(), opts, |_| {
                panic!("no login in unit tests")
            })
            .await
    }

    pub fn stored_refresh_token(&self) -> Option<String> {
        let s = self.store.load("work").unwrap()?;
        Some(s.token?.refresh_token?.expose().to_string())
    }
}

pub fn caller() -> Caller {
    Caller {
        uid: 1000,
        pid: Some(4242),
    }
}
