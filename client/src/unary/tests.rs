//! The unary call against a real HTTP/2 server and against scripted, broken ones.

use super::*;
use crate::proto::{Credentials, GetCredentialsRequest};

fn get(client: UnixStream, timeout: Duration) -> Result<Credentials, Status> {
    let req = GetCredentialsRequest {
        profile: "dev".into(),
    };
    call(client, "/ssoagent.v1.Agent/GetCredentials", &req, timeout)
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: "secret".into(),
        session_token: "token".repeat(200),
        expiration: "2026-12-01T22:00:00Z".into(),
        region: "eu-west-1".into(),
    }
}

/// What a gRPC server does with a message: percent-encode it (here every byte but letters and
/// digits, more than tonic does, which the decoding must take too).
fn percent(msg: &str) -> String {
    percent_encoding::utf8_percent_encode(msg, percent_encoding::NON_ALPHANUMERIC).to_string()
}

enum Reply {
    Ok(Credentials),
    /// An error status in the trailers after the headers (not trailers-only).
    Error(i32, String),
    TrailersOnly(i32, String),
    Refuse,
}

/// A real HTTP/2 server (the h2 crate, the one under tonic) on the other end of a pair,
/// answering each request with `reply` and checking what the client sent.
fn h2_server(reply: Reply) -> (UnixStream, std::thread::JoinHandle<()>) {
    let (client, server) = UnixStream::pair().unwrap();
    server.set_nonblocking(true).unwrap();
    let t = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let io = tokio::net::UnixStream::from_std(server).unwrap();
            let mut conn = h2::server::handshake(io).await.unwrap();
            let (req, mut respond) = conn.accept().await.unwrap().unwrap();
            assert_eq!(req.uri().path(), "/ssoagent.v1.Agent/GetCredentials");
            assert_eq!(req.method(), http::Method::POST);
            assert_eq!(req.headers()["content-type"], "application/grpc");
            assert_eq!(req.headers()["te"], "trailers");
            let mut body = req.into_body();
            let mut got = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.unwrap();
                let _ = body.flow_control().release_capacity(chunk.len());
                got.extend_from_slice(&chunk);
            }
            let asked: GetCredentialsRequest = unframe(&got).unwrap();
            assert_eq!(asked.profile, "dev");
            let ok = http::Response::builder()
                .status(200)
                .header("content-type", "application/grpc");
            let trailers = |code: i32, msg: &str| {
                let mut t = http::HeaderMap::new();
                t.insert("grpc-status", code.to_string().parse().unwrap());
                t.insert("grpc-message", percent(msg).parse().unwrap());
                t
            };
            match reply {
                Reply::Ok(c) => {
                    let mut send = respond.send_response(ok.body(()).unwrap(), false).unwrap();
                    send.send_data(grpc_frame(&c).into(), false).unwrap();
                    send.send_trailers(trailers(0, "")).unwrap();
                }
                Reply::Error(code, msg) => {
                    let mut send = respond.send_response(ok.body(()).unwrap(), false).unwrap();
                    send.send_trailers(trailers(code, &msg)).unwrap();
                }
                Reply::TrailersOnly(code, msg) => {
                    let mut resp = ok.body(()).unwrap();
                    resp.headers_mut().extend(trailers(code, &msg));
                    respond.send_response(resp, true).unwrap();
                }
                Reply::Refuse => respond.send_reset(h2::Reason::REFUSED_STREAM),
            }
            // Serve the connection until the client hangs up.
            while conn.accept().await.is_some() {}
        });
    });
    (client, t)
}

#[test]
fn an_answer_from_a_real_http2_server_is_read() {
    let (client, t) = h2_server(Reply::Ok(creds()));
    assert_eq!(get(client, Duration::from_secs(10)).unwrap(), creds());
    t.join().unwrap();
}

#[test]
fn an_error_status_keeps_its_code_and_message() {
    let msg = "session work is locked: a human must run `ssoagentctl unlock work` — ünïcødé 100%";
    for reply in [
        Reply::Error(9, msg.to_string()),
        Reply::TrailersOnly(9, msg.to_string()),
    ] {
        let (client, t) = h2_server(reply);
        let e = get(client, Duration::from_secs(10)).unwrap_err();
        t.join().unwrap();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        assert_eq!(e.message(), msg);
        assert_eq!(crate::exit::for_status(&e), crate::exit::LOCKED);
    }
}

