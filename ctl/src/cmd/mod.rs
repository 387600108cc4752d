//! One module per command (`unlock` also holds `login`; `start` also `stop` and `restart`),
//! and what `lock` and `logout` share.

use clap::Args;

pub mod accounts;
pub mod approve;
pub mod completions;
pub mod configure;
pub mod console;
pub mod demo;
pub mod demo_oidc;
pub mod doctor;
pub mod ecs;
pub mod env;
pub mod exec;
pub mod exec_ecs;
pub mod forward;
pub mod lock;
pub mod log;
pub mod logout;
pub mod man;
pub mod mfa;
pub mod service;
pub mod service_windows;
pub mod start;
pub mod status;
pub mod unlock;
pub mod watch;
pub mod whoami;

#[derive(Args)]
pub struct Target {
    /// Session name (default: the only one configured).
    session: Option<String>,
    /// Every session.
    #[arg(long, conflicts_with = "session")]
    all: bool,
}

/// One line per session the daemon acted on.
fn report(what: &str, sessions: &[String]) {
    if sessions.is_empty() {
        println!("no sessions {what}");
    }
    for s in sessions {
        println!("session '{s}' {what}");
    }
}
