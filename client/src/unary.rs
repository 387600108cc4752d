//! One unary gRPC call on a fresh connection, without an async runtime: what `ssoagent-cred`
//! does on every AWS CLI call.
//!
//! The HTTP/2 framing and HPACK are the `h2` crate's (the one under hyper and tonic); gRPC's
//! part is a 5-byte length prefix around a prost message, and the status is read from the
//! headers or trailers with tonic's own `Status::from_header_map`. What this module adds is only
//! the driving: the socket is non-blocking, the call and the connection are polled together on
//! this thread, and between polls the thread waits in `poll(2)` on the socket. That skips
//! building and dropping a tokio runtime, tonic's channel (a tower buffer and its worker task)
//! and hyper's client: measured in a fresh process they cost more than the call itself.
//!
//! `ssoagentctl` keeps tonic's `Channel` (streams, several calls per connection).

use std::{
    future::{Future, poll_fn},
    io::{self, Read, Write},
    os::{fd::AsRawFd, unix::net::UnixStream},
    pin::{Pin, pin},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
    time::{Duration, Instant},
};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use tonic::{Code, Status};

/// Largest answer taken (the daemon's answers to the shim are well under 4 KiB).
const MAX_RESPONSE: usize = 1 << 20;

/// Calls `path` (e.g. `/ssoagent.v1.Agent/GetCredentials`) with `req` on `stream`, a
/// connection already checked to be the daemon's. Waits at most `timeout` in all. Transport
/// failures come back as `Unavailable` statuses whose message starts with "transport error",
/// as tonic's do, so [`crate::exit`] maps both the same way.
pub fn call<Req, Resp>(
    stream: UnixStream,
    path: &'static str,
    req: &Req,
    timeout: Duration,
) -> Result<Resp, Status>
where
    Req: Message,
    Resp: Message + Default,
{
    stream.set_nonblocking(true).map_err(transport)?;
    let socket = Socket::new(stream);
    let io = Io(socket.clone());
    let deadline = Instant::now() + timeout;
    let body = frame(req);
    block_on(&socket, deadline, async move {
        let (client, connection) = h2::client::handshake(io).await.map_err(h2_error)?;
        let exchange = exchange::<Resp>(client, path, body);
        drive(exchange, connection).await
    })?
}

