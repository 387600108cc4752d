//! The audit log (issue 11): who took which credentials. Every issue is one line of
//! `audit.jsonl` naming the shim's pid and exe, its ancestors (the tool that asked), the key
//! id CloudTrail will log and the expiration handed out; never a secret. `ssoagentctl log`
//! reads it; it rotates at `audit_max_size`.

use std::{fs, os::unix::fs::PermissionsExt, path::Path, time::Duration};

use serde_json::Value;
use ssoagent_e2e::{
    audit_log::{records, wait_record},
    *,
};

fn canonical(p: impl AsRef<Path>) -> String {
    fs::canonicalize(p).unwrap().display().to_string()
}

#[test]
fn an_issue_names_the_shim_its_ancestors_and_the_key_and_never_a_secret() {
    let w = World::started();
    w.unlock();
    // `; true` keeps bash from exec'ing the shim: bash stays its parent.
    let shim = bin("ssoagent-cred");
    let mut c = w.command("/bin/bash");
    c.arg("-c")
        .arg(format!("{} --profile dev; true", shim.display()))
        .current_dir(w.path(".aws"));
    let out = run_with_timeout(&mut c, COMMAND_TIMEOUT);
    out.assert_ok();
    let creds = Creds::parse(&out);
    let r = wait_record(&w, "an issued record", |r| r["event"] == "issued");
    assert_eq!(r["profile"], "dev");
    assert_eq!(r["session"], "work");
    assert_eq!(r["access_key_id"], creds.access_key_id.as_str());
    assert_eq!(
        parse_rfc3339_utc(r["expiration"].as_str().unwrap()),
        Some(creds.expires_at())
    );
    let caller = &r["caller"];
    assert_eq!(caller["exe"], canonical(&shim).as_str(), "{r:#}");
    assert_eq!(caller["argv"][1], "--profile");
    assert_eq!(caller["cwd"], canonical(w.path(".aws")).as_str());
    assert_eq!(caller["uid"], unsafe { libc::getuid() });
    let ancestors = r["ancestors"].as_array().unwrap();
    assert_eq!(
        ancestors[0]["exe"],
        canonical("/bin/bash").as_str(),
        "{r:#}"
    );
    assert_eq!(ancestors[0]["argv"][0], "/bin/bash");
    assert!(
        ancestors
            .iter()
            .any(|a| a["pid"] == std::process::id() as i64),
        "the test process is an ancestor: {r:#}"
    );
    assert_ne!(caller["pid"], ancestors[0]["pid"]);
    // The unlock was a login (device code): both are recorded, by ssoagentctl.
    let login = wait_record(&w, "a login record", |r| r["event"] == "login");
    assert!(
        login["caller"]["exe"]
            .as_str()
            .unwrap()
            .ends_with("/ssoagentctl"),
        "{login:#}"
    );
    wait_record(&w, "an unlocked record", |r| r["event"] == "unlocked");

    let path = w.state_dir().join("audit.jsonl");
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&creds.secret_access_key), "no secret key");
    assert!(!text.contains(&creds.session_token), "no session token");
    for secret in w.stored_secrets() {
        assert!(!text.contains(&secret), "no stored token in the audit log");
    }
}

#[test]
fn log_shows_one_line_per_event_and_filters() {
    let w = World::started();
    w.append_aws_config(
        "[profile prod]\nsso_session = work\nsso_account_id = 222222222222\nsso_role_name = ReadOnly\n",
    );
    w.unlock();
    let dev = w.creds("dev");
    w.creds("prod");
    w.ctl(&["lock", "work"]).assert_ok();
    w.cred(&["--profile", "dev"]).assert_code(3);
    wait_record(&w, "a locked hit", |r| r["event"] == "locked_hit");
    let log = w.ctl(&["log"]);
    log.assert_ok();
    let lines: Vec<&str> = log.stdout.lines().collect();
    let issued = lines
        .iter()
        .find(|l| l.contains(" issued profile dev"))
        .unwrap_or_else(|| panic!("{log:?}"));
    assert!(issued.contains("by ssoagent-cred (pid "), "{issued}");
    assert!(issued.contains(&dev.access_key_id), "{issued}");
    for e in [" login ", " unlocked ", " locked ", " locked_hit "] {
        assert!(lines.iter().any(|l| l.contains(e)), "{e} in {log:?}");
    }
    // --json --profile: the stored lines of that profile only.
    let json = w.ctl(&["log", "--json", "--profile", "prod"]);
    json.assert_ok();
    let recs: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 1, "{json:?}");
    assert_eq!(recs[0]["event"], "issued");
    assert_eq!(recs[0]["profile"], "prod");
    // --since: a window that holds everything, and one in the future that holds nothing
    // (records are seconds apart at most).
    let since = w.ctl(&["log", "--json", "--since", "1h"]);
    assert_eq!(since.stdout.lines().count(), records(&w).len(), "{since:?}");
    let none = w.ctl(&["log", "--since", "0s", "--profile", "nope"]);
    none.assert_ok();
    assert!(none.stdout.is_empty(), "{none:?}");
}

#[test]
fn the_log_rotates_at_its_size_limit_keeping_five() {
    let mut w = World::new();
    w.write_agent_config("store = \"file\"\naudit_max_size = \"8KiB\"\n");
    w.start_daemon();
    w.unlock();
    // Small files: the login's record may be in a rotated one already; `log` reads them all.
    wait_until(Duration::from_secs(10), "the login logged", || {
        w.ctl(&["log"]).stdout.contains(" login ")
    });
    let mut keys = Vec::new();
    for _ in 0..80 {
        keys.push(w.creds("dev").access_key_id);
    }
    let dir = w.state_dir();
    wait_until(Duration::from_secs(10), "five rotated files", || {
        dir.join("audit.jsonl.5").exists()
    });
    for i in 0..=5 {
        let name = if i == 0 {
            "audit.jsonl".to_string()
        } else {
            format!("audit.jsonl.{i}")
        };
        let m = fs::metadata(dir.join(&name)).unwrap();
        assert!(m.len() <= 8192, "{name}: {} bytes", m.len());
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{name}");
    }
    assert!(!dir.join("audit.jsonl.6").exists(), "five are kept");
    // `log` reads the rotated files too, oldest first: the newest issue is last, the oldest
    // fell off with the sixth file.
    let last = keys.last().unwrap().clone();
    wait_until(Duration::from_secs(10), "the last issue logged", || {
        w.ctl(&["log"]).stdout.contains(&last)
    });
    let log = w.ctl(&["log"]);
    let newest = log
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains(" issued "))
        .unwrap();
    assert!(newest.contains(&last), "{newest}");
    assert!(
        !log.stdout.contains(" login "),
        "the oldest records (the unlock's) were rotated away:\n{}",
        log.stdout
    );
}
