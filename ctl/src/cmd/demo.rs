//! `ssoagentctl demo`: the whole story against the built-in IAM Identity Center emulator, in a
//! throwaway HOME, so a newcomer sees it work with no AWS account: start the emulator and a
//! daemon, unlock (device code, approved by the emulator), get credentials the way an AWS SDK
//! does, lock, and see a robot refused with the command a human must run.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use ssoagent_client::exit;

use crate::{daemon::sibling, failure::Failure};

struct Reaper(Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SAFETY: signalling our own child.
            #[cfg(unix)]
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM)
            };
            #[cfg(windows)]
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure::new(exit::FAILED, msg)
}

/// `demo [--oidc]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Your own OIDC identity provider (the emulator's) and AssumeRoleWithWebIdentity instead
    /// of IAM Identity Center.
    #[arg(long)]
    pub oidc: bool,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let tmp = tempfile::Builder::new()
        .prefix("ssoagent-demo-")
        .tempdir()
        .map_err(|e| fail(format!("cannot make a temp dir: {e}")))?;
    let home = tmp.path();
    let mut reaper = Reaper(Vec::new());
    let url = start_emulator(&mut reaper)?;
    let cred = sibling("ssoagent-cred");
    let config = write_files(home, &cred, args.oidc.then_some(url.as_str()))?;

    match args.oidc {
        false => println!("== ssoagent demo, against the IAM Identity Center emulator at {url}"),
        true => {
            println!("== ssoagent demo, against the emulator's OIDC identity provider at {url}/idp")
        }
    }
    println!(
        "   (temporary HOME {}; nothing of yours is touched)\n",
        home.display()
    );
    println!("~/.aws/config:\n{}", indent(&config));

    let ctl = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    story(&Sandbox { home, url: &url }, &ctl, &cred)?;
    drop(reaper);
    println!("== demo done: the emulator and daemon are stopped and the temporary HOME is removed");
    Ok(())
}

/// Starts the emulator on a free port (the reaper stops it) and returns its URL.
fn start_emulator(reaper: &mut Reaper) -> Result<String, Failure> {
    let emulator_bin = sibling("ssoagent-emulator");
    let mut emulator = Command::new(&emulator_bin)
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot start {}: {e} (build the workspace first: cargo build --release)",
                emulator_bin.display()
            ))
        })?;
    let mut line = String::new();
    BufReader::new(emulator.stdout.take().expect("piped"))
        .read_line(&mut line)
        .map_err(|e| fail(e.to_string()))?;
    reaper.0.push(emulator);
    let url = line
        .split_whitespace()
        .last()
        .filter(|u| u.starts_with("http://"))
        .ok_or_else(|| {
            fail(format!(
                "the emulator did not say where it listens: {line:?}"
            ))
        })?
        .to_string();
    Ok(url)
}

/// The throwaway HOME's agent config and ~/.aws/config; returns the latter's text.
fn write_files(home: &Path, cred: &Path, oidc: Option<&str>) -> Result<String, Failure> {
    if let Some(url) = oidc {
        let (agent, config) = super::demo_oidc::files(url, cred);
        std::fs::create_dir_all(home.join(".aws")).map_err(|e| fail(e.to_string()))?;
        std::fs::write(home.join("ssoagent.toml"), &agent).map_err(|e| fail(e.to_string()))?;
        std::fs::write(home.join(".aws/config"), &config).map_err(|e| fail(e.to_string()))?;
        return Ok(format!(
            "{config}
agent config:
{agent}"
        ));
    }
    let config = format!(
        "[sso-session demo]\n\
         sso_start_url = https://d-1234567890.awsapps.com/start\n\
         sso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n\n\
         [profile demo]\n\
         ssoagent_session = demo\n\
         ssoagent_account_id = 111111111111\n\
         ssoagent_role_name = ReadOnly\n\
         region = eu-west-1\n\
         credential_process = {} --profile demo\n",
        cred.display()
    );
    std::fs::create_dir_all(home.join(".aws")).map_err(|e| fail(e.to_string()))?;
    // Nothing of the user's: no keyring, no AWS CLI cache (the HOME is temporary anyway).
    std::fs::write(
        home.join("ssoagent.toml"),
        "store = \"file\"\naws_cli_cache = \"off\"\n",
    )
    .map_err(|e| fail(e.to_string()))?;
    std::fs::write(home.join(".aws/config"), &config).map_err(|e| fail(e.to_string()))?;
    Ok(config)
}

/// Where the demo's programs run: the throwaway HOME, pointed at the emulator.
struct Sandbox<'a> {
    home: &'a Path,
    url: &'a str,
}

