//! Per-caller policy (issue 11): `[[rule]]`s in the agent config, first match wins. `deny` is
//! exit 6 naming the rule and the caller (the same profile from another caller is served);
//! `max_lifetime` caps the Expiration; `confirm` waits for `ssoagentctl approve ID`, which
//! only a human at a terminal can give; a timeout is exit 3 naming that command; a broken rule
//! stops the daemon at start (exit 2, with the rule's index).

use std::{
    fs,
    path::PathBuf,
    process::{Child, Stdio},
    time::{Duration, SystemTime},
};

use ssoagent_e2e::{
    audit_log::{records, wait_record},
    robust::wait_out,
    *,
};

/// A copy of bash named `claude` in the World: a "robot" whose exe the rules can name.
fn robot(w: &World) -> PathBuf {
    let dir = w.path("robots");
    fs::create_dir_all(&dir).unwrap();
    let p = dir.join("claude");
    fs::copy("/bin/bash", &p).unwrap();
    p
}

/// The robot running `script` (bash) with the shim at `$CRED`; stdout and stderr piped.
fn spawn_robot(w: &World, robot: &PathBuf, script: &str) -> Child {
    w.command(robot)
        .arg("-c")
        .arg(script)
        .env("CRED", bin("ssoagent-cred"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the robot")
}

fn started_with_rules(rules: &str) -> World {
    let mut w = World::new();
    w.write_agent_config(&format!("store = \"file\"\npresence = \"none\"\n{rules}"));
    w.start_daemon();
    w.unlock();
    w
}

#[test]
fn deny_by_caller_glob_is_exit_6_while_another_caller_is_served() {
    let w = started_with_rules(
        "[[rule]]\nprofiles = [\"other\"]\naction = \"allow\"\n\n\
         [[rule]]\nprofiles = [\"de*\"]\ncallers = [\"claude\"]\naction = \"deny\"\n",
    );
    let claude = robot(&w);
    let out = wait_out(
        spawn_robot(&w, &claude, "\"$CRED\" --profile dev; exit $?"),
        COMMAND_TIMEOUT,
    );
    let config = w.agent_config_path().display().to_string();
    out.assert_failure(
        6,
        &[
            "profile 'dev' refused for",
            &claude.display().to_string(),
            "by rule 2 of",
            &config,
        ],
    );
    assert!(out.stdout.is_empty(), "{out:?}");
    // The same profile for another caller (the shim run directly) is served.
    w.creds("dev");
    let denied = wait_record(&w, "a denied record", |r| r["event"] == "denied");
    assert_eq!(denied["profile"], "dev");
    assert_eq!(denied["rule"]["index"], 2);
    assert_eq!(denied["ancestors"][0]["exe"], claude.display().to_string());
    wait_record(&w, "an issued record", |r| r["event"] == "issued");
}

#[test]
fn max_lifetime_caps_the_expiration_handed_out() {
    let w = started_with_rules(
        "[[rule]]\nprofiles = [\"dev\"]\naction = \"allow\"\nmax_lifetime = \"15m\"\n",
    );
    let before = SystemTime::now();
    let c = w.creds("dev");
    let left = c.expires_at().duration_since(before).unwrap();
    assert!(
        left <= Duration::from_secs(15 * 60 + 2) && left > Duration::from_secs(14 * 60),
        "Expiration {} is about 15 minutes ahead",
        c.expiration
    );
    let r = wait_record(&w, "an issued record", |r| r["event"] == "issued");
    assert_eq!(r["expiration"], c.expiration.as_str());
    assert_eq!(r["rule"]["index"], 1);
    assert!(
        r["rule"]["text"]
            .as_str()
            .unwrap()
            .contains("max_lifetime=15m"),
        "{r}"
    );
}

#[test]
fn a_broken_rule_stops_the_daemon_at_start_naming_it() {
    let w = World::new();
    w.write_agent_config(
        "store = \"file\"\npresence = \"none\"\n[[rule]]\nprofiles = [\"dev\"]\naction = \"deny\"\n\n\
         [[rule]]\nprofiles = []\naction = \"deny\"\n",
    );
    let out = run_with_timeout(&mut w.daemon_command(), COMMAND_TIMEOUT);
    out.assert_failure(2, &["rule 2:", "profiles"]);
}

/// The id of the one request waiting for approval, once `status` lists it.
fn pending_id(w: &World) -> (String, serde_json::Value) {
    let mut found = None;
    wait_until(Duration::from_secs(20), "a pending request", || {
        let s = w.status_json();
        found = s["pending"].as_array().and_then(|a| a.first().cloned());
        found.is_some()
    });
    let p = found.unwrap();
    (p["id"].as_str().unwrap().to_string(), p)
}

#[test]
fn confirm_waits_for_a_human_at_a_terminal_then_serves_the_process() {
    let w = started_with_rules(
        "confirm_timeout = \"60s\"\n\
         [[rule]]\nprofiles = [\"dev\"]\ncallers = [\"claude\"]\naction = \"confirm\"\n",
    );
    let claude = robot(&w);
    let child = spawn_robot(
        &w,
        &claude,
        "\"$CRED\" --profile dev || exit $?; echo; \"$CRED\" --profile dev",
    );
    let (id, p) = pending_id(&w);
    assert_eq!(p["profile"], "dev");
    assert_eq!(p["caller"]["exe"], claude.display().to_string());
    assert_eq!(p["caller"]["pid"], child.id());
    let text = w.ctl(&["status"]);
    assert!(
        text.stdout
            .contains(&format!("approve with: ssoagentctl approve {id}")),
        "{text:?}"
    );
    // A robot cannot approve: no terminal.
    w.ctl(&["approve", &id])
        .assert_failure(3, &["a human must confirm this at a terminal"]);
    assert_eq!(pending_id(&w).0, id, "still waiting");
    // A human at a terminal can.
    let t = w.ctl_at_terminal(&["approve", &id], "y\n");
    t.out.assert_ok();
    assert!(t.screen.contains("(pid "), "{}", t.screen);
    assert!(t.out.stdout.contains("approved:"), "{:?}", t.out);
    let out = wait_out(child, COMMAND_TIMEOUT);
    out.assert_ok();
    // Two credential_process objects: the waiting call and a second one served at once.
    let objs = out
        .stdout
        .split('\n')
        .filter(|l| l.starts_with('{'))
        .count();
    assert_eq!(objs, 2, "{out:?}");
    assert!(w.status_json()["pending"].as_array().unwrap().is_empty());
    wait_record(&w, "pending", |r| {
        r["event"] == "pending" && r["id"] == id.as_str()
    });
    wait_record(&w, "approved", |r| {
        r["event"] == "approved" && r["id"] == id.as_str()
    });
    wait_until(Duration::from_secs(10), "two issued", || {
        records(&w)
            .iter()
            .filter(|r| r["event"] == "issued")
            .count()
            == 2
    });
}

#[test]
fn confirm_times_out_with_exit_3_naming_the_approve_command() {
    let w = started_with_rules(
        "confirm_timeout = \"1s\"\n[[rule]]\nprofiles = [\"dev\"]\naction = \"confirm\"\n",
    );
    let started = std::time::Instant::now();
    let out = w.cred(&["--profile", "dev"]);
    out.assert_failure(3, &["timed out", "a human must run: ssoagentctl approve "]);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let (id, _) = pending_id(&w);
    assert!(out.stderr.contains(&id), "{out:?}");
    // A locked session fails at once with the unlock command, never waits for approval.
    w.ctl(&["lock", "work"]).assert_ok();
    w.cred(&["--profile", "dev"])
        .assert_failure(3, &["a human must run: ssoagentctl unlock work"]);
    assert!(!records(&w).iter().any(|r| r["event"] == "issued"));
}
