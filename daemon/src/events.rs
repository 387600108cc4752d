//! What happens in the core, published on a broadcast channel: the audit log, notifications
//! and `ssoagentctl watch` subscribe; publishing costs nothing when nobody listens. The audit
//! record of every variant is made in one place (`audit::record`): a new variant adds one arm.

use std::{sync::Arc, time::SystemTime};

use tokio::sync::broadcast;

use crate::{caller::Caller, process::Resolved};

/// The caller as the daemon resolved it (`None` where nobody resolved it).
pub type Who = Option<Arc<Resolved>>;

/// The policy rule that decided a request: its index (1-based) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    pub index: usize,
    pub text: String,
}

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Role credentials were handed to a caller.
    Issued {
        caller: Caller,
        profile: String,
        session: String,
        who: Who,
        access_key_id: String,
        /// The Expiration handed out (after a rule's `max_lifetime`).
        expiration: SystemTime,
        rule: Option<RuleRef>,
    },
    /// A request found its session locked or expired.
    LockedHit {
        caller: Caller,
        profile: String,
        session: String,
        who: Who,
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
    /// A `deny` rule refused a request.
    Denied {
        caller: Caller,
        profile: String,
        who: Who,
        rule: RuleRef,
        message: String,
    },
    /// A request under a `confirm` rule waits for `ssoagentctl approve ID`.
    Pending {
        caller: Caller,
        id: String,
        profile: String,
        who: Who,
        rule: RuleRef,
        message: String,
    },
    /// A human approved a pending request (`caller` is the approver's ssoagentctl).
    Approved {
        caller: Caller,
        id: String,
        profile: String,
        rule: RuleRef,
        message: String,
    },
    /// An unlock by a fresh login a human approved in the browser (before its `Unlocked`).
    Login {
        caller: Caller,
        session: String,
    },
    /// A session's window (or its unrefreshable token) ends within `minutes`.
    Ending {
        session: String,
        until: SystemTime,
        minutes: u64,
    },
}

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Events(broadcast::Sender<Event>);

impl Default for Events {
    fn default() -> Self {
        // Room for bursts (64 connections issuing at once) before a slow subscriber lags.
        Self(broadcast::channel(4096).0)
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
