//! Interop with the AWS CLI's SSO token cache (`~/.aws/sso/cache/<sha1>.json`), with the real
//! botocore on the other side: importing a token `aws sso login` left, mirroring ours for
//! native SSO profiles, botocore refreshing (and rotating) the shared token, and junk there.

use std::{
    fs,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ssoagent_e2e::{aws_cli::*, persistence::*, *};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A browser that records that it was started (and then completes the login like the
/// World's fake browser, so a wrong login fails the assertions instead of hanging).
fn marker_browser(w: &mut World) -> std::path::PathBuf {
    let marker = w.path("browser-was-started");
    let browser = w.write_script(
        "marker-browser",
        &format!(
            "#!/bin/sh\ntouch '{}'\n{NEED_CURL}exec /usr/bin/curl -sS -L -o /dev/null \"$1\"\n",
            marker.display()
        ),
    );
    w.set_env("BROWSER", &browser);
    marker
}

#[test]
fn unlock_imports_a_token_left_by_aws_sso_login() {
    let python = python_with_boto3("unlock_imports_a_token_left_by_aws_sso_login");
    let mut w = World::new();
    write_agent_config(&w, "store = \"file\"\naws_cli_cache = \"import\"\n");
    let marker = marker_browser(&mut w);
    let cache = aws_sso_login(&w, &python);
    assert_eq!(mode(&cache), 0o600);
    let cached_text = fs::read_to_string(&cache).unwrap();
    let logins = (
        w.emu.calls(Op::StartDeviceAuthorization),
        w.emu.calls(Op::Authorize),
        w.emu.calls(Op::RegisterClient),
    );
    assert_eq!(logins.0, 1, "botocore's login");

    w.start_daemon();
    // As a user would type it: no flags. A login here would open the (marker) browser.
    let out = w.ctl(&["unlock", SESSION]);
    out.assert_ok();
    assert!(
        !marker.exists(),
        "no browser for an imported token:\n{out:?}"
    );
    assert_eq!(
        (
            w.emu.calls(Op::StartDeviceAuthorization),
            w.emu.calls(Op::Authorize),
            w.emu.calls(Op::RegisterClient),
        ),
        logins,
        "no login and no registration: the AWS CLI's token is adopted"
    );
    assert!(
        all_output(&out).to_lowercase().contains("import"),
        "the unlock output says the token was imported from the AWS CLI cache:\n{out:?}"
    );
    assert!(
        !out.stdout.contains("logged in"),
        "an import is not a login:\n{out:?}"
    );
    assert_eq!(w.session_state(SESSION), "unlocked");
    assert_eq!(
        session_status(&w)["refreshable"],
        true,
        "the CLI's refresh token and registration came along"
    );
    let c = w.creds("dev");
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    assert_eq!(w.emu.calls(Op::GetRoleCredentials), 1);
    assert_eq!(
        fs::read_to_string(&cache).unwrap(),
        cached_text,
        "import only reads the AWS CLI cache"
    );
}

#[test]
fn cli_cache_off_ignores_a_token_left_by_aws_sso_login() {
    let python = python_with_boto3("cli_cache_off_ignores_a_token_left_by_aws_sso_login");
    let mut w = World::new();
    write_agent_config(&w, "store = \"file\"\naws_cli_cache = \"off\"\n");
    let cache = aws_sso_login(&w, &python);
    let cached_text = fs::read_to_string(&cache).unwrap();
    let logins = w.emu.calls(Op::StartDeviceAuthorization);

    w.start_daemon();
    let out = w.unlock();
    assert_eq!(
        w.emu.calls(Op::StartDeviceAuthorization),
        logins + 1,
        "with aws_cli_cache = \"off\" the unlock needs its own login:\n{out:?}"
    );
    assert!(
        !all_output(&out).to_lowercase().contains("import"),
        "{out:?}"
    );
    w.creds("dev");
    assert_eq!(
        fs::read_to_string(&cache).unwrap(),
        cached_text,
        "off never touches the AWS CLI cache"
    );
}

#[test]
fn mirror_writes_the_cli_cache_for_native_sso_profiles() {
    let python = python_with_boto3("mirror_writes_the_cli_cache_for_native_sso_profiles");
    let mut w = World::new();
    write_agent_config(&w, "store = \"file\"\naws_cli_cache = \"mirror\"\n");
    w.start_daemon();
    w.unlock();

    let path = cache_path(&w);
    assert!(path.is_file(), "mirror writes {}", path.display());
    assert_eq!(mode(&path), 0o600, "the mirrored token is private");
    let dir_entries: Vec<String> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dir_entries,
        vec![format!("{SESSION_CACHE_KEY}.json")],
        "one file named by sha1 of the session name, no temp files left"
    );
    let v = read_cache(&w).unwrap();
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v:#}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, CACHE_FIELDS, "exactly the AWS CLI's fields: {v:#}");
    assert_eq!(v["startUrl"], START_URL);
    assert_eq!(v["region"], "us-east-1");
    for k in ["accessToken", "refreshToken", "clientId", "clientSecret"] {
        assert!(
            v[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} is a non-empty string: {v:#}"
        );
    }
    for k in ["expiresAt", "registrationExpiresAt"] {
        let s = v[k].as_str().unwrap_or_else(|| panic!("{k}: {v:#}"));
        assert!(
            is_cli_timestamp(s),
            "{k} = {s:?} is not YYYY-MM-DDTHH:MM:SSZ"
        );
    }
    let expires = parse_rfc3339_utc(v["expiresAt"].as_str().unwrap()).unwrap();
    let expires = expires.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(
        Some(expires),
        token_expires_at(&w),
        "the mirrored expiresAt is the daemon's token's"
    );
    let reg_expires = parse_rfc3339_utc(v["registrationExpiresAt"].as_str().unwrap()).unwrap();
    assert!(
        reg_expires > SystemTime::now() + Duration::from_secs(30 * 24 * 3600),
        "registrationExpiresAt is the registration's end (90 days in the emulator): {v:#}"
    );
    // Secrets in the mirror are the daemon's own.
    let stored = w.stored_secrets();
    assert!(
        stored.contains(&v["accessToken"].as_str().unwrap().to_string()),
        "the mirror holds the daemon's access token"
    );

    // botocore's own SSO provider on the native profile reads it and gets role credentials.
    let portal = w.emu.calls(Op::GetRoleCredentials);
    let refreshes = w.emu.calls(Op::CreateToken);
    let (got, out) = boto3_native_creds(&w, &python, "dev");
    assert_eq!(
        got["method"], "sso",
        "botocore used its SSO provider:\n{out:?}"
    );
    assert!(
        got["access_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA")),
        "{out:?}"
    );
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials),
        portal + 1,
        "botocore called GetRoleCredentials with the mirrored token"
    );
    assert_eq!(
        w.emu.calls(Op::CreateToken),
        refreshes,
        "a fresh mirrored token needs no refresh by botocore"
    );
    assert_eq!(w.emu.calls(Op::StartDeviceAuthorization), 1);
}

