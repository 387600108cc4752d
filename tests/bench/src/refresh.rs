//! Section 5, the refresh boundary: requests issued continuously across the moment cached role
//! credentials must be replaced. The daemon (config `refresh_window = "20s"`) never hands out
//! credentials with less than the window left, and refreshes ahead in the background, 60 s
//! before the window, credentials that were issued for more than the window plus 120 s.
//! Two scenarios:
//!
//! * `window`: credentials live 25 s (the window + 5 s), too short to be refreshed ahead: 5 s
//!   into the run they enter the window and a request must fetch new ones.
//! * `ahead` (full run only, 75 s): credentials live 145 s; 65 s into the run they become due
//!   for the background refresh, which should replace them with no request waiting.
//!
//! The emulator delays every GetRoleCredentials by 100 ms (a realistic AWS round trip; on
//! loopback a request waiting on AWS would not show).

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant, SystemTime},
};

use ssoagent_client::proto::GetCredentialsRequest;
use tokio::runtime::Runtime;

use crate::{
    report::{Summary, summarize},
    throughput::{self, Load, Stop},
    world::{Bins, Config, Fault, Op, Result, SESSION, World},
};

pub const REFRESH_WINDOW: Duration = Duration::from_secs(20);
/// The daemon's lead for background refreshes (`REFRESH_AHEAD` in daemon/src/agent.rs).
const REFRESH_AHEAD: Duration = Duration::from_secs(60);
pub const AWS_DELAY: Duration = Duration::from_millis(100);
/// Requests starting this close to a refresh count as "around" it.
pub const AROUND: Duration = Duration::from_millis(500);
pub const CONNS: usize = 4;
pub const PACE: Duration = Duration::from_millis(2);
const PROFILE: &str = "edge";

#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub credential_ttl: Duration,
    /// The point of interest, as time before the credentials' expiry.
    pub due_before_expiry: Duration,
    /// What happens at that point.
    pub due_what: &'static str,
    pub duration: Duration,
}

impl Scenario {
    pub fn at_window() -> Scenario {
        Scenario {
            name: "window",
            credential_ttl: REFRESH_WINDOW + Duration::from_secs(5),
            due_before_expiry: REFRESH_WINDOW,
            due_what: "enter the window",
            duration: Duration::from_secs(10),
        }
    }

    pub fn ahead() -> Scenario {
        Scenario {
            name: "ahead",
            credential_ttl: REFRESH_WINDOW + 2 * REFRESH_AHEAD + Duration::from_secs(5),
            due_before_expiry: REFRESH_WINDOW + REFRESH_AHEAD,
            due_what: "due for refresh ahead",
            // The due point at 65 s, the daemon's 5 s tick, some slack.
            duration: Duration::from_secs(75),
        }
    }
}

pub struct RefreshFigures {
    pub requests: usize,
    /// When the first credentials reached the scenario's point (since the first request);
    /// Expiration has whole seconds, so the point lies in [due, due + 1 s).
    pub due: Duration,
    /// When the daemon called GetRoleCredentials during the run, the first fetch excluded.
    pub fetches: Vec<Duration>,
    /// Requests starting within [`AROUND`] of the due point or a fetch, and all the others.
    pub around: Summary,
    pub steady: Summary,
    /// Requests slower than half the emulated AWS delay: they waited on AWS.
    pub waited_on_aws: usize,
}

pub fn run(bins: &Bins, rt: &Runtime, scenario: Scenario) -> Result<RefreshFigures> {
    let duration = scenario.duration;
    let emu_cfg = Config {
        role_credential_ttl: scenario.credential_ttl,
        ..Config::default()
    };
    let toml = format!("refresh_window = \"{}s\"\n", REFRESH_WINDOW.as_secs());
    let world = World::start(bins, emu_cfg, &toml)?;
    world.unlock(SESSION)?;
    world
        .emu
        .inject(Op::GetRoleCredentials, Fault::Delay(AWS_DELAY), 100_000);

    // Each GetRoleCredentials call, timed by polling the emulator's counter.
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let (fetch_times, load) = thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut seen = world.emu.calls(Op::GetRoleCredentials);
            let mut times = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = world.emu.calls(Op::GetRoleCredentials);
                for _ in seen..n {
                    times.push(t0.elapsed());
                }
                seen = n;
                thread::sleep(Duration::from_millis(2));
            }
            times
        });
        let load = rt.block_on(async {
            let sys_t0 = SystemTime::now();
            let first = world
                .client()
                .await?
                .get_credentials(GetCredentialsRequest {
                    profile: PROFILE.into(),
                })
                .await
                .map_err(|s| format!("GetCredentials({PROFILE}): {}", s.message()))?
                .into_inner();
            let expires = parse_rfc3339_utc(&first.expiration)
                .ok_or_else(|| format!("bad Expiration {:?}", first.expiration))?;
            let due = (expires - scenario.due_before_expiry)
                .duration_since(sys_t0)
                .unwrap_or_default();
            let load = Load {
                conns: CONNS,
                stop: Stop::After(duration),
                pace: Some(PACE),
            };
            let r = throughput::run(&world, PROFILE, load, Some(t0)).await?;
            Ok::<_, String>((due, r))
        });
        stop.store(true, Ordering::Relaxed);
        (sampler.join().unwrap_or_default(), load)
    });
    let (due, load) = load?;
    load.check()?;

    // The first call is the first fetch; the rest happened during the run.
    let fetches: Vec<Duration> = fetch_times.into_iter().skip(1).collect();
    let near = |at: Duration| {
        let due_range = at + AROUND >= due && at <= due + Duration::from_secs(1) + AROUND;
        due_range
            || fetches
                .iter()
                .any(|&e| at + AROUND >= e && at <= e + AROUND + AWS_DELAY)
    };
    let (mut around, mut steady) = (Vec::new(), Vec::new());
    for s in &load.samples {
        if near(s.at) {
            around.push(s.latency);
        } else {
            steady.push(s.latency);
        }
    }
    Ok(RefreshFigures {
        requests: load.samples.len(),
        due,
        fetches,
        waited_on_aws: load
            .samples
            .iter()
            .filter(|s| s.latency >= AWS_DELAY / 2)
            .count(),
        around: summarize(around),
        steady: summarize(steady),
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac]Z` (fractions dropped).
fn parse_rfc3339_utc(s: &str) -> Option<SystemTime> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let num = |x: &str| x.parse::<i64>().ok();
    let d: Vec<i64> = date.split('-').map(num).collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split('.')
        .next()?
        .split(':')
        .map(num)
        .collect::<Option<_>>()?;
    let [y, m, day] = <[i64; 3]>::try_from(d).ok()?;
    let [hh, mm, ss] = <[i64; 3]>::try_from(t).ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339() {
        let t = super::parse_rfc3339_utc("2026-11-26T10:00:00Z").unwrap();
        let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_795_687_200);
        assert!(super::parse_rfc3339_utc("2026-11-26T10:00:00+01:00").is_none());
    }
}
