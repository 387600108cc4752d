//! One unary gRPC call on a fresh connection, on this thread: what `ssoagent-cred` does on
//! every AWS CLI call.
//!
//! The call is HTTP/2 written and read here (the frames in [`frame`], HPACK in [`hpack`] and
//! [`huffman`]): the request leaves in one `write` (preface, settings, window, headers and
//! message), and frames are read until the answer's trailers carry its gRPC status. The h2
//! crate did this before, driven without a runtime; in a fresh process its connection
//! machinery, and the startup of the larger binary it made, cost more than the round trip to
//! the daemon: `ssoagent-bench` section 1 measured the shim at 1.29–1.55× a `cat` of the same
//! JSON with h2, 1.12–1.15× with this. The daemon still speaks HTTP/2 through tonic, so what
//! this reads is ordinary HTTP/2, taken in any legal form (padding, CONTINUATION, indexed and
//! Huffman-coded headers, pings, any number of reads).
//!
//! `ssoagentctl` keeps tonic's `Channel` (streams, several calls per connection).

mod frame;
mod hpack;
mod huffman;

use std::{
    io::{self, Read, Write},
    os::unix::net::UnixStream,
    time::{Duration, Instant},
};

use prost::Message;
use tonic::{Code, Status};

use frame::Frame;

/// Largest answer taken (the daemon's answers to the shim are well under 4 KiB).
const MAX_RESPONSE: usize = 1 << 20;
/// The receive window the client opens for its one stream and the connection, so the largest
/// answer never waits for a WINDOW_UPDATE.
const WINDOW: u32 = 2 << 20;
/// HTTP/2's initial window, which the client's request must fit (it never waits for more).
const DEFAULT_WINDOW: usize = 65_535;
/// Largest header block taken (HEADERS and its CONTINUATION frames together).
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// The `:authority` sent: the daemon serves one host, and this name resolves nowhere.
const AUTHORITY: &str = "ssoagentd.invalid";

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
    let mut conn = Conn::new(stream, Instant::now() + timeout);
    conn.send(&request(path, req)?)?;
    let mut answer = Answer::default();
    let mut replies = Vec::new();
    loop {
        conn.read_more()?;
        while let Some((frame, used)) = frame::parse(conn.unread()).map_err(protocol)? {
            let done = answer.take(&frame, &mut replies)?;
            conn.consume(used);
            if let Some(body) = done {
                return unframe(&body);
            }
        }
        if !replies.is_empty() {
            // Acknowledgements only: a daemon that has gone by now still answers or hangs up.
            let _ = conn.send(&replies);
            replies.clear();
        }
    }
}

/// The whole request: preface, SETTINGS (no push, a large window), the connection's
/// WINDOW_UPDATE, HEADERS and the message in DATA frames ending the stream.
fn request(path: &str, req: &impl Message) -> Result<Vec<u8>, Status> {
    let body = grpc_frame(req);
    if body.len() > DEFAULT_WINDOW {
        return Err(Status::out_of_range("the request is too large"));
    }
    let mut out = Vec::with_capacity(160 + body.len());
    out.extend_from_slice(frame::PREFACE);
    let mut settings = Vec::with_capacity(12);
    for (id, value) in [
        (frame::ENABLE_PUSH, 0),
        (frame::INITIAL_WINDOW_SIZE, WINDOW),
    ] {
        settings.extend_from_slice(&id.to_be_bytes());
        settings.extend_from_slice(&value.to_be_bytes());
    }
    frame::put(&mut out, frame::SETTINGS, 0, 0, &settings);
    let grow = WINDOW - DEFAULT_WINDOW as u32;
    frame::put(&mut out, frame::WINDOW_UPDATE, 0, 0, &grow.to_be_bytes());

    let mut block = Vec::with_capacity(96 + path.len());
    hpack::put_indexed(&mut block, 3); // :method POST
    hpack::put_indexed(&mut block, 6); // :scheme http
    hpack::put_literal(&mut block, 4, "", path); // :path
    hpack::put_literal(&mut block, 1, "", AUTHORITY); // :authority
    hpack::put_literal(&mut block, 31, "", "application/grpc"); // content-type
    hpack::put_literal(&mut block, 0, "te", "trailers");
    if block.len() > frame::MAX_FRAME {
        return Err(Status::out_of_range("the request's path is too long"));
    }
    frame::put(&mut out, frame::HEADERS, frame::END_HEADERS, 1, &block);

    let mut chunks = body.chunks(frame::MAX_FRAME).peekable();
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() {
            frame::END_STREAM
        } else {
            0
        };
        frame::put(&mut out, frame::DATA, flags, 1, chunk);
    }
    Ok(out)
}

