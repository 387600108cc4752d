//! `ssoagentctl configure [SESSION]`: writes one agent-routed profile (DESIGN.md form 2) per
//! account and role the user may use into ~/.aws/config — a backup first, existing profiles
//! kept unless `--force`, comments and unrelated sections untouched, the change shown as a
//! diff, and nothing written with `--dry-run`.
//!
//! Account ids, role names and account names come from the SSO portal: a name that is not
//! AWS-shaped is skipped with a warning, never written (a role name holding a newline would
//! otherwise become a `credential_process` line of its own). And the file is only written
//! once a human confirms at the terminal, or with `--yes`.

use std::path::{Path, PathBuf};

use ssoagent_client::{exit, proto};

use crate::{
    daemon, display::escape_controls, failure::Failure, times, tty, util::write_atomically,
};

#[derive(clap::Args)]
pub struct Args {
    /// Session name (default: the only one configured).
    session: Option<String>,
    /// Profile names: {account_name}, {account_id} and {role_name} are filled in, then anything
    /// but letters, digits, '.', '_' and '-' becomes '-'.
    #[arg(long, default_value = "{account_name}.{role_name}")]
    template: String,
    /// Add `region = REGION` (the service region) to each profile.
    #[arg(long)]
    region: Option<String>,
    /// Replace profiles of the same name instead of keeping them.
    #[arg(long)]
    force: bool,
    /// Show the diff; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write without asking (for scripts). Otherwise configure asks at the terminal, and
    /// without one writes nothing.
    #[arg(long, short)]
    yes: bool,
}

/// An AWS account id: twelve digits.
fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An IAM role (permission set) name: 1 to 64 of `A-Za-z0-9_+=,.@-`.
fn is_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// A name we may put into the file (through the profile-name template, or as a value): no
/// control characters (newlines included) and no brackets, which would start a section.
fn is_plain_name(s: &str) -> bool {
    !crate::display::has_controls(s) && !s.contains(['[', ']'])
}

/// A session name for `ssoagent_session = NAME`: plain, not empty, nothing around it.
fn is_session_name(s: &str) -> bool {
    !s.is_empty() && s.trim() == s && is_plain_name(s)
}

/// An AWS region name, as `--region` takes it.
fn is_region(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A `[profile NAME]` section: where it starts and ends in the file's lines.
struct Section {
    name: String,
    start: usize,
    end: usize,
}

fn sections(lines: &[&str]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            if let Some(last) = out.last_mut() {
                last.end = i;
            }
            let inner = t[1..t.len() - 1].trim();
            let name = inner
                .strip_prefix("profile ")
                .map(|n| n.trim().to_string())
                .unwrap_or_else(|| format!("\u{0}{inner}"));
            out.push(Section {
                name,
                start: i,
                end: lines.len(),
            });
        }
    }
    // Trailing blank lines and comments belong to what follows, not to the section.
    for s in &mut out {
        while s.end > s.start + 1 && {
            let t = lines[s.end - 1].trim();
            t.is_empty() || t.starts_with('#') || t.starts_with(';')
        } {
            s.end -= 1;
        }
    }
    out
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

fn profile_text(
    name: &str,
    session: &str,
    account: &str,
    role: &str,
    region: Option<&str>,
    cred: &str,
) -> String {
    let mut s = format!(
        "[profile {name}]\nssoagent_session = {session}\nssoagent_account_id = {account}\nssoagent_role_name = {role}\n"
    );
    if let Some(r) = region {
        s += &format!("region = {r}\n");
    }
    s += &format!("credential_process = {cred} --profile {name}\n");
    s
}

fn aws_config_path() -> PathBuf {
    match std::env::var_os("AWS_CONFIG_FILE").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".aws/config"),
    }
}

