//! The AWS calls the daemon makes (SSO-OIDC and the SSO portal), built through aws-config so
//! the standard endpoint overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SSO`,
//! `AWS_ENDPOINT_URL_SSO_OIDC`) work. All of them are unsigned: no AWS credentials are loaded.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};

use crate::{
    secret::Secret,
    store::{Registration, Token},
};

/// An AWS answer, sorted by what the daemon does about it.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// 401 from the portal: the access token is not (or no longer) valid.
    #[error("the SSO token was rejected: {0}")]
    Unauthorized(String),
    /// 403 or AccessDenied: the user may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// OIDC `invalid_grant`: a refresh token or code that is spent, revoked or expired.
    #[error("the grant is no longer valid: {0}")]
    InvalidGrant(String),
    /// OIDC `invalid_client`: the registration is gone.
    #[error("the client registration is no longer valid: {0}")]
    InvalidClient(String),
    #[error("authorization pending")]
    AuthorizationPending,
    #[error("slow down")]
    SlowDown,
    #[error("the login request expired before it was approved")]
    ExpiredToken,
    /// Anything else: 5xx, throttling after retries, network trouble.
    #[error("{0}")]
    Failed(String),
}

fn classify<E>(op: &str, err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("");
            let message = se.err().message().unwrap_or("").to_string();
            let detail = if message.is_empty() {
                format!("{code} (HTTP {status})")
            } else {
                format!("{code}: {message} (HTTP {status})")
            };
            match code {
                "UnauthorizedException" => AwsError::Unauthorized(detail),
                "InvalidGrantException" => AwsError::InvalidGrant(detail),
                "InvalidClientException" => AwsError::InvalidClient(detail),
                "AuthorizationPendingException" => AwsError::AuthorizationPending,
                "SlowDownException" => AwsError::SlowDown,
                "ExpiredTokenException" => AwsError::ExpiredToken,
                "ForbiddenException" | "AccessDeniedException" | "AccessDenied" => {
                    AwsError::Forbidden(format!("{op} refused: {detail}"))
                }
                _ if status == 401 => AwsError::Unauthorized(detail),
                _ if status == 403 => AwsError::Forbidden(format!("{op} refused: {detail}")),
                _ => AwsError::Failed(format!("{op} failed: {detail}")),
            }
        }
        _ => AwsError::Failed(format!(
            "{op} failed: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&err)
        )),
    }
}

/// Role credentials as the portal returns them.
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

pub struct DeviceAuthorization {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: Duration,
    pub interval: Duration,
}

pub struct AccountRoles {
    pub account_id: String,
    pub account_name: String,
    pub email: String,
    pub roles: Vec<String>,
}

/// Who a set of credentials belongs to (STS GetCallerIdentity).
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

/// What AssumeRole needs beyond the caller's credentials.
pub struct AssumeRoleParams<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub external_id: Option<&'a str>,
    pub duration_seconds: Option<i32>,
}

/// Client factory: one SDK client per SSO region for SSO-OIDC and the portal; STS clients are
/// made per call since each carries the caller's credentials.
pub struct Aws {
    base: SdkConfig,
    skew: Arc<ClockSkew>,
    oidc: Mutex<HashMap<String, aws_sdk_ssooidc::Client>>,
    portal: Mutex<HashMap<String, aws_sdk_sso::Client>>,
}

