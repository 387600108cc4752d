//! Human presence (issue 10): what a robot cannot do. Unlocking without a login needs a
//! `[y/N]` typed at a controlling terminal (`presence = "tty"`, the default), or always a
//! fresh login (`"login"`), or nothing (`"none"`). Also: lock, logout and the window's end
//! stop a fetch in flight; a newer unlock supersedes a pending one; `--for` is checked.

use std::{
    fs,
    process::{Child, Stdio},
    time::Duration,
};

use ssoagent_e2e::{
    robust::{spawn_cred, wait_out},
    terminal::{drop_own_terminal, without_terminal},
    *,
};

const CONFIRM: &str = "a human must confirm this at a terminal";
const ROBOT_HINT: &str = "a human must run: ssoagentctl unlock work";

/// A World whose agent config is exactly `toml` (no harness `presence`), daemon started,
/// `work` unlocked by a login, then locked.
fn locked_after_a_login(toml: &str) -> World {
    let mut w = World::new();
    fs::write(w.agent_config_path(), toml).unwrap();
    w.start_daemon();
    // A login is proof of presence by itself: no terminal needed.
    w.unlock();
    w.creds("dev");
    w.ctl(&["lock", "work"]).assert_ok();
    w
}

fn logins(w: &World) -> (u64, u64, u64) {
    (
        w.emu.calls(Op::StartDeviceAuthorization),
        w.emu.calls(Op::Authorize),
        w.emu.calls(Op::CreateToken),
    )
}

#[test]
fn a_robot_cannot_unlock_by_reuse_without_a_terminal() {
    // No `presence` key: the default is "tty".
    let w = locked_after_a_login("store = \"file\"\n");
    let before = logins(&w);
    // As in the report: no terminal (setsid), stdin /dev/null, a browser that fails.
    let mut c = w.command(bin("ssoagentctl"));
    c.args(["--no-autostart", "unlock", "work", "--no-browser"])
        .env("BROWSER", "/bin/false");
    without_terminal(&mut c);
    let out = run_with_timeout(&mut c, COMMAND_TIMEOUT);
    out.assert_failure(3, &[CONFIRM]);
    assert!(
        !out.stderr.contains("reused") && !out.stderr.contains("unlocked"),
        "{out:?}"
    );
    assert_eq!(logins(&w), before, "no login, no refresh: nothing changed");
    assert_eq!(w.session_state("work"), "locked");
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &[ROBOT_HINT]);
    // status shows the mode.
    assert_eq!(w.status_json()["presence"], "tty");
    let text = w.ctl(&["status"]);
    text.assert_ok();
    assert!(text.stdout.contains("presence: tty"), "{text:?}");
}

#[test]
fn a_confirmation_from_a_process_without_a_terminal_is_not_believed() {
    use ssoagent_client::proto::{UnlockRequest, agent_client::AgentClient, unlock_event::Event};
    let w = locked_after_a_login("store = \"file\"\npresence = \"tty\"\n");
    // This process sends the request itself, claiming a human confirmed.
    drop_own_terminal();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let events = rt.block_on(async {
        let channel = ssoagent_client::connect(&w.socket_path())
            .await
            .expect("connect");
        let mut client = AgentClient::new(channel);
        let req = UnlockRequest {
            session: "work".into(),
            confirmed: true,
            ..Default::default()
        };
        let mut stream = client.unlock(req).await.expect("unlock").into_inner();
        let mut events = Vec::new();
        while let Some(e) = stream.message().await.expect("stream") {
            events.push(e.event.expect("an event"));
        }
        events
    });
    assert!(
        matches!(events.as_slice(), [Event::ConfirmationNeeded(c)] if c.session == "work"),
        "{events:?}"
    );
    assert_eq!(w.session_state("work"), "locked");
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &[ROBOT_HINT]);
}

#[test]
fn a_human_who_answers_y_at_the_terminal_unlocks_with_no_new_login() {
    let w = locked_after_a_login("store = \"file\"\npresence = \"tty\"\n");
    let before = logins(&w);
    let t = w.ctl_at_terminal(&["unlock", "work", "--for", "2h", "--no-browser"], "y\n");
    t.out.assert_ok();
    assert!(
        t.screen.contains("Unlock session 'work' until ")
            && t.screen.contains(" for every process of this user? [y/N] "),
        "the question is asked on the terminal:\n{}",
        t.screen
    );
    assert!(
        t.out.stdout.contains("reused the stored token"),
        "{:?}",
        t.out
    );
    assert_eq!(
        logins(&w),
        before,
        "no StartDeviceAuthorization, no browser, no CreateToken"
    );
    assert_eq!(w.session_state("work"), "unlocked");
    w.creds("dev");
}

#[test]
fn any_other_answer_changes_nothing() {
    let w = locked_after_a_login("store = \"file\"\npresence = \"tty\"\n");
    let before = logins(&w);
    for answer in ["n\n", "\n", "yes please\n"] {
        let t = w.ctl_at_terminal(&["unlock", "work", "--no-browser"], answer);
        t.out.assert_code(3);
        assert!(t.out.stderr.contains(CONFIRM), "{:?}", t.out);
        assert!(t.screen.contains("[y/N]"), "{}", t.screen);
    }
    assert_eq!(logins(&w), before);
    assert_eq!(w.session_state("work"), "locked");
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &[ROBOT_HINT]);
}

