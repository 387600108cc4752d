//! The gRPC front-end: serving on the socket ([`serve`]), the peer check that turns the
//! connection's credentials into a [`Caller`](crate::caller::Caller) ([`peer`]), the service
//! itself ([`service`]) and the conversions between the core's types and the proto's
//! ([`convert`]). The core knows nothing of gRPC: a second front-end can sit beside this one.

pub mod bridges;
#[cfg(unix)]
pub mod conns;
pub mod convert;
pub mod peer;
pub mod serve;
pub mod service;
pub mod watch;

pub use serve::serve;
