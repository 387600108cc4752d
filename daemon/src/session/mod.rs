//! SSO sessions: locked / unlocked / expired, their tokens, unlock windows and their
//! persistence ([`window`]), token refresh with rotation ([`refresh`]), the AWS CLI cache
//! ([`cli_interop`]) and unlock, lock and logout ([`unlock`], [`end`]).
//!
//! **Lock order** (outermost first; take none of them out of order):
//! 1. `Session::unlock` (async): one unlock, and so one login, per session;
//! 2. a credential slot's load lock in `creds::cache` (async), held across a fetch;
//! 3. `Session::refresh` (async): one token refresh per session;
//! 4. `Session::state`, then a cache entry's mutex (sync, never held across an `.await`).
//!
//! `UnlockFile`'s async lock only serialises writes of the unlock file and is taken with none
//! of the above held except 1.

pub mod cli_interop;
mod end;
mod oidc;
mod refresh;
mod registry;
pub mod state;
mod unlock;
pub mod window;

use std::{sync::Arc, time::SystemTime};

use ssoagent_client::config::AgentConfig;
use tracing::warn;

use self::{cli_interop::CliInterop, registry::Registry, window::UnlockFile};
pub use self::{
    registry::Session,
    state::State,
    unlock::{Confirmation, MAX_WINDOW, UnlockAnswer, UnlockOptions, UnlockOutcome, UnlockedBy},
};
use crate::{
    aws::{Aws, Upstream},
    caller::Caller,
    clock::SharedClock,
    error::{Error, Result},
    events::{Event, Events},
    profiles::SessionSpec,
    store::{self, StoredSession, TokenStore},
};

/// A session's state as status shows it.
pub struct SessionView {
    pub spec: SessionSpec,
    pub state: State,
    pub token_expires_at: Option<SystemTime>,
    pub unlocked_until: Option<SystemTime>,
    pub refreshable: bool,
}

/// Whether a caller has a controlling terminal ([`Caller::has_controlling_terminal`]; a seam
/// for unit tests, whose callers are not real processes).
pub type TerminalCheck = Arc<dyn Fn(&Caller) -> bool + Send + Sync>;

/// Everything sessions need from outside: AWS, a token store, the AWS CLI cache, files.
pub struct Parts {
    pub cfg: AgentConfig,
    pub aws: Arc<Aws>,
    pub upstream: Arc<dyn Upstream>,
    pub stores: store::Selected,
    pub home: std::path::PathBuf,
    pub state_dir: std::path::PathBuf,
    pub clock: SharedClock,
    pub events: Events,
    pub terminal: TerminalCheck,
}

pub struct Sessions {
    cfg: AgentConfig,
    registry: Registry,
    aws: Arc<Aws>,
    upstream: Arc<dyn Upstream>,
    store: Arc<dyn TokenStore>,
    store_label: String,
    cli: CliInterop,
    windows: UnlockFile,
    clock: SharedClock,
    events: Events,
    terminal: TerminalCheck,
    /// OIDC providers' logins and refreshes (sessions of kind `oidc`).
    oidc: crate::oidc::Oidc,
}

impl Sessions {
    pub fn new(p: Parts) -> Self {
        Self {
            cli: CliInterop::new(&p.home, p.cfg.aws_cli_cache),
            cfg: p.cfg,
            registry: Registry::default(),
            aws: p.aws,
            upstream: p.upstream,
            store: p.stores.store,
            store_label: p.stores.label,
            windows: UnlockFile::new(&p.state_dir),
            clock: p.clock.clone(),
            events: p.events,
            terminal: p.terminal,
            oidc: crate::oidc::Oidc::new(p.clock.clone()),
        }
    }

    /// What an unlock without a login needs from a human (`presence` in the agent config).
    pub fn presence(&self) -> ssoagent_client::config::Presence {
        self.cfg.presence
    }

    /// Which store holds tokens, as status and unlock show it.
    pub fn store_label(&self) -> &str {
        &self.store_label
    }

    pub fn get(&self, key: &str) -> Arc<Session> {
        self.registry.get(key)
    }

    /// Every session the daemon holds state for.
    pub fn keys(&self) -> Vec<String> {
        self.registry.keys()
    }

    /// Refuses at once unless the session is unlocked; a passed deadline locks it.
    pub fn check_issuable(&self, s: &Session) -> Result<()> {
        match s.state(self.clock.now()) {
            State::Unlocked => Ok(()),
            State::Expired => Err(Error::expired(&s.key)),
            State::Locked => Err(Error::locked(&s.key)),
        }
    }

    pub fn view(&self, spec: SessionSpec) -> SessionView {
        let now = self.clock.now();
        self.get(&spec.key).with(|st| SessionView {
            state: st.state(now),
            token_expires_at: st.token().map(|t| t.expires_at),
            unlocked_until: st.effective_until(now),
            refreshable: st.refreshable(now),
            spec,
        })
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
        // An OIDC provider's token is not an IAM Identity Center token: never in the CLI cache.
        let mirror = match self.is_provider(&stored.session) {
            true => None,
            false => self.cli.mirror_handle(),
        };
        let stored = stored.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(cli) = mirror
                && let Err(e) = cli.write(&stored)
            {
                warn!(session = %stored.session, error = %e, "cannot mirror the token to the AWS CLI cache");
            }
            store.save(&stored)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::Internal(format!("cannot save tokens: {e}")))
    }

    /// Marks a session's token dead and drops what was issued under it.
    fn expire(&self, s: &Session) {
        s.with(|st| st.token_dead = true);
        s.revoke_issued();
    }

    fn publish(&self, e: Event) {
        self.events.publish(e);
    }
}

#[cfg(test)]
mod tests;