#[test]
fn presence_login_always_runs_a_fresh_login() {
    let w = locked_after_a_login("store = \"file\"\npresence = \"login\"\n");
    let (devices, _, _) = logins(&w);
    // The stored token is valid for an hour; it is not reused.
    let out = w.ctl(&["unlock", "work", "--device-code", "--no-browser"]);
    out.assert_ok();
    assert!(out.stdout.contains("logged in"), "{out:?}");
    assert_eq!(w.emu.calls(Op::StartDeviceAuthorization), devices + 1);
    assert_eq!(w.status_json()["presence"], "login");
    w.creds("dev");
}

#[test]
fn presence_none_reuses_without_asking() {
    let w = locked_after_a_login("store = \"file\"\npresence = \"none\"\n");
    let before = logins(&w);
    let out = w.ctl(&["unlock", "work", "--no-browser"]);
    out.assert_ok();
    assert!(out.stdout.contains("reused the stored token"), "{out:?}");
    assert_eq!(logins(&w), before);
    assert_eq!(w.status_json()["presence"], "none");
    w.creds("dev");
}

/// A shim waiting on a slow GetRoleCredentials (`delay`) after `end` ran must print nothing
/// and exit 3.
fn a_waiting_shim_gets_nothing_after(w: &World, delay: Duration, end: impl FnOnce(&World)) {
    w.emu.inject(Op::GetRoleCredentials, Fault::Delay(delay), 1);
    let fetches = w.emu.calls(Op::GetRoleCredentials);
    let shim = spawn_cred(w, "dev");
    wait_until(
        Duration::from_secs(20),
        "the shim's fetch reaches AWS",
        || w.emu.calls(Op::GetRoleCredentials) > fetches,
    );
    end(w);
    let out = wait_out(shim, Duration::from_secs(30));
    out.assert_failure(3, &["ssoagentctl unlock work"]);
}

#[test]
fn lock_stops_a_fetch_in_flight() {
    let w = World::started();
    w.unlock();
    a_waiting_shim_gets_nothing_after(&w, Duration::from_secs(4), |w| {
        w.ctl(&["lock", "work"]).assert_ok();
    });
}

#[test]
fn logout_stops_a_fetch_in_flight() {
    let w = World::started();
    w.unlock();
    a_waiting_shim_gets_nothing_after(&w, Duration::from_secs(4), |w| {
        w.ctl(&["logout", "work"]).assert_ok();
    });
}

#[test]
fn the_window_end_stops_a_fetch_in_flight() {
    let w = World::started();
    w.ctl(&[
        "unlock",
        "work",
        "--for",
        "3s",
        "--device-code",
        "--no-browser",
    ])
    .assert_ok();
    // The window ends at most 3 s from now; the fetch answers 0.3 s after that, before the
    // daemon's housekeeping (every 2 s) has surely noticed: the answer itself must be refused.
    let answer_at = std::time::Instant::now() + Duration::from_millis(3300);
    a_waiting_shim_gets_nothing_after(
        &w,
        answer_at.saturating_duration_since(std::time::Instant::now()),
        |_| {},
    );
}

/// `ssoagentctl unlock work --device-code --no-browser` running in the background with no
/// terminal, its stderr read line by line.
fn spawn_unlock(w: &World) -> (Child, LineReader) {
    let mut c = w.command(bin("ssoagentctl"));
    c.args([
        "--no-autostart",
        "unlock",
        "work",
        "--device-code",
        "--no-browser",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    without_terminal(&mut c);
    let mut child = c.spawn().expect("spawn ssoagentctl");
    let lines = LineReader::new(child.stderr.take().unwrap());
    (child, lines)
}

#[test]
fn a_newer_unlock_supersedes_a_pending_one() {
    let w = World::started_with(Config {
        auto_approve: false,
        ..Config::default()
    });
    // A robot's unlock waits on a login nobody approves.
    let (mut robot, mut robot_err) = spawn_unlock(&w);
    robot_err.wait_for("approve this login", Duration::from_secs(20));
    // The human's own unlock is not stuck behind it: it gets its own prompt at once...
    let (human, mut human_err) = spawn_unlock(&w);
    human_err.wait_for("approve this login", Duration::from_secs(10));
    // ... and the robot's ends.
    let mut code = None;
    wait_until(Duration::from_secs(10), "the older unlock ends", || {
        code = robot.try_wait().unwrap().and_then(|s| s.code());
        code.is_some()
    });
    assert_ne!(code, Some(0));
    let rest = robot_err.rest(Duration::from_secs(5));
    assert!(
        rest.contains("a newer unlock of session 'work' took over"),
        "{rest}"
    );
    assert_eq!(w.session_state("work"), "locked");
    w.emu.approve_pending();
    let out = wait_out(human, COMMAND_TIMEOUT);
    out.assert_ok();
    assert!(out.stdout.contains("logged in"), "{out:?}");
    w.creds("dev");
}

#[test]
fn unlock_windows_beyond_an_sso_session_are_bad_usage_not_a_panic() {
    let w = World::started();
    for d in ["18446744073709551615s", "91days"] {
        let out = w.ctl(&[
            "unlock",
            "work",
            "--for",
            d,
            "--device-code",
            "--no-browser",
        ]);
        out.assert_code(2);
        assert!(
            out.stderr.contains("longer than an SSO session can last"),
            "{out:?}"
        );
    }
    assert_eq!(w.emu.calls(Op::StartDeviceAuthorization), 0);
    // The daemon is fine, and a sane window works.
    let out = w.ctl(&[
        "unlock",
        "work",
        "--for",
        "90days",
        "--device-code",
        "--no-browser",
    ]);
    out.assert_ok();
    w.creds("dev");
}
