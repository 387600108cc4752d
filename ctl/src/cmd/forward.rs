//! `forward HOST [SSH ARGS…]`: the agent's socket over SSH, as ssh-agent's is forwarded.
//!
//! 1. One `ssh … HOST sh -c '…'` makes a private (0700) directory under the remote user's
//!    runtime directory (`$XDG_RUNTIME_DIR/ssoagent-forward`, else `~/.ssoagent/forward`),
//!    removes a socket an earlier connection left there (sshd's own `StreamLocalBindUnlink`
//!    is off by default) and says where it is.
//! 2. `SSOAGENT_SOCKET=<that dir>/agent.sock` is printed for the remote side.
//! 3. ssh is run (in this process's place) with `-R <remote socket>:<local socket>`,
//!    `StreamLocalBindUnlink=yes` (a socket left by an earlier connection is replaced) and
//!    `ExitOnForwardFailure=yes`. Without a remote command or `-N`, the remote login shell gets
//!    the variable itself.
//!
//! On the remote side the clients' usual checks hold: the socket's directory is private and
//! the process serving it (the remote sshd, running as the remote user) has their uid.

use std::process::Command;

use clap::Args;
use ssoagent_client::exit;

use crate::{daemon, failure::Failure};

#[derive(Args)]
pub struct ForwardArgs {
    /// The socket path on the remote host (default: under the remote user's runtime dir).
    #[arg(long, value_name = "PATH")]
    remote_socket: Option<String>,
    /// The ssh program to run.
    #[arg(long, default_value = "ssh", value_name = "PROGRAM")]
    ssh: String,
    /// The host, as ssh takes it ([user@]host or a Host of ~/.ssh/config).
    host: String,
    /// Options for ssh (e.g. -p 2222 -i KEY), then an optional remote command.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ssh_args: Vec<String>,
}

/// Made on the remote side; prints the directory. Plain POSIX sh, no single quotes.
const REMOTE_SETUP: &str = "umask 077; d=\"${XDG_RUNTIME_DIR:-}\"; \
    if [ -n \"$d\" ] && [ -d \"$d\" ] && [ -O \"$d\" ]; then d=\"$d/ssoagent-forward\"; \
    else d=\"$HOME/.ssoagent/forward\"; fi; \
    mkdir -p \"$d\" && chmod 700 \"$d\" && [ -O \"$d\" ] && [ ! -L \"$d\" ] && \
    rm -f \"$d/agent.sock\" && printf \"SSOAGENT_FORWARD_DIR=%s\\n\" \"$d\"";

/// ssh(1) options that take an argument.
const WITH_ARG: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// One of the user's ssh arguments: an option cluster (`-p`, `-NT`) or an option's value.
struct Arg {
    text: String,
    value: bool,
}

/// The user's arguments split into ssh options and the remote command.
fn split(args: &[String]) -> (Vec<Arg>, Vec<String>) {
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        opts.push(Arg {
            text: a.clone(),
            value: false,
        });
        let body = &a[1..];
        if let Some(j) = body.find(|c| WITH_ARG.contains(c))
            && j + 1 == body.len()
            && i + 1 < args.len()
        {
            i += 1;
            opts.push(Arg {
                text: args[i].clone(),
                value: true,
            });
        }
        i += 1;
    }
    (opts, args[i..].to_vec())
}

/// Flags of the option clusters (not values) before any option that takes an argument.
fn flags(opts: &[Arg]) -> impl Iterator<Item = char> + '_ {
    opts.iter().filter(|a| !a.value).flat_map(|a| {
        a.text[1..]
            .chars()
            .take_while(|c| !WITH_ARG.contains(*c))
            .collect::<Vec<_>>()
    })
}

/// The options for the set-up call: without `-N` (no command) and `-f` (background).
fn setup_options(opts: &[Arg]) -> Vec<String> {
    opts.iter()
        .filter_map(|a| {
            if a.value || a.text[1..].chars().any(|c| WITH_ARG.contains(c)) {
                return Some(a.text.clone());
            }
            let kept: String = a.text[1..].chars().filter(|c| !"Nf".contains(*c)).collect();
            (!kept.is_empty()).then(|| format!("-{kept}"))
        })
        .collect()
}

/// A remote path put in `-R` and in a shell command unquoted: plain characters only.
fn check_remote_path(p: &str) -> Result<(), Failure> {
    let plain = p
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@".contains(c));
    if p.starts_with('/') && plain {
        Ok(())
    } else {
        Err(Failure::new(
            exit::USAGE,
            format!(
                "remote socket path {p:?} is not an absolute path of plain characters; pass --remote-socket"
            ),
        ))
    }
}

