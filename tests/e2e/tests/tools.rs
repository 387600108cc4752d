//! Running tools with a profile's credentials (`ssoagentctl exec`, `ssoagentctl env`), proving
//! who they belong to (`whoami`, `unlock --verify`), regions, and pointing out profiles that
//! SDKs would not route through the agent.

use std::collections::BTreeMap;

use ssoagent_e2e::{chain::*, *};

// ----- exec -----

/// Checks what a program run by `exec --profile deploy` sees, writes its key id to a file and
/// exits 7.
const EXEC_CHECK: &str = r#"
fail() { echo "exec check failed: $*" >&2; exit 1; }
for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CREDENTIAL_EXPIRATION; do
  eval "val=\${$v:-}"
  [ -n "$val" ] || fail "$v is not set"
done
[ "${AWS_REGION:-}" = eu-central-1 ] || fail "AWS_REGION=${AWS_REGION:-<unset>}"
[ "${AWS_DEFAULT_REGION:-}" = eu-central-1 ] || fail "AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-<unset>}"
[ -z "${AWS_PROFILE+set}" ] || fail "AWS_PROFILE is still set: $AWS_PROFILE"
[ "${KEEP_ME:-}" = kept ] || fail "the rest of the environment was not passed on"
printf '%s\n%s\n%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" > exec-saw
echo "hello from the program"
exit 7
"#;

#[test]
fn exec_runs_a_program_with_the_credentials_and_passes_its_exit_code() {
    let w = started_chain_world("");
    w.unlock();

    let out = w.ctl_env(
        &["exec", "--profile", "deploy", "--", "sh", "-c", EXEC_CHECK],
        &[("AWS_PROFILE", Some("dev")), ("KEEP_ME", Some("kept"))],
    );
    out.assert_code(7);
    assert!(
        out.stdout.contains("hello from the program"),
        "the program's stdout is passed through:\n{out:?}"
    );
    let saw = std::fs::read_to_string(w.path("exec-saw"))
        .unwrap_or_else(|e| panic!("the program did not run to the end ({e}):\n{out:?}"));
    let c = w.creds("deploy");
    assert_eq!(
        saw,
        format!(
            "{}\n{}\n{}\n",
            c.access_key_id, c.secret_access_key, c.session_token
        ),
        "the program got the profile's (cached) credentials"
    );
    assert_eq!(w.emu.calls(Op::AssumeRole), 1);

    // With no --profile, AWS_PROFILE names it (and is still removed for the program).
    std::fs::remove_file(w.path("exec-saw")).unwrap();
    let out = w.ctl_env(
        &["exec", "--", "sh", "-c", EXEC_CHECK],
        &[("AWS_PROFILE", Some("deploy")), ("KEEP_ME", Some("kept"))],
    );
    out.assert_code(7);
    assert!(w.path("exec-saw").exists(), "{out:?}");

    // Exit 0 passes through as 0.
    w.ctl(&["exec", "--profile", "deploy", "--", "true"])
        .assert_ok();
}

#[test]
fn exec_of_a_missing_program_is_127() {
    let w = started_chain_world("");
    w.unlock();
    let out = w.ctl(&[
        "exec",
        "--profile",
        "deploy",
        "--",
        "ssoagent-no-such-program-here",
        "arg",
    ]);
    out.assert_code(127);
    assert!(
        out.stderr.contains("ssoagent-no-such-program-here"),
        "the message names the program:\n{out:?}"
    );
}

#[test]
fn exec_with_a_locked_session_does_not_run_the_program() {
    let w = started_chain_world("");
    let marker = w.path("program-ran");
    let script = format!("touch '{}'", marker.display());
    for profile in ["dev", "deploy"] {
        let out = w.ctl(&["exec", "--profile", profile, "--", "sh", "-c", &script]);
        out.assert_failure(3, &["ssoagentctl unlock work"]);
        assert!(!marker.exists(), "the program must not run:\n{out:?}");
    }
    // Unlocked, then locked: the same.
    w.unlock();
    w.ctl(&["exec", "--profile", "deploy", "--", "true"])
        .assert_ok();
    w.ctl(&["lock", SESSION]).assert_ok();
    let out = w.ctl(&["exec", "--profile", "deploy", "--", "sh", "-c", &script]);
    out.assert_failure(3, &["ssoagentctl unlock work"]);
    assert!(!marker.exists(), "the program must not run:\n{out:?}");
}

