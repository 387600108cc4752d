//! The daemon hardened against a hostile shell and a hostile local user (issue 10): endpoint
//! overrides it ignores or refuses, the PKCE loopback listener (concurrent, callback path
//! only, own uid only), no shared `/tmp` state dir, no symlink followed at the log path.

use std::{
    fs,
    io::Read,
    net::{TcpListener, TcpStream},
    os::unix::fs::{PermissionsExt, symlink},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use ssoagent_e2e::{persistence::*, *};

/// A TCP listener on 127.0.0.1 that records every connection and the bytes it sent.
struct Recorder {
    port: u16,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let sink = got.clone();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let sink = sink.clone();
                thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut buf = Vec::new();
                    let _ = s.read_to_end(&mut buf);
                    sink.lock().unwrap().push(buf);
                });
            }
        });
        Recorder { port, got }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn connections(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// #4: the generic `AWS_ENDPOINT_URL` and a profile's `endpoint_url` / `services` never
/// redirect the daemon: with all of them pointing at a recorder, logins, credentials and a
/// chained AssumeRole still go to the emulator (the service-specific overrides), the recorder
/// hears nothing, and the daemon says what it ignored.
#[test]
fn generic_and_profile_endpoints_are_ignored() {
    let trap = Recorder::start();
    let mut w = World::new();
    w.set_env("AWS_ENDPOINT_URL", trap.url());
    let t = trap.url();
    w.write_aws_config(&format!(
        "{}\n\
         endpoint_url = {t}\n\
         services = trap\n\
         \n\
         [default]\n\
         endpoint_url = {t}\n\
         services = trap\n\
         \n\
         [services trap]\n\
         sso =\n  endpoint_url = {t}\n\
         sso_oidc =\n  endpoint_url = {t}\n\
         sts =\n  endpoint_url = {t}\n\
         \n\
         [profile deploy]\n\
         role_arn = arn:aws:iam::222222222222:role/Deploy\n\
         source_profile = dev\n\
         region = eu-central-1\n\
         endpoint_url = {t}\n",
        default_aws_config().trim_end()
    ));
    w.start_daemon();
    w.ctl(&["unlock", SESSION]).assert_ok(); // PKCE: RegisterClient, authorize, CreateToken
    w.creds("dev");
    w.creds("deploy");
    w.ctl(&["accounts", SESSION]).assert_ok();
    assert!(w.emu.calls(Op::GetRoleCredentials) >= 1);
    assert!(w.emu.calls(Op::AssumeRole) >= 1);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        trap.connections(),
        0,
        "nothing may reach the generic / profile endpoint: {:?}",
        trap.got.lock().unwrap()
    );
    let log = w.daemon_logs();
    assert!(
        log.contains("ignoring AWS_ENDPOINT_URL="),
        "the daemon says it ignores the generic override:\n{log}"
    );
}

/// #4: a plain-http endpoint to a network address is refused at start, with one line naming
/// the variable and the rule (exit 2), before anything is bound or called.
#[test]
fn plain_http_to_a_network_endpoint_is_refused() {
    for var in [
        "AWS_ENDPOINT_URL_SSO",
        "AWS_ENDPOINT_URL_SSO_OIDC",
        "AWS_ENDPOINT_URL_STS",
    ] {
        let mut w = World::new();
        w.set_daemon_env(var, Some("http://192.0.2.1".into()));
        let out = run_daemon_expecting_exit(&w, Duration::from_secs(20));
        out.assert_code(2);
        let lines: Vec<&str> = out.stderr.trim().lines().collect();
        assert_eq!(lines.len(), 1, "one line:\n{out:?}");
        for needle in [
            &format!("{var}=http://192.0.2.1") as &str,
            "loopback",
            "https://",
        ] {
            assert!(lines[0].contains(needle), "{needle:?} in:\n{out:?}");
        }
        assert!(!w.socket_path().exists(), "nothing was bound");
        assert!(
            w.emu.all_calls().values().all(|&n| n == 0),
            "no AWS call at all: {:?}",
            w.emu.all_calls()
        );
    }
}

