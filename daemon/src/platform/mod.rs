//! What differs by platform: on unix the socket directory, the pidfile, socket activation and
//! process hardening ([`unix`]); on Windows the named pipe (`windows.rs`, not exercised here).

#[cfg(unix)]
pub mod unix;
#[cfg(windows)]
pub mod windows;

#[cfg(unix)]
pub use self::unix::*;

/// Exit code when another daemon already serves this socket (autostart races end here).
pub use ssoagent_client::launch::ALREADY_RUNNING;
