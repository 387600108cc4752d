//! The agent config's audit and policy keys (issue 11): `audit_max_size`, `confirm_timeout`,
//! `notify` and the `[[rule]]` tables, with the globs rules are written in. Checked when the
//! config is loaded, so a broken rule stops the daemon at start naming the rule's index.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::AgentConfig;

/// `audit_max_size` when unset: 10 MiB.
pub const DEFAULT_AUDIT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// `confirm_timeout` when unset.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
/// A waiting request must be answered inside the daemon's 120 s request limit.
pub const MAX_CONFIRM_TIMEOUT: Duration = Duration::from_secs(100);

/// Desktop notifications: `auto` sends them when a notification service is on the session bus.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    #[default]
    Auto,
    On,
    Off,
}

/// What a matching rule does with a request.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
    Confirm,
}

impl Action {
    pub fn label(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Confirm => "confirm",
        }
    }
}

/// One `[[rule]]` as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Globs over the requested profile name.
    pub profiles: Vec<String>,
    /// Globs over the basename or full exe path of the caller or any ancestor; none = anyone.
    #[serde(default)]
    pub callers: Vec<String>,
    pub action: Action,
    /// The Expiration handed out under this rule is at most this far ahead.
    #[serde(default, with = "humantime_serde")]
    pub max_lifetime: Option<Duration>,
}

impl RuleConfig {
    /// The rule on one line, as the audit log and error messages show it.
    pub fn text(&self) -> String {
        let mut s = format!("profiles={:?}", self.profiles);
        if !self.callers.is_empty() {
            s.push_str(&format!(" callers={:?}", self.callers));
        }
        s.push_str(&format!(" action={}", self.action.label()));
        if let Some(m) = self.max_lifetime {
            s.push_str(&format!(
                " max_lifetime={}",
                humantime_serde::re::humantime::format_duration(m)
            ));
        }
        s
    }

    fn check(&self) -> Result<(), String> {
        if self.profiles.is_empty() {
            return Err("`profiles` is empty (use [\"*\"] for every profile)".into());
        }
        for g in self.profiles.iter().chain(self.callers.iter()) {
            check_glob(g)?;
        }
        if self
            .max_lifetime
            .is_some_and(|m| m < Duration::from_secs(60))
        {
            return Err(
                "`max_lifetime` under 1 minute would hand out credentials that are already due"
                    .into(),
            );
        }
        Ok(())
    }
}

impl AgentConfig {
    /// The audit and policy keys make sense together; the first broken rule is named by its
    /// index (1-based, as `ssoagentctl log` and error messages count).
    pub fn check_policy(&self) -> Result<(), String> {
        if self.confirm_timeout > MAX_CONFIRM_TIMEOUT {
            return Err(format!(
                "confirm_timeout is at most {}s",
                MAX_CONFIRM_TIMEOUT.as_secs()
            ));
        }
        if self.audit_max_size < 1024 {
            return Err("audit_max_size must be at least 1KiB".into());
        }
        for (i, r) in self.rule.iter().enumerate() {
            r.check().map_err(|e| format!("rule {}: {e}", i + 1))?;
        }
        Ok(())
    }
}

/// A glob is `*` (any run of characters, `/` included), `?` (one character) and literal
/// characters; nothing else is special, so nothing else can be malformed but emptiness.
fn check_glob(g: &str) -> Result<(), String> {
    if g.is_empty() {
        return Err("an empty glob matches nothing".into());
    }
    if g.chars().any(char::is_control) {
        return Err(format!("glob {g:?} holds a control character"));
    }
    Ok(())
}

/// Whether `text` matches glob `pattern` (see [`check_glob`]). Linear-time in practice: the
/// classic backtracking over the last `*` only.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // Checked for every request against every process of a caller's chain: ASCII (nearly
    // every exe path and glob) is matched on the bytes, without allocating.
    if pattern.is_ascii() && text.is_ascii() {
        return glob_match_units(pattern.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_match_units(&p, &t, '*', '?')
}

/// `*` and `?` over units (bytes of ASCII text, else characters), with one backtrack point.
fn glob_match_units<T: Copy + PartialEq>(p: &[T], t: &[T], many: T, one: T) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == many {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == many)
}

/// A size: bytes, or with a unit (`KiB`, `MiB`, `GiB`, also `K`, `KB`, `M`, `MB`…, all
/// binary), e.g. `"10MiB"`; or a bare integer.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as \"10MiB\""))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown size unit (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// serde: a size as a string (`"10MiB"`) or an integer (bytes).
pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => parse_size(&s).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_a_shell_would() {
        assert!(glob_match("prod", "prod"));
        assert!(glob_match("prod-*", "prod-eu"));
        assert!(!glob_match("prod-*", "prod"));
        assert!(glob_match("*/node", "/usr/bin/node"));
        assert!(!glob_match("*/node", "node"));
        assert!(glob_match("cl?ude", "claude"));
        assert!(glob_match("*a*b*c", "xxaxxbxxc"));
        assert!(!glob_match("*a*b*c", "xxaxxbxx"));
        assert!(glob_match("*", ""));
        // `?` is one character, not one byte, once either side is not ASCII.
        assert!(glob_match("caf?", "café"));
        assert!(glob_match("*/çà-*", "/opt/çà-tool"));
        assert!(!glob_match("caf?", "cafés"));
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn a_broken_rule_is_named_by_its_index() {
        let cfg: AgentConfig = toml::from_str(
            "[[rule]]\nprofiles = [\"dev\"]\naction = \"allow\"\n\n[[rule]]\nprofiles = []\naction = \"deny\"\n",
        )
        .unwrap();
        let e = cfg.check_policy().unwrap_err();
        assert!(e.starts_with("rule 2:"), "{e}");
        let bad: Result<AgentConfig, _> =
            toml::from_str("[[rule]]\nprofiles = [\"dev\"]\naction = \"maybe\"\n");
        assert!(bad.is_err());
    }
}
