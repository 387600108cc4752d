//! The local transport to `ssoagentd`: a unix socket (owner-only), found the same way by the
//! daemon and every client. On Windows a named pipe (`pipe.rs`, not exercised on these Linux
//! machines).

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
}

impl ConnectError {
    /// Nobody listens there: no socket, or a stale one.
    pub fn daemon_absent(&self) -> bool {
        matches!(
            self.source.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
        )
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::io::ErrorKind::*;
        let path = self.path.display();
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

/// The socket path: `$SSOAGENT_SOCKET`, else [`default_socket_path`].
pub fn socket_path() -> PathBuf {
    match env::var_os("SSOAGENT_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => default_socket_path(),
    }
}

/// `$XDG_RUNTIME_DIR/ssoagent/agent.sock`, else `$TMPDIR/ssoagent-$UID/agent.sock`;
/// on Windows `\\.\pipe\ssoagent-<user>`.
#[cfg(windows)]
pub fn default_socket_path() -> PathBuf {
    crate::pipe::default_pipe_name()
}

/// `$XDG_RUNTIME_DIR/ssoagent/agent.sock`, else `$TMPDIR/ssoagent-$UID/agent.sock`.
#[cfg(unix)]
pub fn default_socket_path() -> PathBuf {
    match env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => Path::new(&d).join("ssoagent").join("agent.sock"),
        _ => {
            let uid = crate::fsutil::uid();
            env::temp_dir()
                .join(format!("ssoagent-{uid}"))
                .join("agent.sock")
        }
    }
}

/// Connects to the daemon at `path`. One HTTP/2 connection; no retries (callers decide).
pub async fn connect(path: &Path) -> Result<Channel, ConnectError> {
    let owned = path.to_path_buf();
    // The URI is a placeholder: the connector below decides where bytes go.
    let endpoint = Endpoint::from_static("http://ssoagentd.invalid");
    endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let path = owned.clone();
            async move {
                #[cfg(unix)]
                let stream = tokio::net::UnixStream::connect(path).await?;
                #[cfg(windows)]
                let stream = crate::pipe::connect(&path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| ConnectError {
            path: path.to_path_buf(),
            source: io_cause(&e),
        })
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