/// botocore refreshes the shared token on load when less than 15 min are left, which spends
/// the refresh token the daemon holds (the emulator rotates them). The daemon must then take
/// the newer token from the cache instead of declaring its session expired.
///
/// Timings: the daemon refreshes in the background when its token has less than 10 min left
/// (2 × TOKEN_REFRESH_BUFFER, checked every few seconds) and on a request below 5 min; botocore
/// below 15 min. A first token of 10 min 20 s gives botocore a window of 20 s to refresh first
/// (asserted), after which the daemon's background refresh comes due within one tick. A
/// request-driven refresh cannot be raced this way: below 5 min the background one has long
/// run, so this test waits (~25 s) for the background refresh instead.
#[test]
fn mirror_survives_botocore_rotating_the_refresh_token() {
    let python = python_with_boto3("mirror_survives_botocore_rotating_the_refresh_token");
    const FIRST_TOKEN_TTL: Duration = Duration::from_secs(10 * 60 + 20);
    let mut w = World::with(Config {
        access_token_ttl: FIRST_TOKEN_TTL,
        // Below the daemon's refresh window (15 min): every credential request goes to the
        // portal with the current access token.
        role_credential_ttl: Duration::from_secs(10 * 60),
        ..Config::default()
    });
    write_agent_config(&w, "store = \"file\"\naws_cli_cache = \"mirror\"\n");
    w.start_daemon();

    let before_unlock = Instant::now();
    w.unlock();
    let daemon_exp = token_expires_at(&w).expect("a token");
    let logins = w.emu.calls(Op::StartDeviceAuthorization);
    let refreshes = w.emu.calls(Op::CreateToken);
    let mirrored = read_cache(&w).expect("the mirror");
    w.creds("dev");

    // botocore loads the token (< 15 min left), refreshes it and writes back a rotated one.
    w.emu
        .update(|c| c.access_token_ttl = Duration::from_secs(3600));
    let (got, out) = boto3_native_creds(&w, &python, "dev");
    assert!(
        got["access_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA")),
        "{out:?}"
    );
    assert!(
        before_unlock.elapsed() < FIRST_TOKEN_TTL - Duration::from_secs(10 * 60 + 1),
        "too slow to exercise the race: the daemon may have refreshed before botocore did \
         ({:?} since the unlock)",
        before_unlock.elapsed()
    );
    assert_eq!(
        w.emu.calls(Op::CreateToken),
        refreshes + 1,
        "botocore refreshed the token (and nobody else did):\n{out:?}"
    );
    let rotated = read_cache(&w).expect("the cache file");
    assert_ne!(
        rotated["refreshToken"], mirrored["refreshToken"],
        "botocore rotated the refresh token: the daemon's is spent"
    );
    assert_ne!(rotated["accessToken"], mirrored["accessToken"]);
    assert_eq!(
        token_expires_at(&w),
        Some(daemon_exp),
        "the daemon still holds its first token"
    );

    // The daemon's refresh comes due ~20 s after the unlock (in the background).
    wait_until_every(
        Duration::from_secs(60),
        Duration::from_millis(500),
        "the daemon renews its token (or gives up on the session)",
        || {
            let s = session_status(&w);
            s["state"] != "unlocked" || s["token_expires_at"].as_i64() != Some(daemon_exp)
        },
    );
    let s = session_status(&w);
    assert_eq!(
        s["state"], "unlocked",
        "the daemon lost its session to botocore's refresh: {s:#}"
    );
    assert!(
        s["token_expires_at"]
            .as_i64()
            .is_some_and(|t| t > unix_now() + 30 * 60),
        "the daemon holds the newer (1 h) token: {s:#}"
    );

    let portal = w.emu.calls(Op::GetRoleCredentials);
    let out = w.cred(&["--profile", "dev"]);
    out.assert_ok();
    let c = Creds::parse(&out);
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    assert!(
        w.emu.calls(Op::GetRoleCredentials) > portal,
        "served with a working access token (role credentials shorter than the refresh window \
         are fetched for every request)"
    );
    assert_eq!(
        (
            w.emu.calls(Op::StartDeviceAuthorization),
            w.emu.calls(Op::Authorize)
        ),
        (logins, 0),
        "no login was started"
    );
    // And botocore still gets along with what is in the cache now.
    let (got, out) = boto3_native_creds(&w, &python, "dev");
    assert!(
        got["access_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA")),
        "{out:?}"
    );
}

