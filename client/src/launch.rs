//! Starting `ssoagentd` in the background when none answers: `ssoagentctl` does it by default,
//! `ssoagent-cred --autostart` on request. Race-free: the daemon takes a locked pidfile, so of
//! two racing starters one daemon wins, the other exits [`ALREADY_RUNNING`], and both callers
//! just wait until the socket answers (the readiness signal).

use std::{
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
        .and_then(|p| {
            p.parent()
                .map(|d| d.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        })
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
    /// The socket is not provably ours (another user's directory or listener): no daemon was
    /// started, nothing was sent.
    Untrusted(crate::ConnectError),
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
            Self::Untrusted(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Starts `ssoagentd --background` (it logs to its state dir), detached from our terminal and
/// process group, and waits until `socket` answers.
pub async fn start_daemon(socket: &Path) -> Result<(), StartError> {
    // A squatted socket is no reason to start a daemon (it would refuse the directory anyway).
    match answers(socket).await {
        Ok(_) => return Ok(()),
        Err(e) if e.untrusted.is_some() => return Err(StartError::Untrusted(e)),
        Err(_) => {}
    }
    let daemon = sibling("ssoagentd");
    let mut cmd = Command::new(&daemon);
    // Only what a daemon needs, never what the shell it was started from happens to hold: it
    // serves every later request, from clean shells too (a LocalStack `AWS_ENDPOINT_URL` left
    // in one shell must not redirect every session's tokens). Paths are made absolute, since
    // the daemon runs in `/` (it must not pin, or resolve files against, the caller's cwd).
    let cwd = std::env::current_dir().ok();
    cmd.env_clear();
    for (name, value) in std::env::vars_os() {
        if let Some(value) = inherited(&name, value, cwd.as_deref()) {
            cmd.env(name, value);
        }
    }
    cmd.current_dir("/")
        .arg("--background")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    detach(&mut cmd);
    let mut child = cmd.spawn().map_err(|source| StartError::Spawn {
        daemon: daemon.clone(),
        source,
    })?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match answers(socket).await {
            Ok(_) => {
                // It runs on its own; reap it without blocking us.
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
            Err(e) if e.untrusted.is_some() => {
                std::thread::spawn(move || child.wait());
                return Err(StartError::Untrusted(e));
            }
            Err(_) => {}
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

/// Whether a daemon accepts on `socket` and passes the checks of who serves it. On unix a
/// plain connect (`ssoagent-cred --autostart` then links no HTTP/2 client); on Windows the
/// pipe's checked open.
async fn answers(socket: &Path) -> Result<(), crate::ConnectError> {
    #[cfg(unix)]
    return crate::connect_blocking(socket).map(drop);
    #[cfg(windows)]
    return crate::connect(socket).await.map(drop);
}

/// A new session keeps Ctrl-C at our terminal from reaching the daemon.
#[cfg(unix)]
fn detach(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

/// No console (so closing ours does not end it) and a process group of its own (so Ctrl-C at
/// ours does not reach it).
#[cfg(windows)]
fn detach(cmd: &mut Command) {
    use std::os::windows::process::CommandExt;
    const DETACHED_PROCESS: u32 = 0x0000_0008;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
}

/// Variables an autostarted daemon keeps (DESIGN.md, Environment), by exact name.
const ALLOWED: &[&str] = &[
    "HOME",
    "PATH",
    "USER",
    "LOGNAME",
    "LANG",
    "TZ",
    "TMPDIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "AWS_CONFIG_FILE",
    "AWS_ENDPOINT_URL_SSO",
    "AWS_ENDPOINT_URL_SSO_OIDC",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_COGNITO_IDENTITY",
    "AWS_ENDPOINT_URL_SIGNIN",
];

/// ... and on Windows (where names are case-insensitive), what the system and the `directories`
/// crate need: without `SystemRoot` even sockets fail.
#[cfg(windows)]
const ALLOWED_WINDOWS: &[&str] = &[
    "SYSTEMROOT",
    "WINDIR",
    "SYSTEMDRIVE",
    "USERNAME",
    "USERDOMAIN",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "TEMP",
    "TMP",
    "HOMEDRIVE",
    "HOMEPATH",
    "COMPUTERNAME",
];

/// ... and by prefix.
const ALLOWED_PREFIXES: &[&str] = &["XDG_", "SSOAGENT_", "LC_"];

/// Variables holding a path that a relative value would make mean something else in `/`.
const PATHS: &[&str] = &[
    "SSOAGENT_SOCKET",
    "SSOAGENT_CONFIG",
    "SSOAGENT_STATE_DIR",
    "AWS_CONFIG_FILE",
];

/// Windows names are case-insensitive (`Path`, `SystemRoot`).
#[cfg(windows)]
fn allowed_on_windows(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    let name = name.as_str();
    ALLOWED_WINDOWS.contains(&name)
        || ALLOWED.contains(&name)
        || ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(not(windows))]
fn allowed_on_windows(_name: &str) -> bool {
    false
}

/// The value an autostarted daemon gets for `name`, or `None` when it gets no such variable.
fn inherited(
    name: &std::ffi::OsStr,
    value: std::ffi::OsString,
    cwd: Option<&Path>,
) -> Option<std::ffi::OsString> {
    let name = name.to_str()?;
    let allowed = ALLOWED.contains(&name)
        || ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p))
        || allowed_on_windows(name);
    if !allowed {
        return None;
    }
    match cwd {
        Some(cwd)
            if PATHS.contains(&name) && !value.is_empty() && Path::new(&value).is_relative() =>
        {
            Some(cwd.join(value).into_os_string())
        }
        _ => Some(value),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::{OsStr, OsString};

    use super::*;

    fn get(name: &str, value: &str) -> Option<OsString> {
        inherited(
            OsStr::new(name),
            value.into(),
            Some(Path::new("/home/u/proj")),
        )
    }

    #[test]
    fn only_allow_listed_names_pass() {
        for name in [
            "HOME",
            "PATH",
            "USER",
            "LANG",
            "TZ",
            "TMPDIR",
            "XDG_RUNTIME_DIR",
            "XDG_STATE_HOME",
            "DBUS_SESSION_BUS_ADDRESS",
            "SSOAGENT_LOG",
            "AWS_ENDPOINT_URL_SSO",
            "AWS_ENDPOINT_URL_SSO_OIDC",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY",
            "AWS_ENDPOINT_URL_SIGNIN",
            "LC_ALL",
        ] {
            assert_eq!(get(name, "v"), Some("v".into()), "{name}");
        }
        for name in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_CA_BUNDLE",
            "FOO_SECRET",
            "BROWSER",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "RUST_LOG",
            "HOMEX",
            "XDG",
            "home",
        ] {
            assert_eq!(get(name, "v"), None, "{name}");
        }
    }

    #[test]
    fn relative_paths_are_made_absolute() {
        assert_eq!(
            get("SSOAGENT_SOCKET", "run/a.sock"),
            Some("/home/u/proj/run/a.sock".into())
        );
        assert_eq!(get("AWS_CONFIG_FILE", "/etc/aws"), Some("/etc/aws".into()));
        assert_eq!(get("SSOAGENT_LOG", "debug"), Some("debug".into()));
        assert_eq!(get("SSOAGENT_STATE_DIR", ""), Some("".into()));
    }
}
