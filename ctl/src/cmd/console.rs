//! `console --profile P [--service S | --destination URL] [--region R] [--print]`: signs in to
//! the AWS console with the profile's role credentials (the daemon federates them). The URL
//! holds a sign-in token: it is opened in the browser, or printed on stdout with `--print`,
//! and never shown anywhere else (not in errors, not on stderr).

use clap::Args;
use ssoagent_client::{exit, proto};

use crate::{browser, daemon, display::escape_controls, failure::Failure, util::profile_or_env};

#[derive(Args)]
pub struct ConsoleArgs {
    /// Profile (default: $AWS_PROFILE).
    #[arg(long, short)]
    profile: Option<String>,
    /// Open this service's console home (e.g. s3, ec2, cloudwatch).
    #[arg(long, conflicts_with = "destination")]
    service: Option<String>,
    /// Open this https:// console URL.
    #[arg(long)]
    destination: Option<String>,
    /// The console's region (default: the profile's region).
    #[arg(long)]
    region: Option<String>,
    /// Print the sign-in URL on stdout instead of opening a browser (it is a secret: valid for
    /// 15 minutes, it signs in whoever opens it).
    #[arg(long)]
    print: bool,
}

pub async fn run(a: ConsoleArgs, autostart: bool) -> Result<(), Failure> {
    let profile = profile_or_env(a.profile)?;
    let mut c = daemon::connect_or_start(autostart).await?;
    let r = c
        .console_url(proto::ConsoleUrlRequest {
            profile: profile.clone(),
            service: a.service.unwrap_or_default(),
            destination: a.destination.unwrap_or_default(),
            region: a.region.unwrap_or_default(),
        })
        .await?
        .into_inner();
    if a.print {
        println!("{}", r.url);
        return Ok(());
    }
    browser::open(&r.url).map_err(|e| {
        // Never the URL itself: it signs in whoever has it.
        Failure::new(
            exit::USAGE,
            format!("cannot open the browser ({e}); run again with --print to get the URL"),
        )
    })?;
    eprintln!(
        "opened the AWS console for profile '{profile}' ({}) in the browser",
        escape_controls(&r.destination)
    );
    Ok(())
}
