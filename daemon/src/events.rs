//! What happens in the core, published on a broadcast channel: the audit log and
//! `ssoagentctl watch` subscribe (a later issue); publishing costs nothing when nobody listens.

use tokio::sync::broadcast;

use crate::caller::Caller;

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Role credentials were handed to a caller.
    Issued {
        caller: Caller,
        profile: String,
    },
    /// A request found its session locked or expired.
    LockedHit {
        caller: Caller,
        profile: String,
        session: String,
    },
    Unlocked {
        caller: Caller,
        session: String,
    },
    /// A lock by a human, or the unlock window's end (`caller` is the daemon then).
    Locked {
        caller: Caller,
        session: String,
    },
    LoggedOut {
        caller: Caller,
        session: String,
    },
    /// A token or credential refresh failed (cached values may still be served).
    RefreshFailed {
        session: String,
        error: String,
    },
    /// A human typed an MFA code for a role hop (`mfa_serial`); `error` when it was refused.
    Mfa {
        caller: Caller,
        profile: String,
        session: String,
        mfa_serial: String,
        error: Option<String>,
    },
    /// A container-credentials grant was made for a profile (`grant` is its id).
    EcsGranted {
        caller: Caller,
        profile: String,
        grant: String,
    },
    /// A container-credentials grant ended: revoked, or its `exec --ecs` ended.
    EcsRevoked {
        caller: Caller,
        grant: String,
    },
}

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Events(broadcast::Sender<Event>);

impl Default for Events {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl Events {
    pub fn publish(&self, e: Event) {
        // No subscriber is not an error.
        let _ = self.0.send(e);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}
