//! `ssoagent-cred`: the `credential_process` shim. One round trip to ssoagentd, the
//! credential_process JSON on stdout, nothing else. On failure: nothing on stdout, one line on
//! stderr, and an exit code from `ssoagent_client::exit`.

use std::io::Write;

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

fn run(args: Args) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ssoagent-cred: cannot start: {e}");
            return exit::FAILED;
        }
    };
    match rt.block_on(fetch(args)) {
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

async fn fetch(args: Args) -> Result<proto::Credentials, (i32, String)> {
    let path = ssoagent_client::socket_path();
    let channel = match ssoagent_client::connect(&path).await {
        Ok(c) => c,
        Err(e) if args.autostart && e.daemon_absent() => {
            ssoagent_client::launch::start_daemon(&path)
                .await
                .map_err(|e| {
                    (
                        exit::UNREACHABLE,
                        format!("{e}; its log is ssoagentd.log in its state dir"),
                    )
                })?;
            ssoagent_client::connect(&path)
                .await
                .map_err(|e| (exit::UNREACHABLE, e.to_string()))?
        }
        Err(e) => return Err((exit::UNREACHABLE, e.to_string())),
    };
    let profile = args.profile;
    let mut client = proto::agent_client::AgentClient::new(channel);
    client
        .get_credentials(proto::GetCredentialsRequest { profile })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| (exit::for_status(&s), exit::message(&s)))
}

fn print_json(c: &proto::Credentials) -> std::io::Result<()> {
    let buf = ssoagent_client::credential_process_json(c);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&buf)?;
    stdout.flush()
}
