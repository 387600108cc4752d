//! Robustness: AWS failing under the daemon (500s, throttling, slow answers and dropped
//! connections on GetRoleCredentials, CreateToken and AssumeRole), and hostile input from the
//! machine (garbage and truncated HTTP/2 on the socket, oversized gRPC requests, a thousand idle
//! connections, broken and hostile `~/.aws/config` files).
//!
//! The daemon's AWS clients use the SDK's standard retry (3 attempts, 200 ms initial backoff),
//! a 15 s attempt timeout and a 40 s operation timeout; the bounds below follow from those.
//!
//! Not covered: a jump of the wall clock. The daemon reads `SystemTime::now()` directly and a
//! child process's clock cannot be moved without privileges (libfaketime is not a dependency
//! here); expiry is exercised with short emulator lifetimes instead.

use std::{
    fs,
    os::unix::net::UnixStream,
    time::{Duration, SystemTime},
};

use ssoagent_e2e::{robust::*, *};
use ssoagent_emulator::Account;

/// A failure after exhausted retries must come within this (operation timeout 40 s, plus slack).
const FAILURE_BOUND: Duration = Duration::from_secs(60);
/// A generous bound on the daemon's memory under hostile input.
const RSS_BOUND: u64 = 200 * 1024 * 1024;

/// More SSO profiles (one per fault kind, so each request has nothing cached) and chained ones.
fn extra_profiles() -> String {
    let mut s = String::new();
    for (name, account, role) in [
        ("dev-admin", "111111111111", "Admin"),
        ("prod", "222222222222", "ReadOnly"),
        ("sandbox", "333333333333", "Developer"),
        // The same role as dev under another name: its own cache slot.
        ("dev-2", "111111111111", "ReadOnly"),
    ] {
        s += &format!(
            "[profile {name}]\nsso_session = {SESSION}\nsso_account_id = {account}\nsso_role_name = {role}\n\n"
        );
    }
    for (name, arn) in [
        ("deploy", "arn:aws:iam::222222222222:role/Deploy"),
        ("deploy-a", "arn:aws:iam::222222222222:role/A"),
        ("deploy-b", "arn:aws:iam::222222222222:role/B"),
        ("deploy-c", "arn:aws:iam::222222222222:role/C"),
        ("deploy-d", "arn:aws:iam::222222222222:role/D"),
    ] {
        s += &format!(
            "[profile {name}]\nrole_arn = {arn}\nsource_profile = dev\nregion = eu-central-1\n\n"
        );
    }
    s
}

/// A started, unlocked World with [`extra_profiles`].
fn unlocked_world(cfg: Config) -> World {
    let mut w = World::with(cfg);
    w.append_aws_config(&extra_profiles());
    w.start_daemon();
    w.unlock();
    w
}

fn daemon_pid(w: &World) -> u32 {
    w.daemon.as_ref().expect("a running daemon").pid()
}

/// No login happened beyond the one unlock: the stored tokens carried the session through.
#[track_caller]
fn assert_no_new_login(w: &World) {
    assert_eq!(w.emu.calls(Op::StartDeviceAuthorization), 1, "no new login");
    assert_eq!(w.emu.calls(Op::Authorize), 0, "no browser login");
    assert_eq!(w.emu.calls(Op::RegisterClient), 1, "no new registration");
    assert_eq!(w.session_state(SESSION), "unlocked");
}

const KINDS: [(&str, Fault); 3] = [
    ("500", Fault::ServerError),
    ("throttling", Fault::Throttle),
    ("dropped connection", Fault::DropConnection),
];

// ----- faults from AWS -----

#[test]
fn cached_credentials_keep_being_served_while_aws_fails() {
    let w = unlocked_world(Config::default());
    let dev = w.creds("dev");
    let deploy = w.creds("deploy");
    let before = w.emu.all_calls();
    for op in [Op::GetRoleCredentials, Op::CreateToken, Op::AssumeRole] {
        w.emu.inject(op, Fault::ServerError, 1000);
    }
    for _ in 0..5 {
        assert_eq!(w.creds("dev"), dev);
        assert_eq!(w.creds("deploy"), deploy);
    }
    assert_eq!(
        w.emu.all_calls(),
        before,
        "valid cached credentials are served from memory, without calling AWS"
    );
    w.emu.clear_faults();
}

