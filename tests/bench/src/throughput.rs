//! Section 2, daemon throughput: GetCredentials from N connections at once (each its own
//! tonic Channel over the unix socket, each driven by one task issuing requests back-to-back),
//! generated in-process on the bench's multi-thread tokio runtime. The same generator drives
//! the memory and refresh-boundary sections.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use ssoagent_client::proto::GetCredentialsRequest;

use crate::world::{Result, World};

#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Until this long after the start.
    After(Duration),
    /// After this many requests in all.
    Count(u64),
}

#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub conns: usize,
    pub stop: Stop,
    /// Time between the starts of one connection's requests; `None` for back-to-back.
    pub pace: Option<Duration>,
}

/// One request: when it started (since the run's start) and how long it took.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Duration,
    pub latency: Duration,
}

pub struct LoadResult {
    pub samples: Vec<Sample>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the start until the last request finished.
    pub elapsed: Duration,
}

impl LoadResult {
    pub fn requests(&self) -> u64 {
        self.samples.len() as u64
    }

    pub fn per_second(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn latencies(&self) -> Vec<Duration> {
        self.samples.iter().map(|s| s.latency).collect()
    }

    /// An error text when any request failed.
    pub fn check(&self) -> Result<()> {
        match &self.first_error {
            None => Ok(()),
            Some(e) => Err(format!(
                "{} of {} requests failed; first: {e}",
                self.errors,
                self.requests()
            )),
        }
    }
}

/// Runs `load` against `profile`. Connections are opened (and each sends one request, not
/// counted) before the clock starts; `t0` (default: now) is the start the samples refer to.
pub async fn run(
    world: &World,
    profile: &str,
    load: Load,
    t0: Option<Instant>,
) -> Result<LoadResult> {
    let mut clients = Vec::with_capacity(load.conns);
    for _ in 0..load.conns {
        let mut c = world.client().await?;
        c.get_credentials(GetCredentialsRequest {
            profile: profile.into(),
        })
        .await
        .map_err(|s| format!("warm-up GetCredentials({profile}): {}", s.message()))?;
        clients.push(c);
    }
    let t0 = t0.unwrap_or_else(Instant::now);
    let deadline = match load.stop {
        Stop::After(d) => Some(t0 + d),
        Stop::Count(_) => None,
    };
    let budget = Arc::new(AtomicU64::new(match load.stop {
        Stop::Count(n) => n,
        Stop::After(_) => u64::MAX,
    }));
    let mut tasks = Vec::with_capacity(load.conns);
    for mut client in clients {
        let profile = profile.to_string();
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(4096);
            let (mut errors, mut first_error) = (0u64, None);
            let mut next = Instant::now();
            loop {
                if let Some(p) = load.pace {
                    tokio::time::sleep_until(next.into()).await;
                    next += p;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                // Take one request from the budget (a count-limited run).
                if budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_err()
                {
                    break;
                }
                let start = Instant::now();
                let r = client
                    .get_credentials(GetCredentialsRequest {
                        profile: profile.clone(),
                    })
                    .await;
                let latency = start.elapsed();
                samples.push(Sample {
                    at: start - t0,
                    latency,
                });
                let bad = match r {
                    Ok(c) if !c.get_ref().access_key_id.is_empty() => None,
                    Ok(_) => Some("an empty AccessKeyId".to_string()),
                    Err(s) => Some(format!("{:?}: {}", s.code(), s.message())),
                };
                if let Some(e) = bad {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
            (samples, errors, first_error)
        }));
    }
    let mut out = LoadResult {
        samples: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (samples, errors, first_error) = t.await.map_err(|e| format!("load task: {e}"))?;
        out.samples.extend(samples);
        out.errors += errors;
        if out.first_error.is_none() {
            out.first_error = first_error;
        }
    }
    out.elapsed = out
        .samples
        .iter()
        .map(|s| s.at + s.latency)
        .max()
        .unwrap_or(Duration::from_nanos(1));
    out.samples.sort_unstable_by_key(|s| s.at);
    Ok(out)
}
