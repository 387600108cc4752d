//! Helpers shared by the end-to-end tests: a [`World`] is a private HOME with an
//! `~/.aws/config`, an IAM Identity Center emulator, and (usually) a running `ssoagentd`, with
//! helpers to run `ssoagent-cred` and `ssoagentctl` the way a user would.
//!
//! Nothing here touches the test process's own environment: tests run in parallel, so every
//! child gets its environment explicitly (starting from an empty one).
//!
//! Unix only (the tests drive the Linux binaries); a Windows build of the workspace finds this
//! crate empty.
#![cfg(unix)]

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fs,
    io::Read,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::OnceLock,
    thread,
    time::{Duration, Instant, SystemTime},
};

pub use ssoagent_emulator::{Config, Emulator, Fault, Op};
use tempfile::TempDir;

pub mod audit_log;
pub mod aws_cli;
pub mod persistence;
pub mod secret_service;

pub mod chain;
pub mod notifications;
pub mod oidc;
pub mod robust;
pub mod terminal;

/// How long any single command may take before the test gives up on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the daemon may take to answer on its socket after it is started: a bound for giving
/// up, not a speed check (on a loaded 2-core machine a debug daemon with a 20 MiB config took
/// over 10 s).
pub const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `presence` a World's agent config gets unless the test sets one: tests written before
/// human presence unlock by reuse from processes with no terminal, so they run as on a
/// machine where every local process is trusted. Tests of presence set `presence` themselves
/// (see [`World::write_agent_config`]).
pub const HARNESS_PRESENCE: &str = "presence = \"none\"\n";

/// The session every World's config defines.
pub const SESSION: &str = "work";
pub const START_URL: &str = "https://work.awsapps.com/start";

/// A directory of the built binaries (`target/<profile>`), found from the test executable
/// (`target/<profile>/deps/<test>-<hash>`).
/// The repository's root. From the runtime `CARGO_MANIFEST_DIR` (cargo and nextest set it for
/// every test process), not the compile-time one: CI builds in a fresh clone per run against a
/// shared target dir, and a test binary compiled in an earlier clone would point at a folder
/// that is gone.
pub fn repo_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.join("../..")
}

pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps")
            .to_path_buf();
        for name in ["ssoagentd", "ssoagent-cred", "ssoagentctl"] {
            assert!(
                dir.join(name).is_file(),
                "{} is missing: run `cargo build --workspace --bins` first",
                dir.join(name).display()
            );
        }
        dir
    })
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// What a finished command left behind.
#[derive(Clone)]
pub struct Out {
    /// The exit code; `-signal` when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "command failed:\n{self:?}");
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code:\n{self:?}");
        self
    }

    /// Asserts the shape of a credential_process failure: nothing on stdout, the exit code, and
    /// a stderr containing every one of `needles`.
    #[track_caller]
    pub fn assert_failure(&self, code: i32, needles: &[&str]) -> &Self {
        self.assert_code(code);
        assert!(
            self.stdout.trim().is_empty(),
            "a failure must print nothing on stdout:\n{self:?}"
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr should mention {n:?}:\n{self:?}"
            );
        }
        self
    }
}

pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| -status.signal().unwrap_or(0))
}

