//! Reaching the daemon: connect, and start it in the background when none answers.

use std::path::Path;

use ssoagent_client::{AgentClient, config, exit, proto};

use crate::failure::Failure;

/// Status and account listings of large organisations run to megabytes.
const MAX_ANSWER: usize = 256 * 1024 * 1024;

fn client(channel: tonic::transport::Channel) -> AgentClient {
    proto::agent_client::AgentClient::new(channel).max_decoding_message_size(MAX_ANSWER)
}

pub async fn connect() -> Result<AgentClient, Failure> {
    let channel = ssoagent_client::connect(&ssoagent_client::socket_path()).await?;
    Ok(client(channel))
}

/// Connects and also returns who serves the socket, as the kernel says (not the daemon).
pub async fn connect_with_peer() -> Result<(AgentClient, ssoagent_client::PeerInfo), Failure> {
    let (channel, peer) = ssoagent_client::connect_checked(&ssoagent_client::socket_path()).await?;
    Ok((client(channel), peer))
}

/// Connects, starting the daemon first when none answers and autostart is on.
pub async fn connect_or_start(autostart: bool) -> Result<AgentClient, Failure> {
    let socket = ssoagent_client::socket_path();
    match ssoagent_client::connect(&socket).await {
        Ok(c) => return Ok(client(c)),
        Err(e) if !autostart || !e.daemon_absent() => return Err(e.into()),
        Err(_) => {}
    }
    start().await?;
    connect().await
}

pub use ssoagent_client::launch::sibling;

/// A binary beside this ssoagentctl as files that name it should: canonical where it exists.
pub fn sibling_path(name: &str) -> String {
    let p = sibling(name);
    std::fs::canonicalize(&p).unwrap_or(p).display().to_string()
}

/// Starts `ssoagentd` in the background and waits until it answers; on failure the message
/// names its log and shows the last lines.
pub async fn start() -> Result<(), Failure> {
    let log = config::daemon_log_path().map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    ssoagent_client::launch::start_daemon(&ssoagent_client::socket_path())
        .await
        .map_err(|e| match e {
            // Nothing was started: the daemon's log has nothing to say about it.
            ssoagent_client::launch::StartError::Untrusted(_) => {
                Failure::new(exit::UNREACHABLE, e.to_string())
            }
            _ => Failure::new(
                exit::UNREACHABLE,
                format!("{e}; see its log: {}{}", log.display(), log_tail(&log)),
            ),
        })
}

/// The last lines of the daemon log, indented, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines
        .into_iter()
        .rev()
        .map(|l| format!("\n  {l}"))
        .collect()
}
