//! `approve ID [--for DURATION]`: lets a request waiting under a `confirm` rule through, and
//! its process for DURATION (default: its life, at most the unlock window). Only a human can:
//! the question is asked on the controlling terminal, and the daemon checks that this process
//! has one.

use std::time::Duration;

use clap::Args;
use ssoagent_client::{exit, proto};

use crate::{daemon, display::escape_controls as esc, failure::Failure, times::when, tty};

#[derive(Args)]
pub struct ApproveArgs {
    /// The request's id, as `ssoagentctl status` lists it.
    id: String,
    /// How long the approval lasts, e.g. 1h (default: until the process exits).
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    for_: Option<Duration>,
}

pub async fn run(a: ApproveArgs, autostart: bool) -> Result<(), Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    let status = c.status(proto::StatusRequest {}).await?.into_inner();
    let Some(p) = status.pending.iter().find(|p| p.id == a.id) else {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "no request {} waits for approval (see ssoagentctl status)",
                esc(&a.id)
            ),
        ));
    };
    let how_long = match a.for_ {
        Some(d) => format!("for {}", humantime::format_duration(d)),
        None => "until it exits".into(),
    };
    let question = format!(
        "Let {} (pid {}) use profile '{}' {how_long} (rule {})?",
        esc(&p.exe),
        p.pid,
        esc(&p.profile),
        p.rule
    );
    let hint = format!("a human must run: ssoagentctl approve {}", esc(&a.id));
    if !tty::confirm(&question, &hint)? {
        return Err(Failure::new(exit::LOCKED, "not approved; nothing changed"));
    }
    let r = c
        .approve(proto::ApproveRequest {
            id: a.id.clone(),
            for_seconds: a.for_.map(|d| d.as_secs().max(1)).unwrap_or(0),
            confirmed: true,
        })
        .await?
        .into_inner();
    let until = if r.until > 0 {
        format!("until {}", when(r.until))
    } else {
        "until it exits".into()
    };
    println!(
        "approved: {} (pid {}) may use profile '{}' {until}",
        esc(&r.exe),
        r.pid,
        esc(&r.profile)
    );
    Ok(())
}
