//! Your own identity provider (issue 12): a `[providers.NAME]` session unlocked with PKCE or
//! device code at the emulator's OIDC IdP, credentials through STS AssumeRoleWithWebIdentity or
//! a Cognito identity pool, refresh with rotation, lock, status, and a real SDK on top.

use std::{process::Stdio, time::Duration};

use ssoagent_e2e::{oidc::*, *};

#[test]
fn pkce_unlock_through_the_browser_then_credentials_for_boto3() {
    let python = python_with_boto3("pkce_unlock_through_the_browser_then_credentials_for_boto3");
    let w = world();
    let out = unlock(&w, PROVIDER);
    out.assert_ok();
    assert_eq!(w.emu.idp_calls("Authorize"), 1, "{out:?}");
    assert_eq!(w.emu.idp_calls("Token:authorization_code"), 1);

    let c = w.creds(PROFILE);
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    assert_eq!(w.emu.idp_calls("AssumeRoleWithWebIdentity"), 1);

    // boto3 through credential_process, then STS says who it is: the role, with the session
    // named after the id_token's email.
    let script = w.path("whoami.py");
    std::fs::write(
        &script,
        "import boto3\nprint(boto3.Session(profile_name='bedrock').client('sts').get_caller_identity()['Arn'])\n",
    )
    .unwrap();
    let mut cmd = w.command(&python);
    cmd.arg(&script);
    let out = run_with_timeout(&mut cmd, COMMAND_TIMEOUT);
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        "arn:aws:sts::111111111111:assumed-role/BedrockUser/dev.user@example.com",
        "{out:?}"
    );
    assert_eq!(
        w.emu.idp_calls("AssumeRoleWithWebIdentity"),
        1,
        "boto3 got the cached credentials"
    );
}

#[test]
fn device_code_login_honours_slow_down() {
    let w = world();
    w.emu.idp_config(|c| {
        c.device_slow_down = true;
        c.device_approve_after_polls = 1;
    });
    let out = w.ctl(&["unlock", PROVIDER, "--device-code", "--no-browser"]);
    out.assert_ok();
    assert!(
        out.stdout.contains("/idp/activate") || out.stderr.contains("/idp/activate"),
        "{out:?}"
    );
    assert_eq!(w.emu.idp_calls("DeviceAuthorization"), 1);
    assert_eq!(w.emu.idp_calls("Authorize"), 0, "no browser login");
    assert!(
        w.emu
            .idp_calls("Token:urn:ietf:params:oauth:grant-type:device_code")
            >= 2
    );
    w.creds(PROFILE);
}

#[test]
fn device_code_is_refused_where_the_idp_has_none() {
    let w = world();
    w.emu.idp_config(|c| c.no_device_flow = true);
    let out = w.ctl(&["unlock", PROVIDER, "--device-code", "--no-browser"]);
    out.assert_failure(2, &["device_authorization_endpoint"]);
}

#[test]
fn cognito_identity_pool_profile() {
    let w = world();
    unlock(&w, POOL_PROVIDER).assert_ok();
    let c = w.creds(POOL_PROFILE);
    assert!(c.access_key_id.starts_with("ASIA"));
    assert_eq!(w.emu.idp_calls("GetId"), 1);
    assert_eq!(w.emu.idp_calls("GetCredentialsForIdentity"), 1);
    assert_eq!(w.emu.idp_calls("AssumeRoleWithWebIdentity"), 0);
    // A profile of another provider stays locked: the unlock was for 'pool' only.
    w.cred(&["--profile", PROFILE])
        .assert_failure(3, &["ssoagentctl unlock corp"]);
}

#[test]
fn thirty_concurrent_shims_cause_one_assume_role_with_web_identity() {
    let w = world();
    unlock(&w, PROVIDER).assert_ok();
    let children: Vec<_> = (0..30)
        .map(|_| {
            w.command(bin("ssoagent-cred"))
                .args(["--profile", PROFILE])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let keys: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            let out = Out {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into(),
                stderr: String::from_utf8_lossy(&o.stderr).into(),
            };
            out.assert_ok();
            Creds::parse(&out).access_key_id
        })
        .collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(w.emu.idp_calls("AssumeRoleWithWebIdentity"), 1);
}

