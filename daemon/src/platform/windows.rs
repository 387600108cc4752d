//! Windows: the daemon's end of the named pipe `\\.\pipe\ssoagent-<user>` — the counterpart of
//! the unix socket, with the same guarantees: only the owner may connect (a protected DACL
//! granting access to the owner alone), remote clients are rejected, `first_pipe_instance`
//! makes a second daemon fail instead of sharing the name, and every client's process must run
//! as the daemon's user (`GetNamedPipeClientProcessId` → its token's user SID), as the unix
//! peer-uid check does. One daemon per pipe name also through a named mutex (the pidfile's
//! stand-in); Ctrl-C, console close, logoff and shutdown stop it.

use std::{ffi::c_void, io, os::windows::io::AsRawHandle, path::Path, time::Duration};

use ssoagent_client::winsec;
use tokio::{
    net::windows::named_pipe::{NamedPipeServer, ServerOptions},
    sync::mpsc,
};
use tokio_stream::wrappers::ReceiverStream;
use tracing::{info, warn};
use windows_sys::Win32::{
    Foundation::{CloseHandle, ERROR_ALREADY_EXISTS, GetLastError, HANDLE},
    Security::SECURITY_ATTRIBUTES,
    System::{
        Console::{STD_ERROR_HANDLE, SetStdHandle},
        Threading::CreateMutexW,
    },
};

pub use super::pipe_conn::{PipeClient, PipeConn};
use crate::caller::Caller;

/// SDDL: protected DACL, generic-all for the owner (OW) only.
const OWNER_ONLY: &str = "D:P(A;;GA;;;OW)";

pub struct AlreadyRunning(pub String);

/// Held for the daemon's life: the named mutex that says a daemon serves this pipe name.
pub struct PidLock {
    _mutex: HANDLE,
}

// SAFETY: a kernel handle, only held, never used from two threads.
unsafe impl Send for PidLock {}

/// The pipe's first instance, created (and so the name claimed) by [`bind`].
pub struct Listener {
    name: String,
    first: NamedPipeServer,
}

/// No directory to prepare: a pipe lives in the pipe namespace.
pub fn prepare_dir(_dir: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// `Local\ssoagent-<pipe name>` (per logon session): a second daemon gets [`AlreadyRunning`].
pub fn lock_pidfile(pipe: &Path) -> anyhow::Result<Result<PidLock, AlreadyRunning>> {
    let name = format!(r"Local\ssoagent-{}", pipe.display()).replace('\\', "_");
    let name = name.replacen("Local_", r"Local\", 1);
    let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
    // SAFETY: a NUL-terminated name; default security (the creator's).
    let h = unsafe { CreateMutexW(std::ptr::null(), 0, wide.as_ptr()) };
    // SAFETY: read right after the call it reports on.
    let err = unsafe { GetLastError() };
    if h.is_null() {
        anyhow::bail!(
            "cannot create the mutex {name}: {}",
            io::Error::from_raw_os_error(err as i32)
        );
    }
    if err == ERROR_ALREADY_EXISTS {
        // SAFETY: the handle just returned; the other daemon keeps its own.
        unsafe { CloseHandle(h) };
        return Ok(Err(AlreadyRunning(server_pid(pipe))));
    }
    Ok(Ok(PidLock { _mutex: h }))
}

/// The pid serving `pipe`, as the system says, for the "already running" message.
fn server_pid(pipe: &Path) -> String {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(pipe)
        .ok()
        .and_then(|f| winsec::pipe_server_pid(f.as_raw_handle()).ok())
        .map_or_else(|| "unknown".into(), |pid| pid.to_string())
}

fn create(name: &str, first: bool) -> io::Result<NamedPipeServer> {
    let sd = winsec::Descriptor::from_sddl(OWNER_ONLY)?;
    let mut attrs = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd.as_ptr(),
        bInheritHandle: 0,
    };
    // SAFETY: attrs points at a valid descriptor for the duration of the call.
    unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create_with_security_attributes_raw(name, &mut attrs as *mut _ as *mut c_void)
    }
}

/// Creates the pipe's first instance: fails if any process (another daemon, or anyone else)
/// already owns the name.
pub fn bind(pipe: &Path) -> anyhow::Result<Listener> {
    let name = pipe.display().to_string();
    let first = create(&name, true).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {name}: {e} (another process already serves this pipe name?)"
        )
    })?;
    Ok(Listener { name, first })
}

