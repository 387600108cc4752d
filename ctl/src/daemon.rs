//! Reaching the daemon: connect, and start it in the background when none answers.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ssoagent_client::{AgentClient, ConnectError, config, exit, proto};

/// An error with the exit code the user should see.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Self::new(exit::for_status(&s), exit::message(&s))
    }
}

impl From<ConnectError> for Failure {
    fn from(e: ConnectError) -> Self {
        Self::new(exit::UNREACHABLE, e.to_string())
    }
}

/// Exit code of `ssoagentd` when another daemon already serves the socket.
const DAEMON_ALREADY_RUNNING: i32 = 10;

pub async fn connect() -> Result<AgentClient, Failure> {
    let channel = ssoagent_client::connect(&ssoagent_client::socket_path()).await?;
    Ok(proto::agent_client::AgentClient::new(channel))
}

/// Connects, starting the daemon first when none answers and autostart is on.
pub async fn connect_or_start(autostart: bool) -> Result<AgentClient, Failure> {
    match connect().await {
        Ok(c) => return Ok(c),
        Err(e) if !autostart || e.code != exit::UNREACHABLE => return Err(e),
        Err(_) => {}
    }
    start().await?;
    connect().await
}

/// The binary beside this one (as installed together), else from PATH.
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Starts `ssoagentd` detached, logging to the state dir, and waits until it answers. Racing
/// starters are fine: the daemon's pidfile lock lets one win, and the others just wait.
pub async fn start() -> Result<(), Failure> {
    let log = config::daemon_log_path();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let log_out = open_log(&log).map_err(|e| {
        Failure::new(
            exit::UNREACHABLE,
            format!("cannot open the daemon log {}: {e}", log.display()),
        )
    })?;
    let log_err = log_out
        .try_clone()
        .map_err(|e| Failure::new(exit::UNREACHABLE, e.to_string()))?;
    let daemon = sibling("ssoagentd");
    let mut cmd = Command::new(&daemon);
    cmd.arg("--log-file")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(log_out)
        .stderr(log_err);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our terminal and
    // process group, so Ctrl-C here does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        Failure::new(
            exit::UNREACHABLE,
            format!(
                "cannot start {}: {e}; is ssoagentd installed?",
                daemon.display()
            ),
        )
    })?;
    let socket = ssoagent_client::socket_path();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if ssoagent_client::connect(&socket).await.is_ok() {
            // Reap the child later without blocking: it keeps running on its own.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait()
            && status.code() != Some(DAEMON_ALREADY_RUNNING)
        {
            return Err(Failure::new(
                exit::UNREACHABLE,
                format!(
                    "ssoagentd exited at start ({status}); see its log: {}{}",
                    log.display(),
                    log_tail(&log)
                ),
            ));
        }
        if Instant::now() > deadline {
            return Err(Failure::new(
                exit::UNREACHABLE,
                format!(
                    "ssoagentd did not answer on {} within 15 s; see its log: {}",
                    socket.display(),
                    log.display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
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
