//! `unlock` and `login`: the daemon runs the login; we show the prompt, open the browser and
//! wait. Ctrl-C drops the stream, which cancels the login in the daemon.
//!
//! When the daemon would reuse a token without a login (`presence = "tty"`), it asks for a
//! human's confirmation first: we ask on the controlling terminal (`/dev/tty`, as ssh and
//! sudo do, never stdin), and only a `y`/`yes` typed there repeats the unlock as confirmed.

use std::{io::IsTerminal, time::Duration};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ssoagent_client::{config::MAX_UNLOCK_WINDOW, exit, proto};

use crate::{browser, daemon, display::escape_controls, failure::Failure, times::when, tty};

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
    /// The code of the profile's MFA device (mfa_serial), instead of asking at the terminal.
    #[arg(long, requires = "profile", value_name = "CODE")]
    mfa_code: Option<String>,
}

pub async fn run(a: UnlockArgs, force_login: bool, autostart: bool) -> Result<(), Failure> {
    let for_seconds = match a.for_ {
        Some(d) if d > MAX_UNLOCK_WINDOW => {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "--for {}: longer than an SSO session can last (at most {})",
                    humantime::format_duration(d),
                    humantime::format_duration(MAX_UNLOCK_WINDOW)
                ),
            ));
        }
        Some(d) => d.as_secs().max(1),
        None => 0,
    };
    let mut client = daemon::connect_or_start(autostart).await?;
    let mfa = match &a.profile {
        Some(p) => super::mfa::probe(&mut client, p).await?,
        None => None,
    };
    if mfa.is_none() && a.mfa_code.is_some() {
        return Err(Failure::new(
            exit::USAGE,
            "--mfa-code: the profile has no role hop with mfa_serial",
        ));
    }
    // An MFA code proves a human by itself: an issuing session is not unlocked again.
    let session_issuing = mfa.as_ref().is_some_and(|m| m.session_unlocked) && !force_login;
    let session = if session_issuing {
        mfa.as_ref().map(|m| m.session.clone()).unwrap_or_default()
    } else {
        unlock_session(&mut client, &a, for_seconds, force_login).await?
    };
    if let (Some(m), Some(p)) = (&mfa, &a.profile) {
        super::mfa::unlock(&mut client, p, m, a.mfa_code.clone()).await?;
    }
    if a.verify {
        return verify(&mut client, &session).await;
    }
    Ok(())
}

/// Unlocks the session (asking for a confirmation at the terminal when the daemon wants one),
/// reports it and returns its name.
async fn unlock_session(
    client: &mut ssoagent_client::AgentClient,
    a: &UnlockArgs,
    for_seconds: u64,
    force_login: bool,
) -> Result<String, Failure> {
    let mut req = proto::UnlockRequest {
        session: a.session.clone().unwrap_or_default(),
        profile: a.profile.clone().unwrap_or_default(),
        for_seconds,
        device_code: a.device_code,
        force_login,
        confirmed: false,
    };
    loop {
        let unlocked = match unlock_once(client, req.clone(), a.no_browser).await? {
            Answer::Unlocked(u) => u,
            Answer::ConfirmationNeeded(c) => {
                // Asked once: a daemon that asks again did not believe the confirmation.
                if req.confirmed || !confirm_at_terminal(&c).await? {
                    return Err(needs_a_human(&c));
                }
                req.confirmed = true;
                continue;
            }
        };
        let how = unlocked.how().describe();
        let until = if unlocked.unlocked_until > 0 {
            format!("until {}", when(unlocked.unlocked_until))
        } else {
            "for the SSO session's life".to_string()
        };
        println!(
            "session '{}' unlocked {until} ({how}; token expires {}; tokens kept in the {} store)",
            escape_controls(&unlocked.session),
            when(unlocked.token_expires_at),
            escape_controls(&unlocked.store)
        );
        return Ok(unlocked.session);
    }
}

enum Answer {
    Unlocked(proto::Unlocked),
    ConfirmationNeeded(proto::ConfirmationNeeded),
}

/// One Unlock RPC: shows login prompts as they come and returns how it ended.
async fn unlock_once(
    client: &mut ssoagent_client::AgentClient,
    req: proto::UnlockRequest,
    no_browser: bool,
) -> Result<Answer, Failure> {
    let mut stream = client.unlock(req).await?.into_inner();
    let mut spinner: Option<ProgressBar> = None;
    loop {
        let event = tokio::select! {
            e = stream.message() => e,
            _ = tokio::signal::ctrl_c() => {
                if let Some(s) = &spinner { s.finish_and_clear(); }
                return Err(Failure::new(130, "cancelled; the login was abandoned"));
            }
        };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                if let Some(s) = &spinner {
                    s.finish_and_clear();
                }
                return Err(e.into());
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
                show_prompt(&p, no_browser);
                spinner = Some(waiting_spinner());
            }
            proto::unlock_event::Event::Unlocked(u) => {
                if let Some(s) = &spinner {
                    s.finish_and_clear();
                }
                return Ok(Answer::Unlocked(u));
            }
            proto::unlock_event::Event::ConfirmationNeeded(c) => {
                return Ok(Answer::ConfirmationNeeded(c));
            }
        }
    }
}

/// What the refusal adds to [`tty::NO_TERMINAL`]: what was asked, and that nothing changed.
fn refusal_hint(c: &proto::ConfirmationNeeded) -> String {
    format!(
        "unlocking session '{}' reuses its token without a login; nothing changed",
        escape_controls(&c.session)
    )
}

fn needs_a_human(c: &proto::ConfirmationNeeded) -> Failure {
    Failure::new(
        exit::LOCKED,
        format!("{}: {}", tty::NO_TERMINAL, refusal_hint(c)),
    )
}

/// Asks the question on the controlling terminal; `true` only for `y` or `yes` typed there.
/// No controlling terminal (a robot, a pipe, a service) is a refusal (exit 3). Ctrl-C while
/// asking cancels.
async fn confirm_at_terminal(c: &proto::ConfirmationNeeded) -> Result<bool, Failure> {
    let question = escape_controls(&c.prompt);
    let hint = refusal_hint(c);
    let ask = tokio::task::spawn_blocking(move || tty::confirm(&question, &hint));
    tokio::select! {
        a = ask => a.map_err(|e| Failure::new(exit::FAILED, e.to_string()))?,
        _ = tokio::signal::ctrl_c() => Err(Failure::new(130, "cancelled; nothing changed")),
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
