//! `ssoagentd`: holds IAM Identity Center sessions and serves role credentials to
//! `ssoagent-cred` and `ssoagentctl` over a private unix socket.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::Parser;
use ssoagent_client::config::{self, AgentConfig};
use ssoagentd::{agent, clock, platform, rpc, store};
use tracing::{Level, error, info};
use tracing_subscriber::{EnvFilter, filter::Targets, prelude::*};

/// The ssoagent daemon. Runs in the foreground and logs to stderr (what systemd and launchd
/// want); `ssoagentctl` starts it in the background when none is running.
#[derive(Parser)]
#[command(
    version,
    after_help = "\
Environment:
  SSOAGENT_SOCKET     socket path (default $XDG_RUNTIME_DIR/ssoagent/agent.sock)
  SSOAGENT_CONFIG     agent config file (TOML)
  SSOAGENT_STATE_DIR  state and token file store
  SSOAGENT_LOG        log filter, e.g. info or ssoagentd=debug (default info)
  AWS_CONFIG_FILE     as for the AWS SDKs
  AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL_SSO_OIDC, AWS_ENDPOINT_URL_STS
                      endpoint overrides (https://, or http:// to a loopback host only);
                      the generic AWS_ENDPOINT_URL and a profile's endpoint_url are ignored"
)]
struct Args {
    /// Unix socket to serve on.
    #[arg(long, env = "SSOAGENT_SOCKET", hide_env_values = true)]
    socket: Option<PathBuf>,
    /// Append logs to this file instead of stderr.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Started in the background (by ssoagentctl or ssoagent-cred --autostart): log to
    /// ssoagentd.log in the state dir, stderr included.
    #[arg(long, conflicts_with = "log_file")]
    background: bool,
    /// Exit after this long without requests (e.g. 30m); for socket activation, which starts
    /// the daemon again on the next request. Unlocked sessions stay unlocked.
    #[arg(long, value_parser = humantime::parse_duration)]
    idle_timeout: Option<std::time::Duration>,
}

/// Exit code for a configuration the daemon refuses (an endpoint, no home directory).
const BAD_CONFIG: i32 = 2;

fn main() {
    let mut args = Args::parse();
    if let Err(e) = config::state_dir() {
        eprintln!("ssoagentd: {e}");
        std::process::exit(BAD_CONFIG);
    }
    if args.background {
        args.log_file = config::daemon_log_path().ok();
    }
    platform::harden();
    if let Err(e) = init_logging(args.log_file.as_deref()) {
        eprintln!("ssoagentd: {e:#}");
        std::process::exit(1);
    }
    // Refused before anything is bound or called: nothing leaves the machine. (stderr is the
    // log file when detached.)
    if let Err(e) = ssoagentd::aws::Endpoints::from_env() {
        eprintln!("ssoagentd: {e}");
        std::process::exit(BAD_CONFIG);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            error!("{e:#}");
            eprintln!("ssoagentd: {e:#}");
            // A broken agent config (a bad rule, an unknown key) is bad usage: exit 2.
            if e.downcast_ref::<config::ConfigError>().is_some() {
                BAD_CONFIG
            } else {
                1
            }
        }
    };
    std::process::exit(code);
}

async fn run(args: Args) -> anyhow::Result<i32> {
    // A socket passed by systemd belongs to systemd: no pidfile, never unlinked by us.
    let activated = platform::activated_listener()?;
    let mut own_socket = None;
    let mut _pid = None;
    if activated.is_none() {
        let socket = args
            .socket
            .clone()
            .unwrap_or_else(ssoagent_client::socket_path);
        match lock_socket(&socket)? {
            Ok(lock) => _pid = Some(lock),
            Err(platform::AlreadyRunning(pid)) => {
                eprintln!(
                    "ssoagentd: already running (pid {pid}) on {}",
                    socket.display()
                );
                return Ok(platform::ALREADY_RUNNING);
            }
        }
        own_socket = Some(socket);
    }
    let agent = Arc::new(start_agent().await?);
    let listener = match (activated, &own_socket) {
        (Some(l), _) => l,
        (None, Some(path)) => platform::bind(path)?,
        (None, None) => unreachable!("either activated or our own socket"),
    };
    let log_file = args
        .log_file
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    rpc::serve(listener, own_socket, agent, log_file, args.idle_timeout).await?;
    Ok(0)
}

/// The socket's private directory, then its pidfile lock.
fn lock_socket(
    socket: &std::path::Path,
) -> anyhow::Result<Result<platform::PidLock, platform::AlreadyRunning>> {
    let dir = socket.parent().context("socket path has no directory")?;
    platform::prepare_dir(dir)?;
    platform::lock_pidfile(socket)
}

/// Reads the agent config, picks the token store and builds the core.
async fn start_agent() -> anyhow::Result<agent::Agent> {
    let cfg_path = config::config_path();
    let cfg = AgentConfig::load(&cfg_path)?;
    let state_dir = config::state_dir()?;
    let stores = store::select(cfg.store, &state_dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cfg_path.display()))?;
    info!(config = %cfg_path.display(), state = %state_dir.display(), store = %stores.label, "starting");
    Ok(agent::Agent::new(cfg, stores, state_dir, clock::system()).await?)
}

/// Logs go to stderr or a file, filtered by `SSOAGENT_LOG`. The HTTP and AWS SDK crates are
/// capped at `info` whatever the filter says: at debug/trace they print request bodies and
/// headers, which carry tokens and client secrets.
fn init_logging(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("SSOAGENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let cap = Targets::new()
        .with_default(Level::TRACE)
        .with_target("aws_smithy_runtime", Level::INFO)
        .with_target("aws_smithy_runtime_api", Level::INFO)
        .with_target("aws_smithy_http", Level::INFO)
        .with_target("aws_smithy_http_client", Level::INFO)
        .with_target("aws_smithy_types", Level::INFO)
        .with_target("aws_sdk_sso", Level::INFO)
        .with_target("aws_sdk_ssooidc", Level::INFO)
        .with_target("aws_sdk_sts", Level::INFO)
        .with_target("aws_config", Level::INFO)
        .with_target("aws_runtime", Level::INFO)
        .with_target("hyper", Level::INFO)
        .with_target("hyper_util", Level::INFO)
        .with_target("h2", Level::INFO)
        .with_target("tonic", Level::INFO)
        .with_target("tower", Level::INFO)
        .with_target("rustls", Level::INFO);
    let registry = tracing_subscriber::registry().with(filter).with(cap);
    match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                let _ = ssoagent_client::fsutil::ensure_private_dir(dir);
            }
            let f = platform::open_log(path)?;
            // Panics and early errors print to stderr: send them to the log too.
            platform::redirect_stderr(&f);
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(std::sync::Mutex::new(f)),
                )
                .init();
        }
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    Ok(())
}
