//! The daemon's parts, as a library so tests, benchmarks and fuzz targets can reach them; the
//! `ssoagentd` binary (main.rs) only wires them together.
//!
//! Dependencies point one way: `rpc` → `agent` → `creds` → `session` → `login`/`aws`/`store`
//! → `profiles`/`clock`/`error`; `platform` serves `main` and `rpc`.

pub mod activity;
pub mod agent;
pub mod audit;
pub mod aws;
pub mod caller;
pub mod clock;
pub mod console;
pub mod creds;
pub mod ecs;
pub mod ending;
pub mod error;
pub mod events;
pub mod login;
pub mod notify;
pub mod oidc;
pub mod platform;
pub mod policy;
pub mod process;
pub mod profiles;
pub mod rpc;
pub mod secret;
pub mod session;
pub mod store;
pub mod tcp_peer;
#[cfg(test)]
mod testing;