/// Credentials that entered the refresh window but are still valid: the refresh fails, so the
/// daemon hands out what it has rather than nothing ("while cached credentials are valid they
/// keep being served"), and fetches fresh ones once AWS answers again.
#[test]
fn valid_credentials_in_the_refresh_window_are_served_when_the_refresh_fails() {
    let mut w = World::with(Config {
        // Just longer than the refresh window below: fresh at first, inside it seconds later.
        role_credential_ttl: Duration::from_secs(59 * 60 + 3),
        ..Config::default()
    });
    write_agent_config(&w, "refresh_window = \"59m\"\n");
    w.start_daemon();
    w.unlock();
    w.creds("dev");
    w.emu
        .inject(Op::GetRoleCredentials, Fault::ServerError, 1000);
    // Now the cached credentials have less than the window left (and ~59 minutes of life).
    std::thread::sleep(Duration::from_secs(4));
    let (out, took) = timed(|| w.cred(&["--profile", "dev"]));
    assert!(
        took < FAILURE_BOUND,
        "answered within {FAILURE_BOUND:?}: {took:?}"
    );
    assert_eq!(
        out.code, 0,
        "still-valid cached credentials are served while AWS fails:\n{out:?}"
    );
    let stale = Creds::parse(&out);
    assert!(stale.expires_at() > SystemTime::now() + Duration::from_secs(50 * 60));

    w.emu.clear_faults();
    let fresh = w.creds("dev");
    assert_ne!(
        fresh.access_key_id, stale.access_key_id,
        "once AWS answers, credentials inside the window are replaced"
    );
}

#[test]
fn transient_faults_are_retried_transparently() {
    let w = unlocked_world(Config::default());
    for (i, (what, fault)) in KINDS.iter().enumerate() {
        let profile = ["dev", "dev-admin", "prod"][i];
        let before = w.emu.calls(Op::GetRoleCredentials);
        // Two failed attempts; the third (of three) succeeds.
        w.emu.inject(Op::GetRoleCredentials, fault.clone(), 2);
        let out = w.cred(&["--profile", profile]);
        assert_eq!(out.code, 0, "two {what}s are retried away:\n{out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        Creds::parse(&out);
        assert_eq!(w.emu.calls(Op::GetRoleCredentials) - before, 3, "{what}");
    }
    // The same on STS.
    let before = w.emu.calls(Op::AssumeRole);
    w.emu.inject(Op::AssumeRole, Fault::Throttle, 2);
    w.creds("deploy");
    assert_eq!(w.emu.calls(Op::AssumeRole) - before, 3);
    assert_no_new_login(&w);
}

#[test]
fn exhausted_retries_on_get_role_credentials_exit_5_in_bounded_time() {
    let w = unlocked_world(Config::default());
    for (i, (what, fault)) in KINDS.iter().enumerate() {
        let profile = ["dev", "dev-admin", "prod"][i];
        let before = w.emu.calls(Op::GetRoleCredentials);
        w.emu.inject(Op::GetRoleCredentials, fault.clone(), 3);
        let (out, took) = timed(|| w.cred(&["--profile", profile]));
        eprintln!(
            "GetRoleCredentials {what} x3: exit {} after {took:?}",
            out.code
        );
        assert_one_line_failure(&out, 5);
        assert!(
            out.stderr.contains(profile) && out.stderr.contains("GetRoleCredentials"),
            "the line names the profile and the failed call:\n{out:?}"
        );
        assert!(took < FAILURE_BOUND, "{what}: took {took:?}");
        assert_eq!(
            w.emu.calls(Op::GetRoleCredentials) - before,
            3,
            "{what}: three attempts, no more"
        );
        // The faults are used up: the next request succeeds, with no login.
        let creds = w.creds(profile);
        assert!(creds.access_key_id.starts_with("ASIA"));
    }
    assert_no_new_login(&w);
}

#[test]
fn exhausted_retries_on_assume_role_exit_5_and_keep_the_source() {
    let w = unlocked_world(Config::default());
    let dev = w.creds("dev");
    let deploy = w.creds("deploy");
    for (i, (what, fault)) in KINDS.iter().enumerate() {
        let profile = ["deploy-a", "deploy-b", "deploy-c"][i];
        let before = w.emu.calls(Op::AssumeRole);
        w.emu.inject(Op::AssumeRole, fault.clone(), 3);
        let (out, took) = timed(|| w.cred(&["--profile", profile]));
        eprintln!("AssumeRole {what} x3: exit {} after {took:?}", out.code);
        assert_one_line_failure(&out, 5);
        assert!(
            out.stderr.contains(profile) && out.stderr.contains("AssumeRole"),
            "{out:?}"
        );
        assert!(took < FAILURE_BOUND, "{what}: took {took:?}");
        assert_eq!(w.emu.calls(Op::AssumeRole) - before, 3, "{what}");
        // What was cached is untouched by the failure.
        assert_eq!(w.creds("dev"), dev);
        assert_eq!(w.creds("deploy"), deploy);
        w.creds(profile);
    }
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials),
        1,
        "the source's credentials were fetched once and reused"
    );
    assert_no_new_login(&w);
}

