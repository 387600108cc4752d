//! Requests waiting under a `confirm` rule, and the approvals humans gave. An approval covers
//! one process (pid + start time, so a recycled pid is not covered) for one profile and rule,
//! until its deadline or the process's end, and only within the unlock window it was given in
//! (the session's generation changes on lock, logout and the window's end).

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::sync::watch;

use crate::{events::RuleRef, process::Proc};

/// A waiting request is listed this long (a robot's retry after a timeout finds it still).
pub const PENDING_LIFE: Duration = Duration::from_secs(10 * 60);

/// One request waiting for a human.
#[derive(Clone, Debug)]
pub struct Pending {
    pub id: String,
    pub profile: String,
    pub session: String,
    pub generation: u64,
    pub matched: Proc,
    pub caller_pid: i32,
    pub rule: RuleRef,
    pub since: SystemTime,
    approved: watch::Sender<bool>,
}

impl Pending {
    /// Resolves when a human approved (never, if nobody does).
    pub fn approved(&self) -> watch::Receiver<bool> {
        self.approved.subscribe()
    }
}

/// What an approval covers.
#[derive(Clone, Debug)]
struct Grant {
    pid: i32,
    start: u64,
    profile: String,
    rule: usize,
    session: String,
    generation: u64,
    until: Option<SystemTime>,
}

#[derive(Default)]
pub struct Approvals {
    pending: Mutex<Vec<Pending>>,
    grants: Mutex<Vec<Grant>>,
    next: AtomicU64,
}

/// What a waiting request is, before it has an id.
pub struct Ask<'a> {
    pub profile: &'a str,
    pub session: &'a str,
    pub generation: u64,
    pub matched: &'a Proc,
    pub caller_pid: i32,
    pub rule: &'a RuleRef,
}

impl Approvals {
    /// Whether a human approved this process for this profile and rule, in this window.
    /// `alive` says whether the process still runs with the start time it had.
    pub fn covers(&self, a: &Ask, now: SystemTime, alive: impl Fn(i32, u64) -> bool) -> bool {
        let mut grants = self.grants.lock().unwrap();
        grants.retain(|g| g.until.is_none_or(|u| u > now) && alive(g.pid, g.start));
        grants.iter().any(|g| {
            g.pid == a.matched.pid
                && g.start == a.matched.start
                && g.profile == a.profile
                && g.rule == a.rule.index
                && g.session == a.session
                && g.generation == a.generation
        })
    }

    /// The pending entry for this request: the one already waiting for the same process,
    /// profile and rule, else a new one (`true`: new, to be announced).
    pub fn pending(&self, a: &Ask, now: SystemTime) -> (Pending, bool) {
        let mut pending = self.pending.lock().unwrap();
        pending.retain(|p| now < p.since + PENDING_LIFE);
        if let Some(p) = pending.iter().find(|p| {
            p.matched.pid == a.matched.pid
                && p.matched.start == a.matched.start
                && p.profile == a.profile
                && p.rule.index == a.rule.index
                && p.generation == a.generation
        }) {
            return (p.clone(), false);
        }
        let p = Pending {
            id: self.new_id(now),
            profile: a.profile.to_string(),
            session: a.session.to_string(),
            generation: a.generation,
            matched: a.matched.clone(),
            caller_pid: a.caller_pid,
            rule: a.rule.clone(),
            since: now,
            approved: watch::channel(false).0,
        };
        pending.push(p.clone());
        (p, true)
    }

    /// Short, and unlike any id of an earlier daemon run: a time-derived prefix and a counter.
    fn new_id(&self, now: SystemTime) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let t = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        format!("{:x}{n}", t % 0xfff)
    }

    /// Every request waiting (or waited within [`PENDING_LIFE`]).
    pub fn list(&self, now: SystemTime) -> Vec<Pending> {
        let mut pending = self.pending.lock().unwrap();
        pending.retain(|p| now < p.since + PENDING_LIFE);
        pending.clone()
    }

    /// Approves a pending request: its process is covered until `until` (`None`: its life);
    /// whoever waits on it goes on. `None` when no such request waits.
    pub fn approve(&self, id: &str, until: Option<SystemTime>) -> Option<Pending> {
        let p = {
            let mut pending = self.pending.lock().unwrap();
            let i = pending.iter().position(|p| p.id == id)?;
            pending.remove(i)
        };
        self.grants.lock().unwrap().push(Grant {
            pid: p.matched.pid,
            start: p.matched.start,
            profile: p.profile.clone(),
            rule: p.rule.index,
            session: p.session.clone(),
            generation: p.generation,
            until,
        });
        p.approved.send_replace(true);
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_covers_one_process_for_one_profile_in_one_window() {
        let a = Approvals::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let p = Proc {
            pid: 42,
            exe: "/usr/bin/claude".into(),
            start: 7,
            ..Default::default()
        };
        let rule = RuleRef {
            index: 1,
            text: "r".into(),
        };
        let ask = |profile, generation, matched| Ask {
            profile,
            session: "work",
            generation,
            matched,
            caller_pid: 43,
            rule: &rule,
        };
        let alive = |_: i32, _: u64| true;
        assert!(!a.covers(&ask("prod", 1, &p), now, alive));
        let (first, new) = a.pending(&ask("prod", 1, &p), now);
        assert!(new);
        let (again, new) = a.pending(&ask("prod", 1, &p), now);
        assert!(!new && again.id == first.id, "one entry per process");
        let rx = first.approved();
        assert!(a.approve(&first.id, None).is_some());
        assert!(*rx.borrow());
        assert!(a.covers(&ask("prod", 1, &p), now, alive));
        assert!(!a.covers(&ask("other", 1, &p), now, alive));
        assert!(!a.covers(&ask("prod", 2, &p), now, alive), "a new window");
        let recycled = Proc {
            start: 8,
            ..p.clone()
        };
        assert!(!a.covers(&ask("prod", 1, &recycled), now, alive));
        assert!(!a.covers(&ask("prod", 1, &p), now, |_, _| false), "exited");
        assert!(a.approve("nope", None).is_none());
    }
}
