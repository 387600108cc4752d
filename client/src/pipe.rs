//! Windows: the daemon listens on a named pipe, `\\.\pipe\ssoagent-<user>`, created with an
//! owner-only DACL, as the first instance, rejecting remote clients (daemon/src/platform/
//! windows.rs). A client connects, retrying while every instance is busy (ERROR_PIPE_BUSY),
//! and before it writes a byte checks that the process serving the pipe
//! (`GetNamedPipeServerProcessId`) runs as its own user (the token's user SID): the
//! counterpart of the unix client's `SO_PEERCRED` check.

use std::{
    os::windows::io::AsRawHandle,
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};
use tonic::transport::Channel;

use crate::{
    transport::{ConnectError, PeerInfo, Untrusted, connect_vetted},
    winsec,
};

/// winerror.h ERROR_PIPE_BUSY: all instances are serving other clients.
const ERROR_PIPE_BUSY: i32 = 231;

/// `\\.\pipe\ssoagent-<user>`.
pub fn default_pipe_name() -> PathBuf {
    PathBuf::from(format!(r"\\.\pipe\ssoagent-{}", winsec::user_name()))
}

/// Opens the pipe, retrying for up to a second while every instance is busy.
pub async fn open(name: &Path) -> std::io::Result<NamedPipeClient> {
    for _ in 0..50 {
        match ClientOptions::new().open(name) {
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => return other,
        }
    }
    ClientOptions::new().open(name)
}

/// Who serves the pipe, as the system says: its process must run as `me`.
fn check_server(pipe: &NamedPipeClient, me: &winsec::Sid) -> Result<PeerInfo, Untrusted> {
    let unknown = |what: &str, e: std::io::Error| Untrusted::PeerUnknown {
        reason: format!("{what}: {e}"),
    };
    let pid = winsec::pipe_server_pid(pipe.as_raw_handle())
        .map_err(|e| unknown("GetNamedPipeServerProcessId", e))?;
    let user = winsec::process_user(pid).map_err(|e| unknown("the server's token", e))?;
    let pid = i32::try_from(pid).ok();
    if &user == me {
        Ok(PeerInfo { uid: 0, pid })
    } else {
        Err(Untrusted::PeerUser {
            user: user.to_string(),
            pid,
        })
    }
}

/// [`crate::connect_checked`] on Windows: the pipe's server must run as this user.
pub async fn connect_checked(path: &Path) -> Result<(Channel, PeerInfo), ConnectError> {
    let me = winsec::current_user().map_err(|e| ConnectError::io(path, e))?;
    connect_vetted(path, move |pipe: &NamedPipeClient| check_server(pipe, &me)).await
}
