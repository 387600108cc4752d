//! The logins a human approves at an OIDC provider: authorization code with PKCE S256, `state`
//! and `nonce` on a loopback redirect (the provider's registered `redirect_uri` when pinned,
//! else `http://127.0.0.1:<free port>/callback`), or the device flow (RFC 8628) where the
//! discovery document offers it. The id_token is verified before it is returned.

use std::{net::SocketAddr, time::Duration};

use base64::Engine;
use sha2::{Digest, Sha256};
use ssoagent_client::config::{LoginFlow, ProviderConfig};
use tokio::net::TcpListener;

use super::{
    Oidc,
    tokens::{Issued, TokenError},
    verify::{Expect, Verified},
};
use crate::{
    clock::Clock,
    error::{Error, Result},
    login::{
        Prompt,
        pkce::{pct, random, wait_for_code_at},
    },
    secret::Secret,
};

const PKCE_TIMEOUT: Duration = Duration::from_secs(600);
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A login's verified outcome.
pub struct LoggedIn {
    pub id_token: Secret,
    pub refresh_token: Option<Secret>,
    pub verified: Verified,
}

/// Which provider, as configured.
pub struct Provider<'a> {
    pub name: &'a str,
    pub cfg: &'a ProviderConfig,
}

impl Provider<'_> {
    fn expect<'a>(&'a self, nonce: Option<&'a str>) -> Expect<'a> {
        Expect {
            name: self.name,
            issuer: self.cfg.issuer.trim_end_matches('/'),
            client_id: &self.cfg.client_id,
            nonce,
            sub: None,
        }
    }
}

/// Where the redirect comes back: the listener and the redirect URI and path it serves.
async fn listen(p: &Provider<'_>) -> Result<(TcpListener, String, String)> {
    let Some(uri) = &p.cfg.redirect_uri else {
        let l = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::Internal(format!("cannot listen for the login redirect: {e}")))?;
        let port = l
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))?
            .port();
        return Ok((
            l,
            format!("http://127.0.0.1:{port}/callback"),
            "/callback".into(),
        ));
    };
    let bad = || {
        Error::config(format!(
            "[providers.{}] redirect_uri = {uri}: must be http://localhost:PORT/PATH or http://127.0.0.1:PORT/PATH",
            p.name
        ))
    };
    let rest = uri.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let ip = match host {
        "localhost" | "127.0.0.1" => std::net::Ipv4Addr::LOCALHOST.into(),
        "[::1]" => std::net::Ipv6Addr::LOCALHOST.into(),
        _ => return Err(bad()),
    };
    let l = TcpListener::bind(SocketAddr::new(ip, port)).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => "port in use".to_string(),
            _ => e.to_string(),
        };
        Error::Internal(format!(
            "cannot listen on {host}:{port} for provider '{}' (redirect_uri {uri}): {why}; \
             the provider accepts only this registered port, so free it (another login or program holds it) and try again",
            p.name
        ))
    })?;
    let path = if path.is_empty() { "/" } else { path };
    Ok((l, uri.clone(), path.to_string()))
}

