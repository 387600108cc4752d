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
    http: http::Http,
    cache: discovery::Cache,
    clock: SharedClock,
}

impl Oidc {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            http: http::Http::new(),
            cache: discovery::Cache::default(),
            clock,
        }
    }
}