/// The answer on stream 1, frame by frame.
#[derive(Default)]
struct Answer {
    hpack: hpack::Decoder,
    /// A header block being gathered from HEADERS and CONTINUATION frames.
    block: Vec<u8>,
    in_block: bool,
    block_ends_stream: bool,
    /// The response headers have been read; the next block is the trailers.
    headed: bool,
    body: Vec<u8>,
}

impl Answer {
    /// Takes one frame; `Some(body)` once the trailers said OK. Frames the client must answer
    /// (SETTINGS, PING) get their acknowledgement appended to `replies`.
    fn take(&mut self, f: &Frame<'_>, replies: &mut Vec<u8>) -> Result<Option<Vec<u8>>, Status> {
        if self.in_block && !(f.kind == frame::CONTINUATION && f.stream == 1) {
            return Err(protocol_msg("a header block was interrupted"));
        }
        match f.kind {
            frame::SETTINGS if f.flags & frame::ACK == 0 => {
                if f.stream != 0 || !f.payload.len().is_multiple_of(6) {
                    return Err(protocol_msg("a malformed SETTINGS frame"));
                }
                frame::put(replies, frame::SETTINGS, frame::ACK, 0, &[]);
            }
            frame::PING if f.flags & frame::ACK == 0 => {
                frame::put(replies, frame::PING, frame::ACK, 0, f.payload);
            }
            frame::GOAWAY => match f.error_code() {
                // The daemon will still finish stream 1.
                Some((_, last)) if last >= 1 => {}
                Some((code, _)) => {
                    return Err(transport_msg(&format!(
                        "ssoagentd turned the call away (HTTP/2 error {code})"
                    )));
                }
                None => return Err(protocol_msg("a malformed GOAWAY frame")),
            },
            frame::PUSH_PROMISE => return Err(protocol_msg("a push the client disabled")),
            frame::RST_STREAM if f.stream == 1 => return Err(reset(f)),
            frame::HEADERS if f.stream == 1 => {
                self.block_ends_stream = f.flags & frame::END_STREAM != 0;
                return self.gather(f);
            }
            frame::CONTINUATION if self.in_block => return self.gather(f),
            frame::DATA if f.stream == 1 => {
                if !self.headed {
                    return Err(protocol_msg("data before the answer's headers"));
                }
                let data = f.content().map_err(protocol)?;
                if self.body.len() + data.len() > MAX_RESPONSE {
                    return Err(Status::out_of_range("ssoagentd's answer is too large"));
                }
                self.body.extend_from_slice(data);
                if f.flags & frame::END_STREAM != 0 {
                    return Err(no_status());
                }
            }
            // WINDOW_UPDATE, PRIORITY, acknowledgements, frames of unknown types.
            _ => {}
        }
        Ok(None)
    }

    /// One HEADERS or CONTINUATION frame's share of a header block.
    fn gather(&mut self, f: &Frame<'_>) -> Result<Option<Vec<u8>>, Status> {
        let part = if f.kind == frame::HEADERS {
            f.content().map_err(protocol)?
        } else {
            f.payload
        };
        if self.block.len() + part.len() > MAX_HEADER_BLOCK {
            return Err(Status::out_of_range("ssoagentd's headers are too large"));
        }
        self.block.extend_from_slice(part);
        self.in_block = f.flags & frame::END_HEADERS == 0;
        if self.in_block {
            return Ok(None);
        }
        let block = std::mem::take(&mut self.block);
        let head = Head::decode(&mut self.hpack, &block)?;
        if !self.headed {
            self.headed = true;
            return self.headers(head);
        }
        if !self.block_ends_stream {
            return Err(protocol_msg("trailers that do not end the stream"));
        }
        match head.grpc_status {
            None => Err(no_status()),
            Some(status) => check(status).map(|()| Some(std::mem::take(&mut self.body))),
        }
    }

    /// The response headers: HTTP 200, and an error's gRPC status when it comes in them
    /// ("trailers-only").
    fn headers(&mut self, head: Head) -> Result<Option<Vec<u8>>, Status> {
        if head.http_status.as_deref() != Some("200") {
            let code = head.http_status.as_deref().unwrap_or("without a status");
            return Err(Status::unknown(format!("ssoagentd answered HTTP {code}")));
        }
        match head.grpc_status {
            Some(status) => {
                check(status)?;
                if self.block_ends_stream {
                    return Err(Status::internal("ssoagentd's answer holds no message"));
                }
            }
            None if self.block_ends_stream => return Err(no_status()),
            None => {}
        }
        Ok(None)
    }
}

/// What the client reads in a header block.
struct Head {
    http_status: Option<String>,
    grpc_status: Option<Status>,
}

