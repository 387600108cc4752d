//! `log [--json] [--follow] [--profile P] [--since DURATION]`: the audit log, read from the
//! state dir (rotated files first, oldest first). The human form is one line per event:
//! time, event, profile or session, the caller's exe basename and pid, and the rule.

use std::{
    fs::File,
    io::{BufRead, BufReader, Seek, SeekFrom},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use clap::Args;
use serde_json::Value;
use ssoagent_client::{config, exit};

use crate::{display::escape_controls as esc, failure::Failure};

/// Rotated files the daemon keeps (`audit.jsonl.1` … `.5`).
const KEEP: usize = 5;

#[derive(Args)]
pub struct LogArgs {
    /// Print the records as stored (JSON, one per line).
    #[arg(long)]
    json: bool,
    /// Keep printing records as they are written.
    #[arg(long, short)]
    follow: bool,
    /// Only records of this profile.
    #[arg(long, short)]
    profile: Option<String>,
    /// Only records newer than this, e.g. 1h or 30m.
    #[arg(long, value_parser = humantime::parse_duration)]
    since: Option<Duration>,
}

pub async fn run(a: LogArgs) -> Result<(), Failure> {
    let state = config::state_dir().map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    let live = state.join("audit.jsonl");
    let since = a.since.map(|d| SystemTime::now() - d);
    let mut files: Vec<PathBuf> = (1..=KEEP)
        .rev()
        .map(|i| state.join(format!("audit.jsonl.{i}")))
        .filter(|p| p.exists())
        .collect();
    files.push(live.clone());
    let mut offset = 0;
    for f in &files {
        offset = print_file(f, 0, &a, since)?;
    }
    if a.follow {
        follow(&live, offset, &a, since).await?;
    }
    Ok(())
}

/// Prints the records of a file from `offset`; returns where it stopped.
fn print_file(
    path: &Path,
    offset: u64,
    a: &LogArgs,
    since: Option<SystemTime>,
) -> Result<u64, Failure> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(Failure::new(
                exit::FAILED,
                format!("{}: {e}", path.display()),
            ));
        }
    };
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    let mut r = BufReader::new(f);
    let mut pos = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r
            .read_line(&mut line)
            .map_err(|e| Failure::new(exit::FAILED, format!("{}: {e}", path.display())))?;
        // A line still being written waits for its newline.
        if n == 0 || !line.ends_with('\n') {
            return Ok(pos);
        }
        pos += n as u64;
        print_record(line.trim_end(), a, since);
    }
}

/// Polls the live file; starts over from its beginning when it was rotated.
async fn follow(
    live: &Path,
    mut offset: u64,
    a: &LogArgs,
    since: Option<SystemTime>,
) -> Result<(), Failure> {
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let len = std::fs::metadata(live).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            offset = 0;
        }
        offset = print_file(live, offset, a, since)?;
    }
}

fn print_record(line: &str, a: &LogArgs, since: Option<SystemTime>) {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return;
    };
    if let Some(p) = &a.profile
        && v["profile"].as_str() != Some(p.as_str())
    {
        return;
    }
    if let Some(t) = since {
        let when = v["time"]
            .as_str()
            .and_then(|s| humantime::parse_rfc3339(s).ok());
        if when.is_none_or(|w| w < t) {
            return;
        }
    }
    if a.json {
        println!("{line}");
    } else {
        println!("{}", human(&v));
    }
}

/// `2026-12-01T10:00:00Z issued profile dev by ssoagent-cred (pid 42) key ASIA… rule 1`
pub fn human(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or_default();
    let mut out = format!("{} {}", s("time"), s("event"));
    if !s("profile").is_empty() {
        out.push_str(&format!(" profile {}", s("profile")));
    }
    if !s("session").is_empty() {
        out.push_str(&format!(" session {}", s("session")));
    }
    if let Some(c) = v.get("caller") {
        let exe = c["exe"].as_str().unwrap_or_default();
        let base = Path::new(exe)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "?".into());
        out.push_str(&format!(" by {base} (pid {})", c["pid"]));
        if let Some(parent) = v["ancestors"].get(0) {
            let pexe = parent["exe"].as_str().unwrap_or_default();
            let pbase = Path::new(pexe)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            if let Some(pb) = pbase {
                out.push_str(&format!(" from {pb} (pid {})", parent["pid"]));
            }
        }
    }
    if !s("access_key_id").is_empty() {
        out.push_str(&format!(
            " key {} until {}",
            s("access_key_id"),
            s("expiration")
        ));
    }
    if let Some(r) = v.get("rule") {
        out.push_str(&format!(" rule {}", r["index"]));
    }
    if !s("id").is_empty() {
        out.push_str(&format!(" id {}", s("id")));
    }
    if !s("message").is_empty() && s("event") != "issued" {
        out.push_str(&format!(": {}", s("message")));
    }
    esc(&out)
}
