//! A private Secret Service (D-Bus session bus + unlocked gnome-keyring) per test, started
//! with `tests/secret-service.sh`, for the keyring store. Only the daemon is pointed at it
//! (through [`World::set_daemon_env`]); it is stopped when the handle is dropped.

use std::{
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use crate::{World, run_with_timeout, signal};

/// The tools `tests/secret-service.sh` needs.
const TOOLS: [&str; 3] = ["dbus-daemon", "gnome-keyring-daemon", "dbus-send"];

/// A running private Secret Service.
pub struct SecretService {
    /// `DBUS_SESSION_BUS_ADDRESS` of its bus.
    pub address: String,
    pids: Vec<u32>,
    dir: PathBuf,
}

/// The script, found from this crate (`tests/e2e` → `tests/secret-service.sh`).
pub fn script() -> PathBuf {
    crate::repo_root().join("tests/secret-service.sh")
}

/// Which of the needed tools are not on PATH (empty when all are there).
pub fn missing_tools() -> Vec<&'static str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    TOOLS
        .iter()
        .copied()
        .filter(|t| !std::env::split_paths(&path).any(|d| d.join(t).is_file()))
        .collect()
}

impl SecretService {
    /// Starts one under `dir` (created). Fails if the script fails.
    pub fn start(dir: &Path) -> Result<SecretService, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cmd = Command::new("bash");
        cmd.arg(script()).arg(dir);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(30));
        if !out.ok() {
            return Err(format!("tests/secret-service.sh failed:\n{out:?}"));
        }
        let mut address = None;
        let mut pids = Vec::new();
        for line in out.stdout.lines() {
            if let Some(a) = line.strip_prefix("DBUS_SESSION_BUS_ADDRESS=") {
                address = Some(a.to_string());
            } else if let Some(p) = line.strip_prefix("SECRET_SERVICE_PIDS=") {
                pids = p
                    .trim_matches('"')
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
            }
        }
        let ss = SecretService {
            address: address.unwrap_or_default(),
            pids,
            dir: dir.to_path_buf(),
        };
        if ss.address.is_empty() || ss.pids.len() != 2 {
            return Err(format!(
                "unexpected output of tests/secret-service.sh:\n{out:?}"
            ));
        }
        Ok(ss)
    }

    /// Starts one for a World (under its dir) and points the World's daemons at it. Missing
    /// tools fail the test with the install line; it never passes by skipping.
    pub fn for_world(w: &mut World, test: &str) -> SecretService {
        let missing = missing_tools();
        if !missing.is_empty() {
            panic!(
                "{test} needs a Secret Service: {} not found; install it with: \
                 apt-get install dbus-daemon dbus-bin gnome-keyring (tests/run does, as root)",
                missing.join(", ")
            );
        }
        let ss = SecretService::start(&w.path("secret-service"))
            .unwrap_or_else(|e| panic!("cannot start a Secret Service: {e}"));
        w.set_daemon_env(
            "DBUS_SESSION_BUS_ADDRESS",
            Some(OsString::from(&ss.address)),
        );
        ss
    }

    /// Stops it now (also done on drop).
    pub fn stop(&mut self) {
        for pid in std::mem::take(&mut self.pids) {
            signal(pid, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) {
                if Instant::now() > deadline {
                    signal(pid, libc::SIGKILL);
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Whether a process runs (a zombie left to an init that does not reap counts as gone).
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Points the World's daemons at no session bus at all: no `DBUS_SESSION_BUS_ADDRESS`, and
/// (from [`World::daemon_command`]) an empty private `XDG_RUNTIME_DIR`.
pub fn without_secret_service(w: &mut World) {
    w.set_daemon_env("DBUS_SESSION_BUS_ADDRESS", None);
}

impl Drop for SecretService {
    fn drop(&mut self) {
        if thread::panicking()
            && let Ok(log) = fs::read_to_string(self.dir.join("gnome-keyring.log"))
            && !log.trim().is_empty()
        {
            eprintln!("===== gnome-keyring log =====\n{log}");
        }
        self.stop();
    }
}
