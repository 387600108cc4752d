//! The RPCs of the bridges: container-credentials grants and console sign-in, as the service
//! calls them (one function per RPC; the service's trait methods only delegate).

use std::{pin::Pin, sync::Arc, time::Duration};

use ssoagent_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use super::{convert::secs, peer::caller};
use crate::{
    agent::Agent,
    clock::unix_secs,
    console::{self, ConsoleRequest},
    ecs::{Ecs, GrantInfo},
};

pub type GrantStream = Pin<Box<dyn Stream<Item = Result<pb::EcsGrantEvent, Status>> + Send>>;

pub fn info(g: &GrantInfo) -> pb::EcsGrantInfo {
    pb::EcsGrantInfo {
        id: g.id.clone(),
        profile: g.profile.clone(),
        created_at: unix_secs::to_secs(g.created_at),
        expires_at: secs(g.expires_at),
        held: g.held,
        creator_pid: g.creator.pid.unwrap_or(0),
        requests: g.requests,
        last_used_at: secs(g.last_used_at),
    }
}

/// A grant; a held one ends when the client drops the stream (its process exits or dies).
pub async fn grant(
    ecs: &Arc<Ecs>,
    req: Request<pb::EcsGrantRequest>,
) -> Result<Response<GrantStream>, Status> {
    let caller = caller(&req)?;
    let r = req.into_inner();
    let ttl = (r.ttl_seconds > 0).then(|| Duration::from_secs(r.ttl_seconds));
    let g = ecs.grant(caller, &r.profile, ttl, r.hold).await?;
    let event = pb::EcsGrantEvent {
        grant: Some(info(&g.info)),
        url: g.url,
        token: g.token,
        region: g.region.unwrap_or_default(),
    };
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.send(Ok(event)).await;
    if r.hold {
        let (ecs, id) = (ecs.clone(), g.info.id.clone());
        let busy = ecs.busy();
        tokio::spawn(async move {
            let _busy = busy;
            tx.closed().await;
            ecs.release(caller, &id);
        });
    }
    Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
}

pub fn list(ecs: &Ecs) -> pb::EcsListResponse {
    pb::EcsListResponse {
        grants: ecs.list().iter().map(info).collect(),
        url: ecs.url().unwrap_or_default(),
    }
}

pub fn revoke(
    ecs: &Ecs,
    req: Request<pb::EcsRevokeRequest>,
) -> Result<Response<pb::EcsRevokeResponse>, Status> {
    let caller = caller(&req)?;
    let r = req.into_inner();
    let ids = ecs.revoke(caller, &r.id, r.all)?;
    Ok(Response::new(pb::EcsRevokeResponse { ids }))
}

pub async fn console_url(
    agent: &Agent,
    req: Request<pb::ConsoleUrlRequest>,
) -> Result<Response<pb::ConsoleUrlResponse>, Status> {
    let caller = caller(&req)?;
    let r = req.into_inner();
    if r.profile.is_empty() {
        return Err(Status::invalid_argument("no profile given"));
    }
    let login = console::login(
        agent,
        caller,
        &ConsoleRequest {
            profile: r.profile,
            service: r.service,
            destination: r.destination,
            region: r.region,
        },
    )
    .await?;
    Ok(Response::new(pb::ConsoleUrlResponse {
        url: login.url.expose().to_string(),
        destination: login.destination,
    }))
}
