//! The two logins a human can approve: authorization code with PKCE and a loopback redirect
//! (the default, as AWS CLI >= 2.22), and the device-code flow. The daemon runs them; the
//! prompt (URL, user code) goes to `ssoagentctl`, which opens the browser.

use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::{
    aws::{Aws, AwsError},
    error::{Error, Result},
    profiles::SessionSpec,
    secret::Secret,
    store::{Registration, Token},
};

/// What the human must do, sent to the client that asked for the unlock.
#[derive(Clone, Debug)]
pub struct Prompt {
    pub flow: &'static str,
    pub url: String,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_at: SystemTime,
}

/// How long a browser login may take before the daemon gives up.
const PKCE_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs the device-code flow: StartDeviceAuthorization, one poll, the prompt, then polls at the
/// server's interval (+5 s on SlowDown) until approval, denial or expiry.
pub async fn device(
    aws: &Aws,
    spec: &SessionSpec,
    reg: &Registration,
    prompt: impl FnOnce(Prompt),
) -> Result<Token> {
    let auth = aws
        .start_device_authorization(&spec.region, reg, &spec.start_url)
        .await
        .map_err(login_error)?;
    let deadline = Instant::now() + auth.expires_in;
    let mut interval = auth.interval;
    let mut prompt = Some(prompt);
    loop {
        match aws
            .poll_device_token(&spec.region, reg, &auth.device_code)
            .await
        {
            Ok(token) => return Ok(token),
            Err(AwsError::AuthorizationPending) => {}
            Err(AwsError::SlowDown) => interval += Duration::from_secs(5),
            Err(AwsError::ExpiredToken) => {
                return Err(Error::Cancelled(
                    "the device code expired before the login was approved; run unlock again"
                        .into(),
                ));
            }
            Err(e) => return Err(login_error(e)),
        }
        // The prompt comes after the first poll, as the AWS CLI does.
        if let Some(show) = prompt.take() {
            show(Prompt {
                flow: "device",
                url: auth.verification_uri_complete.clone(),
                user_code: auth.user_code.clone(),
                verification_uri: auth.verification_uri.clone(),
                expires_at: SystemTime::now() + auth.expires_in,
            });
        }
        if Instant::now() + interval > deadline {
            return Err(Error::Cancelled(
                "the device code expired before the login was approved; run unlock again".into(),
            ));
        }
        tokio::time::sleep(interval).await;
    }
}

/// Runs the PKCE flow: a loopback listener on 127.0.0.1, the authorize URL as the prompt, the
/// browser's redirect back with `code` and `state`, then CreateToken with the verifier.
pub async fn pkce(
    aws: &Aws,
    spec: &SessionSpec,
    reg: &Registration,
    oidc_base: &str,
    prompt: impl FnOnce(Prompt),
) -> Result<Token> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::Internal(format!("cannot listen for the login redirect: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/oauth/callback");
    let verifier = Secret::new(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(64)
            .map(char::from)
            .collect::<String>(),
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.expose().as_bytes()));
    let state: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let url = format!(
        "{oidc_base}/authorize?response_type=code&client_id={}&redirect_uri={}&state={}\
         &code_challenge_method=S256&scopes={}&code_challenge={challenge}",
        pct(&reg.client_id),
        pct(&redirect_uri),
        pct(&state),
        pct(&spec.scopes.join(" ")),
    );
    prompt(Prompt {
        flow: "pkce",
        url: url.clone(),
        user_code: String::new(),
        verification_uri: url,
        expires_at: SystemTime::now() + PKCE_TIMEOUT,
    });
    let code = tokio::time::timeout(PKCE_TIMEOUT, wait_for_code(&listener, &state))
        .await
        .map_err(|_| {
            Error::Cancelled("the browser login was not approved within 10 minutes".into())
        })??;
    aws.redeem_code(&spec.region, reg, &code, &verifier, &redirect_uri)
        .await
        .map_err(login_error)
}

/// Answers requests on the loopback listener until one carries our `state` with a code or an
/// error. Other requests (a favicon, a stray probe) get 404 and are ignored.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<Secret> {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let mut buf = vec![0u8; 8192];
        let mut len = 0;
        let read = tokio::time::timeout(Duration::from_secs(10), async {
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
        if !matches!(read, Ok(Ok(()))) {
            continue;
        }
        let head = String::from_utf8_lossy(&buf[..len]);
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
        let outcome = match (got_state.as_deref(), code, error) {
            (Some(s), _, _) if s != state => None,
            (Some(_), Some(code), None) => Some(Ok(code)),
            (Some(_), _, Some(err)) => Some(Err(Error::Cancelled(format!(
                "the login was not approved in the browser ({err})"
            )))),
            _ => None,
        };
        let (status, body) = match &outcome {
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
        let _ = stream
            .write_all(
                format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                )
                .as_bytes(),
            )
            .await;
        let _ = stream.shutdown().await;
        if let Some(o) = outcome {
            return o;
        }
    }
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

fn login_error(e: AwsError) -> Error {
    match e {
        AwsError::Forbidden(m) => Error::AwsRefused(format!("login refused: {m}")),
        AwsError::InvalidGrant(m) | AwsError::InvalidClient(m) => {
            Error::AwsRefused(format!("login refused: {m}"))
        }
        other => Error::AwsFailed(format!("login failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pct_keeps_unreserved_only() {
        assert_eq!(super::pct("a b/c:d~e"), "a%20b%2Fc%3Ad~e");
    }
}