impl Aws {
    pub async fn from_env() -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest())
            // Every call here is unsigned; never load credentials (that could be us).
            .no_credentials()
            // Set per client; a placeholder keeps aws-config from probing IMDS for a region.
            .region(Region::new("us-east-1"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(15))
                    .operation_timeout(Duration::from_secs(40))
                    .build(),
            )
            .load()
            .await;
        Self {
            base,
            skew: Arc::default(),
            oidc: Mutex::default(),
            portal: Mutex::default(),
        }
    }

    /// AWS's clock minus ours (seconds), from the `Date` header of the latest answer.
    pub fn clock_skew(&self) -> Option<i64> {
        *self.skew.0.lock().unwrap()
    }

    fn oidc(&self, region: &str) -> aws_sdk_ssooidc::Client {
        self.oidc
            .lock()
            .unwrap()
            .entry(region.to_string())
            .or_insert_with(|| {
                let conf = aws_sdk_ssooidc::config::Builder::from(&self.base)
                    .region(Region::new(region.to_string()))
                    .interceptor(SkewProbe(self.skew.clone()))
                    .build();
                aws_sdk_ssooidc::Client::from_conf(conf)
            })
            .clone()
    }

    fn portal(&self, region: &str) -> aws_sdk_sso::Client {
        self.portal
            .lock()
            .unwrap()
            .entry(region.to_string())
            .or_insert_with(|| {
                let conf = aws_sdk_sso::config::Builder::from(&self.base)
                    .region(Region::new(region.to_string()))
                    .interceptor(SkewProbe(self.skew.clone()))
                    .build();
                aws_sdk_sso::Client::from_conf(conf)
            })
            .clone()
    }

    /// The scheme and host of the SSO-OIDC endpoint a call in `region` goes to, resolved the way
    /// the SDK client resolves it (overrides first, then the endpoint rules). The PKCE authorize
    /// URL is derived from it, as the AWS CLI does.
    pub async fn oidc_base(&self, region: &str) -> Result<String, AwsError> {
        use aws_sdk_ssooidc::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id("SSO OIDC")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("all fields set");
        let configured = self
            .base
            .service_config()
            .and_then(|c| c.load_config(key))
            .or_else(|| self.base.endpoint_url().map(str::to_string));
        let params = Params::builder()
            .region(region)
            .set_endpoint(configured)
            .build()
            .map_err(|e| AwsError::Failed(format!("cannot resolve the SSO-OIDC endpoint: {e}")))?;
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_err(|e| AwsError::Failed(format!("cannot resolve the SSO-OIDC endpoint: {e}")))?;
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

    /// RegisterClient for a flow ("pkce" or "device").
    pub async fn register_client(
        &self,
        region: &str,
        client_name: &str,
        flow: &str,
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
            "pkce" => req
                .grant_types("authorization_code")
                .grant_types("refresh_token")
                .redirect_uris("http://127.0.0.1/oauth/callback")
                .issuer_url(issuer_url),
            _ => req
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
        let expires_at = crate::store::unix_secs::from_secs(out.client_secret_expires_at());
        Ok(Registration {
            client_id: id.to_string(),
            client_secret: Secret::new(secret),
            expires_at,
            flow: flow.to_string(),
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
            expires_at: SystemTime::now() + Duration::from_secs(out.expires_in().max(0) as u64),
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
            .redirect_uri("http://127.0.0.1/oauth/callback")
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
        self.create_token(
            region,
            reg,
            Grant::Code {
                code,
                verifier,
                redirect_uri,
            },
        )
        .await
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

    pub async fn role_credentials(
        &self,
        region: &str,
        access_token: &Secret,
        account_id: &str,
        role_name: &str,
    ) -> Result<RoleCredentials, AwsError> {
        let out = self
            .portal(region)
            .get_role_credentials()
            .access_token(access_token.expose())
            .account_id(account_id)
            .role_name(role_name)
            .send()
            .await
            .map_err(|e| classify("GetRoleCredentials", e))?;
        let c = out
            .role_credentials()
            .ok_or_else(|| AwsError::Failed("GetRoleCredentials returned no credentials".into()))?;
        let (Some(akid), Some(secret), Some(token)) =
            (c.access_key_id(), c.secret_access_key(), c.session_token())
        else {
            return Err(AwsError::Failed(
                "GetRoleCredentials returned incomplete credentials".into(),
            ));
        };
        Ok(RoleCredentials {
            access_key_id: akid.to_string(),
            secret_access_key: Secret::new(secret),
            session_token: Secret::new(token),
            expires_at: SystemTime::UNIX_EPOCH
                + Duration::from_millis(c.expiration().max(0) as u64),
        })
    }

    /// ListAccounts, then ListAccountRoles for each account; all pages.
    pub async fn accounts(
        &self,
        region: &str,
        access_token: &Secret,
    ) -> Result<Vec<AccountRoles>, AwsError> {
        let client = self.portal(region);
        let mut accounts = Vec::new();
        let mut pages = client
            .list_accounts()
            .access_token(access_token.expose())
            .into_paginator()
            .items()
            .send();
        while let Some(a) = pages.next().await {
            let a = a.map_err(|e| classify("ListAccounts", e))?;
            accounts.push(AccountRoles {
                account_id: a.account_id().unwrap_or_default().to_string(),
                account_name: a.account_name().unwrap_or_default().to_string(),
                email: a.email_address().unwrap_or_default().to_string(),
                roles: Vec::new(),
            });
        }
        for acct in &mut accounts {
            let mut pages = client
                .list_account_roles()
                .access_token(access_token.expose())
                .account_id(&acct.account_id)
                .into_paginator()
                .items()
                .send();
            while let Some(r) = pages.next().await {
                let r = r.map_err(|e| classify("ListAccountRoles", e))?;
                acct.roles
                    .push(r.role_name().unwrap_or_default().to_string());
            }
        }
        Ok(accounts)
    }

    pub async fn logout(&self, region: &str, access_token: &Secret) -> Result<(), AwsError> {
        self.portal(region)
            .logout()
            .access_token(access_token.expose())
            .send()
            .await
            .map_err(|e| classify("Logout", e))?;
        Ok(())
    }
}

impl Aws {
    /// An STS client signing with `creds`, in `region` (the SDKs' regional STS endpoint).
    fn sts(&self, region: &str, creds: &RoleCredentials) -> aws_sdk_sts::Client {
        let creds = aws_sdk_sts::config::Credentials::new(
            creds.access_key_id.clone(),
            creds.secret_access_key.expose().to_string(),
            Some(creds.session_token.expose().to_string()),
            Some(creds.expires_at),
            "ssoagent",
        );
        let conf = aws_sdk_sts::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .credentials_provider(creds)
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    pub async fn assume_role(
        &self,
        region: &str,
        caller: &RoleCredentials,
        p: AssumeRoleParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        let out = self
            .sts(region, caller)
            .assume_role()
            .role_arn(p.role_arn)
            .role_session_name(p.session_name)
            .set_external_id(p.external_id.map(str::to_string))
            .set_duration_seconds(p.duration_seconds)
            .send()
            .await
            .map_err(|e| classify("AssumeRole", e))?;
        let c = out
            .credentials()
            .ok_or_else(|| AwsError::Failed("AssumeRole returned no credentials".into()))?;
        Ok(RoleCredentials {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: Secret::new(c.secret_access_key()),
            session_token: Secret::new(c.session_token()),
            expires_at: SystemTime::try_from(*c.expiration()).map_err(|e| {
                AwsError::Failed(format!("AssumeRole returned a bad expiration: {e}"))
            })?,
        })
    }

    pub async fn caller_identity(
        &self,
        region: &str,
        creds: &RoleCredentials,
    ) -> Result<CallerIdentity, AwsError> {
        let out = self
            .sts(region, creds)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("GetCallerIdentity", e))?;
        Ok(CallerIdentity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
            user_id: out.user_id().unwrap_or_default().to_string(),
        })
    }
}

/// The latest measured clock skew (for `ssoagentctl doctor`).
#[derive(Debug, Default)]
struct ClockSkew(Mutex<Option<i64>>);

/// Reads the `Date` header of every AWS answer: a wrong local clock makes tokens look expired
/// (or valid) when they are not, so doctor reports it.
#[derive(Debug)]
struct SkewProbe(Arc<ClockSkew>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for SkewProbe {
    fn name(&self) -> &'static str {
        "SkewProbe"
    }

    fn read_after_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let date = context.response().headers().get("date").and_then(|d| {
            aws_smithy_types::DateTime::from_str(d, aws_smithy_types::date_time::Format::HttpDate)
                .ok()
        });
        if let Some(server) = date {
            let local = aws_smithy_types::DateTime::from(SystemTime::now());
            *self.0.0.lock().unwrap() = Some(server.secs() - local.secs());
        }
        Ok(())
    }
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
