//! `ssoagent-bench`: the speed figures of ssoagent, measured on the release binaries.
//!
//! ```text
//! cargo build --release --workspace --bins && target/release/ssoagent-bench [--quick]
//! # or, with the shared target dir:
//! CARGO_TARGET_DIR=/var/cache/ssoagent/target cargo build --release --workspace --bins \
//!   && /var/cache/ssoagent/target/release/ssoagent-bench --quick
//! ```
//!
//! It runs `ssoagentd`, `ssoagent-cred` and `ssoagentctl` from its own directory (so build
//! them in the same profile; debug binaries give meaningless figures), in a temp HOME against
//! the IAM Identity Center emulator running in-process, and prints a table:
//!
//! 1. the shim's warm call against `cat` (the floor of starting a process), its peak RSS and size;
//! 2. daemon throughput and latency with 1, 16 and 64 connections;
//! 3. herds of concurrent shims on a cold profile and on a session whose token needs a refresh;
//! 4. the daemon's memory idle, after 100 profiles and after many requests;
//! 5. request latency across the moments cached credentials must be replaced: when they enter
//!    the refresh window, and (full run only) when the daemon's background refresh is due;
//! 6. what a user weighs when choosing: a fresh Python process getting credentials through
//!    the shim, through botocore's own SSO provider (cold and warm cache) and through
//!    aws-sso-util (see sdk.rs); and each binary's stripped size and peak RSS;
//! 7. the container-credentials endpoint: warm GETs and a herd of GETs (see ecs.rs).
//!
//! 8. what the audit log and one policy rule cost: the shim's warm call and 64-connection
//!    throughput against a daemon with `audit = false`, and audit bytes per request
//!    (`--audit` runs this section alone).
//!
//! A full run takes about 2 min, `--quick` about 25 s. Run it on an otherwise idle machine:
//! the bench, the daemon and the load generator share the cores.
//!
//! Timing targets are printed next to each figure, never asserted: a missed target does not
//! fail the run. It exits 1 when a correctness check fails (a herd causing more than one
//! upstream call, a failed request), 2 when it cannot run at all. `--quick` shortens every
//! section (fewer runs, 1 s loads, 200-process herds) for a smoke test; `--shim` runs section 1
//! alone (and the binaries' sizes); `--ecs` section 7 alone. `--hold` measures nothing: it
//! starts section 1's world, prints its environment for a shell and waits until stdin closes,
//! for profiling the daemon by hand (`perf record -p $SSOAGENTD_PID`, `strace -f -p …`).

pub(crate) mod audit;
pub(crate) mod ecs;
pub(crate) mod floor;
pub(crate) mod herd;
pub(crate) mod memory;
pub(crate) mod refresh;
pub(crate) mod report;
pub(crate) mod sdk;
pub(crate) mod shim;
pub(crate) mod throughput;
pub(crate) mod world;

use std::time::Duration;

use report::{Report, Verdict, bytes, dur, kib};
use throughput::{Load, LoadResult, Stop};
use tokio::runtime::Runtime;
use world::{Bins, Config, Result, SESSION, World};

struct Settings {
    quick: bool,
    shim_runs: usize,
    load_secs: u64,
    herd: usize,
    memory_requests: u64,
    sdk_runs: usize,
}

impl Settings {
    fn new(quick: bool) -> Settings {
        if quick {
            Settings {
                quick,
                shim_runs: 200,
                load_secs: 1,
                herd: 200,
                memory_requests: 10_000,
                sdk_runs: 5,
            }
        } else {
            Settings {
                quick,
                shim_runs: 500,
                load_secs: 3,
                herd: 1000,
                memory_requests: 100_000,
                sdk_runs: 20,
            }
        }
    }
}

const CONNECTIONS: [usize; 3] = [1, 16, 64];

