//! `start`, `stop` and `restart`: the daemon process in the background.

use std::time::Duration;

use ssoagent_client::{config, exit, proto};

use crate::{daemon, failure::Failure};

pub async fn start() -> Result<(), Failure> {
    if daemon::connect().await.is_ok() {
        println!("ssoagentd is already running");
        return Ok(());
    }
    start_and_say().await
}

pub async fn restart() -> Result<(), Failure> {
    match stop().await {
        Ok(()) => {}
        Err(f) if f.code == exit::UNREACHABLE => {}
        Err(f) => return Err(f),
    }
    start_and_say().await
}

async fn start_and_say() -> Result<(), Failure> {
    daemon::start().await?;
    let log = config::daemon_log_path().map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    println!("ssoagentd started; log: {}", log.display());
    Ok(())
}

/// Sends SIGTERM to the daemon that answers on the socket and waits until it is gone.
pub async fn stop() -> Result<(), Failure> {
    let mut client = daemon::connect().await?;
    let s = client.status(proto::StatusRequest {}).await?.into_inner();
    // SAFETY: kill with a pid the daemon reported for itself.
    let rc = unsafe { libc::kill(s.pid as libc::pid_t, libc::SIGTERM) };
    if rc != 0 {
        return Err(Failure::new(
            exit::FAILED,
            format!(
                "cannot stop ssoagentd (pid {}): {}",
                s.pid,
                std::io::Error::last_os_error()
            ),
        ));
    }
    for _ in 0..250 {
        if daemon::connect().await.is_err() {
            println!("ssoagentd (pid {}) stopped", s.pid);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(Failure::new(
        exit::FAILED,
        format!("ssoagentd (pid {}) did not stop within 5 s", s.pid),
    ))
}