#[test]
fn a_malformed_cli_cache_file_means_a_login() {
    let mut w = World::new();
    write_agent_config(&w, "store = \"file\"\naws_cli_cache = \"import\"\n");
    w.start_daemon();
    let junk: [&[u8]; 5] = [
        b"{\"accessToken\": \"aoa-garbage\", \"expiresAt\": ",
        b"",
        b"[1, 2, 3]",
        b"{\"accessToken\": 42, \"expiresAt\": true}",
        b"{\"accessToken\": \"x\", \"expiresAt\": \"next tuesday\", \"startUrl\": \"https://work.awsapps.com/start\"}",
    ];
    for (i, bytes) in junk.iter().enumerate() {
        write_cache_raw(&w, bytes);
        let logins = w.emu.calls(Op::StartDeviceAuthorization);
        let out = w.unlock();
        assert_eq!(
            w.emu.calls(Op::StartDeviceAuthorization),
            logins + 1,
            "junk #{i} in the AWS CLI cache is ignored and a login runs:\n{out:?}"
        );
        assert_eq!(w.session_state(SESSION), "unlocked");
        let c = w.creds("dev");
        assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
        assert_eq!(
            fs::read(cache_path(&w)).unwrap(),
            *bytes,
            "import never rewrites the AWS CLI's file"
        );
        // Forget the session so the next unlock cannot reuse our own token.
        w.ctl(&["logout", SESSION]).assert_ok();
        w.ctl(&["status"]).assert_ok();
    }
    // Still serving after all that.
    w.unlock();
    w.creds("dev");
    w.ctl(&["status"]).assert_ok();
}