impl Oidc {
    /// Authorization code with PKCE through the human's browser.
    pub async fn login_pkce(
        &self,
        p: &Provider<'_>,
        clock: &dyn Clock,
        prompt: impl FnOnce(Prompt),
    ) -> Result<LoggedIn> {
        let (doc, _) = self.discover(p.name, &p.cfg.issuer, false).await?;
        let (listener, redirect_uri, path) = listen(p).await?;
        let verifier = Secret::new(random(64));
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.expose().as_bytes()));
        let (state, nonce) = (random(32), random(32));
        let sep = if doc.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!(
            "{}{sep}response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}\
             &nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
            doc.authorization_endpoint,
            pct(&p.cfg.client_id),
            pct(&redirect_uri),
            pct(&p.cfg.scopes.join(" ")),
        );
        prompt(Prompt {
            flow: LoginFlow::Pkce,
            url: url.clone(),
            user_code: String::new(),
            verification_uri: url,
            expires_at: clock.now() + PKCE_TIMEOUT,
        });
        let code = tokio::time::timeout(PKCE_TIMEOUT, wait_for_code_at(&listener, &state, &path))
            .await
            .map_err(|_| {
                Error::Cancelled("the browser login was not approved within 10 minutes".into())
            })??;
        drop(listener);
        let issued = self
            .token_call(
                &doc.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code.expose()),
                    ("redirect_uri", &redirect_uri),
                    ("client_id", &p.cfg.client_id),
                    ("code_verifier", verifier.expose()),
                ],
            )
            .await
            .map_err(|e| login_error(p.name, e))?;
        self.logged_in(p, issued, Some(&nonce)).await
    }

    /// The device flow: the code and URL as the prompt, polls at `interval` (+5 s on
    /// `slow_down`) until approval, denial or expiry.
    pub async fn login_device(
        &self,
        p: &Provider<'_>,
        clock: &dyn Clock,
        prompt: impl FnOnce(Prompt),
    ) -> Result<LoggedIn> {
        let (doc, _) = self.discover(p.name, &p.cfg.issuer, false).await?;
        let Some(endpoint) = &doc.device_authorization_endpoint else {
            return Err(Error::config(format!(
                "provider '{}' offers no device code login (its discovery document has no \
                 device_authorization_endpoint); unlock without --device-code",
                p.name
            )));
        };
        let auth = self.start_device(p, endpoint).await?;
        let deadline = clock.now() + Duration::from_secs(auth.expires_in);
        let mut interval = Duration::from_secs(auth.interval.max(1));
        prompt(Prompt {
            flow: LoginFlow::Device,
            url: auth
                .verification_uri_complete
                .clone()
                .unwrap_or_else(|| auth.verification_uri.clone()),
            user_code: auth.user_code.clone(),
            verification_uri: auth.verification_uri.clone(),
            expires_at: deadline,
        });
        loop {
            tokio::time::sleep(interval).await;
            let r = self
                .token_call(
                    &doc.token_endpoint,
                    &[
                        ("grant_type", DEVICE_GRANT),
                        ("device_code", auth.device_code.expose()),
                        ("client_id", &p.cfg.client_id),
                    ],
                )
                .await;
            match r {
                Ok(issued) => return self.logged_in(p, issued, None).await,
                Err(TokenError::AuthorizationPending) => {}
                Err(TokenError::SlowDown) => interval += Duration::from_secs(5),
                Err(TokenError::Expired) => return Err(device_expired()),
                Err(e) => return Err(login_error(p.name, e)),
            }
            if clock.now() + interval > deadline {
                return Err(device_expired());
            }
        }
    }

    async fn start_device(&self, p: &Provider<'_>, endpoint: &str) -> Result<DeviceAuth> {
        let scope = p.cfg.scopes.join(" ");
        let form = [("client_id", p.cfg.client_id.as_str()), ("scope", &scope)];
        let a = self
            .http()
            .post_form(endpoint, &form)
            .await
            .map_err(|e| Error::AwsFailed(format!("provider '{}': {e}", p.name)))?;
        if a.status != 200 {
            return Err(Error::AwsRefused(format!(
                "provider '{}': the device authorization endpoint answered HTTP {}",
                p.name, a.status
            )));
        }
        serde_json::from_slice(&a.body).map_err(|e| {
            Error::AwsFailed(format!(
                "provider '{}': the device authorization answer is not what RFC 8628 expects: {e}",
                p.name
            ))
        })
    }

    /// A token endpoint's answer, verified (with the login's nonce when there was one).
    async fn logged_in(
        &self,
        p: &Provider<'_>,
        issued: Issued,
        nonce: Option<&str>,
    ) -> Result<LoggedIn> {
        let Some(id_token) = issued.id_token else {
            return Err(Error::AwsRefused(format!(
                "provider '{}' returned no id_token; is the openid scope in its scopes?",
                p.name
            )));
        };
        let verified = self.verify(&id_token, &p.expect(nonce)).await?;
        Ok(LoggedIn {
            id_token,
            refresh_token: issued.refresh_token,
            verified,
        })
    }
}

#[derive(serde::Deserialize)]
struct DeviceAuth {
    device_code: Secret,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default = "five")]
    interval: u64,
}

fn five() -> u64 {
    5
}

fn device_expired() -> Error {
    Error::Cancelled(
        "the device code expired before the login was approved; run unlock again".into(),
    )
}

fn login_error(name: &str, e: TokenError) -> Error {
    match e {
        TokenError::Failed(m) => Error::AwsFailed(format!("provider '{name}': login: {m}")),
        e => Error::AwsRefused(format!("provider '{name}': login refused: {e}")),
    }
}