// ----- env -----

#[test]
fn env_sh_output_evals_to_the_shims_credentials() {
    let w = started_chain_world("");
    w.unlock();
    let c = w.creds("deploy");

    let ctl = bin("ssoagentctl");
    let script = format!(
        "eval \"$('{}' --no-autostart env --profile deploy)\" || exit 9\n\
         echo \"$AWS_ACCESS_KEY_ID\"\n\
         echo \"$AWS_SECRET_ACCESS_KEY\"\n\
         echo \"$AWS_SESSION_TOKEN\"\n\
         echo \"$AWS_CREDENTIAL_EXPIRATION\"\n\
         echo \"$AWS_REGION $AWS_DEFAULT_REGION\"\n\
         echo \"profile=${{AWS_PROFILE-unset}}\"\n",
        ctl.display()
    );
    let out = w.sh(&script, &[("AWS_PROFILE", "dev")]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{out:?}");
    assert_eq!(lines[0], c.access_key_id, "{out:?}");
    assert_eq!(lines[1], c.secret_access_key, "{out:?}");
    assert_eq!(lines[2], c.session_token, "{out:?}");
    assert_eq!(
        parse_rfc3339_utc(lines[3]),
        Some(c.expires_at()),
        "AWS_CREDENTIAL_EXPIRATION is the credentials' expiry:\n{out:?}"
    );
    assert_eq!(lines[4], "eu-central-1 eu-central-1", "{out:?}");
    assert_eq!(
        lines[5], "profile=unset",
        "AWS_PROFILE is unset so tools use the exported credentials:\n{out:?}"
    );
    assert_eq!(w.emu.calls(Op::AssumeRole), 1, "served from the cache");
}

#[test]
fn env_json_and_other_formats() {
    let w = started_chain_world("");
    w.unlock();
    let c = w.creds("deploy");

    let j = w.env_json("deploy");
    assert_eq!(j["AWS_ACCESS_KEY_ID"], c.access_key_id, "{j:#?}");
    assert_eq!(j["AWS_SECRET_ACCESS_KEY"], c.secret_access_key, "{j:#?}");
    assert_eq!(j["AWS_SESSION_TOKEN"], c.session_token, "{j:#?}");
    assert_eq!(
        parse_rfc3339_utc(&j["AWS_CREDENTIAL_EXPIRATION"]),
        Some(c.expires_at()),
        "{j:#?}"
    );
    assert_eq!(j["AWS_REGION"], "eu-central-1", "{j:#?}");
    assert_eq!(j["AWS_DEFAULT_REGION"], "eu-central-1", "{j:#?}");
    assert_eq!(
        j.len(),
        ENV_VARS.len(),
        "exactly the documented variables: {j:#?}"
    );

    for format in ["sh", "fish", "powershell", "dotenv"] {
        let out = w.ctl(&["env", "--profile", "deploy", "--format", format]);
        out.assert_ok();
        for var in ENV_VARS {
            assert!(
                out.stdout.contains(var),
                "{format}: {var} missing:\n{out:?}"
            );
        }
        assert!(
            out.stdout.contains(&c.access_key_id) && out.stdout.contains(&c.session_token),
            "{format}: the credentials' values:\n{out:?}"
        );
    }

    // dotenv: KEY=VALUE lines whose values decode to the credentials.
    let out = w.ctl(&["env", "--profile", "deploy", "--format", "dotenv"]);
    let dotenv: BTreeMap<&str, String> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=VALUE: {l:?}\n{out:?}"));
            let v = v.trim_matches('"').trim_matches('\'').to_string();
            (k, v)
        })
        .collect();
    assert_eq!(dotenv["AWS_ACCESS_KEY_ID"], c.access_key_id, "{out:?}");
    assert_eq!(
        dotenv["AWS_SECRET_ACCESS_KEY"], c.secret_access_key,
        "{out:?}"
    );
}

#[test]
fn env_with_a_locked_session_prints_nothing() {
    let w = started_chain_world("");
    for format in ["sh", "fish", "powershell", "json", "dotenv"] {
        for profile in ["dev", "deploy"] {
            let out = w.ctl(&["env", "--profile", profile, "--format", format]);
            out.assert_failure(3, &["ssoagentctl unlock work"]);
        }
    }
    assert_eq!(w.total_calls(), 0, "{:?}", w.emu.all_calls());
}

