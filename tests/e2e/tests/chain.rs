//! Role chaining: profiles with `role_arn` + `source_profile` are served by assuming the role
//! with STS using the source profile's credentials, cached and single-flighted like SSO roles;
//! STS options (external_id, duration_seconds), a locked root, and config errors.

use std::time::{Duration, SystemTime};

use ssoagent_e2e::{chain::*, *};

#[test]
fn two_hop_chain_serves_and_identifies_each_role() {
    let w = started_chain_world("");
    w.unlock();

    let dev = w.creds("dev");
    let deploy = w.creds("deploy");
    let bedrock = w.creds("bedrock");
    for c in [&dev, &deploy, &bedrock] {
        assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
        assert!(c.expires_at() > SystemTime::now(), "{c:?}");
    }
    assert_ne!(
        dev.access_key_id, deploy.access_key_id,
        "each hop is a role"
    );
    assert_ne!(
        deploy.access_key_id, bedrock.access_key_id,
        "each hop is a role"
    );
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials),
        1,
        "one SSO role at the root"
    );
    assert_eq!(w.emu.calls(Op::AssumeRole), 2, "one AssumeRole per hop");

    let id = w.whoami_json("bedrock");
    assert_eq!(
        id["arn"],
        assumed_arn("333333333333", "Bedrock", "robot").as_str(),
        "role_session_name is used:\n{id:#}"
    );
    assert_eq!(id["account"], "333333333333", "{id:#}");
    assert_eq!(id["profile"], "bedrock", "{id:#}");

    let id = w.whoami_json("deploy");
    assert_eq!(
        id["arn"],
        assumed_arn("222222222222", "Deploy", "ssoagent-deploy").as_str(),
        "the default session name is ssoagent-<profile>:\n{id:#}"
    );
    assert_eq!(id["account"], "222222222222", "{id:#}");

    // whoami used the cached credentials: no new role fetches.
    assert_eq!(w.emu.calls(Op::GetRoleCredentials), 1);
    assert_eq!(w.emu.calls(Op::AssumeRole), 2);
    assert_eq!(w.emu.calls(Op::GetCallerIdentity), 2);
    // ... and the shim is served from the cache too.
    assert_eq!(w.creds("bedrock"), bedrock);
}

#[test]
fn chained_credentials_are_cached_and_single_flighted() {
    let w = started_chain_world("");
    w.unlock();
    // The AssumeRole takes a while, so every request arrives while it is in flight.
    w.emu
        .inject(Op::AssumeRole, Fault::Delay(Duration::from_millis(800)), 1);
    let outs = w.concurrent_creds("deploy", 10);
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
        w.emu.calls(Op::AssumeRole),
        1,
        "one AssumeRole for 10 concurrent requests"
    );
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials),
        1,
        "one GetRoleCredentials for the source profile"
    );
    // Later requests are served from the cache.
    assert_eq!(w.creds("deploy").access_key_id, keys[0]);
    assert_eq!(w.emu.calls(Op::AssumeRole), 1);
}

#[test]
fn external_id_is_sent_when_configured() {
    let w = started_chain_world(
        "[profile with-ext]\n\
         role_arn = arn:aws:iam::222222222222:role/DeployWithExternalId\n\
         source_profile = dev\n\
         external_id = secret-ext\n\
         \n\
         [profile without-ext]\n\
         role_arn = arn:aws:iam::222222222222:role/DeployWithExternalId\n\
         source_profile = dev\n",
    );
    w.unlock();

    let c = w.creds("with-ext");
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    let id = w.whoami_json("with-ext");
    assert_eq!(
        id["arn"],
        assumed_arn("222222222222", "DeployWithExternalId", "ssoagent-with-ext").as_str(),
        "{id:#}"
    );

    let out = w.cred(&["--profile", "without-ext"]);
    out.assert_failure(5, &["without-ext", "DeployWithExternalId"]);
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one clear line on stderr:\n{out:?}"
    );
    assert!(
        out.stderr.contains("not authorized") || out.stderr.contains("refused"),
        "the message should say STS refused:\n{out:?}"
    );
    // A refusal of one role does not end the session.
    assert_eq!(w.session_state(SESSION), "unlocked");
}

