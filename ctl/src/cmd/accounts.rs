//! `accounts [SESSION]`: the accounts and roles a session's user may use.

use serde_json::json;
use ssoagent_client::proto;

use crate::{daemon, display::escape_controls as esc, failure::Failure};

pub async fn run(session: Option<String>, as_json: bool, autostart: bool) -> Result<(), Failure> {
    let mut client = daemon::connect_or_start(autostart).await?;
    let r = client
        .list_accounts(proto::ListAccountsRequest {
            session: session.unwrap_or_default(),
        })
        .await?
        .into_inner();
    if as_json {
        let v = json!({
            "session": r.session,
            "accounts": r.accounts.iter().map(|a| json!({
                "account_id": a.account_id,
                "account_name": a.account_name,
                "email": a.email,
                "roles": a.roles,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    // Names from the SSO portal: shown with control characters escaped.
    println!("session {}: {} accounts", esc(&r.session), r.accounts.len());
    for a in &r.accounts {
        println!(
            "{}  {}  <{}>",
            esc(&a.account_id),
            esc(&a.account_name),
            esc(&a.email)
        );
        for role in &a.roles {
            println!("    {}", esc(role));
        }
    }
    Ok(())
}