#[test]
fn a_refused_stream_says_the_daemon_is_busy() {
    let (client, t) = h2_server(Reply::Refuse);
    let e = get(client, Duration::from_secs(10)).unwrap_err();
    t.join().unwrap();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().contains("busy"), "{e:?}");
}

#[test]
fn the_request_leaves_in_one_write() {
    let req = GetCredentialsRequest {
        profile: "dev".into(),
    };
    let bytes = request("/ssoagent.v1.Agent/GetCredentials", &req).unwrap();
    assert!(bytes.starts_with(frame::PREFACE));
    let mut rest = &bytes[frame::PREFACE.len()..];
    let mut kinds = Vec::new();
    while let Some((f, n)) = frame::parse(rest).unwrap() {
        kinds.push((f.kind, f.flags));
        rest = &rest[n..];
    }
    assert!(rest.is_empty());
    assert_eq!(
        kinds,
        [
            (frame::SETTINGS, 0),
            (frame::WINDOW_UPDATE, 0),
            (frame::HEADERS, frame::END_HEADERS),
            (frame::DATA, frame::END_STREAM),
        ]
    );
    let huge = GetCredentialsRequest {
        profile: "p".repeat(70_000),
    };
    let e = request("/ssoagent.v1.Agent/GetCredentials", &huge).unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
}

/// A scripted server: reads the request, then writes `answer` as it is, and holds the
/// connection open a little.
fn scripted(answer: Vec<u8>) -> Result<Credentials, Status> {
    let (client, server) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let _ = (&server).read(&mut buf);
        let _ = (&server).write_all(&answer);
        std::thread::sleep(Duration::from_millis(200));
    });
    let out = get(client, Duration::from_secs(10));
    t.join().unwrap();
    out
}

fn headers_block(fields: &[(usize, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (index, value) in fields {
        hpack::put_literal(&mut b, *index, "", value);
    }
    b
}

/// Trailers that end stream 1 with grpc-status 0.
fn put_ok_trailers(out: &mut Vec<u8>) {
    let trailers = literal("grpc-status", "0");
    let flags = frame::END_HEADERS | frame::END_STREAM;
    frame::put(out, frame::HEADERS, flags, 1, &trailers);
}

fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut b = Vec::new();
    hpack::put_literal(&mut b, 0, name, value);
    b
}

#[test]
fn continuation_padding_and_pings_are_taken() {
    let mut out = Vec::new();
    frame::put(&mut out, frame::SETTINGS, 0, 0, &[]);
    frame::put(&mut out, frame::PING, 0, 0, &[1; 8]);
    // :status 200 split across HEADERS and CONTINUATION.
    let head = headers_block(&[(8, "200"), (31, "application/grpc")]);
    let (a, b) = head.split_at(3);
    frame::put(&mut out, frame::HEADERS, 0, 1, a);
    frame::put(&mut out, frame::CONTINUATION, frame::END_HEADERS, 1, b);
    // The message in two padded DATA frames.
    let msg = grpc_frame(&creds());
    let (a, b) = msg.split_at(7);
    for part in [a, b] {
        let mut p = vec![4];
        p.extend_from_slice(part);
        p.extend_from_slice(&[0; 4]);
        frame::put(&mut out, frame::DATA, frame::PADDED, 1, &p);
    }
    put_ok_trailers(&mut out);
    assert_eq!(scripted(out).unwrap(), creds());
}

#[test]
fn broken_answers_are_errors_not_hangs() {
    let ok_head = headers_block(&[(8, "200")]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("HTTP/1.1", b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
        ("HTTP 404", {
            let mut o = Vec::new();
            let h = headers_block(&[(8, "404")]);
            frame::put(
                &mut o,
                frame::HEADERS,
                frame::END_HEADERS | frame::END_STREAM,
                1,
                &h,
            );
            o
        }),
        ("no grpc-status", {
            let mut o = Vec::new();
            frame::put(&mut o, frame::HEADERS, frame::END_HEADERS, 1, &ok_head);
            frame::put(
                &mut o,
                frame::DATA,
                frame::END_STREAM,
                1,
                &grpc_frame(&creds()),
            );
            o
        }),
        ("data first", {
            let mut o = Vec::new();
            frame::put(&mut o, frame::DATA, 0, 1, &[0; 5]);
            o
        }),
        ("interrupted block", {
            let mut o = Vec::new();
            frame::put(&mut o, frame::HEADERS, 0, 1, &ok_head);
            frame::put(&mut o, frame::DATA, 0, 1, &[0; 5]);
            o
        }),
        ("bad hpack", {
            let mut o = Vec::new();
            frame::put(&mut o, frame::HEADERS, frame::END_HEADERS, 1, &[0xbe]);
            o
        }),
        ("push", {
            let mut o = Vec::new();
            frame::put(
                &mut o,
                frame::PUSH_PROMISE,
                frame::END_HEADERS,
                1,
                &[0, 0, 0, 2],
            );
            o
        }),
        ("goaway", {
            let mut o = Vec::new();
            frame::put(&mut o, frame::GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 11]);
            o
        }),
        ("oversized frame", vec![0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]),
        ("cut short", vec![0, 0, 9, 1, 4, 0, 0, 0, 1, 0x88]),
    ];
    for (what, answer) in cases {
        let e = scripted(answer).unwrap_err();
        assert_ne!(e.code(), Code::Ok, "{what}");
    }
}

#[test]
fn a_daemon_that_hangs_up_is_a_transport_error() {
    let (client, server) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 24];
        (&server).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, frame::PREFACE);
        drop(server);
    });
    let e = get(client, Duration::from_secs(10)).unwrap_err();
    t.join().unwrap();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert!(e.message().starts_with("transport error"), "{e:?}");
    assert_eq!(crate::exit::for_status(&e), crate::exit::UNREACHABLE);
}

