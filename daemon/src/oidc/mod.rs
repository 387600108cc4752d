//! OpenID Connect identity providers (Okta, Entra ID, Auth0, Cognito user pools...): discovery
//! and keys ([`discovery`]), id_token verification ([`verify`]), the logins a human approves
//! ([`login`]), the token endpoint ([`tokens`]) and refreshing ([`refresh`]). Sessions keep an
//! OIDC provider's tokens in the same [`crate::store::StoredSession`] as SSO tokens: the
//! id_token as the access token (it is what AWS takes), its `exp` as the expiry, and the
//! refresh token.

pub mod discovery;
mod http;
pub mod login;
pub mod refresh;
pub mod tokens;
pub mod verify;

use crate::clock::SharedClock;

/// The daemon's one OIDC client: HTTP, and the discovery documents and keys it has seen.
pub struct Oidc {
    /// Made at first use: loading the system's root certificates costs start-up time that a
    /// daemon without providers should not pay.
    http: std::sync::OnceLock<http::Http>,
    cache: discovery::Cache,
    clock: SharedClock,
}

impl Oidc {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            http: std::sync::OnceLock::new(),
            cache: discovery::Cache::default(),
            clock,
        }
    }

    fn http(&self) -> &http::Http {
        self.http.get_or_init(http::Http::new)
    }
}
