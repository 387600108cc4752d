//! Crash safety: `kill -9` at rest and in the middle of a token refresh, token files readable
//! by others, and the files that carry the unlock across restarts.

use std::{
    fs, os::unix::fs::PermissionsExt, path::PathBuf, process::Command, thread, time::Duration,
};

use ssoagent_e2e::{persistence::*, *};

fn read_json(path: &std::path::Path) -> serde_json::Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} is not whole JSON ({e}):\n{}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// Files in a directory whose names mark an unfinished write (`*.tmp`).
fn temp_files(dir: &std::path::Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill_9_keeps_the_unlock() {
    let mut w = World::started();
    w.unlock();
    w.creds("dev");
    let logins = w.emu.calls(Op::StartDeviceAuthorization);

    kill9_daemon(&mut w);
    w.cred(&["--profile", "dev"])
        .assert_failure(4, &["ssoagentd"]);
    // What the dead daemon left is whole.
    read_json(&w.state_dir().join("unlocked.json"));
    for f in w.token_files() {
        read_json(&f);
    }

    w.start_daemon();
    assert_eq!(w.session_state(SESSION), "unlocked");
    let c = w.creds("dev");
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        logins,
        "no new login after kill -9"
    );
    assert_eq!(w.emu.calls(Op::Authorize), 0);
}

#[test]
fn kill_9_keeps_a_lock() {
    let mut w = World::started();
    w.unlock();
    w.creds("dev");
    w.ctl(&["lock", SESSION]).assert_ok();

    kill9_daemon(&mut w);
    w.start_daemon();
    assert_eq!(w.session_state(SESSION), "locked");
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
}

/// The daemon dies while its refresh (CreateToken with the refresh token) is held up at the
/// emulator. The emulator sleeps before it looks at the request, so the old refresh token was
/// never spent: the token file must still hold it, whole, and a new daemon carries on with it.
#[test]
fn kill_9_in_the_middle_of_a_refresh() {
    let mut w = World::with(Config {
        // Under the daemon's 5-minute refresh buffer: the next credential request refreshes.
        access_token_ttl: Duration::from_secs(4 * 60),
        ..Config::default()
    });
    w.start_daemon();
    w.unlock();
    let logins = w.emu.calls(Op::StartDeviceAuthorization);
    let files = w.token_files();
    assert_eq!(files.len(), 1);
    let before = read_json(&files[0]);
    assert!(
        before["token"]["refresh_token"].is_string(),
        "the stored session has a refresh token: {before:#}"
    );

    // Long enough that the dead daemon's request is still asleep at the emulator when the
    // next daemon refreshes with the same refresh token.
    w.emu
        .inject(Op::CreateToken, Fault::Delay(Duration::from_secs(20)), 1);
    let refreshes = w.emu.calls(Op::CreateToken);
    let request = {
        let envs = w.envs();
        let home = w.home().to_path_buf();
        thread::spawn(move || {
            let mut c = Command::new(bin("ssoagent-cred"));
            c.env_clear()
                .envs(envs)
                .current_dir(home)
                .args(["--profile", "dev"]);
            run_with_timeout(&mut c, COMMAND_TIMEOUT)
        })
    };
    wait_until(
        Duration::from_secs(20),
        "the daemon's refresh reaches the emulator",
        || w.emu.calls(Op::CreateToken) > refreshes,
    );
    kill9_daemon(&mut w);
    let out = request.join().unwrap();
    assert_ne!(out.code, 0, "the request died with the daemon:\n{out:?}");
    assert!(out.stdout.trim().is_empty(), "{out:?}");

    let after = read_json(&files[0]);
    assert_eq!(
        after, before,
        "the token file is untouched by a refresh that never completed"
    );
    assert_eq!(
        temp_files(&w.state_dir().join("tokens")),
        Vec::<PathBuf>::new()
    );

    w.start_daemon();
    assert_eq!(w.session_state(SESSION), "unlocked");
    let c = w.creds("dev");
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        logins,
        "no login after the crash"
    );
    let now_stored = read_json(&w.token_files()[0]);
    assert_ne!(
        now_stored["token"]["refresh_token"], before["token"]["refresh_token"],
        "the new daemon refreshed (and saved the rotated refresh token)"
    );
    assert_eq!(mode(&w.token_files()[0]), 0o600);
}

#[test]
fn a_token_file_readable_by_others_is_refused() {
    let mut w = World::started();
    w.unlock();
    w.creds("dev");
    let logins = w.emu.calls(Op::StartDeviceAuthorization);
    let files = w.token_files();
    assert_eq!(files.len(), 1);
    fs::set_permissions(&files[0], fs::Permissions::from_mode(0o644)).unwrap();

    w.restart_daemon();
    assert_ne!(
        w.session_state(SESSION),
        "unlocked",
        "a session is not restored from a token file others can read"
    );
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    let logs = w.daemon_logs();
    assert!(
        logs.contains("readable by other users"),
        "the daemon log says why the session was not restored:\n{logs}"
    );

    let out = w.ctl(&["unlock", SESSION, "--device-code", "--no-browser"]);
    assert!(
        all_output(&out).contains("readable by other users"),
        "the unlock output says the token file is readable by others:\n{out:?}"
    );
    if out.ok() {
        assert_eq!(
            w.emu.calls(Op::StartDeviceAuthorization),
            logins + 1,
            "a token from a file others can read must not be reused:\n{out:?}"
        );
        assert_eq!(mode(&files[0]), 0o600, "the new token file is private");
    } else {
        assert_ne!(w.session_state(SESSION), "unlocked");
    }
    // Nothing crashed, and following the advice (chmod 600) brings the session back.
    w.ctl(&["status"]).assert_ok();
    fs::set_permissions(&files[0], fs::Permissions::from_mode(0o600)).unwrap();
    w.unlock();
    assert_eq!(w.session_state(SESSION), "unlocked");
    w.creds("dev");
}

#[test]
fn the_unlock_state_file_is_private_and_survives() {
    let mut w = World::started();
    w.unlock();
    let state = w.state_dir().join("unlocked.json");
    assert_eq!(mode(&state), 0o600, "{}", state.display());
    let v = read_json(&state);
    assert!(
        v.get(SESSION).is_some(),
        "the unlock file names the session: {v:#}"
    );
    assert_eq!(
        mode(&w.state_dir()) & 0o077,
        0,
        "the state dir is private to its owner"
    );
    assert_eq!(mode(&w.state_dir().join("tokens")), 0o700);
    for f in w.token_files() {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }

    // Rewritten on lock and unlock: still private, never half-written.
    w.ctl(&["lock", SESSION]).assert_ok();
    assert_eq!(mode(&state), 0o600);
    w.unlock();
    assert_eq!(mode(&state), 0o600);
    assert_eq!(temp_files(&w.state_dir()), Vec::<PathBuf>::new());

    // It survives a stop and a crash.
    w.restart_daemon();
    assert_eq!(mode(&state), 0o600);
    assert_eq!(w.session_state(SESSION), "unlocked");
    kill9_daemon(&mut w);
    assert_eq!(mode(&state), 0o600);
    assert!(read_json(&state).get(SESSION).is_some());
    w.start_daemon();
    assert_eq!(w.session_state(SESSION), "unlocked");
}