/// A refresh of the SSO token that fails (any kind of fault) neither loses nor overwrites the
/// stored refresh token: while the access token is valid it keeps being used, when it is not
/// the request fails with 5 (not 3: nothing says the session is dead), and once AWS answers the
/// session works again without a login.
#[test]
fn failed_token_refreshes_lose_no_token() {
    let w = unlocked_world(Config {
        // Below the daemon's 5-minute refresh buffer: every use tries to refresh first.
        access_token_ttl: Duration::from_secs(60),
        ..Config::default()
    });
    // The access token is valid (for about a minute): a failed refresh is not fatal.
    w.emu.inject(Op::CreateToken, Fault::ServerError, 1000);
    let before = w.emu.calls(Op::CreateToken);
    let out = w.cred(&["--profile", "prod"]);
    assert_eq!(
        out.code, 0,
        "a valid access token is used when its refresh fails:\n{out:?}"
    );
    assert!(w.emu.calls(Op::CreateToken) > before, "a refresh was tried");
    w.emu.clear_faults();

    // From now on tokens live two seconds, so they are expired by the time a request comes.
    w.emu
        .update(|c| c.access_token_ttl = Duration::from_secs(2));
    w.creds("dev-admin");
    let profiles = ["sandbox", "dev-2", "deploy"];
    for (i, (what, fault)) in KINDS.iter().enumerate() {
        w.emu.inject(Op::CreateToken, fault.clone(), 1000);
        std::thread::sleep(Duration::from_secs(3));
        let (out, took) = timed(|| w.cred(&["--profile", profiles[i]]));
        eprintln!(
            "CreateToken {what} with an expired token: exit {} after {took:?}",
            out.code
        );
        assert_one_line_failure(&out, 5);
        assert!(took < FAILURE_BOUND, "{what}: took {took:?}");
        assert!(
            !out.stderr.contains("ssoagentctl unlock"),
            "a failed refresh is not an expired session:\n{out:?}"
        );
        assert_eq!(w.session_state(SESSION), "unlocked", "{what}");
        w.emu.clear_faults();
    }
    assert!(
        w.stored_secrets().len() >= 3,
        "access token, refresh token and client secret are still stored"
    );

    w.emu
        .update(|c| c.access_token_ttl = Duration::from_secs(3600));
    for p in profiles {
        w.creds(p);
    }
    assert_no_new_login(&w);
}

/// An answer slower than the attempt timeout is abandoned and the call retried.
#[test]
fn a_slow_answer_is_retried_after_the_attempt_timeout() {
    let w = unlocked_world(Config::default());
    w.emu.inject(
        Op::GetRoleCredentials,
        Fault::Delay(Duration::from_secs(20)),
        1,
    );
    let (out, took) = timed(|| w.cred(&["--profile", "dev"]));
    eprintln!(
        "GetRoleCredentials delayed 20 s once: exit {} after {took:?}",
        out.code
    );
    out.assert_ok();
    Creds::parse(&out);
    assert!(took < FAILURE_BOUND, "took {took:?}");
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials),
        2,
        "one timed-out attempt, one retry"
    );
}

/// AWS answering slower than every attempt timeout: exit 5 within the operation timeout's
/// bound, and the next request works. (About 40 s: the daemon's operation timeout.)
#[test]
fn slow_answers_on_every_attempt_fail_within_a_minute() {
    let w = unlocked_world(Config::default());
    w.emu.inject(
        Op::GetRoleCredentials,
        Fault::Delay(Duration::from_secs(25)),
        3,
    );
    let (out, took) = timed(|| w.cred(&["--profile", "dev"]));
    eprintln!(
        "GetRoleCredentials delayed 25 s x3: exit {} after {took:?}",
        out.code
    );
    assert_one_line_failure(&out, 5);
    assert!(took < FAILURE_BOUND, "took {took:?}");
    assert!(w.emu.calls(Op::GetRoleCredentials) <= 3, "bounded attempts");
    w.emu.clear_faults();
    w.creds("dev");
    assert_no_new_login(&w);
}

