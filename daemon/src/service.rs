//! The gRPC service: turns requests into calls on the [`Agent`] and answers into messages.

use std::{pin::Pin, sync::Arc, time::Duration};

use ssoagent_proto::v1::{self as pb, agent_server::Agent as AgentRpc};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

use crate::{
    agent::{Agent, secs},
    store::unix_secs,
};

pub struct Service {
    pub agent: Arc<Agent>,
    /// The log file when detached; empty when logging to stderr.
    pub log_file: String,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[tonic::async_trait]
impl AgentRpc for Service {
    #[instrument(skip_all)]
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let a = &self.agent;
        let sessions = a.sessions_view().await.map_err(Status::from)?;
        let profiles = a.config.role_profiles().await.map_err(Status::from)?;
        let sessions = sessions
            .into_iter()
            .map(|v| pb::SessionStatus {
                profiles: profiles
                    .iter()
                    .filter(|p| p.session.key == v.spec.key)
                    .map(|p| pb::ProfileStatus {
                        name: p.name.clone(),
                        account_id: p.account_id.clone(),
                        role_name: p.role_name.clone(),
                        credentials_expire_at: secs(a.cached_expiry(&p.name)),
                    })
                    .collect(),
                name: v.spec.key,
                start_url: v.spec.start_url,
                region: v.spec.region,
                state: v.state.into(),
                token_expires_at: secs(v.token_expires_at),
                unlocked_until: secs(v.unlocked_until),
                refreshable: v.refreshable,
            })
            .collect();
        Ok(Response::new(pb::StatusResponse {
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: ssoagent_proto::PROTOCOL_VERSION,
            pid: std::process::id(),
            store: a.store_label().into(),
            sessions,
            log_file: self.log_file.clone(),
            config_file: a.config.path().display().to_string(),
        }))
    }

    #[instrument(skip_all)]
    async fn get_credentials(
        &self,
        req: Request<pb::GetCredentialsRequest>,
    ) -> Result<Response<pb::Credentials>, Status> {
        let profile = req.into_inner().profile;
        if profile.is_empty() {
            return Err(Status::invalid_argument("no profile given"));
        }
        let c = self.agent.credentials(&profile).await?;
        Ok(Response::new(pb::Credentials {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.expose().to_string(),
            session_token: c.session_token.expose().to_string(),
            expiration: rfc3339(c.expires_at),
        }))
    }

    type UnlockStream = Pin<Box<dyn Stream<Item = Result<pb::UnlockEvent, Status>> + Send>>;

    #[instrument(skip_all)]
    async fn unlock(
        &self,
        req: Request<pb::UnlockRequest>,
    ) -> Result<Response<Self::UnlockStream>, Status> {
        let req = req.into_inner();
        let spec = self
            .agent
            .resolve_session(&req.session, &req.profile)
            .await?;
        let window = (req.for_seconds > 0).then(|| Duration::from_secs(req.for_seconds));
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let agent = self.agent.clone();
        tokio::spawn(async move {
            let prompt_tx = tx.clone();
            let on_prompt = move |p: crate::login::Prompt| {
                let _ = prompt_tx.try_send(Ok(pb::UnlockEvent {
                    event: Some(pb::unlock_event::Event::Prompt(pb::LoginPrompt {
                        flow: p.flow.into(),
                        url: p.url,
                        user_code: p.user_code,
                        verification_uri: p.verification_uri,
                        expires_at: unix_secs::to_secs(p.expires_at),
                    })),
                }));
            };
            let key = spec.key.clone();
            let store = agent.store_label().to_string();
            let unlock = agent.unlock(spec, window, req.device_code, req.force_login, on_prompt);
            tokio::select! {
                r = unlock => {
                    let msg = r.map(|o| pb::UnlockEvent {
                        event: Some(pb::unlock_event::Event::Unlocked(pb::Unlocked {
                            session: o.session,
                            how: o.how.into(),
                            unlocked_until: secs(o.unlocked_until),
                            token_expires_at: unix_secs::to_secs(o.token_expires_at),
                            store,
                        })),
                    }).map_err(Status::from);
                    let _ = tx.send(msg).await;
                }
                _ = tx.closed() => info!(session = %key, "unlock cancelled by the client"),
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    #[instrument(skip_all)]
    async fn lock(
        &self,
        req: Request<pb::LockRequest>,
    ) -> Result<Response<pb::LockResponse>, Status> {
        let r = req.into_inner();
        let sessions = self.agent.lock(&r.session, r.all).await?;
        Ok(Response::new(pb::LockResponse { sessions }))
    }

    #[instrument(skip_all)]
    async fn logout(
        &self,
        req: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let r = req.into_inner();
        let sessions = self.agent.logout(&r.session, r.all).await?;
        Ok(Response::new(pb::LogoutResponse { sessions }))
    }

    #[instrument(skip_all)]
    async fn list_accounts(
        &self,
        req: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let (session, accounts) = self.agent.accounts(&req.into_inner().session).await?;
        Ok(Response::new(pb::ListAccountsResponse {
            session,
            accounts: accounts
                .into_iter()
                .map(|a| pb::Account {
                    account_id: a.account_id,
                    account_name: a.account_name,
                    email: a.email,
                    roles: a.roles,
                })
                .collect(),
        }))
    }
}