impl Head {
    fn decode(hpack: &mut hpack::Decoder, block: &[u8]) -> Result<Self, Status> {
        let (mut http_status, mut code, mut message) = (None, None, None);
        hpack
            .decode(block, |name, value| match name {
                b":status" => http_status = Some(String::from_utf8_lossy(value).into_owned()),
                b"grpc-status" => code = Some(value.to_vec()),
                b"grpc-message" => message = Some(percent_decode(value)),
                _ => {}
            })
            .map_err(|e| protocol_msg(e.0))?;
        let grpc_status = code.map(|code| {
            let message = message.unwrap_or_default();
            match std::str::from_utf8(&code)
                .ok()
                .and_then(|c| c.parse::<i32>().ok())
            {
                Some(code) => Status::new(Code::from_i32(code), message),
                None => {
                    Status::unknown(format!("ssoagentd sent an invalid grpc-status: {message}"))
                }
            }
        });
        Ok(Self {
            http_status,
            grpc_status,
        })
    }
}

/// gRPC's `grpc-message` is percent-encoded UTF-8.
fn percent_decode(value: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let decoded = match value.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(value[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn check(status: Status) -> Result<(), Status> {
    if status.code() == Code::Ok {
        Ok(())
    } else {
        Err(status)
    }
}

fn no_status() -> Status {
    Status::internal("ssoagentd's answer has no gRPC status")
}

fn reset(f: &Frame<'_>) -> Status {
    match f.error_code() {
        Some((frame::REFUSED_STREAM, _)) => Status::unavailable("ssoagentd is busy; try again"),
        Some((code, _)) => {
            transport_msg(&format!("ssoagentd reset the call (HTTP/2 error {code})"))
        }
        None => protocol_msg("a malformed RST_STREAM frame"),
    }
}

/// The connection, read into one buffer that holds at least the frame being read.
struct Conn {
    stream: UnixStream,
    deadline: Instant,
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet taken.
    start: usize,
    end: usize,
}

impl Conn {
    fn new(stream: UnixStream, deadline: Instant) -> Self {
        Self {
            stream,
            deadline,
            buf: vec![0; 4096],
            start: 0,
            end: 0,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
    }

    fn left(&self) -> Result<Duration, Status> {
        match self.deadline.saturating_duration_since(Instant::now()) {
            d if d.is_zero() => Err(Status::deadline_exceeded(
                "ssoagentd did not answer in time",
            )),
            d => Ok(d),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Status> {
        self.stream
            .set_write_timeout(Some(self.left()?))
            .map_err(transport)?;
        self.stream.write_all(bytes).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Status::deadline_exceeded("ssoagentd did not answer in time")
            }
            _ => transport(e),
        })
    }

    /// Reads what the daemon has sent, waiting for it until the deadline.
    fn read_more(&mut self) -> Result<(), Status> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // A frame larger than the buffer: room for the largest one allowed.
            self.buf.resize(9 + frame::MAX_FRAME, 0);
        }
        loop {
            self.stream
                .set_read_timeout(Some(self.left()?))
                .map_err(transport)?;
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    return Err(transport_msg(
                        "ssoagentd closed the connection before it answered",
                    ));
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(transport(e)),
            }
        }
    }
}

/// A gRPC message: compression flag 0, big-endian length, the protobuf bytes.
fn grpc_frame(msg: &impl Message) -> Vec<u8> {
    let len = msg.encoded_len();
    let mut buf = Vec::with_capacity(5 + len);
    buf.push(0);
    buf.extend_from_slice(&(len as u32).to_be_bytes());
    msg.encode(&mut buf).expect("a Vec grows");
    buf
}

fn unframe<Resp: Message + Default>(buf: &[u8]) -> Result<Resp, Status> {
    let Some((head, msg)) = buf.split_at_checked(5) else {
        return Err(Status::internal("ssoagentd's answer holds no message"));
    };
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if head[0] != 0 || len != msg.len() {
        return Err(Status::internal(
            "ssoagentd's answer is not one plain gRPC message",
        ));
    }
    Resp::decode(msg).map_err(|e| Status::internal(format!("ssoagentd's answer: {e}")))
}

fn transport(e: io::Error) -> Status {
    transport_msg(&e.to_string())
}

fn transport_msg(msg: &str) -> Status {
    Status::unavailable(format!("transport error: {msg}"))
}

fn protocol(e: frame::Invalid) -> Status {
    protocol_msg(e.0)
}

/// The daemon's HTTP/2 was not HTTP/2: a transport error, as the connection is unusable.
fn protocol_msg(what: &str) -> Status {
    transport_msg(&format!("ssoagentd's answer is not valid HTTP/2 ({what})"))
}

#[cfg(test)]
mod tests;
