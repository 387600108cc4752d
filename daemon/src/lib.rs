//! The daemon's parts, as a library so tests, benchmarks and fuzz targets can reach them; the
//! `ssoagentd` binary (main.rs) only wires them together.

pub mod agent;
pub mod aws;
pub mod cli_cache;
pub mod error;
pub mod keyring_store;
pub mod login;
#[cfg(windows)]
pub mod pipe;
pub mod profiles;
pub mod secret;
pub mod server;
pub mod service;
pub mod store;
