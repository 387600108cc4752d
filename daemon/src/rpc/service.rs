//! The gRPC service: turns requests into calls on the [`Agent`] (with the request's
//! [`Caller`]) and answers into messages.

use std::{pin::Pin, sync::Arc, time::Duration};

use ssoagent_proto::v1::{self as pb, agent_server::Agent as AgentRpc};
use tokio::sync::mpsc;
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};
use tracing::{debug, info, instrument};

use super::{
    bridges,
    convert::{self, rfc3339, secs},
    peer::{caller, conn_caller},
};
use crate::{
    activity::Activity,
    agent::Agent,
    caller::Caller,
    clock::unix_secs,
    ecs::Ecs,
    error::Error,
    login::Prompt,
    profiles::SessionSpec,
    session::{Confirmation, UnlockAnswer, UnlockOptions, UnlockOutcome},
};

pub struct Service {
    agent: Arc<Agent>,
    /// The log file when detached; empty when logging to stderr.
    log_file: String,
    activity: Activity,
    /// The container-credentials endpoint (started by its first grant).
    ecs: Arc<Ecs>,
}

type UnlockTx = mpsc::Sender<Result<pb::UnlockEvent, Status>>;

impl Service {
    pub fn new(agent: Arc<Agent>, log_file: String, activity: Activity) -> Self {
        let ecs = Arc::new(Ecs::new(agent.clone(), activity.clone()));
        Self {
            agent,
            log_file,
            activity,
            ecs,
        }
    }

    /// Every session with its profiles; a broken ~/.aws/config is reported, not an error:
    /// status answers whenever the daemon runs.
    async fn sessions(&self) -> (Vec<pb::SessionStatus>, Vec<pb::ProfileProblem>, String) {
        let a = &self.agent;
        let read = async {
            Ok::<_, Error>((
                a.sessions_view().await?,
                a.config.profiles().await?,
                a.config.problems().await?,
            ))
        };
        let (views, profiles, problems) = match read.await {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Vec::new(), e.to_string()),
        };
        let sessions = views
            .into_iter()
            .map(|v| pb::SessionStatus {
                profiles: profiles
                    .iter()
                    .filter(|p| p.session().key == v.spec.key)
                    .map(|p| convert::profile_status(a, p))
                    .collect(),
                kind: convert::kind(v.spec.kind).into(),
                name: v.spec.key,
                start_url: v.spec.start_url,
                region: v.spec.region,
                state: convert::state(v.state).into(),
                token_expires_at: secs(v.token_expires_at),
                unlocked_until: secs(v.unlocked_until),
                refreshable: v.refreshable,
            })
            .collect();
        let problems = problems
            .into_iter()
            .map(|(profile, message)| pb::ProfileProblem { profile, message })
            .collect();
        (sessions, problems, String::new())
    }
}

/// Runs an unlock for the stream: prompts as they come, then the outcome; a dropped stream
/// (Ctrl-C in ssoagentctl) cancels the login.
async fn run_unlock(
    agent: Arc<Agent>,
    caller: Caller,
    spec: SessionSpec,
    opts: UnlockOptions,
    tx: UnlockTx,
) {
    let prompt_tx = tx.clone();
    let on_prompt = move |p: Prompt| {
        let _ = prompt_tx.try_send(Ok(pb::UnlockEvent {
            event: Some(pb::unlock_event::Event::Prompt(pb::LoginPrompt {
                flow: convert::flow(p.flow).into(),
                url: p.url,
                user_code: p.user_code,
                verification_uri: p.verification_uri,
                expires_at: unix_secs::to_secs(p.expires_at),
            })),
        }));
    };
    let key = spec.key.clone();
    let store = agent.store_label().to_string();
    let unlock = agent.unlock(caller, spec, opts, on_prompt);
    tokio::select! {
        r = unlock => {
            let msg = r
                .map(|a| match a {
                    UnlockAnswer::Unlocked(o) => unlocked_event(o, store),
                    UnlockAnswer::ConfirmationNeeded(c) => confirmation_event(c),
                })
                .map_err(Status::from);
            let _ = tx.send(msg).await;
        }
        _ = tx.closed() => info!(session = %key, "unlock cancelled by the client"),
    }
}

fn confirmation_event(c: Confirmation) -> pb::UnlockEvent {
    pb::UnlockEvent {
        event: Some(pb::unlock_event::Event::ConfirmationNeeded(
            pb::ConfirmationNeeded {
                session: c.session,
                until: secs(c.until),
                prompt: c.prompt,
            },
        )),
    }
}

fn unlocked_event(o: UnlockOutcome, store: String) -> pb::UnlockEvent {
    pb::UnlockEvent {
        event: Some(pb::unlock_event::Event::Unlocked(pb::Unlocked {
            session: o.session,
            how: convert::unlocked_by(o.how).into(),
            unlocked_until: secs(o.unlocked_until),
            token_expires_at: unix_secs::to_secs(o.token_expires_at),
            store,
        })),
    }
}

fn mfa_info(t: crate::creds::MfaTarget) -> pb::MfaInfo {
    pb::MfaInfo {
        profile: t.profile,
        mfa_serial: t.mfa_serial,
        session: t.session,
        session_unlocked: t.session_unlocked,
        credentials_expire_at: secs(t.expires_at),
    }
}

