//! The OS keyring store against a real Secret Service: a private D-Bus session with an
//! unlocked gnome-keyring per test (tests/secret-service.sh), seen by the daemon only.

use std::time::Duration;

use ssoagent_e2e::{persistence::*, secret_service::*, *};

/// A World whose daemons see their own Secret Service, with the given agent config.
fn keyring_world(test: &str, agent_config: &str) -> (World, SecretService) {
    let mut w = World::new();
    let ss = SecretService::for_world(&mut w, test);
    write_agent_config(&w, agent_config);
    (w, ss)
}

#[test]
fn keyring_store_keeps_the_unlock_across_a_restart() {
    let (mut w, _ss) = keyring_world(
        "keyring_store_keeps_the_unlock_across_a_restart",
        "store = \"keyring\"\n",
    );
    w.start_daemon();
    assert_eq!(status_store(&w), "keyring");

    let out = w.unlock();
    assert!(
        out.stdout.contains("keyring store"),
        "the unlock output names the store:\n{out:?}"
    );
    assert_eq!(w.session_state(SESSION), "unlocked");
    let first = w.creds("dev");
    assert!(first.access_key_id.starts_with("ASIA"), "{first:?}");
    assert_eq!(
        w.token_files(),
        Vec::<std::path::PathBuf>::new(),
        "no token file with the keyring store"
    );
    assert!(
        !w.state_dir().join("tokens").exists()
            || std::fs::read_dir(w.state_dir().join("tokens"))
                .unwrap()
                .next()
                .is_none(),
        "nothing at all under state/tokens with the keyring store"
    );
    let logins = w.emu.calls(Op::StartDeviceAuthorization);
    assert_eq!(logins, 1);

    // A new daemon reads the session back from the keyring: no login, credentials served.
    w.restart_daemon();
    assert_eq!(status_store(&w), "keyring");
    assert_eq!(w.session_state(SESSION), "unlocked");
    let c = w.creds("dev");
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        logins,
        "no new login after a restart with the keyring store"
    );
    assert_eq!(w.emu.calls(Op::Authorize), 0);
    assert_eq!(w.token_files(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn auto_store_takes_the_keyring_when_one_answers() {
    let (mut w, _ss) = keyring_world(
        "auto_store_takes_the_keyring_when_one_answers",
        "store = \"auto\"\n",
    );
    w.start_daemon();
    assert_eq!(status_store(&w), "keyring");
    let out = w.unlock();
    assert!(
        out.stdout.contains("keyring store"),
        "the unlock output names the store:\n{out:?}"
    );
    w.creds("dev");
    assert_eq!(w.token_files(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn auto_store_without_a_keyring_says_so() {
    let mut w = World::new();
    without_secret_service(&mut w);
    write_agent_config(&w, "store = \"auto\"\n");
    w.start_daemon();

    let store = status_store(&w);
    assert!(
        store.starts_with("file"),
        "auto falls back to the file store: {store:?}"
    );
    assert!(
        store.contains("keyring"),
        "the fallback says the keyring was unavailable (never a silent downgrade): {store:?}"
    );
    let text = w.ctl(&["status"]);
    text.assert_ok();
    assert!(
        text.stdout.contains("keyring"),
        "plain status shows why too:\n{text:?}"
    );

    let out = w.unlock();
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("unlocked"))
        .unwrap_or_else(|| panic!("no unlock line:\n{out:?}"));
    assert!(
        line.contains("file") && line.contains("keyring"),
        "the unlock line says the tokens went to the file store because the keyring was unavailable: {line:?}"
    );
    w.creds("dev");
    assert_eq!(w.token_files().len(), 1, "the session rests in a file");
}

#[test]
fn keyring_store_without_a_keyring_refuses_to_start() {
    let mut w = World::new();
    without_secret_service(&mut w);
    write_agent_config(&w, "store = \"keyring\"\n");

    let out = run_daemon_expecting_exit(&w, Duration::from_secs(20));
    assert_ne!(
        out.code, 0,
        "ssoagentd must not run without its keyring:\n{out:?}"
    );
    let stderr = out.stderr.to_lowercase();
    assert!(
        stderr.contains("keyring"),
        "the error says the keyring is the problem:\n{out:?}"
    );
    assert!(
        stderr.contains("store"),
        "the error points at the store setting:\n{out:?}"
    );
    assert!(
        !out.stderr.contains("panicked"),
        "a clear message, not a panic:\n{out:?}"
    );
    // Nothing answers, and the ctl says so.
    w.ctl(&["status"]).assert_code(4);
    assert_eq!(w.token_files(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn changing_the_store_moves_the_session() {
    let (mut w, _ss) = keyring_world("changing_the_store_moves_the_session", "store = \"file\"\n");
    w.start_daemon();
    assert_eq!(status_store(&w), "file");
    w.unlock();
    w.creds("dev");
    assert_eq!(w.token_files().len(), 1, "the session rests in a file");
    let logins = w.emu.calls(Op::StartDeviceAuthorization);

    // file → keyring
    assert_eq!(w.stop_daemon(), 0);
    write_agent_config(&w, "store = \"keyring\"\n");
    w.start_daemon();
    assert_eq!(status_store(&w), "keyring");
    assert_eq!(
        w.session_state(SESSION),
        "unlocked",
        "the unlock survives the move"
    );
    let c = w.creds("dev");
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    assert_eq!(
        w.token_files(),
        Vec::<std::path::PathBuf>::new(),
        "the token file is gone once the session moved to the keyring"
    );
    // And it really rests in the keyring now: another restart still serves it.
    w.restart_daemon();
    assert_eq!(w.session_state(SESSION), "unlocked");
    w.creds("dev");

    // keyring → file
    assert_eq!(w.stop_daemon(), 0);
    write_agent_config(&w, "store = \"file\"\n");
    w.start_daemon();
    assert_eq!(status_store(&w), "file");
    assert_eq!(w.session_state(SESSION), "unlocked");
    w.creds("dev");
    let files = w.token_files();
    assert_eq!(files.len(), 1, "the session moved back into a file");
    assert_eq!(mode(&files[0]), 0o600, "{}", files[0].display());
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        logins,
        "no login for any of the moves"
    );
    assert_eq!(w.emu.calls(Op::Authorize), 0);
    // The keyring no longer holds it: with the file gone, a keyring daemon has nothing.
    assert_eq!(w.stop_daemon(), 0);
    std::fs::remove_file(&files[0]).unwrap();
    write_agent_config(&w, "store = \"keyring\"\n");
    w.start_daemon();
    assert_ne!(
        w.session_state(SESSION),
        "unlocked",
        "the move to the file store left a copy in the keyring"
    );
}

/// #10: keyring entry names no session name can collide with. Entries were named
/// `{session}` and `{session}#{gen}.{i}`, so a legacy profile's session keyed by the start URL
/// `…/start#1.0` was chunk 0 of the session keyed `…/start`, and an `[sso-session
/// ssoagent-probe]` was overwritten and deleted by the write probe at every start. Now every
/// session, unlocked side by side, comes back whole after a restart, with no new login.
#[test]
fn sessions_named_like_entries_do_not_clobber_each_other() {
    let (mut w, _ss) = keyring_world(
        "sessions_named_like_entries_do_not_clobber_each_other",
        "store = \"keyring\"\n",
    );
    let url = "https://collide.awsapps.com/start";
    let chunk_like = format!("{url}#1.0");
    let mut config = String::from(
        "[sso-session ssoagent-probe]\nsso_start_url = https://probe.awsapps.com/start\nsso_region = us-east-1\n\n\
         [profile p0]\nsso_session = ssoagent-probe\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\n\n",
    );
    for (i, start) in [url, chunk_like.as_str()].iter().enumerate() {
        config += &format!(
            "[profile p{}]\nsso_start_url = {start}\nsso_region = us-east-1\n\
             sso_account_id = 111111111111\nsso_role_name = ReadOnly\n\n",
            i + 1
        );
    }
    w.write_aws_config(&config);
    w.start_daemon();
    let sessions = ["ssoagent-probe", url, chunk_like.as_str()];
    for i in 0..3 {
        let p = format!("p{i}");
        w.ctl(&["unlock", "--profile", &p, "--device-code", "--no-browser"])
            .assert_ok();
    }
    for i in 0..3 {
        w.creds(&format!("p{i}"));
    }
    let logins = w.emu.calls(Op::StartDeviceAuthorization);
    assert_eq!(logins, 3);

    w.restart_daemon();
    for (i, name) in sessions.iter().enumerate() {
        assert_eq!(
            w.session_state(name),
            "unlocked",
            "session {name:?} survives the restart whole"
        );
        w.creds(&format!("p{i}"));
    }
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        logins,
        "no new login after the restart"
    );
    assert_eq!(w.token_files(), Vec::<std::path::PathBuf>::new());
}
