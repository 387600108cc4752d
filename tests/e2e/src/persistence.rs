//! Helpers for tests of what survives: the agent config, killing the daemon hard, a daemon
//! that must refuse to start, file modes, and what `status --json` says about a session.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use crate::{Out, SESSION, World, signal};

/// Writes the agent config (`$SSOAGENT_CONFIG`) of a World (see [`World::write_agent_config`]).
pub fn write_agent_config(w: &World, toml: &str) {
    w.write_agent_config(toml);
}

/// `kill -9` the daemon we started and reap it; asserts it died of the signal.
#[track_caller]
pub fn kill9_daemon(w: &mut World) {
    let d = w.daemon.take().expect("no daemon running");
    signal(d.pid(), libc::SIGKILL);
    let code = d.stop();
    assert_eq!(
        code,
        -libc::SIGKILL,
        "ssoagentd should have died of SIGKILL"
    );
}

/// Runs `ssoagentd` in the foreground when it is expected to exit by itself (e.g. refusing
/// its config). Panics if it is still running after `timeout` (it is killed then).
/// Runs `ssoagentd` to its end (it is expected to refuse to start) and returns its output.
#[track_caller]
pub fn run_daemon_expecting_exit(w: &World, timeout: Duration) -> Out {
    crate::run_with_timeout(&mut w.daemon_command(), timeout)
}

/// The permission bits of a file.
#[track_caller]
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `status --json`'s `store`: which token store the daemon uses.
#[track_caller]
pub fn status_store(w: &World) -> String {
    let v = w.status_json();
    v["store"]
        .as_str()
        .unwrap_or_else(|| panic!("no store in status:\n{v:#}"))
        .to_string()
}

/// `status --json`'s view of the World's session.
#[track_caller]
pub fn session_status(w: &World) -> serde_json::Value {
    let v = w.status_json();
    v["sessions"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == SESSION))
        .cloned()
        .unwrap_or_else(|| panic!("no session {SESSION} in status:\n{v:#}"))
}

/// When the daemon's SSO access token for the World's session expires (Unix seconds).
#[track_caller]
pub fn token_expires_at(w: &World) -> Option<i64> {
    session_status(w)["token_expires_at"].as_i64()
}

/// Both output streams of a command, for looking for a message wherever it was printed.
pub fn all_output(out: &Out) -> String {
    format!("{}\n{}", out.stdout, out.stderr)
}

/// Polls `cond` every `every` until it holds; panics with `what` after `timeout`. For
/// conditions that cost a process start (e.g. `status --json`), where 20 ms polling is wasteful.
#[track_caller]
pub fn wait_until_every(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        thread::sleep(every);
    }
}
