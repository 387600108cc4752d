//! Authorization code with PKCE: a loopback listener on 127.0.0.1, the authorize URL as the
//! prompt, the browser's redirect back with `code` and `state`, then CreateToken with the
//! verifier.
//!
//! The listener answers connections concurrently (at most [`MAX_CONNECTIONS`] at a time, each
//! with [`HEAD_DEADLINE`] to send its request head), so idle connections cannot hold the
//! callback back; it answers 404 to any path but [`CALLBACK_PATH`]; and on Linux it serves only
//! connections from processes of the daemon's own uid (found in `/proc/net/tcp`), so another
//! local user cannot hand it a code.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use base64::Engine;
use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};
use ssoagent_client::config::LoginFlow;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
    task::JoinSet,
};

use super::{Login, Prompt};
use crate::{
    error::{Error, Result},
    secret::Secret,
    store::Token,
};

/// How long a browser login may take before the daemon gives up.
const PKCE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long one connection to the loopback listener may take to send its request head.
const HEAD_DEADLINE: Duration = Duration::from_secs(2);
/// How many connections the loopback listener serves at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 16;
/// The path of the redirect URI (the registration names it with no port).
pub const CALLBACK_PATH: &str = "/oauth/callback";

pub(crate) fn random(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub async fn run(l: &Login<'_>, oidc_base: &str, prompt: impl FnOnce(Prompt)) -> Result<Token> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::Internal(format!("cannot listen for the login redirect: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
    let verifier = Secret::new(random(64));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.expose().as_bytes()));
    let state = random(32);
    let url = format!(
        "{oidc_base}/authorize?response_type=code&client_id={}&redirect_uri={}&state={}\
         &code_challenge_method=S256&scopes={}&code_challenge={challenge}",
        pct(&l.reg.client_id),
        pct(&redirect_uri),
        pct(&state),
        pct(&l.spec.scopes.join(" ")),
    );
    prompt(Prompt {
        flow: LoginFlow::Pkce,
        url: url.clone(),
        user_code: String::new(),
        verification_uri: url,
        expires_at: l.clock.now() + PKCE_TIMEOUT,
    });
    let code = tokio::time::timeout(PKCE_TIMEOUT, wait_for_code(&listener, &state))
        .await
        .map_err(|_| {
            Error::Cancelled("the browser login was not approved within 10 minutes".into())
        })??;
    l.aws
        .redeem_code(&l.spec.region, l.reg, &code, &verifier, &redirect_uri)
        .await
        .map_err(|e| e.into_error("login"))
}

/// Answers requests on the loopback listener until one carries our `state` with a code or an
/// error. Connections are served side by side (a semaphore caps them); other requests (a
/// favicon, a stray probe, another path) get 404 and are ignored; connections from another
/// uid are refused before anything is read.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<Secret> {
    wait_for_code_at(listener, state, CALLBACK_PATH).await
}

/// [`wait_for_code`] on another redirect path (an OIDC provider's registered `redirect_uri`).
pub(crate) async fn wait_for_code_at(
    listener: &TcpListener,
    state: &str,
    path: &str,
) -> Result<Secret> {
    let path: Arc<str> = path.into();
    let (tx, mut rx) = mpsc::channel::<Result<Secret>>(1);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let state: Arc<str> = state.into();
    // Dropped on return: every connection still being served is cut off.
    let mut served = JoinSet::new();
    loop {
        let accepted = async {
            let slot = slots.clone().acquire_owned().await.expect("never closed");
            (slot, listener.accept().await)
        };
        tokio::select! {
            Some(outcome) = rx.recv() => return outcome,
            (slot, accepted) = accepted => {
                let Ok((stream, peer)) = accepted else { continue };
                let (tx, state, path) = (tx.clone(), state.clone(), path.clone());
                served.spawn(async move {
                    let _slot = slot;
                    if let Some(outcome) = serve(stream, peer, &state, &path).await {
                        let _ = tx.send(outcome).await;
                    }
                });
                // Reap what finished so the set stays small.
                while served.try_join_next().is_some() {}
            }
        }
    }
}

