//! Section 1, the shim's warm call: `ssoagent-cred --profile P` against a daemon holding valid
//! credentials, interleaved with `cat` of a file holding the same JSON (the floor of starting a
//! process and reading its output), plus the shim's peak RSS and binary size.
//!
//! Three more figures split the shim's time, interleaved with the others:
//! `ssoagent-cred --version` (starting this binary, no I/O); the shim's work after start done
//! in-process (a connect with its checks, one GetCredentials over HTTP/2 on the calling
//! thread); and the same shim against a bare tonic server answering a fixed credential
//! ([`crate::floor`]), what the daemon's stack costs without the daemon's work.
//!
//! Peak RSS is VmHWM read at the process's exit under ptrace: `wait4`'s `ru_maxrss` cannot be
//! used, as it keeps the high-water mark of the address space before `exec` (for a child
//! spawned with vfork/posix_spawn, the bench's own RSS).

use std::{
    fs,
    io::Read,
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Stdio},
    ptr,
    time::{Duration, Instant},
};

use tokio::runtime::Runtime;

use crate::{
    report::{Summary, summarize},
    world::{Result, World, check_credential_json, reap},
};

pub struct ShimFigures {
    pub runs: usize,
    pub shim: Summary,
    pub cat: Summary,
    pub version: Summary,
    pub split: Split,
    /// Peak RSS of one shim process (median and max over [`RSS_RUNS`] runs), and of cat, KiB.
    pub shim_rss_kib: (u64, u64),
    pub cat_rss_kib: (u64, u64),
    pub binary_bytes: u64,
}

impl ShimFigures {
    pub fn ratio(&self) -> f64 {
        self.shim.p50.as_secs_f64() / self.cat.p50.as_secs_f64()
    }
    pub fn p99_ratio(&self) -> f64 {
        self.shim.p99.as_secs_f64() / self.cat.p99.as_secs_f64()
    }
}

/// The split's own rotation: the shim and cat, the call in-process, the shim against the floor.
pub struct Split {
    pub shim: Summary,
    pub cat: Summary,
    pub in_process: Summary,
    /// The shim against the bare tonic server.
    pub floor: Summary,
}

impl Split {
    pub fn floor_ratio(&self) -> f64 {
        self.floor.p50.as_secs_f64() / self.cat.p50.as_secs_f64()
    }
}

pub const RSS_RUNS: usize = 20;

/// One run: spawn, read stdout (then stderr) to the end, reap.
struct Run {
    wall: Duration,
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn run_once(cmd: &mut Command) -> Result<Run> {
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let mut stdout = Vec::with_capacity(4096);
    let mut stderr = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        o.read_to_end(&mut stdout).map_err(|e| e.to_string())?;
    }
    if let Some(mut e) = child.stderr.take() {
        e.read_to_end(&mut stderr).map_err(|e| e.to_string())?;
    }
    let reaped = reap(child.id(), false)?.expect("a blocking wait reaps");
    let wall = start.elapsed();
    Ok(Run {
        wall,
        code: reaped.code,
        stdout,
        stderr,
    })
}

/// One run of a command that must succeed (`check`); its wall time.
fn run_checked(cmd: &mut Command, check: &impl Fn(&Run) -> Result<()>) -> Result<Duration> {
    let r = run_once(cmd)?;
    check(&r)?;
    Ok(r.wall)
}

/// What the shim does after it has started, timed in-process: connect with the peer checks,
/// then one GetCredentials over HTTP/2 driven on this thread (`ssoagent_client::unary`).
fn in_process_call(path: &Path, profile: &str) -> Result<Duration> {
    let start = Instant::now();
    let (stream, _) = ssoagent_client::connect_blocking(path).map_err(|e| e.to_string())?;
    let request = ssoagent_client::proto::GetCredentialsRequest {
        profile: profile.into(),
    };
    let _: ssoagent_client::proto::Credentials = ssoagent_client::unary::call(
        stream,
        "/ssoagent.v1.Agent/GetCredentials",
        &request,
        Duration::from_secs(60),
    )
    .map_err(|s| format!("in-process GetCredentials: {}", s.message()))?;
    Ok(start.elapsed())
}

