//! `ssoagentctl`: what humans type to unlock, lock and inspect ssoagent's SSO sessions.

mod browser;
mod cmd;
mod daemon;
mod display;
mod failure;
mod times;
mod tty;
mod util;
#[cfg(windows)]
mod windows;

use clap::{Parser, Subcommand};
use cmd::{
    Target, accounts, approve, completions, configure, console, demo, doctor, ecs, env, exec,
    forward, lock, log, logout, man, service, start, status, unlock, watch, whoami,
};
use failure::Failure;
use ssoagent_client::{config, exit};

#[derive(Parser)]
#[command(
    version,
    about = "Unlock AWS IAM Identity Center sessions once; let every AWS tool get credentials silently.",
    long_about = "ssoagent keeps your IAM Identity Center (SSO) sessions in a per-user daemon, ssoagentd. \
A human unlocks a session (browser approval); scripts, CI jobs and coding agents then get role \
credentials through `credential_process = ssoagent-cred --profile NAME` with no prompts. When no \
session is unlocked they fail at once, naming the command to run.",
    after_help = "\
Examples:
  ssoagentctl unlock work             unlock [sso-session work] (browser approval if needed)
  ssoagentctl unlock --profile dev    unlock the session profile 'dev' uses
  ssoagentctl unlock work --for 8h    ... and lock it again after 8 hours
  ssoagentctl unlock --device-code    device-code login (for a browser on another machine)
  ssoagentctl unlock work --verify    ... and prove every profile of it works (STS)
  ssoagentctl exec -p dev -- aws s3 ls  run a program with a profile's credentials
  eval \"$(ssoagentctl env -p dev)\"     the same for your shell
  ssoagentctl status                  sessions, unlock deadlines, cached credentials
  ssoagentctl lock --all              stop issuing credentials now
  ssoagentctl demo                    try it all against a built-in emulator (no AWS needed)