/// Runs `cmd` to completion (stdin closed), killing it if it takes longer than `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let out_t = thread::spawn(move || read_all(out));
    let err_t = thread::spawn(move || read_all(err));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; stderr so far:\n{}",
                err_t.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    Out {
        code: exit_code(status),
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

pub(crate) fn read_all(mut r: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sleeps until the wall clock is past `t`.
pub fn sleep_until(t: SystemTime) {
    if let Ok(d) = t.duration_since(SystemTime::now()) {
        thread::sleep(d);
    }
}

/// Sends `signal` to a process we started.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill with a pid of a child we spawned and have not reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Fails a test that needs a second uid (through `setpriv`) unless it runs as root: such a
/// test never passes by skipping.
pub fn require_root(test: &str) {
    assert!(
        is_root(),
        "{test} runs a process as a second uid, which needs root: run the tests as root \
         (sudo tests/run)"
    );
}

/// The credential_process JSON `ssoagent-cred` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
}

impl Creds {
    /// Parses stdout, asserting it is exactly one JSON object of the credential_process shape.
    #[track_caller]
    pub fn parse(out: &Out) -> Creds {
        let mut stream =
            serde_json::Deserializer::from_str(&out.stdout).into_iter::<serde_json::Value>();
        let v = match stream.next() {
            Some(Ok(v)) => v,
            other => panic!("stdout is not a JSON object ({other:?}):\n{out:?}"),
        };
        assert!(
            stream.next().is_none(),
            "stdout must hold exactly one JSON object:\n{out:?}"
        );
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object:\n{out:?}"));
        assert_eq!(obj.get("Version"), Some(&serde_json::json!(1)), "{out:?}");
        let field = |k: &str| -> String {
            obj.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| panic!("missing or empty {k}:\n{out:?}"))
                .to_string()
        };
        Creds {
            access_key_id: field("AccessKeyId"),
            secret_access_key: field("SecretAccessKey"),
            session_token: field("SessionToken"),
            expiration: field("Expiration"),
        }
    }

    /// The expiration as a time, asserting the RFC 3339 UTC form ("...Z").
    #[track_caller]
    pub fn expires_at(&self) -> SystemTime {
        assert!(
            self.expiration.ends_with('Z'),
            "Expiration must be RFC 3339 UTC ending in Z: {}",
            self.expiration
        );
        parse_rfc3339_utc(&self.expiration)
            .unwrap_or_else(|| panic!("Expiration is not RFC 3339: {}", self.expiration))
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac]Z`.
pub fn parse_rfc3339_utc(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let time = time.split('.').next()?;
    let mut t = time.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if t.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// The default `~/.aws/config` of a World: one `[sso-session work]` and a native SSO profile
/// `dev` (account 111111111111, ReadOnly).
pub fn default_aws_config() -> String {
    format!(
        "[sso-session {SESSION}]\n\
         sso_start_url = {START_URL}\n\
         sso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n\
         \n\
         [profile dev]\n\
         sso_session = {SESSION}\n\
         sso_account_id = 111111111111\n\
         sso_role_name = ReadOnly\n\
         region = eu-west-1\n"
    )
}

/// A running `ssoagentd` we started in the foreground (as systemd would).
pub struct Daemon {
    child: Child,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait (bounded); SIGKILL if it does not stop. Returns its exit code.
    pub fn stop(mut self) -> i32 {
        self.terminate()
    }

    fn terminate(&mut self) -> i32 {
        if let Ok(Some(s)) = self.child.try_wait() {
            return exit_code(s);
        }
        signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return exit_code(s);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "ssoagentd (pid {}) did not stop within 10 s of SIGTERM",
                    self.child.id()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A user's world: a temp HOME with `.aws/config`, the emulator, and the agent's env.
pub struct World {
    pub emu: Emulator,
    dir: TempDir,
    /// Extra environment for every child (overrides the defaults).
    env: BTreeMap<String, OsString>,
    /// Extra environment for daemons started by [`World::start_daemon`] only (`None` removes).
    daemon_env: BTreeMap<String, Option<OsString>>,
    pub daemon: Option<Daemon>,
    /// `SSOAGENT_LOG` for daemons started from now on.
    pub log_filter: String,
    /// How many daemons were started (each gets its own log file).
    starts: usize,
    /// The open-files limit (soft and hard) of daemons started from now on, when set.
    daemon_open_files: Option<u64>,
}

impl World {
    /// A World with the default emulator config (approving device logins at the first poll)
    /// and no daemon yet.
    pub fn new() -> World {
        World::with(Config::default())
    }

    /// A World with the given emulator config and no daemon yet.
    pub fn with(mut cfg: Config) -> World {
        // Approve device logins at the first poll: unlocks take no poll interval.
        cfg.approve_after_polls = 0;
        let emu = Emulator::start(cfg).expect("start the emulator");
        let dir = tempfile::Builder::new()
            .prefix("ssoagent-e2e-")
            .tempdir()
            .expect("temp dir");
        let w = World {
            emu,
            dir,
            env: BTreeMap::new(),
            daemon_env: BTreeMap::new(),
            daemon: None,
            log_filter: "debug".into(),
            starts: 0,
            daemon_open_files: None,
        };
        fs::create_dir_all(w.home().join(".aws")).unwrap();
        fs::DirBuilder::new()
            .mode(0o700)
            .create(w.path("xdg-runtime"))
            .unwrap();
        w.write_aws_config(&default_aws_config());
        w.write_agent_config("store = \"file\"\n");
        w.write_script(
            "fake-browser",
            &format!("#!/bin/sh\n{NEED_CURL}exec /usr/bin/curl -sS -L -o /dev/null \"$1\"\n"),
        );
        w
    }

    /// A World (default emulator) with a running daemon.
    pub fn started() -> World {
        let mut w = World::new();
        w.start_daemon();
        w
    }

    /// A World with the given emulator config and a running daemon.
    pub fn started_with(cfg: Config) -> World {
        let mut w = World::with(cfg);
        w.start_daemon();
        w
    }

    // ----- paths -----

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.home().join(rel)
    }

    pub fn aws_config_path(&self) -> PathBuf {
        self.path(".aws/config")
    }

    pub fn agent_config_path(&self) -> PathBuf {
        self.path("ssoagent.toml")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.path("run/agent.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn fake_browser(&self) -> PathBuf {
        self.path("fake-browser")
    }

    /// The log of the daemon started most recently by [`World::start_daemon`].
    pub fn daemon_log_path(&self) -> PathBuf {
        self.path(&format!("ssoagentd.{}.log", self.starts.max(1)))
    }

    /// Every daemon log this World's started daemons wrote, concatenated (ANSI colours removed).
    pub fn daemon_logs(&self) -> String {
        let mut all = String::new();
        for i in 1..=self.starts {
            all.push_str(
                &fs::read_to_string(self.path(&format!("ssoagentd.{i}.log"))).unwrap_or_default(),
            );
        }
        strip_ansi(&all)
    }

    // ----- files -----

    pub fn write_aws_config(&self, text: &str) {
        fs::write(self.aws_config_path(), text).unwrap();
    }

    /// Writes the agent config (`$SSOAGENT_CONFIG`); without a `presence` key it gets
    /// [`HARNESS_PRESENCE`].
    pub fn write_agent_config(&self, toml: &str) {
        let mut toml = toml.to_string();
        if !toml.lines().any(|l| l.trim_start().starts_with("presence")) {
            toml.push_str(HARNESS_PRESENCE);
        }
        fs::write(self.agent_config_path(), toml).unwrap();
    }

    pub fn append_aws_config(&self, text: &str) {
        let mut cur = fs::read_to_string(self.aws_config_path()).unwrap_or_default();
        cur.push('\n');
        cur.push_str(text);
        self.write_aws_config(&cur);
    }

    /// Writes an executable script into the World's dir and returns its path.
    pub fn write_script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// The token files of the file store (`state/tokens/*.json`).
    pub fn token_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.state_dir().join("tokens"))
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "json"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every secret string in the token files: access and refresh tokens, client secrets.
    pub fn stored_secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.token_files() {
            let v: serde_json::Value = serde_json::from_slice(&fs::read(&f).unwrap())
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", f.display()));
            collect_secrets(&v, &mut out);
        }
        out
    }

    // ----- environment -----

    /// Sets an environment variable for every child started from now on.
    pub fn set_env(&mut self, key: &str, val: impl Into<OsString>) {
        self.env.insert(key.into(), val.into());
    }

    /// Sets (`Some`) or removes (`None`) an environment variable for daemons started from now
    /// on by [`World::start_daemon`] or run with [`World::daemon_command`], not for the clients.
    pub fn set_daemon_env(&mut self, key: &str, val: Option<OsString>) {
        self.daemon_env.insert(key.into(), val);
    }

    /// Daemons started from now on get this open-files limit (soft and hard).
    pub fn set_daemon_open_files(&mut self, n: u64) {
        self.daemon_open_files = Some(n);
    }

    /// An `ssoagentd` command with the World's environment plus the daemon-only one. Its
    /// `XDG_RUNTIME_DIR` is a private empty dir unless set otherwise, so a D-Bus client in the
    /// daemon never falls back to the runner's own session bus (and its real keyring).
    pub fn daemon_command(&self) -> Command {
        let mut c = self.command(bin("ssoagentd"));
        if !self.env.contains_key("XDG_RUNTIME_DIR") {
            let runtime = self.path("xdg-runtime");
            let _ = fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&runtime);
            c.env("XDG_RUNTIME_DIR", runtime);
        }
        for (k, v) in &self.daemon_env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(n) = self.daemon_open_files {
            use std::os::unix::process::CommandExt;
            let lim = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                c.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        c
    }

    /// The environment of every child: built from nothing, so nothing of the test runner's
    /// (AWS_PROFILE, AWS_ACCESS_KEY_ID, XDG_RUNTIME_DIR, a real BROWSER...) leaks in.
    pub fn envs(&self) -> BTreeMap<String, OsString> {
        let mut e: BTreeMap<String, OsString> = BTreeMap::new();
        let mut set = |k: &str, v: OsString| {
            e.insert(k.to_string(), v);
        };
        set(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        );
        set("HOME", self.home().into());
        set("TMPDIR", self.home().into());
        set("AWS_CONFIG_FILE", self.aws_config_path().into());
        set(
            "AWS_SHARED_CREDENTIALS_FILE",
            self.path(".aws/credentials").into(),
        );
        set("AWS_EC2_METADATA_DISABLED", "true".into());
        set("AWS_ENDPOINT_URL_SSO", self.emu.url().into());
        set("AWS_ENDPOINT_URL_SSO_OIDC", self.emu.url().into());
        set("AWS_ENDPOINT_URL_STS", self.emu.url().into());
        // A private, empty runtime dir: no child (an autostarted or socket-activated daemon
        // included) may find the developer's real session bus and keyring.
        set("XDG_RUNTIME_DIR", self.path("xdg-runtime").into());
        set("SSOAGENT_SOCKET", self.socket_path().into());
        set("SSOAGENT_STATE_DIR", self.state_dir().into());
        set("SSOAGENT_CONFIG", self.agent_config_path().into());
        set("SSOAGENT_LOG", self.log_filter.clone().into());
        set("BROWSER", self.fake_browser().into());
        set("NO_COLOR", "1".into());
        set("RUST_BACKTRACE", "1".into());
        for (k, v) in &self.env {
            e.insert(k.clone(), v.clone());
        }
        e
    }

    /// A command with the World's environment (and nothing else).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().envs(self.envs()).current_dir(self.home());
        c
    }

    // ----- the daemon -----

    /// Starts `ssoagentd` in the foreground with stderr to `ssoagentd.N.log` and waits until its
    /// socket accepts connections.
    pub fn start_daemon(&mut self) {
        assert!(self.daemon.is_none(), "a daemon is already running");
        self.starts += 1;
        let log = self.daemon_log_path();
        let f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = self.daemon_command();
        cmd.stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f);
        let child = cmd.spawn().expect("spawn ssoagentd");
        let mut d = Daemon { child };
        let deadline = Instant::now() + DAEMON_START_TIMEOUT;
        loop {
            if std::os::unix::net::UnixStream::connect(self.socket_path()).is_ok() {
                break;
            }
            if let Ok(Some(s)) = d.child.try_wait() {
                panic!(
                    "ssoagentd exited at start ({s}); log:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = d.child.kill();
                panic!(
                    "ssoagentd did not accept on {} within {DAEMON_START_TIMEOUT:?}; log:\n{}",
                    self.socket_path().display(),
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.daemon = Some(d);
    }

    /// SIGTERMs the daemon we started and waits until it is gone; returns its exit code.
    pub fn stop_daemon(&mut self) -> i32 {
        self.daemon.take().expect("no daemon running").stop()
    }

    pub fn restart_daemon(&mut self) {
        let code = self.stop_daemon();
        assert_eq!(code, 0, "ssoagentd should exit 0 on SIGTERM");
        self.start_daemon();
    }

    // ----- the clients -----

    /// `ssoagent-cred ARGS` with the World's environment.
    pub fn cred(&self, args: &[&str]) -> Out {
        self.cred_with(args, &[])
    }

    /// `ssoagent-cred ARGS` with extra environment variables.
    pub fn cred_with(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = self.command(bin("ssoagent-cred"));
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        run_with_timeout(&mut c, COMMAND_TIMEOUT)
    }

    /// Role credentials for `profile`, asserting the shim's success contract.
    #[track_caller]
    pub fn creds(&self, profile: &str) -> Creds {
        let out = self.cred(&["--profile", profile]);
        out.assert_ok();
        assert!(
            out.stderr.is_empty(),
            "ssoagent-cred must print nothing on stderr on success:\n{out:?}"
        );
        Creds::parse(&out)
    }

    /// `ssoagentctl --no-autostart ARGS`.
    pub fn ctl(&self, args: &[&str]) -> Out {
        let mut all = vec!["--no-autostart"];
        all.extend_from_slice(args);
        self.ctl_autostart(&all)
    }

    /// `ssoagentctl ARGS` as given (autostart allowed unless ARGS say otherwise), with no
    /// controlling terminal (as a robot runs it), whatever the test runner has.
    pub fn ctl_autostart(&self, args: &[&str]) -> Out {
        let mut c = self.command(bin("ssoagentctl"));
        c.args(args);
        terminal::without_terminal(&mut c);
        run_with_timeout(&mut c, COMMAND_TIMEOUT)
    }

    /// `ssoagentctl --no-autostart ARGS` at a terminal whose human types `answer` once the
    /// terminal shows `[y/N]`.
    pub fn ctl_at_terminal(&self, args: &[&str], answer: &str) -> terminal::AtTerminal {
        let mut c = self.command(bin("ssoagentctl"));
        c.arg("--no-autostart").args(args);
        terminal::run_at_terminal(&mut c, "[y/N]", answer, COMMAND_TIMEOUT)
    }

    /// `ssoagentctl unlock work --device-code --no-browser`, asserting success.
    #[track_caller]
    pub fn unlock(&self) -> Out {
        let out = self.ctl(&["unlock", SESSION, "--device-code", "--no-browser"]);
        out.assert_ok();
        out
    }

    /// `ssoagentctl status --json`, parsed.
    #[track_caller]
    pub fn status_json(&self) -> serde_json::Value {
        let out = self.ctl(&["status", "--json"]);
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{out:?}"))
    }

    /// The state of a session as `status --json` reports it.
    #[track_caller]
    pub fn session_state(&self, session: &str) -> String {
        let v = self.status_json();
        v["sessions"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == session))
            .and_then(|s| s["state"].as_str())
            .unwrap_or_else(|| panic!("no session {session} in status:\n{v:#}"))
            .to_string()
    }

    /// Stops a daemon that `ssoagentctl` autostarted (found through the pidfile lock), if one
    /// still runs. Used on Drop so a failing autostart test leaves nothing behind.
    fn stop_autostarted(&self) {
        use std::os::fd::AsRawFd;
        let pidfile = self.path("run/agent.sock.pid");
        let Ok(f) = fs::File::open(&pidfile) else {
            return;
        };
        // SAFETY: flock on a descriptor we own.
        let locked = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } != 0;
        if !locked {
            return;
        }
        let Ok(pid) = fs::read_to_string(&pidfile)
            .unwrap_or_default()
            .trim()
            .parse::<u32>()
        else {
            return;
        };
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // SAFETY: as above.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        signal(pid, libc::SIGKILL);
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            drop(d);
        }
        self.stop_autostarted();
        if thread::panicking() {
            eprintln!(
                "===== daemon logs of the failed test =====\n{}",
                self.daemon_logs()
            );
            let auto = self.state_dir().join("ssoagentd.log");
            if let Ok(t) = fs::read_to_string(auto) {
                eprintln!("===== autostarted daemon log =====\n{t}");
            }
            eprintln!("===== emulator calls: {:?}", self.emu.all_calls());
        }
    }
}

fn collect_secrets(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if let Some(s) = v.as_str() {
                    if ["access_token", "refresh_token", "client_secret"].contains(&k.as_str()) {
                        out.push(s.to_string());
                    }
                } else {
                    collect_secrets(v, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_secrets(v, out)),
        _ => {}
    }
}

/// Removes ANSI colour sequences (`ESC [ ... m`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads a child's stderr line by line on a thread; [`LineReader::wait_for`] waits (bounded)
/// for a line containing a needle.
pub struct LineReader {
    rx: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl LineReader {
    pub fn new(r: impl Read + Send + 'static) -> LineReader {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineReader {
            rx,
            seen: Vec::new(),
        }
    }

    /// The first line (from now on) containing `needle`.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line containing {needle:?} within {timeout:?} ({e}); saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// What is left, until the writer closes (bounded).
    pub fn rest(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while let Ok(line) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

/// The fake browsers' first line: without curl a login would wait for an approval that never
/// comes, so say what is missing where the test's failure shows it (the ctl's stderr).
pub const NEED_CURL: &str = "[ -x /usr/bin/curl ] || { echo 'fake browser: /usr/bin/curl not \
found; install it with: apt-get install curl (tests/run does, as root)' >&2; exit 127; }\n";

/// How to get the Python the SDK tests run, for failure messages.
pub const PYTHON_HINT: &str = "run the tests through tests/run (it makes a virtualenv with boto3 \
under the target dir and sets SSOAGENT_TEST_PYTHON), or: python3 -m venv DIR && \
DIR/bin/pip install boto3 && export SSOAGENT_TEST_PYTHON=DIR/bin/python3";

/// The Python interpreter with boto3 that the tests where a real AWS SDK consumes our output
/// run: `$SSOAGENT_TEST_PYTHON`. Unset, missing or without boto3, the test fails and says how
/// to get one; it never passes by skipping.
pub fn python_with_boto3(test: &str) -> String {
    let python = match std::env::var("SSOAGENT_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "{test} needs a Python with boto3: SSOAGENT_TEST_PYTHON is not set; {PYTHON_HINT}"
        ),
    };
    let found = Command::new(&python)
        .args(["-c", "import boto3, botocore"])
        .output();
    match found {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "{test} needs boto3, which SSOAGENT_TEST_PYTHON={python} cannot import: {}; {PYTHON_HINT}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("{test}: cannot run SSOAGENT_TEST_PYTHON={python}: {e}; {PYTHON_HINT}"),
    }
}

/// A launchd plist parsed with Python's plistlib (the reference parser here), as JSON.
pub fn parse_plist(dir: &Path, xml: &str) -> serde_json::Value {
    let file = dir.join("agent.plist");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))",
        ])
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "not a plist: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses() {
        let t = parse_rfc3339_utc("2026-11-26T10:00:00Z").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_795_687_200);
        assert!(parse_rfc3339_utc("1970-01-01T00:00:00Z").is_some());
        assert!(parse_rfc3339_utc("2026-11-26T10:00:00+01:00").is_none());
        assert!(parse_rfc3339_utc("2026-13-26T10:00:00Z").is_none());
    }

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(strip_ansi("\u{1b}[2mx\u{1b}[0m y"), "x y");
    }
}