#[test]
fn duration_seconds_is_validated() {
    let w = started_chain_world(
        "[profile short]\n\
         role_arn = arn:aws:iam::222222222222:role/Deploy\n\
         source_profile = dev\n\
         duration_seconds = 60\n\
         \n\
         [profile long]\n\
         role_arn = arn:aws:iam::222222222222:role/Deploy\n\
         source_profile = dev\n\
         duration_seconds = 7200\n\
         \n\
         [profile wordy]\n\
         role_arn = arn:aws:iam::222222222222:role/Deploy\n\
         source_profile = dev\n\
         duration_seconds = an hour\n",
    );
    w.unlock();

    // STS refuses 60 s (the minimum is 900): AWS failed, with its validation message.
    let out = w.cred(&["--profile", "short"]);
    out.assert_failure(5, &["short", "durationSeconds", "900"]);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");
    assert!(w.emu.calls(Op::AssumeRole) >= 1, "STS decided");

    // A valid duration is passed to STS: the credentials last about that long.
    let c = w.creds("long");
    let left = c
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(
        left > Duration::from_secs(7200 - 300) && left <= Duration::from_secs(7200 + 60),
        "duration_seconds = 7200 should give ~2 h credentials, got {left:?} ({c:?})"
    );

    // Not a number: a config error, no AWS call.
    let before = w.emu.calls(Op::AssumeRole);
    w.cred(&["--profile", "wordy"])
        .assert_failure(2, &["wordy", "duration_seconds"]);
    assert_eq!(w.emu.calls(Op::AssumeRole), before);
}

