//! MFA on role hops: a profile with `mfa_serial` is assumed only with a code a human typed
//! (`ssoagentctl unlock --profile P` at a terminal, or `--mfa-code`), against the emulator's
//! STS, which checks real TOTP codes (RFC 6238) for the MFA-protected role. Robots get exit 3
//! naming the command; a wrong code is exit 5; what a code bought is cached for its life and
//! `lock` drops it.

use std::time::{Duration, SystemTime};

use ssoagent_e2e::{chain::*, terminal::run_at_terminal, *};
use ssoagent_emulator::mfa::{DEFAULT_MFA_SERIAL, totp};

const NEEDS_CODE: &str =
    "profile 'deploy' needs an MFA code; a human must run: ssoagentctl unlock --profile deploy";

/// `dev` (SSO) → `deploy` (Deploy, MFA-protected, `mfa_serial`) → `bedrock` (no MFA of its own).
fn mfa_world() -> World {
    let mut w = World::with(Config {
        mfa_roles: vec!["Deploy".into()],
        ..Config::default()
    });
    w.write_aws_config(&format!(
        "{}\n{}\n\
         [profile deploy]\n\
         role_arn = {DEPLOY_ROLE_ARN}\n\
         source_profile = dev\n\
         mfa_serial = {DEFAULT_MFA_SERIAL}\n\
         \n\
         [profile bedrock]\n\
         role_arn = {BEDROCK_ROLE_ARN}\n\
         source_profile = deploy\n",
        sso_session_section(),
        agent_profile("dev", ROOT_ACCOUNT, ROOT_ROLE, None),
    ));
    w.start_daemon();
    w
}

/// The device's code `steps` 30-second steps from now (the emulator takes one step either
/// side, and each code once).
fn code(w: &World, steps: i64) -> String {
    let now = SystemTime::now();
    let at = if steps >= 0 {
        now + Duration::from_secs(30 * steps as u64)
    } else {
        now - Duration::from_secs(30 * (-steps) as u64)
    };
    totp(&w.emu.config().mfa_secret, at)
}

/// A 6-digit code the device does not show now (nor a step either side).
fn wrong_code(w: &World) -> String {
    let valid: Vec<String> = (-1..=1).map(|s| code(w, s)).collect();
    (0..)
        .map(|n| format!("{:06}", 123_456 + n))
        .find(|c| !valid.contains(c))
        .unwrap()
}

#[test]
fn robots_are_told_that_a_human_must_type_an_mfa_code() {
    let w = mfa_world();
    w.unlock();
    w.creds("dev");
    for profile in ["deploy", "bedrock"] {
        w.cred(&["--profile", profile])
            .assert_failure(3, &[NEEDS_CODE]);
    }
    // The command it names, run by a robot (no terminal): refused, nothing assumed.
    let out = w.ctl(&["unlock", "--profile", "deploy"]);
    out.assert_code(3);
    assert!(
        out.stderr
            .contains("a human must type the MFA code at a terminal"),
        "{out:?}"
    );
    assert_eq!(
        w.emu.calls(Op::AssumeRole),
        0,
        "an MFA role is never assumed without a code"
    );
    // mfa_serial is no longer "not supported".
    assert!(!w.ctl(&["doctor"]).stdout.contains("does not support"));
}

#[test]
fn a_code_typed_at_the_terminal_unlocks_the_profile_for_the_credentials_life() {
    let w = mfa_world();
    w.unlock();
    let c = code(&w, 0);
    let mut cmd = w.command(bin("ssoagentctl"));
    cmd.args(["--no-autostart", "unlock", "--profile", "deploy"]);
    let t = run_at_terminal(&mut cmd, "MFA code", &format!("{c}\n"), COMMAND_TIMEOUT);
    t.out.assert_ok();
    assert!(
        t.screen.contains(&format!(
            "MFA code for {DEFAULT_MFA_SERIAL} (profile 'deploy'):"
        )),
        "{}",
        t.screen
    );
    assert!(!t.screen.contains("[y/N]"), "a code is proof by itself");
    assert!(
        t.out
            .stdout
            .contains("profile 'deploy' unlocked with MFA device"),
        "{:?}",
        t.out
    );
    assert_eq!(w.emu.calls(Op::AssumeRole), 1);

    let deploy = w.creds("deploy");
    assert_eq!(
        w.whoami_json("deploy")["arn"],
        assumed_arn("222222222222", "Deploy", "ssoagent-deploy").as_str()
    );
    // Cached: robots are served without asking STS (or a human) again.
    for _ in 0..3 {
        assert_eq!(w.creds("deploy"), deploy);
    }
    assert_eq!(w.emu.calls(Op::AssumeRole), 1);
    // A profile sourced from it is assumed with the MFA-backed credentials.
    w.creds("bedrock");
    assert_eq!(w.emu.calls(Op::AssumeRole), 2);
    // Unlocking again asks for nothing while they last.
    let again = w.ctl(&["unlock", "--profile", "deploy"]);
    again.assert_ok();
    assert!(
        again.stdout.contains("has MFA-backed credentials until"),
        "{again:?}"
    );
    assert_eq!(w.emu.calls(Op::AssumeRole), 2);
    assert!(
        !w.daemon_logs().contains(&c),
        "the MFA code must not reach the daemon's log"
    );
}

#[test]
fn a_wrong_code_is_exit_5_and_changes_nothing() {
    let w = mfa_world();
    w.unlock();
    let out = w.ctl(&[
        "unlock",
        "--profile",
        "deploy",
        "--mfa-code",
        &wrong_code(&w),
    ]);
    out.assert_code(5);
    assert!(
        out.stderr.contains("MultiFactorAuthentication failed"),
        "{out:?}"
    );
    w.cred(&["--profile", "deploy"])
        .assert_failure(3, &[NEEDS_CODE]);
    let out = w.ctl(&["unlock", "--profile", "deploy", "--mfa-code", "12ab56"]);
    out.assert_code(2);
    assert!(out.stderr.contains("6 digits"), "{out:?}");
    // A code for a profile without mfa_serial is a usage error.
    w.ctl(&["unlock", "--profile", "dev", "--mfa-code", "123456"])
        .assert_code(2);
    // The right code still works afterwards.
    w.ctl(&["unlock", "--profile", "deploy", "--mfa-code", &code(&w, 0)])
        .assert_ok();
    w.creds("deploy");
}

#[test]
fn lock_drops_mfa_backed_credentials_and_the_next_use_needs_a_new_code() {
    let w = mfa_world();
    let first = code(&w, 0);
    // From a locked session, one command logs in and then uses the code.
    let out = w.ctl(&[
        "unlock",
        "--profile",
        "deploy",
        "--device-code",
        "--no-browser",
        "--mfa-code",
        &first,
    ]);
    out.assert_ok();
    assert!(out.stdout.contains("session 'work' unlocked"), "{out:?}");
    w.creds("deploy");
    w.ctl(&["lock", SESSION]).assert_ok();
    w.cred(&["--profile", "deploy"])
        .assert_failure(3, &["locked"]);
    // The session back, but not the MFA grant: a robot is told to ask a human.
    w.unlock();
    w.cred(&["--profile", "deploy"])
        .assert_failure(3, &[NEEDS_CODE]);
    assert_eq!(w.emu.calls(Op::AssumeRole), 1);
    // A spent code is refused by STS; a new one works.
    w.ctl(&["unlock", "--profile", "deploy", "--mfa-code", &first])
        .assert_code(5);
    w.ctl(&["unlock", "--profile", "deploy", "--mfa-code", &code(&w, 1)])
        .assert_ok();
    w.creds("deploy");
}
