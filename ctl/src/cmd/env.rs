//! `env`: a profile's credentials as the standard AWS environment variables, in a shell's
//! syntax; what `exec` hands its program comes from here too. Like a robot's request, neither
//! ever starts a login: a locked session is exit 3 with the command to run.

use clap::ValueEnum;
use serde_json::json;
use ssoagent_client::proto;

use crate::{daemon, failure::Failure, util::profile_or_env};

/// Variables that would make a program pick other credentials than the ones we hand it.
pub const CONFLICTING: &[&str] = &["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SECURITY_TOKEN"];

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    #[default]
    Sh,
    Fish,
    Powershell,
    Json,
    Dotenv,
}

pub async fn credentials(profile: &str, autostart: bool) -> Result<proto::Credentials, Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    Ok(c.get_credentials(proto::GetCredentialsRequest {
        profile: profile.to_string(),
    })
    .await?
    .into_inner())
}

/// The variables to set, in order.
pub fn variables(c: &proto::Credentials) -> Vec<(&'static str, String)> {
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

/// Prints the variables for `eval` (or a file) in the chosen shell's syntax.
pub async fn run(profile: Option<String>, format: Format, autostart: bool) -> Result<(), Failure> {
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
