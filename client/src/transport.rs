//! The local transport to `ssoagentd`: a unix socket (owner-only), found the same way by the
//! daemon and every client. Clients check the other way too, before they send anything: the
//! socket's directory is theirs and private, and the process serving it runs as their uid.
//! On Windows a named pipe (`pipe.rs`, not exercised on these Linux machines).

use std::{
    env,
    path::{Path, PathBuf},
};

use tonic::transport::{Channel, Endpoint};

/// Why a client could not reach the daemon; its `Display` says what to do about it.
#[derive(Debug)]
pub struct ConnectError {
    pub path: PathBuf,
    pub source: std::io::Error,
    /// Set when something answers at `path` (or could) that is not provably ours: nothing was
    /// sent to it. `source` is then a `PermissionDenied` placeholder.
    pub untrusted: Option<Untrusted>,
}

/// A socket the client refuses to talk to: another user could be impersonating ssoagentd
/// (handing out its own credentials, a device-code URL for the victim's start URL, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Untrusted {
    /// The socket's directory is a symlink, or not a directory at all.
    DirNotADirectory { dir: PathBuf },
    /// The socket's directory belongs to another uid.
    DirOwner { dir: PathBuf, uid: u32 },
    /// The socket's directory is ours but open to group or others (`mode` & 0o077 != 0).
    DirMode { dir: PathBuf, mode: u32 },
    /// The process serving the socket (SO_PEERCRED) runs as another uid.
    Peer { uid: u32, pid: Option<i32> },
    /// The kernel could not say who serves the socket.
    PeerUnknown { reason: String },
    /// Windows: the process serving the pipe runs as another user (its SID).
    PeerUser { user: String, pid: Option<i32> },
}

impl ConnectError {
    /// Nobody listens there: no socket, or a stale one. (An untrusted socket is not absent:
    /// starting a daemon would not help, and must not be tried.)
    pub fn daemon_absent(&self) -> bool {
        self.untrusted.is_none()
            && matches!(
                self.source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            )
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            source,
            untrusted: None,
        }
    }

    pub(crate) fn refused(path: &Path, why: Untrusted) -> Self {
        Self {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the socket is not provably ssoagentd's",
            ),
            untrusted: Some(why),
        }
    }
}

