//! A Cognito identity pool: GetId, then GetCredentialsForIdentity, both with
//! `Logins = {"<issuer host and path>": id_token}` (unsigned calls; the endpoint comes from
//! `AWS_ENDPOINT_URL_COGNITO_IDENTITY`).

use std::time::SystemTime;

use aws_config::Region;

use super::{Aws, AwsError, RoleCredentials, web_identity::classify_web_identity};
use crate::secret::Secret;

/// What the two Cognito calls need.
pub struct CognitoParams<'a> {
    pub identity_pool_id: &'a str,
    /// The `Logins` key: the issuer without its scheme (`corp.okta.com/oauth2/default`).
    pub login_key: &'a str,
    pub id_token: &'a Secret,
    pub custom_role_arn: Option<&'a str>,
}

impl Aws {
    fn cognito(&self, region: &str) -> aws_sdk_cognitoidentity::Client {
        let conf = {
            let mut b = aws_sdk_cognitoidentity::config::Builder::from(&self.base);
            b.set_endpoint_url(self.endpoints.cognito_identity.clone());
            b
        }
        .region(Region::new(region.to_string()))
        .build();
        aws_sdk_cognitoidentity::Client::from_conf(conf)
    }

    pub async fn cognito_credentials(
        &self,
        region: &str,
        p: CognitoParams<'_>,
    ) -> Result<RoleCredentials, AwsError> {
        let client = self.cognito(region);
        let pool = format!("identity pool {}", p.identity_pool_id);
        let id = client
            .get_id()
            .identity_pool_id(p.identity_pool_id)
            .logins(p.login_key, p.id_token.expose())
            .send()
            .await
            .map_err(|e| classify_web_identity("GetId", &pool, e))?;
        let identity = id
            .identity_id()
            .ok_or_else(|| AwsError::Failed("GetId returned no IdentityId".into()))?;
        let what = p.custom_role_arn.unwrap_or(&pool);
        let out = client
            .get_credentials_for_identity()
            .identity_id(identity)
            .logins(p.login_key, p.id_token.expose())
            .set_custom_role_arn(p.custom_role_arn.map(str::to_string))
            .send()
            .await
            .map_err(|e| classify_web_identity("GetCredentialsForIdentity", what, e))?;
        let c = out.credentials().ok_or_else(|| {
            AwsError::Failed("GetCredentialsForIdentity returned no credentials".into())
        })?;
        let missing =
            || AwsError::Failed("GetCredentialsForIdentity returned partial credentials".into());
        Ok(RoleCredentials {
            access_key_id: c.access_key_id().ok_or_else(missing)?.to_string(),
            secret_access_key: Secret::new(c.secret_key().ok_or_else(missing)?),
            session_token: Secret::new(c.session_token().ok_or_else(missing)?),
            expires_at: c
                .expiration()
                .and_then(|t| SystemTime::try_from(*t).ok())
                .ok_or_else(missing)?,
        })
    }
}
