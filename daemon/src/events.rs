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

/// The bus (the sending side; cheap to clone): every event, and beside it the few a human is told about on the desktop
/// (`pending`, `locked_hit`, `ending`), so the notifier is not woken for each credential
/// issued.
#[derive(Clone, Debug)]
pub struct Events {
    /// Shared, not cloned, by each subscriber that receives it.
    all: broadcast::Sender<Arc<Event>>,
    alerts: broadcast::Sender<Arc<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            // Room for bursts (64 connections issuing at once) before a slow subscriber lags.
            all: broadcast::channel(4096).0,
            alerts: broadcast::channel(64).0,
        }
    }
}

impl Event {
    /// The caller of an event made by a human's command (lock, unlock, login, mfa, ecs,
    /// approve), whose record names a process that may exit before the writer gets to it.
    /// Credential requests' events carry their caller resolved (`who`) when it is needed, so
    /// the request path reads nothing more.
    pub fn command_caller(&self) -> Option<Caller> {
        match self {
            Event::Unlocked { caller, .. }
            | Event::Locked { caller, .. }
            | Event::LoggedOut { caller, .. }
            | Event::Login { caller, .. }
            | Event::Mfa { caller, .. }
            | Event::EcsGranted { caller, .. }
            | Event::EcsRevoked { caller, .. }
            | Event::Approved { caller, .. } => Some(*caller),
            Event::Issued { .. }
            | Event::LockedHit { .. }
            | Event::Denied { .. }
            | Event::Pending { .. }
            | Event::RefreshFailed { .. }
            | Event::Ending { .. } => None,
        }
    }

    /// Whether a desktop notification may be about it.
    pub fn is_alert(&self) -> bool {
        matches!(
            self,
            Event::Pending { .. } | Event::LockedHit { .. } | Event::Ending { .. }
        )
    }
}

impl Events {
    pub fn publish(&self, e: Event) {
        // The caller of a command (ssoagentctl's lock, unlock...) is read now, while it waits
        // for its answer: the writer may get to the record after it exited.
        if let Some(c) = e.command_caller()
            && self.all.receiver_count() > 0
        {
            crate::process::remember(&c);
        }
        // No subscriber is not an error.
        let e = Arc::new(e);
        if e.is_alert() && self.alerts.receiver_count() > 0 {
            let _ = self.alerts.send(e.clone());
        }
        let _ = self.all.send(e);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.all.subscribe()
    }

    /// Only the events [`Event::is_alert`] picks.
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Arc<Event>> {
        self.alerts.subscribe()
    }
}
