//! `ssoagentctl console`: the profile's credentials federated into a console sign-in URL
//! (the emulator is the federation endpoint, through `AWS_ENDPOINT_URL_SIGNIN`).

use std::time::Duration;

use ssoagent_e2e::*;

fn world() -> World {
    let mut w = World::new();
    let url = w.emu.url();
    w.set_env("AWS_ENDPOINT_URL_SIGNIN", url);
    w.start_daemon();
    w.unlock();
    w
}

#[test]
fn print_gives_a_sign_in_url_for_the_profiles_own_session() {
    let w = world();
    let out = w.ctl(&["console", "--profile", "dev", "--print"]);
    out.assert_ok();
    assert!(out.stderr.is_empty(), "{out:?}");
    let url = out.stdout.trim();
    let home = "https%3A%2F%2Fconsole.aws.amazon.com%2Fconsole%2Fhome%3Fregion%3Deu-west-1";
    assert!(
        url.starts_with(&format!(
            "{}/federation?Action=login&Issuer=ssoagent&Destination={home}&SigninToken=",
            w.emu.url()
        )),
        "{out:?}"
    );
    let signins = w.emu.signins();
    assert_eq!(signins.len(), 1, "{signins:?}");
    let s = &signins[0];
    assert_eq!(
        s.access_key_id,
        w.creds("dev").access_key_id,
        "the profile's own session"
    );
    assert_eq!(s.account, "111111111111");
    assert!(url.ends_with(&s.signin_token), "{out:?}");
    assert!(!s.logged_in);

    // Opening the URL signs in, once.
    let mut c = w.command("/usr/bin/curl");
    c.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", url]);
    assert_eq!(run_with_timeout(&mut c, COMMAND_TIMEOUT).stdout, "200");
    let s = &w.emu.signins()[0];
    assert!(s.logged_in);
    assert_eq!(s.issuer.as_deref(), Some("ssoagent"));
    assert_eq!(
        s.destination.as_deref(),
        Some("https://console.aws.amazon.com/console/home?region=eu-west-1")
    );
    assert!(
        !w.daemon_logs().contains(&s.signin_token),
        "the sign-in token is never logged"
    );
}

#[test]
fn the_browser_opens_the_url_which_is_never_printed() {
    let w = world();
    let out = w.ctl(&[
        "console",
        "--profile",
        "dev",
        "--service",
        "s3",
        "--region",
        "us-gov-west-1",
    ]);
    out.assert_ok();
    assert!(
        out.stdout.is_empty(),
        "no URL on stdout without --print:\n{out:?}"
    );
    wait_until(Duration::from_secs(10), "the fake browser signs in", || {
        w.emu.signins().first().is_some_and(|s| s.logged_in)
    });
    let s = &w.emu.signins()[0];
    assert!(!out.stderr.contains(&s.signin_token), "{out:?}");
    assert!(!w.daemon_logs().contains(&s.signin_token));
    assert_eq!(
        s.destination.as_deref(),
        Some("https://console.amazonaws-us-gov.com/s3/home?region=us-gov-west-1"),
        "the partition's console"
    );
}

#[test]
fn a_locked_session_is_exit_3_and_nothing_is_federated() {
    let w = world();
    w.ctl(&["lock", "work"]).assert_ok();
    let out = w.ctl(&["console", "--profile", "dev", "--print"]);
    out.assert_failure(3, &["ssoagentctl unlock work"]);
    assert!(w.emu.signins().is_empty());
    let out = w.ctl(&[
        "console",
        "--profile",
        "dev",
        "--destination",
        "file:///etc/passwd",
    ]);
    out.assert_failure(2, &["https://"]);
}