/// Runs the set-up on the remote host; the socket path in the directory it made.
fn remote_socket(a: &ForwardArgs, opts: &[Arg]) -> Result<String, Failure> {
    let out = Command::new(&a.ssh)
        .args(setup_options(opts))
        .arg(&a.host)
        .arg(format!("sh -c '{REMOTE_SETUP}'"))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot run {}: {e}", a.ssh)))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let dir = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("SSOAGENT_FORWARD_DIR="));
    match (out.status.success(), dir) {
        (true, Some(d)) => Ok(format!("{}/agent.sock", d.trim_end_matches('/'))),
        _ => Err(Failure::new(
            exit::FAILED,
            format!(
                "could not make a private directory on {} for the socket ({}); see ssh's messages above",
                a.host, out.status
            ),
        )),
    }
}

pub async fn run(a: ForwardArgs, autostart: bool) -> Result<(), Failure> {
    // The local end must be our daemon (the usual checks), running before ssh connects.
    daemon::connect_or_start(autostart).await?;
    let local = std::path::absolute(ssoagent_client::socket_path())
        .unwrap_or_else(|_| ssoagent_client::socket_path());
    let (opts, command) = split(&a.ssh_args);
    let remote = match &a.remote_socket {
        Some(p) => p.clone(),
        None => remote_socket(&a, &opts)?,
    };
    check_remote_path(&remote)?;
    println!("SSOAGENT_SOCKET={remote}");
    let mut ssh = Command::new(&a.ssh);
    ssh.args([
        "-o",
        "StreamLocalBindUnlink=yes",
        "-o",
        "ExitOnForwardFailure=yes",
    ])
    .arg("-R")
    .arg(format!("{remote}:{}", local.display()))
    .args(opts.iter().map(|o| o.text.as_str()));
    let tunnel_only = flags(&opts).any(|c| c == 'N');
    if command.is_empty() && !tunnel_only {
        // The remote login shell, with the variable set.
        ssh.arg("-t").arg(&a.host).arg(format!(
            "env SSOAGENT_SOCKET={remote} sh -c 'exec \"${{SHELL:-/bin/sh}}\" -l'"
        ));
    } else {
        ssh.arg(&a.host).args(&command);
    }
    run_ssh(ssh, &a.ssh)
}

/// Unix: ssh replaces this process (its exit code, signals and terminal are the user's).
#[cfg(unix)]
fn run_ssh(mut ssh: Command, name: &str) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    let e = ssh.exec();
    Err(Failure::new(
        exit::FAILED,
        format!("cannot run {name}: {e}"),
    ))
}

/// Windows (OpenSSH for Windows): ssh runs as a child; its exit code is ours.
#[cfg(not(unix))]
fn run_ssh(mut ssh: Command, name: &str) -> Result<(), Failure> {
    let status = ssh
        .status()
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot run {name}: {e}")))?;
    match status.code() {
        Some(0) => Ok(()),
        code => Err(Failure::new(code.unwrap_or(exit::FAILED), String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_values_and_the_command_are_told_apart() {
        let (opts, cmd) = split(&strings(&[
            "-p",
            "2222",
            "-NT",
            "-oBatchMode=yes",
            "-i",
            "k",
            "ls",
            "-l",
        ]));
        let texts: Vec<_> = opts.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(texts, ["-p", "2222", "-NT", "-oBatchMode=yes", "-i", "k"]);
        assert_eq!(cmd, ["ls", "-l"]);
        assert!(flags(&opts).any(|c| c == 'N'));
        assert_eq!(
            setup_options(&opts),
            ["-p", "2222", "-T", "-oBatchMode=yes", "-i", "k"]
        );
        let (opts, cmd) = split(&strings(&["-N"]));
        assert!(setup_options(&opts).is_empty() && cmd.is_empty());
        // A value that looks like a flag is not one.
        let (opts, _) = split(&strings(&["-l", "-N"]));
        assert!(!flags(&opts).any(|c| c == 'N'));
    }

    #[test]
    fn remote_paths_are_plain_and_absolute() {
        assert!(check_remote_path("/run/user/1000/ssoagent-forward/agent.sock").is_ok());
        for bad in [
            "rel/agent.sock",
            "/a b/agent.sock",
            "/a:b/agent.sock",
            "/a'b",
            "/a$(x)",
        ] {
            assert!(check_remote_path(bad).is_err(), "{bad}");
        }
    }
}
