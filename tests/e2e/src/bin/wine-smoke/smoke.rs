//! The Windows binaries in DIR (`ssoagentd.exe`, `ssoagentctl.exe`,
//! `ssoagent-cred.exe`, built by `../shared/windows/cargo-windows`) under Wine, against the
//! Linux emulator on 127.0.0.1, as a Windows user would run them: the daemon autostarted
//! detached on its named pipe, a second daemon refused, a device-code unlock, credential_process
//! JSON, status, lock → exit 3, the file store's token file, the keyring store (Credential
//! Manager), `service install --dry-run`, the AppData default paths, then stop. Prints one line
//! per step with its time; exits 1 at the first step that fails, naming it. `tests/windows/run`
//! runs it after the Linux suite.
//!
//! Wine runs every process as one user, so the pipe's refusals of another user's client or
//! server (DACL, SID checks) cannot be exercised here: only that our own user is accepted.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use ssoagent_e2e::{START_URL, World};

struct Smoke {
    world: World,
    exes: PathBuf,
    wine_run: PathBuf,
    pipe: String,
    /// Files the children write their output to (a pipe would stay open as long as the
    /// detached daemon, which inherits the Wine process's descriptors, runs).
    out_dir: tempfile::TempDir,
    runs: usize,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A Linux path as Wine's programs see it (drive Z: is `/`).
fn win(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

fn fail(step: &str, why: impl std::fmt::Display) -> ! {
    eprintln!("wine-smoke: FAILED: {step}: {why}");
    std::process::exit(1);
}

impl Smoke {
    fn new(exes: PathBuf) -> Smoke {
        for exe in ["ssoagentd.exe", "ssoagentctl.exe", "ssoagent-cred.exe"] {
            if !exes.join(exe).is_file() {
                fail("setup", format!("{} is missing", exes.join(exe).display()));
            }
        }
        let tools = std::env::var_os("SSOAGENT_WINDOWS_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| ssoagent_e2e::repo_root().join("../shared/windows"));
        let world = World::new();
        world.write_agent_config("store = \"file\"\npresence = \"none\"\n");
        // The Wine prefix, and so its Credential Manager, outlives the run: a session name of
        // this run's own keeps an earlier run's stored tokens out of it.
        world.write_aws_config(&format!(
            "[sso-session {SESSION}]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
             sso_registration_scopes = sso:account:access\n\n[profile dev]\n\
             sso_session = {SESSION}\nsso_account_id = 111111111111\nsso_role_name = ReadOnly\n\
             region = eu-west-1\n",
            SESSION = session()
        ));
        Smoke {
            pipe: format!(r"\\.\pipe\ssoagent-smoke-{}", std::process::id()),
            world,
            exes,
            wine_run: tools.join("wine-run"),
            out_dir: tempfile::tempdir().expect("temp dir"),
            runs: 0,
        }
    }

    /// The environment of every Windows program: the World's paths in their Windows form.
    fn command(&self, exe: &str, args: &[&str]) -> Command {
        let w = &self.world;
        let mut c = Command::new(&self.wine_run);
        c.env_clear();
        for keep in ["PATH", "USER", "LOGNAME", "WINEPREFIX", "WINEDEBUG"] {
            if let Some(v) = std::env::var_os(keep) {
                c.env(keep, v);
            }
        }
        c.env("HOME", w.home())
            .env("AWS_CONFIG_FILE", win(&w.aws_config_path()))
            .env("AWS_ENDPOINT_URL_SSO", w.emu.url())
            .env("AWS_ENDPOINT_URL_SSO_OIDC", w.emu.url())
            .env("AWS_ENDPOINT_URL_STS", w.emu.url())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("SSOAGENT_SOCKET", &self.pipe)
            .env("SSOAGENT_STATE_DIR", win(&w.state_dir()))
            .env("SSOAGENT_CONFIG", win(&w.agent_config_path()))
            .env("SSOAGENT_LOG", "debug")
            .env("NO_COLOR", "1")
            .arg(self.exes.join(exe))
            .args(args)
            .current_dir(w.home());
        c
    }

    fn run_cmd(&mut self, mut c: Command, timeout: Duration) -> Out {
        self.runs += 1;
        let out_path = self.out_dir.path().join(format!("{}.out", self.runs));
        let err_path = self.out_dir.path().join(format!("{}.err", self.runs));
        let file = |p: &Path| fs::File::create(p).expect("output file");
        let mut child = c
            .stdin(Stdio::null())
            .stdout(file(&out_path))
            .stderr(file(&err_path))
            .spawn()
            .unwrap_or_else(|e| fail("spawn", format!("{c:?}: {e}")));
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                fail("timeout", format!("{c:?} took longer than {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Out {
            code: status.code().unwrap_or(-1),
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        }
    }

    fn run(&mut self, exe: &str, args: &[&str]) -> Out {
        let c = self.command(exe, args);
        self.run_cmd(c, Duration::from_secs(60))
    }

    fn ctl(&mut self, args: &[&str]) -> Out {
        self.run("ssoagentctl.exe", args)
    }

    fn cred(&mut self) -> Out {
        self.run("ssoagent-cred.exe", &["--profile", "dev"])
    }

    fn daemon_log(&self) -> String {
        fs::read_to_string(self.world.state_dir().join("ssoagentd.log")).unwrap_or_default()
    }
}

/// This run's session name.
fn session() -> String {
    format!("smoke{}", std::process::id())
}

/// Runs one step, timing it; a step returns `Err` with what went wrong.
fn step(name: &str, f: impl FnOnce() -> Result<String, String>) {
    let t = Instant::now();
    match f() {
        Ok(detail) => println!(
            "wine-smoke: ok   {name} ({:.1} s){}",
            t.elapsed().as_secs_f64(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        ),
        Err(why) => fail(name, why),
    }
}

fn expect(out: &Out, code: i32, needles: &[&str]) -> Result<(), String> {
    if out.code != code {
        return Err(format!("expected exit {code}\n{out}"));
    }
    let all = format!("{}{}", out.stdout, out.stderr);
    match needles.iter().find(|n| !all.contains(**n)) {
        Some(n) => Err(format!("expected {n:?} in the output\n{out}")),
        None => Ok(()),
    }
}

/// The credential_process JSON: Version 1 and the four fields, nothing else on stdout.
fn check_json(out: &Out) -> Result<String, String> {
    expect(out, 0, &[])?;
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .map_err(|e| format!("stdout is not JSON ({e})\n{out}"))?;
    if v["Version"] != 1 {
        return Err(format!("Version is not 1\n{out}"));
    }
    for field in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        if v[field].as_str().is_none_or(str::is_empty) {
            return Err(format!("{field} missing\n{out}"));
        }
    }
    Ok(format!(
        "AccessKeyId {}",
        v["AccessKeyId"].as_str().unwrap_or("")
    ))
}

pub fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| fail("usage", "wine-smoke DIR-WITH-THE-WINDOWS-EXES"));
    let started = Instant::now();
    let mut s = Smoke::new(dir);
    lifecycle(&mut s);
    keyring(&mut s);
    service_and_paths(&mut s);
    stop(&mut s);
    println!(
        "wine-smoke: all steps passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Autostart, a second daemon, unlock, credentials, status, lock, the file store's file.
fn lifecycle(s: &mut Smoke) {
    step("no daemon yet: ssoagent-cred exits 4", || {
        expect(&s.cred(), 4, &["ssoagentd is not running", &s.pipe]).map(|()| String::new())
    });
    step(
        "ssoagentctl start: ssoagentd.exe detached on the pipe",
        || {
            expect(&s.ctl(&["start"]), 0, &["ssoagentd started"])?;
            let log = s.daemon_log();
            if !log.contains("ssoagentd ready") || !log.contains(&s.pipe) {
                return Err(format!(
                    "the daemon log does not say it serves the pipe:\n{log}"
                ));
            }
            Ok(s.pipe.clone())
        },
    );
    step(
        "a second ssoagentd.exe exits 10 (one daemon per pipe)",
        || {
            let out = s.run("ssoagentd.exe", &[]);
            expect(&out, 10, &["already running"]).map(|()| String::new())
        },
    );
    step("locked: ssoagent-cred exits 3 naming the unlock", || {
        let out = s.cred();
        expect(&out, 3, &["ssoagentctl unlock"])?;
        if !out.stdout.trim().is_empty() {
            return Err(format!("stdout must be empty on failure\n{out}"));
        }
        Ok(String::new())
    });
    step("ssoagentctl unlock --device-code --no-browser", || {
        let out = s.ctl(&["unlock", &session(), "--device-code", "--no-browser"]);
        // A fresh login, not a token left over from an earlier run.
        expect(&out, 0, &["unlocked", "logged in"]).map(|()| String::new())
    });
    step(
        "ssoagent-cred --profile dev prints credential_process JSON",
        || check_json(&s.cred()),
    );
    step("status shows the session unlocked, the file store", || {
        let out = s.ctl(&["status", "--json"]);
        expect(&out, 0, &["unlocked", "file"])?;
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).map_err(|e| format!("{e}\n{out}"))?;
        Ok(format!("daemon pid {}", v["pid"]))
    });
    step("the file store holds the token in the state dir", || {
        let files: Vec<_> = fs::read_dir(s.world.state_dir())
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        if files.is_empty() {
            let all: Vec<_> = fs::read_dir(s.world.state_dir())
                .into_iter()
                .flatten()
                .flatten()
                .collect();
            return Err(format!(
                "no token file in {}: {all:?}",
                s.world.state_dir().display()
            ));
        }
        Ok(format!("{} file(s)", files.len()))
    });
    step("lock, then ssoagent-cred exits 3", || {
        expect(&s.ctl(&["lock", &session()]), 0, &["locked"])?;
        expect(&s.cred(), 3, &["locked", "ssoagentctl unlock"]).map(|()| String::new())
    });
}

/// The keyring store: Windows Credential Manager (CredWriteW/CredReadW), as far as Wine has it.
fn keyring(s: &mut Smoke) {
    step("store = keyring: Credential Manager under Wine", || {
        expect(&s.ctl(&["stop"]), 0, &["stopped"])?;
        s.world
            .write_agent_config("store = \"keyring\"\npresence = \"none\"\n");
        expect(&s.ctl(&["start"]), 0, &["ssoagentd started"])?;
        let out = s.ctl(&["login", &session(), "--device-code", "--no-browser"]);
        expect(&out, 0, &["unlocked"])?;
        let status = s.ctl(&["status", "--json"]);
        expect(&status, 0, &["\"keyring\""])?;
        check_json(&s.cred())?;
        // A restart reads the session back from Credential Manager: no login needed.
        expect(&s.ctl(&["restart"]), 0, &["started"])?;
        let status = s.ctl(&["status"]);
        expect(&status, 0, &["unlocked"])?;
        let key = check_json(&s.cred())?;
        // Leaves nothing in the prefix's Credential Manager for later runs.
        expect(&s.ctl(&["logout", &session()]), 0, &["logged out"])?;
        Ok(format!("saved, read back after a restart, deleted; {key}"))
    });
}

fn service_and_paths(s: &mut Smoke) {
    step("service install --dry-run shows the Run key", || {
        let out = s.ctl(&["service", "install", "--dry-run"]);
        expect(
            &out,
            0,
            &[
                r"would run: reg add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v ssoagentd",
                "ssoagentctl.exe\\\" start",
            ],
        )?;
        Ok(out.stdout.lines().next().unwrap_or("").to_string())
    });
    step("doctor: the pipe, the AppData config path", || {
        let mut c = s.command("ssoagentctl.exe", &["doctor"]);
        c.env_remove("SSOAGENT_CONFIG");
        let out = s.run_cmd(c, Duration::from_secs(60));
        expect(
            &out,
            0,
            &[
                "pipe",
                &s.pipe,
                r"AppData\Roaming\ssoagent\config\config.toml",
            ],
        )?;
        Ok(String::new())
    });
}

fn stop(s: &mut Smoke) {
    step("stop, then status exits 4", || {
        expect(&s.ctl(&["stop"]), 0, &["stopped"])?;
        expect(&s.ctl(&["status"]), 4, &["not running"]).map(|()| String::new())
    });
}
