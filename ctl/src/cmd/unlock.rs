//! `unlock` and `login`: the daemon runs the login; we show the prompt, open the browser and
//! wait. Ctrl-C drops the stream, which cancels the login in the daemon.

use std::{io::IsTerminal, time::Duration};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ssoagent_client::{exit, proto};

use crate::{browser, daemon, display::escape_controls, failure::Failure, times::when};

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
                    escape_controls(&u.session),
                    when(u.token_expires_at),
                    escape_controls(&u.store)
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
        println!(
            "no profiles use session '{}'; nothing to verify",
            escape_controls(session)
        );
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
            Ok(id) => println!(
                "  ok      {}: {}",
                escape_controls(&profile),
                escape_controls(&id.into_inner().arn)
            ),
            Err(e) => {
                failed += 1;
                println!(
                    "  FAILED  {}: {}",
                    escape_controls(&profile),
                    escape_controls(&exit::message(&e))
                );
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

/// The login prompt. Every string in it came from the identity provider through the daemon,
/// so it is shown with control characters escaped, and the URL is opened only when
/// `browser::check_url` accepts it.
fn show_prompt(p: &proto::LoginPrompt, no_browser: bool) {
    let url = escape_controls(&p.url);
    eprintln!();
    eprintln!("To unlock, approve this login in a browser:");
    eprintln!("    {url}");
    if p.flow() == proto::LoginFlow::Device {
        if !p.verification_uri.is_empty() && p.verification_uri != p.url {
            eprintln!(
                "(or open {} and enter the code)",
                escape_controls(&p.verification_uri)
            );
        }
        eprintln!(
            "and check that it shows the code: {}",
            escape_controls(&p.user_code)
        );
    }
    if let Err(why) = browser::check_url(&p.url) {
        eprintln!(
            "(not opening this URL: {why}; only https://, or http:// to 127.0.0.1, [::1] or localhost, is opened. Check where it leads before you open it yourself)"
        );
    } else if no_browser {
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