/// A token refresh whose first attempt times out (the emulator may still process it later) is
/// retried; the rotated refresh token that is saved is the one that works, and later refreshes
/// go on working without a login.
#[test]
fn a_timed_out_refresh_loses_no_token() {
    let w = unlocked_world(Config {
        access_token_ttl: Duration::from_secs(60),
        ..Config::default()
    });
    w.emu
        .inject(Op::CreateToken, Fault::Delay(Duration::from_secs(17)), 1);
    let start = std::time::Instant::now();
    let (out, took) = timed(|| w.cred(&["--profile", "prod"]));
    eprintln!(
        "CreateToken delayed 17 s once: exit {} after {took:?}",
        out.code
    );
    out.assert_ok();
    // Past the delayed attempt's end, refresh again (tokens live a minute: every use refreshes).
    sleep_until(SystemTime::now() + Duration::from_secs(18).saturating_sub(start.elapsed()));
    let before = w.emu.calls(Op::CreateToken);
    w.creds("sandbox");
    assert!(w.emu.calls(Op::CreateToken) > before, "refreshed again");
    assert_no_new_login(&w);
}

/// Credentials that AWS issues for less than the refresh window (AssumeRole's minimum is 15
/// minutes, the default window too) cannot satisfy the window; the daemon must still not call
/// STS over and over while nobody asks for them.
#[test]
fn short_lived_chained_credentials_do_not_hammer_sts() {
    let mut w = World::new();
    w.append_aws_config(
        "[profile short]\nrole_arn = arn:aws:iam::222222222222:role/Short\nsource_profile = dev\n\
         duration_seconds = 900\n",
    );
    w.start_daemon();
    w.unlock();
    let first = w.creds("short");
    let after_first = w.emu.calls(Op::AssumeRole);
    // Idle for a few of the daemon's 2-second housekeeping ticks (which refresh ahead only
    // credentials issued for long enough: daemon/src/creds/cache.rs unit-tests the rule).
    std::thread::sleep(Duration::from_secs(5));
    let idle_calls = w.emu.calls(Op::AssumeRole) - after_first;
    let again = w.creds("short");
    let after = w.emu.calls(Op::AssumeRole);
    eprintln!(
        "900 s AssumeRole credentials: {after_first} call(s) for the first request, {idle_calls} while idle 5 s, {} for the next request",
        after - after_first - idle_calls
    );
    assert!(first.expires_at() > SystemTime::now());
    assert!(again.expires_at() > SystemTime::now());
    assert!(
        idle_calls <= 1,
        "{idle_calls} AssumeRole calls in 5 idle seconds: refreshing ahead must not loop"
    );
}

// ----- bad input on the socket -----