#[test]
fn locked_root_session_refuses_chained_profiles_without_calls() {
    let w = started_chain_world("");

    // Never unlocked.
    for p in ["deploy", "bedrock"] {
        let out = w.cred(&["--profile", p]);
        out.assert_failure(3, &["ssoagentctl unlock work"]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");
    }
    w.ctl(&["whoami", "--profile", "bedrock"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(
        w.total_calls(),
        0,
        "a locked session makes no AWS calls: {:?}",
        w.emu.all_calls()
    );

    // Unlocked, then locked: cached chained credentials are not served any more.
    w.unlock();
    w.creds("bedrock");
    w.ctl(&["lock", SESSION]).assert_ok();
    w.emu.reset_calls();
    w.cred(&["--profile", "bedrock"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    w.cred(&["--profile", "deploy"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(w.total_calls(), 0, "{:?}", w.emu.all_calls());
}

#[test]
fn ended_unlock_window_stops_chained_profiles_at_once() {
    let w = started_chain_world("");
    let out = w.ctl(&[
        "unlock",
        SESSION,
        "--device-code",
        "--no-browser",
        "--for",
        "6s",
    ]);
    out.assert_ok();
    // Measured from after the unlock returned: the window ends no later than this.
    let deadline = SystemTime::now() + Duration::from_secs(6);
    let c = w.creds("bedrock");
    assert!(
        c.expires_at() > SystemTime::now() + Duration::from_secs(1800),
        "the cached credentials outlive the window: {c:?}"
    );
    sleep_until(deadline + Duration::from_millis(500));
    w.emu.reset_calls();
    w.cred(&["--profile", "bedrock"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(w.credential_calls(), 0, "{:?}", w.emu.all_calls());
}

#[test]
fn chain_config_errors_are_exit_2_with_clear_messages() {
    let w = started_chain_world(
        "[profile a]\n\
         role_arn = arn:aws:iam::222222222222:role/A\n\
         source_profile = b\n\
         \n\
         [profile b]\n\
         role_arn = arn:aws:iam::222222222222:role/B\n\
         source_profile = a\n\
         \n\
         [profile selfish]\n\
         role_arn = arn:aws:iam::222222222222:role/S\n\
         source_profile = selfish\n\
         \n\
         [profile orphan]\n\
         role_arn = arn:aws:iam::222222222222:role/O\n\
         source_profile = nowhere\n\
         \n\
         [profile no-source]\n\
         role_arn = arn:aws:iam::222222222222:role/N\n\
         \n\
         [profile with-mfa]\n\
         role_arn = arn:aws:iam::222222222222:role/M\n\
         source_profile = dev\n\
         mfa_serial = arn:aws:iam::111111111111:mfa/user\n\
         \n\
         [profile on-ec2]\n\
         role_arn = arn:aws:iam::222222222222:role/E\n\
         credential_source = Ec2InstanceMetadata\n",
    );
    w.unlock();
    w.emu.reset_calls();

    let one_line = |out: &Out| {
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "one clear line on stderr:\n{out:?}"
        );
    };

    // A cycle: the message shows the chain.
    let out = w.cred(&["--profile", "a"]);
    out.assert_failure(2, &["cycle", "a -> b -> a"]);
    one_line(&out);
    let out = w.cred(&["--profile", "selfish"]);
    out.assert_failure(2, &["cycle", "selfish -> selfish"]);
    one_line(&out);

    // A source profile that does not exist.
    let out = w.cred(&["--profile", "orphan"]);
    out.assert_failure(2, &["orphan", "nowhere"]);
    one_line(&out);
    let out = w.cred(&["--profile", "no-source"]);
    out.assert_failure(2, &["no-source", "source_profile"]);
    one_line(&out);

    // Not supported yet, said so.
    let out = w.cred(&["--profile", "on-ec2"]);
    out.assert_failure(2, &["on-ec2", "credential_source", "not support"]);
    one_line(&out);
    // mfa_serial is supported now (tests/mfa.rs): a robot is told a human must type a code,
    // and nothing is asked of STS without one.
    let out = w.cred(&["--profile", "with-mfa"]);
    out.assert_failure(
        3,
        &["profile 'with-mfa' needs an MFA code; a human must run: ssoagentctl unlock --profile with-mfa"],
    );
    one_line(&out);

    // ssoagentctl says the same.
    w.ctl(&["whoami", "--profile", "a"])
        .assert_failure(2, &["a -> b -> a"]);
    w.ctl(&["env", "--profile", "on-ec2"])
        .assert_failure(2, &["credential_source", "not support"]);

    assert_eq!(
        w.total_calls(),
        0,
        "config errors make no AWS calls: {:?}",
        w.emu.all_calls()
    );
    // The daemon still answers and still serves the good profiles.
    assert_eq!(w.session_state(SESSION), "unlocked");
    w.creds("bedrock");
}

const BOTO3_SCRIPT: &str = r#"
import json, os, boto3
session = boto3.Session(profile_name="bedrock-agent")
creds = session.get_credentials().get_frozen_credentials()
sts = session.client("sts", region_name="eu-central-1", endpoint_url=os.environ["AWS_ENDPOINT_URL_STS"])
ident = sts.get_caller_identity()
print(json.dumps({
    "access_key": creds.access_key,
    "secret_key": creds.secret_key,
    "token": creds.token,
    "arn": ident["Arn"],
    "account": ident["Account"],
}))
"#;

#[test]
fn boto3_uses_a_chained_profile_through_credential_process() {
    let python = python_with_boto3("boto3_uses_a_chained_profile");
    let w = started_chain_world(&format!(
        "[profile bedrock-agent]\ncredential_process = {} --profile bedrock\n",
        bin("ssoagent-cred").display()
    ));
    w.unlock();

    let script = w.path("chained_boto3.py");
    std::fs::write(&script, BOTO3_SCRIPT).unwrap();
    let mut cmd = w.command(&python);
    cmd.arg(&script);
    let out = run_with_timeout(&mut cmd, COMMAND_TIMEOUT);
    out.assert_ok();
    let got: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("script output is not JSON ({e}):\n{out:?}"));

    let c = w.creds("bedrock");
    assert_eq!(got["access_key"], c.access_key_id.as_str(), "{out:?}");
    assert_eq!(got["secret_key"], c.secret_access_key.as_str(), "{out:?}");
    assert_eq!(got["token"], c.session_token.as_str(), "{out:?}");
    assert_eq!(
        got["arn"],
        assumed_arn("333333333333", "Bedrock", "robot").as_str(),
        "{out:?}"
    );
    assert_eq!(got["account"], "333333333333", "{out:?}");
    assert_eq!(
        w.emu.calls(Op::AssumeRole),
        2,
        "boto3 and the shim shared the cache"
    );
    assert_eq!(w.emu.calls(Op::GetCallerIdentity), 1, "boto3's own call");
}
