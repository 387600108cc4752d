//! `ssoagentctl service install | uninstall | status`: ssoagentd as a user service — systemd
//! (a socket unit, so the first request starts the daemon) or launchd. The unit files are the
//! ones in `packaging/`, with this installation's binary path filled in. `--dry-run` prints
//! every file and command instead of touching anything.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use clap::{Subcommand, ValueEnum};
use ssoagent_client::exit;

use super::service_windows as windows;
use crate::{daemon, failure::Failure, util::uid};

const SYSTEMD_SERVICE: &str = include_str!("../../../packaging/systemd/ssoagentd.service");
const SYSTEMD_SOCKET: &str = include_str!("../../../packaging/systemd/ssoagentd.socket");
const LAUNCHD_PLIST: &str =
    include_str!("../../../packaging/launchd/com.github.ssoagent.ssoagentd.plist");
const LAUNCHD_LABEL: &str = "com.github.ssoagent.ssoagentd";

#[derive(Subcommand)]
pub enum Action {
    /// Write the unit files (or plist) for this platform, then enable and start the service.
    Install(Opts),
    /// Stop and disable the service and remove its files.
    Uninstall(Opts),
    /// Show whether the service is installed and what systemd/launchd says of it.
    Status(Opts),
}

#[derive(clap::Args)]
pub struct Opts {
    /// Print every file and command instead of doing anything.
    #[arg(long)]
    dry_run: bool,
    /// Act as on this platform (default: this machine's).
    #[arg(long, value_enum)]
    platform: Option<Platform>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Platform {
    Systemd,
    Launchd,
    /// The `Run` key of the user's registry (service_windows.rs).
    Windows,
}

impl Platform {
    fn current() -> Self {
        if cfg!(windows) {
            Self::Windows
        } else if cfg!(target_os = "macos") {
            Self::Launchd
        } else {
            Self::Systemd
        }
    }
}

pub struct Plan {
    pub files: Vec<(PathBuf, String)>,
    pub commands: Vec<Vec<String>>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// This ssoagentctl, for the Windows Run key.
fn this_ctl() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "ssoagentctl".into())
}

/// The daemon binary to put in the unit: the one installed beside this ssoagentctl.
fn daemon_path() -> String {
    daemon::sibling_path("ssoagentd")
}

fn systemd_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".config"))
        .join("systemd/user")
}

fn plist_path() -> PathBuf {
    home()
        .join("Library/LaunchAgents")
        .join(format!("{LAUNCHD_LABEL}.plist"))
}

