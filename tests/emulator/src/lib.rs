//! An in-process emulator of AWS IAM Identity Center for tests.
//!
//! It speaks the real wire protocols of SSO-OIDC (RegisterClient,
//! StartDeviceAuthorization, CreateToken and the browser `/authorize`
//! endpoint), the SSO portal (GetRoleCredentials, ListAccounts,
//! ListAccountRoles, Logout) and the STS subset the agent uses (AssumeRole,
//! GetCallerIdentity), all on one loopback listener. See
//! `shared/PROTOCOL.md` for the wire formats.
//!
//! ```no_run
//! use ssoagent_emulator::{Config, Emulator, Fault, Op};
//! let emu = Emulator::start(Config::default()).unwrap();
//! emu.inject(Op::GetRoleCredentials, Fault::ServerError, 1);
//! println!("point AWS_ENDPOINT_URL at {}", emu.url());
//! ```
//!
//! Besides the Rust API there is a control API over HTTP (used by the
//! `ssoagent-emulator` binary and by non-Rust tests), under `/_emulator/`:
//!
//! * `GET  /_emulator/calls` → `{"GetRoleCredentials": n, ...}` (every operation)
//! * `POST /_emulator/reset-calls`
//! * `POST /_emulator/approve`
//! * `POST /_emulator/expire-access-tokens`
//! * `POST /_emulator/revoke-refresh-tokens`
//! * `POST /_emulator/fault?op=CreateToken&kind=server_error|throttle|drop|delay&count=2&delay_ms=500`
//! * `POST /_emulator/clear-faults[?op=CreateToken]`
//! * `POST /_emulator/config?access_token_ttl=10m&auto_approve=false&...` (every [`Config`] knob
//!   except `accounts`; durations in humantime syntax; `verification_uri_complete=` empty
//!   restores the emulator's own URL)
//!   (`mfa_roles=Deploy,Admin` marks roles MFA-protected)
//! * `GET  /_emulator/state` → `{"activeAccessTokens": n, "pendingApprovals": n}`
//!
//! A generic OIDC identity provider lives at `{url}/idp` ([`idp`]), with STS
//! AssumeRoleWithWebIdentity and Cognito identity beside it; its knobs and counters are under
//! `/_emulator/idp/` (see `idp_control.rs`) and on [`Emulator::idp_config`].

// Helpers return `Result<_, Response>` so handlers can answer early with the
// protocol's error; the size of `Response` does not matter in a test tool.
#![allow(clippy::result_large_err)]

mod cognito;
mod control;
mod faults;
mod federation;
pub mod idp;
mod idp_control;
mod idp_keys;
pub mod mfa;
mod oidc;
mod portal;
mod server;
mod state;
mod sts;
mod util;
mod web_identity;

pub use idp::IdpConfig;
pub use idp_keys::SigningKey;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use federation::Signin;
use server::Shared;

/// An AWS account the emulated user is assigned to, with the permission sets
/// (role names) assigned in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
}

impl Account {
    pub fn new(id: &str, name: &str, email: &str, roles: &[&str]) -> Account {
        Account {
            id: id.to_string(),
            name: name.to_string(),
            email: email.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }
}

/// Knobs of the emulator. All of them but `accounts` can also be changed at
/// run time with [`Emulator::update`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Accounts and their assigned roles, in ListAccounts order.
    pub accounts: Vec<Account>,
    /// Lifetime of SSO access tokens (`expiresIn` of CreateToken).
    pub access_token_ttl: Duration,
    /// Whether CreateToken returns refresh tokens at all.
    pub issue_refresh_tokens: bool,
    /// Lifetime of role credentials from GetRoleCredentials (and of
    /// AssumeRole credentials when no DurationSeconds is given).
    pub role_credential_ttl: Duration,
    /// Lifetime of client registrations (`clientSecretExpiresAt`).
    pub registration_ttl: Duration,
    /// Lifetime of device codes (`expiresIn` of StartDeviceAuthorization).
    pub device_code_ttl: Duration,
    /// `interval` returned by StartDeviceAuthorization, in seconds.
    pub device_poll_interval: u64,
    /// Approve logins without [`Emulator::approve_pending`].
    pub auto_approve: bool,
    /// Device flow with `auto_approve`: this many CreateToken polls answer
    /// `authorization_pending` before the authorization is approved.
    pub approve_after_polls: u32,
    /// List operations return at most this many items per page (also capped
    /// by the request's `max_result`).
    pub page_size: usize,
    /// StartDeviceAuthorization answers this `verificationUri` and
    /// `verificationUriComplete` instead of the emulator's own `/device` page:
    /// for tests of what clients do with a hostile identity provider's URL.
    pub verification_uri_complete: Option<String>,
    /// Role names (the last part of the ARN) that AssumeRole serves only with MFA: the
    /// `SerialNumber` [`Config::mfa_serial`] and a TOTP `TokenCode` of [`Config::mfa_secret`]
    /// ([`mfa::totp`]).
    pub mfa_roles: Vec<String>,
    pub mfa_serial: String,
    pub mfa_secret: Vec<u8>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            accounts: vec![
                Account::new(
                    "111111111111",
                    "dev",
                    "dev@example.com",
                    &["ReadOnly", "Admin"],
                ),
                Account::new("222222222222", "prod", "prod@example.com", &["ReadOnly"]),
                Account::new(
                    "333333333333",
                    "sandbox",
                    "sandbox@example.com",
                    &["Developer"],
                ),
            ],
            access_token_ttl: Duration::from_secs(3600),
            issue_refresh_tokens: true,
            role_credential_ttl: Duration::from_secs(3600),
            registration_ttl: Duration::from_secs(90 * 24 * 3600),
            device_code_ttl: Duration::from_secs(600),
            device_poll_interval: 1,
            auto_approve: true,
            approve_after_polls: 1,
            page_size: 2,
            verification_uri_complete: None,
            mfa_roles: Vec::new(),
            mfa_serial: mfa::DEFAULT_MFA_SERIAL.to_string(),
            mfa_secret: mfa::DEFAULT_MFA_SECRET.to_vec(),
        }
    }
}