#[test]
fn locked_before_unlock_and_after_lock() {
    let w = world();
    w.cred(&["--profile", PROFILE]).assert_failure(
        3,
        &[
            "'corp' is locked",
            "a human must run: ssoagentctl unlock corp",
        ],
    );
    assert_eq!(w.emu.idp_calls("Authorize"), 0, "a request never logs in");
    unlock(&w, PROVIDER).assert_ok();
    w.creds(PROFILE);
    w.ctl(&["lock", PROVIDER]).assert_ok();
    w.cred(&["--profile", PROFILE])
        .assert_failure(3, &["ssoagentctl unlock corp"]);
    // Reusing the stored refresh token needs a human at a terminal.
    w.ctl(&["unlock", PROVIDER])
        .assert_failure(3, &["a human must confirm this at a terminal"]);
    let t = w.ctl_at_terminal(&["unlock", PROVIDER], "y\n");
    t.out.assert_ok();
    assert_eq!(w.emu.idp_calls("Authorize"), 1, "no second browser login");
    let c = w.creds(PROFILE);
    assert!(!c.access_key_id.is_empty());
    assert_eq!(
        w.emu.idp_calls("AssumeRoleWithWebIdentity"),
        2,
        "lock dropped the cached credentials"
    );
    // logout deletes the provider's tokens (no SSO Logout: it is not an SSO token).
    assert!(!w.token_files().is_empty());
    w.ctl(&["logout", PROVIDER]).assert_ok();
    assert!(w.token_files().is_empty(), "{:?}", w.token_files());
    assert_eq!(w.emu.calls(Op::Logout), 0);
    w.cred(&["--profile", PROFILE])
        .assert_failure(3, &["ssoagentctl unlock corp"]);
}

#[test]
fn refresh_rotates_without_a_human() {
    let w = world();
    // Short-lived id_tokens: inside the background refresh lead from the start.
    w.emu
        .idp_config(|c| c.id_token_ttl = Duration::from_secs(7 * 60));
    unlock(&w, PROVIDER).assert_ok();
    wait_until(Duration::from_secs(20), "two refreshes", || {
        w.emu.idp_calls("Token:refresh_token") >= 2
    });
    // Each refresh spent the previous refresh token (the IdP rotates): a second one only
    // succeeds with the token the first saved.
    assert!(
        !w.daemon_logs().contains("background refresh failed"),
        "{}",
        w.daemon_logs()
    );
    let current = w.emu.idp_issued().last().cloned().unwrap();
    w.creds(PROFILE);
    assert_ne!(w.emu.idp_issued().first(), Some(&current));
    assert_eq!(w.session_state(PROVIDER), "unlocked");
}

#[test]
fn without_a_refresh_token_the_window_ends_with_the_id_token() {
    let w = world();
    w.emu.idp_config(|c| {
        c.issue_refresh_tokens = false;
        c.id_token_ttl = Duration::from_secs(8);
    });
    unlock(&w, PROVIDER).assert_ok();
    let v = w.status_json();
    let s = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == PROVIDER)
        .unwrap();
    assert_eq!(s["refreshable"], false, "{v:#}");
    assert!(
        s["unlocked_until"].is_i64(),
        "the window ends with the token: {v:#}"
    );
    w.creds(PROFILE);
    std::thread::sleep(Duration::from_secs(9));
    w.cred(&["--profile", PROFILE])
        .assert_failure(3, &["ssoagentctl unlock corp"]);
}