// ----- whoami and unlock --verify -----

#[test]
fn whoami_of_an_sso_profile_shows_the_reserved_sso_role() {
    let w = started_chain_world("");
    w.unlock();
    let id = w.whoami_json("dev");
    assert_eq!(
        id["arn"],
        sso_arn(ROOT_ACCOUNT, ROOT_ROLE).as_str(),
        "{id:#}"
    );
    assert_eq!(id["account"], ROOT_ACCOUNT, "{id:#}");
    assert!(
        id["user_id"].as_str().is_some_and(|u| !u.is_empty()),
        "{id:#}"
    );

    // The human form says the same.
    let out = w.ctl(&["whoami", "--profile", "dev"]);
    out.assert_ok();
    assert!(
        out.stdout.contains(&sso_arn(ROOT_ACCOUNT, ROOT_ROLE)) && out.stdout.contains(ROOT_ACCOUNT),
        "{out:?}"
    );
    // AWS_PROFILE when no --profile is given.
    let out = w.ctl_env(&["whoami", "--json"], &[("AWS_PROFILE", Some("dev"))]);
    out.assert_ok();
    assert!(
        out.stdout.contains(&sso_arn(ROOT_ACCOUNT, ROOT_ROLE)),
        "{out:?}"
    );
    // Locked: exit 3 with the command.
    w.ctl(&["lock", SESSION]).assert_ok();
    w.ctl(&["whoami", "--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
}

fn verify(w: &World) -> Out {
    w.ctl(&[
        "unlock",
        SESSION,
        "--device-code",
        "--no-browser",
        "--verify",
    ])
}

/// The line of `unlock --verify`'s output about `profile`.
fn verify_line<'a>(out: &'a Out, profile: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| {
            l.split_whitespace()
                .any(|word| word.trim_end_matches(':') == profile)
        })
        .unwrap_or_else(|| panic!("no line for profile {profile}:\n{out:?}"))
}

#[test]
fn unlock_verify_checks_every_profile_of_the_session() {
    let w = started_chain_world("");
    let out = verify(&w);
    out.assert_ok();
    for (profile, arn) in [
        ("dev", sso_arn(ROOT_ACCOUNT, ROOT_ROLE)),
        (
            "deploy",
            assumed_arn("222222222222", "Deploy", "ssoagent-deploy"),
        ),
        ("bedrock", assumed_arn("333333333333", "Bedrock", "robot")),
    ] {
        let line = verify_line(&out, profile);
        assert!(
            line.to_lowercase().contains("ok") && line.contains(&arn),
            "an ok line with the ARN for {profile}: {line:?}\n{out:?}"
        );
    }
    assert_eq!(
        w.emu.calls(Op::GetCallerIdentity),
        3,
        "one check per profile"
    );
}

#[test]
fn unlock_verify_reports_an_unassigned_role_and_exits_5() {
    let w = started_chain_world(&agent_profile("prod-admin", "222222222222", "Admin", None));
    let out = verify(&w);
    out.assert_code(5);
    let bad = verify_line(&out, "prod-admin");
    assert!(bad.contains("FAILED"), "{bad:?}\n{out:?}");
    for profile in ["dev", "deploy", "bedrock"] {
        let line = verify_line(&out, profile);
        assert!(
            line.to_lowercase().contains("ok") && !line.contains("FAILED"),
            "{profile} verifies: {line:?}\n{out:?}"
        );
    }
    // The session is unlocked all the same: only one role was refused.
    assert_eq!(w.session_state(SESSION), "unlocked");

    for (profile, arn) in [
        ("dev", sso_arn(ROOT_ACCOUNT, ROOT_ROLE)),
        (
            "deploy",
            assumed_arn("222222222222", "Deploy", "ssoagent-deploy"),
        ),
        ("bedrock", assumed_arn("333333333333", "Bedrock", "robot")),
    ] {
        let p = w.status_profile(profile);
        assert!(
            p["verified_at"].as_i64().is_some_and(|t| t > 0),
            "verified_at of {profile}:\n{p:#}"
        );
        assert_eq!(p["verified_arn"], arn.as_str(), "{p:#}");
    }
    let p = w.status_profile("prod-admin");
    assert!(p["verified_at"].is_null(), "never verified:\n{p:#}");
    assert_eq!(p["verified_arn"], "", "{p:#}");
}