pub fn main() {
    let mut quick = false;
    let mut shim_only = false;
    let mut ecs_only = false;
    let mut audit_only = false;
    let mut hold = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--shim" => shim_only = true,
            "--ecs" => ecs_only = true,
            "--audit" => audit_only = true,
            "--hold" => hold = true,
            "-h" | "--help" => {
                println!(
                    "Usage: ssoagent-bench [--quick] [--shim] [--ecs] [--audit] [--hold]\n\nSee the top of tests/bench/src/main.rs."
                );
                return;
            }
            other => {
                eprintln!("ssoagent-bench: unexpected argument '{other}' (see --help)");
                std::process::exit(2);
            }
        }
    }
    let set = Settings::new(quick);
    let nofile = raise_nofile();
    let bins = Bins::find().unwrap_or_else(|e| {
        eprintln!("ssoagent-bench: {e}");
        std::process::exit(2);
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ssoagent-bench{}: binaries in {}, {cores} cores, RLIMIT_NOFILE {nofile}, load average {}",
        if set.quick { " --quick" } else { "" },
        bins.dir.display(),
        loadavg()
    );

    if hold {
        return hold_world(&bins);
    }
    let mut report = Report::default();
    if ecs_only || audit_only {
        if ecs_only {
            ecs_section(&bins, &rt, &set, &mut report);
        }
        if audit_only {
            audit_section(&bins, &rt, &set, &mut report);
        }
        finish(bins, report, cores);
        return;
    }
    if shim_only {
        // Section 1 alone (and the binaries' sizes), for measuring the shim quickly.
        let r = World::start(&bins, Config::default(), "").and_then(|world| {
            world.unlock(SESSION)?;
            progress(&format!("1/6 shim warm call ({} runs)", set.shim_runs));
            let shim = shim::run(&world, &rt, "shim", set.shim_runs);
            report_shim(&mut report, shim);
            report_binaries(&mut report, &world);
            Ok(())
        });
        if let Err(e) = r {
            report.fail("setup", e);
        }
        finish(bins, report, cores);
        return;
    }
    match run_main_world(&bins, &rt, &set, &mut report) {
        Ok(()) => {}
        Err(e) => report.fail("setup", e),
    }
    let mut scenarios = vec![refresh::Scenario::at_window()];
    if !set.quick {
        scenarios.push(refresh::Scenario::ahead());
    }
    for sc in scenarios {
        progress(&format!(
            "5/6 refresh boundary, scenario {} ({} s of requests)",
            sc.name,
            sc.duration.as_secs()
        ));
        let r = refresh::run(&bins, &rt, sc);
        report_refresh(&mut report, sc, r);
    }
    if set.quick {
        report.note("5 refresh boundary: --quick skips the 75 s scenario `ahead`");
    }

    progress(&format!(
        "6/6 SDK paths, fresh Python processes ({} runs each)",
        set.sdk_runs
    ));
    report_sdk(&mut report, sdk::run(&bins, set.sdk_runs));
    ecs_section(&bins, &rt, &set, &mut report);
    audit_section(&bins, &rt, &set, &mut report);
    finish(bins, report, cores);
}