/// `uid 1000 (alice)`, or `uid 1000` when the name cannot be resolved.
fn describe_uid(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::io::ErrorKind::*;
        let path = self.path.display();
        if let Some(why) = &self.untrusted {
            let me = describe_uid(my_uid());
            write!(f, "refusing to use the ssoagentd socket {path}: ")?;
            return match why {
                Untrusted::DirNotADirectory { dir } => write!(
                    f,
                    "{} is a symlink or not a directory; nothing was sent. The socket must be \
                     in a private directory of yours (chmod 700), or set SSOAGENT_SOCKET",
                    dir.display()
                ),
                Untrusted::DirOwner { dir, uid } => write!(
                    f,
                    "its directory {} belongs to {}, not to you ({me}); another user may be \
                     impersonating ssoagentd, so nothing was sent. Set SSOAGENT_SOCKET to a path \
                     in a private directory of yours",
                    dir.display(),
                    describe_uid(*uid)
                ),
                Untrusted::DirMode { dir, mode } => write!(
                    f,
                    "its directory {} is open to other users (mode {:o}); nothing was sent. \
                     Fix with: chmod 700 {}",
                    dir.display(),
                    mode & 0o7777,
                    dir.display()
                ),
                Untrusted::Peer { uid, pid } => {
                    let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                    write!(
                        f,
                        "the process serving it{pid} runs as {}, not as you ({me}); another user \
                         may be impersonating ssoagentd, so nothing was sent",
                        describe_uid(*uid)
                    )
                }
                Untrusted::PeerUser { user, pid } => {
                    let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                    write!(
                        f,
                        "the process serving it{pid} runs as {user}, not as you; another user \
                         may be impersonating ssoagentd, so nothing was sent"
                    )
                }
                Untrusted::PeerUnknown { reason } => write!(
                    f,
                    "cannot tell which user serves it ({reason}); nothing was sent"
                ),
            };
        }
        match self.source.kind() {
            NotFound | ConnectionRefused => write!(
                f,
                "ssoagentd is not running (no daemon at {path}); start it with: ssoagentctl start \
                 (or: systemctl --user start ssoagentd)"
            ),
            PermissionDenied => write!(
                f,
                "cannot connect to ssoagentd at {path}: permission denied (the socket belongs to another user?)"
            ),
            _ => write!(f, "cannot connect to ssoagentd at {path}: {}", self.source),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Who serves the socket, as the kernel reports it for the connected client-side socket
/// (`SO_PEERCRED` on Linux, `getpeereid`/`LOCAL_PEERPID` on macOS). [`connect_checked`] has
/// already verified that `uid` is ours. On Windows `uid` is 0 and the pipe server's user SID
/// was checked instead (`GetNamedPipeServerProcessId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub uid: u32,
    /// The pid the kernel recorded for the listening socket: the process that called
    /// `listen()`. For a daemon that bound its own socket that is ssoagentd itself; under socket
    /// activation (systemd, `systemd-socket-activate`) it is the process that holds the socket
    /// (e.g. `systemd --user`), not the daemon. Unlike a pid in an RPC answer, it cannot be
    /// forged by whoever serves the socket.
    pub pid: Option<i32>,
}

impl PeerInfo {
    /// The pid, when it is one a caller may signal: never 0, 1 or negative (`kill(0, ..)` hits
    /// our process group, `kill(-1, ..)` every process we may signal, 1 is init). Callers such as
    /// `ssoagentctl stop` should still make sure it is the daemon (it is not under socket
    /// activation, see [`PeerInfo::pid`]).
    pub fn signalable_pid(&self) -> Option<i32> {
        self.pid.filter(|&p| p > 1)
    }
}

/// The socket path: `$SSOAGENT_SOCKET`, else [`default_socket_path`].
pub fn socket_path() -> PathBuf {
    match env::var_os("SSOAGENT_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => default_socket_path(),
    }
}

/// `\\.\pipe\ssoagent-<user>`.
#[cfg(windows)]
pub fn default_socket_path() -> PathBuf {
    crate::pipe::default_pipe_name()
}

/// The longest socket path the platform takes (`sun_path` less its NUL).
#[cfg(unix)]
const MAX_SOCKET_PATH: usize = if cfg!(target_os = "linux") { 107 } else { 103 };

/// `$XDG_RUNTIME_DIR/ssoagent/agent.sock`; without `XDG_RUNTIME_DIR` a private directory of
/// the user's own, never a shared `/tmp` name another user could take first:
/// `<state dir>/run/agent.sock` (state dir: `$SSOAGENT_STATE_DIR`, else `$XDG_STATE_HOME/ssoagent`,
/// else `~/.local/state/ssoagent`; on macOS `~/Library/Application Support/ssoagent`), or
/// `~/.ssoagent/agent.sock` where that path would be too long for a socket. The daemon creates
/// the missing directories 0700.
#[cfg(unix)]
pub fn default_socket_path() -> PathBuf {
    let var = |name: &str| {
        env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = var("HOME").or_else(|| home_of(my_uid()));
    choose_default_socket(
        var("XDG_RUNTIME_DIR").as_deref(),
        var("SSOAGENT_STATE_DIR").as_deref(),
        var("XDG_STATE_HOME").as_deref(),
        home.as_deref(),
        my_uid(),
    )
}

/// [`default_socket_path`] from its inputs (unit-tested).
#[cfg(unix)]
fn choose_default_socket(
    runtime_dir: Option<&Path>,
    state_dir: Option<&Path>,
    xdg_state_home: Option<&Path>,
    home: Option<&Path>,
    uid: u32,
) -> PathBuf {
    const SOCKET: &str = "agent.sock";
    // The XDG spec: relative values are invalid and ignored.
    if let Some(d) = runtime_dir.filter(|d| d.is_absolute()) {
        return d.join("ssoagent").join(SOCKET);
    }
    let home = home.filter(|h| h.is_absolute());
    let state = state_dir.map(Path::to_path_buf).or_else(|| {
        if cfg!(target_os = "macos") {
            home.map(|h| h.join("Library/Application Support/ssoagent"))
        } else {
            xdg_state_home
                .filter(|d| d.is_absolute())
                .map(Path::to_path_buf)
                .or_else(|| home.map(|h| h.join(".local/state")))
                .map(|d| d.join("ssoagent"))
        }
    });
    if let Some(p) = state.map(|s| s.join("run").join(SOCKET))
        && p.as_os_str().len() <= MAX_SOCKET_PATH
    {
        return p;
    }
    match home {
        Some(h) => h.join(".ssoagent").join(SOCKET),
        // No home at all: the login manager's runtime dir, if there is one (it is the user's
        // own); otherwise the connect fails and the daemon cannot create it. Never /tmp.
        None => PathBuf::from(format!("/run/user/{uid}/ssoagent/{SOCKET}")),
    }
}

/// Connects to the daemon at `path`. One HTTP/2 connection; no retries (callers decide).
/// The same checks as [`connect_checked`]; use that one to learn who serves the socket.
pub async fn connect(path: &Path) -> Result<Channel, ConnectError> {
    #[cfg(unix)]
    return connect_checked(path).await.map(|(channel, _)| channel);
    #[cfg(windows)]
    return crate::pipe::connect_checked(path)
        .await
        .map(|(channel, _)| channel);
}

/// Connects to the daemon at `path` after making sure, before a single byte is sent, that it
/// is ours: the socket's directory is a real directory owned by our uid and closed to group
/// and others, and the process serving the socket runs as our uid (its peer credentials).
/// Otherwise a [`ConnectError`] with [`ConnectError::untrusted`] set, whose message names the
/// owner found. The checks run again whenever the channel reconnects; the [`PeerInfo`] is the
/// first connection's.
///
/// `ssoagentctl stop` should take the daemon's pid from here (see [`PeerInfo::signalable_pid`])
/// rather than from an RPC answer.
#[cfg(unix)]
pub async fn connect_checked(path: &Path) -> Result<(Channel, PeerInfo), ConnectError> {
    let me = my_uid();
    check_socket_dir(path)?;
    connect_vetted(path, move |stream: &Stream| check_peer(stream, me)).await
}

/// A channel whose every connection is first put to `check` (the platform's check of who
/// serves the socket or pipe), before a byte is sent: a refusal fails the connect with
/// [`ConnectError::untrusted`] set. The [`PeerInfo`] is the first connection's.
pub(crate) async fn connect_vetted<F>(
    path: &Path,
    check: F,
) -> Result<(Channel, PeerInfo), ConnectError>
where
    F: Fn(&Stream) -> Result<PeerInfo, Untrusted> + Send + Sync + 'static,
{
    use std::sync::{Arc, Mutex};

    let check = Arc::new(check);
    let seen: Arc<Mutex<Option<Result<PeerInfo, Untrusted>>>> = Arc::default();
    let slot = Arc::clone(&seen);
    let channel = connect_channel(path, move |stream: &Stream| {
        let verdict = check(stream);
        let ok = verdict.is_ok();
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(verdict);
        if ok {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "served by another user",
            ))
        }
    })
    .await;
    let verdict = seen.lock().unwrap_or_else(|e| e.into_inner()).take();
    match (channel, verdict) {
        (Ok(channel), Some(Ok(peer))) => Ok((channel, peer)),
        (_, Some(Err(why))) => Err(ConnectError::refused(path, why)),
        (Err(e), _) => Err(e),
        // Connected without the check having run: cannot happen; fail closed.
        (Ok(_), None) => Err(ConnectError::refused(
            path,
            Untrusted::PeerUnknown {
                reason: "nobody checked who serves it".into(),
            },
        )),
    }
}

