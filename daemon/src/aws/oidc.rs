//! SSO-OIDC: client registration, the device and PKCE grants, and token refresh.

use std::time::Duration;

use ssoagent_client::config::LoginFlow;

use super::{Aws, AwsError, error::classify};
use crate::{
    secret::Secret,
    store::{Registration, Token, unix_secs},
};

/// The redirect URI registered for PKCE; the real one adds the loopback port.
const REDIRECT_URI: &str = "http://127.0.0.1/oauth/callback";

pub struct DeviceAuthorization {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: Duration,
    pub interval: Duration,
}

enum Grant<'a> {
    Device(&'a Secret),
    Code {
        code: &'a Secret,
        verifier: &'a Secret,
        redirect_uri: &'a str,
    },
    Refresh(&'a Secret),
}

impl Aws {
    /// The scheme and host of the SSO-OIDC endpoint a call in `region` goes to, resolved the way
    /// the SDK client resolves it (overrides first, then the endpoint rules). The PKCE authorize
    /// URL is derived from it, as the AWS CLI does.
    pub async fn oidc_base(&self, region: &str) -> Result<String, AwsError> {
        use aws_sdk_ssooidc::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let configured = self.endpoints.sso_oidc.clone();
        let unresolvable = |e: &dyn std::fmt::Display| {
            AwsError::Failed(format!("cannot resolve the SSO-OIDC endpoint: {e}"))
        };
        let params = Params::builder()
            .region(region)
            .set_endpoint(configured)
            .build()
            .map_err(|e| unresolvable(&e))?;
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_err(|e| unresolvable(&e))?;
        let url = endpoint.url();
        let base = match url.find("://") {
            Some(i) => match url[i + 3..].find('/') {
                Some(j) => &url[..i + 3 + j],
                None => url,
            },
            None => url,
        };
        Ok(base.to_string())
    }

    /// RegisterClient for a flow.
    pub async fn register_client(
        &self,
        region: &str,
        client_name: &str,
        flow: LoginFlow,
        scopes: &[String],
        issuer_url: &str,
    ) -> Result<Registration, AwsError> {
        let mut req = self
            .oidc(region)
            .register_client()
            .client_name(client_name)
            .client_type("public")
            .set_scopes((!scopes.is_empty()).then(|| scopes.to_vec()));
        req = match flow {
            LoginFlow::Pkce => req
                .grant_types("authorization_code")
                .grant_types("refresh_token")
                .redirect_uris(REDIRECT_URI)
                .issuer_url(issuer_url),
            LoginFlow::Device => req
                .grant_types("urn:ietf:params:oauth:grant-type:device_code")
                .grant_types("refresh_token"),
        };
        let out = req
            .send()
            .await
            .map_err(|e| classify("RegisterClient", e))?;
        let (Some(id), Some(secret)) = (out.client_id(), out.client_secret()) else {
            return Err(AwsError::Failed(
                "RegisterClient returned no client id/secret".into(),
            ));
        };
        Ok(Registration {
            client_id: id.to_string(),
            client_secret: Secret::new(secret),
            expires_at: unix_secs::from_secs(out.client_secret_expires_at()),
            flow: flow.into(),
            scopes: scopes.to_vec(),
        })
    }

    pub async fn start_device_authorization(
        &self,
        region: &str,
        reg: &Registration,
        start_url: &str,
    ) -> Result<DeviceAuthorization, AwsError> {
        let out = self
            .oidc(region)
            .start_device_authorization()
            .client_id(&reg.client_id)
            .client_secret(reg.client_secret.expose())
            .start_url(start_url)
            .send()
            .await
            .map_err(|e| classify("StartDeviceAuthorization", e))?;
        let uri = out.verification_uri().unwrap_or_default().to_string();
        Ok(DeviceAuthorization {
            device_code: Secret::new(out.device_code().unwrap_or_default()),
            user_code: out.user_code().unwrap_or_default().to_string(),
            verification_uri_complete: out
                .verification_uri_complete()
                .map(str::to_string)
                .unwrap_or_else(|| uri.clone()),
            verification_uri: uri,
            expires_in: Duration::from_secs(out.expires_in().max(1) as u64),
            interval: Duration::from_secs(out.interval().max(1) as u64),
        })
    }

    /// CreateToken with any grant; `grant` fills in the grant-specific members.
    async fn create_token(
        &self,
        region: &str,
        reg: &Registration,
        grant: Grant<'_>,
    ) -> Result<Token, AwsError> {
        let req = self
            .oidc(region)
            .create_token()
            .client_id(&reg.client_id)
            .client_secret(reg.client_secret.expose());
        let req = match grant {
            Grant::Device(code) => req
                .grant_type("urn:ietf:params:oauth:grant-type:device_code")
                .device_code(code.expose()),
            Grant::Code {
                code,
                verifier,
                redirect_uri,
            } => req
                .grant_type("authorization_code")
                .code(code.expose())
                .code_verifier(verifier.expose())
                .redirect_uri(redirect_uri),
            Grant::Refresh(rt) => req.grant_type("refresh_token").refresh_token(rt.expose()),
        };
        let out = req.send().await.map_err(|e| classify("CreateToken", e))?;
        let Some(access) = out.access_token() else {
            return Err(AwsError::Failed(
                "CreateToken returned no access token".into(),
            ));
        };
        Ok(Token {
            access_token: Secret::new(access),
            expires_at: self.clock.now() + Duration::from_secs(out.expires_in().max(0) as u64),
            refresh_token: out.refresh_token().map(Secret::new),
        })
    }

    /// Whether IAM Identity Center still knows a registration: a CreateToken with a code that
    /// cannot be valid answers `invalid_grant` (or `unauthorized_client`) for a known client and
    /// `invalid_client` for an unknown one. Other failures count as known (the login will tell).
    pub async fn client_is_known(&self, region: &str, reg: &Registration) -> bool {
        let probe = self
            .oidc(region)
            .create_token()
            .client_id(&reg.client_id)
            .client_secret(reg.client_secret.expose())
            .grant_type("authorization_code")
            .code("ssoagent-registration-check")
            .redirect_uri(REDIRECT_URI)
            .code_verifier("ssoagent-registration-check-ssoagent-registration-check-0000000")
            .send()
            .await;
        !matches!(
            probe.map_err(|e| classify("CreateToken", e)),
            Err(AwsError::InvalidClient(_))
        )
    }

    pub async fn poll_device_token(
        &self,
        region: &str,
        reg: &Registration,
        device_code: &Secret,
    ) -> Result<Token, AwsError> {
        self.create_token(region, reg, Grant::Device(device_code))
            .await
    }

    pub async fn redeem_code(
        &self,
        region: &str,
        reg: &Registration,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<Token, AwsError> {
        let grant = Grant::Code {
            code,
            verifier,
            redirect_uri,
        };
        self.create_token(region, reg, grant).await
    }

    /// Refreshes a token. The refresh token rotates: the returned one replaces it (if AWS
    /// returns none, the old one is kept, as the AWS SDK for Rust does).
    pub async fn refresh(
        &self,
        region: &str,
        reg: &Registration,
        refresh_token: &Secret,
    ) -> Result<Token, AwsError> {
        let mut t = self
            .create_token(region, reg, Grant::Refresh(refresh_token))
            .await?;
        if t.refresh_token.is_none() {
            t.refresh_token = Some(refresh_token.clone());
        }
        Ok(t)
    }
}
