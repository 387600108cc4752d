//! Section 3, herds: many `ssoagent-cred` processes at once (all spawned, then all reaped)
//! for a profile with nothing cached; the daemon must make exactly one upstream call however
//! many wait.
//!
//! * cold: a profile of an unlocked session with no cached credentials: one GetRoleCredentials.
//! * refresh: a profile of a session whose SSO access token has less than the daemon's 5 min
//!   buffer left, so the fetch must refresh it first: one CreateToken and one
//!   GetRoleCredentials.

use std::{
    collections::BTreeMap,
    io::Read,
    process::Child,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::runtime::Runtime;

use crate::world::{Op, Result, SHORT_SESSION, World, check_credential_json, reap, wait_until};

/// How long a herd may take before the stragglers are killed.
const HERD_TIMEOUT: Duration = Duration::from_secs(120);

pub struct HerdFigures {
    pub processes: usize,
    pub succeeded: usize,
    /// Failures by exit code and first stderr line, with their counts.
    pub failures: BTreeMap<String, usize>,
    /// Distinct AccessKeyIds among the successes (1 when every process got the one fetch).
    pub distinct_keys: usize,
    /// Spawning all processes; spawning and reaping all of them.
    pub spawn: Duration,
    pub wall: Duration,
    /// Upstream calls the herd caused.
    pub get_role_credentials: u64,
    pub create_token: u64,
}

/// The cold herd: `profile` has never been fetched.
pub fn cold(world: &World, profile: &str, n: usize) -> Result<HerdFigures> {
    measure(world, profile, n)
}

/// What the refresh herd found before it started.
pub struct RefreshSetup {
    /// Seconds the session's access token had left when the herd started.
    pub token_left_secs: i64,
    /// Whether a background refresh of the daemon was seen (and then waited out) first.
    pub background_refresh_seen: bool,
}

/// The refresh herd. The emulator issues 60 s access tokens for the unlock, so every fetch
/// for the session must refresh first. The daemon's 5 s housekeeping tick also refreshes
/// tokens that close to expiry, so the herd is started right after such a tick (and the
/// emulator switched back to 1 h tokens): the herd's own refresh is then the only one.
pub fn refresh(
    world: &World,
    rt: &Runtime,
    profile: &str,
    n: usize,
) -> Result<(RefreshSetup, HerdFigures)> {
    world
        .emu
        .update(|c| c.access_token_ttl = Duration::from_secs(60));
    world.unlock(SHORT_SESSION)?;
    let before = world.emu.calls(Op::CreateToken);
    let seen = wait_until(Duration::from_secs(12), || {
        world.emu.calls(Op::CreateToken) > before
    });
    // Let that refresh land before the emulator's lifetime changes.
    thread::sleep(Duration::from_millis(100));
    world
        .emu
        .update(|c| c.access_token_ttl = Duration::from_secs(3600));
    let expires = rt.block_on(world.token_expires_at(SHORT_SESSION))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let setup = RefreshSetup {
        token_left_secs: expires - now,
        background_refresh_seen: seen,
    };
    Ok((setup, measure(world, profile, n)?))
}

fn measure(world: &World, profile: &str, n: usize) -> Result<HerdFigures> {
    let grc0 = world.emu.calls(Op::GetRoleCredentials);
    let ct0 = world.emu.calls(Op::CreateToken);
    let mut cmd = world.cred_command(profile);
    let start = Instant::now();
    let mut children: Vec<Option<Child>> = Vec::with_capacity(n);
    for _ in 0..n {
        match cmd.spawn() {
            Ok(c) => children.push(Some(c)),
            Err(e) => {
                kill_all(&mut children);
                return Err(format!("spawning herd process {}: {e}", children.len() + 1));
            }
        }
    }
    let spawn = start.elapsed();

    let mut fig = HerdFigures {
        processes: n,
        succeeded: 0,
        failures: BTreeMap::new(),
        distinct_keys: 0,
        spawn,
        wall: Duration::ZERO,
        get_role_credentials: 0,
        create_token: 0,
    };
    let mut keys = std::collections::BTreeSet::new();
    let mut left = n;
    let deadline = start + HERD_TIMEOUT;
    while left > 0 {
        if Instant::now() > deadline {
            let killed = kill_all(&mut children);
            *fig.failures
                .entry(format!("killed after {HERD_TIMEOUT:?}"))
                .or_default() += killed;
            break;
        }
        for slot in children.iter_mut() {
            let Some(child) = slot else { continue };
            let Some(reaped) = reap(child.id(), true)? else {
                continue;
            };
            // Reaped above with waitpid, not Child::wait.
            #[allow(clippy::zombie_processes)]
            let mut child = slot.take().expect("present");
            left -= 1;
            // The process has exited; what it wrote is waiting in the pipes.
            let (mut out, mut err) = (Vec::new(), String::new());
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_end(&mut out);
            }
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let outcome = if reaped.code == 0 {
                check_credential_json(&out)
            } else {
                Err(format!(
                    "exit {}: {}",
                    reaped.code,
                    err.lines().next().unwrap_or_default()
                ))
            };
            match outcome {
                Ok(key) => {
                    fig.succeeded += 1;
                    keys.insert(key);
                }
                Err(e) => *fig.failures.entry(e).or_default() += 1,
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    fig.wall = start.elapsed();
    fig.distinct_keys = keys.len();
    // Let any call the herd caused but did not wait for be counted.
    thread::sleep(Duration::from_millis(200));
    fig.get_role_credentials = world.emu.calls(Op::GetRoleCredentials) - grc0;
    fig.create_token = world.emu.calls(Op::CreateToken) - ct0;
    Ok(fig)
}

/// SIGKILLs and reaps every child not reaped yet; how many there were.
fn kill_all(children: &mut [Option<Child>]) -> usize {
    let mut n = 0;
    for slot in children.iter_mut() {
        if let Some(child) = slot.take() {
            // SAFETY: the pid of a child of ours not reaped yet.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
            let _ = reap(child.id(), false);
            n += 1;
        }
    }
    n
}
