//! `ecs grant | list | revoke`: grants on the daemon's container-credentials endpoint, for
//! long-lived consumers (a devcontainer, a service) whose SDK refreshes on its own. `exec --ecs`
//! makes a grant that ends with its program ([`exec_held`]).

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use ssoagent_client::{exit, proto};

use crate::{daemon, failure::Failure, times, util::profile_or_env};

/// The variables a consumer of the endpoint gets.
pub const FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
pub const AUTH_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
/// Variables that would make an SDK pick other credentials than the endpoint's (the
/// environment provider comes before the container provider).
pub const SHADOWING: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    #[default]
    Sh,
    Json,
    Dotenv,
}

#[derive(Subcommand)]
pub enum Action {
    /// Grant a profile on the endpoint and print the two variables for its consumer.
    #[command(
        after_help = "Example: eval \"$(ssoagentctl ecs grant --profile dev --ttl 8h)\"\n\
The grant lives for --ttl (default 12h) or until `ssoagentctl ecs revoke ID`."
    )]
    Grant {
        /// Profile (default: $AWS_PROFILE).
        #[arg(long, short)]
        profile: Option<String>,
        /// How long the grant lives (e.g. 8h; default 12h, at most 90 days).
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<std::time::Duration>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List the live grants (never their tokens).
    List {
        #[arg(long)]
        json: bool,
    },
    /// End a grant (or every grant) at once.
    Revoke {
        /// The grant's id (from `ecs list`).
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

pub async fn run(action: Action, autostart: bool) -> Result<(), Failure> {
    match action {
        Action::Grant {
            profile,
            ttl,
            format,
        } => grant(profile, ttl, format, autostart).await,
        Action::List { json } => list(json, autostart).await,
        Action::Revoke { id, all } => revoke(id, all, autostart).await,
    }
}

/// Asks for a grant; with `hold` the returned stream keeps it alive until it is dropped.
pub async fn request(
    profile: &str,
    ttl: Option<std::time::Duration>,
    hold: bool,
    autostart: bool,
) -> Result<(proto::EcsGrantEvent, tonic::Streaming<proto::EcsGrantEvent>), Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    let mut stream = c
        .ecs_grant(proto::EcsGrantRequest {
            profile: profile.to_string(),
            ttl_seconds: ttl.map(|d| d.as_secs().max(1)).unwrap_or(0),
            hold,
        })
        .await?
        .into_inner();
    let first = stream
        .message()
        .await?
        .ok_or_else(|| Failure::new(exit::FAILED, "ssoagentd ended the grant before answering"))?;
    Ok((first, stream))
}

async fn grant(
    profile: Option<String>,
    ttl: Option<std::time::Duration>,
    format: Format,
    autostart: bool,
) -> Result<(), Failure> {
    let profile = profile_or_env(profile)?;
    let (g, _) = request(&profile, ttl, false, autostart).await?;
    let info = g.grant.clone().unwrap_or_default();
    eprintln!(
        "ssoagentctl: grant {} for profile '{}' until {}; end it with: ssoagentctl ecs revoke {}",
        info.id,
        info.profile,
        times::when(info.expires_at),
        info.id
    );
    print!("{}", render(&g, format));
    Ok(())
}

fn render(g: &proto::EcsGrantEvent, format: Format) -> String {
    let sq = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
    let mut vars = vec![(FULL_URI, g.url.clone()), (AUTH_TOKEN, g.token.clone())];
    if !g.region.is_empty() {
        vars.push(("AWS_REGION", g.region.clone()));
    }
    match format {
        Format::Sh => {
            let mut out = format!("unset {}\n", SHADOWING.join(" "));
            for (k, v) in vars {
                out += &format!("export {k}={}\n", sq(&v));
            }
            out
        }
        Format::Dotenv => vars
            .iter()
            .map(|(k, v)| format!("{k}={}\n", json!(v)))
            .collect(),
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = vars
                .into_iter()
                .map(|(k, v)| (k.into(), json!(v)))
                .collect();
            serde_json::to_string_pretty(&map).expect("json") + "\n"
        }
    }
}

async fn list(as_json: bool, autostart: bool) -> Result<(), Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    let r = c.ecs_list(proto::EcsListRequest {}).await?.into_inner();
    if as_json {
        let grants: Vec<_> = r
            .grants
            .iter()
            .map(|g| {
                json!({"id": g.id, "profile": g.profile, "created_at": g.created_at,
                       "expires_at": g.expires_at, "held": g.held, "creator_pid": g.creator_pid,
                       "requests": g.requests, "last_used_at": g.last_used_at})
            })
            .collect();
        let v = json!({"endpoint": r.url, "grants": grants});
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    if r.grants.is_empty() {
        println!("no container-credentials grants");
        return Ok(());
    }
    println!("endpoint {}", r.url);
    for g in &r.grants {
        let until = match g.held {
            true => format!("while pid {} runs", g.creator_pid),
            false => format!("until {}", times::when(g.expires_at)),
        };
        println!(
            "{}  profile {}  {until}  {} requests",
            g.id, g.profile, g.requests
        );
    }
    Ok(())
}

async fn revoke(id: Option<String>, all: bool, autostart: bool) -> Result<(), Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    let r = c
        .ecs_revoke(proto::EcsRevokeRequest {
            id: id.unwrap_or_default(),
            all,
        })
        .await?
        .into_inner();
    if r.ids.is_empty() {
        println!("no grants revoked");
    }
    for id in r.ids {
        println!("grant {id} revoked");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_output_unsets_keys_and_quotes() {
        let g = proto::EcsGrantEvent {
            url: "http://127.0.0.1:1/v1/credentials".into(),
            token: "a'b".into(),
            ..Default::default()
        };
        let out = render(&g, Format::Sh);
        assert!(out.starts_with("unset AWS_PROFILE"), "{out}");
        assert!(out.contains("AWS_ACCESS_KEY_ID"), "{out}");
        assert!(
            out.contains("export AWS_CONTAINER_AUTHORIZATION_TOKEN='a'\\''b'"),
            "{out}"
        );
        let json: serde_json::Value = serde_json::from_str(&render(&g, Format::Json)).unwrap();
        assert_eq!(json[FULL_URI], "http://127.0.0.1:1/v1/credentials");
    }
}