#[test]
fn garbage_and_truncated_frames_on_the_socket_are_shrugged_off() {
    let w = unlocked_world(Config::default());
    let dev = w.creds("dev");
    let pid = daemon_pid(&w);
    let socket = w.socket_path();

    let settings = h2_frame(H2_SETTINGS, 0, 0, &[]);
    let call = |path: &str| {
        let mut b = H2_PREFACE.to_vec();
        b.extend(&settings);
        b.extend(h2_frame(
            H2_HEADERS,
            H2_END_HEADERS,
            1,
            &grpc_request_headers(path),
        ));
        b
    };
    let get = "/ssoagent.v1.Agent/GetCredentials";
    let with = |mut a: Vec<u8>, b: &[u8]| {
        a.extend_from_slice(b);
        a
    };
    let payloads: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", noise(1, 64 * 1024)),
        ("HTTP/1.1", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("half a preface", H2_PREFACE[..10].to_vec()),
        ("preface only", H2_PREFACE.to_vec()),
        (
            "preface then noise",
            with(H2_PREFACE.to_vec(), &noise(2, 4096)),
        ),
        (
            "truncated SETTINGS",
            with(
                H2_PREFACE.to_vec(),
                &h2_frame_header_only(H2_SETTINGS, 0, 0, 6),
            ),
        ),
        (
            "16 MiB frame announced",
            with(
                with(H2_PREFACE.to_vec(), &settings),
                &h2_frame_header_only(H2_DATA, 0, 1, 0xff_ffff),
            ),
        ),
        (
            "garbage HPACK",
            with(
                with(H2_PREFACE.to_vec(), &settings),
                &h2_frame(H2_HEADERS, H2_END_HEADERS, 1, &noise(3, 300)),
            ),
        ),
        (
            "zero WINDOW_UPDATE",
            with(
                with(H2_PREFACE.to_vec(), &settings),
                &h2_frame(H2_WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0]),
            ),
        ),
        (
            "gRPC message announcing 4 GiB",
            with(
                call(get),
                &h2_frame(H2_DATA, 0, 1, &[0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
            ),
        ),
        (
            "gRPC message cut short",
            with(
                call(get),
                &h2_frame(H2_DATA, H2_END_STREAM, 1, &[0, 0, 0, 0, 10, 0x0a, 3]),
            ),
        ),
        ("gRPC garbage protobuf", {
            let body = noise(4, 200);
            let mut m = vec![0, 0, 0, 0, body.len() as u8];
            m.extend(&body);
            with(call(get), &h2_frame(H2_DATA, H2_END_STREAM, 1, &m))
        }),
        (
            "gRPC compressed flag",
            with(
                call(get),
                &h2_frame(H2_DATA, H2_END_STREAM, 1, &[1, 0, 0, 0, 2, 0x0a, 0]),
            ),
        ),
        (
            "unknown method",
            with(
                call("/ssoagent.v1.Agent/Nope"),
                &h2_frame(H2_DATA, H2_END_STREAM, 1, &[0, 0, 0, 0, 0]),
            ),
        ),
    ];
    let mut held: Vec<UnixStream> = Vec::new();
    for (i, (what, bytes)) in payloads.iter().enumerate() {
        let (stream, answer) = send_raw(&socket, bytes, Duration::from_millis(300));
        eprintln!("{what}: the daemon answered {} bytes", answer.len());
        assert!(running(pid), "ssoagentd died on {what}");
        // Half of them stay open, mid-frame, while the daemon serves others.
        if i % 2 == 0 {
            held.push(stream);
        }
        assert_eq!(w.creds("dev"), dev, "after {what}");
    }
    w.ctl(&["status"]).assert_ok();
    drop(held);
    assert_eq!(w.creds("dev"), dev);
    assert!(running(pid));
    assert!(
        !w.daemon_logs().contains("panicked"),
        "no panic in the daemon:\n{}",
        w.daemon_logs()
    );
    assert!(rss_bytes(pid) < RSS_BOUND);
}

#[test]
fn oversized_grpc_requests_are_refused_and_the_daemon_keeps_serving() {
    use ssoagent_client::proto::{GetCredentialsRequest, agent_client::AgentClient};
    let w = unlocked_world(Config::default());
    let dev = w.creds("dev");
    let pid = daemon_pid(&w);
    let socket = w.socket_path();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let channel = ssoagent_client::connect(&socket).await.expect("connect");
        let mut client = AgentClient::new(channel);
        for size in [64 * 1024 + 1, 1 << 20, 16 << 20] {
            let res = tokio::time::timeout(
                COMMAND_TIMEOUT,
                client.get_credentials(GetCredentialsRequest {
                    profile: "p".repeat(size),
                }),
            )
            .await
            .expect("an answer, not a hang");
            let status = res.expect_err("an oversized request is refused");
            eprintln!(
                "{size}-byte profile name: {:?}: {}",
                status.code(),
                status.message()
            );
            assert!(
                matches!(
                    status.code(),
                    tonic::Code::OutOfRange
                        | tonic::Code::ResourceExhausted
                        | tonic::Code::InvalidArgument
                ),
                "a clean refusal, not {status:?}"
            );
            assert!(status.message().len() < 1000, "a short message");
            // The same connection (or a new one) still serves a normal request.
            let ok = client
                .get_credentials(GetCredentialsRequest {
                    profile: "dev".into(),
                })
                .await
                .expect("a normal request after the oversized one")
                .into_inner();
            assert_eq!(ok.access_key_id, dev.access_key_id);
        }
    });
    assert!(running(pid));
    let rss = rss_bytes(pid);
    eprintln!("daemon RSS after oversized requests: {} MiB", rss >> 20);
    assert!(rss < RSS_BOUND, "RSS {} MiB", rss >> 20);

    // Through the shim: a profile name over the daemon's limit is a clear failure, not a crash,
    // and never "daemon unreachable".
    let long = "p".repeat(100 * 1024);
    let out = w.cred(&["--profile", &long]);
    eprintln!(
        "ssoagent-cred with a 100 KiB profile name: exit {}: {}",
        out.code,
        out.stderr.trim()
    );
    assert!(out.code != 0 && out.code != 4, "{out:?}");
    assert_one_line_failure(&out, out.code);
    assert_eq!(w.creds("dev"), dev);
}