pub async fn run(a: Args, autostart: bool) -> Result<(), Failure> {
    if let Some(r) = a.region.as_deref().filter(|r| !is_region(r)) {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "--region {}: not an AWS region name (like eu-west-1)",
                escape_controls(r)
            ),
        ));
    }
    let mut client = daemon::connect_or_start(autostart).await?;
    let listing = client
        .list_accounts(proto::ListAccountsRequest {
            session: a.session.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    if !is_session_name(&listing.session) {
        return Err(Failure::new(
            exit::FAILED,
            format!(
                "the daemon named the session '{}', which cannot go into ~/.aws/config; nothing written",
                escape_controls(&listing.session)
            ),
        ));
    }
    let path = aws_config_path();
    let original = read_config(&path)?;
    // The shim to name in `credential_process`: the one installed beside this ssoagentctl.
    let cred = daemon::sibling_path("ssoagent-cred");
    let change = plan(&a, &listing, &original, &cred);
    change.print(&path);
    if a.dry_run || (change.added.is_empty() && change.replaced.is_empty()) {
        if a.dry_run {
            println!("dry run: nothing written");
        }
        return Ok(());
    }
    if !a.yes {
        confirm(&change, &path)?;
    }
    write(&path, &original, &change.lines)
}

/// Asks the human at the terminal whether to write the change; anything but yes writes nothing.
fn confirm(change: &Change, path: &Path) -> Result<(), Failure> {
    let question = format!(
        "write {} profile(s) to {}?",
        change.added.len() + change.replaced.len(),
        path.display()
    );
    if tty::confirm(
        &question,
        "nothing written (run it in a terminal, or pass --yes to write without asking)",
    )? {
        Ok(())
    } else {
        Err(Failure::new(1, "not confirmed; nothing written"))
    }
}

/// The file's text; a missing file is an empty one.
fn read_config(path: &Path) -> Result<String, Failure> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Failure::new(
            exit::USAGE,
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// What configure does to the file: its new lines, the profiles added, replaced and kept, and
/// the change as a diff.
struct Change {
    lines: Vec<String>,
    added: Vec<String>,
    replaced: Vec<String>,
    kept: Vec<String>,
    /// Why each account or role was left out: one line each, control characters escaped.
    skipped: Vec<String>,
    diff: String,
}

/// One profile per account and role of the listing, applied to the file's lines.
fn plan(a: &Args, listing: &proto::ListAccountsResponse, original: &str, cred: &str) -> Change {
    let mut change = Change {
        lines: original.lines().map(str::to_string).collect(),
        added: Vec::new(),
        replaced: Vec::new(),
        kept: Vec::new(),
        skipped: Vec::new(),
        diff: String::new(),
    };
    for acct in &listing.accounts {
        if let Some(why) = account_problem(acct) {
            change.skipped.push(why);
            continue;
        }
        for role in &acct.roles {
            if !is_role_name(role) {
                change.skipped.push(format!(
                    "role '{}' of account {}: not an AWS role name (1-64 of A-Za-z0-9_+=,.@-)",
                    escape_controls(role),
                    acct.account_id
                ));
                continue;
            }
            let name = sanitize(
                &a.template
                    .replace("{account_name}", &acct.account_name)
                    .replace("{account_id}", &acct.account_id)
                    .replace("{role_name}", role),
            );
            if name.is_empty() {
                change.skipped.push(format!(
                    "role '{role}' of account {}: the profile-name template gives an empty name",
                    acct.account_id
                ));
                continue;
            }
            let text = profile_text(
                &name,
                &listing.session,
                &acct.account_id,
                role,
                a.region.as_deref(),
                cred,
            );
            change.apply(name, &text, a.force);
        }
    }
    change
}

/// Why an account of the listing cannot be written, if it cannot.
fn account_problem(acct: &proto::Account) -> Option<String> {
    if !is_account_id(&acct.account_id) {
        return Some(format!(
            "account '{}': not an AWS account id (12 digits)",
            escape_controls(&acct.account_id)
        ));
    }
    if !is_plain_name(&acct.account_name) {
        return Some(format!(
            "account {} named '{}': the name holds control characters or brackets",
            acct.account_id,
            escape_controls(&acct.account_name)
        ));
    }
    None
}

impl Change {
    /// Adds the profile, or replaces one of the same name (with `force`), or keeps that one.
    fn apply(&mut self, name: String, text: &str, force: bool) {
        let lines = &mut self.lines;
        let diff = &mut self.diff;
        let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();
        let existing = sections(&borrowed).into_iter().find(|s| s.name == name);
        match existing {
            Some(_) if !force => self.kept.push(name),
            Some(sec) => {
                for l in &lines[sec.start..sec.end] {
                    *diff += &format!("-{l}\n");
                }
                for l in text.lines() {
                    *diff += &format!("+{l}\n");
                }
                lines.splice(sec.start..sec.end, text.lines().map(str::to_string));
                self.replaced.push(name);
            }
            None => {
                if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                    lines.push(String::new());
                }
                lines.extend(text.lines().map(str::to_string));
                for l in text.lines() {
                    *diff += &format!("+{l}\n");
                }
                self.added.push(name);
            }
        }
    }

    /// The diff, then what it adds, replaces and keeps.
    fn print(&self, path: &Path) {
        let Self {
            added,
            replaced,
            kept,
            skipped,
            diff,
            ..
        } = self;
        for why in skipped {
            eprintln!("warning: skipped {why}");
        }
        println!(
            "--- {}\n+++ {} (ssoagentctl configure)",
            path.display(),
            path.display()
        );
        print!("{diff}");
        println!(
            "\n{} profile(s) to add, {} to replace, {} kept as they are{}",
            added.len(),
            replaced.len(),
            kept.len(),
            if kept.is_empty() {
                String::new()
            } else {
                format!(" ({}; --force replaces them)", kept.join(", "))
            }
        );
    }
}

/// Backs the file up (when it had text) and writes the new lines in its place.
fn write(path: &Path, original: &str, lines: &[String]) -> Result<(), Failure> {
    let mut text = lines.join("\n");
    text.push('\n');
    if !original.is_empty() {
        let backup = backup_path(path);
        std::fs::copy(path, &backup).map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("cannot back up {}: {e}", path.display()),
            )
        })?;
        println!("backup: {}", backup.display());
    }
    write_atomically(path, &text).map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    println!("wrote {}", path.display());
    Ok(())
}

