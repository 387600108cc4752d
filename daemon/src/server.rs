//! The local socket: a private directory, one daemon per socket (a locked pidfile), the
//! peer-uid check on every RPC, and graceful shutdown.

use std::{
    fs,
    io::Write,
    os::{
        fd::AsRawFd,
        unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use ssoagent_proto::v1::agent_server::AgentServer;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Status, transport::server::UdsConnectInfo};
use tracing::{info, trace, warn};

use crate::{agent::Agent, service::Service};

/// Exit code when another daemon already serves this socket (autostart races end here).
pub const ALREADY_RUNNING: i32 = 10;

/// Largest request the daemon decodes; every real request is tiny.
const MAX_MESSAGE: usize = 64 * 1024;

pub struct AlreadyRunning(pub String);

/// Holds the pidfile lock for the daemon's lifetime.
pub struct PidLock {
    _file: fs::File,
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Creates the socket directory 0700, or checks an existing one: a real directory (not a
/// symlink), ours, and closed to everyone else.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", dir.display())),
        Ok(_) => {}
    }
    let m = fs::symlink_metadata(dir)?;
    if m.file_type().is_symlink() || !m.is_dir() {
        bail!(
            "{} must be a directory, not a symlink or file; refusing to use it",
            dir.display()
        );
    }
    if m.uid() != uid() {
        bail!(
            "{} belongs to uid {}, not to you (uid {}); refusing to use it",
            dir.display(),
            m.uid(),
            uid()
        );
    }
    if m.mode() & 0o077 != 0 {
        bail!(
            "{} is open to other users (mode {:o}); fix with: chmod 700 {}",
            dir.display(),
            m.mode() & 0o777,
            dir.display()
        );
    }
    Ok(())
}

/// Takes `<dir>/agent.pid` with an exclusive lock; a second daemon gets [`AlreadyRunning`].
pub fn lock_pidfile(socket: &Path) -> anyhow::Result<Result<PidLock, AlreadyRunning>> {
    let path = pidfile_path(socket);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
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

/// When the last RPC arrived (Unix seconds), for the idle exit of an activated daemon.
static LAST_ACTIVITY: AtomicU64 = AtomicU64::new(0);
/// Logins in progress: a human may take minutes without any RPC; never exit under them.
pub static LOGINS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Every RPC passes here: the peer must be the daemon's own user.
#[allow(clippy::result_large_err)]
fn check_peer(req: Request<()>) -> Result<Request<()>, Status> {
    let peer = req
        .extensions()
        .get::<UdsConnectInfo>()
        .and_then(|i| i.peer_cred)
        .map(|c| c.uid());
    trace!(peer_uid = ?peer, "request");
    LAST_ACTIVITY.store(unix_now(), Ordering::Relaxed);
    match peer {
        Some(u) if u == uid() => Ok(req),
        Some(u) => {
            warn!(peer_uid = u, "refused a client of another user");
            Err(Status::permission_denied(format!(
                "ssoagentd serves only uid {}; you are uid {u}",
                uid()
            )))
        }
        None => Err(Status::permission_denied(
            "cannot identify the client; refused",
        )),
    }
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

/// Serves until SIGTERM/SIGINT (or `idle` without requests), then removes the socket if we
/// bound it (`socket` is `None` for an activated socket, which belongs to systemd).
pub async fn serve(
    listener: UnixListener,
    socket: Option<PathBuf>,
    agent: Arc<Agent>,
    log_file: String,
    idle: Option<Duration>,
) -> anyhow::Result<()> {
    LAST_ACTIVITY.store(unix_now(), Ordering::Relaxed);
    let ticker = {
        let agent = agent.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                agent.tick().await;
            }
        })
    };
    // Requests are tiny and capped; answers (status, accounts of a large organisation) are not.
    let service =
        AgentServer::new(Service { agent, log_file }).max_decoding_message_size(MAX_MESSAGE);
    let service = tonic::service::interceptor::InterceptedService::new(service, check_peer);
    match &socket {
        Some(path) => info!(socket = %path.display(), pid = std::process::id(), "ssoagentd ready"),
        None => info!(
            pid = std::process::id(),
            "ssoagentd ready on an activated socket"
        ),
    }
    let stop = async {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = idle_exit(idle) => {}
        }
    };
    let result = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop)
        .await;
    ticker.abort();
    if let Some(path) = socket {
        let _ = fs::remove_file(path);
    }
    info!("ssoagentd stopped");
    result.context("serving failed")
}

/// Resolves after `idle` without requests and without a login in progress; never if `None`.
/// Unlock state and tokens are on disk, so the next activation picks up where this left off.
async fn idle_exit(idle: Option<Duration>) {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_secs(1).min(idle)).await;
        let quiet = unix_now().saturating_sub(LAST_ACTIVITY.load(Ordering::Relaxed));
        if quiet >= idle.as_secs() && LOGINS_IN_FLIGHT.load(Ordering::Relaxed) == 0 {
            info!(idle = %humantime::format_duration(idle), "idle; exiting until the next activation");
            return;
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = int.recv() => info!("SIGINT: shutting down"),
    }
}
