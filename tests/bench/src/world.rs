//! A benchmark world: a private HOME with an `~/.aws/config`, the IAM Identity Center emulator
//! (in-process, on its own thread), and a foreground `ssoagentd` started from the release
//! binaries next to the bench. Every child gets its environment explicitly, built from nothing.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use ssoagent_client::{AgentClient, proto};
pub use ssoagent_emulator::{Config, Emulator, Fault, Op};
use tempfile::TempDir;

/// How long one ctl command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the daemon may take to accept on its socket.
const DAEMON_START_TIMEOUT: Duration = Duration::from_secs(15);

pub const SESSION: &str = "work";
const START_URL: &str = "https://work.awsapps.com/start";
/// A second session, for the herd whose SSO token must be refreshed first.
pub const SHORT_SESSION: &str = "short";
const SHORT_START_URL: &str = "https://short.awsapps.com/start";

pub type Result<T> = std::result::Result<T, String>;

/// The release binaries the bench measures: the directory the bench itself was built into.
#[derive(Clone, Debug)]
pub struct Bins {
    pub dir: PathBuf,
    /// `ssoagent-cred` as installed: a copy of the build's, which every section runs (removed
    /// when the last clone goes).
    installed: std::sync::Arc<TempDir>,
}

impl Bins {
    /// The release binaries beside this bench. The shim is timed as a user runs it, installed:
    /// copied out of the target dir (as `packaging/install`, the .deb and `cargo install` do).
    /// The linker's own output file starts slower until the kernel drops its cached pages
    /// (measured: `--version` 0.82 ms in place, 0.71 ms as a copy of the same bytes).
    pub fn find() -> Result<Bins> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let dir = exe
            .parent()
            .ok_or("the bench binary has no parent directory")?
            .to_path_buf();
        for name in ["ssoagentd", "ssoagent-cred", "ssoagentctl"] {
            if !dir.join(name).is_file() {
                return Err(format!(
                    "{} is missing: run `cargo build --release --workspace --bins` first",
                    dir.join(name).display()
                ));
            }
        }
        let installed = tempfile::Builder::new()
            .prefix("ssoagent-bench-bin-")
            .tempdir()
            .map_err(|e| format!("a temp dir for the installed shim: {e}"))?;
        let to = installed.path().join("ssoagent-cred");
        fs::copy(dir.join("ssoagent-cred"), &to).map_err(|e| format!("{}: {e}", to.display()))?;
        Ok(Bins {
            dir,
            installed: installed.into(),
        })
    }

    pub fn daemon(&self) -> PathBuf {
        self.dir.join("ssoagentd")
    }
    pub fn cred(&self) -> PathBuf {
        self.installed.path().join("ssoagent-cred")
    }
    pub fn ctl(&self) -> PathBuf {
        self.dir.join("ssoagentctl")
    }
}

/// A profile of `~/.aws/config`: native SSO keys, which the daemon serves as they are.
pub fn profile_section(name: &str, session: &str, account: &str, role: &str) -> String {
    format!(
        "[profile {name}]\nsso_session = {session}\nsso_account_id = {account}\n\
         sso_role_name = {role}\nregion = eu-west-1\n\n"
    )
}

/// The `~/.aws/config` every world starts with: two sessions, and the profiles the sections use.
fn aws_config() -> String {
    let mut s = format!(
        "[sso-session {SESSION}]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n\n\
         [sso-session {SHORT_SESSION}]\nsso_start_url = {SHORT_START_URL}\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n\n"
    );
    for (name, session, account, role) in [
        ("shim", SESSION, "111111111111", "ReadOnly"),
        ("load", SESSION, "111111111111", "Admin"),
        ("herd", SESSION, "222222222222", "ReadOnly"),
        ("herd-refresh", SHORT_SESSION, "333333333333", "Developer"),
        ("edge", SESSION, "333333333333", "Developer"),
    ] {
        s.push_str(&profile_section(name, session, account, role));
    }
    s
}

