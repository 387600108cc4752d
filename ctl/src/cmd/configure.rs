//! `ssoagentctl configure [SESSION]`: writes one agent-routed profile (DESIGN.md form 2) per
//! account and role the user may use into ~/.aws/config — a backup first, existing profiles
//! kept unless `--force`, comments and unrelated sections untouched, the change shown as a
//! diff, and nothing written with `--dry-run`.

use std::path::{Path, PathBuf};

use ssoagent_client::{exit, proto};

use crate::{daemon, failure::Failure, times, util::write_atomically};

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
    let mut client = daemon::connect_or_start(autostart).await?;
    let listing = client
        .list_accounts(proto::ListAccountsRequest {
            session: a.session.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
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
    write(&path, &original, &change.lines)
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
    diff: String,
}

/// One profile per account and role of the listing, applied to the file's lines.
fn plan(a: &Args, listing: &proto::ListAccountsResponse, original: &str, cred: &str) -> Change {
    let mut change = Change {
        lines: original.lines().map(str::to_string).collect(),
        added: Vec::new(),
        replaced: Vec::new(),
        kept: Vec::new(),
        diff: String::new(),
    };
    for acct in &listing.accounts {
        for role in &acct.roles {
            let name = sanitize(
                &a.template
                    .replace("{account_name}", &acct.account_name)
                    .replace("{account_id}", &acct.account_id)
                    .replace("{role_name}", role),
            );
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
            diff,
            ..
        } = self;
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
    }
}