fn backup_path(path: &Path) -> PathBuf {
    let secs = times::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".ssoagent-backup-{secs}"));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_end_before_trailing_comments() {
        let text = "# top\n[profile a]\nx = 1\n\n# about b\n[profile b]\ny = 2\n[sso-session s]\n";
        let lines: Vec<&str> = text.lines().collect();
        let s = sections(&lines);
        assert_eq!(s[0].name, "a");
        assert_eq!((s[0].start, s[0].end), (1, 3));
        assert_eq!(s[1].name, "b");
        assert_eq!((s[1].start, s[1].end), (5, 7));
        assert!(s[2].name.starts_with('\u{0}'), "not a profile");
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize("My Account.Admin Role"), "My-Account.Admin-Role");
        assert_eq!(sanitize("dev/ops.ReadOnly"), "dev-ops.ReadOnly");
        assert_eq!(sanitize("[profile zz]\n"), "profile-zz");
        assert_eq!(sanitize("[]"), "");
    }

    #[test]
    fn aws_shaped_names() {
        assert!(is_account_id("111111111111"));
        for id in [
            "11111111111",
            "1111111111111",
            "11111111111a",
            "111111111111\n",
            "",
        ] {
            assert!(!is_account_id(id), "{id:?}");
        }
        for role in [
            "ReadOnly",
            "AWSReservedSSO_Admin_0123",
            "a+b=c,d.e@f-g_h",
            &"R".repeat(64),
        ] {
            assert!(is_role_name(role), "{role:?}");
        }
        for role in [
            "",
            &"R".repeat(65),
            "ReadOnly\ncredential_process = /bin/sh -c 'touch /tmp/pwned'\n[profile zz]",
            "Read Only",
            "Read[Only]",
            "Admin#x",
            "Rôle",
        ] {
            assert!(!is_role_name(role), "{role:?}");
        }
        assert!(is_plain_name("Développement (équipe 1)"));
        assert!(is_plain_name(""));
        for name in ["a\nb", "a\x1b[2Jb", "prod]", "[x", "a\u{202e}b"] {
            assert!(!is_plain_name(name), "{name:?}");
        }
        assert!(is_session_name("work"));
        assert!(is_session_name("https://work.awsapps.com/start"));
        for name in ["", " work", "work\n", "[work]"] {
            assert!(!is_session_name(name), "{name:?}");
        }
        assert!(is_region("eu-west-1"));
        assert!(!is_region("eu-west-1\ncredential_process = x"));
    }

    fn listing(accounts: Vec<proto::Account>) -> proto::ListAccountsResponse {
        proto::ListAccountsResponse {
            session: "work".into(),
            accounts,
        }
    }

    fn account(id: &str, name: &str, roles: &[&str]) -> proto::Account {
        proto::Account {
            account_id: id.into(),
            account_name: name.into(),
            email: String::new(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn hostile_names_are_skipped_and_named() {
        let a = Args {
            session: None,
            template: "{account_name}.{role_name}".into(),
            region: None,
            force: false,
            dry_run: true,
            yes: false,
        };
        let hostile = "ReadOnly\ncredential_process = /bin/sh -c 'touch /tmp/pwned'\n[profile zz]";
        let l = listing(vec![
            account("111111111111", "dev", &[hostile, "Admin"]),
            account("11111111111\n", "short", &["ReadOnly"]),
            account("222222222222", "prod\n[profile yy]", &["ReadOnly"]),
        ]);
        let change = plan(&a, &l, "", "/usr/bin/ssoagent-cred");
        let text = change.lines.join("\n");
        assert_eq!(change.added, vec!["dev.Admin".to_string()]);
        assert!(!text.contains("credential_process = /bin/sh"), "{text}");
        assert!(
            !text.contains("[profile zz]") && !text.contains("[profile yy]"),
            "{text}"
        );
        assert_eq!(change.skipped.len(), 3, "{:?}", change.skipped);
        for why in &change.skipped {
            assert!(!why.contains('\n'), "one line each: {why:?}");
        }
        assert!(change.skipped[0].contains("ReadOnly\\ncredential_process"));

        let a = Args {
            template: "{account_name}".into(),
            ..a
        };
        let change = plan(
            &a,
            &listing(vec![account("333333333333", "--", &["Dev"])]),
            "",
            "x",
        );
        assert!(change.added.is_empty());
        assert!(
            change.skipped[0].contains("empty name"),
            "{:?}",
            change.skipped
        );
    }
}
