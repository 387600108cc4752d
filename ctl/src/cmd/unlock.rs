//! `unlock` and `login`: the daemon runs the login; we show the prompt, open the browser and
//! wait. Ctrl-C drops the stream, which cancels the login in the daemon.

use std::{io::IsTerminal, time::Duration};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ssoagent_client::{exit, proto};

use crate::{browser, daemon, failure::Failure, times::when};

#[derive(Args)]
pub struct UnlockArgs {
    /// Session name ([sso-session NAME]) or a legacy profile's start URL.
    session: Option<String>,
    /// Unlock the session this profile uses.
    #[arg(long, short, conflicts_with = "session")]
    profile: Option<String>,
    /// Cap the unlock window, e.g. 30m or 8h (default: the SSO session's own life).
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    for_: Option<Duration>,
    /// Use the device-code flow instead of the browser redirect (PKCE).
    #[arg(long)]
    device_code: bool,
    /// Only print the URL (and code); do not open a browser.
    #[arg(long)]
    no_browser: bool,
    /// After unlocking, check every profile of the session with STS GetCallerIdentity and
    /// report each one that fails (exit 5 if any does).
    #[arg(long)]
    verify: bool,
}

pub async fn run(a: UnlockArgs, force_login: bool, autostart: bool) -> Result<(), Failure> {
    let mut client = daemon::connect_or_start(autostart).await?;
    let req = proto::UnlockRequest {
        session: a.session.unwrap_or_default(),
        profile: a.profile.unwrap_or_default(),
        for_seconds: a.for_.map(|d| d.as_secs().max(1)).unwrap_or(0),
        device_code: a.device_code,
        force_login,
    };
    let mut stream = client.unlock(req).await?.into_inner();
    let mut spinner: Option<ProgressBar> = None;
    loop {
        let event = tokio::select! {
            e = stream.message() => e?,
            _ = tokio::signal::ctrl_c() => {
                if let Some(s) = &spinner { s.finish_and_clear(); }
                return Err(Failure::new(130, "cancelled; the login was abandoned"));
            }
        };
        let Some(event) = event.and_then(|e| e.event) else {
            return Err(Failure::new(
                exit::FAILED,
                "the daemon ended the unlock without an answer",
            ));
        };
        match event {
            proto::unlock_event::Event::Prompt(p) => {
                show_prompt(&p, a.no_browser);
                spinner = Some(waiting_spinner());
            }
            proto::unlock_event::Event::Unlocked(u) => {
                if let Some(s) = &spinner {
                    s.finish_and_clear();
                }
                let how = u.how().describe();
                let until = if u.unlocked_until > 0 {
                    format!("until {}", when(u.unlocked_until))
                } else {
                    "for the SSO session's life".to_string()
                };
                println!(
                    "session '{}' unlocked {until} ({how}; token expires {}; tokens kept in the {} store)",
                    u.session,
                    when(u.token_expires_at),
                    u.store
                );
                if a.verify {
                    return verify(&mut client, &u.session).await;
                }
                return Ok(());
            }
        }
    }
}

/// WhoAmI for every profile of the session, so a human knows the grant works before robots
/// start: one line per profile, exit 5 if any fails.
async fn verify(client: &mut ssoagent_client::AgentClient, session: &str) -> Result<(), Failure> {
    let status = client.status(proto::StatusRequest {}).await?.into_inner();
    let profiles: Vec<String> = status
        .sessions
        .iter()
        .filter(|s| s.name == session)
        .flat_map(|s| s.profiles.iter().map(|p| p.name.clone()))
        .collect();
    if profiles.is_empty() {
        println!("no profiles use session '{session}'; nothing to verify");
        return Ok(());
    }
    let mut failed = 0;
    for profile in profiles {
        match client
            .who_am_i(proto::WhoAmIRequest {
                profile: profile.clone(),
            })
            .await
        {
            Ok(id) => println!("  ok      {profile}: {}", id.into_inner().arn),
            Err(e) => {
                failed += 1;
                println!("  FAILED  {profile}: {}", exit::message(&e));
            }
        }
    }
    if failed > 0 {
        return Err(Failure::new(
            exit::FAILED,
            format!("{failed} profile(s) of session '{session}' failed verification"),
        ));
    }
    Ok(())
}

fn show_prompt(p: &proto::LoginPrompt, no_browser: bool) {
    eprintln!();
    if p.flow() == proto::LoginFlow::Device {
        eprintln!("To unlock, approve this login in a browser:");
        eprintln!("    {}", p.url);
        eprintln!("and check that it shows the code: {}", p.user_code);
    } else {
        eprintln!("To unlock, approve this login in a browser:");
        eprintln!("    {}", p.url);
    }
    if no_browser {
        eprintln!("(open the URL yourself; --no-browser was given)");
    } else if let Err(e) = browser::open(&p.url) {
        eprintln!("(could not open a browser: {e}; open the URL yourself)");
    }
    eprintln!();
}

fn waiting_spinner() -> ProgressBar {
    let s = ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() {
        s.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("template"));
        s.set_message("waiting for approval in the browser; Ctrl-C cancels");
        s.enable_steady_tick(Duration::from_millis(120));
    } else {
        s.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    s
}
