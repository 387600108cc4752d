//! Windows: the daemon listens on a named pipe, `\\.\pipe\ssoagent-<user>`, created with an
//! owner-only DACL, as the first instance, rejecting remote clients (daemon/src/pipe.rs). A
//! client connects, retrying while every instance is busy (ERROR_PIPE_BUSY).
//!
//! NOT EXERCISED: these machines build and test Linux only.

use std::{path::PathBuf, time::Duration};

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};

/// winerror.h ERROR_PIPE_BUSY: all instances are serving other clients.
const ERROR_PIPE_BUSY: i32 = 231;

/// `\\.\pipe\ssoagent-<user>`.
pub fn default_pipe_name() -> PathBuf {
    let user = std::env::var("USERNAME").unwrap_or_else(|_| "user".into());
    PathBuf::from(format!(r"\\.\pipe\ssoagent-{user}"))
}

pub async fn connect(name: &std::path::Path) -> std::io::Result<NamedPipeClient> {
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