/// The request and its answer on one stream.
async fn exchange<Resp: Message + Default>(
    client: h2::client::SendRequest<Bytes>,
    path: &'static str,
    body: Bytes,
) -> Result<Resp, Status> {
    let mut client = client.ready().await.map_err(h2_error)?;
    let request = http::Request::post(format!("http://ssoagentd.invalid{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| Status::internal(format!("building the request: {e}")))?;
    let (answer, mut send) = client.send_request(request, false).map_err(h2_error)?;
    send.send_data(body, true).map_err(h2_error)?;
    let (head, mut body) = answer.await.map_err(h2_error)?.into_parts();
    if !head.status.is_success() {
        return Err(Status::unknown(format!(
            "ssoagentd answered HTTP {}",
            head.status
        )));
    }
    // A "trailers-only" answer (an error) has its status in the headers.
    if let Some(status) = Status::from_header_map(&head.headers) {
        check(status)?;
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(h2_error)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if buf.len() + chunk.len() > MAX_RESPONSE {
            return Err(Status::out_of_range("ssoagentd's answer is too large"));
        }
        buf.put(chunk);
    }
    let trailers = body.trailers().await.map_err(h2_error)?.unwrap_or_default();
    match Status::from_header_map(&trailers) {
        Some(status) => check(status)?,
        None => return Err(Status::internal("ssoagentd's answer has no gRPC status")),
    }
    unframe(buf.freeze())
}

/// Polls the exchange and the connection together until the exchange is done.
async fn drive<T>(
    exchange: impl Future<Output = Result<T, Status>>,
    connection: h2::client::Connection<Io, Bytes>,
) -> Result<T, Status> {
    let mut exchange = pin!(exchange);
    let mut connection = pin!(connection);
    let mut closed = false;
    poll_fn(|cx| {
        if let Poll::Ready(out) = exchange.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if closed {
            return Poll::Ready(Err(transport_msg(
                "ssoagentd closed the connection before it answered",
            )));
        }
        match connection.as_mut().poll(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(h2_error(e))),
            Poll::Ready(Ok(())) => {
                // The exchange may have finished on the connection's last poll.
                closed = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

fn check(status: Status) -> Result<(), Status> {
    if status.code() == Code::Ok {
        Ok(())
    } else {
        Err(status)
    }
}

/// A gRPC message: compression flag 0, big-endian length, the protobuf bytes.
fn frame(msg: &impl Message) -> Bytes {
    let len = msg.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    buf.put_u32(len as u32);
    msg.encode(&mut buf).expect("BytesMut grows");
    buf.freeze()
}

fn unframe<Resp: Message + Default>(mut buf: Bytes) -> Result<Resp, Status> {
    if buf.len() < 5 {
        return Err(Status::internal("ssoagentd's answer holds no message"));
    }
    let compressed = buf.get_u8();
    let len = buf.get_u32() as usize;
    if compressed != 0 || len != buf.len() {
        return Err(Status::internal(
            "ssoagentd's answer is not one plain gRPC message",
        ));
    }
    Resp::decode(buf).map_err(|e| Status::internal(format!("ssoagentd's answer: {e}")))
}

fn transport(e: io::Error) -> Status {
    transport_msg(&e.to_string())
}

fn transport_msg(msg: &str) -> Status {
    Status::unavailable(format!("transport error: {msg}"))
}

fn h2_error(e: h2::Error) -> Status {
    match e.reason() {
        Some(h2::Reason::REFUSED_STREAM) => Status::unavailable("ssoagentd is busy; try again"),
        _ => transport_msg(&e.to_string()),
    }
}

/// The socket as tokio's I/O traits, which h2 speaks. Reads never block: "would block" is
/// `Pending`, and [`block_on`] then waits for the socket in `poll(2)`. Writes are gathered and
/// sent by [`Socket::send_gathered`] only when the call cannot go on without an answer, so the
/// connection preface, settings and the whole request leave in one `write` and the daemon
/// wakes once for them.
struct Io(Arc<Socket>);

/// The socket shared by the I/O half h2 owns and the waiting loop.
struct Socket {
    stream: UnixStream,
    /// Bytes h2 wrote that are not sent yet.
    gathered: Mutex<Vec<u8>>,
}

impl Socket {
    fn new(stream: UnixStream) -> Arc<Self> {
        Arc::new(Self {
            stream,
            gathered: Mutex::new(Vec::with_capacity(512)),
        })
    }

    /// Sends what was gathered, as far as the socket takes it; `true` when bytes are left
    /// (wait until the socket is writable).
    fn send_gathered(&self) -> io::Result<bool> {
        let mut out = self.gathered.lock().unwrap_or_else(|e| e.into_inner());
        while !out.is_empty() {
            match (&self.stream).write(&out) {
                Ok(n) => drop(out.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            match (&self.0.stream).read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut out = self.0.gathered.lock().unwrap_or_else(|e| e.into_inner());
        if out.len() + data.len() > MAX_GATHERED {
            return Poll::Ready(Err(io::Error::other("request too large")));
        }
        out.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    /// Nothing to do here: [`block_on`] sends before it waits.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Far above a request (about 150 bytes), far below anything that could hurt.
const MAX_GATHERED: usize = 64 * 1024;

/// Set when anything wakes the future: it is polled again before the thread waits.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `fut` to completion on this thread, waiting in `poll(2)` on the socket whenever it is
/// pending and nothing woke it; fails once `deadline` passes.
fn block_on<T>(
    socket: &Socket,
    deadline: Instant,
    fut: impl Future<Output = T>,
) -> Result<T, Status> {
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        woken.0.store(false, Ordering::Release);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Ok(out);
        }
        if woken.0.load(Ordering::Acquire) {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Status::deadline_exceeded(
                "ssoagentd did not answer in time",
            ));
        }
        let mut events = libc::POLLIN;
        if socket.send_gathered().map_err(transport)? {
            events |= libc::POLLOUT;
        }
        let mut pfd = libc::pollfd {
            fd: socket.stream.as_raw_fd(),
            events,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, ms) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(transport(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().unwrap()
    }

    fn get(client: UnixStream, timeout: Duration) -> Result<crate::proto::Credentials, Status> {
        let req = crate::proto::GetCredentialsRequest {
            profile: "dev".into(),
        };
        call(client, "/ssoagent.v1.Agent/GetCredentials", &req, timeout)
    }

    #[test]
    fn a_daemon_that_hangs_up_is_a_transport_error() {
        let (client, server) = pair();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 24];
            (&server).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            drop(server);
        });
        let e = get(client, Duration::from_secs(10)).unwrap_err();
        t.join().unwrap();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(e.message().starts_with("transport error"), "{e:?}");
        assert_eq!(crate::exit::for_status(&e), crate::exit::UNREACHABLE);
    }

    #[test]
    fn garbage_from_the_daemon_is_an_error_not_a_hang() {
        let (client, server) = pair();
        let t = std::thread::spawn(move || {
            (&server)
                .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                .unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        let e = get(client, Duration::from_secs(10)).unwrap_err();
        assert_ne!(e.code(), Code::Ok);
        t.join().unwrap();
    }

    #[test]
    fn a_silent_daemon_runs_into_the_deadline() {
        let (client, _server) = pair();
        let start = Instant::now();
        let e = get(client, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
        assert!(start.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn a_message_survives_framing() {
        let req = crate::proto::GetCredentialsRequest {
            profile: "dev".into(),
        };
        let framed = frame(&req);
        assert_eq!(&framed[..5], &[0, 0, 0, 0, req.encoded_len() as u8]);
        let back: crate::proto::GetCredentialsRequest = unframe(framed).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn a_short_or_compressed_answer_is_refused() {
        assert!(unframe::<crate::proto::Credentials>(Bytes::from_static(&[0, 0])).is_err());
        assert!(
            unframe::<crate::proto::Credentials>(Bytes::from_static(&[1, 0, 0, 0, 0])).is_err()
        );
        assert!(
            unframe::<crate::proto::Credentials>(Bytes::from_static(&[0, 0, 0, 0, 9])).is_err()
        );
    }
}
