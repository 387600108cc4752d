//! Section 8, what the audit log and the policy cost (issue 11): two daemons side by side,
//! one with the audit log and one rule that every request is checked against (a `callers`
//! glob matched over the whole ancestor chain, matching none), one with `audit = false` and
//! no rule (so it does not read `/proc` per request either). Figures: the shim's warm call
//! (medians of runs alternating between the two; target within 5 %), throughput at 64
//! connections (the median over short alternating rounds of on's rate over off's in the same
//! round; target ≥ 90 %), each daemon's CPU per request and the audit log's bytes per request.

use std::time::Duration;

use tokio::runtime::Runtime;

use crate::{
    report::{Report, Verdict, dur},
    shim,
    throughput::{self, Load, Stop},
    world::{Bins, Config, Result, SESSION, World},
};

/// Checked for every request of the audited daemon; matches no caller, so all are served.
const ONE_RULE: &str = "[[rule]]\nprofiles = [\"*\"]\ncallers = [\"no-such-robot\", \"*/nowhere/*\"]\naction = \"deny\"\n";

/// Throughput rounds on each daemon (each a quarter of the section's load time).
const ROUNDS: usize = 8;

pub struct AuditFigures {
    pub shim_on: Duration,
    pub shim_off: Duration,
    pub rps_on: f64,
    pub rps_off: f64,
    /// The median over the rounds of audit on's rate over audit off's in the same round.
    pub share: f64,
    /// Each daemon's CPU time per request under that load (the writer thread's included).
    pub cpu_on: Duration,
    pub cpu_off: Duration,
    pub bytes_per_request: f64,
}

fn audit_bytes(w: &World) -> u64 {
    (0..=5)
        .map(|i| match i {
            0 => w.path("state/audit.jsonl"),
            i => w.path(&format!("state/audit.jsonl.{i}")),
        })
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

pub fn run(bins: &Bins, rt: &Runtime, shim_runs: usize, load_secs: u64) -> Result<AuditFigures> {
    let on = World::start(
        bins,
        Config::default(),
        &format!("audit_max_size = \"1GiB\"\n{ONE_RULE}"),
    )?;
    on.unlock(SESSION)?;
    let off = World::start(bins, Config::default(), "audit = false\n")?;
    off.unlock(SESSION)?;
    let (s_on, s_off) = shim::paired(&on, &off, "shim", shim_runs)?;
    // Short rounds alternating between the two (which goes first alternates too), compared
    // round by round: one long run on each, one after the other, differed by up to ±20 %
    // between identical daemons, and even the totals of four rounds by ±10 %.
    let load = Load {
        conns: 64,
        stop: Stop::After(Duration::from_millis(load_secs * 1000 / 4)),
        pace: None,
    };
    let before = audit_bytes(&on);
    let (mut on_req, mut off_req, mut on_secs, mut off_secs) = (0, 0, 0.0, 0.0);
    let (mut on_cpu, mut off_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut shares = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let mut rates = [0.0; 2];
        for k in 0..2 {
            let audited = (round + k) % 2 == 0;
            let world = if audited { &on } else { &off };
            let cpu = world.daemon_cpu()?;
            let r = rt.block_on(throughput::run(world, "load", load, None))?;
            r.check()?;
            let cpu = world.daemon_cpu()? - cpu;
            rates[usize::from(!audited)] = r.requests() as f64 / r.elapsed.as_secs_f64();
            if audited {
                on_req += r.requests();
                on_secs += r.elapsed.as_secs_f64();
                on_cpu += cpu;
            } else {
                off_req += r.requests();
                off_secs += r.elapsed.as_secs_f64();
                off_cpu += cpu;
            }
        }
        shares.push(rates[0] / rates[1]);
    }
    shares.sort_by(f64::total_cmp);
    // The writer drains the bus a moment after the last request.
    std::thread::sleep(Duration::from_millis(500));
    let written = audit_bytes(&on) - before;
    Ok(AuditFigures {
        shim_on: s_on.p50,
        shim_off: s_off.p50,
        rps_on: on_req as f64 / on_secs,
        rps_off: off_req as f64 / off_secs,
        share: (shares[ROUNDS / 2 - 1] + shares[ROUNDS / 2]) / 2.0,
        // The rounds' 64 warm-up requests are in the CPU time too: a rounding error.
        cpu_on: on_cpu / on_req.max(1) as u32,
        cpu_off: off_cpu / off_req.max(1) as u32,
        // 64 warm-up requests a round are not counted in the samples but are audited.
        bytes_per_request: written as f64 / (on_req + 64 * ROUNDS as u64) as f64,
    })
}

pub fn report(report: &mut Report, r: Result<AuditFigures>) {
    const S: &str = "8 audit";
    let f = match r {
        Ok(f) => f,
        Err(e) => return report.fail(S, e),
    };
    let shim_ratio = f.shim_on.as_secs_f64() / f.shim_off.as_secs_f64();
    report.row(
        S,
        "shim p50, audit + 1 rule / off",
        format!(
            "{} / {} ({:+.1} %)",
            dur(f.shim_on),
            dur(f.shim_off),
            (shim_ratio - 1.0) * 100.0
        ),
        "within 5 %",
        Verdict::target(shim_ratio <= 1.05),
    );
    report.row(
        S,
        format!("64 conn req/s, audit on / off ({ROUNDS} rounds)"),
        format!(
            "{:.0} / {:.0} (median round {:.0} %)",
            f.rps_on,
            f.rps_off,
            f.share * 100.0
        ),
        "≥ 90 % of off",
        Verdict::target(f.share >= 0.9),
    );
    report.info(
        S,
        "daemon CPU per request, audit on / off",
        format!("{} / {}", dur(f.cpu_on), dur(f.cpu_off)),
    );
    report.info(
        S,
        "audit bytes per request",
        format!("{:.0} B", f.bytes_per_request),
    );
}