/// No socket activation on Windows.
pub fn activated_listener() -> anyhow::Result<Option<Listener>> {
    Ok(None)
}

/// Nothing to do: no core dumps or umask on Windows (the files' ACLs are set owner-only
/// where they are written).
pub fn harden() {}

/// Who is at the other end of a freshly connected instance: `None` when the system cannot say;
/// `Err` (with what to log) when it is another user's process.
fn identify(server: &NamedPipeServer, me: &winsec::Sid) -> Result<Option<Caller>, String> {
    let Ok(pid) = winsec::pipe_client_pid(server.as_raw_handle()) else {
        return Ok(None);
    };
    match winsec::process_user(pid) {
        Ok(user) if &user == me => Ok(Some(Caller {
            uid: ssoagent_client::fsutil::uid(),
            pid: i32::try_from(pid).ok(),
        })),
        Ok(user) => Err(format!("pid {pid} runs as {user}")),
        Err(_) => Ok(None),
    }
}

/// Accepts clients for as long as the returned stream is polled (the task ends when the server
/// drops it, or when `abort`ed). A new instance is created as soon as one is connected, so the
/// name never disappears (clients meanwhile see PIPE_BUSY and retry).
pub fn incoming(
    listener: Listener,
) -> (
    ReceiverStream<io::Result<PipeConn>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(async move {
        let Listener { name, mut first } = listener;
        let me = match winsec::current_user() {
            Ok(me) => me,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        loop {
            if let Err(e) = first.connect().await {
                warn!(error = %e, "cannot accept a pipe client; retrying shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let next = match create(&name, false) {
                Ok(next) => next,
                Err(e) => {
                    warn!(error = %e, "cannot create the next pipe instance; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let server = std::mem::replace(&mut first, next);
            match identify(&server, &me) {
                Ok(caller) => {
                    if tx.send(Ok(PipeConn::new(server, caller))).await.is_err() {
                        return;
                    }
                }
                Err(who) => warn!(peer = %who, "refused a pipe client of another user"),
            }
        }
    });
    (ReceiverStream::new(rx), task)
}

/// Resolves at Ctrl-C or Ctrl-Break, when the console closes, or at logoff or shutdown.
pub async fn shutdown_signal() {
    use tokio::signal::windows::{ctrl_break, ctrl_close, ctrl_logoff, ctrl_shutdown};
    let mut close = ctrl_close().ok();
    let mut brk = ctrl_break().ok();
    let mut logoff = ctrl_logoff().ok();
    let mut shutdown = ctrl_shutdown().ok();
    tokio::select! {
        Ok(()) = tokio::signal::ctrl_c() => info!("Ctrl-C: shutting down"),
        Some(_) = async { brk.as_mut()?.recv().await } => info!("Ctrl-Break: shutting down"),
        Some(_) = async { close.as_mut()?.recv().await } => info!("console closed: shutting down"),
        Some(_) = async { logoff.as_mut()?.recv().await } => info!("logoff: shutting down"),
        Some(_) = async { shutdown.as_mut()?.recv().await } => info!("system shutdown: shutting down"),
    }
}

/// Sends stderr (panics, early errors) to the log file too: std looks the handle up on every
/// write, so replacing it is enough. The duplicate handle is left open for the process's life.
pub fn redirect_stderr(f: &std::fs::File) {
    use std::os::windows::io::IntoRawHandle;
    if let Ok(dup) = f.try_clone() {
        // SAFETY: a valid file handle we own and never close.
        unsafe { SetStdHandle(STD_ERROR_HANDLE, dup.into_raw_handle() as HANDLE) };
    }
}

/// Opens (appends to) the log file, refusing a symlink planted at its path: the daemon must not
/// be made to write where someone else chose. A new file gets an owner-only ACL.
pub fn open_log(path: &Path) -> anyhow::Result<std::fs::File> {
    let existed = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() || !m.is_file() => anyhow::bail!(
            "refusing to use the log file {}: a symlink or not a regular file",
            path.display()
        ),
        Ok(_) => true,
        Err(_) => false,
    };
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))?;
    if !existed {
        winsec::restrict_to_owner(path, false)
            .map_err(|e| anyhow::anyhow!("cannot restrict the log file {}: {e}", path.display()))?;
    }
    Ok(f)
}
