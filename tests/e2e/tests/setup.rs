//! Setting ssoagent up: configure (profiles from the account list), doctor, service files,
//! autostart races and the version handshake.

use std::{fs, path::Path, thread};

use ssoagent_e2e::{World, bin, parse_plist, python_with_boto3};

fn config_text(w: &World) -> String {
    fs::read_to_string(w.aws_config_path()).unwrap()
}

#[test]
fn configure_writes_agent_profiles_and_keeps_what_was_there() {
    let w = World::started();
    w.append_aws_config(
        "\n# my own notes about prod\n[profile prod.ReadOnly]\nregion = ap-southeast-2\n",
    );
    w.unlock();
    let before = config_text(&w);

    let dry = w.ctl(&["configure", "work", "--dry-run"]);
    dry.assert_ok();
    assert!(
        dry.stdout.contains("+[profile dev.Admin]"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("+[profile sandbox.Developer]"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("kept"), "{}", dry.stdout);
    assert_eq!(config_text(&w), before, "--dry-run wrote the file");

    w.ctl(&["configure", "work", "--yes"]).assert_ok();
    let after = config_text(&w);
    assert!(
        after.starts_with(&before.trim_end()[..before.trim_end().len()]),
        "the old text is kept as it was"
    );
    assert!(
        after.contains(
            "# my own notes about prod\n[profile prod.ReadOnly]\nregion = ap-southeast-2\n"
        )
    );
    assert!(after.contains("[profile dev.ReadOnly]\nssoagent_session = work\nssoagent_account_id = 111111111111\nssoagent_role_name = ReadOnly\n"));
    let backups: Vec<_> = fs::read_dir(w.home().join(".aws"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("config.ssoagent-backup-")
        })
        .collect();
    assert_eq!(backups.len(), 1, "one backup");
    assert_eq!(fs::read_to_string(backups[0].path()).unwrap(), before);
    // The written profiles work as they are.
    let creds = w.creds("sandbox.Developer");
    assert!(creds.access_key_id.starts_with("ASIA"));

    // --force replaces the user's profile of the same name, in place.
    w.ctl(&[
        "configure",
        "work",
        "--yes",
        "--force",
        "--region",
        "eu-west-1",
    ])
    .assert_ok();
    let forced = config_text(&w);
    assert!(
        forced.contains(
            "# my own notes about prod\n[profile prod.ReadOnly]\nssoagent_session = work"
        ),
        "{forced}"
    );
    assert!(!forced.contains("ap-southeast-2"));
    assert_eq!(forced.matches("[profile prod.ReadOnly]").count(), 1);
}

#[test]
fn configure_needs_an_unlocked_session() {
    let w = World::started();
    let before = config_text(&w);
    w.ctl(&["configure", "work", "--yes"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(config_text(&w), before);
}

#[test]
fn doctor_reports_a_healthy_setup_and_names_what_is_broken() {
    let w = World::started();
    w.unlock();
    w.creds("dev");
    let out = w.ctl(&["doctor"]);
    out.assert_ok();
    for needle in [
        "ok    daemon",
        "ok    ~/.aws/config",
        "ok    socket directory",
        "clock: 0 s",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            out.stdout
        );
    }

    w.append_aws_config("\n[profile wrapper]\ncredential_process = ssoagent-cred --profile gone\n");
    let out = w.ctl(&["doctor"]);
    out.assert_code(2);
    assert!(
        out.stdout
            .contains("FAIL  profile wrapper: runs ssoagent-cred for profile 'gone'"),
        "{}",
        out.stdout
    );
}

#[test]
fn doctor_without_a_daemon_says_how_to_start_it() {
    let w = World::new();
    let out = w.ctl(&["doctor"]);
    out.assert_code(4);
    assert!(
        out.stdout.contains("FAIL  daemon") && out.stdout.contains("ssoagentctl start"),
        "{}",
        out.stdout
    );
}

#[test]
fn service_install_dry_run_prints_units_with_this_binary_and_writes_nothing() {
    let w = World::new();
    let out = w.ctl(&["service", "install", "--dry-run", "--platform", "systemd"]);
    out.assert_ok();
    let daemon = fs::canonicalize(bin("ssoagentd")).unwrap();
    assert!(
        out.stdout.contains(&format!(
            "ExecStart={} --idle-timeout 30m",
            daemon.display()
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("ListenStream=%t/ssoagent/agent.sock"));
    assert!(
        out.stdout
            .contains("would run: systemctl --user enable --now ssoagentd.socket")
    );
    assert!(
        !w.home().join(".config/systemd").exists(),
        "dry run wrote files"
    );

    let out = w.ctl(&["service", "uninstall", "--dry-run", "--platform", "systemd"]);
    out.assert_ok();
    assert!(
        out.stdout.contains(
            "would run: systemctl --user disable --now ssoagentd.socket ssoagentd.service"
        )
    );
}

/// The plist in the dry run, un-indented.
fn dry_run_plist(stdout: &str) -> String {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("would write ") || !l.ends_with(".plist:"))
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_launchd_plist_parses_and_runs_this_daemon() {
    let w = World::new();
    let shipped =
        ssoagent_e2e::repo_root().join("packaging/launchd/com.github.ssoagent.ssoagentd.plist");
    let p = parse_plist(w.home(), &fs::read_to_string(shipped).unwrap());
    assert_eq!(p["Label"], "com.github.ssoagent.ssoagentd");
    assert!(
        p["ProgramArguments"][0]
            .as_str()
            .unwrap()
            .ends_with("/ssoagentd")
    );
    assert_eq!(p["RunAtLoad"], true);
    assert_eq!(p["KeepAlive"], true);

    let out = w.ctl(&["service", "install", "--dry-run", "--platform", "launchd"]);
    out.assert_ok();
    let p = parse_plist(w.home(), &dry_run_plist(&out.stdout));
    let daemon = fs::canonicalize(bin("ssoagentd")).unwrap();
    assert_eq!(
        p["ProgramArguments"],
        serde_json::json!([daemon.display().to_string()])
    );
    assert!(
        p["StandardErrorPath"]
            .as_str()
            .unwrap()
            .ends_with("Library/Logs/ssoagentd.log")
    );
    assert!(out.stdout.contains("would run: launchctl bootstrap gui/"));
}

/// Daemons of this World's socket that are alive now.
fn daemons_of(w: &World) -> usize {
    let want = format!("SSOAGENT_SOCKET={}", w.socket_path().display());
    let exe = fs::canonicalize(bin("ssoagentd")).unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let dir = e.path();
            fs::read_link(dir.join("exe")).is_ok_and(|x| x == exe)
                && fs::read(dir.join("environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == want.as_bytes()))
        })
        .count()
}

#[test]
fn racing_starters_end_with_one_daemon() {
    let w = World::new();
    let outs: Vec<_> = thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| s.spawn(|| w.ctl_autostart(&["start"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &outs {
        out.assert_ok();
    }
    // Losers exit at once; give them a moment to be reaped, then count.
    ssoagent_e2e::wait_until(std::time::Duration::from_secs(10), "one daemon", || {
        daemons_of(&w) == 1
    });
    let status = w.status_json();
    assert_eq!(
        status["protocol"], 4,
        "protocol 4: MFA, container-credentials grants, console sign-in, audit and policy"
    );
    assert!(status["pid"].as_u64().unwrap() > 0);
    assert!(!status["version"].as_str().unwrap().is_empty());
    assert!(
        w.state_dir().join("ssoagentd.log").exists(),
        "the background daemon logs to the state dir"
    );
    w.ctl(&["stop"]).assert_ok();
    assert_eq!(daemons_of(&w), 0);
}

#[test]
fn ssoagent_cred_starts_the_daemon_only_when_asked() {
    let w = World::new();
    w.cred(&["--profile", "dev"])
        .assert_failure(4, &["ssoagentctl start"]);
    assert_eq!(daemons_of(&w), 0, "no autostart by default");
    // With --autostart the request reaches a fresh daemon, which refuses (locked) at once.
    w.cred(&["--autostart", "--profile", "dev"])
        .assert_failure(3, &["ssoagentctl unlock work"]);
    assert_eq!(daemons_of(&w), 1);
    w.ctl(&["stop"]).assert_ok();
}

#[test]
fn the_demo_runs_the_whole_story_and_cleans_up() {
    // README's main job on a machine with boto3: the test's Python first on PATH.
    let python = python_with_boto3("the_demo_runs_the_whole_story_and_cleans_up");
    let mut w = World::new();
    let venv_bin = Path::new(&python).parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(venv_bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    w.set_env("PATH", path);
    let out = w.ctl(&["demo"]);
    out.assert_ok();
    for needle in [
        "session 'demo' is locked; a human must run: ssoagentctl unlock demo",
        "\"Version\":1",
        "session 'demo' unlocked",
        "tokens in the file store",
        "credentials by custom-process",
        "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_ReadOnly_",
        "demo done",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            out.stdout
        );
    }
    // Its temporary HOME is gone.
    let tmp = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("(temporary HOME "))
        .and_then(|l| l.split(';').next())
        .expect("the demo names its temporary HOME");
    assert!(!Path::new(tmp).exists(), "{tmp} was left behind");
}

#[test]
fn the_demo_says_how_to_get_boto3_when_python_has_none() {
    let mut w = World::new();
    // No python3 at all on PATH (the demo runs its binaries by absolute path).
    let empty = w.path("empty-bin");
    fs::create_dir_all(&empty).unwrap();
    w.set_env("PATH", &empty);
    let out = w.ctl(&["demo"]);
    out.assert_ok();
    for needle in [
        "\"Version\":1",
        "python3 cannot import boto3",
        "pip install boto3",
        "demo done",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in:\n{}",
            out.stdout
        );
    }
}
