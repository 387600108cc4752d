//! Starting `ssoagentd` in the background when none answers: `ssoagentctl` does it by default,
//! `ssoagent-cred --autostart` on request. Race-free: the daemon takes a locked pidfile, so of
//! two racing starters one daemon wins, the other exits [`ALREADY_RUNNING`], and both callers
//! just wait until the socket answers (the readiness signal).

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Exit code of `ssoagentd` when another daemon already serves the socket.
pub const ALREADY_RUNNING: i32 = 10;

/// How long a starter waits for the daemon to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A binary installed beside this one, else the bare name (found on PATH).
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

#[derive(Debug)]
pub enum StartError {
    Spawn {
        daemon: PathBuf,
        source: std::io::Error,
    },
    Exited(std::process::ExitStatus),
    Timeout(PathBuf),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spawn { daemon, source } => {
                write!(
                    f,
                    "cannot start {}: {source}; is ssoagentd installed?",
                    daemon.display()
                )
            }
            Self::Exited(status) => write!(f, "ssoagentd exited at start ({status})"),
            Self::Timeout(socket) => write!(
                f,
                "ssoagentd did not answer on {} within {} s",
                socket.display(),
                READY_TIMEOUT.as_secs()
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// Starts `ssoagentd --background` (it logs to its state dir), detached from our terminal and
/// process group, and waits until `socket` answers.
pub async fn start_daemon(socket: &Path) -> Result<(), StartError> {
    let daemon = sibling("ssoagentd");
    let mut cmd = Command::new(&daemon);
    cmd.arg("--background")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; a new session keeps Ctrl-C here from reaching it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| StartError::Spawn {
        daemon: daemon.clone(),
        source,
    })?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if crate::connect(socket).await.is_ok() {
            // It runs on its own; reap it without blocking us.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait()
            && status.code() != Some(ALREADY_RUNNING)
        {
            return Err(StartError::Exited(status));
        }
        if Instant::now() > deadline {
            return Err(StartError::Timeout(socket.to_path_buf()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
