//! Role credentials for a profile's chain: from memory when they have at least the refresh
//! window left, else fetched once however many callers wait ([`cache`]), refreshed in the
//! background before they are needed ([`refresh_ahead`]). Never starts a login: a locked or
//! expired session at the root of the chain is refused at once.

pub mod cache;
mod mfa;
mod oidc;

pub use self::mfa::MfaTarget;
mod refresh_ahead;

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, SystemTime},
};

use tracing::{info, warn};

use self::cache::{Cache, Expiring, Stamp};
use crate::{
    aws::{AssumeRoleParams, AwsError, RoleCredentials, Upstream},
    caller::Caller,
    clock::SharedClock,
    error::{Error, Result},
    events::{Event, Events, RuleRef, Who},
    profiles::{Chain, RoleHop, Source, SsoRole},
    session::{Session, Sessions},
};

/// When AWS fails, cached credentials are still served if they have at least this much life.
const MIN_LIFE_WHEN_AWS_FAILS: Duration = Duration::from_secs(60);
/// STS region for a profile with no `region`, as the AWS SDKs default.
pub const DEFAULT_STS_REGION: &str = "us-east-1";

impl Expiring for RoleCredentials {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

type CredsFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<RoleCredentials>>> + Send + 'a>>;

pub struct Creds {
    cache: Cache<Arc<RoleCredentials>>,
    sessions: Arc<Sessions>,
    upstream: Arc<dyn Upstream>,
    refresh_window: Duration,
    events: Events,
    clock: SharedClock,
}

impl Creds {
    pub fn new(
        sessions: Arc<Sessions>,
        upstream: Arc<dyn Upstream>,
        clock: SharedClock,
        refresh_window: Duration,
        events: Events,
    ) -> Self {
        Self {
            cache: Cache::new(clock.clone()),
            clock,
            sessions,
            upstream,
            refresh_window,
            events,
        }
    }

    /// Credentials for a request, capped at its `max_lifetime` and published as issued or as
    /// a locked hit (with the resolved caller and the deciding rule, for the audit log).
    pub async fn get(
        &self,
        req: impl Into<Request>,
        chain: &Chain,
    ) -> Result<Arc<RoleCredentials>> {
        let req = req.into();
        let r = self.of(chain).await;
        let r = r.map(|c| cap(c, req.max_lifetime, self.clock.now()));
        let profile = chain.name().to_string();
        let session = chain.session().key.clone();
        let caller = req.caller;
        match &r {
            Ok(c) => self.events.publish(Event::Issued {
                caller,
                profile,
                session,
                who: req.who,
                access_key_id: c.access_key_id.clone(),
                expiration: c.expires_at,
                rule: req.rule,
            }),
            // Locked or expired; not an unlocked session's MFA hop waiting for a code.
            Err(Error::NeedsUnlock(_))
                if self
                    .sessions
                    .check_issuable(&self.sessions.get(&session))
                    .is_err() =>
            {
                self.events.publish(Event::LockedHit {
                    caller,
                    profile,
                    session,
                    who: req.who,
                })
            }
            Err(_) => {}
        }
        r
    }

    fn stamp(chain: &Chain, session: &Session) -> Stamp {
        Stamp {
            owner: session.key.clone(),
            generation: session.generation(),
            fingerprint: chain.fingerprint(),
        }
    }

    /// The credentials of a chain; a chained profile first gets its parent's (cached and
    /// single-flighted the same way), then assumes its role.
    fn of<'a>(&'a self, chain: &'a Chain) -> CredsFuture<'a> {
        Box::pin(async move {
            let session = self.sessions.get(&chain.session().key);
            self.sessions.check_issuable(&session)?;
            let stamp = Self::stamp(chain, &session);
            let loaded = self
                .cache
                .get_or_load(chain.name(), &stamp, self.refresh_window, || async {
                    self.sessions.check_issuable(&session)?;
                    self.fetch(chain, &session).await
                })
                .await;
            // Locked, logged out or expired while this request waited: nothing from before.
            if session.generation() != stamp.generation {
                self.sessions.check_issuable(&session)?;
                return Err(Error::locked(&session.key));
            }
            // The window may have ended during the fetch, before housekeeping noticed (and
            // bumped the generation): the window is the human's grant, checked at issue time.
            self.sessions.check_issuable(&session)?;
            match loaded {
                // AWS failed (5xx, throttling, timeouts) after its retries: credentials that
                // are inside the refresh window but still valid beat no credentials. Never for
                // a locked/expired session or a refusal: those are answers, not outages.
                Err(Error::AwsFailed(e)) => {
                    match self
                        .cache
                        .peek(chain.name(), &stamp, MIN_LIFE_WHEN_AWS_FAILS)
                    {
                        Some(c) => {
                            warn!(profile = chain.name(), error = %e, "refresh failed; serving cached credentials that are still valid");
                            Ok(c)
                        }
                        None => Err(Error::AwsFailed(e)),
                    }
                }
                other => other,
            }
        })
    }