#[test]
fn a_thousand_idle_connections_do_not_stop_the_daemon() {
    const CONNECTIONS: usize = 1000;
    let limit = raise_open_files_limit(4096);
    assert!(
        limit as usize > CONNECTIONS + 100,
        "the open-files limit ({limit}) is too low for this test"
    );
    let w = unlocked_world(Config::default());
    let dev = w.creds("dev");
    let pid = daemon_pid(&w);
    let rss_before = rss_bytes(pid);
    let socket = w.socket_path();
    let mut conns = Vec::with_capacity(CONNECTIONS);
    let mut open_stream = H2_PREFACE.to_vec();
    open_stream.extend(h2_frame(H2_SETTINGS, 0, 0, &[]));
    open_stream.extend(h2_frame(
        H2_HEADERS,
        H2_END_HEADERS,
        1,
        &grpc_request_headers("/ssoagent.v1.Agent/GetCredentials"),
    ));
    for i in 0..CONNECTIONS {
        // A third say nothing, a third only open HTTP/2, a third start a call and never finish.
        let bytes: &[u8] = match i % 3 {
            0 => &[],
            1 => H2_PREFACE,
            _ => &open_stream,
        };
        let (s, _) = send_raw(&socket, bytes, Duration::ZERO);
        conns.push(s);
    }
    wait_until(
        Duration::from_secs(20),
        "the daemon accepts them all",
        || open_fds(pid) >= CONNECTIONS,
    );
    let (creds, took) = timed(|| w.creds("dev"));
    assert_eq!(creds, dev);
    w.ctl(&["status"]).assert_ok();
    // A request that needs AWS works too.
    w.creds("prod");
    let rss = rss_bytes(pid);
    eprintln!(
        "{CONNECTIONS} idle connections: {} fds open, RSS {} MiB (before {} MiB), a call took {took:?}",
        open_fds(pid),
        rss >> 20,
        rss_before >> 20
    );
    assert!(rss < RSS_BOUND, "RSS {} MiB", rss >> 20);
    drop(conns);
    wait_until(Duration::from_secs(20), "the daemon closes them", || {
        open_fds(pid) < 100
    });
    assert_eq!(w.creds("dev"), dev);
    assert!(running(pid));
}

/// More idle connections than the daemon can hold (its open-files limit cut to 256, so its
/// connection cap is 128): the least recently active ones are closed to make room, the cap is
/// logged once, and a fresh shim still gets credentials. Before, the daemon ran out of file
/// descriptors, spun on EMFILE and never accepted the shim.
#[test]
fn idle_connections_beyond_the_cap_do_not_keep_a_fresh_shim_out() {
    const CONNECTIONS: usize = 1000;
    const DAEMON_FILES: u64 = 256;
    let limit = raise_open_files_limit(4096);
    assert!(
        limit as usize > CONNECTIONS + 100,
        "the open-files limit ({limit}) is too low for this test"
    );
    let mut w = World::with(Config::default());
    w.append_aws_config(&extra_profiles());
    w.set_daemon_open_files(DAEMON_FILES);
    w.start_daemon();
    w.unlock();
    let dev = w.creds("dev");
    let pid = daemon_pid(&w);
    let socket = w.socket_path();
    let mut open_stream = H2_PREFACE.to_vec();
    open_stream.extend(h2_frame(H2_SETTINGS, 0, 0, &[]));
    open_stream.extend(h2_frame(
        H2_HEADERS,
        H2_END_HEADERS,
        1,
        &grpc_request_headers("/ssoagent.v1.Agent/GetCredentials"),
    ));
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let bytes: &[u8] = match i % 3 {
            0 => &[],
            1 => H2_PREFACE,
            _ => &open_stream,
        };
        let (s, _) = send_raw(&socket, bytes, Duration::ZERO);
        conns.push(s);
    }
    let (creds, took) = timed(|| w.creds("dev"));
    assert_eq!(creds, dev);
    w.ctl(&["status"]).assert_ok();
    // A request that needs AWS (a connection of the daemon's own) works too.
    w.creds("prod");
    let fds = open_fds(pid);
    eprintln!(
        "{CONNECTIONS} idle connections against a cap of 128: {fds} fds open, a call took {took:?}"
    );
    assert!(fds < DAEMON_FILES as usize, "{fds} fds open");
    assert!(running(pid));
    let log = w.daemon_logs();
    assert_eq!(
        log.matches("connection cap reached").count(),
        1,
        "the cap is logged once:\n{log}"
    );
    drop(conns);
    assert_eq!(w.creds("dev"), dev);
}

