//! The one error type of ssoagentctl: a message and the exit code the user should see.

use ssoagent_client::{ConnectError, exit};

/// An error with the exit code the user should see.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Self::new(exit::for_status(&s), exit::message(&s))
    }
}

impl From<ConnectError> for Failure {
    fn from(e: ConnectError) -> Self {
        Self::new(exit::UNREACHABLE, e.to_string())
    }
}
