//! Raw wire shapes, the control API, and the emulator's lifecycle, checked
//! with plain HTTP from ordinary (non-async) tests.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use ssoagent_emulator::{Config, Emulator, Fault, Op};

fn register(port: u16) -> (String, String) {
    let resp = post_json(
        port,
        "/client/register",
        &json!({"clientName": "raw", "clientType": "public"}),
    );
    assert_eq!(resp.status, 200, "{resp:?}");
    let v = resp.json();
    (
        v["clientId"].as_str().unwrap().to_string(),
        v["clientSecret"].as_str().unwrap().to_string(),
    )
}

#[test]
fn oidc_error_shape() {
    let emu = Emulator::start(Config::default()).unwrap();
    let (cid, secret) = register(emu.port());
    let dev = post_json(
        emu.port(),
        "/device_authorization",
        &json!({"clientId": cid, "clientSecret": secret, "startUrl": "https://x.awsapps.com/start"}),
    )
    .json();
    let resp = post_json(
        emu.port(),
        "/token",
        &json!({"clientId": cid, "clientSecret": secret,
                "grantType": DEVICE_GRANT, "deviceCode": dev["deviceCode"]}),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("AuthorizationPendingException")
    );
    let body = resp.json();
    assert_eq!(body["error"], "authorization_pending");
    assert!(body["error_description"].is_string());
    assert!(body.get("message").is_none(), "live bodies have no message");

    let resp = post_json(
        emu.port(),
        "/token",
        &json!({"clientId": cid, "clientSecret": "nope", "grantType": "refresh_token",
                "refreshToken": "x"}),
    );
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("InvalidClientException")
    );
    assert_eq!(resp.json()["error"], "invalid_client");

    let resp = post_json(
        emu.port(),
        "/token",
        &json!({"clientId": cid, "clientSecret": secret, "grantType": "password"}),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"], "unsupported_grant_type");

    emu.inject(Op::CreateToken, Fault::ServerError, 1);
    let resp = post_json(
        emu.port(),
        "/token",
        &json!({"clientId": cid, "clientSecret": secret,
                "grantType": DEVICE_GRANT, "deviceCode": dev["deviceCode"]}),
    );
    assert_eq!(resp.status, 500);
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("InternalServerException")
    );
    assert_eq!(resp.json()["error"], "server_error");

    emu.inject(Op::CreateToken, Fault::Throttle, 1);
    let resp = post_json(emu.port(), "/token", &json!({}));
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("x-amzn-ErrorType"), Some("ThrottlingException"));
    assert_eq!(emu.calls(Op::CreateToken), 5);
}

#[test]
fn portal_error_shape() {
    let emu = Emulator::start(Config::default()).unwrap();
    let resp = http(
        emu.port(),
        "GET",
        "/federation/credentials?role_name=ReadOnly&account_id=111111111111",
        &[("x-amz-sso_bearer_token", "bogus")],
        "",
    );
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("UnauthorizedException")
    );
    let body = resp.json();
    assert_eq!(body["message"], "Session token not found or invalid");
    assert_eq!(
        body["__type"],
        "com.amazonaws.switchboard.portal#UnauthorizedException"
    );
    emu.inject(Op::ListAccounts, Fault::ServerError, 1);
    let resp = get(emu.port(), "/assignment/accounts");
    assert_eq!(resp.status, 500);
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("InternalServerException")
    );
}

#[test]
fn drop_connection_sends_nothing() {
    let emu = Emulator::start(Config::default()).unwrap();
    emu.inject(Op::ListAccounts, Fault::DropConnection, 1);
    let raw = http_raw(emu.port(), "GET", "/assignment/accounts", &[], "")
        .expect_err("no response expected");
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    // The next call is answered again.
    assert_eq!(get(emu.port(), "/assignment/accounts").status, 401);
    assert_eq!(emu.calls(Op::ListAccounts), 2);
}

#[test]
fn sts_error_shape() {
    let emu = Emulator::start(Config::default()).unwrap();
    let resp = http(
        emu.port(),
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=ASIANOPE/20260101/us-east-1/sts/aws4_request, \
                 SignedHeaders=host, Signature=00",
            ),
        ],
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    assert_eq!(resp.status, 403);
    assert!(resp.body.contains("<ErrorResponse"), "{}", resp.body);
    assert!(resp.body.contains("<Code>InvalidClientTokenId</Code>"));
    assert!(resp.body.contains("<Type>Sender</Type>"));
    assert_eq!(emu.calls(Op::GetCallerIdentity), 1);

    let resp = http(
        emu.port(),
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "Action=DeleteEverything&Version=2011-06-15",
    );
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("<Code>InvalidAction</Code>"));
}

