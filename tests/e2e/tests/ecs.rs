//! The container-credentials endpoint: `ssoagentctl exec --ecs` and `ecs grant|list|revoke`,
//! with boto3 and plain HTTP as the consumers.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Stdio,
    time::Duration,
};

use ssoagent_e2e::*;

/// One GET with an optional `Authorization`, over a fresh connection: `(status, body)`.
fn get(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut s = TcpStream::connect(host).expect("connect to the endpoint");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status: u16 = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw}"));
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("body not JSON ({e}): {raw}"));
    (status, json)
}

struct Grant {
    id: String,
    url: String,
    token: String,
}

/// `ssoagentctl ecs grant --profile P --format json`, parsed.
#[track_caller]
fn grant(w: &World, profile: &str, extra: &[&str]) -> Grant {
    let mut args = vec!["ecs", "grant", "--profile", profile, "--format", "json"];
    args.extend_from_slice(extra);
    let out = w.ctl(&args);
    out.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let id = out
        .stderr
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no grant id on stderr:\n{out:?}"))
        .to_string();
    Grant {
        id,
        url: v["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
            .as_str()
            .unwrap()
            .into(),
        token: v["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
            .as_str()
            .unwrap()
            .into(),
    }
}

const BOTO3_LOOP: &str = r#"
import boto3, json, sys, time
s = boto3.Session()
creds = s.get_credentials()
sts = s.client("sts", region_name="us-east-1")
keys, arns = [], set()
deadline = time.time() + float(sys.argv[1])
while time.time() < deadline:
    arns.add(sts.get_caller_identity()["Arn"])
    k = creds.get_frozen_credentials().access_key
    if k not in keys:
        keys.append(k)
    time.sleep(0.5)
print(json.dumps({"method": creds.method, "keys": keys, "arns": sorted(arns)}))
"#;

#[test]
fn boto3_in_exec_ecs_gets_container_role_credentials_across_a_refresh() {
    let python = python_with_boto3("boto3_in_exec_ecs_gets_container_role_credentials");
    // Five seconds longer than the 15-minute refresh window: fresh for 5 s, then refreshed.
    let mut w = World::started_with(Config {
        role_credential_ttl: Duration::from_secs(15 * 60 + 5),
        ..Config::default()
    });
    w.unlock();
    // What must not reach the program: it would shadow the endpoint.
    w.set_env("AWS_PROFILE", "dev");
    w.set_env("AWS_ACCESS_KEY_ID", "AKIASTALE");
    let script = w.path("loop.py");
    std::fs::write(&script, BOTO3_LOOP).unwrap();
    let script = script.display().to_string();
    let out = w.ctl(&[
        "exec",
        "--ecs",
        "--profile",
        "dev",
        "--",
        &python,
        &script,
        "12",
    ]);
    out.assert_ok();
    let got: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("script output is not JSON ({e}):\n{out:?}"));
    assert_eq!(got["method"], "container-role", "{out:?}");
    let keys = got["keys"].as_array().unwrap();
    assert!(
        keys.len() >= 2,
        "boto3 kept working across a credential refresh with fresh keys: {got}"
    );
    assert!(
        keys.iter().all(|k| k.as_str().unwrap().starts_with("ASIA")),
        "{got}"
    );
    assert_eq!(got["arns"].as_array().unwrap().len(), 1, "{got}");
    assert!(w.emu.calls(Op::GetRoleCredentials) >= 2);
    assert!(w.emu.calls(Op::GetCallerIdentity) >= 10);
}

#[test]
fn exec_ecs_hands_over_only_the_endpoint_and_its_grant_dies_with_the_program() {
    let mut w = World::started();
    w.unlock();
    w.set_env("AWS_PROFILE", "dev");
    w.set_env("AWS_SECRET_ACCESS_KEY", "stale");
    let out = w.ctl(&[
        "exec", "--ecs", "--profile", "dev", "--", "sh", "-c",
        "echo \"$AWS_CONTAINER_CREDENTIALS_FULL_URI $AWS_CONTAINER_AUTHORIZATION_TOKEN $AWS_REGION\"; \
         env | grep -E '^AWS_(PROFILE|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)=' || true; \
         echo $$; exec curl -sS -H \"Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN\" \"$AWS_CONTAINER_CREDENTIALS_FULL_URI\"",
    ]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let (url, token) = (first[0], first[1]);
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v1/credentials"),
        "{out:?}"
    );
    assert_eq!(token.len(), 43, "a 256-bit token: {out:?}");
    assert_eq!(first[2], "eu-west-1", "the profile's region: {out:?}");
    let pid = lines.next().unwrap();
    assert!(
        pid.parse::<u32>().is_ok(),
        "no key variables, no AWS_PROFILE:\n{out:?}"
    );
    let body: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let c = w.creds("dev");
    assert_eq!(body["AccessKeyId"], c.access_key_id.as_str(), "{out:?}");
    assert_eq!(body["SecretAccessKey"], c.secret_access_key.as_str());
    assert_eq!(body["Token"], c.session_token.as_str());
    assert_eq!(body["Expiration"], c.expiration.as_str());
    // The request was the program's own (found through /proc), not the ctl's.
    let logs = w.daemon_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("container credentials") && l.ends_with(&format!(" pid {pid}"))),
        "the daemon names the process that asked (pid {pid}):\n{logs}"
    );
    wait_until(
        Duration::from_secs(5),
        "the grant ends with the program",
        || get(url, Some(token)).0 == 403,
    );
    let (_, body) = get(url, Some(token));
    assert!(
        body.get("AccessKeyId").is_none() && body["message"].as_str().unwrap().contains("revoked")
    );
    // The program's exit code is passed through.
    w.ctl(&[
        "exec",
        "--ecs",
        "--profile",
        "dev",
        "--",
        "sh",
        "-c",
        "exit 7",
    ])
    .assert_code(7);
}