/// `--hold`: the world of section 1, unlocked, kept until stdin closes, its environment
/// printed for a shell, for profiling the daemon by hand (`perf record -p`, `strace -p`).
fn hold_world(bins: &Bins) {
    let world = World::start(bins, Config::default(), "").and_then(|w| {
        w.unlock(SESSION)?;
        Ok(w)
    });
    let world = world.unwrap_or_else(|e| {
        eprintln!("ssoagent-bench: {e}");
        std::process::exit(2);
    });
    for (k, v) in world.envs() {
        println!("export {k}='{}'", v.to_string_lossy());
    }
    println!("export SSOAGENTD_PID={}", world.daemon_pid());
    println!("# profile: shim; close stdin (Ctrl-D) to stop");
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

/// Section 7, the container-credentials endpoint.
fn ecs_section(bins: &Bins, rt: &Runtime, set: &Settings, report: &mut Report) {
    let (runs, herd) = if set.quick { (200, 200) } else { (1000, 1000) };
    progress(&format!(
        "7/8 container endpoint ({runs} warm GETs, herd of {herd})"
    ));
    ecs::report(report, ecs::run(bins, rt, runs, herd));
}

/// Section 8, what audit and policy cost.
fn audit_section(bins: &Bins, rt: &Runtime, set: &Settings, report: &mut Report) {
    progress("8/8 audit and policy cost (two daemons)");
    let r = audit::run(bins, rt, set.shim_runs, set.load_secs);
    audit::report(report, r);
}

/// Prints the table (with the load average, which skews every timing); removes the installed
/// shim; exits 1 when a correctness check failed.
fn finish(bins: Bins, mut report: Report, cores: usize) {
    report.note(format!(
        "load average at the end: {} (the bench, the daemon and the load share the {cores} cores; \
         other work on the machine skews every timing)",
        loadavg()
    ));
    println!();
    report.print();
    drop(bins);
    if report.failed() {
        std::process::exit(1);
    }
}

fn progress(what: &str) {
    eprintln!("ssoagent-bench: {what}…");
}

/// Sections 1–4 share one world (one daemon, session `work` unlocked). Memory is measured
/// first, while the daemon is still idle; the report is printed in section order.
fn run_main_world(bins: &Bins, rt: &Runtime, set: &Settings, report: &mut Report) -> Result<()> {
    progress("starting the emulator and ssoagentd, unlocking");
    let world = World::start(bins, Config::default(), "")?;
    world.unlock(SESSION)?;

    progress(&format!(
        "4/6 memory ({} profiles, {} requests)",
        memory::PROFILES,
        set.memory_requests
    ));
    let mem = memory::run(&world, rt, set.memory_requests, "load");

    progress(&format!("1/6 shim warm call ({} runs)", set.shim_runs));
    let shim = shim::run(&world, rt, "shim", set.shim_runs);

    let mut loads = Vec::new();
    for conns in CONNECTIONS {
        progress(&format!(
            "2/6 throughput, {conns} connections for {} s",
            set.load_secs
        ));
        let load = Load {
            conns,
            stop: Stop::After(Duration::from_secs(set.load_secs)),
            pace: None,
        };
        let cpu0 = (world.daemon_cpu(), world::own_cpu());
        let r = rt.block_on(throughput::run(&world, "load", load, None));
        let cpu = match (cpu0.0, world.daemon_cpu()) {
            (Ok(d0), Ok(d1)) => Some((d1.saturating_sub(d0), world::own_cpu() - cpu0.1)),
            _ => None,
        };
        loads.push((conns, r, cpu));
    }

    progress(&format!("3/6 herd of {} on a cold profile", set.herd));
    let cold = herd::cold(&world, "herd", set.herd);
    progress(&format!(
        "3/6 herd of {} on a session whose token needs a refresh",
        set.herd
    ));
    let refreshing = herd::refresh(&world, rt, "herd-refresh", set.herd);
    let final_rss = world.daemon_rss_kib();

    report_shim(report, shim);
    report_throughput(report, &loads);
    report_herd(report, "3 herd (cold)", cold.map(|h| (None, h)));
    report_herd(
        report,
        "3 herd (refresh)",
        refreshing.map(|(s, h)| (Some(s), h)),
    );
    report_memory(report, mem, final_rss);
    report_binaries(report, &world);
    Ok(())
}

/// Size (release binaries are stripped: `strip = true`) and peak RSS of each binary: the shim
/// for one warm call, ssoagentctl for `status`, the daemon over sections 1–4.
fn report_binaries(report: &mut Report, world: &World) {
    const S: &str = "binaries";
    let size = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len());
    let ctl_rss = shim::rss_of(|| {
        let mut c = world.command(world.bins.ctl());
        c.args(["--no-autostart", "status"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    });
    let shim_rss = shim::rss_of(|| world.cred_command("shim"));
    let daemon_hwm = world::vm_hwm_kib(world.daemon_pid());
    for (name, path, rss, what) in [
        (
            "ssoagent-cred",
            world.bins.cred(),
            shim_rss,
            "one warm call",
        ),
        ("ssoagentctl", world.bins.ctl(), ctl_rss, "status"),
        (
            "ssoagentd",
            world.bins.daemon(),
            daemon_hwm.map(|k| (k, k)),
            "sections 1–4",
        ),
    ] {
        match (size(path), rss) {
            (Ok(b), Ok((p50, _))) => report.info(
                S,
                format!("{name}: stripped size / peak RSS ({what})"),
                format!("{} / {}", bytes(b), kib(p50)),
            ),
            (Err(e), _) => report.fail(S, format!("{name}: {e}")),
            (_, Err(e)) => report.fail(S, format!("{name}: {e}")),
        }
    }
}

fn report_sdk(report: &mut Report, r: Result<sdk::SdkFigures>) {
    const S: &str = "6 SDK paths";
    let f = match r {
        Ok(f) => f,
        Err(e) => {
            report.note(format!("{S}: not measured: {e}"));
            return;
        }
    };
    report.info(
        S,
        format!(
            "python -c 'import botocore.session' p50 / p99 ({} runs)",
            f.runs
        ),
        format!("{} / {} (the floor)", dur(f.floor.p50), dur(f.floor.p99)),
    );
    for w in &f.ways {
        report.info(
            S,
            format!("{} p50 / p99", w.name),
            format!(
                "{} / {} (+{} over the floor; {:.1} GetRoleCredentials/run; {})",
                dur(w.times.p50),
                dur(w.times.p99),
                dur(w.times.p50.saturating_sub(f.floor.p50)),
                w.aws_calls_per_run,
                w.method
            ),
        );
    }
    report.note(format!(
        "{S}: every run is a fresh `python -c` (botocore {}, {}) resolving credentials in a new \
         session, against the emulator on 127.0.0.1 (no network latency: against AWS, each \
         GetRoleCredentials adds a round trip)",
        f.botocore_version, f.python
    ));
    if let Some(why) = f.aws_sso_util_missing {
        report.note(format!("{S}: aws-sso-util not measured: {why}"));
    }
}

fn report_shim(report: &mut Report, r: Result<shim::ShimFigures>) {
    const S: &str = "1 shim";
    let f = match r {
        Ok(f) => f,
        Err(e) => return report.fail(S, e),
    };
    report.info(
        S,
        format!("ssoagent-cred p50 / p99 ({} runs)", f.runs),
        format!("{} / {}", dur(f.shim.p50), dur(f.shim.p99)),
    );
    report.info(
        S,
        "cat (same JSON) p50 / p99",
        format!("{} / {}", dur(f.cat.p50), dur(f.cat.p99)),
    );
    report.info(
        S,
        "split: --version / in-process call",
        format!("{} / {}", dur(f.version.p50), dur(f.split.in_process.p50)),
    );
    report.info(
        S,
        "against a bare tonic server (the stack's floor) p50",
        format!(
            "{} ({:.2}× cat; {:.2}× for ssoagentd in the same rotation)",
            dur(f.split.floor.p50),
            f.split.floor_ratio(),
            f.split.shim.p50.as_secs_f64() / f.split.cat.p50.as_secs_f64()
        ),
    );
    report.row(
        S,
        "ratio of medians",
        format!("{:.2}×", f.ratio()),
        "≤ 1.2× (aim 1.1×)",
        Verdict::target(f.ratio() <= 1.2),
    );
    report.row(
        S,
        "ratio of p99s",
        format!("{:.2}×", f.p99_ratio()),
        "≤ 1.5×",
        Verdict::target(f.p99_ratio() <= 1.5),
    );
    report.info(
        S,
        format!("peak RSS p50 / max ({} runs)", shim::RSS_RUNS),
        format!(
            "{} / {} (cat {} / {})",
            kib(f.shim_rss_kib.0),
            kib(f.shim_rss_kib.1),
            kib(f.cat_rss_kib.0),
            kib(f.cat_rss_kib.1)
        ),
    );
    report.info(S, "ssoagent-cred binary size", bytes(f.binary_bytes));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (shim, cat, version, call) = (
        ms(f.shim.p50),
        ms(f.cat.p50),
        ms(f.version.p50),
        ms(f.split.in_process.p50),
    );
    report.note(format!(
        "{S}: ssoagent-cred − cat = {:.2} ms (medians) = starting this binary rather than cat \
         (--version − cat) {:.2} ms + the call's work timed in-process (connect and checks, \
         HTTP/2 handshake, GetCredentials) {call:.2} ms + a remainder of {:.2} ms (that work run cold in \
         a fresh process)",
        shim - cat,
        version - cat,
        shim - version - call
    ));
    let (floor, split_shim, split_cat) = (
        ms(f.split.floor.p50),
        ms(f.split.shim.p50),
        ms(f.split.cat.p50),
    );
    report.note(format!(
        "{S}: the split ran in a rotation of its own ({} runs each, the in-process calls and the \
         floor server on this bench's runtime). There a bare tonic server answering a fixed \
         credential costs the same shim {:+.2} ms over cat: what tonic, hyper and h2 on a Unix \
         socket cost a fresh connection; ssoagentd's own work (peer checks, caller \
         resolution, policy, cache, audit) adds {:+.2} ms",
        f.runs / 2,
        floor - split_cat,
        split_shim - floor
    ));
}

/// A load's result, and the CPU time the daemon and the bench (the generator) used during it.
type LoadRun = (usize, Result<LoadResult>, Option<(Duration, Duration)>);

fn report_throughput(report: &mut Report, loads: &[LoadRun]) {
    const S: &str = "2 throughput";
    for (conns, r, cpu) in loads {
        let r = match r
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|r| r.check().map(|()| r))
        {
            Ok(r) => r,
            Err(e) => {
                report.fail(S, format!("{conns} connections: {e}"));
                continue;
            }
        };
        let lat = report::summarize(r.latencies());
        let rps = r.per_second();
        let (rps_target, p99_target) = if *conns == 64 {
            (
                ("≥ 20,000 req/s", Verdict::target(rps >= 20_000.0)),
                (
                    "p99 ≤ 5 ms",
                    Verdict::target(lat.p99 <= Duration::from_millis(5)),
                ),
            )
        } else {
            (("", Verdict::Info), ("", Verdict::Info))
        };
        report.row(
            S,
            format!("{conns} conn: GetCredentials/s"),
            format!(
                "{} req/s ({} requests)",
                thousands(rps as u64),
                thousands(r.requests())
            ),
            rps_target.0,
            rps_target.1,
        );
        report.row(
            S,
            format!("{conns} conn: p50 / p99 (max)"),
            format!("{} / {} ({})", dur(lat.p50), dur(lat.p99), dur(lat.max)),
            p99_target.0,
            p99_target.1,
        );
        if let Some((daemon, bench)) = cpu {
            let per = |d: &Duration| d.as_secs_f64() * 1e6 / r.requests().max(1) as f64;
            report.info(
                S,
                format!("{conns} conn: CPU per request"),
                format!(
                    "daemon {:.1} µs, generator {:.1} µs ({:.0}% / {:.0}% of a core)",
                    per(daemon),
                    per(bench),
                    daemon.as_secs_f64() * 100.0 / r.elapsed.as_secs_f64(),
                    bench.as_secs_f64() * 100.0 / r.elapsed.as_secs_f64()
                ),
            );
        }
    }
}

fn report_herd(
    report: &mut Report,
    s: &str,
    r: Result<(Option<herd::RefreshSetup>, herd::HerdFigures)>,
) {
    let (setup, f) = match r {
        Ok(x) => x,
        Err(e) => return report.fail(s, e),
    };
    if let Some(setup) = &setup {
        report.info(
            s,
            "SSO token life left at start",
            format!("{} s (daemon refreshes < 300 s)", setup.token_left_secs),
        );
        if !setup.background_refresh_seen {
            report.note(format!(
                "{s}: no background token refresh was seen before the herd; the herd may have \
                 raced the daemon's tick"
            ));
        }
    }
    report.row(
        s,
        "processes succeeded",
        format!("{} / {}", f.succeeded, f.processes),
        format!("{} / {}", f.processes, f.processes),
        Verdict::check(f.succeeded == f.processes),
    );
    for (why, n) in &f.failures {
        report.note(format!("{s}: {n} × {why}"));
    }
    report.row(
        s,
        "GetRoleCredentials calls",
        f.get_role_credentials.to_string(),
        "= 1",
        Verdict::check(f.get_role_credentials == 1),
    );
    if setup.is_some() {
        report.row(
            s,
            "CreateToken calls",
            f.create_token.to_string(),
            "= 1",
            Verdict::check(f.create_token == 1),
        );
    } else {
        report.row(
            s,
            "CreateToken calls",
            f.create_token.to_string(),
            "= 0",
            Verdict::check(f.create_token == 0),
        );
    }
    report.row(
        s,
        "distinct AccessKeyIds",
        f.distinct_keys.to_string(),
        "= 1",
        Verdict::check(f.distinct_keys == 1),
    );
    report.info(
        s,
        "spawn all / all done",
        format!("{} / {}", dur(f.spawn), dur(f.wall)),
    );
}

fn report_memory(report: &mut Report, r: Result<memory::MemoryFigures>, final_rss: Result<u64>) {
    const S: &str = "4 memory";
    let f = match r {
        Ok(f) => f,
        Err(e) => return report.fail(S, e),
    };
    report.info(S, "daemon RSS idle after unlock", kib(f.idle_kib));
    report.info(
        S,
        format!("after {} profiles fetched once", memory::PROFILES),
        format!(
            "{} (+{}; {} GetRoleCredentials)",
            kib(f.after_profiles_kib),
            kib(f.after_profiles_kib.saturating_sub(f.idle_kib)),
            f.profile_fetches
        ),
    );
    let growth = |from: u64, to: u64| {
        let g = to as i64 - from as i64;
        format!("{}{}", if g < 0 { "-" } else { "+" }, kib(g.unsigned_abs()))
    };
    report.info(
        S,
        format!("after {} more requests", thousands(f.requests)),
        format!(
            "{} ({}; at {} req/s)",
            kib(f.after_requests_kib),
            growth(f.after_profiles_kib, f.after_requests_kib),
            thousands(f.requests_per_second as u64)
        ),
    );
    report.info(
        S,
        format!("after {} more again", thousands(f.requests)),
        format!(
            "{} ({})",
            kib(f.after_second_batch_kib),
            growth(f.after_requests_kib, f.after_second_batch_kib)
        ),
    );
    match final_rss {
        Ok(k) => report.info(S, "after every section 1–3", kib(k)),
        Err(e) => report.fail(S, e),
    }
}

fn report_refresh(report: &mut Report, sc: refresh::Scenario, r: Result<refresh::RefreshFigures>) {
    let s = format!("5 refresh ({})", sc.name);
    let s = s.as_str();
    let f = match r {
        Ok(f) => f,
        Err(e) => return report.fail(s, e),
    };
    report.note(format!(
        "{s}: refresh_window {} s, credentials issued for {} s, every GetRoleCredentials \
         delayed {} by the emulator, {} connections × 1 request / {}: {} requests in {} s",
        refresh::REFRESH_WINDOW.as_secs(),
        sc.credential_ttl.as_secs(),
        dur(refresh::AWS_DELAY),
        refresh::CONNS,
        dur(refresh::PACE),
        thousands(f.requests as u64),
        sc.duration.as_secs()
    ));
    let times: Vec<String> = f
        .fetches
        .iter()
        .map(|t| format!("{:.1}", t.as_secs_f64()))
        .collect();
    report.info(
        s,
        "GetRoleCredentials during the run",
        format!(
            "{} (at {} s; {} at {:.1}–{:.1} s)",
            f.fetches.len(),
            if times.is_empty() {
                "-".into()
            } else {
                times.join(", ")
            },
            sc.due_what,
            f.due.as_secs_f64(),
            f.due.as_secs_f64() + 1.0
        ),
    );
    report.info(
        s,
        "steady p99 / max",
        format!(
            "{} / {} ({} requests)",
            dur(f.steady.p99),
            dur(f.steady.max),
            f.steady.n
        ),
    );
    report.row(
        s,
        format!("±{} of refresh: p99 / max", dur(refresh::AROUND)),
        format!(
            "{} / {} ({} requests)",
            dur(f.around.p99),
            dur(f.around.max),
            f.around.n
        ),
        "≈ steady",
        Verdict::target(f.around.max < refresh::AWS_DELAY / 2),
    );
    report.row(
        s,
        "requests that waited on AWS",
        f.waited_on_aws.to_string(),
        "0",
        Verdict::target(f.waited_on_aws == 0),
    );
}

/// The 1, 5 and 15 min load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (herds hold two pipes per process, and the
/// daemon, started after this, inherits it); the limit in effect.
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
        lim.rlim_cur as u64
    }
}
