//! The Watch stream and the policy's RPC answers (pending requests, Approve).
//!
//! Each watcher gets its own bounded queue fed from the event bus by a task of its own: when
//! the watcher reads too slowly, events are dropped for it (and counted in the next message
//! it gets), never queued without bound and never waited for by the request that caused them.

use std::{pin::Pin, sync::Arc};

use ssoagent_proto::v1 as pb;
use tokio::sync::{
    broadcast::error::RecvError,
    mpsc::{self, error::TrySendError},
};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::Status;

use super::convert::secs;
use crate::{agent::Agent, audit::record::Record, clock::unix_secs, policy::approvals::Pending};

/// Events a watcher may be behind before it loses some.
const WATCH_BUFFER: usize = 256;

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEvent, Status>> + Send>>;

/// A stream of audit records until the client goes away.
pub fn stream(agent: &Arc<Agent>) -> WatchStream {
    let mut events = agent.subscribe();
    let clock = agent.clock();
    let (tx, rx) = mpsc::channel(WATCH_BUFFER);
    tokio::spawn(async move {
        let mut dropped = 0u64;
        loop {
            let e = tokio::select! {
                () = tx.closed() => return,
                r = events.recv() => r,
            };
            let e = match e {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    dropped += n;
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let json = serde_json::to_string(&Record::of(&e, clock.now())).expect("JSON");
            match tx.try_send(Ok(pb::WatchEvent { json, dropped })) {
                Ok(()) => dropped = 0,
                Err(TrySendError::Full(_)) => dropped += 1,
                Err(TrySendError::Closed(_)) => return,
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

/// A waiting request as status lists it.
pub fn pending(p: Pending) -> pb::PendingRequest {
    pb::PendingRequest {
        id: p.id,
        profile: p.profile,
        pid: p.matched.pid,
        exe: p.matched.exe,
        since: unix_secs::to_secs(p.since),
        rule: p.rule.index as u32,
        rule_text: p.rule.text,
        caller_pid: p.caller_pid,
    }
}

/// `Approve`: a human at a terminal lets a waiting request (and its process) through.
pub fn approve(
    agent: &Agent,
    caller: crate::caller::Caller,
    r: pb::ApproveRequest,
) -> Result<pb::ApproveResponse, Status> {
    let for_ = (r.for_seconds > 0).then(|| std::time::Duration::from_secs(r.for_seconds));
    let v = agent.approve(caller, &r.id, for_, r.confirmed)?;
    Ok(pb::ApproveResponse {
        profile: v.pending.profile,
        pid: v.pending.matched.pid,
        exe: v.pending.matched.exe,
        until: secs(v.until),
    })
}
