//! Helpers for the role-chaining and tools tests (`tests/chain.rs`, `tests/tools.rs`): a
//! config with a chain of profiles, `ssoagentctl` with extra environment, `whoami --json`,
//! concurrent runs with bounded waits, and finding a Python with boto3.
//!
//! Everything here is an extension of [`World`] through [`ChainWorld`] (or a free function), so
//! it can live next to other helper modules without touching `World` itself.

use std::{collections::BTreeMap, thread};

use crate::{COMMAND_TIMEOUT, Op, Out, SESSION, START_URL, World, bin, run_with_timeout};

/// The account and role of the SSO profile at the root of the chain.
pub const ROOT_ACCOUNT: &str = "111111111111";
pub const ROOT_ROLE: &str = "ReadOnly";
pub const DEPLOY_ROLE_ARN: &str = "arn:aws:iam::222222222222:role/Deploy";
pub const BEDROCK_ROLE_ARN: &str = "arn:aws:iam::333333333333:role/Bedrock";
/// The emulator's external id for roles named `...WithExternalId`.
pub const EXTERNAL_ID: &str = "secret-ext";

/// Every variable `ssoagentctl env` sets for a profile with a region.
pub const ENV_VARS: [&str; 6] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

/// The ARN STS reports for credentials of an SSO permission set (as the emulator forms it).
pub fn sso_arn(account: &str, role: &str) -> String {
    format!(
        "arn:aws:sts::{account}:assumed-role/AWSReservedSSO_{role}_0123456789abcdef/user@example.com"
    )
}

/// The ARN STS reports for an assumed role.
pub fn assumed_arn(account: &str, role: &str, session_name: &str) -> String {
    format!("arn:aws:sts::{account}:assumed-role/{role}/{session_name}")
}

/// `[sso-session work]` alone (us-east-1).
pub fn sso_session_section() -> String {
    format!(
        "[sso-session {SESSION}]\n\
         sso_start_url = {START_URL}\n\
         sso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n"
    )
}

/// A self-contained ssoagent profile (`ssoagent_*` keys plus a credential_process naming
/// itself), with an optional `region`.
pub fn agent_profile(name: &str, account: &str, role: &str, region: Option<&str>) -> String {
    let mut s = format!(
        "[profile {name}]\n\
         ssoagent_session = {SESSION}\n\
         ssoagent_account_id = {account}\n\
         ssoagent_role_name = {role}\n\
         credential_process = {} --profile {name}\n",
        bin("ssoagent-cred").display()
    );
    if let Some(r) = region {
        s += &format!("region = {r}\n");
    }
    s
}

/// The two-hop chain of the issue: `dev` (SSO, 111111111111 ReadOnly) → `deploy` (Deploy in
/// 222222222222, region eu-central-1) → `bedrock` (Bedrock in 333333333333, session `robot`).
pub fn chain_config() -> String {
    format!(
        "{}\n{}\n\
         [profile deploy]\n\
         role_arn = {DEPLOY_ROLE_ARN}\n\
         source_profile = dev\n\
         region = eu-central-1\n\
         \n\
         [profile bedrock]\n\
         role_arn = {BEDROCK_ROLE_ARN}\n\
         source_profile = deploy\n\
         role_session_name = robot\n",
        sso_session_section(),
        agent_profile("dev", ROOT_ACCOUNT, ROOT_ROLE, None),
    )
}

/// A World (no daemon yet) whose `~/.aws/config` is [`chain_config`] plus `extra`.
pub fn chain_world(extra: &str) -> World {
    let w = World::new();
    w.write_aws_config(&format!("{}\n{extra}", chain_config()));
    w
}

/// The same with a running daemon.
pub fn started_chain_world(extra: &str) -> World {
    let mut w = chain_world(extra);
    w.start_daemon();
    w
}

/// Extensions of [`World`] for the chaining and tools tests.
pub trait ChainWorld {
    /// `ssoagentctl --no-autostart ARGS` with extra environment (`None` removes a variable).
    fn ctl_env(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> Out;
    /// `sh -c SCRIPT` with the World's environment plus `env`.
    fn sh(&self, script: &str, env: &[(&str, &str)]) -> Out;
    /// `ssoagentctl whoami --profile P --json`, asserting success, parsed.
    fn whoami_json(&self, profile: &str) -> serde_json::Value;
    /// `ssoagentctl env --profile P --format json`, asserting success, parsed into a map.
    fn env_json(&self, profile: &str) -> BTreeMap<String, String>;
    /// `ssoagent-cred --profile P` run `n` times at once; every run is bounded.
    fn concurrent_creds(&self, profile: &str, n: usize) -> Vec<Out>;
    /// The profile entry `status --json` shows for `profile` (in any session).
    fn status_profile(&self, profile: &str) -> serde_json::Value;
    /// The sum of every emulator call counter.
    fn total_calls(&self) -> u64;
    /// Calls to the operations that reach AWS for credentials (SSO portal, OIDC, STS).
    fn credential_calls(&self) -> u64;
}

impl ChainWorld for World {
    fn ctl_env(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> Out {
        let mut c = self.command(bin("ssoagentctl"));
        c.arg("--no-autostart").args(args);
        for (k, v) in env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        run_with_timeout(&mut c, COMMAND_TIMEOUT)
    }

    fn sh(&self, script: &str, env: &[(&str, &str)]) -> Out {
        let mut c = self.command("sh");
        c.arg("-c").arg(script);
        for (k, v) in env {
            c.env(k, v);
        }
        run_with_timeout(&mut c, COMMAND_TIMEOUT)
    }

    #[track_caller]
    fn whoami_json(&self, profile: &str) -> serde_json::Value {
        let out = self.ctl(&["whoami", "--profile", profile, "--json"]);
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("whoami --json is not JSON ({e}):\n{out:?}"))
    }

    #[track_caller]
    fn env_json(&self, profile: &str) -> BTreeMap<String, String> {
        let out = self.ctl(&["env", "--profile", profile, "--format", "json"]);
        out.assert_ok();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
            panic!("env --format json is not a JSON object of strings ({e}):\n{out:?}")
        })
    }

    fn concurrent_creds(&self, profile: &str, n: usize) -> Vec<Out> {
        thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let mut c = self.command(bin("ssoagent-cred"));
                    c.args(["--profile", profile]);
                    s.spawn(move || run_with_timeout(&mut c, COMMAND_TIMEOUT))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a concurrent run panicked"))
                .collect()
        })
    }

    #[track_caller]
    fn status_profile(&self, profile: &str) -> serde_json::Value {
        let v = self.status_json();
        v["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["profiles"].as_array().into_iter().flatten())
            .find(|p| p["name"] == profile)
            .cloned()
            .unwrap_or_else(|| panic!("no profile {profile} in status --json:\n{v:#}"))
    }

    fn total_calls(&self) -> u64 {
        self.emu.all_calls().values().sum()
    }

    fn credential_calls(&self) -> u64 {
        [
            Op::CreateToken,
            Op::GetRoleCredentials,
            Op::AssumeRole,
            Op::GetCallerIdentity,
        ]
        .iter()
        .map(|op| self.emu.calls(*op))
        .sum()
    }
}
