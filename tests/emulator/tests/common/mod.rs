//! Helpers shared by the emulator's integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use ssoagent_emulator::Emulator;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A raw HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the raw
/// answer. Returns `Err` with the bytes read when there is no parsable
/// response (e.g. the connection was dropped).
pub fn http_raw(
    port: u16,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<HttpResponse, Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to emulator");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(raw);
    };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let Some(status) = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
    else {
        return Err(raw);
    };
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    http_raw(port, method, path, headers, body)
        .unwrap_or_else(|raw| panic!("no HTTP response: {:?}", String::from_utf8_lossy(&raw)))
}

pub fn get(port: u16, path: &str) -> HttpResponse {
    http(port, "GET", path, &[], "")
}

pub fn post_json(port: u16, path: &str, body: &serde_json::Value) -> HttpResponse {
    http(
        port,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
}

/// A 64-character PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier: String = (0..64)
        .map(|i| {
            let chars = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
            chars[(i * 7 + 3) % chars.len()] as char
        })
        .collect();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Value of a query parameter in a URL (no percent-decoding beyond `%XX`).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// SDK configuration aimed at the emulator: fixed region, no credentials,
/// fast retries, bounded attempts.
pub async fn sdk_config(emu: &Emulator) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .no_credentials()
        .endpoint_url(emu.url())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await
}

pub async fn oidc_client(emu: &Emulator) -> aws_sdk_ssooidc::Client {
    aws_sdk_ssooidc::Client::new(&sdk_config(emu).await)
}

pub async fn sso_client(emu: &Emulator) -> aws_sdk_sso::Client {
    aws_sdk_sso::Client::new(&sdk_config(emu).await)
}

pub async fn sts_client(
    emu: &Emulator,
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
) -> aws_sdk_sts::Client {
    let creds = aws_sdk_sts::config::Credentials::new(
        access_key_id,
        secret_access_key,
        session_token.map(str::to_string),
        None,
        "emulator-test",
    );
    let conf = aws_sdk_sts::config::Builder::from(&sdk_config(emu).await)
        .credentials_provider(creds)
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// A registered client and the tokens of one completed device login.
pub struct Login {
    pub client_id: String,
    pub client_secret: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// Registers a device-flow client and logs in, polling through
/// `authorization_pending`.
pub async fn device_login(oidc: &aws_sdk_ssooidc::Client) -> Login {
    let reg = oidc
        .register_client()
        .client_name("emulator-test")
        .client_type("public")
        .send()
        .await
        .expect("RegisterClient");
    let client_id = reg.client_id().unwrap().to_string();
    let client_secret = reg.client_secret().unwrap().to_string();
    let dev = oidc
        .start_device_authorization()
        .client_id(&client_id)
        .client_secret(&client_secret)
        .start_url("https://d-1234567890.awsapps.com/start")
        .send()
        .await
        .expect("StartDeviceAuthorization");
    let device_code = dev.device_code().unwrap().to_string();
    for _ in 0..10 {
        match oidc
            .create_token()
            .client_id(&client_id)
            .client_secret(&client_secret)
            .grant_type(DEVICE_GRANT)
            .device_code(&device_code)
            .send()
            .await
        {
            Ok(tok) => {
                return Login {
                    client_id,
                    client_secret,
                    access_token: tok.access_token().unwrap().to_string(),
                    refresh_token: tok.refresh_token().map(str::to_string),
                };
            }
            Err(e) => {
                let e = e.into_service_error();
                assert!(e.is_authorization_pending_exception(), "unexpected: {e:?}");
            }
        }
    }
    panic!("device login never completed");
}