impl Sandbox<'_> {
    fn env(&self, c: &mut Command) {
        let (home, url) = (self.home, self.url);
        c.env("HOME", home)
            .env("AWS_CONFIG_FILE", home.join(".aws/config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL_SSO", url)
            .env("AWS_ENDPOINT_URL_SSO_OIDC", url)
            .env("AWS_ENDPOINT_URL_STS", url)
            .env("SSOAGENT_SOCKET", home.join("run/agent.sock"))
            .env("SSOAGENT_STATE_DIR", home.join("state"))
            .env("SSOAGENT_CONFIG", home.join("ssoagent.toml"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("XDG_RUNTIME_DIR");
    }

    /// Runs one command of the story and shows it with its output and exit code.
    fn step(
        &self,
        title: &str,
        bin: &Path,
        args: &[&str],
    ) -> Result<std::process::Output, Failure> {
        println!(
            "$ {} {}",
            bin.file_name().unwrap().to_string_lossy(),
            args.iter()
                .map(|a| if a.contains(' ') {
                    format!("\"{a}\"")
                } else {
                    a.to_string()
                })
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut c = Command::new(bin);
        c.args(args).stdin(Stdio::null());
        self.env(&mut c);
        let out = c.output().map_err(|e| fail(format!("{title}: {e}")))?;
        // stderr first: it carries the prompts that come before the result on stdout.
        print!("{}", indent(&String::from_utf8_lossy(&out.stderr)));
        print!("{}", indent(&String::from_utf8_lossy(&out.stdout)));
        println!("   [exit {}]\n", out.status.code().unwrap_or(-1));
        Ok(out)
    }
}

/// Refused before the unlock, served after it, refused again after the lock.
fn story(sandbox: &Sandbox, ctl: &Path, cred: &Path) -> Result<(), Failure> {
    let step = |title: &str, bin: &Path, args: &[&str]| sandbox.step(title, bin, args);
    println!("-- a robot asks before anyone unlocked: refused at once, no browser");
    let out = step("credentials", cred, &["--profile", "demo"])?;
    if out.status.code() != Some(exit::LOCKED) {
        // The first call finds no daemon (exit 4); start one and ask again.
        step("start", ctl, &["start"])?;
        step("credentials", cred, &["--profile", "demo"])?;
    }

    println!("-- a human unlocks (device code; the emulator approves it on its own)");
    let out = step(
        "unlock",
        ctl,
        &["unlock", "demo", "--device-code", "--no-browser"],
    )?;
    if !out.status.success() {
        return Err(fail("unlock failed"));
    }

    println!("-- robots now get credentials silently, as credential_process JSON");
    let out = step("credentials", cred, &["--profile", "demo"])?;
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(format!("ssoagent-cred printed no credential JSON: {e}")))?;
    if parsed["Version"] != 1 {
        return Err(fail("unexpected credential JSON"));
    }

    println!("-- an AWS SDK gets them the same way: boto3 through credential_process, then STS");
    sdk(sandbox)?;

    step("status", ctl, &["status"])?;

    println!("-- lock: robots are refused again, with the command to run");
    step("lock", ctl, &["lock", "demo"])?;
    step("credentials", cred, &["--profile", "demo"])?;

    step("stop", ctl, &["stop"])?;
    Ok(())
}

/// boto3 resolves the demo profile through the shim and calls STS, when boto3 is importable;
/// else how to get it.
fn sdk(sandbox: &Sandbox) -> Result<(), Failure> {
    let Some(python) = python_with_boto3() else {
        println!(
            "   (skipped: python3 cannot import boto3. To see an AWS SDK use the agent:\n   \
             python3 -m venv ~/.venvs/boto3 && ~/.venvs/boto3/bin/pip install boto3, then run\n   \
             the demo with ~/.venvs/boto3/bin first on PATH; Debian needs python3-venv)\n"
        );
        return Ok(());
    };
    let out = sandbox.step("boto3", Path::new(&python), &["-c", BOTO3])?;
    if !out.status.success() {
        return Err(fail("boto3 could not use the credentials"));
    }
    Ok(())
}

/// What the demo's boto3 does: resolve the profile (credential_process = ssoagent-cred) and
/// call STS with the credentials, as any script would.
const BOTO3: &str = "import boto3; s = boto3.Session(profile_name='demo'); \
print('boto3', boto3.__version__, 'credentials by', s.get_credentials().method); \
print(s.client('sts').get_caller_identity()['Arn'])";

/// The interpreter behind the user's `python3` (resolved in the user's environment: a pyenv
/// shim needs the real HOME) when boto3 imports there.
fn python_with_boto3() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import sys, boto3; print(sys.executable)"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let exe = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !exe.is_empty()).then_some(exe)
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("   {l}\n")).collect()
}