fn cmd(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The files to write and commands to run for the action on the platform.
fn plan(action: &Action, platform: Platform) -> Plan {
    match platform {
        Platform::Systemd => systemd_plan(action),
        Platform::Launchd => launchd_plan(action),
        Platform::Windows => match action {
            Action::Install(_) => windows::install(&this_ctl()),
            Action::Uninstall(_) => windows::uninstall(),
            Action::Status(_) => windows::status(),
        },
    }
}

fn systemd_plan(action: &Action) -> Plan {
    match action {
        Action::Install(_) => {
            let dir = systemd_dir();
            Plan {
                files: vec![
                    (dir.join("ssoagentd.socket"), SYSTEMD_SOCKET.to_string()),
                    (
                        dir.join("ssoagentd.service"),
                        SYSTEMD_SERVICE.replace("%h/.cargo/bin/ssoagentd", &daemon_path()),
                    ),
                ],
                commands: vec![
                    cmd(&["systemctl", "--user", "daemon-reload"]),
                    cmd(&["systemctl", "--user", "enable", "--now", "ssoagentd.socket"]),
                ],
            }
        }
        Action::Uninstall(_) => Plan {
            files: vec![],
            commands: vec![
                cmd(&[
                    "systemctl",
                    "--user",
                    "disable",
                    "--now",
                    "ssoagentd.socket",
                    "ssoagentd.service",
                ]),
                cmd(&[
                    "rm",
                    "-f",
                    &path(&systemd_dir().join("ssoagentd.socket")),
                    &path(&systemd_dir().join("ssoagentd.service")),
                ]),
                cmd(&["systemctl", "--user", "daemon-reload"]),
            ],
        },
        Action::Status(_) => Plan {
            files: vec![],
            commands: vec![cmd(&[
                "systemctl",
                "--user",
                "--no-pager",
                "status",
                "ssoagentd.socket",
                "ssoagentd.service",
            ])],
        },
    }
}

fn launchd_plan(action: &Action) -> Plan {
    match action {
        Action::Install(_) => {
            // The log goes to the user's own ~/Library/Logs (the shipped plist's /Users/YOU).
            Plan {
                files: vec![(
                    plist_path(),
                    LAUNCHD_PLIST
                        .replace("/usr/local/bin/ssoagentd", &daemon_path())
                        .replace("/Users/YOU", &path(&home())),
                )],
                commands: vec![cmd(&[
                    "launchctl",
                    "bootstrap",
                    &format!("gui/{}", uid()),
                    &path(&plist_path()),
                ])],
            }
        }
        Action::Uninstall(_) => Plan {
            files: vec![],
            commands: vec![
                cmd(&[
                    "launchctl",
                    "bootout",
                    &format!("gui/{}/{LAUNCHD_LABEL}", uid()),
                ]),
                cmd(&["rm", "-f", &path(&plist_path())]),
            ],
        },
        Action::Status(_) => Plan {
            files: vec![],
            commands: vec![cmd(&[
                "launchctl",
                "print",
                &format!("gui/{}/{LAUNCHD_LABEL}", uid()),
            ])],
        },
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

pub async fn run(action: Action) -> Result<(), Failure> {
    let opts = match &action {
        Action::Install(o) | Action::Uninstall(o) | Action::Status(o) => o,
    };
    let platform = opts.platform.unwrap_or_else(Platform::current);
    let plan = plan(&action, platform);
    if let Action::Status(_) = action
        && platform != Platform::Windows
    {
        print_installed(platform);
    }
    if opts.dry_run {
        print_dry_run(&plan, &action, platform);
        return Ok(());
    }
    if platform == Platform::Windows {
        apply(&plan)?;
        // The Run key takes effect at the next logon; start the daemon now too.
        if let Action::Install(_) = action {
            return super::start::start().await;
        }
        return Ok(());
    }
    if let Action::Install(_) = action {
        // A daemon that ssoagentctl started would hold the socket the service wants.
        let _ = super::start::stop().await;
    }
    apply(&plan)
}

/// Whether the service's files are there.
fn print_installed(platform: Platform) {
    let installed = match platform {
        Platform::Systemd => systemd_dir().join("ssoagentd.service"),
        Platform::Launchd => plist_path(),
        Platform::Windows => return,
    };
    println!(
        "{} service: {} ({})",
        if platform == Platform::Systemd {
            "systemd"
        } else {
            "launchd"
        },
        if installed.exists() {
            "installed"
        } else {
            "not installed"
        },
        installed.display()
    );
}

fn print_dry_run(plan: &Plan, action: &Action, platform: Platform) {
    for (p, text) in &plan.files {
        println!("would write {}:\n{}", p.display(), indent(text));
    }
    if platform == Platform::Windows {
        for c in &plan.commands {
            println!("would run: {}", windows::command_line(c));
        }
        if let Action::Install(_) = action {
            println!("would start ssoagentd in the background now, as ssoagentctl start does");
        }
        return;
    }
    if let Action::Install(_) = action {
        println!(
            "would stop a background ssoagentd first, if one runs (the service takes over its socket)"
        );
    }
    for c in &plan.commands {
        println!("would run: {}", c.join(" "));
    }
}

/// Writes the plan's files, then runs its commands; the first failure stops it.
fn apply(plan: &Plan) -> Result<(), Failure> {
    for (p, text) in &plan.files {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Failure::new(
                    exit::FAILED,
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        std::fs::write(p, text).map_err(|e| {
            Failure::new(exit::FAILED, format!("cannot write {}: {e}", p.display()))
        })?;
        println!("wrote {}", p.display());
    }
    for c in &plan.commands {
        println!("$ {}", c.join(" "));
        let status = Command::new(&c[0])
            .args(&c[1..])
            .status()
            .map_err(|e| Failure::new(exit::FAILED, format!("cannot run {}: {e}", c[0])))?;
        if !status.success() {
            return Err(Failure::new(
                exit::FAILED,
                format!("`{}` failed ({status})", c.join(" ")),
            ));
        }
    }
    Ok(())
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}
