//! Running as a service: socket activation (the first robot's request starts the daemon),
//! idle exit, and the generated shell completions and man page.

use std::{
    fs,
    os::unix::fs::DirBuilderExt,
    process::{Child, Stdio},
    time::Duration,
};

use ssoagent_e2e::{World, bin, wait_until};

/// `systemd-socket-activate` holding the agent socket, as a `.socket` unit would.
struct Activator(Child);

impl Drop for Activator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn activate(w: &World, daemon_args: &[&str]) -> Activator {
    let tool = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect(
        "socket activation needs systemd-socket-activate; install it with: apt-get install \
         systemd (tests/run does, as root)",
    );
    let socket = w.socket_path();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(socket.parent().unwrap())
        .unwrap();
    let mut cmd = w.command(tool);
    cmd.arg("-l").arg(&socket);
    for key in w.envs().keys() {
        cmd.arg("-E").arg(key);
    }
    cmd.arg(bin("ssoagentd")).args(daemon_args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(w.path("activated.log")).unwrap());
    let child = cmd.spawn().expect("systemd-socket-activate");
    wait_until(Duration::from_secs(10), "the activation socket", || {
        socket.exists()
    });
    Activator(child)
}

#[test]
fn the_first_credential_request_starts_the_daemon_through_the_socket() {
    let w = World::new();
    let _activator = activate(&w, &[]);
    // No daemon runs yet: the shim's connection makes systemd start it, and the daemon answers.
    let out = w.cred(&["--profile", "dev"]);
    out.assert_failure(3, &["ssoagentctl unlock work"]);
    w.ctl(&["unlock", "work", "--device-code", "--no-browser"])
        .assert_ok();
    let creds = w.creds("dev");
    assert!(creds.access_key_id.starts_with("ASIA"));
    let log = fs::read_to_string(w.path("activated.log")).unwrap();
    assert!(log.contains("activated socket"), "daemon log: {log}");
    // The socket belongs to systemd: a stopping daemon must not unlink it.
    w.ctl(&["stop"]).assert_ok();
    assert!(w.socket_path().exists(), "the activated socket was removed");
}

#[test]
fn an_activated_daemon_exits_when_idle_and_keeps_the_unlock() {
    let w = World::new();
    let _activator = activate(&w, &["--idle-timeout", "2s"]);
    w.ctl(&["unlock", "work", "--device-code", "--no-browser"])
        .assert_ok();
    wait_until(Duration::from_secs(15), "the idle exit", || {
        fs::read_to_string(w.path("activated.log"))
            .unwrap_or_default()
            .contains("idle; exiting")
    });
    // The unlock window and the token are on disk for the next activation.
    let unlocked = fs::read_to_string(w.state_dir().join("unlocked.json")).unwrap();
    assert!(unlocked.contains("work"), "{unlocked}");
}

#[test]
fn completions_and_man_page_are_generated() {
    let w = World::new();
    let out = w.ctl(&["completions", "bash"]);
    out.assert_ok();
    assert!(out.stdout.contains("_ssoagentctl"), "{}", out.stdout);
    assert!(out.stdout.contains("unlock"));
    let out = w.ctl(&["completions", "zsh"]);
    out.assert_ok();
    let out = w.ctl(&["man"]);
    out.assert_ok();
    assert!(out.stdout.contains(".TH ssoagentctl 1"), "{}", out.stdout);
}
