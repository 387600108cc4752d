//! The container-credentials endpoint: a second front-end beside gRPC that serves the AWS
//! container-credentials protocol (`AWS_CONTAINER_CREDENTIALS_FULL_URI` +
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN`) on `127.0.0.1:<port>`, so SDKs in long-running
//! processes refresh on their own. The server starts at the first grant ([`server`]); grants
//! and their tokens live in memory only ([`grants`]); the caller behind a connection is found
//! through `/proc` ([`peer`]). Every request goes through [`Agent::credentials`], so expiry,
//! single flight, policy and audit are the core's.

pub mod grants;
pub mod peer;
pub mod server;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::sync::OnceCell;
use tracing::info;

use crate::{
    activity::Activity,
    agent::Agent,
    caller::Caller,
    error::{Error, Result},
    events::Event,
};
pub use grants::GrantInfo;
use grants::Grants;

/// How long a grant without `--ttl` lives.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);
/// The longest grant (the longest unlock window).
pub const MAX_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

pub(crate) struct Inner {
    agent: Arc<Agent>,
    grants: Grants,
    activity: Activity,
}

pub struct Ecs {
    inner: Arc<Inner>,
    addr: OnceCell<SocketAddr>,
}

/// A new grant as its creator sees it once.
pub struct NewGrant {
    pub info: GrantInfo,
    pub url: String,
    pub token: String,
    /// The profile's `region`, if set.
    pub region: Option<String>,
}

impl Ecs {
    pub fn new(agent: Arc<Agent>, activity: Activity) -> Self {
        let grants = Grants::new(agent.clock());
        Self {
            inner: Arc::new(Inner {
                agent,
                grants,
                activity,
            }),
            addr: OnceCell::new(),
        }
    }

    /// The endpoint's URL, once it runs.
    pub fn url(&self) -> Option<String> {
        self.addr
            .get()
            .map(|a| format!("http://{a}{}", server::PATH))
    }

    /// Grants `profile` to whoever holds the token; starts the endpoint on the first grant.
    /// A held grant has no ttl of its own (it ends with its stream) unless one is given.
    pub async fn grant(
        &self,
        caller: Caller,
        profile: &str,
        ttl: Option<Duration>,
        held: bool,
    ) -> Result<NewGrant> {
        if profile.is_empty() {
            return Err(Error::config("no profile given"));
        }
        if ttl.is_some_and(|t| t > MAX_TTL || t.is_zero()) {
            return Err(Error::config(
                "a grant's ttl must be between 1s and 90 days",
            ));
        }
        // An unknown or unusable profile is refused now, not at the first GET.
        let chain = self.inner.agent.config.profile(profile).await?;
        let addr = self
            .addr
            .get_or_try_init(|| server::start(self.inner.clone()))
            .await
            .map_err(|e| {
                Error::Internal(format!(
                    "cannot start the container-credentials endpoint: {e}"
                ))
            })?;
        let ttl = ttl.or((!held).then_some(DEFAULT_TTL));
        let (info, token) = self.inner.grants.create(profile, ttl, held, caller);
        info!(grant = %info.id, profile, %caller, held, endpoint = %addr, "container-credentials grant");
        self.inner.agent.publish(Event::EcsGranted {
            caller,
            profile: profile.to_string(),
            grant: info.id.clone(),
        });
        Ok(NewGrant {
            url: self.url().expect("started above"),
            region: chain.region().map(str::to_string),
            info,
            token,
        })
    }

    /// Keeps a socket-activated daemon from its idle exit while a held grant lives (grants
    /// live in memory only).
    pub fn busy(&self) -> crate::activity::LoginGuard {
        self.inner.activity.login()
    }

    pub fn list(&self) -> Vec<GrantInfo> {
        self.inner.grants.list()
    }

    /// Ends one grant (`id`) or all; the ids ended.
    pub fn revoke(&self, caller: Caller, id: &str, all: bool) -> Result<Vec<String>> {
        let ids = if all {
            self.inner.grants.revoke_all()
        } else if self.inner.grants.revoke(id) {
            vec![id.to_string()]
        } else {
            return Err(Error::config(format!(
                "no grant '{id}'; see ssoagentctl ecs list"
            )));
        };
        for id in &ids {
            info!(grant = %id, %caller, "container-credentials grant revoked");
            self.inner.agent.publish(Event::EcsRevoked {
                caller,
                grant: id.clone(),
            });
        }
        Ok(ids)
    }

    /// A held grant's stream ended: the grant ends with it.
    pub fn release(&self, caller: Caller, id: &str) {
        if self.inner.grants.revoke(id) {
            info!(grant = %id, %caller, "container-credentials grant ended with its exec");
            self.inner.agent.publish(Event::EcsRevoked {
                caller,
                grant: id.to_string(),
            });
        }
    }
}