// ----- regions -----

#[test]
fn sso_region_and_profile_region_are_kept_apart() {
    let w = World::new();
    w.write_aws_config(&format!(
        "{}\n{}\n{}\n\
         [profile chained-noregion]\n\
         role_arn = arn:aws:iam::222222222222:role/Deploy\n\
         source_profile = dev\n",
        sso_session_section(),
        agent_profile("dev", ROOT_ACCOUNT, ROOT_ROLE, Some("eu-west-1")),
        agent_profile("noregion", ROOT_ACCOUNT, "Admin", None),
    ));
    let mut w = w;
    w.start_daemon();
    w.unlock();

    // sso_region us-east-1 is for the portal; the profile's region is for the tools.
    let c = w.creds("dev");
    let j = w.env_json("dev");
    assert_eq!(j["AWS_REGION"], "eu-west-1", "{j:#?}");
    assert_eq!(j["AWS_DEFAULT_REGION"], "eu-west-1", "{j:#?}");
    assert_eq!(j["AWS_ACCESS_KEY_ID"], c.access_key_id);
    let out = w.ctl(&["env", "--profile", "dev"]);
    out.assert_ok();
    assert!(out.stdout.contains("eu-west-1"), "{out:?}");
    assert!(
        !out.stdout.contains("us-east-1"),
        "not the SSO region:\n{out:?}"
    );

    // No region: no region variables at all.
    for profile in ["noregion", "chained-noregion"] {
        w.creds(profile);
        let j = w.env_json(profile);
        assert!(
            !j.contains_key("AWS_REGION") && !j.contains_key("AWS_DEFAULT_REGION"),
            "{profile}: {j:#?}"
        );
        let out = w.ctl(&["env", "--profile", profile]);
        out.assert_ok();
        assert!(
            !out.stdout.contains("AWS_REGION") && !out.stdout.contains("AWS_DEFAULT_REGION"),
            "{profile}:\n{out:?}"
        );
        assert!(out.stdout.contains("AWS_ACCESS_KEY_ID"), "{out:?}");
    }
    // A chained profile with no region still reaches STS (the SDKs' default region).
    let id = w.whoami_json("chained-noregion");
    assert_eq!(
        id["arn"],
        assumed_arn("222222222222", "Deploy", "ssoagent-chained-noregion").as_str(),
        "{id:#}"
    );
}

// ----- profiles SDKs would not route through the agent -----

#[test]
fn status_warns_about_native_sso_keys_with_an_ssoagent_credential_process() {
    let w = World::new();
    w.write_aws_config(&format!(
        "{}\n{}\n\
         [profile both]\n\
         sso_session = {SESSION}\n\
         sso_account_id = 111111111111\n\
         sso_role_name = ReadOnly\n\
         credential_process = {} --profile both\n",
        sso_session_section(),
        agent_profile("good", ROOT_ACCOUNT, ROOT_ROLE, None),
        bin("ssoagent-cred").display()
    ));
    let mut w = w;
    w.start_daemon();
    w.unlock();
    // It still works here; the point is that SDKs would never ask us.
    w.creds("both");

    let p = w.status_profile("both");
    let warning = p["warning"].as_str().unwrap_or_default();
    assert!(!warning.is_empty(), "a warning in status --json:\n{p:#}");
    assert!(
        warning.contains("bypass"),
        "the warning says SDKs bypass the agent: {warning:?}"
    );
    let good = w.status_profile("good");
    assert_eq!(
        good["warning"], "",
        "no warning for a correct profile:\n{good:#}"
    );

    let out = w.ctl(&["status"]);
    out.assert_ok();
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("both") && l.contains("bypass"))
        .unwrap_or_else(|| {
            panic!("status should show a warning line for profile 'both' that says SDKs bypass the agent:\n{out:?}")
        });
    assert!(
        line.to_lowercase().contains("warning") || line.contains('!'),
        "the line reads as a warning: {line:?}"
    );
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.contains("good") && l.contains("bypass")),
        "no warning for a correct profile:\n{out:?}"
    );
}
