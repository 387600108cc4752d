//! The id_token is verified before anything is stored: its signature against the provider's
//! JWKS (RS256 or ES256, by `kid`, one refetch on an unknown kid) with the `jsonwebtoken`
//! crate, then `iss`, `aud` = client_id (and `azp` when there are several audiences), `exp`
//! and `iat` with a small leeway against the daemon's clock, and the login's `nonce`.

use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind, jwk::JwkSet};
use serde_json::{Map, Value};

use super::Oidc;
use crate::{
    clock::unix_secs,
    error::{Error, Result},
    secret::Secret,
};

/// Clock difference tolerated on `exp` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(60);

/// What a verified id_token says.
#[derive(Clone, Debug)]
pub struct Verified {
    pub claims: Map<String, Value>,
    pub expires_at: SystemTime,
}

impl Verified {
    pub fn sub(&self) -> &str {
        self.claims.get("sub").and_then(Value::as_str).unwrap_or("")
    }
}

/// What the token must match.
pub struct Expect<'a> {
    pub name: &'a str,
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The login's nonce; `None` for a refreshed token or a device login (no nonce sent).
    pub nonce: Option<&'a str>,
    /// The subject of the token being refreshed: a refresh must not change who this is.
    pub sub: Option<&'a str>,
}

fn refused(name: &str, cause: impl std::fmt::Display) -> Error {
    Error::AwsRefused(format!(
        "provider '{name}': the id_token failed verification: {cause}; nothing was stored"
    ))
}

impl Oidc {
    /// Verifies `token` as the provider's id_token for this client (see the module).
    pub async fn verify(&self, token: &Secret, e: &Expect<'_>) -> Result<Verified> {
        let header = jsonwebtoken::decode_header(token.expose())
            .map_err(|err| refused(e.name, format!("not a signed JWT ({err})")))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(refused(
                e.name,
                format!(
                    "signed with {:?}; only RS256 and ES256 are accepted",
                    header.alg
                ),
            ));
        }
        let kid = header.kid.unwrap_or_default();
        let (_, keys) = self.discover(e.name, e.issuer, false).await?;
        let keys = match find(&keys, &kid) {
            Some(_) => keys,
            // Keys rotate: refetch once before calling the key unknown.
            None => self.discover(e.name, e.issuer, true).await?.1,
        };
        let Some(jwk) = find(&keys, &kid) else {
            return Err(refused(
                e.name,
                format!("bad signature: key '{kid}' is not in the provider's JWKS"),
            ));
        };
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|err| refused(e.name, format!("unusable key '{kid}' in the JWKS ({err})")))?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[e.issuer]);
        v.set_audience(&[e.client_id]);
        // exp and iat are checked below against the daemon's clock.
        v.validate_exp = false;
        v.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token.expose(), &key, &v)
            .map_err(|err| refused(e.name, cause(err.kind(), e)))?;
        self.check_claims(data.claims, e)
    }

    fn check_claims(&self, claims: Map<String, Value>, e: &Expect<'_>) -> Result<Verified> {
        let now = self.clock.now();
        let secs = |k: &str| claims.get(k).and_then(Value::as_i64);
        let exp = secs("exp").ok_or_else(|| refused(e.name, "no exp"))?;
        let expires_at = unix_secs::from_secs(exp.max(0));
        if expires_at + LEEWAY <= now {
            return Err(refused(
                e.name,
                "the token has expired (exp is in the past)",
            ));
        }
        if let Some(iat) = secs("iat")
            && unix_secs::from_secs(iat.max(0)) > now + LEEWAY
        {
            return Err(refused(
                e.name,
                "issued in the future (iat); is the clock right?",
            ));
        }
        if let Some(Value::Array(aud)) = claims.get("aud")
            && aud.len() > 1
            && claims.get("azp").and_then(Value::as_str) != Some(e.client_id)
        {
            return Err(refused(
                e.name,
                "several audiences and azp is not this client_id",
            ));
        }
        if let Some(want) = e.nonce
            && claims.get("nonce").and_then(Value::as_str) != Some(want)
        {
            return Err(refused(e.name, "wrong nonce (not this login's)"));
        }
        let v = Verified { claims, expires_at };
        if let Some(sub) = e.sub
            && v.sub() != sub
        {
            return Err(refused(e.name, "a refresh returned another subject (sub)"));
        }
        Ok(v)
    }
}

fn find<'a>(keys: &'a JwkSet, kid: &str) -> Option<&'a jsonwebtoken::jwk::Jwk> {
    if kid.is_empty() && keys.keys.len() == 1 {
        return keys.keys.first();
    }
    keys.find(kid)
}

fn cause(kind: &ErrorKind, e: &Expect<'_>) -> String {
    match kind {
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidIssuer => format!("wrong issuer (iss is not {})", e.issuer),
        ErrorKind::InvalidAudience => {
            format!(
                "wrong audience (aud does not include client_id {})",
                e.client_id
            )
        }
        ErrorKind::MissingRequiredClaim(c) => format!("the {c} claim is missing"),
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::InvalidAlgorithm => "the key's algorithm does not match the token's".into(),
        other => format!("{other:?}"),
    }
}

/// The claims of a token this daemon verified before it stored it (no second verification:
/// it came from our own store).
pub fn stored_claims(token: &Secret) -> Map<String, Value> {
    use base64::Engine;
    let payload = token.expose().split('.').nth(1).unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