#[test]
fn status_json_shows_providers_as_oidc_sessions() {
    let w = world();
    unlock(&w, PROVIDER).assert_ok();
    let v = w.status_json();
    let sessions = v["sessions"].as_array().unwrap();
    let corp = sessions.iter().find(|s| s["name"] == PROVIDER).unwrap();
    assert_eq!(corp["kind"], "oidc", "{v:#}");
    assert_eq!(corp["issuer"], w.emu.issuer().as_str());
    assert_eq!(corp["state"], "unlocked");
    assert!(corp["token_expires_at"].is_i64());
    assert_eq!(corp["refreshable"], true);
    assert_eq!(corp["profiles"][0]["name"], PROFILE);
    assert_eq!(corp["profiles"][0]["role_arn"], ROLE_ARN);
    let work = sessions.iter().find(|s| s["name"] == SESSION).unwrap();
    assert_eq!(work["kind"], "sso");
    let pool = sessions
        .iter()
        .find(|s| s["name"] == POOL_PROVIDER)
        .unwrap();
    assert_eq!(pool["state"], "locked");
    let text = w.ctl(&["status"]);
    assert!(
        text.stdout.contains("provider corp (oidc): unlocked"),
        "{text:?}"
    );
    w.ctl(&["accounts", PROVIDER])
        .assert_failure(2, &["OIDC identity provider"]);
}

#[test]
fn a_chained_role_hop_on_top_of_a_web_identity() {
    let mut w = world_with("");
    w.append_aws_config(
        "\n[profile deploy]\nrole_arn = arn:aws:iam::333333333333:role/Deploy\nsource_profile = bedrock\n",
    );
    w.start_daemon();
    unlock(&w, PROVIDER).assert_ok();
    let c = w.creds("deploy");
    assert!(c.access_key_id.starts_with("ASIA"));
    assert_eq!(w.emu.calls(Op::AssumeRole), 1);
    assert_eq!(w.emu.idp_calls("AssumeRoleWithWebIdentity"), 1);
}

#[test]
fn no_token_or_credential_in_trace_logs() {
    let mut w = world_with("");
    w.log_filter = "trace".into();
    w.start_daemon();
    unlock(&w, PROVIDER).assert_ok();
    let c = w.creds(PROFILE);
    w.ctl(&["lock", PROVIDER]).assert_ok();
    let logs = w.daemon_logs();
    assert!(logs.contains("corp"), "the log is there: {logs}");
    let secrets: Vec<String> = w
        .stored_secrets()
        .into_iter()
        .chain(w.emu.idp_issued())
        .collect();
    assert!(
        secrets.len() >= 3,
        "an id_token, a refresh token and what was issued"
    );
    // (A public client has no secret: the store's empty client_secret is not one.)
    for (i, secret) in secrets.iter().filter(|s| !s.is_empty()).enumerate() {
        assert!(
            !logs.contains(secret.as_str()),
            "secret #{i} ({} chars) is in the log",
            secret.len()
        );
    }
    // Nor the payload (it names the user) or signature of any id_token.
    for t in w.emu.idp_issued() {
        for part in t.split('.').skip(1) {
            assert!(!logs.contains(part), "a part of an id_token is in the log");
        }
    }
    assert!(!logs.contains(&c.secret_access_key));
    assert!(!logs.contains(&c.session_token));
}

#[test]
fn demo_oidc_runs_the_story_with_the_emulators_identity_provider() {
    let python = python_with_boto3("demo_oidc_runs_the_story_with_the_emulators_identity_provider");
    let mut w = World::new();
    let venv_bin = std::path::Path::new(&python)
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(venv_bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    w.set_env("PATH", path);
    let out = w.ctl(&["demo", "--oidc"]);
    out.assert_ok();
    for needle in [
        "[providers.demo]",
        "session 'demo' is locked; a human must run: ssoagentctl unlock demo",
        "session 'demo' unlocked",
        "\"Version\":1",
        "credentials by custom-process",
        "arn:aws:sts::111111111111:assumed-role/BedrockUser/dev.user@example.com",
        "provider demo (oidc)",
        "demo done",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            out.stdout
        );
    }
}
