//! Section 7, the container-credentials endpoint: what an SDK's GET costs, and a herd.
//!
//! * warm GET on a kept-alive connection (what an SDK's pooled client does), p50 / p99;
//! * warm GET on a fresh connection each time (the daemon then looks the caller up in
//!   `/proc/net/tcp` and `/proc/*/fd` once per connection), p50 / p99;
//! * 1,000 concurrent GETs, each on its own connection, for a profile with nothing cached:
//!   exactly one GetRoleCredentials.

use std::time::{Duration, Instant};

use ssoagent_proto::v1 as proto;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    runtime::Runtime,
};

use crate::{
    report::{Report, Summary, Verdict, dur, summarize},
    world::{Bins, Config, Op, Result, SESSION, World, profile_section},
};

pub struct EcsFigures {
    pub runs: usize,
    pub kept_alive: Summary,
    pub fresh: Summary,
    pub herd: usize,
    pub herd_ok: usize,
    pub herd_wall: Duration,
    pub herd_calls: u64,
}

/// A grant for `profile`: `(host:port, path, token)`.
async fn grant(world: &World, profile: &str) -> Result<(String, String, String)> {
    let mut c = world.client().await?;
    let mut s = c
        .ecs_grant(proto::EcsGrantRequest {
            profile: profile.into(),
            ttl_seconds: 3600,
            hold: false,
        })
        .await
        .map_err(|e| format!("EcsGrant: {}", e.message()))?
        .into_inner();
    let g = s
        .message()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no grant")?;
    let rest = g.url.strip_prefix("http://").ok_or("not an http URL")?;
    let (host, path) = rest.split_once('/').ok_or("no path")?;
    Ok((host.into(), format!("/{path}"), g.token))
}

/// One GET on `s`; the status (the body is read and checked to be whole).
async fn get(s: &mut TcpStream, host: &str, path: &str, token: &str) -> Result<u16> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {token}\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed mid-answer".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse().ok())
            .ok_or("no content-length")?;
        if body.len() >= len {
            return head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| "no status".to_string());
        }
    }
}

async fn fresh_get(host: &str, path: &str, token: &str) -> Result<u16> {
    let mut s = TcpStream::connect(host).await.map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    get(&mut s, host, path, token).await
}

async fn measure(world: &World, runs: usize, herd: usize) -> Result<EcsFigures> {
    let (host, path, token) = grant(world, "ecs-warm").await?;
    let mut conn = TcpStream::connect(&host).await.map_err(|e| e.to_string())?;
    conn.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut kept = Vec::with_capacity(runs);
    let mut fresh = Vec::with_capacity(runs);
    for i in 0..runs + 10 {
        let t = Instant::now();
        let st = get(&mut conn, &host, &path, &token).await?;
        let k = t.elapsed();
        let t = Instant::now();
        let st2 = fresh_get(&host, &path, &token).await?;
        let f = t.elapsed();
        if st != 200 || st2 != 200 {
            return Err(format!("a warm GET answered {st} / {st2}"));
        }
        // The first few warm the cache and the connection.
        if i >= 10 {
            kept.push(k);
            fresh.push(f);
        }
    }
    let (host, path, token) = grant(world, "ecs-cold").await?;
    let calls0 = world.emu.calls(Op::GetRoleCredentials);
    let start = Instant::now();
    let tasks: Vec<_> = (0..herd)
        .map(|_| {
            let (h, p, t) = (host.clone(), path.clone(), token.clone());
            tokio::spawn(async move { fresh_get(&h, &p, &t).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if matches!(t.await, Ok(Ok(200))) {
            ok += 1;
        }
    }
    Ok(EcsFigures {
        runs,
        kept_alive: summarize(kept),
        fresh: summarize(fresh),
        herd,
        herd_ok: ok,
        herd_wall: start.elapsed(),
        herd_calls: world.emu.calls(Op::GetRoleCredentials) - calls0,
    })
}

pub fn run(bins: &Bins, rt: &Runtime, runs: usize, herd: usize) -> Result<EcsFigures> {
    let world = World::start(bins, Config::default(), "")?;
    world.append_aws_config(&profile_section(
        "ecs-warm",
        SESSION,
        "111111111111",
        "ReadOnly",
    ))?;
    world.append_aws_config(&profile_section(
        "ecs-cold",
        SESSION,
        "222222222222",
        "ReadOnly",
    ))?;
    world.unlock(SESSION)?;
    rt.block_on(measure(&world, runs, herd))
}

pub fn report(report: &mut Report, r: Result<EcsFigures>) {
    const S: &str = "7 container endpoint";
    let f = match r {
        Ok(f) => f,
        Err(e) => return report.fail(S, e),
    };
    let two_ms = Duration::from_millis(2);
    report.row(
        S,
        format!(
            "warm GET, kept-alive connection, p50 / p99 ({} runs)",
            f.runs
        ),
        format!("{} / {}", dur(f.kept_alive.p50), dur(f.kept_alive.p99)),
        "p99 ≤ 2 ms",
        Verdict::target(f.kept_alive.p99 <= two_ms),
    );
    report.row(
        S,
        format!("warm GET, new connection each, p50 / p99 ({} runs)", f.runs),
        format!("{} / {}", dur(f.fresh.p50), dur(f.fresh.p99)),
        "p99 ≤ 2 ms",
        Verdict::target(f.fresh.p99 <= two_ms),
    );
    report.row(
        S,
        format!("{} concurrent GETs, cold profile", f.herd),
        format!(
            "{} ok, {} GetRoleCredentials, {}",
            f.herd_ok,
            f.herd_calls,
            dur(f.herd_wall)
        ),
        "all ok, exactly 1",
        Verdict::check(f.herd_ok == f.herd && f.herd_calls == 1),
    );
    report.note(format!(
        "{S}: a new connection costs the caller lookup (/proc/net/tcp, then /proc/*/fd of the \
         grant's creator and its descendants first, then of every process) once per connection"
    ));
}
