//! What differs by platform: on unix the socket directory, the pidfile, socket activation and
//! process hardening ([`unix`]); on Windows the named pipe with its client checks, the
//! single-instance mutex and console shutdown (`windows.rs`, `pipe_conn.rs`).

#[cfg(windows)]
mod pipe_conn;
#[cfg(unix)]
pub mod unix;
#[cfg(windows)]
pub mod windows;

#[cfg(unix)]
pub use self::unix::*;
#[cfg(windows)]
pub use self::windows::*;

/// What the daemon listens on: a unix socket, or the named pipe's first instance.
#[cfg(unix)]
pub type Listener = tokio::net::UnixListener;

/// Exit code when another daemon already serves this socket (autostart races end here).
pub use ssoagent_client::launch::ALREADY_RUNNING;