/// One connection: the uid check, the request head (bounded in time and size), the answer.
async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    state: &str,
    path: &str,
) -> Option<Result<Secret>> {
    if !same_user(&stream, peer) {
        tracing::warn!(%peer, "refused a login callback from another user's process");
        respond(&mut stream, Answer::Refused).await;
        return None;
    }
    let head = read_head(&mut stream).await?;
    let outcome = match target(&head) {
        Some(t) if path_of(t) == path => callback(&head, state),
        _ => None,
    };
    let answer = match &outcome {
        Some(Ok(_)) => Answer::Approved,
        Some(Err(_)) => Answer::NotApproved,
        None => Answer::NotFound,
    };
    respond(&mut stream, answer).await;
    outcome
}

/// On Linux: whether the process at the other end of `stream` runs as our uid. The loopback
/// connection's client side is a line of `/proc/net/tcp` (or `tcp6`) whose local address is
/// our peer and whose remote address is our end; its `uid` column is the client's. A
/// connection that cannot be found is refused.
#[cfg(target_os = "linux")]
fn same_user(stream: &TcpStream, peer: SocketAddr) -> bool {
    let Ok(local) = stream.local_addr() else {
        return false;
    };
    crate::tcp_peer::entry(peer, local).map(|(uid, _)| uid) == Some(ssoagent_client::fsutil::uid())
}

/// Elsewhere the loopback listener cannot tell who connects; `state` and PKCE still bind the
/// code to this login.
#[cfg(not(target_os = "linux"))]
fn same_user(_stream: &TcpStream, _peer: SocketAddr) -> bool {
    true
}

/// The request head (up to the blank line, at most 8 KiB), or `None` if the client is slow
/// or breaks off.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    let read = tokio::time::timeout(HEAD_DEADLINE, async {
        while len < buf.len() {
            let n = stream.read(&mut buf[len..]).await?;
            if n == 0 {
                break;
            }
            len += n;
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    matches!(read, Ok(Ok(()))).then(|| String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// The request target of a `GET` request head.
fn target(head: &str) -> Option<&str> {
    head.lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
}

/// The path of a request target (without the query).
fn path_of(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or("")
}

/// What a request to the redirect URI says: `None` when it is not our login's answer.
fn callback(head: &str, state: &str) -> Option<Result<Secret>> {
    let target = target(head).unwrap_or("");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut got_state = None;
    let mut code = None;
    let mut error = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "state" => got_state = Some(v.into_owned()),
            "code" => code = Some(Secret::new(v.into_owned())),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    match (got_state.as_deref(), code, error) {
        (Some(s), _, _) if s != state => None,
        (Some(_), Some(code), None) => Some(Ok(code)),
        (Some(_), _, Some(err)) => Some(Err(Error::Cancelled(format!(
            "the login was not approved in the browser ({err})"
        )))),
        _ => None,
    }
}

/// How the listener answers a connection.
enum Answer {
    Approved,
    NotApproved,
    NotFound,
    Refused,
}

/// A small page for the browser tab.
async fn respond(stream: &mut TcpStream, answer: Answer) {
    let (status, body) = match answer {
        Answer::Approved => (
            "200 OK",
            "ssoagent: login approved. You can close this tab and return to the terminal.",
        ),
        Answer::NotApproved => (
            "200 OK",
            "ssoagent: login was not approved. You can close this tab.",
        ),
        Answer::NotFound => (
            "404 Not Found",
            "ssoagent: not the login you are waiting for.",
        ),
        Answer::Refused => (
            "403 Forbidden",
            "ssoagent: this login belongs to another user.",
        ),
    };
    let page = format!(
        "<!doctype html><html><head><title>ssoagent</title></head><body><p>{body}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Percent-encodes everything but RFC 3986 unreserved characters (as the AWS CLI does).
pub(crate) fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pct_keeps_unreserved_only() {
        assert_eq!(pct("a b/c:d~e"), "a%20b%2Fc%3Ad~e");
    }

    #[test]
    fn only_our_state_ends_the_wait() {
        let head = |q: &str| format!("GET /oauth/callback?{q} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(callback(&head("state=other&code=c"), "s").is_none());
        assert!(callback("GET /favicon.ico HTTP/1.1\r\n\r\n", "s").is_none());
        let other = "GET /favicon.ico?state=s&code=abc HTTP/1.1\r\n\r\n";
        assert_ne!(path_of(target(other).unwrap()), CALLBACK_PATH);
        assert_eq!(path_of("/oauth/callback?state=s"), CALLBACK_PATH);
        let ok = callback(&head("state=s&code=abc"), "s").unwrap().unwrap();
        assert_eq!(ok.expose(), "abc");
        assert!(
            callback(&head("state=s&error=access_denied"), "s")
                .unwrap()
                .is_err()
        );
    }
}
