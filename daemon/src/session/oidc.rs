//! An OIDC provider as a session: its login (PKCE or device code at the provider) and its
//! refresh go to [`crate::oidc`]; everything else (windows, presence, single-flight refresh,
//! persistence) is the SSO sessions' machinery. The tokens sit in a `StoredSession` whose
//! start URL is the issuer and whose "access token" is the verified id_token.

use std::time::Duration;

use ssoagent_client::config::{LoginFlow, ProviderConfig};

use super::{Session, Sessions, UnlockOptions};
use crate::{
    aws::AwsError,
    error::{Error, Result},
    login::Prompt,
    oidc::login::Provider,
    profiles::SessionSpec,
    secret::Secret,
    store::{Registration, StoredSession, Token},
};

/// A public client has no registration that expires; this stands in for one.
const NO_EXPIRY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Sessions {
    /// The provider behind a session key, if the key names one.
    pub fn provider(&self, key: &str) -> Option<&ProviderConfig> {
        self.cfg.providers.get(key)
    }

    pub(super) fn is_provider(&self, key: &str) -> bool {
        self.cfg.providers.contains_key(key)
    }

    /// A login at the provider (device code when asked), verified, as a session's tokens.
    pub(super) async fn oidc_login(
        &self,
        spec: &SessionSpec,
        mut stored: StoredSession,
        opts: UnlockOptions,
        prompt: impl FnOnce(Prompt) + Send,
    ) -> Result<StoredSession> {
        let cfg = self.provider(&spec.key).ok_or_else(|| {
            Error::config(format!("no [providers.{}] in the agent config", spec.key))
        })?;
        let p = Provider {
            name: &spec.key,
            cfg,
        };
        let (flow, done) = if opts.device_code {
            let r = self.oidc.login_device(&p, &*self.clock, prompt).await;
            (LoginFlow::Device, r?)
        } else {
            let r = self.oidc.login_pkce(&p, &*self.clock, prompt).await;
            (LoginFlow::Pkce, r?)
        };
        stored.token = Some(Token {
            access_token: done.id_token,
            expires_at: done.verified.expires_at,
            refresh_token: done.refresh_token,
        });
        stored.registration = Some(Registration {
            client_id: cfg.client_id.clone(),
            client_secret: Secret::default(),
            expires_at: self.clock.now() + NO_EXPIRY,
            flow: flow.into(),
            scopes: cfg.scopes.clone(),
        });
        Ok(stored)
    }

    /// Refreshes now, whatever the token's expiry says (AWS called it expired); the fresh
    /// id_token, or `None` when there is no refresh token or the refresh failed.
    pub async fn force_refresh(&self, s: &Session) -> Option<Secret> {
        let _refreshing = s.refresh.lock().await;
        let now = self.clock.now();
        let stored = s
            .with(|st| st.stored.clone())
            .filter(|st| st.refreshable(now))?;
        match self.refresh_token(s, &stored).await {
            Ok(t) => Some(t.access_token),
            Err(e) => {
                tracing::info!(session = %s.key, error = %e, "the id_token cannot be refreshed");
                None
            }
        }
    }

    /// A provider's refresh (callers hold the session's refresh lock).
    pub(super) async fn oidc_refresh(&self, stored: &StoredSession) -> Result<Token, AwsError> {
        let (Some(cfg), Some(token)) = (self.provider(&stored.session), stored.token.as_ref())
        else {
            return Err(AwsError::InvalidGrant("no provider or token".into()));
        };
        let p = Provider {
            name: &stored.session,
            cfg,
        };
        self.oidc.refresh(&p, token).await
    }
}
