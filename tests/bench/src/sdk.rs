//! Section 6, what a user weighs when choosing: a fresh Python process (as every `aws` CLI
//! call or script is) getting credentials three ways, against the same emulator:
//!
//! - botocore resolving an agent-routed profile (`credential_process = ssoagent-cred`);
//! - botocore's own SSO provider on a native SSO profile, with the token the daemon mirrored
//!   into `~/.aws/sso/cache` (`aws_cli_cache = "mirror"`): *cold* (no role credentials cached:
//!   one GetRoleCredentials per process, as boto3 does) and *warm* (the AWS CLI's JSON file
//!   cache, `~/.aws/cli/cache`, already holding them);
//! - `aws-sso-util credential-process` on a legacy SSO profile, when it is installed.
//!
//! plus the floor: the same Python importing botocore and doing nothing. The interpreter is
//! `$SSOAGENT_BENCH_PYTHON` (tests/bench/run makes a virtualenv with boto3 and aws-sso-util),
//! else `$SSOAGENT_TEST_PYTHON`, else `python3` when botocore imports there.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::{
    report::{Summary, summarize},
    world::{Bins, Config, Op, Result, SESSION, World, run_capture},
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Resolves the profile `argv[1]` in a fresh botocore session and prints how, and the key id;
/// with `argv[2]`, botocore's SSO provider caches role credentials in that directory, as the AWS
/// CLI does.
const RESOLVE: &str = "\
import sys, botocore.session
from botocore.credentials import JSONFileCache
s = botocore.session.Session(profile=sys.argv[1])
if len(sys.argv) > 2:
    s.get_component('credential_provider').get_provider('sso').cache = JSONFileCache(sys.argv[2])
c = s.get_credentials()
f = c.get_frozen_credentials()
assert f.access_key and f.secret_key and f.token
print(c.method, f.access_key)
";

pub struct Way {
    pub name: &'static str,
    pub times: Summary,
    /// GetRoleCredentials calls per process (the emulator's counter over the timed runs).
    pub aws_calls_per_run: f64,
    /// botocore's name for the provider that answered (`custom-process`, `sso`).
    pub method: String,
}

pub struct SdkFigures {
    pub python: String,
    pub botocore_version: String,
    pub runs: usize,
    pub floor: Summary,
    pub ways: Vec<Way>,
    /// Why aws-sso-util was not measured, when it was not.
    pub aws_sso_util_missing: Option<String>,
}

/// The Python to use, or why there is none.
pub fn find_python() -> std::result::Result<String, String> {
    let candidates = ["SSOAGENT_BENCH_PYTHON", "SSOAGENT_TEST_PYTHON"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .chain(["python3".to_string()]);
    for p in candidates {
        let out = Command::new(&p)
            .args(["-c", "import sys, botocore; print(sys.executable)"])
            .output();
        if let Ok(out) = out
            && out.status.success()
        {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
    }
    Err(
        "no Python with botocore ($SSOAGENT_BENCH_PYTHON, $SSOAGENT_TEST_PYTHON, python3); \
         tests/bench/run makes one"
            .into(),
    )
}

/// `aws-sso-util` next to the interpreter, else on PATH.
fn find_aws_sso_util(python: &str) -> Option<PathBuf> {
    let beside = Path::new(python).parent()?.join("aws-sso-util");
    if beside.is_file() {
        return Some(beside);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("aws-sso-util"))
        .find(|p| p.is_file())
}

pub fn run(bins: &Bins, runs: usize) -> Result<SdkFigures> {
    let python = find_python()?;
    let world = World::start(bins, Config::default(), "aws_cli_cache = \"mirror\"\n")?;
    world.append_aws_config(&format!(
        "[profile agent]\ncredential_process = {} --profile shim\nregion = eu-west-1\n\n\
         [profile legacy]\nsso_start_url = https://legacy.awsapps.com/start\n\
         sso_region = us-east-1\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\n\
         region = eu-west-1\n\n",
        bins.cred().display()
    ))?;
    world.unlock(SESSION)?;

    let time = |args: &[&str]| -> Result<(Duration, String)> {
        let mut c = world.command(args[0]);
        c.args(&args[1..]);
        let start = Instant::now();
        let (code, out, err) = run_capture(&mut c, TIMEOUT)?;
        let wall = start.elapsed();
        if code != 0 {
            return Err(format!("{} exited {code}: {}", args.join(" "), err.trim()));
        }
        Ok((wall, out))
    };
    // Times `runs` runs after one untimed warm-up run; the GetRoleCredentials per timed run.
    let measure = |args: &[&str]| -> Result<(Summary, f64, String)> {
        let (_, first) = time(args)?;
        let calls0 = world.emu.calls(Op::GetRoleCredentials);
        let mut v = Vec::with_capacity(runs);
        for _ in 0..runs {
            v.push(time(args)?.0);
        }
        let calls = world.emu.calls(Op::GetRoleCredentials) - calls0;
        let method = first
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        Ok((summarize(v), calls as f64 / runs as f64, method))
    };

    let version = time(&[
        &python,
        "-c",
        "import botocore; print(botocore.__version__)",
    ])?
    .1;
    let (floor, _, _) = measure(&[&python, "-c", "import botocore.session"])?;
    let cli_cache = world.path(".aws/cli/cache");
    let cli_cache = cli_cache.to_str().ok_or("temp path is not UTF-8")?;
    let mut ways = Vec::new();
    for (name, args) in [
        (
            "botocore → credential_process → ssoagent-cred",
            vec![python.as_str(), "-c", RESOLVE, "agent"],
        ),
        (
            "botocore native SSO, cold (GetRoleCredentials per process)",
            vec![python.as_str(), "-c", RESOLVE, "shim"],
        ),
        (
            "botocore native SSO, warm (~/.aws/cli/cache)",
            vec![python.as_str(), "-c", RESOLVE, "shim", cli_cache],
        ),
    ] {
        let (times, aws_calls_per_run, method) = measure(&args)?;
        ways.push(Way {
            name,
            times,
            aws_calls_per_run,
            method,
        });
    }

    let mut aws_sso_util_missing = None;
    match find_aws_sso_util(&python) {
        Some(tool) => {
            // Its token cache is the AWS CLI's, keyed by the legacy profile's start URL: the
            // daemon mirrors it there once that session is unlocked.
            let mut c = world.command(world.bins.ctl());
            c.args([
                "--no-autostart",
                "unlock",
                "--profile",
                "legacy",
                "--device-code",
                "--no-browser",
            ]);
            let (code, out, err) = run_capture(&mut c, TIMEOUT)?;
            if code != 0 {
                return Err(format!("unlock --profile legacy exited {code}: {out}{err}"));
            }
            let tool = tool.to_string_lossy().into_owned();
            match measure(&[&tool, "credential-process", "--profile", "legacy"]) {
                Ok((times, aws_calls_per_run, _)) => ways.push(Way {
                    name: "aws-sso-util credential-process",
                    times,
                    aws_calls_per_run,
                    method: "credential_process JSON".into(),
                }),
                Err(e) => aws_sso_util_missing = Some(format!("aws-sso-util failed: {e}")),
            }
        }
        None => {
            aws_sso_util_missing = Some(
                "aws-sso-util is not installed beside the Python or on PATH (tests/bench/run \
                 installs it into its virtualenv when pip can)"
                    .into(),
            )
        }
    }

    Ok(SdkFigures {
        python,
        botocore_version: version.trim().to_string(),
        runs,
        floor,
        ways,
        aws_sso_util_missing,
    })
}