/// #4: the same refusal reaches a human when `ssoagentctl` starts the daemon in the
/// background (the autostart path): it says the daemon did not start and shows the refusal
/// from its log.
#[test]
fn an_autostarted_daemon_refusing_an_endpoint_says_why() {
    let mut w = World::new();
    w.set_env("AWS_ENDPOINT_URL_SSO", "http://192.0.2.1");
    let out = w.ctl_autostart(&["start"]);
    out.assert_code(4);
    assert!(
        out.stderr.contains("AWS_ENDPOINT_URL_SSO=http://192.0.2.1")
            && out.stderr.contains("loopback"),
        "the ctl shows why the daemon refused to start:\n{out:?}"
    );
    assert!(w.emu.all_calls().values().all(|&n| n == 0));
}

/// #8: without a home directory the daemon refuses to start (exit 2, saying what to set)
/// instead of keeping its state in a shared `$TMPDIR/ssoagent-state` another user could
/// have created first. Run as a uid with no passwd entry and no HOME, so no home is found.
#[test]
fn no_shared_tmp_state_dir_without_a_home() {
    require_root("no_shared_tmp_state_dir_without_a_home");
    const UID: u32 = 54321;
    let tmp = tempfile::Builder::new()
        .prefix("ssoagent-nohome-")
        .tempdir()
        .unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    // SAFETY: chown of a directory we just created.
    let c = std::ffi::CString::new(tmp.path().to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::chown(c.as_ptr(), UID, UID) }, 0);
    let mut cmd = Command::new("setpriv");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TMPDIR", tmp.path())
        .env("SSOAGENT_SOCKET", tmp.path().join("run/agent.sock"))
        .env("SSOAGENT_CONFIG", tmp.path().join("none.toml"))
        .current_dir("/")
        .args([
            &format!("--reuid={UID}"),
            &format!("--regid={UID}"),
            "--clear-groups",
            bin("ssoagentd").to_str().unwrap(),
        ]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(20));
    out.assert_code(2);
    assert!(
        out.stderr.contains("no home directory") && out.stderr.contains("SSOAGENT_STATE_DIR"),
        "says why and what to set:\n{out:?}"
    );
    assert!(
        !tmp.path().join("ssoagent-state").exists(),
        "no shared fallback state dir"
    );
}

/// #8: a symlink planted at the background daemon's log path is refused, not followed: the
/// file it points to stays untouched.
#[test]
fn a_symlink_at_the_log_path_is_not_followed() {
    let w = World::new();
    let state = w.state_dir();
    fs::create_dir_all(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).unwrap();
    let victim = w.path("victim");
    fs::write(&victim, "untouched\n").unwrap();
    symlink(&victim, state.join("ssoagentd.log")).unwrap();
    let mut cmd = w.daemon_command();
    cmd.arg("--background");
    let out = run_with_timeout(&mut cmd, Duration::from_secs(20));
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("symlink"), "says why:\n{out:?}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched\n");
    assert!(!w.socket_path().exists(), "it did not start");
}

// ----- the PKCE loopback listener (#5) -----

/// A World whose browser only saves the login URL (the test plays the browser), with a daemon.
fn pkce_world() -> World {
    let mut w = World::new();
    let browser = w.write_script(
        "save-url",
        "#!/bin/sh\nprintf '%s' \"$1\" > \"$HOME/login-url.tmp\" && mv \"$HOME/login-url.tmp\" \"$HOME/login-url\"\n",
    );
    w.set_env("BROWSER", browser);
    w.start_daemon();
    w
}

/// `ssoagentctl unlock work` (PKCE), running until the test completes the login.
fn start_unlock(w: &World) -> Child {
    w.command(bin("ssoagentctl"))
        .args(["--no-autostart", "unlock", SESSION])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ssoagentctl")
}

