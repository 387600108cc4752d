//! The AWS CLI's `~/.aws/sso/cache` as a source of tokens (`import`) and, with `mirror`, the
//! shared truth: the AWS CLI and botocore refresh too, and the refresh token rotates.

use std::sync::Arc;

use ssoagent_client::config::AwsCliCache;
use tracing::warn;

use crate::store::{
    StoredSession,
    cli_cache::{Cached, CliCache},
};

pub struct CliInterop {
    cache: Arc<CliCache>,
    mode: AwsCliCache,
}

impl CliInterop {
    pub fn new(home: &std::path::Path, mode: AwsCliCache) -> Self {
        Self {
            cache: Arc::new(CliCache::new(home)),
            mode,
        }
    }

    pub fn off(&self) -> bool {
        self.mode == AwsCliCache::Off
    }

    pub fn mirroring(&self) -> bool {
        self.mode == AwsCliCache::Mirror
    }

    /// The cache to write our tokens to, when mirroring.
    pub fn mirror_handle(&self) -> Option<Arc<CliCache>> {
        self.mirroring().then(|| self.cache.clone())
    }

    /// The cache entry of a session (for the same start URL); problems are logged, never
    /// fatal: the cache is a convenience.
    pub async fn read(&self, session: &str, start_url: &str) -> Option<Cached> {
        let cli = self.cache.clone();
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

    /// The cache's token for this session when it is not ours and lasts longer.
    pub async fn newer_than(&self, stored: &StoredSession) -> Option<StoredSession> {
        let ours = stored.token.as_ref()?;
        let c = self.read(&stored.session, &stored.start_url).await?;
        if c.token.access_token == ours.access_token || c.token.expires_at <= ours.expires_at {
            return None;
        }
        Some(StoredSession {
            token: Some(c.token),
            registration: c.registration.or_else(|| stored.registration.clone()),
            ..stored.clone()
        })
    }

    /// At logout: the cache entry goes too when it is ours (mirrored, or the same token).
    pub async fn forget(&self, stored: &StoredSession) {
        let Some(t) = &stored.token else { return };
        let cached = self.read(&stored.session, &stored.start_url).await;
        if self.mirroring() || cached.is_some_and(|c| c.token.access_token == t.access_token) {
            self.cache.delete(&stored.session);
        }
    }
}
