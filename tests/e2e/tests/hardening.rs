//! Clients trust only a daemon of their own user (issue 10, findings 2 and 4): a socket
//! squatted by another uid gets nothing, the default socket without `XDG_RUNTIME_DIR` is
//! private and under the user's own directories, and an autostarted daemon gets an
//! allow-listed environment and `/` as its working directory.
//!
//! The squatter runs as uid 65534 (through `setpriv`, so these tests need root, as CI has): it
//! is this test binary itself, re-run as the ignored test [`squatter`].

use std::{
    collections::BTreeSet,
    fs,
    io::{Read, Write},
    os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use ssoagent_e2e::*;

const NOBODY: u32 = 65534;
/// Tells the re-run test binary to be the squatter on this socket path.
const SQUAT_AT: &str = "SSOAGENT_E2E_SQUAT_AT";

// ----- the squatter -----

/// Not a test: the other user's listener. It creates the socket's directory (open to all, as
/// a squatter in `/tmp` would), listens, counts connections and bytes until its stdin closes,
/// then prints `SQUAT conns=N bytes=M`.
#[test]
#[ignore = "a helper the tests of this file run as uid 65534"]
fn squatter() {
    let Some(socket) = std::env::var_os(SQUAT_AT).map(PathBuf::from) else {
        return;
    };
    let dir = socket.parent().unwrap();
    fs::create_dir_all(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
    let _ = fs::remove_file(&socket);
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o777)).unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    {
        let (conns, bytes, open) = (conns.clone(), bytes.clone(), open.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                conns.fetch_add(1, Ordering::SeqCst);
                open.fetch_add(1, Ordering::SeqCst);
                let (bytes, open) = (bytes.clone(), open.clone());
                thread::spawn(move || {
                    // Read what the victim sends, answer nothing, hang up after 1 s of silence.
                    stream
                        .set_read_timeout(Some(Duration::from_secs(1)))
                        .unwrap();
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        bytes.fetch_add(n, Ordering::SeqCst);
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
    }
    println!("SQUAT ready");
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    let deadline = Instant::now() + Duration::from_secs(5);
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    println!(
        "SQUAT conns={} bytes={}",
        conns.load(Ordering::SeqCst),
        bytes.load(Ordering::SeqCst)
    );
    std::io::stdout().flush().unwrap();
}

/// uid 65534 listening at `socket` (see [`squatter`]).
struct Squatter {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: LineReader,
}

impl Squatter {
    fn start(w: &World, socket: &Path) -> Squatter {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = w.command("setpriv");
        cmd.arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .arg(&exe)
            .args(["--exact", "squatter", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(SQUAT_AT, socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("setpriv");
        let stdin = child.stdin.take();
        let mut lines = LineReader::new(child.stdout.take().unwrap());
        lines.wait_for("SQUAT ready", Duration::from_secs(20));
        let m = fs::symlink_metadata(socket).unwrap();
        assert!(m.file_type().is_socket() && m.uid() == NOBODY, "{m:?}");
        Squatter {
            child,
            stdin,
            lines,
        }
    }

    /// Stops listening; returns (connections accepted, bytes received).
    fn finish(mut self) -> (usize, usize) {
        drop(self.stdin.take());
        let line = self.lines.wait_for("SQUAT conns=", Duration::from_secs(20));
        let num = |key: &str| -> usize {
            let rest = &line[line.find(key).unwrap() + key.len()..];
            rest.split_whitespace().next().unwrap().parse().unwrap()
        };
        (num("conns="), num("bytes="))
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A world-writable sticky directory, like `/tmp`, where both users can create things.
fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("ssoagent-shared-")
        .tempdir()
        .unwrap();
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    // The squatter must reach it: every ancestor searchable by others.
    let mut p = d.path().parent();
    while let Some(dir) = p {
        let mode = fs::metadata(dir).unwrap().mode();
        assert!(mode & 0o001 != 0, "{} is not searchable", dir.display());
        p = dir.parent();
    }
    d
}

/// The name of uid 65534 in /etc/passwd, if it has one.
fn nobody_name() -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == NOBODY.to_string()).then(|| f[0].to_string())
    })
}

fn my_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

#[track_caller]
fn assert_names_the_squatter(out: &Out) {
    out.assert_failure(4, &[&format!("uid {NOBODY}"), "nothing was sent"]);
    if let Some(name) = nobody_name() {
        assert!(
            out.stderr.contains(&format!("uid {NOBODY} ({name})")),
            "the owner's name too:\n{out:?}"
        );
    }
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one line on stderr:\n{out:?}"
    );
}

// ----- finding 2: clients trust any socket at the path -----

#[test]
fn a_socket_in_another_users_directory_gets_nothing() {
    require_root("a_socket_in_another_users_directory_gets_nothing");
    let mut w = World::new();
    let shared = shared_dir();
    // What uid 65534 did to the old default, $TMPDIR/ssoagent-$UID/agent.sock.
    let socket = shared
        .path()
        .join(format!("ssoagent-{}", my_uid()))
        .join("agent.sock");
    let squat = Squatter::start(&w, &socket);
    w.set_env("SSOAGENT_SOCKET", &socket);

    let cred = w.cred(&["--profile", "dev"]);
    let status = w.ctl(&["status"]);
    // With autostart on, the ctl must not start a daemon either (nor report one running).
    let started = w.ctl_autostart(&["start"]);
    let (conns, bytes) = squat.finish();

    assert_eq!(bytes, 0, "the squatter received {bytes} bytes");
    assert_eq!(
        conns, 0,
        "clients connected to a socket in another user's directory"
    );
    assert_names_the_squatter(&cred);
    assert!(cred.stderr.contains("belongs to"), "{cred:?}");
    assert_names_the_squatter(&status);
    assert_names_the_squatter(&started);
    assert!(
        !w.state_dir().join("ssoagentd.log").exists(),
        "no daemon was started"
    );
}

#[test]
fn a_socket_served_by_another_uid_gets_nothing() {
    require_root("a_socket_served_by_another_uid_gets_nothing");
    let w = World::new();
    let shared = shared_dir();
    let theirs = shared.path().join("theirs").join("agent.sock");
    let squat = Squatter::start(&w, &theirs);
    // Our own private directory, but the socket in it leads to the other user's listener: only
    // the peer credentials can tell.
    let run = w.socket_path().parent().unwrap().to_path_buf();
    fs::create_dir(&run).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&theirs, w.socket_path()).unwrap();

    let cred = w.cred(&["--profile", "dev"]);
    let status = w.ctl(&["status"]);
    let (conns, bytes) = squat.finish();

    assert_eq!(bytes, 0, "the squatter received {bytes} bytes");
    assert!(
        conns >= 1,
        "the clients did reach the listener (conns={conns})"
    );
    assert_names_the_squatter(&cred);
    assert!(cred.stderr.contains("runs as"), "{cred:?}");
    assert_names_the_squatter(&status);
}

/// Stops a daemon that the ctl autostarted on a socket the World does not know, on Drop.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        let Ok(f) = fs::File::open(&self.0) else {
            return;
        };
        // SAFETY: flock on a descriptor we own.
        let free = || unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
        if free() {
            return;
        }
        if let Ok(pid) = fs::read_to_string(&self.0)
            .unwrap_or_default()
            .trim()
            .parse()
        {
            signal(pid, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !free() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Without `XDG_RUNTIME_DIR` (and `SSOAGENT_SOCKET`), `ssoagentctl start` puts the socket in a
/// private directory under the user's own dirs: `<state dir>/run/`, or `~/.ssoagent/` where
/// that path would be too long for a socket; never in `$TMPDIR`.
#[test]
fn without_xdg_runtime_dir_the_default_socket_is_private_and_ours() {
    let w = World::new();
    let shared = shared_dir();
    let home = w.home().to_path_buf();
    let long_state = home.join("s".repeat(100));
    let cases = [
        // The platform state dir (no SSOAGENT_STATE_DIR): ~/.local/state/ssoagent.
        (
            None,
            home.join(".local/state/ssoagent/run/agent.sock"),
            home.join(".local/state/ssoagent/ssoagentd.log"),
        ),
        // A state dir too deep for a socket path (sun_path is 108 bytes).
        (
            Some(long_state.clone()),
            home.join(".ssoagent/agent.sock"),
            long_state.join("ssoagentd.log"),
        ),
    ];
    for (state_dir, socket, log) in cases {
        let run = |args: &[&str]| {
            let mut c = w.command(bin("ssoagentctl"));
            c.env_remove("XDG_RUNTIME_DIR")
                .env_remove("SSOAGENT_SOCKET")
                .env_remove("SSOAGENT_STATE_DIR")
                .env("TMPDIR", shared.path())
                .args(args);
            if let Some(s) = &state_dir {
                c.env("SSOAGENT_STATE_DIR", s);
            }
            run_with_timeout(&mut c, COMMAND_TIMEOUT)
        };
        let _stop = StopOnDrop(socket.with_file_name("agent.sock.pid"));
        let out = run(&["start"]);
        out.assert_ok();
        assert!(
            fs::read_dir(shared.path()).unwrap().next().is_none(),
            "the daemon put something in the shared TMPDIR: {:?}",
            fs::read_dir(shared.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect::<Vec<_>>()
        );
        let m = fs::symlink_metadata(&socket)
            .unwrap_or_else(|e| panic!("no socket at {}: {e}\n{out:?}", socket.display()));
        assert!(m.file_type().is_socket(), "{}", socket.display());
        assert_eq!(m.mode() & 0o777, 0o600, "socket mode");
        assert_eq!(m.uid(), my_uid());
        let dir = socket.parent().unwrap();
        let d = fs::symlink_metadata(dir).unwrap();
        assert!(d.is_dir() && d.uid() == my_uid(), "{}", dir.display());
        assert_eq!(d.mode() & 0o777, 0o700, "{} mode", dir.display());
        // Every directory from HOME down is ours and nobody else can write to it.
        let mut p = Some(dir);
        while let Some(d) = p.filter(|d| d.starts_with(&home)) {
            let m = fs::symlink_metadata(d).unwrap();
            assert!(
                m.is_dir() && m.uid() == my_uid() && m.mode() & 0o022 == 0,
                "{} must be a directory of ours that only we can write (mode {:o})",
                d.display(),
                m.mode() & 0o7777
            );
            p = d.parent();
        }
        assert!(
            out.stdout.contains(&log.display().to_string()),
            "the daemon's state dir is the socket's: {}\n{out:?}",
            log.display()
        );
        // The clients find it through the same default, and their checks pass.
        run(&["status"]).assert_ok();
        let mut c = w.command(bin("ssoagent-cred"));
        c.env_remove("XDG_RUNTIME_DIR")
            .env_remove("SSOAGENT_SOCKET")
            .env_remove("SSOAGENT_STATE_DIR")
            .args(["--profile", "dev"]);
        if let Some(s) = &state_dir {
            c.env("SSOAGENT_STATE_DIR", s);
        }
        run_with_timeout(&mut c, COMMAND_TIMEOUT).assert_failure(3, &["ssoagentctl unlock work"]);
        run(&["stop"]).assert_ok();
        assert!(!socket.exists(), "the daemon removes its socket at exit");
    }
}

// ----- finding 4: an autostarted daemon inherits the shell's environment and cwd -----

/// The names an autostarted daemon may see (DESIGN.md, Environment).
fn allowed(name: &str) -> bool {
    [
        "HOME",
        "PATH",
        "USER",
        "LOGNAME",
        "LANG",
        "TZ",
        "TMPDIR",
        "DBUS_SESSION_BUS_ADDRESS",
        "AWS_CONFIG_FILE",
        "AWS_ENDPOINT_URL_SSO",
        "AWS_ENDPOINT_URL_SSO_OIDC",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY",
        "AWS_ENDPOINT_URL_SIGNIN",
    ]
    .contains(&name)
        || ["XDG_", "SSOAGENT_", "LC_"]
            .iter()
            .any(|p| name.starts_with(p))
}

#[test]
fn an_autostarted_daemon_gets_an_allow_listed_environment_and_root_as_cwd() {
    let w = World::new();
    let project = w.path("project");
    fs::create_dir(&project).unwrap();
    let pidfile = w.path("run/agent.sock.pid");
    let starters: [(&str, &[&str]); 2] = [
        ("ssoagentctl", &["start"]),
        ("ssoagent-cred", &["--autostart", "--profile", "dev"]),
    ];
    for (program, args) in starters {
        let mut c = w.command(bin(program));
        c.args(args)
            .current_dir(&project)
            // A shell pointed at LocalStack, a secret, a profile: none is the daemon's business.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("FOO_SECRET", "x")
            .env("AWS_PROFILE", "x")
            .env("LC_ALL", "C");
        let out = run_with_timeout(&mut c, COMMAND_TIMEOUT);
        assert!(
            [0, 3].contains(&out.code),
            "{program} started the daemon:\n{out:?}"
        );
        let pid: u32 = fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
        let names: BTreeSet<String> = environ
            .split(|&b| b == 0)
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                kv.split('=').next().unwrap().to_string()
            })
            .collect();
        let extra: Vec<&String> = names.iter().filter(|n| !allowed(n)).collect();
        assert!(
            extra.is_empty(),
            "{program}: the daemon inherited {extra:?} (all: {names:?})"
        );
        for needed in [
            "HOME",
            "PATH",
            "SSOAGENT_SOCKET",
            "SSOAGENT_STATE_DIR",
            "SSOAGENT_CONFIG",
            "AWS_CONFIG_FILE",
            "AWS_ENDPOINT_URL_SSO",
            "AWS_ENDPOINT_URL_SSO_OIDC",
            "XDG_RUNTIME_DIR",
            "LC_ALL",
        ] {
            assert!(
                names.contains(needed),
                "{program}: {needed} missing: {names:?}"
            );
        }
        let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
        assert_eq!(
            cwd,
            Path::new("/"),
            "{program}: the daemon's working directory"
        );
        // And it works with that environment.
        w.unlock();
        w.creds("dev");
        w.ctl(&["stop"]).assert_ok();
    }
}
