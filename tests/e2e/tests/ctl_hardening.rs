//! The ctl's side of "the rule, enforced" (issue 10): what a hostile SSO portal or identity
//! provider can no longer do through `ssoagentctl` — write `~/.aws/config` lines of its own
//! (`configure`), have a browser open a URL of its choosing, or paint the terminal — and that
//! the service files work on a fresh machine and keep their logs private.

use std::{fs, process::Command};

use ssoagent_e2e::{
    COMMAND_TIMEOUT, Config, Out, World, bin, parse_plist, run_with_timeout, terminal,
};
use ssoagent_emulator::Account;

/// A role name a hostile portal could return: were it written raw, the profile would get a
/// `credential_process` of the portal's choosing and a section of its own.
const HOSTILE_ROLE: &str =
    "ReadOnly\ncredential_process = /bin/sh -c 'touch /tmp/pwned'\n[profile zz]";

fn config_text(w: &World) -> String {
    fs::read_to_string(w.aws_config_path()).unwrap()
}

fn backups(w: &World) -> usize {
    fs::read_dir(w.home().join(".aws"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("config.ssoagent-backup-")
        })
        .count()
}

/// `ssoagentctl --no-autostart ARGS` in a session of its own: no controlling terminal, so
/// `/dev/tty` cannot be opened (whatever terminal the test runner has).
fn ctl_without_tty(w: &World, args: &[&str]) -> Out {
    let mut c = w.command(bin("ssoagentctl"));
    c.arg("--no-autostart").args(args);
    run_with_timeout(terminal::without_terminal(&mut c), COMMAND_TIMEOUT)
}

/// `ssoagentctl --no-autostart ARGS` with a pseudo-terminal as its controlling terminal (its
/// stdin, stdout and stderr stay pipes): when something ending in `[y/N] ` appears on the
/// terminal, `answer` is typed. Returns the command's output and what the terminal showed.
fn ctl_on_tty(w: &World, args: &[&str], answer: &'static str) -> (Out, String) {
    let mut c = w.command(bin("ssoagentctl"));
    c.arg("--no-autostart").args(args);
    let t = terminal::run_at_terminal(&mut c, "[y/N] ", answer, COMMAND_TIMEOUT);
    (t.out, t.screen)
}

fn hostile_portal() -> Config {
    Config {
        accounts: vec![
            Account::new(
                "111111111111",
                "dev",
                "dev@example.com",
                &["ReadOnly", HOSTILE_ROLE],
            ),
            Account::new("222222222222", "prod", "prod@example.com", &["ReadOnly"]),
            Account::new(
                "333333333333",
                "sandbox\n[profile yy]\ncredential_process = /bin/false",
                "sandbox@example.com",
                &["Developer"],
            ),
        ],
        ..Config::default()
    }
}

#[test]
fn configure_skips_names_from_a_hostile_portal_and_writes_the_rest() {
    let w = World::started_with(hostile_portal());
    w.unlock();

    let out = w.ctl(&["configure", "work", "--yes"]);
    out.assert_ok();
    let text = config_text(&w);
    assert!(
        !text.contains("/bin/sh") && !text.contains("/bin/false"),
        "a portal's credential_process reached ~/.aws/config:\n{text}"
    );
    assert!(
        !text.contains("[profile zz]") && !text.contains("[profile yy]"),
        "a portal's section reached ~/.aws/config:\n{text}"
    );
    assert!(
        text.contains("[profile dev.ReadOnly]\nssoagent_session = work\nssoagent_account_id = 111111111111\nssoagent_role_name = ReadOnly\n"),
        "{text}"
    );
    assert!(text.contains("[profile prod.ReadOnly]"), "{text}");
    // Every credential_process line is ours.
    for line in text.lines().filter(|l| l.contains("credential_process")) {
        assert!(
            line.starts_with("credential_process = ") && line.contains("ssoagent-cred --profile "),
            "{line:?} in:\n{text}"
        );
    }
    // One warning line per skipped name, naming it with its newlines escaped.
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: skipped"))
        .collect();
    assert_eq!(warnings.len(), 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "warning: skipped role 'ReadOnly\\ncredential_process = /bin/sh -c 'touch /tmp/pwned'\\n[profile zz]' of account 111111111111"
        ),
        "{out:?}"
    );
    assert!(out.stderr.contains("sandbox\\n[profile yy]"), "{out:?}");
    // What was written works.
    assert!(w.creds("prod.ReadOnly").access_key_id.starts_with("ASIA"));
}

