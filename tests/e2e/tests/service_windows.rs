//! `ssoagentctl service … --platform windows --dry-run` on Linux: the exact `reg.exe` commands
//! the Windows build runs (the same plan; tests/windows/run checks it again under Wine).

use ssoagent_e2e::{World, bin};

#[test]
fn install_writes_the_users_run_key_to_start_the_daemon_at_logon() {
    let w = World::new();
    let out = w.ctl(&["service", "install", "--platform", "windows", "--dry-run"]);
    out.assert_ok();
    let ctl = std::fs::canonicalize(bin("ssoagentctl")).unwrap();
    let expected = format!(
        "would run: reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v ssoagentd \
         /t REG_SZ /d \"\\\"{}\\\" start\" /f\n\
         would start ssoagentd in the background now, as ssoagentctl start does\n",
        ctl.display()
    );
    assert_eq!(out.stdout, expected);
    // Nothing written, nothing started.
    assert!(
        w.ctl(&["status"]).code == 4,
        "a dry run must not start the daemon"
    );
}

#[test]
fn uninstall_and_status_name_the_same_value() {
    let w = World::new();
    let out = w.ctl(&["service", "uninstall", "--platform", "windows", "--dry-run"]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        "would run: reg delete HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v ssoagentd /f\n"
    );
    let out = w.ctl(&["service", "status", "--platform", "windows", "--dry-run"]);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        "would run: reg query HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v ssoagentd\n"
    );
}
