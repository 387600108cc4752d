//! Serving gRPC on the socket until SIGTERM/SIGINT (or an idle timeout), with the core's
//! housekeeping ticking beside it.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use ssoagent_proto::v1::agent_server::AgentServer;
use tracing::info;

#[cfg(unix)]
use super::conns;
use super::{peer, service::Service};
use crate::{activity::Activity, agent::Agent, platform};

/// Largest request the daemon decodes; every real request is tiny.
const MAX_MESSAGE: usize = 64 * 1024;
/// How often housekeeping runs (window ends, background refreshes, refresh ahead). Cheap:
/// it walks the in-memory sessions and cache and calls AWS only for what is due.
const TICK: Duration = Duration::from_secs(2);
/// Requests in progress on one connection; more wait their turn.
const CONCURRENCY_PER_CONNECTION: usize = 32;
/// How long a request may take to be answered: beyond every AWS retry budget (40 s per call,
/// a refresh plus a few role hops). Unlock answers at once with a stream that waits on its
/// human for as long as the login allows, so this never cuts it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// HTTP/2 pings on quiet connections: a client that does not answer is closed, one that does
/// counts as active (see [`conns`]).
const KEEPALIVE: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves until SIGTERM/SIGINT (or `idle` without requests), then removes the socket if we
/// bound it (`socket` is `None` for an activated socket, which belongs to systemd).
pub async fn serve(
    listener: platform::Listener,
    socket: Option<PathBuf>,
    agent: Arc<Agent>,
    log_file: String,
    idle: Option<Duration>,
) -> anyhow::Result<()> {
    let activity = Activity::new(agent.clock());
    #[cfg(unix)]
    let resolve_at_accept = agent.resolves_callers();
    let ticker = {
        let agent = agent.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(TICK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                agent.tick().await;
            }
        })
    };
    // Requests are tiny and capped; answers (status, accounts of a large organisation) are not.
    let service = AgentServer::new(Service::new(agent, log_file, activity.clone()))
        .max_decoding_message_size(MAX_MESSAGE);
    let checker = activity.clone();
    let service = tonic::service::interceptor::InterceptedService::new(service, move |req| {
        peer::check(&checker, req)
    });
    match &socket {
        Some(path) => info!(socket = %path.display(), pid = std::process::id(), "ssoagentd ready"),
        None => info!(
            pid = std::process::id(),
            "ssoagentd ready on an activated socket"
        ),
    }
    let stop = {
        let activity = activity.clone();
        async move {
            tokio::select! {
                _ = platform::shutdown_signal() => {}
                _ = idle_exit(&activity, idle) => {}
            }
        }
    };
    #[cfg(unix)]
    let incoming = conns::incoming(listener, conns::Conns::new(conns::cap()), resolve_at_accept);
    #[cfg(windows)]
    let (incoming, acceptor) = platform::incoming(listener);
    let server = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        .timeout(REQUEST_TIMEOUT)
        .http2_keepalive_interval(Some(KEEPALIVE))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, stop);
    // The accept loop runs on a worker, beside the connections it spawns, not on the thread
    // that blocks on the runtime: handing each connection from that thread to a worker cost
    // a thread wake-up per request.
    let result = tokio::spawn(server)
        .await
        .context("the server task failed")?;
    #[cfg(windows)]
    acceptor.abort();
    ticker.abort();
    if let Some(path) = socket {
        let _ = std::fs::remove_file(path);
    }
    info!("ssoagentd stopped");
    result.context("serving failed")
}

/// Resolves after `idle` without requests and without a login in progress; never if `None`.
/// Unlock state and tokens are on disk, so the next activation picks up where this left off.
async fn idle_exit(activity: &Activity, idle: Option<Duration>) {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_secs(1).min(idle)).await;
        if activity.idle_for(idle) {
            info!(idle = %humantime::format_duration(idle), "idle; exiting until the next activation");
            return;
        }
    }
}
