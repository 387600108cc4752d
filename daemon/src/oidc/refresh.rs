//! Refreshing a provider's id_token with its refresh token. The answer is verified like a
//! login's (same subject, no nonce); a rotated refresh token replaces the old one, which the
//! session saves before anything uses it (the callers hold the session's refresh lock).

use super::{
    Oidc,
    login::Provider,
    tokens::TokenError,
    verify::{Expect, stored_claims},
};
use crate::{aws::AwsError, secret::Secret, store::Token};

impl Oidc {
    /// A fresh id_token for `current` (whose refresh token it spends).
    pub async fn refresh(&self, p: &Provider<'_>, current: &Token) -> Result<Token, AwsError> {
        let Some(rt) = &current.refresh_token else {
            return Err(AwsError::InvalidGrant("no refresh token".into()));
        };
        let (doc, _) = self
            .discover(p.name, &p.cfg.issuer, false)
            .await
            .map_err(|e| AwsError::Failed(e.to_string()))?;
        let scope = p.cfg.scopes.join(" ");
        let issued = self
            .token_call(
                &doc.token_endpoint,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.expose()),
                    ("client_id", &p.cfg.client_id),
                    ("scope", &scope),
                ],
            )
            .await
            .map_err(|e| match e {
                TokenError::InvalidGrant(m) => AwsError::InvalidGrant(m),
                TokenError::Refused(m) => AwsError::Forbidden(m),
                other => AwsError::Failed(other.to_string()),
            })?;
        let Some(id_token) = issued.id_token else {
            return Err(AwsError::Failed(format!(
                "provider '{}': the refresh returned no id_token",
                p.name
            )));
        };
        let sub = sub_of(&current.access_token);
        let expect = Expect {
            name: p.name,
            issuer: p.cfg.issuer.trim_end_matches('/'),
            client_id: &p.cfg.client_id,
            nonce: None,
            sub: Some(&sub),
        };
        let verified = self
            .verify(&id_token, &expect)
            .await
            .map_err(|e| AwsError::Failed(e.to_string()))?;
        Ok(Token {
            access_token: id_token,
            expires_at: verified.expires_at,
            // No rotation: the old refresh token stays good.
            refresh_token: issued.refresh_token.or_else(|| Some(rt.clone())),
        })
    }
}

fn sub_of(id_token: &Secret) -> String {
    stored_claims(id_token)
        .get("sub")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}