#[test]
fn mirror_replaces_a_malformed_cli_cache_file() {
    let mut w = World::new();
    write_agent_config(&w, "store = \"file\"\naws_cli_cache = \"mirror\"\n");
    write_cache_raw(&w, b"{ not json");
    w.start_daemon();
    w.unlock();
    assert_eq!(w.emu.calls(Op::StartDeviceAuthorization), 1);
    let v = read_cache(&w).expect("a well-formed mirror replaced the junk");
    assert!(
        v["accessToken"].as_str().is_some_and(|s| !s.is_empty()),
        "{v:#}"
    );
    assert_eq!(mode(&cache_path(&w)), 0o600);
    w.creds("dev");
}

/// The other order: the daemon's refresh is already on its way (held up at the emulator) when
/// botocore refreshes with the same refresh token and wins. The daemon gets `invalid_grant`
/// and must re-read the cache (where botocore put the newer token) rather than expire the
/// session.
#[test]
fn mirror_survives_losing_a_refresh_race_to_botocore() {
    let python = python_with_boto3("mirror_survives_losing_a_refresh_race_to_botocore");
    const HELD_UP: Duration = Duration::from_secs(10);
    let mut w = World::with(Config {
        // Under the daemon's 5-minute buffer (it refreshes at once) and botocore's 15 minutes.
        access_token_ttl: Duration::from_secs(4 * 60),
        ..Config::default()
    });
    write_agent_config(&w, "store = \"file\"\naws_cli_cache = \"mirror\"\n");
    w.start_daemon();
    w.unlock();
    let logins = w.emu.calls(Op::StartDeviceAuthorization);
    let mirrored = read_cache(&w).expect("the mirror");

    // The daemon's next refresh sleeps at the emulator before its refresh token is looked at.
    w.emu.inject(Op::CreateToken, Fault::Delay(HELD_UP), 1);
    let refreshes = w.emu.calls(Op::CreateToken);
    let request = {
        let envs = w.envs();
        let home = w.home().to_path_buf();
        std::thread::spawn(move || {
            let mut c = std::process::Command::new(bin("ssoagent-cred"));
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
    let held_since = Instant::now();

    // Meanwhile botocore refreshes with the same refresh token, and wins.
    w.emu
        .update(|c| c.access_token_ttl = Duration::from_secs(3600));
    let (got, out) = boto3_native_creds(&w, &python, "dev");
    assert!(
        got["access_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA")),
        "{out:?}"
    );
    assert!(
        held_since.elapsed() < HELD_UP - Duration::from_secs(1),
        "too slow to exercise the race: botocore took {:?}",
        held_since.elapsed()
    );
    let rotated = read_cache(&w).expect("the cache file");
    assert_ne!(
        rotated["refreshToken"], mirrored["refreshToken"],
        "botocore refreshed first:\n{out:?}"
    );

    // The daemon's held-up refresh now fails with invalid_grant; the request must still be
    // served, with botocore's token.
    let out = request.join().unwrap();
    out.assert_ok();
    assert!(
        out.stderr.is_empty(),
        "ssoagent-cred must print nothing on stderr on success:\n{out:?}"
    );
    let c = Creds::parse(&out);
    assert!(c.access_key_id.starts_with("ASIA"), "{c:?}");
    let s = session_status(&w);
    assert_eq!(s["state"], "unlocked", "{s:#}");
    assert!(
        s["token_expires_at"]
            .as_i64()
            .is_some_and(|t| t > unix_now() + 30 * 60),
        "the daemon took botocore's (1 h) token: {s:#}"
    );
    w.creds("dev");
    assert_eq!(
        (
            w.emu.calls(Op::StartDeviceAuthorization),
            w.emu.calls(Op::Authorize)
        ),
        (logins, 0),
        "no login was started"
    );
}
