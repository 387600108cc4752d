//! What can go wrong in the daemon, worded for the person who reads it. How it travels to
//! clients (a gRPC status) is the transport's business: `rpc/convert.rs`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or config: unknown profile, not an SSO profile, broken ~/.aws/config.
    #[error("{}", one_line(.0))]
    Config(String),
    /// A human must unlock (or log in again); the message names the command.
    #[error("{}", one_line(.0))]
    NeedsUnlock(String),
    /// AWS refused (403, access denied).
    #[error("{}", one_line(.0))]
    AwsRefused(String),
    /// AWS failed or could not be reached (5xx, throttling after retries, timeouts).
    #[error("{}", one_line(.0))]
    AwsFailed(String),
    /// The human cancelled, or the login timed out.
    #[error("{}", one_line(.0))]
    Cancelled(String),
    #[error("{}", one_line(.0))]
    Internal(String),
    /// Refused by the agent's own policy (a `deny` rule); names the rule and the caller.
    #[error("{}", one_line(.0))]
    Policy(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A config error, on one line whatever the file or the caller put in names and values.
    pub fn config(message: impl Into<String>) -> Self {
        Self::Config(one_line(&message.into()))
    }

    pub fn locked(session: &str) -> Self {
        Self::NeedsUnlock(format!(
            "session '{session}' is locked; a human must run: {}",
            unlock_command(session)
        ))
    }

    pub fn expired(session: &str) -> Self {
        Self::NeedsUnlock(format!(
            "session '{session}' has expired and must be logged in again; a human must run: {}",
            unlock_command(session)
        ))
    }
}

/// The command a human runs to unlock `session` (quoted when it is a URL or has spaces).
pub fn unlock_command(session: &str) -> String {
    if session
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        format!("ssoagentctl unlock {session}")
    } else {
        format!("ssoagentctl unlock '{session}'")
    }
}

/// Clients print one line: control characters (from a config value with a continuation line,
/// or a caller's profile name) are escaped, never passed on to forge more lines.
pub fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(
            super::one_line("profile 'dev\nforged'"),
            "profile 'dev\\nforged'"
        );
    }
}
