//! The HTTP/1.1 server of the container-credentials endpoint on `127.0.0.1:<port>`: one GET
//! path, the grant's token as `Authorization`, answers from the core (never waiting on a
//! human). Connections are served side by side (at most [`MAX_CONNECTIONS`]; more wait to be
//! accepted), each with [`HEAD_DEADLINE`] to send a request head.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OnceCell, Semaphore},
};
use tracing::{debug, warn};

use ssoagent_client::fsutil::uid;

use super::{Inner, peer};
use crate::{caller::Caller, error::Error};

/// The one path served; the full URL is what `AWS_CONTAINER_CREDENTIALS_FULL_URI` names.
pub const PATH: &str = "/v1/credentials";
const MAX_CONNECTIONS: usize = 1024;
const HEAD_DEADLINE: Duration = Duration::from_secs(5);

/// Binds `127.0.0.1:0` and serves in the background; the address bound.
pub(super) async fn start(inner: Arc<Inner>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(accept(listener, inner));
    Ok(addr)
}

async fn accept(listener: TcpListener, inner: Arc<Inner>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(_) => {
                // E.g. out of file descriptors: back off a little.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let _slot = slot;
            serve(inner, stream, peer).await;
        });
    }
}

/// One connection: its client side in `/proc/net/tcp` (read at accept) and the process
/// holding it (looked up once, at the first authorised request).
struct Conn {
    peer: SocketAddr,
    entry: Option<(u32, u64)>,
    pid: OnceCell<Option<i32>>,
}

async fn serve(inner: Arc<Inner>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let Ok(local) = stream.local_addr() else {
        return;
    };
    // Another user's process is answered at once, before anything is read: it holds no
    // connection slot and never reaches the token check.
    let entry = tokio::task::spawn_blocking(move || crate::tcp_peer::entry(peer, local))
        .await
        .ok()
        .flatten();
    if let Some((uid, _)) = entry.filter(|(u, _)| *u != uid()) {
        warn!(%peer, peer_uid = uid, "container-credentials connection from another user refused");
        return refuse_other_user(stream, uid).await;
    }
    let conn = Arc::new(Conn {
        peer,
        entry,
        pid: OnceCell::new(),
    });
    let service = hyper::service::service_fn(move |req| {
        let (inner, conn) = (inner.clone(), conn.clone());
        async move { Ok::<_, Infallible>(answer(&inner, &conn, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_DEADLINE)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn other_user(uid: u32) -> String {
    format!(
        "this endpoint serves only uid {}; you are uid {uid}",
        self::uid()
    )
}

async fn refuse_other_user(mut stream: TcpStream, uid: u32) {
    use tokio::io::AsyncWriteExt;
    let body = json!({"code": "AccessDenied", "message": other_user(uid)}).to_string();
    let answer = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(HEAD_DEADLINE, stream.write_all(answer.as_bytes())).await;
    let _ = stream.shutdown().await;
}

fn respond(status: u16, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn refuse(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    respond(status, json!({"code": code, "message": message}))
}

async fn answer(inner: &Inner, conn: &Conn, req: Request<Incoming>) -> Response<Full<Bytes>> {
    inner.activity.touch();
    if req.uri().path() != PATH {
        return refuse(
            404,
            "NotFound",
            "no such path; use the URL from ssoagentctl",
        );
    }
    if req.method() != Method::GET {
        return refuse(405, "MethodNotAllowed", "only GET is served");
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let grant = match inner.grants.check(token) {
        Ok(g) => g,
        Err(why) => {
            warn!(peer = %conn.peer, reason = ?why, "container-credentials request refused");
            return refuse(why.status(), "AccessDenied", why.message());
        }
    };
    let caller = who(conn, grant.creator).await;
    debug!(grant = %grant.id, profile = %grant.profile, %caller, "container credentials");
    match inner.agent.credentials(caller, &grant.profile).await {
        Ok((chain, c)) => {
            let mut body = json!({
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret_access_key.expose(),
                "Token": c.session_token.expose(),
                "Expiration": humantime::format_rfc3339_seconds(c.expires_at).to_string(),
            });
            if let Some(hop) = chain.hops.last() {
                body["RoleArn"] = json!(hop.role_arn);
            }
            respond(200, body)
        }
        Err(e) => {
            let (status, code) = status_of(&e);
            refuse(status, code, &e.to_string())
        }
    }
}

/// The caller behind the connection: the process the kernel names, else the grant's creator.
async fn who(conn: &Conn, creator: Caller) -> Caller {
    let Some((uid, inode)) = conn.entry else {
        return creator;
    };
    let creator_pid = creator.pid;
    let pid = conn
        .pid
        .get_or_init(|| async move {
            tokio::task::spawn_blocking(move || peer::pid_of(inode, creator_pid))
                .await
                .ok()
                .flatten()
        })
        .await;
    Caller {
        uid,
        pid: pid.or(creator.pid),
    }
}

/// How a core error reads over HTTP: a locked session is 503 (the message names the unlock
/// command); never credentials.
fn status_of(e: &Error) -> (u16, &'static str) {
    match e {
        Error::NeedsUnlock(_) => (503, "Locked"),
        Error::AwsRefused(_) => (502, "AwsRefused"),
        Error::AwsFailed(_) => (502, "AwsFailed"),
        Error::Config(_) => (500, "ConfigError"),
        #[allow(unreachable_patterns)]
        _ => (500, "InternalError"),
    }
}
