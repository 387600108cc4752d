//! The provider's token endpoint (RFC 6749): redeeming a code with its PKCE verifier,
//! refreshing (the refresh token may rotate), and the device flow's polls (RFC 8628).

use serde::Deserialize;

use super::{Oidc, http::Answer};
use crate::secret::Secret;

/// A token endpoint's success.
#[derive(Deserialize)]
pub struct Issued {
    #[serde(default)]
    pub id_token: Option<Secret>,
    #[serde(default)]
    pub refresh_token: Option<Secret>,
}

/// How a token endpoint call ended, sorted by what the caller does about it.
#[derive(Debug)]
pub enum TokenError {
    /// `invalid_grant`: the code or refresh token is spent, revoked or expired.
    InvalidGrant(String),
    AuthorizationPending,
    SlowDown,
    /// `expired_token`: the device code expired.
    Expired,
    /// `access_denied` and other refusals.
    Refused(String),
    /// Network trouble, 5xx, a malformed answer.
    Failed(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidGrant(m) => write!(f, "the grant is no longer valid: {m}"),
            Self::AuthorizationPending => f.write_str("authorization pending"),
            Self::SlowDown => f.write_str("slow down"),
            Self::Expired => f.write_str("the device code expired"),
            Self::Refused(m) | Self::Failed(m) => f.write_str(m),
        }
    }
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl Oidc {
    /// POSTs a grant to `endpoint` with the public client's id.
    pub async fn token_call(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> Result<Issued, TokenError> {
        let a = self
            .http()
            .post_form(endpoint, form)
            .await
            .map_err(TokenError::Failed)?;
        parse(a)
    }
}

fn parse(a: Answer) -> Result<Issued, TokenError> {
    if a.status == 200 {
        return serde_json::from_slice(&a.body).map_err(|e| {
            TokenError::Failed(format!("the token endpoint's answer is not JSON: {e}"))
        });
    }
    let Ok(err) = serde_json::from_slice::<OAuthError>(&a.body) else {
        return Err(TokenError::Failed(format!(
            "the token endpoint answered HTTP {}",
            a.status
        )));
    };
    let detail = match &err.error_description {
        Some(d) => format!("{}: {d} (HTTP {})", err.error, a.status),
        None => format!("{} (HTTP {})", err.error, a.status),
    };
    Err(match err.error.as_str() {
        "invalid_grant" => TokenError::InvalidGrant(detail),
        "authorization_pending" => TokenError::AuthorizationPending,
        "slow_down" => TokenError::SlowDown,
        "expired_token" => TokenError::Expired,
        _ if a.status >= 500 => TokenError::Failed(detail),
        _ => TokenError::Refused(detail),
    })
}