Exit codes: 0 ok, 2 bad usage or config, 3 a session must be unlocked (or a human must
confirm at a terminal), 4 ssoagentd not running, 5 AWS refused or failed, 6 refused by
the agent's policy.
Environment: SSOAGENT_SOCKET, SSOAGENT_CONFIG, SSOAGENT_STATE_DIR, SSOAGENT_LOG, BROWSER,
AWS_CONFIG_FILE, AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL_SSO_OIDC."
)]
struct Cli {
    /// Never start ssoagentd; fail when it is not running.
    #[arg(long, global = true)]
    no_autostart: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Unlock a session: reuse a stored token if valid or refreshable, else log in.
    Unlock(unlock::UnlockArgs),
    /// Log in anew (browser approval) even if a stored token could be reused, then unlock.
    Login(unlock::UnlockArgs),
    /// Stop issuing credentials for a session now; stored tokens stay for the next unlock.
    Lock(Target),
    /// Revoke a session's token with AWS (SSO Logout) and delete it.
    Logout(Target),
    /// Show the daemon, every session's state and cached credentials (exit 0 if the daemon answers).
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List the accounts and roles a session's user may use.
    Accounts {
        /// Session name (default: the only one configured).
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run a program with a profile's credentials and region in its environment.
    #[command(after_help = "Example: ssoagentctl exec --profile dev -- aws s3 ls\n\
The program gets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n\
AWS_CREDENTIAL_EXPIRATION and AWS_REGION/AWS_DEFAULT_REGION; AWS_PROFILE is removed.\n\
Its exit code is passed through. A locked session is exit 3, never a login.\n\
With --ecs it gets AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN\n\
instead (no key variables): its SDK fetches fresh credentials from ssoagentd for as long as\n\
it runs; the grant ends when it exits.")]
    Exec {
        /// Profile (default: $AWS_PROFILE).
        #[arg(long, short)]
        profile: Option<String>,
        /// Serve the program through the container-credentials endpoint (SDKs refresh on
        /// their own) instead of fixed keys.
        #[arg(long)]
        ecs: bool,
        /// The command and its arguments, after --.
        #[arg(trailing_var_arg = true, required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// Print a profile's credentials as environment variables, e.g. eval "$(ssoagentctl env -p dev)".
    Env {
        /// Profile (default: $AWS_PROFILE).
        #[arg(long, short)]
        profile: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: env::Format,
    },
    /// Show who a profile's credentials belong to (STS GetCallerIdentity).
    Whoami {
        /// Profile (default: $AWS_PROFILE).
        #[arg(long, short)]
        profile: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Start ssoagentd in the background if it is not running.
    Start,
    /// Stop the running ssoagentd (unlocked sessions stay unlocked when it starts again).
    Stop,
    /// Stop and start ssoagentd.
    Restart,
    /// Run a complete demo against the built-in IAM Identity Center emulator (no AWS needed).
    Demo(demo::Args),
    /// Write a profile for every account and role of a session into ~/.aws/config.
    Configure(configure::Args),
    /// Check the setup: config files, profiles, socket, daemon, token store and clock.
    Doctor,
    /// Run ssoagentd as a user service (systemd socket activation, or launchd).
    #[command(subcommand)]
    Service(service::Action),
    /// Forward the agent's socket to HOST over SSH (ssh -R), as ssh-agent's is forwarded.
    #[command(after_help = "Example: ssoagentctl forward build-box -- -p 2222\n\
Prints SSOAGENT_SOCKET=<remote socket> for the remote side; without a remote command or -N\n\
the remote login shell gets it set. The remote socket's directory is made 0700.")]
    Forward(forward::ForwardArgs),
    /// Print shell completions, e.g. ssoagentctl completions bash > /etc/bash_completion.d/ssoagentctl
    Completions { shell: clap_complete::Shell },
    /// Grants on the container-credentials endpoint, for SDKs that refresh on their own.
    #[command(subcommand)]
    Ecs(ecs::Action),
    /// Open the AWS console signed in with a profile's credentials.
    Console(console::ConsoleArgs),
    /// Print the man page (roff), e.g. ssoagentctl man > ~/.local/share/man/man1/ssoagentctl.1
    Man,
    // --- audit and policy (issue 11) ---
    /// Show the audit log: which process took which credentials, refusals, approvals.
    Log(log::LogArgs),
    /// Approve a request waiting under a `confirm` rule (asks at the terminal).
    Approve(approve::ApproveArgs),
    /// Print events as they happen (issued, locked, pending, ending...), until Ctrl-C.
    Watch {
        /// The same JSON objects as the audit log, one per line.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(run(cli)) {
        Ok(()) => exit::OK,
        Err(f) => {
            // The message may carry the daemon's or the portal's words: no control characters.
            // An empty message: the exit code is a program's own (exec --ecs).
            if !f.message.is_empty() {
                eprintln!("ssoagentctl: {}", display::escape_controls(&f.message));
            }
            f.code
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let autostart = !cli.no_autostart && agent_config()?.autostart;
    match cli.command {
        Cmd::Unlock(a) => unlock::run(a, false, autostart).await,
        Cmd::Login(a) => unlock::run(a, true, autostart).await,
        Cmd::Lock(t) => lock::run(t, autostart).await,
        Cmd::Logout(t) => logout::run(t, autostart).await,
        Cmd::Status { json } => status::run(json).await,
        Cmd::Accounts { session, json } => accounts::run(session, json, autostart).await,
        Cmd::Start => start::start().await,
        Cmd::Stop => start::stop().await,
        Cmd::Restart => start::restart().await,
        Cmd::Exec {
            profile,
            ecs,
            command,
        } => exec::run(profile, command, ecs, autostart).await,
        Cmd::Ecs(action) => ecs::run(action, autostart).await,
        Cmd::Console(a) => console::run(a, autostart).await,
        Cmd::Env { profile, format } => env::run(profile, format, autostart).await,
        Cmd::Whoami { profile, json } => whoami::run(profile, json, autostart).await,
        Cmd::Demo(a) => demo::run(a).await,
        Cmd::Service(action) => service::run(action).await,
        Cmd::Doctor => doctor::run().await,
        Cmd::Configure(a) => configure::run(a, autostart).await,
        Cmd::Forward(a) => forward::run(a, autostart).await,
        Cmd::Completions { shell } => completions::run(shell),
        Cmd::Man => man::run(),
        Cmd::Log(a) => log::run(a).await,
        Cmd::Approve(a) => approve::run(a, autostart).await,
        Cmd::Watch { json } => watch::run(json, autostart).await,
    }
}

fn agent_config() -> Result<config::AgentConfig, Failure> {
    config::AgentConfig::load(&config::config_path())
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))
}
