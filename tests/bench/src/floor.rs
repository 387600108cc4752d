//! Section 1's floor of the daemon's stack: a bare tonic server on a Unix socket, in the
//! bench's runtime, answering GetCredentials with a fixed answer and every other call with
//! `unimplemented`: no peer checks, caller resolution, policy, audit or cache. The shim timed
//! against it, beside the same shim against ssoagentd, splits the gap to `cat` into what the
//! transport (tonic, hyper, h2 over a Unix socket) costs and what the daemon's work adds.

use std::{os::unix::fs::DirBuilderExt, path::PathBuf, pin::Pin};

use ssoagent_proto::v1 as pb;
use tokio::runtime::Runtime;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::world::{Result, World};

/// Starts the server (it runs until the runtime ends) and returns its socket.
pub fn start(rt: &Runtime, world: &World, answer: pb::Credentials) -> Result<PathBuf> {
    let dir = world.path("floor");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let socket = dir.join("agent.sock");
    let listener = {
        let _guard = rt.enter();
        tokio::net::UnixListener::bind(&socket).map_err(|e| format!("{}: {e}", socket.display()))?
    };
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let server = tonic::transport::Server::builder()
        .add_service(pb::agent_server::AgentServer::new(Fixed(answer)))
        .serve_with_incoming(incoming);
    rt.spawn(server);
    Ok(socket)
}

struct Fixed(pb::Credentials);

type Events<T> = Pin<Box<dyn Stream<Item = std::result::Result<T, Status>> + Send>>;
type Answer<T> = std::result::Result<Response<T>, Status>;

fn no<T>() -> Answer<T> {
    Err(Status::unimplemented(
        "the floor server answers GetCredentials only",
    ))
}

#[tonic::async_trait]
impl pb::agent_server::Agent for Fixed {
    async fn get_credentials(
        &self,
        _: Request<pb::GetCredentialsRequest>,
    ) -> Answer<pb::Credentials> {
        Ok(Response::new(self.0.clone()))
    }
    type UnlockStream = Events<pb::UnlockEvent>;
    type EcsGrantStream = Events<pb::EcsGrantEvent>;
    type WatchStream = Events<pb::WatchEvent>;
    async fn status(&self, _: Request<pb::StatusRequest>) -> Answer<pb::StatusResponse> {
        no()
    }
    async fn unlock(&self, _: Request<pb::UnlockRequest>) -> Answer<Self::UnlockStream> {
        no()
    }
    async fn lock(&self, _: Request<pb::LockRequest>) -> Answer<pb::LockResponse> {
        no()
    }
    async fn logout(&self, _: Request<pb::LogoutRequest>) -> Answer<pb::LogoutResponse> {
        no()
    }
    async fn list_accounts(
        &self,
        _: Request<pb::ListAccountsRequest>,
    ) -> Answer<pb::ListAccountsResponse> {
        no()
    }
    async fn who_am_i(&self, _: Request<pb::WhoAmIRequest>) -> Answer<pb::Identity> {
        no()
    }
    async fn mfa_status(&self, _: Request<pb::MfaStatusRequest>) -> Answer<pb::MfaInfo> {
        no()
    }
    async fn unlock_mfa(&self, _: Request<pb::UnlockMfaRequest>) -> Answer<pb::MfaInfo> {
        no()
    }
    async fn ecs_grant(&self, _: Request<pb::EcsGrantRequest>) -> Answer<Self::EcsGrantStream> {
        no()
    }
    async fn ecs_list(&self, _: Request<pb::EcsListRequest>) -> Answer<pb::EcsListResponse> {
        no()
    }
    async fn ecs_revoke(&self, _: Request<pb::EcsRevokeRequest>) -> Answer<pb::EcsRevokeResponse> {
        no()
    }
    async fn console_url(
        &self,
        _: Request<pb::ConsoleUrlRequest>,
    ) -> Answer<pb::ConsoleUrlResponse> {
        no()
    }
    async fn watch(&self, _: Request<pb::WatchRequest>) -> Answer<Self::WatchStream> {
        no()
    }
    async fn approve(&self, _: Request<pb::ApproveRequest>) -> Answer<pb::ApproveResponse> {
        no()
    }
}
