//! `whoami [--profile P]`: proof of who a profile's credentials belong to.

use serde_json::json;
use ssoagent_client::proto;

use crate::{daemon, failure::Failure, util::profile_or_env};

/// STS GetCallerIdentity with the profile's credentials.
pub async fn run(profile: Option<String>, as_json: bool, autostart: bool) -> Result<(), Failure> {
    let profile = profile_or_env(profile)?;
    let mut c = daemon::connect_or_start(autostart).await?;
    let id = c
        .who_am_i(proto::WhoAmIRequest { profile })
        .await?
        .into_inner();
    if as_json {
        let v = json!({"profile": id.profile, "account": id.account, "arn": id.arn, "user_id": id.user_id});
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        println!(
            "profile: {}\naccount: {}\narn:     {}\nuser id: {}",
            id.profile, id.account, id.arn, id.user_id
        );
    }
    Ok(())
}
