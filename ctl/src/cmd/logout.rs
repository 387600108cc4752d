//! `logout [SESSION | --all]`: revoke the token with SSO Logout and delete it.

use ssoagent_client::proto;

use super::{Target, report};
use crate::{daemon, failure::Failure};

pub async fn run(t: Target, autostart: bool) -> Result<(), Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    let r = c
        .logout(proto::LogoutRequest {
            session: t.session.unwrap_or_default(),
            all: t.all,
        })
        .await?
        .into_inner();
    report("logged out (token revoked and deleted)", &r.sessions);
    Ok(())
}
