//! Serving role credentials: the profile forms, config errors, locked sessions, AWS refusals,
//! single-flight under concurrency and token refresh with rotation.

use std::{process::Stdio, time::Duration};

use ssoagent_e2e::*;

#[test]
fn native_self_contained_and_legacy_profiles() {
    let w = World::with(Config::default());
    let cred = bin("ssoagent-cred");
    w.append_aws_config(&format!(
        "[profile dev-agent]\n\
         credential_process = {cred} --profile dev\n\
         \n\
         [profile agent]\n\
         ssoagent_session = work\n\
         ssoagent_account_id = 111111111111\n\
         ssoagent_role_name = Admin\n\
         credential_process = {cred} --profile agent\n\
         \n\
         [profile legacy]\n\
         sso_start_url = https://legacy.awsapps.com/start\n\
         sso_region = us-east-1\n\
         sso_account_id = 333333333333\n\
         sso_role_name = Developer\n",
        cred = cred.display()
    ));
    let mut w = w;
    w.start_daemon();

    w.unlock();
    let dev = w.creds("dev");
    let agent = w.creds("agent");
    assert_ne!(
        dev.access_key_id, agent.access_key_id,
        "two roles, two sets of credentials"
    );
    assert_eq!(w.emu.calls(Op::GetRoleCredentials), 2);

    // The legacy profile's session is keyed by its start URL and is still locked.
    w.cred(&["--profile", "legacy"]).assert_failure(
        3,
        &["ssoagentctl unlock", "https://legacy.awsapps.com/start"],
    );
    let out = w.ctl(&[
        "unlock",
        "--profile",
        "legacy",
        "--device-code",
        "--no-browser",
    ]);
    out.assert_ok();
    assert!(
        out.stdout.contains("https://legacy.awsapps.com/start"),
        "{out:?}"
    );
    let legacy = w.creds("legacy");
    assert!(legacy.access_key_id.starts_with("ASIA"));
    let status = w.status_json();
    let names: Vec<&str> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"https://legacy.awsapps.com/start") && names.contains(&"work"),
        "{status:#}"
    );
    assert_eq!(
        w.session_state("https://legacy.awsapps.com/start"),
        "unlocked"
    );
}

/// A started World whose `~/.aws/config` is the default plus `extra`.
fn world_with_config(extra: &str) -> World {
    let mut w = World::new();
    w.append_aws_config(extra);
    w.start_daemon();
    w
}

#[test]
fn unknown_profile_is_a_config_error() {
    let w = World::started();
    w.cred(&["--profile", "no-such-profile"])
        .assert_failure(2, &["no-such-profile"]);
    w.ctl(&["unlock", "--profile", "no-such-profile", "--no-browser"])
        .assert_failure(2, &["no-such-profile"]);
    assert_eq!(w.emu.all_calls().values().sum::<u64>(), 0);
}

#[test]
fn non_sso_profile_is_a_config_error() {
    let w = world_with_config("[profile plain]\nregion = us-east-1\noutput = json\n");
    w.cred(&["--profile", "plain"])
        .assert_failure(2, &["plain", "not an SSO profile"]);
}

/// The daemon keeps each profile it resolved until the file changes: an edit is served at
/// once, a broken edit fails at once, and the fixed file is served again.
#[test]
fn a_profile_edited_while_the_daemon_runs_is_served_as_edited() {
    let w = World::started();
    w.unlock();
    let read_only = w.creds("dev");
    assert_eq!(w.creds("dev"), read_only, "served from the cache");
    w.write_aws_config(&default_aws_config().replace("ReadOnly", "Admin"));
    let admin = w.creds("dev");
    assert_ne!(
        admin.access_key_id, read_only.access_key_id,
        "dev names another role now"
    );
    let broken = default_aws_config().replace("sso_session = work", "sso_session = nowhere");
    w.write_aws_config(&broken);
    w.cred(&["--profile", "dev"])
        .assert_failure(2, &["nowhere"]);
    w.write_aws_config(&default_aws_config());
    assert_ne!(
        w.creds("dev").access_key_id,
        admin.access_key_id,
        "dev names its first role again"
    );
}

#[test]
fn broken_aws_config_is_a_config_error() {
    let w = World::started();
    // Line 7 has no '=': not valid in an ini profile section.
    w.write_aws_config(
        "[sso-session work]\n\
         sso_start_url = https://work.awsapps.com/start\n\
         sso_region = us-east-1\n\
         \n\
         [profile dev]\n\
         sso_session = work\n\
         this line is broken\n\
         sso_account_id = 111111111111\n\
         sso_role_name = ReadOnly\n",
    );
    let out = w.cred(&["--profile", "dev"]);
    out.assert_failure(2, &[]);
    let config = w.aws_config_path().display().to_string();
    assert!(
        out.stderr.contains(&config) || out.stderr.contains("line 7"),
        "the message should point at the file or line:\n{out:?}"
    );
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one clear line on stderr:\n{out:?}"
    );
}

