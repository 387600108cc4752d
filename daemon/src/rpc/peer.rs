//! Every RPC passes here: the peer must be the daemon's own user. Its uid and pid become the
//! request's [`Caller`].

use ssoagent_client::fsutil::uid;
use tonic::{Request, Status};
use tracing::{trace, warn};

use std::sync::Arc;

use crate::{activity::Activity, caller::Caller, process::ConnCaller};

/// The interceptor: checks the peer, records activity, attaches the [`Caller`].
#[allow(clippy::result_large_err)]
pub fn check(activity: &Activity, mut req: Request<()>) -> Result<Request<()>, Status> {
    activity.touch();
    let caller = peer_of(&req);
    trace!(peer = ?caller, "request");
    match caller {
        Some(c) if c.uid == uid() => {
            req.extensions_mut().insert(c);
            Ok(req)
        }
        Some(c) => {
            warn!(peer_uid = c.uid, peer_pid = ?c.pid, "refused a client of another user");
            Err(Status::permission_denied(format!(
                "ssoagentd serves only uid {}; you are uid {}",
                uid(),
                c.uid
            )))
        }
        None => Err(Status::permission_denied(
            "cannot identify the client; refused",
        )),
    }
}

#[cfg(unix)]
fn peer_of<T>(req: &Request<T>) -> Option<Caller> {
    let cred = req
        .extensions()
        .get::<super::conns::ConnInfo>()?
        .uds
        .peer_cred?;
    Some(Caller {
        uid: cred.uid(),
        pid: cred.pid(),
    })
}

/// The connection's resolved caller, reused across its requests (unix socket connections;
/// `None` elsewhere, where each request resolves its own).
#[cfg(unix)]
pub fn conn_caller<T>(req: &Request<T>) -> Option<Arc<ConnCaller>> {
    Some(
        req.extensions()
            .get::<super::conns::ConnInfo>()?
            .caller
            .clone(),
    )
}

#[cfg(windows)]
pub fn conn_caller<T>(_: &Request<T>) -> Option<Arc<ConnCaller>> {
    None
}

/// Windows: the client process identified when its pipe instance was accepted (another
/// user's process never gets this far: it is refused at accept).
#[cfg(windows)]
fn peer_of<T>(req: &Request<T>) -> Option<Caller> {
    req.extensions().get::<crate::platform::PipeClient>()?.0
}

/// The caller the interceptor attached to a request.
#[allow(clippy::result_large_err)]
pub fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .copied()
        .ok_or_else(|| Status::permission_denied("cannot identify the client; refused"))
}
