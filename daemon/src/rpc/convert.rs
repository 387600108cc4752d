//! Between the core's types and the proto's: errors to gRPC statuses (the clients map those to
//! exit codes, see `proto/ssoagent/v1/agent.proto`), enums, times and profile views.

use ssoagent_client::config::LoginFlow;
use ssoagent_proto::v1 as pb;
use tonic::{Code, Status};

use crate::{
    agent::Agent,
    clock::unix_secs,
    error::Error,
    profiles::{Chain, SessionKind},
    session::{State, UnlockedBy},
};

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Config(_) => Code::InvalidArgument,
            Error::NeedsUnlock(_) => Code::FailedPrecondition,
            Error::AwsRefused(_) => Code::PermissionDenied,
            Error::AwsFailed(_) => Code::Unavailable,
            Error::Cancelled(_) => Code::Cancelled,
            Error::Internal(_) => Code::Internal,
            Error::Policy(_) => Code::Aborted,
        };
        Status::new(code, e.to_string())
    }
}

pub fn state(s: State) -> pb::SessionState {
    match s {
        State::Locked => pb::SessionState::Locked,
        State::Unlocked => pb::SessionState::Unlocked,
        State::Expired => pb::SessionState::Expired,
    }
}

pub fn kind(k: SessionKind) -> pb::SessionKind {
    match k {
        SessionKind::SsoSession => pb::SessionKind::SsoSession,
        SessionKind::Legacy => pb::SessionKind::Legacy,
        SessionKind::Oidc => pb::SessionKind::Oidc,
    }
}

pub fn flow(f: LoginFlow) -> pb::LoginFlow {
    match f {
        LoginFlow::Pkce => pb::LoginFlow::Pkce,
        LoginFlow::Device => pb::LoginFlow::Device,
    }
}

pub fn unlocked_by(h: UnlockedBy) -> pb::UnlockedBy {
    match h {
        UnlockedBy::Stored => pb::UnlockedBy::Stored,
        UnlockedBy::Refreshed => pb::UnlockedBy::Refreshed,
        UnlockedBy::Imported => pb::UnlockedBy::Imported,
        UnlockedBy::Login => pb::UnlockedBy::Login,
    }
}

pub fn secs(t: Option<std::time::SystemTime>) -> i64 {
    unix_secs::or_zero(t)
}

/// RFC 3339 UTC, as credential_process wants it.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A profile as status shows it.
pub fn profile_status(a: &Agent, p: &Chain) -> pb::ProfileStatus {
    let (verified_at, verified_arn) = a.verified(p.name()).unzip();
    let mut out = pb::ProfileStatus {
        name: p.name().to_string(),
        credentials_expire_at: secs(a.cached_expiry(p)),
        verified_at: secs(verified_at),
        verified_arn: verified_arn.unwrap_or_default(),
        ..Default::default()
    };
    match p.hops.last() {
        None => match &p.source {
            crate::profiles::Source::Sso(s) => {
                out.account_id = s.account_id.clone();
                out.role_name = s.role_name.clone();
                out.warning = s.warning.clone().unwrap_or_default();
            }
            crate::profiles::Source::Oidc(o) => {
                let arn = o.role_arn.clone().unwrap_or_default();
                (out.account_id, out.role_name) = arn_parts(&arn);
                out.role_arn = arn;
            }
        },
        Some(hop) => {
            out.role_arn = hop.role_arn.clone();
            out.source_profile = p.source_profile().unwrap_or_default();
            (out.account_id, out.role_name) = arn_parts(&hop.role_arn);
        }
    }
    out
}

/// The account id and role name of a role ARN.
fn arn_parts(arn: &str) -> (String, String) {
    (
        arn.split(':').nth(4).unwrap_or_default().to_string(),
        arn.rsplit('/').next().unwrap_or_default().to_string(),
    )
}
