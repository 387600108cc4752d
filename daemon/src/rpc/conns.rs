//! The connections the gRPC server serves: accepted here, counted, and capped. At the cap the
//! least recently active connection is closed to make room (logged once per episode), so a
//! flood of idle or broken connections can neither exhaust the daemon's file descriptors nor
//! keep a fresh client out. Activity is any byte read or written; the server's HTTP/2
//! keepalive pings keep a live client (an unlock waiting on its human) active.

use std::{
    collections::HashMap,
    future::Future,
    io,
    os::fd::{AsRawFd, RawFd},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{UnixListener, UnixStream},
};
use tokio_stream::Stream;
use tonic::transport::server::{Connected, UdsConnectInfo};
use tracing::warn;

use crate::process::ConnCaller;

/// At most this many connections, whatever the file limit allows.
pub const MAX_CONNECTIONS: usize = 1024;
/// File descriptors kept free for everything else (store, AWS connections, log, and the
/// pidfds of up to 64 cached parents: `process`).
const FD_RESERVE: u64 = 128;

/// The connection cap for this process: [`MAX_CONNECTIONS`], or fewer when the open-files
/// limit is lower (after raising the soft limit as far as the hard one allows).
pub fn cap() -> usize {
    let soft = crate::platform::raise_open_files_limit(MAX_CONNECTIONS as u64 + FD_RESERVE);
    (soft.saturating_sub(FD_RESERVE) as usize).clamp(16, MAX_CONNECTIONS)
}

/// The live connections.
pub struct Conns {
    cap: usize,
    epoch: Instant,
    live: Mutex<Live>,
    /// The cap was reached and not yet relieved (below half of it): log once per episode.
    at_cap: AtomicBool,
}

#[derive(Default)]
struct Live {
    next: u64,
    by_id: HashMap<u64, Arc<ConnState>>,
}

struct ConnState {
    fd: RawFd,
    /// Milliseconds since `epoch` of the last byte read or written.
    last: AtomicU64,
}

impl Conns {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            epoch: Instant::now(),
            live: Mutex::default(),
            at_cap: AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Counts a new connection in, closing the idlest ones first when at the cap.
    fn admit(self: &Arc<Self>, stream: UnixStream, info: ConnInfo) -> Conn {
        let state = Arc::new(ConnState {
            fd: stream.as_raw_fd(),
            last: AtomicU64::new(self.now()),
        });
        let mut live = self.live.lock().unwrap();
        while live.by_id.len() >= self.cap {
            if !self.at_cap.swap(true, Ordering::Relaxed) {
                warn!(
                    cap = self.cap,
                    "connection cap reached; closing the least recently active connections"
                );
            }
            let Some((&id, _)) = live
                .by_id
                .iter()
                .min_by_key(|(_, c)| c.last.load(Ordering::Relaxed))
            else {
                break;
            };
            let victim = live.by_id.remove(&id).expect("just found");
            // SAFETY: the fd is open: a connection leaves `live` (in Drop) before its stream
            // closes the fd, and we hold the lock. shutdown only ends the connection; the
            // stream's owner still closes the fd.
            unsafe { libc::shutdown(victim.fd, libc::SHUT_RDWR) };
        }
        let id = live.next;
        live.next += 1;
        live.by_id.insert(id, state.clone());
        Conn {
            stream,
            state,
            id,
            conns: self.clone(),
            info,
        }
    }

    fn leave(&self, id: u64) {
        let mut live = self.live.lock().unwrap();
        live.by_id.remove(&id);
        if live.by_id.len() < self.cap / 2 {
            self.at_cap.store(false, Ordering::Relaxed);
        }
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.live.lock().unwrap().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The accepted connections, as the server's incoming stream. Accepting happens in the
/// server's own task (no acceptor task handing connections over a channel: that hop cost a
/// thread wake-up per connection). Accept errors (EMFILE…) back off for a moment instead of
/// spinning.
pub struct Incoming {
    listener: UnixListener,
    conns: Arc<Conns>,
    /// Resolve each connection's caller as it is accepted (see [`Incoming::poll_next`]).
    resolve: bool,
    backoff: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How long accepting pauses after an accept error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub fn incoming(listener: UnixListener, conns: Arc<Conns>, resolve: bool) -> Incoming {
    Incoming {
        listener,
        conns,
        resolve,
        backoff: None,
    }
}

/// What the server will know of a connection, read once as it is accepted. When `resolve`,
/// its caller is resolved at once in a task of its own: the shim writes its whole request
/// right after `connect`, so `/proc` read here, inline, delayed every answer (audit + a rule
/// cost the shim +7.5 to +10.1 % in `ssoagent-bench --audit`); in a task, another worker
/// reads it while this connection's HTTP/2 is served (−3.8 to +2.1 % in six runs). A request
/// that comes first waits on the slot, or resolves itself (see [`ConnCaller::prime`]).
fn conn_info(stream: &UnixStream, resolve: bool) -> ConnInfo {
    let uds = stream.connect_info();
    let caller = Arc::new(ConnCaller::default());
    if resolve && let Some(cred) = uds.peer_cred {
        let (c, who) = (
            caller.clone(),
            crate::caller::Caller {
                uid: cred.uid(),
                pid: cred.pid(),
            },
        );
        tokio::spawn(async move { c.prime(&who) });
    }
    ConnInfo { uds, caller }
}

impl Stream for Incoming {
    type Item = io::Result<Conn>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(sleep) = self.backoff.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                self.backoff = None;
            }
            match ready!(self.listener.poll_accept(cx)) {
                Ok((stream, _)) => {
                    let info = conn_info(&stream, self.resolve);
                    return Poll::Ready(Some(Ok(self.conns.admit(stream, info))));
                }
                Err(e) => {
                    warn!(error = %e, "cannot accept a connection; retrying shortly");
                    self.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                }
            }
        }
    }
}

/// An accepted connection, counted until dropped.
pub struct Conn {
    stream: UnixStream,
    state: Arc<ConnState>,
    id: u64,
    conns: Arc<Conns>,
    info: ConnInfo,
}

impl Conn {
    fn touch(&self) {
        self.state.last.store(self.conns.now(), Ordering::Relaxed);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.conns.leave(self.id);
    }
}

/// What the server knows of a connection (tonic asks once per connection and hands a copy
/// to each of its requests): the peer's credentials, and its caller once resolved.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub uds: UdsConnectInfo,
    pub caller: Arc<ConnCaller>,
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At the cap, the least recently active connection is closed to let a new one in.
    #[tokio::test]
    async fn the_idlest_connection_makes_room() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = UnixListener::bind(&path).unwrap();
        let conns = Conns::new(2);
        let mut clients = Vec::new();
        let mut served = Vec::new();
        for _ in 0..2 {
            clients.push(UnixStream::connect(&path).await.unwrap());
            let s = listener.accept().await.unwrap().0;
            let info = conn_info(&s, false);
            served.push(conns.admit(s, info));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The first one speaks: the second is now the idlest.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        clients[0].write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        served[0].read_exact(&mut b).await.unwrap();
        clients.push(UnixStream::connect(&path).await.unwrap());
        let s = listener.accept().await.unwrap().0;
        let info = conn_info(&s, false);
        served.push(conns.admit(s, info));
        assert_eq!(conns.len(), 2);
        // The evicted one sees its end closed.
        let n = served[1].read(&mut b).await.unwrap();
        assert_eq!(n, 0, "the idlest connection was shut down");
        drop(served);
        assert!(conns.is_empty());
    }
}
