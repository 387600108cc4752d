//! `exec --profile P -- CMD ARGS...`: runs a program with a profile's credentials and region in
//! its environment. Like a robot's request, it never starts a login.

use std::process::Command;

use ssoagent_client::exit;

use super::env::{CONFLICTING, credentials, variables};
use crate::{failure::Failure, util::profile_or_env};

/// Runs a program with the profile's credentials in its environment; its exit code is ours
/// (the program replaces this process).
pub async fn run(
    profile: Option<String>,
    argv: Vec<String>,
    ecs: bool,
    autostart: bool,
) -> Result<(), Failure> {
    let profile = profile_or_env(profile)?;
    let Some((program, args)) = argv.split_first() else {
        return Err(Failure::new(
            exit::USAGE,
            "nothing to run: ssoagentctl exec --profile P -- COMMAND [ARGS...]",
        ));
    };
    if ecs {
        return super::exec_ecs::run(&profile, program, args, autostart).await;
    }
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
    let err = replace_with(cmd);
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    Err(Failure::new(code, format!("cannot run {program}: {err}")))
}

/// Unix: the program replaces this process. Returns only when it could not be started.
#[cfg(unix)]
fn replace_with(mut cmd: Command) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    cmd.exec()
}

/// Windows has no exec: the program runs as a child and its exit code becomes ours.
#[cfg(windows)]
fn replace_with(mut cmd: Command) -> std::io::Error {
    match cmd.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => e,
    }
}
