//! Authorization code with PKCE: a loopback listener on 127.0.0.1, the authorize URL as the
//! prompt, the browser's redirect back with `code` and `state`, then CreateToken with the
//! verifier.

use std::time::Duration;

use base64::Engine;
use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};
use ssoagent_client::config::LoginFlow;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
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
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn random(len: usize) -> String {
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
    let redirect_uri = format!("http://127.0.0.1:{port}/oauth/callback");
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
/// error. Other requests (a favicon, a stray probe) get 404 and are ignored.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<Secret> {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let Some(head) = read_head(&mut stream).await else {
            continue;
        };
        let outcome = callback(&head, state);
        respond(&mut stream, &outcome).await;
        if let Some(o) = outcome {
            return o;
        }
    }
}

/// The request head (up to the blank line, at most 8 KiB), or `None` if the client is slow
/// or breaks off.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
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

/// What a request to the redirect URI says: `None` when it is not our login's answer.
fn callback(head: &str, state: &str) -> Option<Result<Secret>> {
    let target = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("");
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

/// A small page for the browser tab.
async fn respond(stream: &mut TcpStream, outcome: &Option<Result<Secret>>) {
    let (status, body) = match outcome {
        Some(Ok(_)) => (
            "200 OK",
            "ssoagent: login approved. You can close this tab and return to the terminal.",
        ),
        Some(Err(_)) => (
            "200 OK",
            "ssoagent: login was not approved. You can close this tab.",
        ),
        None => (
            "404 Not Found",
            "ssoagent: not the login you are waiting for.",
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
fn pct(s: &str) -> String {
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
        let ok = callback(&head("state=s&code=abc"), "s").unwrap().unwrap();
        assert_eq!(ok.expose(), "abc");
        assert!(
            callback(&head("state=s&error=access_denied"), "s")
                .unwrap()
                .is_err()
        );
    }
}