#[test]
fn a_killed_or_signalled_ctl_ends_its_grant() {
    let w = World::started();
    w.unlock();
    for sig in [libc::SIGKILL, libc::SIGTERM] {
        let mut c = w.command(bin("ssoagentctl"));
        c.args(["--no-autostart", "exec", "--ecs", "--profile", "dev", "--", "sh", "-c"])
            .arg("echo \"$$ $AWS_CONTAINER_CREDENTIALS_FULL_URI $AWS_CONTAINER_AUTHORIZATION_TOKEN\"; exec sleep 60")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let mut r = LineReader::new(child.stdout.take().unwrap());
        let line = r.wait_for("http://", COMMAND_TIMEOUT);
        let f: Vec<&str> = line.split(' ').collect();
        let (prog, url, token) = (f[0].parse::<u32>().unwrap(), f[1], f[2]);
        assert_eq!(get(url, Some(token)).0, 200);
        if sig == libc::SIGTERM {
            // Ctrl-C reaches the program from the terminal; the ctl outlives its own copy.
            signal(child.id(), libc::SIGINT);
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(get(url, Some(token)).0, 200, "SIGINT alone ends nothing");
        }
        signal(child.id(), sig);
        let status = child.wait().unwrap();
        if sig == libc::SIGTERM {
            assert_eq!(
                status.code(),
                Some(143),
                "SIGTERM reached the program and its code came back"
            );
        }
        wait_until(
            Duration::from_secs(5),
            "the grant ends with the ctl",
            || get(url, Some(token)).0 == 403,
        );
        signal(prog, libc::SIGKILL);
    }
}

#[test]
fn tokens_are_checked_listed_and_revoked() {
    let w = World::started();
    w.unlock();
    let list = w.ctl(&["ecs", "list", "--json"]);
    list.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(
        v["endpoint"], "",
        "the endpoint starts at the first grant, not before"
    );

    let g = grant(&w, "dev", &["--ttl", "1h"]);
    let (status, body) = get(&g.url, None);
    assert_eq!(status, 401, "{body}");
    // The token with its last character changed (never to itself).
    let last = if g.token.ends_with('A') { 'E' } else { 'A' };
    let wrong = format!("{}{last}", &g.token[..42]);
    let (status, body) = get(&g.url, Some(&wrong));
    assert_eq!(status, 403, "{body}");
    assert!(body.get("AccessKeyId").is_none());
    let (status, body) = get(&g.url, Some(&g.token));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["AccessKeyId"], w.creds("dev").access_key_id.as_str());

    let other = grant(&w, "dev", &[]);
    let list = w.ctl(&["ecs", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(v["endpoint"], g.url.as_str());
    assert_eq!(v["grants"].as_array().unwrap().len(), 2, "{v}");
    assert!(!list.stdout.contains(&g.token), "a list never shows tokens");

    w.ctl(&["ecs", "revoke", &g.id]).assert_ok();
    let (status, body) = get(&g.url, Some(&g.token));
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        get(&g.url, Some(&other.token)).0,
        200,
        "other grants live on"
    );
    w.ctl(&["ecs", "revoke", &g.id]).assert_code(2);
    w.ctl(&["ecs", "revoke", "--all"]).assert_ok();
    assert_eq!(get(&g.url, Some(&other.token)).0, 403);
    w.ctl(&["ecs", "grant", "--profile", "nope"]).assert_code(2);
}

#[test]
fn a_locked_session_answers_503_naming_the_unlock_command() {
    let w = World::started();
    w.unlock();
    let g = grant(&w, "dev", &[]);
    w.ctl(&["lock", "work"]).assert_ok();
    let (status, body) = get(&g.url, Some(&g.token));
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("ssoagentctl unlock work"),
        "{body}"
    );
    assert!(body.get("AccessKeyId").is_none() && body.get("Token").is_none());
    w.unlock();
    assert_eq!(get(&g.url, Some(&g.token)).0, 200);
}

#[test]
fn another_user_with_a_stolen_token_is_refused() {
    require_root("another_user_with_a_stolen_token_is_refused");
    let w = World::started();
    w.unlock();
    let g = grant(&w, "dev", &[]);
    let mut c = std::process::Command::new("setpriv");
    c.args([
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "/usr/bin/curl",
        "-sS",
        "-H",
    ])
    .arg(format!("Authorization: {}", g.token))
    .arg(&g.url);
    let out = run_with_timeout(&mut c, COMMAND_TIMEOUT);
    out.assert_ok();
    assert!(out.stdout.contains("serves only uid"), "{out:?}");
    assert!(!out.stdout.contains("AccessKeyId"), "{out:?}");
}

#[test]
fn concurrent_gets_on_a_cold_profile_make_one_upstream_call() {
    let w = World::started();
    w.unlock();
    let g = grant(&w, "dev", &[]);
    let before = w.emu.calls(Op::GetRoleCredentials);
    let keys: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64)
            .map(|_| s.spawn(|| get(&g.url, Some(&g.token))))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let (status, body) = h.join().unwrap();
                assert_eq!(status, 200, "{body}");
                body["AccessKeyId"].as_str().unwrap().to_string()
            })
            .collect()
    });
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials) - before,
        1,
        "single flight"
    );
    assert!(keys.iter().all(|k| *k == keys[0]));
}
