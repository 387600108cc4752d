//! Matching a request against the `[[rule]]`s: first match wins, no match allows.

use std::time::Duration;

use ssoagent_client::policy_config::{Action, RuleConfig, glob_match};

use crate::{
    events::RuleRef,
    process::{Proc, Resolved},
};

/// What the rules say about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict<'a> {
    pub action: Action,
    /// The deciding rule; `None` when no rule matched (allowed).
    pub rule: Option<RuleRef>,
    /// The process the rule matched: the caller, or the ancestor a `callers` glob named.
    pub matched: &'a Proc,
    pub max_lifetime: Option<Duration>,
}

/// Whether a glob names a process: its exe's basename or its full path.
fn names(glob: &str, p: &Proc) -> bool {
    !p.exe.is_empty() && (glob_match(glob, p.basename()) || glob_match(glob, &p.exe))
}

/// The process a rule's `callers` select in a chain (nearest first), if any; a rule without
/// `callers` selects the caller itself.
fn selects<'a>(rule: &RuleConfig, who: &'a Resolved) -> Option<&'a Proc> {
    if rule.callers.is_empty() {
        return Some(&who.process);
    }
    who.chain()
        .find(|p| rule.callers.iter().any(|g| names(g, p)))
}

/// First match wins; no match allows.
pub fn decide<'a>(rules: &[RuleConfig], profile: &str, who: &'a Resolved) -> Verdict<'a> {
    for (i, r) in rules.iter().enumerate() {
        if !r.profiles.iter().any(|g| glob_match(g, profile)) {
            continue;
        }
        if let Some(p) = selects(r, who) {
            return Verdict {
                action: r.action,
                rule: Some(RuleRef {
                    index: i + 1,
                    text: r.text(),
                }),
                matched: p,
                max_lifetime: r.max_lifetime,
            };
        }
    }
    Verdict {
        action: Action::Allow,
        rule: None,
        matched: &who.process,
        max_lifetime: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, exe: &str) -> Proc {
        Proc {
            pid,
            exe: exe.into(),
            ..Default::default()
        }
    }

    fn rule(profiles: &[&str], callers: &[&str], action: Action) -> RuleConfig {
        RuleConfig {
            profiles: profiles.iter().map(|s| s.to_string()).collect(),
            callers: callers.iter().map(|s| s.to_string()).collect(),
            action,
            max_lifetime: None,
        }
    }

    #[test]
    fn first_match_wins_and_ancestors_count() {
        let who = Resolved {
            process: proc(30, "/usr/bin/ssoagent-cred"),
            ancestors: vec![proc(20, "/usr/bin/node"), proc(10, "/usr/bin/bash")].into(),
            ..Default::default()
        };
        let rules = vec![
            rule(&["prod"], &["*/node"], Action::Deny),
            rule(&["prod*"], &[], Action::Confirm),
        ];
        let v = decide(&rules, "prod", &who);
        assert_eq!((v.action, v.matched.pid), (Action::Deny, 20));
        assert_eq!(v.rule.unwrap().index, 1);
        let v = decide(&rules, "prod-eu", &who);
        assert_eq!((v.action, v.matched.pid), (Action::Confirm, 30));
        let v = decide(&rules, "dev", &who);
        assert_eq!((v.action, v.rule), (Action::Allow, None));
        // A basename glob does not match a process whose exe is unknown.
        let gone = Resolved {
            process: proc(5, ""),
            ..Default::default()
        };
        let v = decide(&[rule(&["prod"], &["*"], Action::Deny)], "prod", &gone);
        assert_eq!(v.action, Action::Allow);
    }
}