#[test]
fn accounts_shows_the_portals_names_with_control_characters_escaped() {
    let mut cfg = hostile_portal();
    cfg.accounts[1].name = "prod\x1b]0;pwned\x07\x1b[2J".into();
    let w = World::started_with(cfg);
    w.unlock();
    let out = w.ctl(&["accounts", "work"]);
    out.assert_ok();
    assert!(
        !out.stdout.contains('\x1b') && !out.stdout.contains('\x07'),
        "accounts printed the portal's escape sequence raw:\n{}",
        out.stdout
    );
    assert!(
        !out.stdout.lines().any(|l| l.trim() == "[profile zz]"),
        "accounts printed the portal's newline raw:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ReadOnly\\ncredential_process")
            && out.stdout.contains("prod\\x1b]0;pwned\\x07\\x1b[2J"),
        "{}",
        out.stdout
    );
}

#[test]
fn configure_without_a_terminal_or_yes_writes_nothing() {
    let w = World::started();
    w.unlock();
    let before = config_text(&w);
    let out = ctl_without_tty(&w, &["configure", "work"]);
    out.assert_code(3);
    assert!(
        out.stderr
            .contains("a human must confirm this at a terminal"),
        "{out:?}"
    );
    assert!(out.stderr.contains("--yes"), "{out:?}");
    assert_eq!(config_text(&w), before, "written without a human's yes");
    assert_eq!(backups(&w), 0);

    // --dry-run never asks.
    let out = ctl_without_tty(&w, &["configure", "work", "--dry-run"]);
    out.assert_ok();
    assert!(out.stdout.contains("+[profile dev.Admin]"), "{out:?}");
    assert_eq!(config_text(&w), before);
}

#[test]
fn configure_asks_at_the_terminal_and_writes_only_on_yes() {
    let w = World::started();
    w.unlock();
    let before = config_text(&w);

    let (out, shown) = ctl_on_tty(&w, &["configure", "work"], "n\n");
    assert!(
        shown.contains("[y/N] "),
        "no question on the terminal: {shown:?}\n{out:?}"
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("nothing written"), "{out:?}");
    assert_eq!(config_text(&w), before, "written after a no");

    let (out, shown) = ctl_on_tty(&w, &["configure", "work"], "y\n");
    assert!(
        shown.contains(&format!(
            "write 4 profile(s) to {}? [y/N] ",
            w.aws_config_path().display()
        )),
        "{shown:?}"
    );
    out.assert_ok();
    assert!(config_text(&w).contains("[profile dev.Admin]"));
    assert_eq!(backups(&w), 1);
}

/// A `$BROWSER` that records every URL it is given, one per line, in `browser.log`.
fn recording_browser(w: &mut World) -> std::path::PathBuf {
    let log = w.path("browser.log");
    let script = w.write_script(
        "recording-browser",
        &format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n", log.display()),
    );
    w.set_env("BROWSER", script);
    log
}

#[test]
fn login_urls_are_opened_only_when_https_or_loopback_and_never_printed_raw() {
    let mut w = World::new();
    let log = recording_browser(&mut w);
    // One `authorization_pending` first: the daemon shows the prompt after its first poll.
    w.emu.update(|c| c.approve_after_polls = 1);
    w.start_daemon();
    for hostile in [
        "file:///etc/passwd",
        "--remote-debugging-port=9222",
        "x-custom-handler://run?cmd=id",
        "http://evil.example.com/device",
        "https://evil.example.com/device\x1b]0;pwned\x07\x1b[2J",
    ] {
        w.emu
            .update(|c| c.verification_uri_complete = Some(hostile.to_string()));
        let out = w.ctl(&["login", "work", "--device-code"]);
        assert!(
            !log.exists(),
            "the browser was run with {:?}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(
            !out.stderr.contains('\x1b') && !out.stdout.contains('\x1b'),
            "a raw escape sequence reached the terminal for {hostile:?}:\n{out:?}"
        );
        assert!(
            out.stderr.contains("not opening this URL"),
            "no refusal for {hostile:?}:\n{out:?}"
        );
        let shown = hostile.replace('\x1b', "\\x1b").replace('\x07', "\\x07");
        assert!(
            out.stderr.contains(&shown),
            "the URL is still shown (escaped) for {hostile:?}:\n{out:?}"
        );
    }

    // The emulator's own URL (http:// on 127.0.0.1) is still opened.
    w.emu.update(|c| c.verification_uri_complete = None);
    let out = w.ctl(&["login", "work", "--device-code"]);
    out.assert_ok();
    let opened = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        opened.starts_with(&format!("{}/device?user_code=", w.emu.url())),
        "{opened:?}\n{out:?}"
    );
}

