//! How busy the daemon is, shared by every front-end (gRPC today, an HTTP endpoint later) and
//! read by the idle exit of a socket-activated daemon.

use std::sync::{
    Arc,
    atomic::{AtomicI64, AtomicUsize, Ordering},
};

use crate::clock::{SharedClock, unix_secs};

/// A cloneable handle on the activity counters.
#[derive(Clone)]
pub struct Activity(Arc<Inner>);

struct Inner {
    clock: SharedClock,
    /// When the last request arrived (Unix seconds).
    last: AtomicI64,
    /// Logins in progress: a human may take minutes without any request.
    logins: AtomicUsize,
}

impl Activity {
    pub fn new(clock: SharedClock) -> Self {
        let now = unix_secs::to_secs(clock.now());
        Self(Arc::new(Inner {
            clock,
            last: AtomicI64::new(now),
            logins: AtomicUsize::new(0),
        }))
    }

    /// A request arrived.
    pub fn touch(&self) {
        let now = unix_secs::to_secs(self.0.clock.now());
        self.0.last.store(now, Ordering::Relaxed);
    }

    /// Counts a login until the guard drops.
    pub fn login(&self) -> LoginGuard {
        self.0.logins.fetch_add(1, Ordering::Relaxed);
        LoginGuard(self.clone())
    }

    /// Quiet for at least `idle` and no login in progress.
    pub fn idle_for(&self, idle: std::time::Duration) -> bool {
        let now = unix_secs::to_secs(self.0.clock.now());
        let quiet = now.saturating_sub(self.0.last.load(Ordering::Relaxed));
        quiet >= idle.as_secs() as i64 && self.0.logins.load(Ordering::Relaxed) == 0
    }
}

/// A login in progress; an idle exit waits for it.
pub struct LoginGuard(Activity);

impl Drop for LoginGuard {
    fn drop(&mut self) {
        self.0.0.logins.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn idle_only_when_quiet_and_no_login() {
        let clock = ManualClock::new();
        let a = Activity::new(clock.clone());
        assert!(!a.idle_for(Duration::from_secs(60)));
        clock.advance(Duration::from_secs(61));
        assert!(a.idle_for(Duration::from_secs(60)));
        let guard = a.login();
        assert!(!a.idle_for(Duration::from_secs(60)));
        drop(guard);
        a.touch();
        assert!(!a.idle_for(Duration::from_secs(60)));
    }
}
