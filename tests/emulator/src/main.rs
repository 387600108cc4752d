//! `ssoagent-emulator`: runs the IAM Identity Center / STS emulator as a
//! process, for tests not written in Rust and for poking at by hand.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ssoagent_emulator::{Config, Emulator};

const AFTER_HELP: &str = "\
Endpoints (all on one listener; point AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL_SSO_OIDC
and AWS_ENDPOINT_URL_STS, or AWS_ENDPOINT_URL, at the printed URL):
  SSO-OIDC  POST /client/register, /device_authorization, /token; GET /authorize (PKCE), /device
  portal    GET /federation/credentials, /assignment/accounts, /assignment/roles; POST /logout
  STS       POST / with Action=AssumeRole | GetCallerIdentity | AssumeRoleWithWebIdentity
  OIDC IdP  issuer {URL}/idp: GET /idp/.well-known/openid-configuration, /idp/keys,
            /idp/authorize (approves at once); POST /idp/token, /idp/device_authorization
  Cognito   POST / with X-Amz-Target: AWSCognitoIdentityService.GetId |
            GetCredentialsForIdentity (point AWS_ENDPOINT_URL_COGNITO_IDENTITY at the URL);
            IdP knobs: POST /_emulator/idp/config?..., counters: GET /_emulator/idp/calls
Accounts: 111111111111 dev [ReadOnly, Admin], 222222222222 prod [ReadOnly],
333333333333 sandbox [Developer]. Roles named *WithExternalId need ExternalId=secret-ext.

Control API:
  GET  /_emulator/calls                  per-operation request counts (JSON object)
  POST /_emulator/reset-calls
  POST /_emulator/approve                approve pending device codes and /authorize requests
  POST /_emulator/expire-access-tokens   every access token issued so far answers 401
  POST /_emulator/revoke-refresh-tokens  every refresh token issued so far answers invalid_grant
  POST /_emulator/fault?op=CreateToken&kind=server_error|throttle|drop|delay&count=2&delay_ms=500
  POST /_emulator/clear-faults[?op=OP]
  POST /_emulator/config?access_token_ttl=10m&auto_approve=false&...   change knobs at run time
  GET  /_emulator/state                  {\"activeAccessTokens\": n, \"pendingApprovals\": n}
Operations: RegisterClient StartDeviceAuthorization CreateToken Authorize GetRoleCredentials
ListAccounts ListAccountRoles Logout AssumeRole GetCallerIdentity.";

/// Emulates AWS IAM Identity Center (SSO-OIDC and the SSO portal) and the
/// STS subset ssoagent uses, on 127.0.0.1. Never talks to AWS.
#[derive(Parser, Debug)]
#[command(name = "ssoagent-emulator", version, after_help = AFTER_HELP)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,

    /// Lifetime of SSO access tokens.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    access_token_ttl: Duration,

    /// Lifetime of role credentials (GetRoleCredentials; AssumeRole without DurationSeconds).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    role_credential_ttl: Duration,

    /// Lifetime of client registrations.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "90days")]
    registration_ttl: Duration,

    /// Lifetime of device codes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    device_code_ttl: Duration,

    /// Polling interval (seconds) the device flow asks clients to use.
    #[arg(long, default_value_t = 1)]
    poll_interval: u64,

    /// Logins wait for POST /_emulator/approve instead of being approved automatically.
    #[arg(long)]
    no_auto_approve: bool,

    /// CreateToken never returns refresh tokens.
    #[arg(long)]
    no_refresh_tokens: bool,

    /// Device flow: CreateToken answers authorization_pending this many times before approval.
    #[arg(long, default_value_t = 1)]
    approve_after_polls: u32,

    /// Items per page of ListAccounts / ListAccountRoles.
    #[arg(long, default_value_t = 2)]
    page_size: usize,

    /// Exit when standard input reaches end of file (so a parent's death stops us).
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        access_token_ttl: args.access_token_ttl,
        role_credential_ttl: args.role_credential_ttl,
        registration_ttl: args.registration_ttl,
        device_code_ttl: args.device_code_ttl,
        device_poll_interval: args.poll_interval,
        auto_approve: !args.no_auto_approve,
        issue_refresh_tokens: !args.no_refresh_tokens,
        approve_after_polls: args.approve_after_polls,
        page_size: args.page_size.max(1),
        ..Config::default()
    };
    let emu = match Emulator::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)), config) {
        Ok(emu) => emu,
        Err(e) => {
            eprintln!(
                "ssoagent-emulator: cannot listen on port {}: {e}",
                args.port
            );
            return ExitCode::from(1);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ssoagent-emulator listening on {}", emu.url());
        let _ = out.flush();
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ssoagent-emulator: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(wait_for_exit(args.exit_on_stdin_eof));
    drop(emu);
    ExitCode::SUCCESS
}

/// Returns on SIGINT, SIGTERM, or (if asked) end of standard input.
async fn wait_for_exit(exit_on_stdin_eof: bool) {
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    if exit_on_stdin_eof {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = eof_tx.send(());
        });
    } else {
        // Keep the sender alive so the receiver never completes.
        std::mem::forget(eof_tx);
    }
    let stdin_eof = async {
        let _ = eof_rx.await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm() => {}
        _ = stdin_eof => {}
    }
}

#[cfg(unix)]
async fn sigterm() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn sigterm() {
    std::future::pending().await
}