/// One HTTP/2 channel whose connector opens the transport, lets `vet` inspect the fresh stream
/// (before anything is written to it) and only then hands it to hyper.
async fn connect_channel<F>(path: &Path, vet: F) -> Result<Channel, ConnectError>
where
    F: Fn(&Stream) -> std::io::Result<()> + Clone + Send + Sync + 'static,
{
    let owned = path.to_path_buf();
    // The URI is a placeholder: the connector below decides where bytes go.
    let endpoint = Endpoint::from_static("http://ssoagentd.invalid");
    endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let path = owned.clone();
            let vet = vet.clone();
            async move {
                #[cfg(unix)]
                let stream = tokio::net::UnixStream::connect(path).await?;
                #[cfg(windows)]
                let stream = crate::pipe::open(&path).await?;
                vet(&stream)?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| ConnectError::io(path, io_cause(&e)))
}

#[cfg(unix)]
pub(crate) type Stream = tokio::net::UnixStream;
#[cfg(windows)]
pub(crate) type Stream = tokio::net::windows::named_pipe::NamedPipeClient;

#[cfg(unix)]
use crate::fsutil::uid as my_uid;

/// The socket's directory must be a real directory (not a symlink), ours, mode `0?00`
/// ([`fsutil::check_private_dir`]). A missing directory is a missing daemon (`NotFound`), not
/// an attack.
#[cfg(unix)]
fn check_socket_dir(socket: &Path) -> Result<(), ConnectError> {
    use crate::fsutil::{PrivateDirError, check_private_dir};

    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let why = match check_private_dir(dir) {
        Ok(()) => return Ok(()),
        Err(PrivateDirError::Io { source, .. }) => return Err(ConnectError::io(socket, source)),
        Err(PrivateDirError::NotADirectory(dir)) => Untrusted::DirNotADirectory { dir },
        Err(PrivateDirError::Owner { dir, owner, .. }) => Untrusted::DirOwner { dir, uid: owner },
        Err(PrivateDirError::Open { dir, mode }) => Untrusted::DirMode { dir, mode },
    };
    Err(ConnectError::refused(socket, why))
}

