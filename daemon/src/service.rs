//! The gRPC service: turns requests into calls on the [`Agent`] and answers into messages.

use std::{pin::Pin, sync::Arc, time::Duration};

use ssoagent_proto::v1::{self as pb, agent_server::Agent as AgentRpc};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};
use tracing::{debug, info, instrument};

use crate::{
    agent::{Agent, secs},
    profiles::Served,
    store::unix_secs,
};

/// Counts an unlock in progress so an idle exit never cuts a human's login short.
struct LoginGuard;

impl LoginGuard {
    fn new() -> Self {
        crate::server::LOGINS_IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self
    }
}

impl Drop for LoginGuard {
    fn drop(&mut self) {
        crate::server::LOGINS_IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

pub struct Service {
    pub agent: Arc<Agent>,
    /// The log file when detached; empty when logging to stderr.
    pub log_file: String,
}

fn profile_status(a: &Agent, p: &Served) -> pb::ProfileStatus {
    let (verified_at, verified_arn) = a.verified(p.name()).unzip();
    let mut out = pb::ProfileStatus {
        name: p.name().to_string(),
        credentials_expire_at: secs(a.cached_expiry(p.name())),
        verified_at: secs(verified_at),
        verified_arn: verified_arn.unwrap_or_default(),
        ..Default::default()
    };
    match p {
        Served::Sso(s) => {
            out.account_id = s.account_id.clone();
            out.role_name = s.role_name.clone();
            out.warning = s.warning.clone().unwrap_or_default();
        }
        Served::Chained(c) => {
            out.role_arn = c.role_arn.clone();
            out.source_profile = c.source.name().to_string();
            out.account_id = c.role_arn.split(':').nth(4).unwrap_or_default().to_string();
            out.role_name = c
                .role_arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
        }
    }
    out
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
        // A broken ~/.aws/config is reported, not an error: status answers whenever the daemon runs.
        let (sessions, profiles, problems, config_error) = match async {
            Ok::<_, crate::error::Error>((
                a.sessions_view().await?,
                a.config.profiles().await?,
                a.config.problems().await?,
            ))
        }
        .await
        {
            Ok((s, p, pr)) => (s, p, pr, String::new()),
            Err(e) => (Vec::new(), Vec::new(), Vec::new(), e.to_string()),
        };
        let sessions = sessions
            .into_iter()
            .map(|v| pb::SessionStatus {
                profiles: profiles
                    .iter()
                    .filter(|p| p.session().key == v.spec.key)
                    .map(|p| profile_status(a, p))
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
        let skew = a.clock_skew();
        Ok(Response::new(pb::StatusResponse {
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: ssoagent_proto::PROTOCOL_VERSION,
            pid: std::process::id(),
            store: a.store_label().into(),
            sessions,
            log_file: self.log_file.clone(),
            config_file: a.config.path().display().to_string(),
            config_error,
            problems: problems
                .into_iter()
                .map(|(profile, message)| pb::ProfileProblem { profile, message })
                .collect(),
            clock_skew_seconds: skew.unwrap_or(0),
            clock_skew_known: skew.is_some(),
        }))
    }

    #[instrument(skip_all)]
    async fn get_credentials(
        &self,
        req: Request<pb::GetCredentialsRequest>,
    ) -> Result<Response<pb::Credentials>, Status> {
        let profile = req.into_inner().profile;
        debug!(?profile, "GetCredentials");
        if profile.is_empty() {
            return Err(Status::invalid_argument("no profile given"));
        }
        let served = self.agent.config.profile(&profile).await?;
        let c = self.agent.credentials(&profile).await?;
        Ok(Response::new(pb::Credentials {
            region: served.region().unwrap_or_default().to_string(),
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
            let _login = LoginGuard::new();
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
    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::Identity>, Status> {
        let profile = req.into_inner().profile;
        let id = self.agent.whoami(&profile).await?;
        Ok(Response::new(pb::Identity {
            profile,
            account: id.account,
            arn: id.arn,
            user_id: id.user_id,
        }))
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
