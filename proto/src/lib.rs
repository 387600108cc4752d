//! The gRPC contract shared by `ssoagentd`, `ssoagent-cred` and `ssoagentctl`.
//!
//! Bump [`PROTOCOL_VERSION`] on any change that an older peer would misread.

/// Wire protocol version reported by `Status`; clients refuse a daemon with another one.
/// 2: session state, session kind, login flow and unlock outcome are enums, not strings.
/// 3: human presence: `UnlockRequest.confirmed`, `UnlockEvent.confirmation_needed`,
///    `StatusResponse.presence`.
/// 4: MFA on role hops (`MfaStatus`, `UnlockMfa`); container-credentials grants (`EcsGrant`,
///    `EcsList`, `EcsRevoke`) and `ConsoleUrl`; audit and policy (`Watch`, `Approve`,
///    `StatusResponse.pending`).
pub const PROTOCOL_VERSION: u32 = 4;

pub mod v1 {
    tonic::include_proto!("ssoagent.v1");

    impl SessionState {
        /// The word status shows: `locked`, `unlocked` or `expired`.
        pub fn label(self) -> &'static str {
            match self {
                Self::Unspecified => "unknown",
                Self::Locked => "locked",
                Self::Unlocked => "unlocked",
                Self::Expired => "expired",
            }
        }
    }

    impl UnlockedBy {
        /// How a human reads it after `ssoagentctl unlock`.
        pub fn describe(self) -> &'static str {
            match self {
                Self::Stored => "reused the stored token",
                Self::Refreshed => "refreshed the stored token",
                Self::Imported => "imported the token `aws sso login` left in ~/.aws/sso/cache",
                Self::Login | Self::Unspecified => "logged in",
            }
        }
    }
}