// ----- hostile ~/.aws/config -----

/// Files that are not a usable config: every request fails with one line and exit 2, the
/// daemon survives, and once the file is fixed everything works again.
#[test]
fn broken_config_files_are_one_line_exit_2_errors() {
    let w = unlocked_world(Config::default());
    let dev = w.creds("dev");
    let pid = daemon_pid(&w);
    let good = fs::read_to_string(w.aws_config_path()).unwrap();

    let mut huge_line = b"[profile dev]\n".to_vec();
    huge_line.extend(std::iter::repeat_n(b'x', 20 << 20));
    let mut nul = good.clone().into_bytes();
    nul.splice(10..10, *b"\0\0\0");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary garbage", noise(7, 64 * 1024)),
        ("a 20 MB line", huge_line),
        ("NUL bytes", nul),
        ("invalid UTF-8", with_bytes(&good, b"\xff\xfe\xc3(")),
        (
            "cut in a section header",
            good.as_bytes()[..good.find("[profile dev]").unwrap() + 6].to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        fs::write(w.aws_config_path(), &bytes).unwrap();
        let (out, took) = timed(|| w.cred(&["--profile", "dev"]));
        eprintln!(
            "{what}: exit {} after {took:?}: {}",
            out.code,
            out.stderr.trim().chars().take(200).collect::<String>()
        );
        assert_one_line_failure(&out, 2);
        assert!(running(pid), "ssoagentd died on {what}");
        // Other clients keep being answered (status works whatever the config says).
        // Other clients keep being answered: status exits 0 whenever the daemon answers.
        w.ctl(&["status"]).assert_ok();
        fs::write(w.aws_config_path(), &good).unwrap();
        assert_eq!(w.creds("dev"), dev, "after {what}");
    }
    let rss = rss_bytes(pid);
    eprintln!("daemon RSS after the broken configs: {} MiB", rss >> 20);
    assert!(rss < RSS_BOUND);
}

fn with_bytes(text: &str, extra: &[u8]) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    b.extend_from_slice(extra);
    b
}

/// Hostile profiles inside a valid file: each fails on its own with one line and exit 2 while
/// the other profiles keep being served.
#[test]
fn hostile_profiles_fail_alone_with_exit_2() {
    let mut w = World::new();
    let mut text = extra_profiles();
    text += "[profile loop-a]\nrole_arn = arn:aws:iam::222222222222:role/A\nsource_profile = loop-b\n\n\
             [profile loop-b]\nrole_arn = arn:aws:iam::222222222222:role/B\nsource_profile = loop-a\n\n\
             [profile self]\nrole_arn = arn:aws:iam::222222222222:role/S\nsource_profile = self\n\n";
    text += "[profile hop0]\nsource_profile = dev\nrole_arn = arn:aws:iam::222222222222:role/H\n\n";
    for i in 1..40 {
        text += &format!(
            "[profile hop{i}]\nrole_arn = arn:aws:iam::222222222222:role/H\nsource_profile = hop{}\n\n",
            i - 1
        );
    }
    // Duplicate sections: the AWS SDKs merge them (later keys win).
    text += "[profile dup]\nsso_session = work\nsso_account_id = 111111111111\nsso_role_name = Nope\n\n\
             [profile dup]\nsso_role_name = Admin\n\n";
    // Names: one the SDKs accept (all its odd characters are allowed), and ones they ignore.
    text += "[profile dev.ops/1@x:y+z%_-]\nsso_session = work\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\n\n\
             [profile dev team]\nsso_session = work\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\n\n\
             [profile d\u{e9}v]\nsso_session = work\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\n\n\
             [profile $(touch pwned)]\nsso_session = work\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\n\n";
    w.append_aws_config(&text);
    w.start_daemon();
    w.unlock();
    let dev = w.creds("dev");

    for (profile, needle) in [
        ("loop-a", "cycle"),
        ("self", "cycle"),
        ("hop39", "hop"),
        ("dev team", "dev team"),
        ("d\u{e9}v", "d\u{e9}v"),
        ("$(touch pwned)", "pwned"),
        ("no-such", "no-such"),
        ("", ""),
        // A name with a newline, straight from a caller.
        ("dev\nforged line", "dev"),
    ] {
        let out = w.cred(&["--profile", profile]);
        eprintln!("{profile:?}: exit {}: {}", out.code, out.stderr.trim());
        assert_one_line_failure(&out, 2);
        assert!(out.stderr.contains(needle), "{out:?}");
        assert_eq!(w.creds("dev"), dev, "dev is served next to {profile:?}");
    }
    assert!(
        !w.path("pwned").exists(),
        "nothing in a profile name is run"
    );
    let dup = w.creds("dup");
    assert_ne!(
        dup.access_key_id, dev.access_key_id,
        "dup is the Admin role"
    );
    w.creds("dev.ops/1@x:y+z%_-");
    w.ctl(&["status"]).assert_ok();
}

