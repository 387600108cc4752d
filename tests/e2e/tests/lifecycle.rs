//! A session's life: logout, expiry, a token rejected by AWS, daemon restarts, status and
//! accounts, and running with no daemon (and autostart).

use std::{
    fs,
    time::{Duration, SystemTime},
};

use ssoagent_e2e::*;

#[test]
fn logout_revokes_and_deletes_the_token() {
    let w = World::started();
    w.unlock();
    w.creds("dev");
    assert_eq!(w.token_files().len(), 1, "the file store holds the session");
    assert_eq!(w.emu.active_access_tokens(), 1);

    let out = w.ctl(&["logout", "work"]);
    out.assert_ok();
    assert_eq!(w.emu.calls(Op::Logout), 1, "SSO Logout was called");
    assert_eq!(w.emu.active_access_tokens(), 0, "the token is revoked");
    assert_eq!(w.token_files(), Vec::<std::path::PathBuf>::new());
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(w.session_state("work"), "locked");
}

#[test]
fn expired_session_needs_a_human() {
    let cfg = Config {
        access_token_ttl: Duration::from_secs(2),
        issue_refresh_tokens: false,
        ..Config::default()
    };
    let mut w = World::with(cfg);
    let marker = w.path("browser-was-started");
    let browser = w.write_script(
        "marker-browser",
        &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    );
    w.set_env("BROWSER", &browser);
    w.start_daemon();

    w.unlock();
    let unlocked_at = SystemTime::now();
    let logins = (
        w.emu.calls(Op::StartDeviceAuthorization),
        w.emu.calls(Op::CreateToken),
    );
    // The token was issued before unlock returned, with 2 s to live.
    sleep_until(unlocked_at + Duration::from_millis(2300));
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["expired", "ssoagentctl unlock work"]);
    assert!(!marker.exists(), "no browser for a credential request");
    assert_eq!(
        (
            w.emu.calls(Op::StartDeviceAuthorization),
            w.emu.calls(Op::CreateToken)
        ),
        logins,
        "no login attempt from a credential request"
    );
}

#[test]
fn token_rejected_by_aws_means_expired() {
    let w = World::new();
    w.append_aws_config(
        "[profile dev-admin]\n\
         sso_session = work\n\
         sso_account_id = 111111111111\n\
         sso_role_name = Admin\n",
    );
    let mut w = w;
    w.start_daemon();
    w.unlock();
    w.creds("dev");

    // The daemon believes its token is good for an hour; AWS says 401.
    w.emu.expire_access_tokens();
    w.cred(&["--profile", "dev-admin"])
        .assert_failure(3, &["expired", "ssoagentctl unlock work"]);
    // The session is over for every profile, cached credentials included.
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(w.session_state("work"), "expired");
}

#[test]
fn unlock_survives_a_daemon_restart() {
    let mut w = World::started();
    w.unlock();
    w.creds("dev");
    let logins = w.emu.calls(Op::StartDeviceAuthorization);

    w.restart_daemon();
    assert_eq!(w.session_state("work"), "unlocked");
    let c = w.creds("dev");
    assert!(c.access_key_id.starts_with("ASIA"));
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        logins,
        "no new login after a restart"
    );
    assert_eq!(w.emu.calls(Op::Authorize), 0);
}

#[test]
fn lock_survives_a_daemon_restart() {
    let mut w = World::started();
    w.unlock();
    w.creds("dev");
    w.ctl(&["lock", "work"]).assert_ok();

    w.restart_daemon();
    assert_eq!(w.session_state("work"), "locked");
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
}

#[test]
fn status_and_accounts() {
    let mut w = World::started();
    let out = w.ctl(&["status"]);
    out.assert_ok();
    assert!(out.stdout.contains("work"), "{out:?}");
    assert!(out.stdout.contains("locked"), "{out:?}");
    assert_eq!(w.session_state("work"), "locked");

    w.unlock();
    let out = w.ctl(&["status"]);
    out.assert_ok();
    assert!(out.stdout.contains("unlocked"), "{out:?}");
    let v = w.status_json();
    let session = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "work")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(session["state"], "unlocked", "{v:#}");
    assert_eq!(session["start_url"], START_URL, "{v:#}");

    // Accounts, across pages (the emulator pages 2 at a time).
    let out = w.ctl(&["accounts", "work", "--json"]);
    out.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("accounts --json is not JSON ({e}):\n{out:?}"));
    let mut got: Vec<(String, Vec<String>)> = v["accounts"]
        .as_array()
        .unwrap_or_else(|| panic!("{v:#}"))
        .iter()
        .map(|a| {
            let mut roles: Vec<String> = a["roles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            roles.sort();
            (a["account_id"].as_str().unwrap().to_string(), roles)
        })
        .collect();
    got.sort();
    let want = vec![
        (
            "111111111111".to_string(),
            vec!["Admin".to_string(), "ReadOnly".to_string()],
        ),
        ("222222222222".to_string(), vec!["ReadOnly".to_string()]),
        ("333333333333".to_string(), vec!["Developer".to_string()]),
    ];
    assert_eq!(got, want, "{v:#}");
    assert!(
        w.emu.calls(Op::ListAccounts) >= 2,
        "3 accounts at 2 per page need 2 pages"
    );

    // Locked again: status still exits 0.
    w.ctl(&["lock", "--all"]).assert_ok();
    w.ctl(&["status"]).assert_ok();
    assert_eq!(w.session_state("work"), "locked");

    // No daemon: exit 4.
    w.stop_daemon();
    w.ctl(&["status"]).assert_code(4);
    w.ctl(&["status", "--json"]).assert_code(4);
}

#[test]
fn no_daemon_then_autostart() {
    let w = World::new();
    w.cred(&["--profile", "dev"])
        .assert_failure(4, &["ssoagentctl start"]);
    w.ctl(&["status"]).assert_code(4);

    // Without --no-autostart, unlock starts the daemon in the background.
    let out = w.ctl_autostart(&["unlock", "work", "--device-code", "--no-browser"]);
    out.assert_ok();
    let log = w.state_dir().join("ssoagentd.log");
    let text =
        fs::read_to_string(&log).unwrap_or_else(|e| panic!("{} should exist: {e}", log.display()));
    assert!(!text.trim().is_empty(), "the autostarted daemon logs there");
    let v = w.status_json();
    assert_eq!(v["log_file"], log.display().to_string(), "{v:#}");
    w.creds("dev");

    let out = w.ctl(&["stop"]);
    out.assert_ok();
    w.ctl(&["status"]).assert_code(4);
    w.cred(&["--profile", "dev"])
        .assert_failure(4, &["ssoagentctl start"]);
}
