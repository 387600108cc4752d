//! What every ssoagent client shares: where the daemon's socket is, one `connect()`, and how
//! daemon answers become exit codes. Kept small on purpose: `ssoagent-cred` links it and runs
//! on every AWS CLI call.

pub mod exit;
pub mod fsutil;
pub mod launch;
mod output;
#[cfg(unix)]
mod peercred;
#[cfg(windows)]
mod pipe;
mod transport;
#[cfg(unix)]
pub mod unary;
#[cfg(windows)]
pub mod winsec;

pub use output::credential_process_json;
#[cfg(windows)]
pub use pipe::connect_checked;
pub use ssoagent_proto::v1 as proto;
pub use transport::PeerInfo;
pub use transport::{ConnectError, Untrusted, connect, default_socket_path, socket_path};
#[cfg(unix)]
pub use transport::{connect_blocking, connect_checked};

/// The generated gRPC client over our local transport.
pub type AgentClient = proto::agent_client::AgentClient<tonic::transport::Channel>;

#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "config")]
pub mod policy_config;