    /// Fetches a chain's credentials from AWS (callers hold the cache slot's load lock).
    async fn fetch(&self, chain: &Chain, session: &Session) -> Result<Arc<RoleCredentials>> {
        match (chain.parent(), chain.hops.last()) {
            // Only a human's code assumes an MFA hop ([`Creds::unlock_mfa`]): what it made is
            // served for its whole life, then a human must type a new code.
            (Some(_), Some(hop)) if hop.mfa_serial.is_some() => self
                .mfa_cached(chain, session, MIN_LIFE_WHEN_AWS_FAILS)
                .ok_or_else(|| mfa::needs_code(&hop.profile)),
            (Some(parent), Some(hop)) => {
                let source = self.of(&parent).await?;
                self.assume(hop, &source, None).await
            }
            _ => match &chain.source {
                Source::Sso(p) => self.fetch_sso(session, p).await,
                Source::Oidc(o) => self.fetch_oidc(session, o).await,
            },
        }
    }

    async fn fetch_sso(&self, session: &Session, p: &SsoRole) -> Result<Arc<RoleCredentials>> {
        let (token, region) = self.sessions.access_token(session).await?;
        let r = self
            .upstream
            .role_credentials(&region, &token, &p.account_id, &p.role_name)
            .await;
        match r {
            Ok(c) => {
                info!(profile = %p.name, account = %p.account_id, role = %p.role_name, "fetched role credentials");
                Ok(Arc::new(c))
            }
            Err(AwsError::Unauthorized(detail)) => {
                warn!(session = %session.key, %detail, "the portal rejected a token believed valid; session expired");
                Err(self.sessions.token_rejected(&session.key))
            }
            Err(e) => Err(e.into_error(format!(
                "profile '{}' (role {} in account {})",
                p.name, p.role_name, p.account_id
            ))),
        }
    }

    /// Assumes a hop's role; `mfa_code` only from a human ([`Creds::unlock_mfa`]).
    async fn assume(
        &self,
        hop: &RoleHop,
        source: &RoleCredentials,
        mfa_code: Option<&str>,
    ) -> Result<Arc<RoleCredentials>> {
        let region = hop.region.as_deref().unwrap_or(DEFAULT_STS_REGION);
        let params = AssumeRoleParams {
            role_arn: &hop.role_arn,
            session_name: &hop.role_session_name,
            external_id: hop.external_id.as_deref(),
            duration_seconds: hop.duration_seconds,
            mfa: mfa_code.and_then(|code| hop.mfa_serial.as_deref().map(|s| (s, code))),
        };
        match self.upstream.assume_role(region, source, params).await {
            Ok(creds) => {
                info!(profile = %hop.profile, role_arn = %hop.role_arn, "assumed role");
                Ok(Arc::new(creds))
            }
            Err(e) => Err(e.into_error(format!(
                "profile '{}' (assuming {})",
                hop.profile, hop.role_arn
            ))),
        }
    }

    /// When the cached credentials of a profile expire, if any are cached for its grant.
    pub fn cached_expiry(&self, chain: &Chain) -> Option<SystemTime> {
        let session = self.sessions.get(&chain.session().key);
        self.cache
            .expiry(chain.name(), &Self::stamp(chain, &session))
    }

    /// Frees what was cached under a session (its stamps are stale already).
    pub fn drop_session(&self, key: &str) {
        self.cache.drop_owner(key);
    }
}

/// A credential request as the policy left it: who asks, the rule that decided, its cap.
#[derive(Clone, Debug)]
pub struct Request {
    pub caller: Caller,
    pub who: Who,
    pub rule: Option<RuleRef>,
    pub max_lifetime: Option<Duration>,
}

impl From<Caller> for Request {
    fn from(caller: Caller) -> Self {
        Self {
            caller,
            who: None,
            rule: None,
            max_lifetime: None,
        }
    }
}

/// Credentials whose Expiration is at most `max` from `now` (the SDK comes back sooner, and
/// meets the rules again); the keys are the same.
fn cap(c: Arc<RoleCredentials>, max: Option<Duration>, now: SystemTime) -> Arc<RoleCredentials> {
    match max {
        Some(m) if c.expires_at > now + m => Arc::new(RoleCredentials {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
            session_token: c.session_token.clone(),
            expires_at: now + m,
        }),
        _ => c,
    }
}

#[cfg(test)]
mod tests;
