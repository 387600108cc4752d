//! Section 4, the daemon's memory (VmRSS): idle after unlock, after serving 100 distinct profiles
//! (added to `~/.aws/config` while it runs, each fetched once), and after many GetCredentials
//! (two batches: growth in the second would be a leak).

use std::time::Duration;

use ssoagent_client::proto::GetCredentialsRequest;
use tokio::runtime::Runtime;

use crate::{
    throughput::{self, Load, Stop},
    world::{Op, Result, SESSION, World, profile_section},
};

pub const PROFILES: usize = 100;
/// Connections for the request phase.
const CONNS: usize = 16;

pub struct MemoryFigures {
    pub idle_kib: u64,
    pub after_profiles_kib: u64,
    /// GetRoleCredentials calls the 100 profiles caused.
    pub profile_fetches: u64,
    /// Requests per batch; RSS after the first and after the second batch.
    pub requests: u64,
    pub after_requests_kib: u64,
    pub after_second_batch_kib: u64,
    pub requests_per_second: f64,
}

pub fn run(world: &World, rt: &Runtime, requests: u64, profile: &str) -> Result<MemoryFigures> {
    std::thread::sleep(Duration::from_millis(200));
    let idle_kib = world.daemon_rss_kib()?;

    let combos = [
        ("111111111111", "ReadOnly"),
        ("111111111111", "Admin"),
        ("222222222222", "ReadOnly"),
        ("333333333333", "Developer"),
    ];
    let names: Vec<String> = (0..PROFILES).map(|i| format!("mem-{i:03}")).collect();
    let text: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (account, role) = combos[i % combos.len()];
            profile_section(n, SESSION, account, role)
        })
        .collect();
    world.append_aws_config(&text)?;
    let grc0 = world.emu.calls(Op::GetRoleCredentials);
    rt.block_on(async {
        let mut client = world.client().await?;
        for name in &names {
            client
                .get_credentials(GetCredentialsRequest {
                    profile: name.clone(),
                })
                .await
                .map_err(|s| format!("GetCredentials({name}): {}", s.message()))?;
        }
        Ok::<_, String>(())
    })?;
    let profile_fetches = world.emu.calls(Op::GetRoleCredentials) - grc0;
    let after_profiles_kib = world.daemon_rss_kib()?;

    let load = Load {
        conns: CONNS,
        stop: Stop::Count(requests),
        pace: None,
    };
    // Twice: the first batch shows what serving costs at all (buffers, allocator arenas),
    // growth in the second would be a leak.
    let mut after = [0; 2];
    let mut per_second = 0.0;
    for rss in &mut after {
        let r = rt.block_on(throughput::run(world, profile, load, None))?;
        r.check()?;
        per_second = r.per_second();
        // Let the daemon drop the state of the closed connections.
        std::thread::sleep(Duration::from_millis(500));
        *rss = world.daemon_rss_kib()?;
    }
    Ok(MemoryFigures {
        idle_kib,
        after_profiles_kib,
        profile_fetches,
        requests,
        after_requests_kib: after[0],
        after_second_batch_kib: after[1],
        requests_per_second: per_second,
    })
}
