//! Unlocking a session: device code, PKCE, reuse of stored tokens after `lock`, `--for`, and
//! cancelling a login with Ctrl-C.

use std::{
    process::Stdio,
    time::{Duration, SystemTime},
};

use ssoagent_e2e::*;

#[test]
fn device_code_unlock_then_credentials() {
    let w = World::started();
    let out = w.unlock();
    assert!(
        out.stdout.contains("session 'work' unlocked"),
        "unlock should say what it did:\n{out:?}"
    );
    assert_eq!(w.emu.calls(Op::StartDeviceAuthorization), 1);

    let out = w.cred(&["--profile", "dev"]);
    out.assert_ok();
    assert_eq!(out.stderr, "", "nothing on stderr on success:\n{out:?}");
    let c = Creds::parse(&out);
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    assert!(
        c.expires_at() > SystemTime::now(),
        "credentials must not be expired: {c:?}"
    );

    // AWS_PROFILE when no --profile is given.
    let out = w.cred_with(&[], &[("AWS_PROFILE", "dev")]);
    out.assert_ok();
    assert_eq!(out.stderr, "", "{out:?}");
    assert_eq!(
        Creds::parse(&out),
        c,
        "same profile, same cached credentials"
    );
}

#[test]
fn pkce_unlock_with_a_browser() {
    let w = World::started();
    // Default flow (PKCE); $BROWSER is the fake browser that follows the redirects with curl.
    let out = w.ctl(&["unlock", "work"]);
    out.assert_ok();
    assert!(out.stdout.contains("logged in"), "{out:?}");
    assert_eq!(w.emu.calls(Op::Authorize), 1, "one browser visit");
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        0,
        "PKCE, not the device flow"
    );
    assert_eq!(w.session_state("work"), "unlocked");
    let c = w.creds("dev");
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
}

#[test]
fn lock_then_unlock_reuses_the_stored_token() {
    let w = World::started();
    w.unlock();
    let first = w.creds("dev");
    let logins = w.emu.calls(Op::StartDeviceAuthorization);
    let fetches = w.emu.calls(Op::GetRoleCredentials);

    w.ctl(&["lock", "work"]).assert_ok();
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(w.session_state("work"), "locked");

    let out = w.ctl(&["unlock", "work", "--device-code", "--no-browser"]);
    out.assert_ok();
    assert!(
        out.stdout.contains("reused the stored token")
            || out.stdout.contains("refreshed the stored token"),
        "unlock should reuse the stored token:\n{out:?}"
    );
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        logins,
        "no new login"
    );
    assert_eq!(w.emu.calls(Op::Authorize), 0, "no browser login");

    let second = w.creds("dev");
    assert!(
        w.emu.calls(Op::GetRoleCredentials) > fetches,
        "lock drops cached role credentials, so fresh ones are fetched"
    );
    assert_ne!(second.access_key_id, first.access_key_id);
}

#[test]
fn login_forces_a_new_login() {
    let w = World::started();
    w.unlock();
    let out = w.ctl(&["unlock", "work", "--device-code", "--no-browser"]);
    out.assert_ok();
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        1,
        "unlock reuses the valid token"
    );
    let out = w.ctl(&["login", "work", "--device-code", "--no-browser"]);
    out.assert_ok();
    assert!(out.stdout.contains("logged in"), "{out:?}");
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        2,
        "login runs a new login"
    );
    w.creds("dev");
}

#[test]
fn unlock_for_a_duration_ends_even_with_cached_credentials() {
    let w = World::started();
    let out = w.ctl(&[
        "unlock",
        "work",
        "--device-code",
        "--no-browser",
        "--for",
        "2s",
    ]);
    out.assert_ok();
    let unlocked_at = SystemTime::now();
    assert!(out.stdout.contains("until"), "{out:?}");
    w.creds("dev");
    let fetches = w.emu.calls(Op::GetRoleCredentials);

    // The daemon set its deadline before the ctl returned, so it has passed by then.
    sleep_until(unlocked_at + Duration::from_millis(2300));
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials),
        fetches,
        "a refusal makes no AWS call"
    );
    assert_eq!(w.session_state("work"), "locked");
}

#[test]
fn ctrl_c_cancels_the_login() {
    let cfg = Config {
        auto_approve: false,
        ..Config::default()
    };
    let w = World::started_with(cfg);

    let mut child = w
        .command(bin("ssoagentctl"))
        .args(["--no-autostart", "unlock", "work", "--no-browser"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = LineReader::new(child.stderr.take().unwrap());
    let url = stderr.wait_for("/authorize", Duration::from_secs(20));
    let port = redirect_port(&url);
    // The daemon waits for the browser on the loopback redirect port.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    signal(child.id(), libc::SIGINT);
    let mut code = None;
    wait_until(
        Duration::from_secs(10),
        "ssoagentctl exits after SIGINT",
        || {
            code = child.try_wait().unwrap();
            code.is_some()
        },
    );
    let code = code.unwrap();
    let rest = stderr.rest(Duration::from_secs(5));
    assert!(
        !code.success(),
        "a cancelled unlock must fail ({code}):\n{rest}"
    );

    // The daemon is fine, the session still locked, and the login abandoned.
    assert_eq!(w.session_state("work"), "locked");
    wait_until(
        Duration::from_secs(10),
        "the daemon closes the loopback redirect listener",
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
    );
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(w.emu.calls(Op::CreateToken), 0, "no token was issued");

    // Nothing is stuck: the next unlock works.
    w.emu.update(|c| c.auto_approve = true);
    w.unlock();
    w.creds("dev");
}

/// The port of the loopback `redirect_uri` in an authorize URL.
fn redirect_port(url: &str) -> u16 {
    let enc = url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("redirect_uri="))
        .unwrap_or_else(|| panic!("no redirect_uri in {url}"));
    let dec = enc.replace("%3A", ":").replace("%2F", "/");
    let rest = dec
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("not a loopback redirect: {dec}"));
    rest.split('/').next().unwrap().parse().unwrap()
}