#[test]
fn control_api() {
    let emu = Emulator::start(Config {
        auto_approve: false,
        ..Config::default()
    })
    .unwrap();
    let port = emu.port();
    let calls = get(port, "/_emulator/calls").json();
    for op in Op::ALL {
        assert_eq!(calls[op.to_string()], 0, "{op}");
    }

    let resp = http(
        port,
        "POST",
        "/_emulator/fault?op=RegisterClient&kind=server_error&count=2",
        &[],
        "",
    );
    assert_eq!(resp.status, 200, "{resp:?}");
    for _ in 0..2 {
        let resp = post_json(
            port,
            "/client/register",
            &json!({"clientName": "raw", "clientType": "public"}),
        );
        assert_eq!(resp.status, 500);
    }
    let (cid, secret) = register(port);
    assert_eq!(get(port, "/_emulator/calls").json()["RegisterClient"], 3);
    assert_eq!(emu.calls(Op::RegisterClient), 3);

    let resp = http(
        port,
        "POST",
        "/_emulator/fault?op=NoSuchOp&kind=throttle",
        &[],
        "",
    );
    assert_eq!(resp.status, 400);
    let resp = http(
        port,
        "POST",
        "/_emulator/fault?op=Logout&kind=delay",
        &[],
        "",
    );
    assert_eq!(resp.status, 400, "delay needs delay_ms");

    // Delay through the control API.
    http(
        port,
        "POST",
        "/_emulator/fault?op=ListAccounts&kind=delay&delay_ms=200",
        &[],
        "",
    );
    let t = Instant::now();
    get(port, "/assignment/accounts");
    assert!(t.elapsed() >= Duration::from_millis(200));

    // Approval through the control API.
    let dev = post_json(
        port,
        "/device_authorization",
        &json!({"clientId": cid, "clientSecret": secret, "startUrl": "https://x.awsapps.com/start"}),
    )
    .json();
    let token_req = json!({"clientId": cid, "clientSecret": secret,
                           "grantType": DEVICE_GRANT, "deviceCode": dev["deviceCode"]});
    assert_eq!(post_json(port, "/token", &token_req).status, 400);
    assert_eq!(get(port, "/_emulator/state").json()["pendingApprovals"], 1);
    let resp = http(port, "POST", "/_emulator/approve", &[], "");
    assert_eq!(resp.json()["approved"], 1);
    let tok = post_json(port, "/token", &token_req);
    assert_eq!(tok.status, 200);
    let tok = tok.json();
    let access = tok["accessToken"].as_str().unwrap();
    assert_eq!(
        get(port, "/_emulator/state").json()["activeAccessTokens"],
        1
    );

    // Settings.
    let resp = http(
        port,
        "POST",
        "/_emulator/config?role_credential_ttl=20m&page_size=5",
        &[],
        "",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(emu.config().role_credential_ttl, Duration::from_secs(1200));
    assert_eq!(emu.config().page_size, 5);
    let resp = http(port, "POST", "/_emulator/config?bogus=1", &[], "");
    assert_eq!(resp.status, 400);
    let accounts = http(
        port,
        "GET",
        "/assignment/accounts",
        &[("x-amz-sso_bearer_token", access)],
        "",
    )
    .json();
    assert_eq!(accounts["accountList"].as_array().unwrap().len(), 3);
    assert!(accounts.get("nextToken").is_none());

    // Expiry and revocation.
    http(port, "POST", "/_emulator/expire-access-tokens", &[], "");
    assert_eq!(emu.active_access_tokens(), 0);
    let resp = http(
        port,
        "GET",
        "/assignment/accounts",
        &[("x-amz-sso_bearer_token", access)],
        "",
    );
    assert_eq!(resp.status, 401);
    let resp = http(port, "POST", "/_emulator/revoke-refresh-tokens", &[], "");
    assert_eq!(resp.json()["revoked"], 1);
    let resp = post_json(
        port,
        "/token",
        &json!({"clientId": cid, "clientSecret": secret, "grantType": "refresh_token",
                "refreshToken": tok["refreshToken"]}),
    );
    assert_eq!(resp.json()["error"], "invalid_grant");

    http(port, "POST", "/_emulator/reset-calls", &[], "");
    assert_eq!(emu.calls(Op::RegisterClient), 0);
}

#[test]
fn drop_stops_the_server() {
    let emu = Emulator::start(Config::default()).unwrap();
    let port = emu.port();
    // A keep-alive connection open at shutdown must not block it.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.write_all(b"GET /_emulator/calls HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 12];
    idle.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    // Also a request stuck in a long delay.
    emu.inject(Op::Logout, Fault::Delay(Duration::from_secs(60)), 1);
    let stuck = std::thread::spawn(move || http_raw(port, "POST", "/logout", &[], ""));
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(stuck.join().unwrap().is_err());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn usable_inside_a_runtime() {
    // Starting, using and dropping from async code on a single-threaded
    // runtime must neither deadlock nor panic.
    let emu = Emulator::start(Config::default()).unwrap();
    let oidc = oidc_client(&emu).await;
    device_login(&oidc).await;
    assert_eq!(emu.active_access_tokens(), 1);
    drop(emu);
}

#[test]
fn binary_prints_url_and_exits_on_stdin_eof() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssoagent-emulator"))
        .args([
            "--port",
            "0",
            "--exit-on-stdin-eof",
            "--no-auto-approve",
            "--access-token-ttl",
            "10m",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim_end()
        .strip_prefix("ssoagent-emulator listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = url.parse().unwrap();

    let (cid, secret) = register(port);
    let dev = post_json(
        port,
        "/device_authorization",
        &json!({"clientId": cid, "clientSecret": secret, "startUrl": "https://x.awsapps.com/start"}),
    )
    .json();
    let token_req = json!({"clientId": cid, "clientSecret": secret,
                           "grantType": DEVICE_GRANT, "deviceCode": dev["deviceCode"]});
    for _ in 0..3 {
        assert_eq!(
            post_json(port, "/token", &token_req).status,
            400,
            "no auto-approve"
        );
    }
    http(port, "POST", "/_emulator/approve", &[], "");
    let tok = post_json(port, "/token", &token_req).json();
    assert_eq!(tok["expiresIn"], 600);
    assert_eq!(get(port, "/_emulator/calls").json()["CreateToken"], 4);

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("emulator did not exit on stdin EOF");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "exactly one line on stdout");
}

#[test]
fn binary_help_mentions_control_api() {
    let out = Command::new(env!("CARGO_BIN_EXE_ssoagent-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--no-auto-approve",
        "--access-token-ttl",
        "/_emulator/fault",
        "--exit-on-stdin-eof",
    ] {
        assert!(help.contains(needle), "{needle} missing from --help");
    }
}