/// A config far larger than any real one (20 MiB) is refused with a clear exit 2 rather than
/// parsed into ~400 MiB of memory; a large real-world one (4 MiB, ~36,000 profiles) is served,
/// and the daemon's memory stays bounded.
#[test]
fn huge_configs_are_refused_and_large_ones_served() {
    let mut w = World::new();
    let filler = |bytes: usize| {
        let mut text = String::with_capacity(bytes + 4096);
        let mut i = 0;
        while text.len() < bytes {
            text += &format!(
                "[profile filler-{i}]\nsso_session = work\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\nregion = eu-west-1\n\n"
            );
            i += 1;
        }
        (text, i)
    };
    let (huge, _) = filler(20 << 20);
    w.append_aws_config(&huge);
    w.start_daemon();
    let out = w.cred(&["--profile", "dev"]);
    out.assert_failure(2, &["MiB", "up to"]);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");
    w.ctl(&["status"]).assert_ok();

    let (large, n) = filler(4 << 20);
    w.write_aws_config(&default_aws_config());
    w.append_aws_config(&large);
    let pid = daemon_pid(&w);
    let (out, took) = timed(|| w.ctl(&["unlock", SESSION, "--device-code", "--no-browser"]));
    out.assert_ok();
    let (dev, took_dev) = timed(|| w.creds("dev"));
    w.creds(&format!("filler-{}", n - 1));
    let rss = rss_bytes(pid);
    eprintln!(
        "{n} profiles (4 MiB): unlock {took:?}, first credentials {took_dev:?}; RSS {} MiB",
        rss >> 20
    );
    assert!(dev.access_key_id.starts_with("ASIA"));
    assert!(rss < 512 * 1024 * 1024, "RSS {} MiB", rss >> 20);
}

/// A large organisation: a config with a profile per account and role (as `aws configure sso`
/// writes them) and a user assigned to many accounts. `status` and `accounts` answer whatever
/// the size of their answer (the daemon's 64 KiB limit is for what it decodes).
#[test]
fn status_and_accounts_answer_for_a_large_organisation() {
    const ACCOUNTS: usize = 1000;
    let accounts: Vec<Account> = (0..ACCOUNTS)
        .map(|i| {
            Account::new(
                &format!("{:012}", 100_000_000_000 + i),
                &format!("account-{i}"),
                &format!("aws+account-{i}@example.com"),
                &["AdministratorAccess", "ReadOnlyAccess"],
            )
        })
        .collect();
    let mut w = World::with(Config {
        accounts,
        page_size: 100,
        ..Config::default()
    });
    let mut text = String::new();
    for i in 0..ACCOUNTS {
        let id = format!("{:012}", 100_000_000_000 + i);
        text += &format!(
            "[profile AdministratorAccess-{id}]\nsso_session = {SESSION}\nsso_account_id = {id}\n\
             sso_role_name = AdministratorAccess\nregion = eu-west-1\n\n"
        );
    }
    w.append_aws_config(&text);
    w.start_daemon();
    w.unlock();
    let profile = format!("AdministratorAccess-{:012}", 100_000_000_000 + ACCOUNTS - 1);
    w.creds(&profile);

    // Both asked before either is judged, so a failure report covers both.
    let status = w.ctl(&["status", "--json"]);
    let accounts = w.ctl(&["accounts", SESSION, "--json"]);
    eprintln!(
        "status with {ACCOUNTS} profiles: exit {} ({} bytes of JSON); accounts with {ACCOUNTS} accounts: exit {} ({} bytes)",
        status.code,
        status.stdout.len(),
        accounts.code,
        accounts.stdout.len()
    );
    status.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    let listed = v["sessions"][0]["profiles"].as_array().map_or(0, Vec::len);
    assert!(listed >= ACCOUNTS, "every profile in status ({listed})");
    w.ctl(&["status"]).assert_ok();
    accounts.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&accounts.stdout).expect("accounts --json");
    assert_eq!(v["accounts"].as_array().map_or(0, Vec::len), ACCOUNTS);
}
