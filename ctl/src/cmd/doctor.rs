//! `ssoagentctl doctor`: checks the whole setup and says what to fix — the agent config, the
//! socket, the daemon and its protocol, ~/.aws/config and the profiles routed through the
//! agent, the token store, and the clock.

use std::path::Path;

use ssoagent_client::{config, exit, proto};

#[cfg(unix)]
use crate::util;
use crate::{daemon, failure::Failure};

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Report {
    worst: Level,
    /// The exit code of the first failure (2 config, 4 daemon).
    code: i32,
}

impl Report {
    fn line(&mut self, level: Level, what: &str, detail: impl AsRef<str>, code: i32) {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        println!("{tag}  {what}: {}", detail.as_ref());
        if level == Level::Fail && self.worst < Level::Fail {
            self.code = code;
        }
        self.worst = self.worst.max(level);
    }
}

/// Skew beyond which tokens and credentials look expired (or valid) when they are not.
const MAX_SKEW_SECS: i64 = 300;

pub async fn run() -> Result<(), Failure> {
    let mut r = Report {
        worst: Level::Ok,
        code: exit::OK,
    };
    agent_config(&mut r);
    let socket = ssoagent_client::socket_path();
    socket_directory(&mut r, &socket);
    if let Some(s) = daemon_status(&mut r).await {
        protocol(&mut r, &s, &socket);
        aws_config(&mut r, &s);
        profiles(&mut r, &s);
        token_store(&mut r, &s);
        clock(&mut r, &s);
    }
    match r.worst {
        Level::Fail => Err(Failure::new(
            r.code,
            "doctor found problems (FAIL lines above)",
        )),
        _ => Ok(()),
    }
}

/// The agent config parses (and which store and cache mode it picks).
fn agent_config(r: &mut Report) {
    let cfg_path = config::config_path();
    match config::AgentConfig::load(&cfg_path) {
        Ok(c) => r.line(
            Level::Ok,
            "agent config",
            format!(
                "{} ({})",
                cfg_path.display(),
                if cfg_path.exists() {
                    format!(
                        "store = {:?}, aws_cli_cache = {:?}",
                        c.store, c.aws_cli_cache
                    )
                    .to_lowercase()
                } else {
                    "absent: defaults".into()
                }
            ),
            0,
        ),
        Err(e) => r.line(Level::Fail, "agent config", e.to_string(), exit::USAGE),
    }
}

/// The socket's directory is a 0700 directory of ours (or not there yet).
#[cfg(unix)]
fn socket_directory(r: &mut Report, socket: &Path) {
    use std::os::unix::fs::MetadataExt;
    let uid = util::uid();
    if let Some(dir) = socket.parent() {
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() && m.mode() & 0o077 == 0 && m.uid() == uid => r.line(
                Level::Ok,
                "socket directory",
                format!("{} (0700, yours)", dir.display()),
                0,
            ),
            Ok(m) => r.line(
                Level::Fail,
                "socket directory",
                format!(
                    "{} has mode {:o} / owner {}; it must be a 0700 directory of yours",
                    dir.display(),
                    m.mode() & 0o7777,
                    m.uid()
                ),
                exit::USAGE,
            ),
            Err(_) => r.line(
                Level::Warn,
                "socket directory",
                format!(
                    "{} does not exist yet (the daemon creates it)",
                    dir.display()
                ),
                0,
            ),
        }
    }
}

/// Windows: the pipe's name (no directory to check: the pipe's own DACL admits its owner alone,
/// and every connect checks that the process serving it runs as this user).
#[cfg(windows)]
fn socket_directory(r: &mut Report, pipe: &Path) {
    r.line(
        Level::Ok,
        "pipe",
        format!(
            "{} (an owner-only pipe; the daemon check below also checks that your user serves it)",
            pipe.display()
        ),
        0,
    );
}

/// The daemon answers; its status feeds the checks that follow.
async fn daemon_status(r: &mut Report) -> Option<proto::StatusResponse> {
    match daemon::connect().await {
        Ok(mut c) => match c.status(proto::StatusRequest {}).await {
            Ok(s) => Some(s.into_inner()),
            Err(e) => {
                r.line(Level::Fail, "daemon", exit::message(&e), exit::UNREACHABLE);
                None
            }
        },
        Err(e) => {
            r.line(Level::Fail, "daemon", e.message, exit::UNREACHABLE);
            None
        }
    }
}

/// The daemon speaks our protocol.
fn protocol(r: &mut Report, s: &proto::StatusResponse, socket: &Path) {
    if s.protocol == ssoagent_proto::PROTOCOL_VERSION {
        r.line(
            Level::Ok,
            "daemon",
            format!(
                "ssoagentd {} (pid {}) answers on {}",
                s.version,
                s.pid,
                socket.display()
            ),
            0,
        );
    } else {
        r.line(
                Level::Fail,
                "daemon",
                format!("ssoagentd speaks protocol {}, this ssoagentctl {}; restart it: ssoagentctl restart", s.protocol, ssoagent_proto::PROTOCOL_VERSION),
                exit::UNREACHABLE,
            );
    }
}

/// The daemon could read ~/.aws/config.
fn aws_config(r: &mut Report, s: &proto::StatusResponse) {
    if s.config_error.is_empty() {
        let profiles: usize = s.sessions.iter().map(|x| x.profiles.len()).sum();
        r.line(
            Level::Ok,
            "~/.aws/config",
            format!(
                "{}: {} session(s), {profiles} profile(s) served",
                s.config_file,
                s.sessions.len()
            ),
            0,
        );
    } else {
        r.line(Level::Fail, "~/.aws/config", &s.config_error, exit::USAGE);
    }
}

/// Every profile routed through the agent resolves, and none mixes native SSO keys in.
fn profiles(r: &mut Report, s: &proto::StatusResponse) {
    for p in &s.problems {
        r.line(
            Level::Fail,
            &format!("profile {}", p.profile),
            &p.message,
            exit::USAGE,
        );
    }
    for p in s.sessions.iter().flat_map(|x| &x.profiles) {
        if !p.warning.is_empty() {
            r.line(Level::Warn, &format!("profile {}", p.name), &p.warning, 0);
        }
    }
}

/// Tokens rest in the keyring (a file store is a warning).
fn token_store(r: &mut Report, s: &proto::StatusResponse) {
    if s.store.starts_with("file (") {
        r.line(
            Level::Warn,
            "token store",
            format!("{} — tokens are in 0600 files instead", s.store),
            0,
        );
    } else {
        r.line(Level::Ok, "token store", &s.store, 0);
    }
}

/// This machine's clock agrees with AWS's.
fn clock(r: &mut Report, s: &proto::StatusResponse) {
    if !s.clock_skew_known {
        r.line(
            Level::Ok,
            "clock",
            "not measured yet (no AWS answer since the daemon started)",
            0,
        );
    } else if s.clock_skew_seconds.abs() > MAX_SKEW_SECS {
        r.line(
                Level::Fail,
                "clock",
                format!("this machine's clock is {} s off AWS's; fix it (e.g. enable NTP), or tokens will look expired or valid when they are not", s.clock_skew_seconds),
                exit::USAGE,
            );
    } else {
        r.line(
            Level::Ok,
            "clock",
            format!("{} s from AWS's", s.clock_skew_seconds),
            0,
        );
    }
}