#[test]
fn a_silent_daemon_runs_into_the_deadline() {
    let (client, _server) = UnixStream::pair().unwrap();
    let start = Instant::now();
    let e = get(client, Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_message_survives_framing() {
    let req = GetCredentialsRequest {
        profile: "dev".into(),
    };
    let framed = grpc_frame(&req);
    assert_eq!(&framed[..5], &[0, 0, 0, 0, req.encoded_len() as u8]);
    let back: GetCredentialsRequest = unframe(&framed).unwrap();
    assert_eq!(back, req);
}

#[test]
fn a_short_or_compressed_answer_is_refused() {
    assert!(unframe::<Credentials>(&[0, 0]).is_err());
    assert!(unframe::<Credentials>(&[1, 0, 0, 0, 0]).is_err());
    assert!(unframe::<Credentials>(&[0, 0, 0, 0, 9]).is_err());
}

#[test]
fn percent_decoding_takes_what_grpc_sends() {
    assert_eq!(percent_decode(b"100%25 done%2C%20ok"), "100% done, ok");
    assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
    assert_eq!(percent_decode(percent("ünï — x").as_bytes()), "ünï — x");
}

/// A daemon's keepalive PING during a long wait (a `confirm` rule waiting on a human) is
/// answered at once, before the answer comes: otherwise the daemon would drop the call.
#[test]
fn a_ping_while_waiting_is_acknowledged_at_once() {
    let (client, server) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        let _ = (&server).read(&mut buf).unwrap();
        let mut ping = Vec::new();
        frame::put(&mut ping, frame::PING, 0, 0, b"keepaliv");
        (&server).write_all(&ping).unwrap();
        // Nothing more until the acknowledgement is in.
        let mut got = Vec::new();
        loop {
            let n = (&server).read(&mut buf).unwrap();
            assert_ne!(n, 0, "the client hung up without acknowledging the ping");
            got.extend_from_slice(&buf[..n]);
            let mut rest = got.as_slice();
            let mut acked = false;
            while let Some((f, used)) = frame::parse(rest).unwrap() {
                acked |=
                    f.kind == frame::PING && f.flags & frame::ACK != 0 && f.payload == b"keepaliv";
                rest = &rest[used..];
            }
            if acked {
                break;
            }
        }
        let mut out = Vec::new();
        let head = headers_block(&[(8, "200")]);
        frame::put(&mut out, frame::HEADERS, frame::END_HEADERS, 1, &head);
        frame::put(&mut out, frame::DATA, 0, 1, &grpc_frame(&creds()));
        put_ok_trailers(&mut out);
        (&server).write_all(&out).unwrap();
    });
    assert_eq!(get(client, Duration::from_secs(10)).unwrap(), creds());
    t.join().unwrap();
}
