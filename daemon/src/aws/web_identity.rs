//! Credentials from an OIDC provider's id_token: STS AssumeRoleWithWebIdentity (an unsigned
//! call, `AWS_ENDPOINT_URL_STS`), or a Cognito identity pool's GetId + GetCredentialsForIdentity
//! ([`super::cognito`]).

use std::time::SystemTime;

use aws_config::Region;
use aws_sdk_sts::error::ProvideErrorMetadata;

use super::{Aws, AwsError, RoleCredentials, error::classify};
use crate::secret::Secret;

/// What AssumeRoleWithWebIdentity needs.
pub struct WebIdentityParams<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub id_token: &'a Secret,
    pub duration_seconds: Option<i32>,
}

/// Sorts a web-identity refusal: an expired token is the session's business (a human logs in
/// again), anything else about the token or the role is a refusal naming the role.
pub(super) fn classify_web_identity<E>(
    op: &str,
    role: &str,
    err: aws_sdk_sts::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().unwrap_or("").to_string();
    let message = err.message().unwrap_or("").to_string();
    match code.as_str() {
        "ExpiredTokenException" | "ExpiredToken" => {
            AwsError::Unauthorized(format!("{op}: {code}: {message}"))
        }
        "NotAuthorizedException" if message.to_ascii_lowercase().contains("expired") => {
            AwsError::Unauthorized(format!("{op}: {code}: {message}"))
        }
        "InvalidIdentityToken"
        | "IDPRejectedClaim"
        | "AccessDenied"
        | "AccessDeniedException"
        | "NotAuthorizedException"
        | "ValidationError"
        | "InvalidParameterException"
        | "ResourceNotFoundException" => {
            AwsError::Forbidden(format!("{op} refused for {role}: {code}: {message}"))
        }
        _ => classify(op, err),
    }
}

impl Aws {
    /// An STS client with no credentials: AssumeRoleWithWebIdentity is an unsigned call.
    fn sts_unsigned(&self, region: &str) -> aws_sdk_sts::Client {
        let conf = {
            let mut b = aws_sdk_sts::config::Builder::from(&self.base);
            b.set_endpoint_url(self.endpoints.sts.clone());
            b
        }
        .region(Region::new(region.to_string()))
        .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    pub async fn assume_role_with_web_identity(
        &self,
        region: &str,
        p: WebIdentityParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        const OP: &str = "AssumeRoleWithWebIdentity";
        let out = self
            .sts_unsigned(region)
            .assume_role_with_web_identity()
            .role_arn(p.role_arn)
            .role_session_name(p.session_name)
            .web_identity_token(p.id_token.expose())
            .set_duration_seconds(p.duration_seconds)
            .send()
            .await
            .map_err(|e| classify_web_identity(OP, p.role_arn, e))?;
        let c = out
            .credentials()
            .ok_or_else(|| AwsError::Failed(format!("{OP} returned no credentials")))?;
        Ok(RoleCredentials {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: Secret::new(c.secret_access_key()),
            session_token: Secret::new(c.session_token()),
            expires_at: SystemTime::try_from(*c.expiration())
                .map_err(|e| AwsError::Failed(format!("{OP} returned a bad expiration: {e}")))?,
        })
    }
}
