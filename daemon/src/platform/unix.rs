//! Unix: a private socket directory, one daemon per socket (a locked pidfile), socket
//! activation, signals, and process hardening.

use std::{
    fs,
    io::Write,
    os::{
        fd::AsRawFd,
        unix::fs::{OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
};

use anyhow::Context;
use tokio::net::UnixListener;
use tracing::info;

pub struct AlreadyRunning(pub String);

/// Holds the pidfile lock for the daemon's lifetime.
pub struct PidLock {
    _file: fs::File,
}

/// Creates the socket directory 0700, or checks an existing one: a real directory (not a
/// symlink), ours, and closed to everyone else.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    ssoagent_client::fsutil::ensure_private_dir(dir).map_err(anyhow::Error::msg)
}

/// Takes `<socket>.pid` with an exclusive lock; a second daemon gets [`AlreadyRunning`].
pub fn lock_pidfile(socket: &Path) -> anyhow::Result<Result<PidLock, AlreadyRunning>> {
    let path = pidfile_path(socket);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let pid = fs::read_to_string(&path).unwrap_or_default();
        return Ok(Err(AlreadyRunning(pid.trim().to_string())));
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Ok(PidLock { _file: file }))
}

fn pidfile_path(socket: &Path) -> PathBuf {
    socket.with_file_name(format!(
        "{}.pid",
        socket
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ))
}

/// Binds the socket (0600). The caller holds the pidfile lock, so a leftover socket file is stale.
pub fn bind(socket: &Path) -> anyhow::Result<UnixListener> {
    match fs::remove_file(socket) {
        Ok(()) => info!(socket = %socket.display(), "removed a stale socket"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot remove stale {}", socket.display()));
        }
    }
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Takes a socket passed by systemd (`LISTEN_FDS`), if any.
pub fn activated_listener() -> anyhow::Result<Option<UnixListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    let Some(l) = fds
        .take_unix_listener(0)
        .context("LISTEN_FDS names no usable unix socket")?
    else {
        return Ok(None);
    };
    l.set_nonblocking(true)?;
    Ok(Some(UnixListener::from_std(l)?))
}

/// No core dumps (they would hold tokens), no ptrace attach by other processes of the user,
/// and nothing the daemon creates is for anyone else (umask 077).
pub fn harden() {
    // SAFETY: plain syscalls with constant arguments.
    unsafe {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::umask(0o077);
    }
}

/// Resolves at SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = int.recv() => info!("SIGINT: shutting down"),
    }
}

/// Opens (appends to) the log file, never through a symlink planted at its path (O_NOFOLLOW)
/// and only if it is a regular file of ours: the daemon must not be made to write where
/// someone else chose.
pub fn open_log(path: &Path) -> anyhow::Result<fs::File> {
    use std::os::unix::fs::MetadataExt;
    let f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                anyhow::anyhow!(
                    "refusing to open the log file {}: it is a symlink",
                    path.display()
                )
            } else {
                anyhow::anyhow!("cannot open log file {}: {e}", path.display())
            }
        })?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.uid() != ssoagent_client::fsutil::uid() {
        anyhow::bail!(
            "refusing to use the log file {}: not a regular file of yours",
            path.display()
        );
    }
    Ok(f)
}

/// Sends stderr (panics, early errors) to the log file too.
pub fn redirect_stderr(f: &fs::File) {
    // SAFETY: dup2 onto our own stderr with a descriptor we own.
    unsafe { libc::dup2(f.as_raw_fd(), 2) };
}

/// Raises the soft RLIMIT_NOFILE towards `want` (never above the hard limit); returns the soft
/// limit in force.
pub fn raise_open_files_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want.min(lim.rlim_max),
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}