/// Who listens on the other end of `stream` (the kernel's word, not the server's).
#[cfg(unix)]
fn check_peer(stream: &impl std::os::fd::AsRawFd, me: u32) -> Result<PeerInfo, Untrusted> {
    let peer = crate::peercred::of(stream.as_raw_fd()).map_err(|e| Untrusted::PeerUnknown {
        reason: e.to_string(),
    })?;
    if peer.uid == me {
        Ok(peer)
    } else {
        Err(Untrusted::Peer {
            uid: peer.uid,
            pid: peer.pid,
        })
    }
}

/// The blocking twin of [`connect_checked`], for `ssoagent-cred`'s one call (see
/// [`crate::unary`]): the same directory and peer checks, before a byte is sent.
#[cfg(unix)]
pub fn connect_blocking(
    path: &Path,
) -> Result<(std::os::unix::net::UnixStream, PeerInfo), ConnectError> {
    check_socket_dir(path)?;
    let stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|e| ConnectError::io(path, e))?;
    let peer = check_peer(&stream, my_uid()).map_err(|why| ConnectError::refused(path, why))?;
    Ok((stream, peer))
}

/// A `passwd` entry's name and home directory (NSS: files, LDAP, ...). Only on error paths and
/// when `HOME` is unset, so the shim's common path never pays for it.
#[cfg(unix)]
fn passwd(uid: u32) -> Option<(String, PathBuf)> {
    use std::{ffi::CStr, os::unix::ffi::OsStrExt};

    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: a zeroed passwd (integers and null pointers) is a valid out-parameter.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf.len()` is the buffer's length.
        let rc = unsafe {
            libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found)
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || found.is_null() || pw.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success both strings are NUL-terminated inside `buf`, which outlives them.
        let name = unsafe { CStr::from_ptr(pw.pw_name) }
            .to_string_lossy()
            .into_owned();
        let home = if pw.pw_dir.is_null() {
            PathBuf::new()
        } else {
            // SAFETY: as above.
            let bytes = unsafe { CStr::from_ptr(pw.pw_dir) }.to_bytes();
            PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
        };
        return Some((name, home));
    }
}

#[cfg(unix)]
fn user_name(uid: u32) -> Option<String> {
    passwd(uid).map(|(name, _)| name).filter(|n| !n.is_empty())
}

#[cfg(unix)]
fn home_of(uid: u32) -> Option<PathBuf> {
    passwd(uid)
        .map(|(_, home)| home)
        .filter(|h| h.is_absolute())
}

#[cfg(windows)]
fn my_uid() -> u32 {
    0
}

#[cfg(windows)]
fn user_name(_uid: u32) -> Option<String> {
    None
}

/// Digs the io::Error out of tonic's transport error, so the message can say what happened.
fn io_cause(err: &(dyn std::error::Error + 'static)) -> std::io::Error {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return std::io::Error::new(io.kind(), io.to_string());
        }
        cur = e.source();
    }
    std::io::Error::other(err.to_string())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    use super::*;

    fn choose(
        runtime: Option<&str>,
        state: Option<&str>,
        xdg_state: Option<&str>,
        home: Option<&str>,
    ) -> PathBuf {
        choose_default_socket(
            runtime.map(Path::new),
            state.map(Path::new),
            xdg_state.map(Path::new),
            home.map(Path::new),
            1000,
        )
    }

    #[test]
    fn the_runtime_dir_comes_first() {
        assert_eq!(
            choose(Some("/run/user/1000"), Some("/s"), None, Some("/home/a")),
            Path::new("/run/user/1000/ssoagent/agent.sock")
        );
        // A relative XDG_RUNTIME_DIR is invalid (XDG spec): ignored.
        assert_eq!(
            choose(Some("rel"), Some("/s"), None, Some("/home/a")),
            Path::new("/s/run/agent.sock")
        );
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn without_a_runtime_dir_the_socket_is_under_the_users_own_dirs() {
        assert_eq!(
            choose(None, None, None, Some("/home/a")),
            Path::new("/home/a/.local/state/ssoagent/run/agent.sock")
        );
        assert_eq!(
            choose(None, None, Some("/home/a/st"), Some("/home/a")),
            Path::new("/home/a/st/ssoagent/run/agent.sock")
        );
        assert_eq!(
            choose(None, Some("/srv/me/state"), Some("/x"), Some("/home/a")),
            Path::new("/srv/me/state/run/agent.sock")
        );
        // Never a shared temp dir, whatever TMPDIR says.
        for p in [
            choose(None, None, None, Some("/home/a")),
            choose(None, None, None, None),
        ] {
            assert!(!p.starts_with(std::env::temp_dir()), "{}", p.display());
            assert!(!p.starts_with("/tmp"), "{}", p.display());
        }
    }

    #[test]
    fn a_path_too_long_for_a_socket_falls_back_to_dot_ssoagent() {
        let long = format!("/home/a/{}", "d".repeat(100));
        assert_eq!(
            choose(None, Some(&long), None, Some("/home/a")),
            Path::new("/home/a/.ssoagent/agent.sock")
        );
        let fits = format!("/home/a/{}", "d".repeat(MAX_SOCKET_PATH - 23));
        let p = choose(None, Some(&fits), None, Some("/home/a"));
        assert_eq!(p.as_os_str().len(), MAX_SOCKET_PATH);
        assert!(p.starts_with(&fits));
        assert_eq!(
            choose(None, None, None, None),
            Path::new("/run/user/1000/ssoagent/agent.sock")
        );
    }

    /// A private scratch dir (the crate has no tempfile dependency).
    struct Scratch(PathBuf);
    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let p = std::env::temp_dir().join(format!(
                "ssoagent-client-test-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::DirBuilder::new().mode(0o700).create(&p).unwrap();
            Scratch(p)
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_missing_directory_means_no_daemon() {
        let s = Scratch::new("missing");
        let e = rt()
            .block_on(connect_checked(&s.0.join("nope/agent.sock")))
            .unwrap_err();
        assert!(e.daemon_absent(), "{e}");
        assert!(e.untrusted.is_none());
        assert!(e.to_string().contains("not running"), "{e}");
    }

    #[test]
    fn an_open_or_symlinked_directory_is_refused_before_connecting() {
        let s = Scratch::new("open");
        let dir = s.0.join("run");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sock = dir.join("agent.sock");
        let rt = rt();
        let _guard = rt.enter();
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let e = rt.block_on(connect_checked(&sock)).unwrap_err();
        assert_eq!(
            e.untrusted,
            Some(Untrusted::DirMode {
                dir: dir.clone(),
                mode: 0o755
            })
        );
        assert!(!e.daemon_absent());
        let msg = e.to_string();
        assert!(
            msg.contains("mode 755") && msg.contains("nothing was sent"),
            "{msg}"
        );
        // Nothing connected at all.
        let accepted = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(50), listener.accept()).await
        });
        assert!(
            accepted.is_err(),
            "the client connected to an open directory's socket"
        );

        let link = s.0.join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let e = rt
            .block_on(connect_checked(&link.join("agent.sock")))
            .unwrap_err();
        assert_eq!(e.untrusted, Some(Untrusted::DirNotADirectory { dir: link }));
    }

    #[test]
    fn our_own_listener_is_accepted_with_its_pid() {
        let s = Scratch::new("own");
        let sock = s.0.join("agent.sock");
        let rt = rt();
        let _guard = rt.enter();
        let _listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let (_channel, peer) = rt.block_on(connect_checked(&sock)).unwrap();
        assert_eq!(peer.uid, my_uid());
        assert_eq!(peer.pid, Some(std::process::id() as i32));
        assert_eq!(peer.signalable_pid(), peer.pid);
    }

    #[test]
    fn the_blocking_connect_makes_the_same_checks() {
        let s = Scratch::new("blocking");
        let sock = s.0.join("agent.sock");
        let e = connect_blocking(&sock).unwrap_err();
        assert!(e.daemon_absent(), "{e}");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let (_stream, peer) = connect_blocking(&sock).unwrap();
        assert_eq!(peer.uid, my_uid());
        assert_eq!(peer.pid, Some(std::process::id() as i32));
        std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o750)).unwrap();
        let e = connect_blocking(&sock).unwrap_err();
        assert!(
            matches!(e.untrusted, Some(Untrusted::DirMode { .. })),
            "{e}"
        );
    }

    #[test]
    fn pids_that_must_never_be_signalled() {
        for pid in [0, 1, -1, i32::MIN] {
            let p = PeerInfo {
                uid: 0,
                pid: Some(pid),
            };
            assert_eq!(p.signalable_pid(), None, "{pid}");
        }
        assert_eq!(PeerInfo { uid: 0, pid: None }.signalable_pid(), None);
    }

    #[test]
    fn the_owner_is_named() {
        let e = ConnectError::refused(
            Path::new("/tmp/x/agent.sock"),
            Untrusted::DirOwner {
                dir: "/tmp/x".into(),
                uid: 0,
            },
        );
        let msg = e.to_string();
        assert!(msg.contains("belongs to uid 0 (root)"), "{msg}");
        let e = ConnectError::refused(
            Path::new("/tmp/x/agent.sock"),
            Untrusted::Peer {
                uid: 4_000_000_000,
                pid: Some(42),
            },
        );
        let msg = e.to_string();
        assert!(
            msg.contains("(pid 42) runs as uid 4000000000,"),
            "an unknown uid has no name: {msg}"
        );
    }
}
