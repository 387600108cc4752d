//! The AWS calls the daemon makes (SSO-OIDC in [`oidc`], the SSO portal in [`sso`], STS in
//! [`sts`]), built through aws-config. Endpoints come only from the service-specific overrides
//! (`AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_STS`; see
//! [`endpoints`]): never from the generic `AWS_ENDPOINT_URL` or a profile. SSO and OIDC calls
//! are unsigned: no AWS credentials are loaded.

pub mod endpoints;
pub mod error;
mod oidc;
mod sso;
mod sts;
// OIDC identity providers (issue 12).
mod cognito;
mod web_identity;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};

pub use self::{cognito::CognitoParams, web_identity::WebIdentityParams};
pub use self::{
    endpoints::{Endpoints, InsecureEndpoint},
    error::AwsError,
    oidc::DeviceAuthorization,
    sso::AccountRoles,
    sts::{AssumeRoleParams, CallerIdentity},
};
use crate::{
    clock::SharedClock,
    secret::Secret,
    store::{Registration, Token},
};

/// The AWS calls the core makes while serving requests (no human involved): the seam that
/// unit tests replace with a fake. [`Aws`] is the real one.
#[tonic::async_trait]
pub trait Upstream: Send + Sync {
    /// CreateToken with the refresh token (it rotates).
    async fn refresh(
        &self,
        region: &str,
        reg: &Registration,
        refresh_token: &Secret,
    ) -> Result<Token, AwsError>;

    /// GetRoleCredentials.
    async fn role_credentials(
        &self,
        region: &str,
        access_token: &Secret,
        account_id: &str,
        role_name: &str,
    ) -> Result<RoleCredentials, AwsError>;

    /// STS AssumeRole with `caller`'s credentials.
    async fn assume_role(
        &self,
        region: &str,
        caller: &RoleCredentials,
        p: AssumeRoleParams<'_>,
    ) -> Result<RoleCredentials, AwsError>;

    /// STS AssumeRoleWithWebIdentity with an OIDC provider's id_token (unsigned).
    async fn web_identity(
        &self,
        _region: &str,
        _p: WebIdentityParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        Err(AwsError::Failed(
            "AssumeRoleWithWebIdentity is not available here".into(),
        ))
    }

    /// Cognito GetId + GetCredentialsForIdentity with an OIDC provider's id_token.
    async fn cognito(
        &self,
        _region: &str,
        _p: CognitoParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        Err(AwsError::Failed(
            "Cognito identity pools are not available here".into(),
        ))
    }
}

#[tonic::async_trait]
impl Upstream for Aws {
    async fn refresh(
        &self,
        region: &str,
        reg: &Registration,
        refresh_token: &Secret,
    ) -> Result<Token, AwsError> {
        Aws::refresh(self, region, reg, refresh_token).await
    }

    async fn role_credentials(
        &self,
        region: &str,
        access_token: &Secret,
        account_id: &str,
        role_name: &str,
    ) -> Result<RoleCredentials, AwsError> {
        Aws::role_credentials(self, region, access_token, account_id, role_name).await
    }

    async fn assume_role(
        &self,
        region: &str,
        caller: &RoleCredentials,
        p: AssumeRoleParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        Aws::assume_role(self, region, caller, p).await
    }

    async fn web_identity(
        &self,
        region: &str,
        p: WebIdentityParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        Aws::assume_role_with_web_identity(self, region, p).await
    }

    async fn cognito(
        &self,
        region: &str,
        p: CognitoParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        Aws::cognito_credentials(self, region, p).await
    }
}

/// Role credentials as the portal (or STS) returns them.
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

/// Client factory: one SDK client per SSO region for SSO-OIDC and the portal; STS clients are
/// made per call since each carries the caller's credentials.
pub struct Aws {
    base: SdkConfig,
    endpoints: Endpoints,
    clock: SharedClock,
    skew: Arc<ClockSkew>,
    oidc: Mutex<HashMap<String, aws_sdk_ssooidc::Client>>,
    portal: Mutex<HashMap<String, aws_sdk_sso::Client>>,
}

impl Aws {
    /// Clients for the endpoints the environment names (see [`endpoints`]); an `http://`
    /// override to a host that is not loopback is refused.
    pub async fn from_env(clock: SharedClock) -> Result<Self, InsecureEndpoint> {
        let endpoints = Endpoints::from_env()?;
        if let Some(url) = &endpoints.ignored_generic {
            tracing::warn!(
                "ignoring {}={url}: ssoagentd honours only the service-specific {}, {} and {} \
                 (and never a profile's endpoint_url or services)",
                endpoints::GENERIC,
                endpoints::SSO,
                endpoints::SSO_OIDC,
                endpoints::STS,
            );
        }
        let loaded = aws_config::defaults(BehaviorVersion::latest())
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
        // What aws-config read from the environment and the profile for endpoints (the generic
        // AWS_ENDPOINT_URL, endpoint_url, services) goes; each client gets its override below.
        let mut b = loaded.into_builder();
        b.set_endpoint_url(None);
        b.set_service_config(None::<endpoints::NoServiceConfig>);
        let base = b.build();
        Ok(Self {
            base,
            endpoints,
            skew: Arc::new(ClockSkew {
                clock: clock.clone(),
                seconds: Mutex::new(None),
            }),
            clock,
            oidc: Mutex::default(),
            portal: Mutex::default(),
        })
    }

    /// The endpoint overrides in force.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// AWS's clock minus ours (seconds), from the `Date` header of the latest answer.
    pub fn clock_skew(&self) -> Option<i64> {
        *self.skew.seconds.lock().unwrap()
    }

    fn oidc(&self, region: &str) -> aws_sdk_ssooidc::Client {
        self.oidc
            .lock()
            .unwrap()
            .entry(region.to_string())
            .or_insert_with(|| {
                let conf = {
                    let mut b = aws_sdk_ssooidc::config::Builder::from(&self.base);
                    b.set_endpoint_url(self.endpoints.sso_oidc.clone());
                    b
                }
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
                let conf = {
                    let mut b = aws_sdk_sso::config::Builder::from(&self.base);
                    b.set_endpoint_url(self.endpoints.sso.clone());
                    b
                }
                .region(Region::new(region.to_string()))
                .interceptor(SkewProbe(self.skew.clone()))
                .build();
                aws_sdk_sso::Client::from_conf(conf)
            })
            .clone()
    }
}

/// The latest measured clock skew (for `ssoagentctl doctor`).
struct ClockSkew {
    clock: SharedClock,
    seconds: Mutex<Option<i64>>,
}

impl std::fmt::Debug for ClockSkew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ClockSkew").field(&self.seconds).finish()
    }
}

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
            let local = aws_smithy_types::DateTime::from(self.0.clock.now());
            *self.0.seconds.lock().unwrap() = Some(server.secs() - local.secs());
        }
        Ok(())
    }
}
