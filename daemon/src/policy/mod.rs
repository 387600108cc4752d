//! Per-caller policy, applied inside the core's credentials path so every front-end gets it:
//! `[[rule]]`s in the agent config ([`rules`]), first match wins, no match allows. `deny` is
//! exit 6 naming the rule and the caller; `confirm` waits up to `confirm_timeout` for a human's
//! `ssoagentctl approve ID` ([`approvals`]); `max_lifetime` caps the Expiration handed out.
//!
//! A guard-rail against robots' mistakes, not a wall against malware running as the same user.

pub mod approvals;
pub mod rules;

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};

use ssoagent_client::policy_config::RuleConfig;
use tracing::info;

use self::approvals::{Approvals, Ask, Pending};
pub use self::rules::Verdict;
use crate::{
    caller::Caller,
    clock::SharedClock,
    error::{Error, Result},
    events::{Event, Events},
    process::{self, Resolved},
    session::TerminalCheck,
};

pub struct Policy {
    rules: Vec<RuleConfig>,
    config_path: PathBuf,
    confirm_timeout: Duration,
    approvals: Approvals,
    events: Events,
    clock: SharedClock,
    terminal: TerminalCheck,
}

/// The session a confirm waits in: its key and generation (an approval lasts one window).
pub struct Window {
    pub session: String,
    pub generation: u64,
}

/// What a human approved, as the approving ssoagentctl shows it.
pub struct ApprovedView {
    pub pending: Pending,
    pub until: Option<SystemTime>,
}

/// Where ssoagentctl sends a human for a waiting request.
pub fn approve_command(id: &str) -> String {
    format!("ssoagentctl approve {id}")
}

impl Policy {
    pub fn new(
        cfg: &ssoagent_client::config::AgentConfig,
        config_path: PathBuf,
        events: Events,
        clock: SharedClock,
        terminal: TerminalCheck,
    ) -> Self {
        Self {
            rules: cfg.rule.clone(),
            config_path,
            confirm_timeout: cfg.confirm_timeout,
            approvals: Approvals::default(),
            events,
            clock,
            terminal,
        }
    }

    /// Whether any rule is configured (without rules a request is never held up).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn decide<'a>(&self, profile: &str, who: &'a Resolved) -> Verdict<'a> {
        rules::decide(&self.rules, profile, who)
    }

    /// A `deny`: published, and the error the caller reads (exit 6).
    pub fn deny(&self, caller: Caller, profile: &str, who: &Arc<Resolved>, v: &Verdict) -> Error {
        let rule = v.rule.clone().expect("a deny comes from a rule");
        let message = format!(
            "profile '{profile}' refused for {} (pid {}) by rule {} of {}",
            shown_exe(v.matched),
            v.matched.pid,
            rule.index,
            self.config_path.display()
        );
        info!(%caller, profile, rule = rule.index, "refused by policy");
        self.events.publish(Event::Denied {
            caller,
            profile: profile.to_string(),
            who: Some(who.clone()),
            rule,
            message: message.clone(),
        });
        Error::Policy(message)
    }

    /// A `confirm`: served at once when a human approved this process already, else waits
    /// up to `confirm_timeout` for `ssoagentctl approve ID`; on timeout, exit 3 naming it.
    pub async fn confirm(
        &self,
        caller: Caller,
        profile: &str,
        who: &Arc<Resolved>,
        v: &Verdict<'_>,
        w: &Window,
    ) -> Result<()> {
        let rule = v.rule.clone().expect("a confirm comes from a rule");
        let ask = Ask {
            profile,
            session: &w.session,
            generation: w.generation,
            matched: v.matched,
            caller_pid: who.process.pid,
            rule: &rule,
        };
        let now = self.clock.now();
        if self.approvals.covers(&ask, now, alive) {
            return Ok(());
        }
        let (pending, new) = self.approvals.pending(&ask, now);
        let message = format!(
            "profile '{profile}' for {} (pid {}) needs a human's approval (rule {} of {}); a human must run: {}",
            shown_exe(v.matched),
            v.matched.pid,
            rule.index,
            self.config_path.display(),
            approve_command(&pending.id)
        );
        if new {
            info!(%caller, profile, id = %pending.id, rule = rule.index, "waiting for approval");
            self.events.publish(Event::Pending {
                caller,
                id: pending.id.clone(),
                profile: profile.to_string(),
                who: Some(who.clone()),
                rule,
                message: message.clone(),
            });
        }
        let mut rx = pending.approved();
        let approved = tokio::time::timeout(self.confirm_timeout, rx.wait_for(|a| *a)).await;
        match approved {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::NeedsUnlock(format!(
                "timed out after {}: {message}",
                humantime::format_duration(self.confirm_timeout)
            ))),
        }
    }

    /// Requests waiting for a human.
    pub fn pending(&self) -> Vec<Pending> {
        self.approvals.list(self.clock.now())
    }

    /// `ssoagentctl approve ID [--for D]`: only a human at a terminal may approve (the caller
    /// confirmed and has a controlling terminal). The approval ends at `for_` (default: the
    /// process's end), at most with the unlock window (`window_end`).
    pub fn approve(
        &self,
        caller: Caller,
        id: &str,
        for_: Option<Duration>,
        confirmed: bool,
        window_end: impl Fn(&str) -> Option<SystemTime>,
    ) -> Result<ApprovedView> {
        if !confirmed || !(self.terminal)(&caller) {
            return Err(Error::NeedsUnlock(
                "a human must confirm this at a terminal; run ssoagentctl approve in one".into(),
            ));
        }
        let now = self.clock.now();
        let Some(found) = self.pending().into_iter().find(|p| p.id == id) else {
            return Err(Error::config(format!(
                "no request {id:?} waits for approval (see ssoagentctl status)"
            )));
        };
        let until = match (for_.map(|d| now + d), window_end(&found.session)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let pending = self
            .approvals
            .approve(id, until)
            .ok_or_else(|| Error::config(format!("request {id:?} is no longer waiting")))?;
        info!(%caller, id, profile = %pending.profile, "approved");
        self.events.publish(Event::Approved {
            caller,
            id: id.to_string(),
            profile: pending.profile.clone(),
            rule: pending.rule.clone(),
            message: format!(
                "approved for {} (pid {})",
                shown_exe(&pending.matched),
                pending.matched.pid
            ),
        });
        Ok(ApprovedView { pending, until })
    }
}

/// Whether a process still runs with the start time it had.
fn alive(pid: i32, start: u64) -> bool {
    process::start_time(pid) == Some(start)
}

/// An exe for a message: its path, or that it is unknown (the process exited first).
pub fn shown_exe(p: &process::Proc) -> String {
    if p.exe.is_empty() {
        "an exited process".into()
    } else {
        crate::error::one_line(&p.exe)
    }
}