/// The emulated operations, named as AWS names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    RegisterClient,
    StartDeviceAuthorization,
    CreateToken,
    /// `GET /authorize` (the browser step of the PKCE flow).
    Authorize,
    GetRoleCredentials,
    ListAccounts,
    ListAccountRoles,
    Logout,
    AssumeRole,
    GetCallerIdentity,
}

impl Op {
    /// Every operation, in a stable order.
    pub const ALL: [Op; 10] = [
        Op::RegisterClient,
        Op::StartDeviceAuthorization,
        Op::CreateToken,
        Op::Authorize,
        Op::GetRoleCredentials,
        Op::ListAccounts,
        Op::ListAccountRoles,
        Op::Logout,
        Op::AssumeRole,
        Op::GetCallerIdentity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::RegisterClient => "RegisterClient",
            Op::StartDeviceAuthorization => "StartDeviceAuthorization",
            Op::CreateToken => "CreateToken",
            Op::Authorize => "Authorize",
            Op::GetRoleCredentials => "GetRoleCredentials",
            Op::ListAccounts => "ListAccounts",
            Op::ListAccountRoles => "ListAccountRoles",
            Op::Logout => "Logout",
            Op::AssumeRole => "AssumeRole",
            Op::GetCallerIdentity => "GetCallerIdentity",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of parsing an [`Op`] or a fault kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

impl FromStr for Op {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Op, ParseError> {
        Op::ALL
            .iter()
            .copied()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseError(format!("unknown operation {s:?}")))
    }
}

/// A fault to inject into the next calls of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 with the protocol's internal-error shape
    /// (`InternalServerException`, STS `InternalFailure`).
    ServerError,
    /// The protocol's throttling error: OIDC 429 `ThrottlingException`,
    /// portal 429 `TooManyRequestsException`, STS 400 `Throttling`.
    Throttle,
    /// Sleep this long, then answer normally.
    Delay(Duration),
    /// Close the TCP connection without writing a response.
    DropConnection,
}

/// A running emulator. Dropping it shuts the server down.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1` with a random port. The server runs
    /// on its own thread with its own tokio runtime, so this works from plain
    /// `#[test]` functions and from inside a tokio runtime alike. Returns once
    /// the port is listening.
    pub fn start(config: Config) -> io::Result<Emulator> {
        Emulator::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config)
    }

    /// Like [`Emulator::start`] on the given address.
    pub fn start_on(addr: SocketAddr, config: Config) -> io::Result<Emulator> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let shared = Arc::new(Shared::new(config, format!("http://{addr}")));
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ssoagent-emulator-{}", addr.port()))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    server::serve(listener, thread_shared, shutdown_rx).await;
                });
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(io::Error::other("emulator thread died while starting"));
            }
        }
        Ok(Emulator {
            shared,
            addr,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). Use it for
    /// every endpoint override (SSO, SSO-OIDC and STS share the listener).
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received for `op`, faulted ones included.
    pub fn calls(&self, op: Op) -> u64 {
        self.shared.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// Every operation's call count (zero counts included).
    pub fn all_calls(&self) -> HashMap<Op, u64> {
        let st = self.shared.lock();
        Op::ALL
            .iter()
            .map(|op| (*op, st.calls.get(op).copied().unwrap_or(0)))
            .collect()
    }

    pub fn reset_calls(&self) {
        self.shared.lock().calls.clear();
    }

    /// The next `count` calls of `op` get `fault` (after faults injected
    /// earlier for the same op have been used up).
    pub fn inject(&self, op: Op, fault: Fault, count: u32) {
        self.shared.lock().inject(op, fault, count);
    }

    /// Forgets every injected fault not used yet.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Changes knobs at run time. New lifetimes apply to what is issued from
    /// then on.
    pub fn update(&self, f: impl FnOnce(&mut Config)) {
        f(&mut self.shared.lock().config);
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> Config {
        self.shared.lock().config.clone()
    }

    /// Approves every pending device authorization and every pending
    /// `/authorize` request (for `auto_approve = false`). A pending
    /// `/authorize` redirects when it is requested again.
    pub fn approve_pending(&self) {
        self.shared.lock().approve_pending();
    }

    /// Every access token issued so far now answers 401 on the portal.
    pub fn expire_access_tokens(&self) {
        self.shared.lock().expire_access_tokens();
    }

    /// Every refresh token issued so far now answers `invalid_grant`.
    pub fn revoke_refresh_tokens(&self) {
        self.shared.lock().revoke_refresh_tokens();
    }

    /// Every console sign-in the federation endpoint saw, oldest first.
    pub fn signins(&self) -> Vec<Signin> {
        self.shared.lock().signins.clone()
    }

    /// Access tokens that are neither expired nor logged out.
    pub fn active_access_tokens(&self) -> usize {
        self.shared.lock().active_access_tokens()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("url", &self.url())
            .finish()
    }
}