#[tonic::async_trait]
impl AgentRpc for Service {
    #[instrument(skip_all)]
    async fn mfa_status(
        &self,
        req: Request<pb::MfaStatusRequest>,
    ) -> Result<Response<pb::MfaInfo>, Status> {
        caller(&req)?;
        let profile = req.into_inner().profile;
        let t = self.agent.mfa_target(&profile).await?;
        Ok(Response::new(t.map(mfa_info).unwrap_or_default()))
    }

    #[instrument(skip_all)]
    async fn unlock_mfa(
        &self,
        req: Request<pb::UnlockMfaRequest>,
    ) -> Result<Response<pb::MfaInfo>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let t = self.agent.unlock_mfa(caller, &r.profile, &r.code).await?;
        Ok(Response::new(mfa_info(t)))
    }

    #[instrument(skip_all)]
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let a = &self.agent;
        let (sessions, problems, config_error) = self.sessions().await;
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
            problems,
            clock_skew_seconds: skew.unwrap_or(0),
            clock_skew_known: skew.is_some(),
            presence: a.presence().label().into(),
            pending: a
                .policy
                .pending()
                .into_iter()
                .map(super::watch::pending)
                .collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn get_credentials(
        &self,
        req: Request<pb::GetCredentialsRequest>,
    ) -> Result<Response<pb::Credentials>, Status> {
        let caller = caller(&req)?;
        let conn = conn_caller(&req);
        let profile = req.into_inner().profile;
        debug!(?profile, "GetCredentials");
        if profile.is_empty() {
            return Err(Status::invalid_argument("no profile given"));
        }
        let (chain, c) = self
            .agent
            .credentials_on(caller, conn.as_deref(), &profile)
            .await?;
        Ok(Response::new(pb::Credentials {
            region: chain.region().unwrap_or_default().to_string(),
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
        let caller = caller(&req)?;
        let req = req.into_inner();
        let spec = self
            .agent
            .resolve_session(&req.session, &req.profile)
            .await?;
        let opts = UnlockOptions {
            window: (req.for_seconds > 0).then(|| Duration::from_secs(req.for_seconds)),
            device_code: req.device_code,
            force_login: req.force_login,
            confirmed: req.confirmed,
        };
        let (tx, rx) = mpsc::channel(4);
        let agent = self.agent.clone();
        let login = self.activity.login();
        tokio::spawn(async move {
            let _login = login;
            run_unlock(agent, caller, spec, opts, tx).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    #[instrument(skip_all)]
    async fn lock(
        &self,
        req: Request<pb::LockRequest>,
    ) -> Result<Response<pb::LockResponse>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let sessions = self.agent.lock(caller, &r.session, r.all).await?;
        Ok(Response::new(pb::LockResponse { sessions }))
    }

    #[instrument(skip_all)]
    async fn logout(
        &self,
        req: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let caller = caller(&req)?;
        let r = req.into_inner();
        let sessions = self.agent.logout(caller, &r.session, r.all).await?;
        Ok(Response::new(pb::LogoutResponse { sessions }))
    }

    #[instrument(skip_all)]
    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::Identity>, Status> {
        let caller = caller(&req)?;
        let profile = req.into_inner().profile;
        let id = self.agent.whoami(caller, &profile).await?;
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
        let caller = caller(&req)?;
        let session = req.into_inner().session;
        let (session, accounts) = self.agent.accounts(caller, &session).await?;
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
    type EcsGrantStream = bridges::GrantStream;

    #[instrument(skip_all)]
    async fn ecs_grant(
        &self,
        req: Request<pb::EcsGrantRequest>,
    ) -> Result<Response<Self::EcsGrantStream>, Status> {
        bridges::grant(&self.ecs, req).await
    }

    #[instrument(skip_all)]
    async fn ecs_list(
        &self,
        req: Request<pb::EcsListRequest>,
    ) -> Result<Response<pb::EcsListResponse>, Status> {
        caller(&req)?;
        Ok(Response::new(bridges::list(&self.ecs)))
    }

    #[instrument(skip_all)]
    async fn ecs_revoke(
        &self,
        req: Request<pb::EcsRevokeRequest>,
    ) -> Result<Response<pb::EcsRevokeResponse>, Status> {
        bridges::revoke(&self.ecs, req)
    }

    #[instrument(skip_all)]
    async fn console_url(
        &self,
        req: Request<pb::ConsoleUrlRequest>,
    ) -> Result<Response<pb::ConsoleUrlResponse>, Status> {
        bridges::console_url(&self.agent, req).await
    }

    type WatchStream = super::watch::WatchStream;

    #[instrument(skip_all)]
    async fn watch(
        &self,
        _: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Ok(Response::new(super::watch::stream(&self.agent)))
    }

    #[instrument(skip_all)]
    async fn approve(
        &self,
        req: Request<pb::ApproveRequest>,
    ) -> Result<Response<pb::ApproveResponse>, Status> {
        let caller = caller(&req)?;
        let r = super::watch::approve(&self.agent, caller, req.into_inner())?;
        Ok(Response::new(r))
    }
}
