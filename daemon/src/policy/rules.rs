//! Matching a request against the `[[rule]]`s: first match wins, no match allows.

use std::{borrow::Cow, time::Duration};

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

/// Where in the chain (0 the caller, then its ancestors nearest first) the process a rule's
/// `callers` select is, if any; a rule without `callers` selects the caller itself.
fn selects(rule: &RuleConfig, who: &Resolved) -> Option<usize> {
    if rule.callers.is_empty() {
        return Some(0);
    }
    who.chain()
        .position(|p| rule.callers.iter().any(|g| names(g, p)))
}

/// [`selects`] for every rule, worked out once per caller for these rules.
fn selected<'a>(rules: &[RuleConfig], who: &'a Resolved) -> Cow<'a, [Option<usize>]> {
    let work_out = || rules.iter().map(|r| selects(r, who)).collect();
    let these = rules.as_ptr() as usize;
    let (at, by_rule) = who.selected.0.get_or_init(|| (these, work_out()));
    // Another rule set than the one remembered (only in tests): not from the memo.
    if *at != these || by_rule.len() != rules.len() {
        return Cow::Owned(work_out().into_vec());
    }
    Cow::Borrowed(by_rule)
}

/// First match wins; no match allows.
pub fn decide<'a>(rules: &[RuleConfig], profile: &str, who: &'a Resolved) -> Verdict<'a> {
    let selected = selected(rules, who);
    for (i, r) in rules.iter().enumerate() {
        if !r.profiles.iter().any(|g| glob_match(g, profile)) {
            continue;
        }
        if let Some(p) = selected[i].and_then(|k| who.chain().nth(k)) {
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
        // What the callers globs select is kept with the caller for these rules only.
        let other = vec![rule(&["prod"], &["bash"], Action::Deny)];
        assert_eq!(decide(&other, "prod", &who).matched.pid, 10);
        assert_eq!(decide(&rules, "prod", &who).matched.pid, 20);
        // A basename glob does not match a process whose exe is unknown.
        let gone = Resolved {
            process: proc(5, ""),
            ..Default::default()
        };
        let v = decide(&[rule(&["prod"], &["*"], Action::Deny)], "prod", &gone);
        assert_eq!(v.action, Action::Allow);
    }
}
