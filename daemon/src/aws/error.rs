//! AWS answers sorted by what the daemon does about them, and the one mapping from them to the
//! daemon's own [`Error`].

use std::fmt::Display;

use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};

use crate::error::Error;

/// An AWS answer, sorted by what the daemon does about it.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// 401 from the portal: the access token is not (or no longer) valid.
    #[error("the SSO token was rejected: {0}")]
    Unauthorized(String),
    /// 403 or AccessDenied: the user may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// OIDC `invalid_grant`: a refresh token or code that is spent, revoked or expired.
    #[error("the grant is no longer valid: {0}")]
    InvalidGrant(String),
    /// OIDC `invalid_client`: the registration is gone.
    #[error("the client registration is no longer valid: {0}")]
    InvalidClient(String),
    #[error("authorization pending")]
    AuthorizationPending,
    #[error("slow down")]
    SlowDown,
    #[error("the login request expired before it was approved")]
    ExpiredToken,
    /// Anything else: 5xx, throttling after retries, network trouble. The message carries the
    /// SDK's whole cause chain (`DisplayErrorContext`), for the log and the client.
    #[error("{0}")]
    Failed(String),
}

impl AwsError {
    /// The daemon's error for this answer, `context` (whose request it was: "profile 'dev'",
    /// "login") in front. Refusals (403, a spent grant or registration) are
    /// [`Error::AwsRefused`], everything else [`Error::AwsFailed`]. A 401 on a token the daemon
    /// believed valid is the session's business: callers holding a session turn
    /// [`AwsError::Unauthorized`] into [`Error::expired`] before they get here.
    pub fn into_error(self, context: impl Display) -> Error {
        match self {
            Self::Forbidden(m) | Self::InvalidGrant(m) | Self::InvalidClient(m) => {
                Error::AwsRefused(format!("{context}: {m}"))
            }
            other => Error::AwsFailed(format!("{context}: {other}")),
        }
    }

    /// A token the daemon believed valid was rejected, or cannot be refreshed any more.
    pub fn is_dead_token(&self) -> bool {
        matches!(self, Self::InvalidGrant(_) | Self::InvalidClient(_))
    }
}

/// Sorts an SDK error by its error code (then its HTTP status).
pub(super) fn classify<E>(
    op: &str,
    err: SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let SdkError::ServiceError(se) = &err else {
        return AwsError::Failed(format!(
            "{op} failed: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&err)
        ));
    };
    let status = se.raw().status().as_u16();
    let code = se.err().code().unwrap_or("");
    let message = se.err().message().unwrap_or("").to_string();
    let detail = if message.is_empty() {
        format!("{code} (HTTP {status})")
    } else {
        format!("{code}: {message} (HTTP {status})")
    };
    match code {
        "UnauthorizedException" => AwsError::Unauthorized(detail),
        "InvalidGrantException" => AwsError::InvalidGrant(detail),
        "InvalidClientException" => AwsError::InvalidClient(detail),
        "AuthorizationPendingException" => AwsError::AuthorizationPending,
        "SlowDownException" => AwsError::SlowDown,
        "ExpiredTokenException" => AwsError::ExpiredToken,
        "ForbiddenException" | "AccessDeniedException" | "AccessDenied" => {
            AwsError::Forbidden(format!("{op} refused: {detail}"))
        }
        _ if status == 401 => AwsError::Unauthorized(detail),
        _ if status == 403 => AwsError::Forbidden(format!("{op} refused: {detail}")),
        _ => AwsError::Failed(format!("{op} failed: {detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mapping_for_every_answer() {
        let e = AwsError::Forbidden("GetRoleCredentials refused: no".into());
        assert!(
            matches!(e.into_error("profile 'dev'"), Error::AwsRefused(m) if m == "profile 'dev': GetRoleCredentials refused: no")
        );
        let e = AwsError::Failed("AssumeRole failed: 500".into());
        assert!(
            matches!(e.into_error("profile 'x'"), Error::AwsFailed(m) if m == "profile 'x': AssumeRole failed: 500")
        );
        assert!(AwsError::InvalidGrant(String::new()).is_dead_token());
    }
}
