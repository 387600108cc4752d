//! `ssoagent-cred`: the `credential_process` shim. One round trip to ssoagentd, the
//! credential_process JSON on stdout, nothing else. On failure: nothing on stdout, one line on
//! stderr, and an exit code from `ssoagent_client::exit`.

use std::{io::Write, time::Duration};

use ssoagent_client::{exit, proto};

const HELP: &str = "\
ssoagent-cred: AWS credential_process helper backed by ssoagentd

Usage: ssoagent-cred [--profile NAME] [--autostart]

Prints role credentials for NAME (default: $AWS_PROFILE) as credential_process JSON.
Use it from ~/.aws/config:

    [profile dev-agent]
    credential_process = ssoagent-cred --profile dev

It never prompts or opens a browser: when the profile's SSO session is locked it exits 3 and
names the command a human must run (ssoagentctl unlock ...). When ssoagentd is not running it
exits 4, unless --autostart is given: then it starts ssoagentd in the background first (for
hosts without a socket-activated user service).

Exit codes: 0 ok, 2 bad usage or config, 3 session locked or expired (or a request under a
`confirm` rule was not approved in time: ssoagentctl approve ID), 4 ssoagentd not running,
5 AWS refused or failed, 6 refused by the agent's policy (names the rule and the caller).
Environment: SSOAGENT_SOCKET (daemon socket), AWS_PROFILE.";

/// Far above any real profile name, far below the daemon's request limit.
const MAX_PROFILE_NAME: usize = 1024;

struct Args {
    profile: String,
    autostart: bool,
}

fn main() {
    let code = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => run(args),
        Ok(None) => exit::OK,
        Err(msg) => {
            eprintln!("ssoagent-cred: {msg}");
            exit::USAGE
        }
    };
    std::process::exit(code);
}

/// `Ok(None)` when help or version was printed.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut profile = None;
    let mut autostart = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "-V" | "--version" => {
                println!("ssoagent-cred {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "--autostart" => autostart = true,
            "--profile" | "-p" => {
                profile = Some(args.next().ok_or("--profile needs a profile name")?);
            }
            other => match other.strip_prefix("--profile=") {
                Some(p) => profile = Some(p.to_string()),
                None => return Err(format!("unexpected argument '{other}' (see --help)")),
            },
        }
    }
    let profile = ssoagent_client::fsutil::profile_or_env(profile)
        .ok_or("no profile: pass --profile NAME or set AWS_PROFILE")?;
    if profile.len() > MAX_PROFILE_NAME {
        return Err(format!(
            "a profile name of {} bytes is not a profile name",
            profile.len()
        ));
    }
    Ok(Some(Args { profile, autostart }))
}

/// How long one call may take in all: beyond the daemon's own request timeout (120 s), which
/// covers a policy that waits for a human's approval.
const CALL_TIMEOUT: Duration = Duration::from_secs(150);

fn run(args: Args) -> i32 {
    match fetch(args) {
        Ok(creds) => match print_json(&creds) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("ssoagent-cred: cannot write credentials to stdout: {e}");
                exit::FAILED
            }
        },
        Err((code, msg)) => {
            eprintln!("ssoagent: {msg}");
            code
        }
    }
}

/// Unix: connect with the checks and make the one call on this thread
/// (`ssoagent_client::unary`), no async runtime.
#[cfg(unix)]
fn fetch(args: Args) -> Result<proto::Credentials, (i32, String)> {
    let path = ssoagent_client::socket_path();
    let stream = match ssoagent_client::connect_blocking(&path) {
        Ok((stream, _)) => stream,
        Err(e) if args.autostart && e.daemon_absent() => {
            autostart(&path)?;
            ssoagent_client::connect_blocking(&path)
                .map_err(|e| (exit::UNREACHABLE, e.to_string()))?
                .0
        }
        Err(e) => return Err((exit::UNREACHABLE, e.to_string())),
    };
    let request = proto::GetCredentialsRequest {
        profile: args.profile,
    };
    ssoagent_client::unary::call(stream, GET_CREDENTIALS, &request, CALL_TIMEOUT)
        .map_err(|s| (exit::for_status(&s), exit::message(&s)))
}

/// The gRPC path of `Agent.GetCredentials` (proto/ssoagent/v1/agent.proto).
#[cfg(unix)]
const GET_CREDENTIALS: &str = "/ssoagent.v1.Agent/GetCredentials";

/// Windows: the named pipe through tonic's channel on a current-thread runtime.
#[cfg(windows)]
fn fetch(args: Args) -> Result<proto::Credentials, (i32, String)> {
    let path = ssoagent_client::socket_path();
    let rt = runtime()?;
    let channel = match rt.block_on(ssoagent_client::connect(&path)) {
        Ok(c) => c,
        Err(e) if args.autostart && e.daemon_absent() => {
            autostart(&path)?;
            rt.block_on(ssoagent_client::connect(&path))
                .map_err(|e| (exit::UNREACHABLE, e.to_string()))?
        }
        Err(e) => return Err((exit::UNREACHABLE, e.to_string())),
    };
    let request = proto::GetCredentialsRequest {
        profile: args.profile,
    };
    rt.block_on(async {
        let mut client = proto::agent_client::AgentClient::new(channel);
        tokio::time::timeout(CALL_TIMEOUT, client.get_credentials(request)).await
    })
    .map_err(|_| (exit::FAILED, "ssoagentd did not answer in time".to_string()))?
    .map(tonic::Response::into_inner)
    .map_err(|s| (exit::for_status(&s), exit::message(&s)))
}

fn runtime() -> Result<tokio::runtime::Runtime, (i32, String)> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| (exit::FAILED, format!("cannot start: {e}")))
}

/// `--autostart` with no daemon: start one (the rare path; on unix the runtime is built only
/// here).
fn autostart(path: &std::path::Path) -> Result<(), (i32, String)> {
    runtime()?
        .block_on(ssoagent_client::launch::start_daemon(path))
        .map_err(|e| {
            (
                exit::UNREACHABLE,
                format!("{e}; its log is ssoagentd.log in its state dir"),
            )
        })
}

fn print_json(c: &proto::Credentials) -> std::io::Result<()> {
    let buf = ssoagent_client::credential_process_json(c);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&buf)?;
    stdout.flush()
}