pub struct World {
    pub emu: Emulator,
    pub bins: Bins,
    dir: TempDir,
    daemon: Option<Child>,
}

impl World {
    /// A world with the given emulator config and agent config (TOML), and a running daemon.
    pub fn start(bins: &Bins, mut emu_cfg: Config, agent_toml: &str) -> Result<World> {
        // Device logins are approved at the first poll.
        emu_cfg.approve_after_polls = 0;
        let emu = Emulator::start(emu_cfg).map_err(|e| format!("start the emulator: {e}"))?;
        let dir = tempfile::Builder::new()
            .prefix("ssoagent-bench-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let mut w = World {
            emu,
            bins: bins.clone(),
            dir,
            daemon: None,
        };
        fs::create_dir_all(w.path(".aws")).map_err(|e| e.to_string())?;
        fs::write(w.aws_config_path(), aws_config()).map_err(|e| e.to_string())?;
        let toml = format!("store = \"file\"\n{agent_toml}");
        fs::write(w.path("ssoagent.toml"), toml).map_err(|e| e.to_string())?;
        w.start_daemon()?;
        Ok(w)
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.home().join(rel)
    }

    pub fn aws_config_path(&self) -> PathBuf {
        self.path(".aws/config")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.path("run/agent.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.path("ssoagentd.log")
    }

    /// Appends text to `~/.aws/config` (the daemon notices the change on its next request).
    pub fn append_aws_config(&self, text: &str) -> Result<()> {
        let mut cur = fs::read_to_string(self.aws_config_path()).map_err(|e| e.to_string())?;
        cur.push_str(text);
        fs::write(self.aws_config_path(), cur).map_err(|e| e.to_string())
    }

    /// The environment of every child: built from nothing, so nothing of ours leaks in.
    pub fn envs(&self) -> BTreeMap<&'static str, OsString> {
        let url: OsString = self.emu.url().into();
        BTreeMap::from([
            (
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
            ),
            ("HOME", self.home().into()),
            ("TMPDIR", self.home().into()),
            ("AWS_CONFIG_FILE", self.aws_config_path().into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path(".aws/credentials").into(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL_SSO", url.clone()),
            ("AWS_ENDPOINT_URL_SSO_OIDC", url.clone()),
            ("AWS_ENDPOINT_URL_STS", url),
            ("SSOAGENT_SOCKET", self.socket_path().into()),
            ("SSOAGENT_STATE_DIR", self.path("state").into()),
            ("SSOAGENT_CONFIG", self.path("ssoagent.toml").into()),
            // Requests are not logged below debug; a benchmark measures the agent, not its log.
            ("SSOAGENT_LOG", "warn".into()),
            ("NO_COLOR", "1".into()),
        ])
    }

    /// A command with the world's environment and nothing else; stdin closed.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .envs(self.envs())
            .current_dir(self.home())
            .stdin(Stdio::null());
        c
    }

    /// `ssoagent-cred --profile P`, stdout and stderr piped.
    pub fn cred_command(&self, profile: &str) -> Command {
        let mut c = self.command(self.bins.cred());
        c.args(["--profile", profile])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn start_daemon(&mut self) -> Result<()> {
        let log = fs::File::create(self.log_path()).map_err(|e| e.to_string())?;
        let mut cmd = self.command(self.bins.daemon());
        cmd.stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let mut child = cmd.spawn().map_err(|e| format!("spawn ssoagentd: {e}"))?;
        let deadline = Instant::now() + DAEMON_START_TIMEOUT;
        while std::os::unix::net::UnixStream::connect(self.socket_path()).is_err() {
            if let Ok(Some(s)) = child.try_wait() {
                return Err(format!(
                    "ssoagentd exited at start ({s}); log:\n{}",
                    self.daemon_log()
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "ssoagentd did not accept within {DAEMON_START_TIMEOUT:?}; log:\n{}",
                    self.daemon_log()
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.daemon = Some(child);
        Ok(())
    }

    pub fn daemon_pid(&self) -> u32 {
        self.daemon.as_ref().expect("daemon running").id()
    }

    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `ssoagentctl --no-autostart unlock SESSION --device-code --no-browser`.
    pub fn unlock(&self, session: &str) -> Result<()> {
        let mut c = self.command(self.bins.ctl());
        c.args([
            "--no-autostart",
            "unlock",
            session,
            "--device-code",
            "--no-browser",
        ]);
        let (code, out, err) = run_capture(&mut c, COMMAND_TIMEOUT)?;
        if code != 0 {
            return Err(format!(
                "ssoagentctl unlock {session} exited {code}\n{out}{err}\ndaemon log:\n{}",
                self.daemon_log()
            ));
        }
        Ok(())
    }

    /// The daemon's resident set (VmRSS), in KiB.
    pub fn daemon_rss_kib(&self) -> Result<u64> {
        rss_kib(self.daemon_pid())
    }

    /// CPU time (user + system) the daemon has used so far.
    pub fn daemon_cpu(&self) -> Result<Duration> {
        let pid = self.daemon_pid();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|v| v.parse().ok())
            .collect();
        let [utime, stime] = f[..] else {
            return Err(format!("cannot read the CPU times in /proc/{pid}/stat"));
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Duration::from_micros((utime + stime) * 1_000_000 / hz))
    }

    /// A gRPC client on its own connection.
    pub async fn client(&self) -> Result<AgentClient> {
        let channel = ssoagent_client::connect(&self.socket_path())
            .await
            .map_err(|e| e.to_string())?;
        Ok(AgentClient::new(channel))
    }

    /// The session's token expiry as the daemon reports it (Unix seconds; 0 when none).
    pub async fn token_expires_at(&self, session: &str) -> Result<i64> {
        let status = self
            .client()
            .await?
            .status(proto::StatusRequest {})
            .await
            .map_err(|s| format!("Status: {}", s.message()))?
            .into_inner();
        status
            .sessions
            .iter()
            .find(|s| s.name == session)
            .map(|s| s.token_expires_at)
            .ok_or_else(|| format!("no session {session} in Status"))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        // SAFETY: kill on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// CPU time (user + system) this process (the bench, the load generator) has used so far.
pub fn own_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a local rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// VmHWM (peak resident set) of a running process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmHWM in /proc/{pid}/status"))
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// Runs a command to completion with a timeout; its exit code, stdout and stderr.
pub fn run_capture(cmd: &mut Command, timeout: Duration) -> Result<(i32, String, String)> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("run {cmd:?}: {e}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{cmd:?} did not finish within {timeout:?}"));
        }
        thread::sleep(Duration::from_millis(5));
    };
    Ok((
        status.code().unwrap_or(-1),
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    ))
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Checks stdout is one credential_process JSON object; returns its AccessKeyId.
pub fn check_credential_json(stdout: &[u8]) -> Result<String> {
    let v: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| format!("stdout is not JSON: {e}"))?;
    if v.get("Version") != Some(&serde_json::json!(1)) {
        return Err(format!("no \"Version\": 1 in {v}"));
    }
    for k in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        if v.get(k).and_then(|s| s.as_str()).is_none_or(str::is_empty) {
            return Err(format!("missing {k} in the credential JSON"));
        }
    }
    Ok(v["AccessKeyId"].as_str().unwrap_or_default().to_string())
}

/// How a child we reaped ended.
pub struct Reaped {
    /// The exit code; `128 + signal` when killed by a signal.
    pub code: i32,
}

/// Reaps the child `pid`; `None` with `nohang` when it is still running. The
/// `std::process::Child` must not be waited on after.
pub fn reap(pid: u32, nohang: bool) -> Result<Option<Reaped>> {
    let mut status = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: pid is a child of ours not reaped yet; status is valid for writes.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, flags) };
        if r == 0 {
            return Ok(None);
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("waitpid({pid}): {e}"));
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        return Ok(Some(Reaped { code }));
    }
}
