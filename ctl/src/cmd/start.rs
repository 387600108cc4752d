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

/// Sends SIGTERM to the daemon that answers on the socket (on Windows: ends the process that
/// serves the pipe) and waits until it is gone.
pub async fn stop() -> Result<(), Failure> {
    let pid = daemon_pid().await?;
    if let Err(e) = terminate(pid) {
        return Err(Failure::new(
            exit::FAILED,
            format!("cannot stop ssoagentd (pid {pid}): {e}"),
        ));
    }
    for _ in 0..250 {
        if daemon::connect().await.is_err() {
            println!("ssoagentd (pid {pid}) stopped");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(Failure::new(
        exit::FAILED,
        format!("ssoagentd (pid {pid}) did not stop within 5 s"),
    ))
}

/// The pid to signal, never taken on the daemon's word alone: the kernel's peer credentials
/// name the process that listens on the socket (already checked to run as us). When the daemon
/// bound its own socket, that is the daemon. Under socket activation it is the process that
/// holds the socket (systemd); then the pid the daemon reports is used only if that process is
/// ours and is an `ssoagentd`. A pid of 0 or 1 is never signalled.
async fn daemon_pid() -> Result<u32, Failure> {
    let (mut client, peer) = daemon::connect_with_peer().await?;
    let reported = client
        .status(proto::StatusRequest {})
        .await?
        .into_inner()
        .pid;
    choose_pid(peer.signalable_pid(), reported, is_our_daemon)
        .map_err(|why| Failure::new(exit::FAILED, format!("not stopping ssoagentd: {why}")))
}

/// [`daemon_pid`]'s decision, from the kernel's listener pid (already > 1 or none) and the pid
/// the daemon reported.
fn choose_pid(
    listener: Option<i32>,
    reported: u32,
    is_ours: impl Fn(u32) -> bool,
) -> Result<u32, String> {
    let listener = listener.ok_or("the kernel names no signalable process behind the socket")?;
    if i64::from(reported) == i64::from(listener)
        || (reported > 1 && reported <= i32::MAX as u32 && is_ours(reported))
    {
        return Ok(reported);
    }
    Err(format!(
        "the socket is held by pid {listener}, and pid {reported} that answered is not an \
         ssoagentd of yours (socket activation? then: systemctl --user stop ssoagentd)"
    ))
}

#[cfg(unix)]
fn terminate(pid: u32) -> std::io::Result<()> {
    // SAFETY: kill with a pid > 1 that the kernel names as our socket's server (see daemon_pid).
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(windows)]
use crate::windows::{is_our_daemon, terminate};

/// A live process of our uid whose executable is named `ssoagentd`.
#[cfg(unix)]
fn is_our_daemon(pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    let ours = std::fs::metadata(&proc).is_ok_and(|m| m.uid() == crate::util::uid());
    let named = std::fs::read_link(proc.join("exe")).is_ok_and(|exe| {
        exe.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ssoagentd"))
    });
    ours && named
}

#[cfg(test)]
mod tests {
    use super::choose_pid;

    #[test]
    fn the_kernels_listener_is_signalled() {
        assert_eq!(choose_pid(Some(4242), 4242, |_| false), Ok(4242));
    }

    #[test]
    fn a_reported_pid_is_signalled_only_when_it_is_our_daemon() {
        assert_eq!(choose_pid(Some(77), 4242, |p| p == 4242), Ok(4242));
        // A pid that kill(2) reads as "every process" or "the group" is never sent.
        assert!(choose_pid(Some(77), u32::MAX, |_| true).is_err());
        assert!(choose_pid(Some(77), 0, |_| true).is_err());
        assert!(choose_pid(Some(77), 1, |_| true).is_err());
    }

    #[test]
    fn no_listener_pid_means_no_signal() {
        assert!(choose_pid(None, 4242, |_| true).is_err());
    }
}
