//! `lock [SESSION | --all]`: stop issuing credentials now; stored tokens stay.

use ssoagent_client::proto;

use super::{Target, report};
use crate::{daemon, failure::Failure};

pub async fn run(t: Target, autostart: bool) -> Result<(), Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    let r = c
        .lock(proto::LockRequest {
            session: t.session.unwrap_or_default(),
            all: t.all,
        })
        .await?
        .into_inner();
    report("locked", &r.sessions);
    Ok(())
}