#[test]
fn missing_sso_session_section_is_a_config_error() {
    let w = world_with_config(
        "[profile orphan]\n\
         sso_session = nowhere\n\
         sso_account_id = 111111111111\n\
         sso_role_name = ReadOnly\n",
    );
    w.cred(&["--profile", "orphan"])
        .assert_failure(2, &["orphan", "nowhere"]);
}

#[test]
fn locked_session_fails_at_once_without_a_login() {
    let mut w = World::new();
    let marker = w.path("browser-was-started");
    let browser = w.write_script(
        "marker-browser",
        &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    );
    w.set_env("BROWSER", &browser);
    w.start_daemon();

    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert!(
        !marker.exists(),
        "a credential request must not open a browser"
    );
    for op in [
        Op::RegisterClient,
        Op::StartDeviceAuthorization,
        Op::CreateToken,
        Op::Authorize,
        Op::GetRoleCredentials,
    ] {
        assert_eq!(w.emu.calls(op), 0, "{op} must not be called");
    }
}

#[test]
fn role_not_assigned_is_refused_with_exit_5() {
    let w = world_with_config(
        "[profile prod-admin]\n\
         sso_session = work\n\
         sso_account_id = 222222222222\n\
         sso_role_name = Admin\n",
    );
    w.unlock();
    let out = w.cred(&["--profile", "prod-admin"]);
    out.assert_failure(5, &[]);
    assert!(!out.stderr.trim().is_empty(), "{out:?}");
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one clear line on stderr:\n{out:?}"
    );
    // A refusal for one role does not end the session.
    assert_eq!(w.session_state("work"), "unlocked");
    w.creds("dev");
}

#[test]
fn concurrent_requests_share_one_fetch() {
    let w = World::started();
    w.unlock();
    // The first fetch takes a while, so every request arrives while it is in flight.
    w.emu.inject(
        Op::GetRoleCredentials,
        Fault::Delay(Duration::from_millis(700)),
        1,
    );
    let children: Vec<_> = (0..20)
        .map(|_| {
            w.command(bin("ssoagent-cred"))
                .args(["--profile", "dev"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Out> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            Out {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into(),
                stderr: String::from_utf8_lossy(&o.stderr).into(),
            }
        })
        .collect();
    let keys: Vec<String> = outs
        .iter()
        .map(|o| {
            o.assert_ok();
            Creds::parse(o).access_key_id
        })
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "all callers get the same credentials: {keys:?}"
    );
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials),
        1,
        "one upstream call for 20 concurrent requests"
    );
}

#[test]
fn token_refresh_rotates_the_refresh_token() {
    let cfg = Config {
        // Shorter than the daemon's 5-minute refresh buffer: every use refreshes the token.
        access_token_ttl: Duration::from_secs(60),
        // Shorter than the 15-minute refresh window: every request fetches role credentials.
        role_credential_ttl: Duration::from_secs(600),
        ..Config::default()
    };
    let w = World::started_with(cfg);
    w.unlock();
    let before = w.emu.calls(Op::CreateToken);
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(w.creds("dev").access_key_id);
    }
    assert!(
        w.emu.calls(Op::CreateToken) >= before + 3,
        "each request refreshes the SSO token (CreateToken {} -> {})",
        before,
        w.emu.calls(Op::CreateToken)
    );
    assert_eq!(w.emu.calls(Op::GetRoleCredentials), 3);
    keys.dedup();
    assert_eq!(keys.len(), 3, "each request got fresh credentials");
    assert_eq!(w.session_state("work"), "unlocked");
    assert_eq!(w.emu.calls(Op::StartDeviceAuthorization), 1, "no new login");
}

#[test]
fn concurrent_refreshes_never_reuse_a_refresh_token() {
    let cfg = Config {
        // Every request must refresh the SSO token first (60 s < the 5-minute buffer).
        access_token_ttl: Duration::from_secs(60),
        ..Config::default()
    };
    let mut w = World::with(cfg);
    w.append_aws_config(
        "[profile dev-admin]\n\
         sso_session = work\n\
         sso_account_id = 111111111111\n\
         sso_role_name = Admin\n\
         \n\
         [profile prod]\n\
         sso_session = work\n\
         sso_account_id = 222222222222\n\
         sso_role_name = ReadOnly\n\
         \n\
         [profile sandbox]\n\
         sso_session = work\n\
         sso_account_id = 333333333333\n\
         sso_role_name = Developer\n",
    );
    w.start_daemon();
    w.unlock();
    // Slow refreshes: two in flight at once would both spend the same refresh token.
    w.emu
        .inject(Op::CreateToken, Fault::Delay(Duration::from_millis(300)), 8);
    let children: Vec<_> = ["dev", "dev-admin", "prod", "sandbox"]
        .iter()
        .map(|p| {
            w.command(bin("ssoagent-cred"))
                .args(["--profile", p])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        let out = Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        };
        out.assert_ok();
        Creds::parse(&out);
    }
    assert_eq!(w.emu.calls(Op::GetRoleCredentials), 4);
    assert_eq!(w.session_state("work"), "unlocked");
}
