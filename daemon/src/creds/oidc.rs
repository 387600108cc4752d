//! Role credentials for a profile rooted in an OIDC provider: the session's verified id_token
//! (refreshed first when near its end) exchanged with STS AssumeRoleWithWebIdentity, or through
//! the provider's Cognito identity pool. Cached and single-flighted like SSO role credentials.

use std::sync::Arc;

use tracing::{info, warn};

use super::{Creds, DEFAULT_STS_REGION};
use crate::{
    aws::{AwsError, CognitoParams, RoleCredentials, WebIdentityParams},
    error::{Error, Result},
    oidc::verify::stored_claims,
    profiles::OidcRole,
    secret::Secret,
    session::Session,
};

impl Creds {
    pub(super) async fn fetch_oidc(
        &self,
        session: &Session,
        o: &OidcRole,
    ) -> Result<Arc<RoleCredentials>> {
        let (id_token, _) = self.sessions.access_token(session).await?;
        let (mut r, what) = self.exchange(session, o, &id_token).await?;
        if let Err(AwsError::Unauthorized(detail)) = &r {
            // AWS calls the token expired: refresh once and try again; a refresh that fails
            // (or a token AWS still refuses) ends the session.
            warn!(session = %session.key, %detail, "AWS rejected the id_token as expired; refreshing");
            match self.sessions.force_refresh(session).await {
                Some(fresh) => r = self.exchange(session, o, &fresh).await?.0,
                None => return Err(self.sessions.token_rejected(&session.key)),
            }
        }
        match r {
            Ok(c) => {
                info!(profile = %o.name, provider = %session.key, via = %what, "fetched credentials with the id_token");
                Ok(Arc::new(c))
            }
            Err(AwsError::Unauthorized(detail)) => {
                warn!(session = %session.key, %detail, "AWS rejected a fresh id_token as expired; session expired");
                Err(self.sessions.token_rejected(&session.key))
            }
            Err(e) => Err(e.into_error(format!("profile '{}' ({what})", o.name))),
        }
    }

    /// One exchange of the id_token for credentials, and what it was exchanged with.
    async fn exchange(
        &self,
        session: &Session,
        o: &OidcRole,
        id_token: &Secret,
    ) -> Result<(Result<RoleCredentials, AwsError>, String)> {
        let Some(provider) = self.sessions.provider(&session.key) else {
            return Err(Error::config(format!(
                "profile '{}': no [providers.{}] in the agent config",
                o.name, session.key
            )));
        };
        if let Some(pool) = &provider.identity_pool_id {
            let region = provider
                .region
                .clone()
                .or_else(|| pool.split_once(':').map(|(r, _)| r.to_string()))
                .unwrap_or_else(|| DEFAULT_STS_REGION.to_string());
            let login_key = login_key(&provider.issuer);
            let p = CognitoParams {
                identity_pool_id: pool,
                login_key: &login_key,
                id_token,
                custom_role_arn: o.role_arn.as_deref(),
            };
            let r = self.upstream.cognito(&region, p).await;
            return Ok((r, format!("identity pool {pool}")));
        }
        let Some(role_arn) = &o.role_arn else {
            return Err(Error::config(format!(
                "profile '{}' has ssoagent_provider = {} but no ssoagent_role_arn (the role to assume with the id_token)",
                o.name, session.key
            )));
        };
        let name = role_session_name(id_token, provider.role_session_name_claim.as_deref());
        let p = WebIdentityParams {
            role_arn,
            session_name: &name,
            id_token,
            duration_seconds: o.duration_seconds,
        };
        let region = o.region.as_deref().unwrap_or(DEFAULT_STS_REGION);
        Ok((
            self.upstream.web_identity(region, p).await,
            role_arn.clone(),
        ))
    }
}

/// The `Logins` key of a Cognito identity pool: the issuer without its scheme.
pub fn login_key(issuer: &str) -> String {
    let i = issuer.trim_end_matches('/');
    i.split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(i)
        .to_string()
}

/// `RoleSessionName` from the configured claim (default `email`, else `sub`), sanitised to
/// STS's `[\w+=,.@-]{2,64}`.
pub fn role_session_name(id_token: &Secret, claim: Option<&str>) -> String {
    let claims = stored_claims(id_token);
    let get = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let raw = match claim {
        Some(c) => get(c).or_else(|| get("sub")),
        None => get("email").or_else(|| get("sub")),
    }
    .unwrap_or("ssoagent");
    sanitise(raw)
}

fn sanitise(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while s.len() < 2 {
        s.push('-');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_sts() {
        assert_eq!(sanitise("ann@example.com"), "ann@example.com");
        assert_eq!(sanitise("a b/c"), "a-b-c");
        assert_eq!(sanitise("x"), "x-");
        assert_eq!(sanitise(&"y".repeat(100)).len(), 64);
    }

    #[test]
    fn cognito_logins_key_is_the_issuer_without_scheme() {
        assert_eq!(
            login_key("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc/"),
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc"
        );
        assert_eq!(login_key("http://127.0.0.1:9/idp"), "127.0.0.1:9/idp");
    }
}
