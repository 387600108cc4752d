//! Live events and desktop notifications (issue 11): `ssoagentctl watch --json` streams the
//! audit events plus `ending`, and ends cleanly on Ctrl-C; notifications go over a private
//! session bus to a recording notification service (real D-Bus calls).

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use ssoagent_e2e::{notifications::NotificationBus, *};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn watch_json_sees_unlocked_ending_issued_locked_and_locked_hit() {
    let w = World::started();
    let mut child = w
        .command(bin("ssoagentctl"))
        .args(["--no-autostart", "watch", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let mut lines = LineReader::new(child.stdout.take().unwrap());
    // The stream is open once the daemon has a subscriber: a locked hit proves it.
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "watch saw nothing: {:?}",
            lines.seen
        );
        w.cred(&["--profile", "dev"]).assert_code(3);
        if lines
            .rest(Duration::from_millis(300))
            .contains("\"locked_hit\"")
        {
            break;
        }
    }
    w.ctl(&[
        "unlock",
        "work",
        "--device-code",
        "--no-browser",
        "--for",
        "20m",
    ])
    .assert_ok();
    lines.wait_for("\"unlocked\"", WAIT);
    // A 20-minute window is within 30 minutes of its end at once: `ending` on the next tick.
    let ending = lines.wait_for("\"ending\"", WAIT);
    let v: serde_json::Value = serde_json::from_str(ending.trim()).unwrap();
    assert_eq!(v["session"], "work");
    let c = w.creds("dev");
    let issued = lines.wait_for("\"issued\"", WAIT);
    assert!(issued.contains(&c.access_key_id), "{issued}");
    assert!(!issued.contains(&c.secret_access_key));
    w.ctl(&["lock", "work"]).assert_ok();
    lines.wait_for("\"locked\"", WAIT);
    w.cred(&["--profile", "dev"]).assert_code(3);
    let hit = lines.wait_for("\"locked_hit\"", WAIT);
    let v: serde_json::Value = serde_json::from_str(hit.trim()).unwrap();
    assert_eq!(v["profile"], "dev");
    assert!(
        v["caller"]["exe"]
            .as_str()
            .unwrap()
            .ends_with("/ssoagent-cred")
    );
    // Ctrl-C: a clean end.
    signal(child.id(), libc::SIGINT);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "watch did not end on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn notifications_are_sent_over_the_session_bus() {
    let mut w = World::new();
    let bus = NotificationBus::start(&w.path("dbus")).with_recorder();
    w.set_daemon_env("DBUS_SESSION_BUS_ADDRESS", Some(bus.address.clone().into()));
    w.write_agent_config(
        "store = \"file\"\npresence = \"none\"\nnotify = \"auto\"\nconfirm_timeout = \"0s\"\n\
         [[rule]]\nprofiles = [\"prod\"]\naction = \"confirm\"\n",
    );
    w.append_aws_config(
        "[profile prod]\nsso_session = work\nsso_account_id = 222222222222\nsso_role_name = ReadOnly\n",
    );
    w.start_daemon();
    // locked_hit: at most once per session per 10 minutes.
    w.cred(&["--profile", "dev"]).assert_code(3);
    w.cred(&["--profile", "dev"]).assert_code(3);
    wait_until(WAIT, "a locked_hit notification", || {
        !bus.notes().is_empty()
    });
    let hit = &bus.notes()[0];
    assert_eq!(hit["app"], "ssoagent");
    let body = hit["body"].as_str().unwrap();
    assert!(
        body.contains("wanted profile dev; session work is locked"),
        "{body}"
    );
    assert!(
        body.contains(&format!("pid {}", std::process::id())),
        "the shim's parent: {body}"
    );
    // ending, for a short window.
    w.ctl(&[
        "unlock",
        "work",
        "--device-code",
        "--no-browser",
        "--for",
        "20m",
    ])
    .assert_ok();
    wait_until(WAIT, "an ending notification", || {
        bus.notes().iter().any(|n| {
            n["summary"]
                .as_str()
                .unwrap()
                .contains("ends within 30 minutes")
        })
    });
    // pending, with the approve command.
    let out = w.cred(&["--profile", "prod"]);
    out.assert_failure(3, &["ssoagentctl approve "]);
    wait_until(WAIT, "a pending notification", || {
        bus.notes()
            .iter()
            .any(|n| n["body"].as_str().unwrap().contains("ssoagentctl approve "))
    });
    std::thread::sleep(Duration::from_millis(300));
    let hits = bus
        .notes()
        .iter()
        .filter(|n| n["summary"].as_str().unwrap().contains("is locked"))
        .count();
    assert_eq!(hits, 1, "one locked_hit notification: {:?}", bus.notes());
}

#[test]
fn notify_off_sends_nothing() {
    let mut w = World::new();
    let bus = NotificationBus::start(&w.path("dbus")).with_recorder();
    w.set_daemon_env("DBUS_SESSION_BUS_ADDRESS", Some(bus.address.clone().into()));
    w.write_agent_config("store = \"file\"\nnotify = \"off\"\n");
    w.start_daemon();
    w.cred(&["--profile", "dev"]).assert_code(3);
    w.unlock();
    std::thread::sleep(Duration::from_secs(3));
    assert!(bus.notes().is_empty(), "{:?}", bus.notes());
}
