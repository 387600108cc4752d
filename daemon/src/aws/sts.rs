//! STS: AssumeRole for chained profiles and GetCallerIdentity for `whoami`, signed with the
//! caller's role credentials.

use std::time::SystemTime;

use aws_config::Region;

use super::{Aws, AwsError, RoleCredentials, error::classify};
use crate::secret::Secret;

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
    /// The MFA device and the code a human typed for it (`SerialNumber`, `TokenCode`).
    pub mfa: Option<(&'a str, &'a str)>,
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
        let conf = {
            let mut b = aws_sdk_sts::config::Builder::from(&self.base);
            b.set_endpoint_url(self.endpoints.sts.clone());
            b
        }
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
            .set_serial_number(p.mfa.map(|(serial, _)| serial.to_string()))
            .set_token_code(p.mfa.map(|(_, code)| code.to_string()))
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
