//! The SSO portal: role credentials, accounts and roles, logout.

use std::time::{Duration, SystemTime};

use super::{Aws, AwsError, RoleCredentials, error::classify};
use crate::secret::Secret;

pub struct AccountRoles {
    pub account_id: String,
    pub account_name: String,
    pub email: String,
    pub roles: Vec<String>,
}

impl Aws {
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
