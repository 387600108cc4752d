//! The gRPC contract shared by `ssoagentd`, `ssoagent-cred` and `ssoagentctl`.
//!
//! Bump [`PROTOCOL_VERSION`] on any change that an older peer would misread.

/// Wire protocol version reported by `Status`; clients refuse a daemon with another one.
pub const PROTOCOL_VERSION: u32 = 1;

pub mod v1 {
    tonic::include_proto!("ssoagent.v1");
}