/// The text of the file `name` in a `service install --dry-run`, un-indented.
fn dry_run_file(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("would write ") || !l.ends_with(&format!("/{name}:")))
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths of a unit's `ReadWritePaths=` lines.
fn read_write_paths(unit: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix("ReadWritePaths="))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect()
}

fn assert_optional_paths_may_be_missing(unit: &str, which: &str) {
    let paths = read_write_paths(unit);
    assert!(!paths.is_empty(), "{which}: no ReadWritePaths:\n{unit}");
    for p in &paths {
        // The runtime dir is the socket unit's (DirectoryMode=): it is there whenever the
        // service runs. Everything else may be missing on a fresh machine.
        assert!(
            p == "%t/ssoagent" || p.starts_with('-'),
            "{which}: ReadWritePaths {p} without '-' fails the start (226/NAMESPACE) when it is missing:\n{unit}"
        );
    }
    assert!(
        paths.contains(&"-%h/.aws/sso/cache".to_string()),
        "{which}: {paths:?}"
    );
    assert!(
        paths.contains(&"-%h/.local/state/ssoagent".to_string()),
        "{which}: {paths:?}"
    );
    // ProtectSystem=strict leaves $HOME read-only: the state dir must exist before the sandbox.
    assert!(
        unit.lines().any(|l| l.starts_with("ExecStartPre=+")
            && l.contains("mkdir")
            && l.contains("%h/.local/state/ssoagent")),
        "{which}: nothing creates the state dir before the sandbox:\n{unit}"
    );
}

#[test]
fn the_systemd_unit_starts_without_the_optional_directories_and_verifies() {
    let w = World::new();
    let shipped =
        fs::read_to_string(ssoagent_e2e::repo_root().join("packaging/systemd/ssoagentd.service"))
            .unwrap();
    assert_optional_paths_may_be_missing(&shipped, "packaging/systemd/ssoagentd.service");

    let out = w.ctl(&["service", "install", "--dry-run", "--platform", "systemd"]);
    out.assert_ok();
    let service = dry_run_file(&out.stdout, "ssoagentd.service");
    let socket = dry_run_file(&out.stdout, "ssoagentd.socket");
    assert_optional_paths_may_be_missing(&service, "service install --dry-run");

    // systemd's own check of the generated units (they name the daemon of this build).
    let dir = w.path("units");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("ssoagentd.service"), &service).unwrap();
    fs::write(dir.join("ssoagentd.socket"), &socket).unwrap();
    let analyze = Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(dir.join("ssoagentd.socket"))
        .arg(dir.join("ssoagentd.service"))
        .env("XDG_RUNTIME_DIR", w.path("xdg-runtime"))
        .env("HOME", w.home())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run systemd-analyze ({e}); install it: apt-get install -y systemd")
        });
    let stderr = String::from_utf8_lossy(&analyze.stderr);
    assert!(
        analyze.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        analyze.status
    );
}

#[test]
fn the_launchd_plist_logs_to_the_users_own_directory() {
    let w = World::new();
    let shipped = fs::read_to_string(
        ssoagent_e2e::repo_root().join("packaging/launchd/com.github.ssoagent.ssoagentd.plist"),
    )
    .unwrap();
    let p = parse_plist(w.home(), &shipped);
    for key in ["StandardErrorPath", "StandardOutPath"] {
        let log = p[key].as_str().unwrap();
        assert!(
            !log.starts_with("/tmp") && !log.starts_with("/private/tmp"),
            "the shipped plist logs to a shared directory: {key} = {log}"
        );
        assert!(
            log.ends_with("/Library/Logs/ssoagentd.log"),
            "{key} = {log}"
        );
    }

    let out = w.ctl(&["service", "install", "--dry-run", "--platform", "launchd"]);
    out.assert_ok();
    let p = parse_plist(
        w.home(),
        &dry_run_file(&out.stdout, "com.github.ssoagent.ssoagentd.plist"),
    );
    let want = w.home().join("Library/Logs/ssoagentd.log");
    for key in ["StandardErrorPath", "StandardOutPath"] {
        assert_eq!(
            p[key].as_str().unwrap(),
            want.display().to_string(),
            "{key}"
        );
    }
}