/// Runs `cmd` once under ptrace and returns its VmHWM (KiB) as it exits.
pub fn peak_rss_kib(mut cmd: Command) -> Result<u64> {
    // SAFETY: the hook only calls ptrace, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let null = ptr::null_mut::<libc::c_void>();
            if libc::ptrace(libc::PTRACE_TRACEME, 0, null, null) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut hwm = None;
    let null = ptr::null_mut::<libc::c_void>();
    loop {
        let mut status = 0;
        // SAFETY: waiting on our own child with a valid status pointer.
        if unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("waitpid: {e}"));
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            break;
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        let (sig, event) = (libc::WSTOPSIG(status), (status >> 16) & 0xffff);
        let mut deliver = 0;
        if sig == libc::SIGTRAP && event == libc::PTRACE_EVENT_EXIT {
            // Stopped in exit, before its memory is released.
            hwm = Some(vm_hwm_kib(pid as u32)?);
        } else if sig == libc::SIGTRAP && event == 0 && hwm.is_none() {
            // The stop after exec: from now on, stop again at exit.
            // SAFETY: ptrace on our stopped tracee.
            unsafe {
                libc::ptrace(
                    libc::PTRACE_SETOPTIONS,
                    pid,
                    null,
                    libc::PTRACE_O_TRACEEXIT as usize as *mut libc::c_void,
                )
            };
        } else if sig != libc::SIGTRAP {
            deliver = sig;
        }
        // SAFETY: ptrace on our stopped tracee.
        unsafe {
            libc::ptrace(
                libc::PTRACE_CONT,
                pid,
                null,
                deliver as usize as *mut libc::c_void,
            )
        };
    }
    drop(child.stdout.take());
    drop(child.stderr.take());
    hwm.ok_or_else(|| "the process exited without an exit stop (ptrace unavailable?)".into())
}

fn vm_hwm_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmHWM in /proc/{pid}/status"))
}

/// Median and max of [`RSS_RUNS`] peak-RSS measurements.
pub fn rss_of(make: impl Fn() -> Command) -> Result<(u64, u64)> {
    let mut v = (0..RSS_RUNS)
        .map(|_| peak_rss_kib(make()))
        .collect::<Result<Vec<u64>>>()?;
    v.sort_unstable();
    Ok((v[v.len() / 2], v[v.len() - 1]))
}

fn cat_path() -> &'static str {
    if Path::new("/bin/cat").is_file() {
        "/bin/cat"
    } else {
        "/usr/bin/cat"
    }
}

/// The answer the floor server gives: the credentials the daemon printed.
fn answer_of(json: &[u8]) -> Result<ssoagent_proto::v1::Credentials> {
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(ssoagent_proto::v1::Credentials {
        access_key_id: field("AccessKeyId"),
        secret_access_key: field("SecretAccessKey"),
        session_token: field("SessionToken"),
        expiration: field("Expiration"),
        region: String::new(),
    })
}

