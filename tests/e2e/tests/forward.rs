//! `ssoagentctl forward HOST`: the agent's socket over a real OpenSSH connection (`ssh -R`) to
//! an sshd on 127.0.0.1 that the test starts (throwaway host and user keys). The "remote" side
//! is this machine with another `SSOAGENT_SOCKET` (the sshd's runtime dir): there the shim gets
//! credentials, `status` answers and `login --device-code` completes, through the socket the
//! forwarding sshd serves as our uid.

use std::{
    fs,
    io::Read,
    net::{TcpListener, TcpStream},
    os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use ssoagent_e2e::{chain::ChainWorld, *};

const SSHD: &str = "/usr/sbin/sshd";
const INSTALL: &str = "apt-get install -y openssh-server openssh-client (tests/run does, as root)";

struct Sshd {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// What the sshd gives its sessions as XDG_RUNTIME_DIR: the remote user's runtime dir.
    runtime: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = run_with_timeout(cmd, COMMAND_TIMEOUT);
    assert!(out.ok(), "{cmd:?} failed:\n{out:?}");
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path));
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Sshd {
    /// An sshd on 127.0.0.1 taking our user key for root (tests run as root).
    fn start(w: &World) -> Sshd {
        require_root("forward");
        for tool in [SSHD, "/usr/bin/ssh", "/usr/bin/ssh-keygen"] {
            assert!(Path::new(tool).exists(), "{tool} is missing: {INSTALL}");
        }
        let dir = w.path("sshd");
        let runtime = dir.join("runtime");
        fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&runtime)
            .unwrap();
        // sshd's privilege separation directory.
        fs::create_dir_all("/run/sshd").unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("user_key"));
        fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile none\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nAllowStreamLocalForwarding yes\nSetEnv XDG_RUNTIME_DIR={r}\n\
             LogLevel VERBOSE\n",
            d = dir.display(),
            r = runtime.display()
        );
        fs::write(dir.join("sshd_config"), config).unwrap();
        let log = fs::File::create(dir.join("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {SSHD}: {e}; {INSTALL}"));
        let host_key = fs::read_to_string(dir.join("host_key.pub")).unwrap();
        fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_key}"),
        )
        .unwrap();
        let sshd = Sshd {
            child,
            port,
            dir,
            runtime,
        };
        wait_until(Duration::from_secs(10), "sshd listening", || {
            TcpStream::connect(("127.0.0.1", sshd.port)).is_ok()
        });
        sshd
    }

    /// ssh options for this server: no user config, our keys, strict host key checking.
    fn ssh_args(&self) -> Vec<String> {
        let d = self.dir.display();
        [
            "-p".to_string(),
            self.port.to_string(),
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            format!("{d}/user_key"),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={d}/known_hosts"),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
        ]
        .into()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

/// `ssoagentctl forward 127.0.0.1 <ssh args> -N` running, and the remote socket it printed.
fn forward(w: &World, sshd: &Sshd) -> (Child, String) {
    forward_with(sshd, w.command(bin("ssoagentctl")))
}

/// The same with a pseudo-terminal as the controlling terminal of `ssoagentctl forward` and so
/// of the ssh it becomes, as when a human runs it in a terminal. (The terminal's other end is
/// returned: dropping it would hang the terminal up.)
fn forward_at_a_terminal(w: &World, sshd: &Sshd) -> (Child, String, fs::File) {
    use std::os::unix::process::CommandExt;
    let (master, slave) = ssoagent_e2e::terminal::open_pty();
    let mut c = w.command(bin("ssoagentctl"));
    c.stdin(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the terminal's slave side.
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (child, remote) = forward_with(sshd, c);
    (child, remote, master)
}

fn forward_with(sshd: &Sshd, mut c: Command) -> (Child, String) {
    c.args(["--no-autostart", "forward", "127.0.0.1"])
        .args(sshd.ssh_args())
        .arg("-N")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run ssoagentctl forward");
    let mut lines = LineReader::new(child.stdout.take().unwrap());
    let line = lines.wait_for("SSOAGENT_SOCKET=", COMMAND_TIMEOUT);
    let remote = line
        .trim()
        .strip_prefix("SSOAGENT_SOCKET=")
        .unwrap()
        .to_string();
    let path = PathBuf::from(&remote);
    wait_until(Duration::from_secs(20), "the forwarded socket", || {
        path.exists()
    });
    (child, remote)
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

#[test]
fn the_socket_forwarded_over_ssh_serves_the_remote_side() {
    let w = World::started();
    let sshd = Sshd::start(&w);
    let (fwd, remote) = forward(&w, &sshd);
    let remote_dir = sshd.runtime.join("ssoagent-forward");
    assert_eq!(
        PathBuf::from(&remote),
        remote_dir.join("agent.sock"),
        "under the remote user's runtime dir"
    );
    assert_eq!(
        fs::metadata(&remote_dir).unwrap().mode() & 0o777,
        0o700,
        "a private dir"
    );
    let at_remote = [("SSOAGENT_SOCKET", Some(remote.as_str()))];
    let remote_env = [("SSOAGENT_SOCKET", remote.as_str())];

    // Locked: the remote robot is told what a human must run, through the tunnel.
    w.cred_with(&["--profile", "dev"], &remote_env)
        .assert_failure(3, &["a human must run: ssoagentctl unlock work"]);
    // A human on the remote side logs in with a device code (approved in any browser).
    let login = w.ctl_env(
        &["login", "work", "--device-code", "--no-browser"],
        &at_remote,
    );
    login.assert_ok();
    assert!(
        login.stdout.contains("session 'work' unlocked"),
        "{login:?}"
    );

    let out = w.cred_with(&["--profile", "dev"], &remote_env);
    out.assert_ok();
    let remote_creds = Creds::parse(&out);
    assert_eq!(
        remote_creds,
        w.creds("dev"),
        "the same agent, the same cache"
    );
    let status = w.ctl_env(&["status"], &at_remote);
    status.assert_ok();
    assert!(status.stdout.contains("unlocked"), "{status:?}");
    assert_eq!(w.session_state("work"), "unlocked");

    // The tunnel gone: the remote side cannot reach an agent any more.
    let err = stop(fwd);
    w.cred_with(&["--profile", "dev"], &remote_env)
        .assert_code(4);
    assert!(
        sshd.log().contains("Accepted publickey"),
        "ssh did log in with the key: {}\n{err}",
        sshd.log()
    );
}

#[test]
fn a_forwarded_socket_in_a_directory_open_to_others_is_refused() {
    let w = World::started();
    let sshd = Sshd::start(&w);
    let (fwd, remote) = forward(&w, &sshd);
    let dir = Path::new(&remote).parent().unwrap().to_path_buf();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let out = w.cred_with(
        &["--profile", "dev"],
        &[("SSOAGENT_SOCKET", remote.as_str())],
    );
    out.assert_failure(4, &["open to other users", "nothing was sent"]);
    // A new forward makes the directory private again and replaces the old socket.
    let (fwd2, again) = forward(&w, &sshd);
    assert_eq!(again, remote);
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    w.cred_with(
        &["--profile", "dev"],
        &[("SSOAGENT_SOCKET", remote.as_str())],
    )
    .assert_failure(3, &["locked"]);
    stop(fwd2);
    stop(fwd);
}

/// Through a forwarded socket the daemon's peer is the local ssh client, which has the human's
/// terminal; a robot on the remote host claiming a confirmation must not borrow it. Reproduced
/// as such a robot would: a hand-made Unlock with `confirmed` over the remote socket.
#[test]
fn a_confirmation_forged_on_the_remote_side_is_not_believed() {
    use ssoagent_client::proto::{UnlockRequest, agent_client::AgentClient, unlock_event::Event};
    let mut w = World::new();
    w.write_agent_config("store = \"file\"\npresence = \"tty\"\n");
    w.start_daemon();
    w.unlock();
    w.ctl(&["lock", SESSION]).assert_ok();
    let sshd = Sshd::start(&w);
    let (fwd, remote, _terminal) = forward_at_a_terminal(&w, &sshd);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let events = rt.block_on(async {
        let channel = ssoagent_client::connect(Path::new(&remote))
            .await
            .expect("connect through the tunnel");
        let mut client = AgentClient::new(channel);
        let req = UnlockRequest {
            session: SESSION.into(),
            confirmed: true,
            ..Default::default()
        };
        let mut stream = client.unlock(req).await.expect("unlock").into_inner();
        let mut events = Vec::new();
        while let Some(e) = stream.message().await.expect("stream") {
            events.push(e.event.expect("an event"));
        }
        events
    });
    assert!(
        matches!(events.as_slice(), [Event::ConfirmationNeeded(c)] if c.session == SESSION),
        "{events:?}"
    );
    assert_eq!(w.session_state(SESSION), "locked");
    stop(fwd);
}

/// Without `-N` or a remote command the remote login shell gets `SSOAGENT_SOCKET` set, so
/// `credential_process = ssoagent-cred …` works there as it is: the shell reads its commands
/// from ssh's stdin here.
#[test]
fn the_remote_login_shell_gets_the_socket_and_the_shim_works_there() {
    use std::io::Write;
    let w = World::started();
    w.unlock();
    let sshd = Sshd::start(&w);
    let mut c = w.command(bin("ssoagentctl"));
    c.args(["--no-autostart", "forward", "127.0.0.1"])
        .args(sshd.ssh_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run ssoagentctl forward");
    let script = format!(
        "echo \"remote SSOAGENT_SOCKET=$SSOAGENT_SOCKET\"\n{} --profile dev\nexit\n",
        bin("ssoagent-cred").display()
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let mut lines = LineReader::new(child.stdout.take().unwrap());
    let printed = lines.wait_for("SSOAGENT_SOCKET=", COMMAND_TIMEOUT);
    let seen = lines.wait_for("remote SSOAGENT_SOCKET=", COMMAND_TIMEOUT);
    assert_eq!(seen.trim(), format!("remote {}", printed.trim()));
    let json = lines.wait_for("AccessKeyId", COMMAND_TIMEOUT);
    let creds: serde_json::Value = serde_json::from_str(json.trim()).expect("the shim's JSON");
    assert_eq!(creds["AccessKeyId"], w.creds("dev").access_key_id.as_str());
    stop(child);
}
