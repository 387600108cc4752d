//! `exec`, `env` and `whoami`: a profile's credentials for programs that read the standard
//! AWS environment variables, and proof of who they belong to. Like a robot's request, none of
//! them ever starts a login: a locked session is exit 3 with the command to run.

use std::{os::unix::process::CommandExt, process::Command};

use clap::ValueEnum;
use serde_json::json;
use ssoagent_client::{exit, proto};

use crate::{daemon, failure::Failure, util::profile_or_env};

/// Variables that would make a program pick other credentials than the ones we hand it.
const CONFLICTING: &[&str] = &["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SECURITY_TOKEN"];

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    #[default]
    Sh,
    Fish,
    Powershell,
    Json,
    Dotenv,
}

async fn credentials(profile: &str, autostart: bool) -> Result<proto::Credentials, Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    Ok(c.get_credentials(proto::GetCredentialsRequest {
        profile: profile.to_string(),
    })
    .await?
    .into_inner())
}

/// The variables to set, in order.
fn variables(c: &proto::Credentials) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("AWS_ACCESS_KEY_ID", c.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key.clone()),
        ("AWS_SESSION_TOKEN", c.session_token.clone()),
        ("AWS_CREDENTIAL_EXPIRATION", c.expiration.clone()),
    ];
    if !c.region.is_empty() {
        v.push(("AWS_REGION", c.region.clone()));
        v.push(("AWS_DEFAULT_REGION", c.region.clone()));
    }
    v
}

/// Runs a program with the profile's credentials in its environment; its exit code is ours
/// (the program replaces this process).
pub async fn exec(
    profile: Option<String>,
    argv: Vec<String>,
    autostart: bool,
) -> Result<(), Failure> {
    let profile = profile_or_env(profile)?;
    let Some((program, args)) = argv.split_first() else {
        return Err(Failure::new(
            exit::USAGE,
            "nothing to run: ssoagentctl exec --profile P -- COMMAND [ARGS...]",
        ));
    };
    let creds = credentials(&profile, autostart).await?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    for var in CONFLICTING {
        cmd.env_remove(var);
    }
    for (k, v) in variables(&creds) {
        cmd.env(k, v);
    }
    cmd.env("SSOAGENT_PROFILE", &profile);
    let err = cmd.exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    Err(Failure::new(code, format!("cannot run {program}: {err}")))
}

/// Prints the variables for `eval` (or a file) in the chosen shell's syntax.
pub async fn env(profile: Option<String>, format: Format, autostart: bool) -> Result<(), Failure> {
    let profile = profile_or_env(profile)?;
    let creds = credentials(&profile, autostart).await?;
    print!("{}", render(&variables(&creds), format));
    Ok(())
}

fn render(vars: &[(&str, String)], format: Format) -> String {
    let sq = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
    let mut out = String::new();
    match format {
        Format::Sh => {
            for var in CONFLICTING {
                out += &format!("unset {var}\n");
            }
            for (k, v) in vars {
                out += &format!("export {k}={}\n", sq(v));
            }
        }
        Format::Fish => {
            for var in CONFLICTING {
                out += &format!("set -e {var}\n");
            }
            for (k, v) in vars {
                out += &format!(
                    "set -gx {k} '{}'\n",
                    v.replace('\\', r"\\").replace('\'', r"\'")
                );
            }
        }
        Format::Powershell => {
            for var in CONFLICTING {
                out += &format!("Remove-Item Env:{var} -ErrorAction SilentlyContinue\n");
            }
            for (k, v) in vars {
                out += &format!("$Env:{k} = '{}'\n", v.replace('\'', "''"));
            }
        }
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            out = serde_json::to_string_pretty(&map).expect("json") + "\n";
        }
        Format::Dotenv => {
            for (k, v) in vars {
                out += &format!("{k}={}\n", json!(v));
            }
        }
    }
    out
}

/// STS GetCallerIdentity with the profile's credentials.
pub async fn whoami(
    profile: Option<String>,
    as_json: bool,
    autostart: bool,
) -> Result<(), Failure> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_quoting_survives_quotes() {
        let out = render(&[("X", "a'b".into())], Format::Sh);
        assert!(out.contains("export X='a'\\''b'\n"), "{out}");
        assert!(out.starts_with("unset AWS_PROFILE\n"));
    }

    #[test]
    fn every_format_names_every_variable() {
        let vars = [
            ("AWS_ACCESS_KEY_ID", "AKIA".to_string()),
            ("AWS_REGION", "eu-west-1".to_string()),
        ];
        for f in [
            Format::Sh,
            Format::Fish,
            Format::Powershell,
            Format::Json,
            Format::Dotenv,
        ] {
            let out = render(&vars, f);
            assert!(
                out.contains("AWS_ACCESS_KEY_ID") && out.contains("eu-west-1"),
                "{f:?}: {out}"
            );
        }
    }
}