/// The callback URL (with code and state) the emulator redirects the browser to, and the
/// listener's port.
fn callback_url(w: &World) -> (String, u16) {
    let file = w.path("login-url");
    wait_until(Duration::from_secs(20), "the browser is opened", || {
        file.exists()
    });
    let url = fs::read_to_string(&file).unwrap();
    let out = run_with_timeout(
        Command::new("curl").args(["-sS", "-o", "/dev/null", "-w", "%{redirect_url}", &url]),
        COMMAND_TIMEOUT,
    );
    out.assert_ok();
    let cb = out.stdout.trim().to_string();
    let port = cb
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected callback URL {cb:?}"));
    (cb, port)
}

/// GETs `url` (as `uid` when given) and returns the HTTP status curl saw ("000" if none),
/// giving up after 15 s.
fn get_status(url: &str, uid: Option<u32>) -> String {
    let mut cmd = match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                "curl",
            ]);
            c
        }
        None => Command::new("curl"),
    };
    cmd.current_dir("/").args([
        "-s",
        "-o",
        "/dev/null",
        "-m",
        "15",
        "-w",
        "%{http_code}",
        url,
    ]);
    run_with_timeout(&mut cmd, COMMAND_TIMEOUT)
        .stdout
        .trim()
        .to_string()
}

/// The unlock is still waiting for its login.
#[track_caller]
fn assert_pending(w: &World, unlock: &mut Child) {
    thread::sleep(Duration::from_millis(300));
    assert!(
        unlock.try_wait().unwrap().is_none(),
        "the unlock ended before its real callback"
    );
    assert_ne!(w.session_state(SESSION), "unlocked");
}

/// Completes the login with the real callback; the unlock then succeeds.
#[track_caller]
fn complete(w: &World, unlock: Child, cb: &str) {
    assert_eq!(get_status(cb, None), "200", "the real callback is answered");
    let out = robust::wait_out(unlock, Duration::from_secs(30));
    out.assert_ok();
    assert_eq!(w.session_state(SESSION), "unlocked");
}

/// Idle connections opened before the callback do not hold it back: the listener serves
/// connections side by side, so the login completes while they are still open (before, each
/// one held the listener for 10 s in turn).
#[test]
fn idle_connections_do_not_delay_the_login_callback() {
    let w = pkce_world();
    let unlock = start_unlock(&w);
    let (cb, port) = callback_url(&w);
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(100));
    complete(&w, unlock, &cb);
    assert_eq!(idle.len(), 3, "the idle connections were open throughout");
    drop(idle);
    w.creds("dev");
}

/// Only the callback path counts: a GET on another path, even carrying the right state and
/// a code, gets 404 and the login stays pending.
#[test]
fn another_path_gets_404_and_the_login_stays_pending() {
    let w = pkce_world();
    let mut unlock = start_unlock(&w);
    let (cb, port) = callback_url(&w);
    let query = cb.split_once('?').map(|(_, q)| q).unwrap();
    let other = format!("http://127.0.0.1:{port}/favicon.ico?{query}");
    assert_eq!(get_status(&other, None), "404");
    assert_pending(&w, &mut unlock);
    complete(&w, unlock, &cb);
}

/// On Linux the listener serves only processes of the daemon's own uid: a callback from
/// another uid (even with the right code and state) is refused and the login stays pending.
#[test]
fn a_callback_from_another_uid_is_refused() {
    require_root("a_callback_from_another_uid_is_refused");
    let w = pkce_world();
    let mut unlock = start_unlock(&w);
    let (cb, _) = callback_url(&w);
    let status = get_status(&cb, Some(65534));
    assert_ne!(status, "200", "uid 65534 must not complete the login");
    assert_pending(&w, &mut unlock);
    assert!(
        w.daemon_logs()
            .contains("refused a login callback from another user"),
        "the daemon logs the refusal"
    );
    complete(&w, unlock, &cb);
}