pub fn run(world: &World, rt: &Runtime, profile: &str, runs: usize) -> Result<ShimFigures> {
    let mut shim = world.cred_command(profile);
    let check = |r: &Run| -> Result<()> {
        if r.code != 0 {
            return Err(format!(
                "ssoagent-cred --profile {profile} exited {}: {}",
                r.code,
                String::from_utf8_lossy(&r.stderr).trim()
            ));
        }
        Ok(())
    };

    // The first call fetches; its output is what `cat` prints from then on.
    let first = run_once(&mut shim)?;
    check(&first)?;
    check_credential_json(&first.stdout)?;
    let json = world.path("credentials.json");
    fs::write(&json, &first.stdout).map_err(|e| e.to_string())?;
    let cat_command = || {
        let mut c = world.command(cat_path());
        c.arg(&json).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    };
    let mut cat = cat_command();
    let floor_socket = crate::floor::start(rt, world, answer_of(&first.stdout)?)?;
    let mut floor = world.cred_command(profile);
    floor.env("SSOAGENT_SOCKET", &floor_socket);

    for _ in 0..20 {
        check(&run_once(&mut shim)?)?;
        run_once(&mut cat)?;
        check(&run_once(&mut floor)?)?;
    }

    let mut version = world.command(world.bins.cred());
    version
        .arg("--version")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    // The comparison: shim, cat and --version, which goes first rotating, so none always runs
    // on a just-warmed CPU or daemon. Only processes: the split's in-process calls and the
    // floor server run on this bench's runtime, whose threads are still on the CPUs when the
    // next process starts (interleaved, they cost the shim about 5 % more than cat).
    let mut times: [Vec<Duration>; 3] = Default::default();
    for i in 0..runs {
        for k in 0..3 {
            let which = (i + k) % 3;
            let r = run_once(match which {
                0 => &mut shim,
                1 => &mut cat,
                _ => &mut version,
            })?;
            match which {
                0 => {
                    check(&r)?;
                    if r.stdout != first.stdout {
                        check_credential_json(&r.stdout)?;
                    }
                }
                1 if r.code != 0 || r.stdout != first.stdout => {
                    return Err(format!("cat failed ({})", r.code));
                }
                2 if r.code != 0 => {
                    return Err(format!("ssoagent-cred --version exited {}", r.code));
                }
                _ => {}
            }
            times[which].push(r.wall);
        }
    }
    let [shim_t, cat_t, version_t] = times;

    let split = split_rotation(
        world,
        [&mut shim, &mut cat, &mut floor],
        profile,
        runs / 2,
        &check,
    )?;
    Ok(ShimFigures {
        runs,
        shim: summarize(shim_t),
        cat: summarize(cat_t),
        version: summarize(version_t),
        split,
        shim_rss_kib: rss_of(|| world.cred_command(profile))?,
        cat_rss_kib: rss_of(cat_command)?,
        binary_bytes: fs::metadata(world.bins.cred())
            .map_err(|e| e.to_string())?
            .len(),
    })
}

/// The split, a rotation of its own: the shim and cat again, the call in-process, and the
/// shim against the floor server (`cmds`: shim, cat, floor).
fn split_rotation(
    world: &World,
    cmds: [&mut Command; 3],
    profile: &str,
    runs: usize,
    check: &impl Fn(&Run) -> Result<()>,
) -> Result<Split> {
    let [shim, cat, floor] = cmds;
    let socket = world.socket_path();
    let mut times: [Vec<Duration>; 4] = Default::default();
    for i in 0..runs {
        for k in 0..4 {
            let which = (i + k) % 4;
            let t = match which {
                0 => run_checked(shim, check)?,
                1 => run_once(cat)?.wall,
                2 => in_process_call(&socket, profile)?,
                _ => run_checked(floor, check)?,
            };
            times[which].push(t);
        }
    }
    let [shim, cat, in_process, floor] = times.map(summarize);
    Ok(Split {
        shim,
        cat,
        in_process,
        floor,
    })
}

/// The shim's warm call against two daemons, one run on each in turn (which goes first
/// alternates), so both see the same moments of the machine: a difference of a few percent
/// is then the daemons', not the machine drifting between rounds.
pub fn paired(a: &World, b: &World, profile: &str, runs: usize) -> Result<(Summary, Summary)> {
    let mut cmds = [a.cred_command(profile), b.cred_command(profile)];
    let mut times: [Vec<Duration>; 2] = Default::default();
    for i in 0..runs + 20 {
        for k in 0..2 {
            let which = (i + k) % 2;
            let r = run_once(&mut cmds[which])?;
            if r.code != 0 {
                return Err(format!(
                    "ssoagent-cred --profile {profile} exited {}: {}",
                    r.code,
                    String::from_utf8_lossy(&r.stderr).trim()
                ));
            }
            // The first 20 of each warm up (the first fetches).
            if i >= 20 {
                times[which].push(r.wall);
            }
        }
    }
    let [ta, tb] = times;
    Ok((summarize(ta), summarize(tb)))
}
