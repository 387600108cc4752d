//! Exit codes of `ssoagent-cred` and `ssoagentctl` (DESIGN.md, "Contract the tests rely on").

use tonic::Code;

/// Success.
pub const OK: i32 = 0;
/// Bad usage or config: unknown profile, not an SSO profile, broken `~/.aws/config`.
pub const USAGE: i32 = 2;
/// A human must unlock: the message names the exact `ssoagentctl unlock …` command.
pub const LOCKED: i32 = 3;
/// The daemon is unreachable: the message says how to start it.
pub const UNREACHABLE: i32 = 4;
/// AWS refused or failed (or anything else went wrong in the daemon).
pub const FAILED: i32 = 5;
/// Refused by the agent's own policy (a `deny` rule): the message names the rule and caller.
pub const POLICY: i32 = 6;

/// Maps a daemon's answer to the exit code a user reads (see `proto/ssoagent/v1/agent.proto`).
pub fn for_status(status: &tonic::Status) -> i32 {
    match status.code() {
        // OutOfRange: a request over the daemon's size limit (an absurd profile name).
        Code::InvalidArgument | Code::NotFound | Code::OutOfRange => USAGE,
        Code::FailedPrecondition => LOCKED,
        Code::Aborted => POLICY,
        // The connection broke before the daemon answered.
        _ if lost_connection(status) => UNREACHABLE,
        _ => FAILED,
    }
}

/// The connection broke before the daemon answered: tonic's own "transport error" (Unavailable,
/// or Unknown when a forwarded socket's sshd accepts and then has no tunnel behind it).
fn lost_connection(status: &tonic::Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::Unknown)
        && status.message().starts_with("transport error")
}

/// The one line a user sees for a daemon's error answer.
pub fn message(status: &tonic::Status) -> String {
    match status.code() {
        Code::Unimplemented => {
            "ssoagentd speaks another protocol version; restart it: ssoagentctl restart".into()
        }
        _ if lost_connection(status) => {
            format!(
                "lost the connection to ssoagentd ({}); is it running? try: ssoagentctl status",
                status.message()
            )
        }
        _ => status.message().to_string(),
    }
}
