//! Times as people read them, and the one place ssoagentctl reads the wall clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall clock.
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// A Unix time as "2026-11-26 10:00:00 UTC (in 55m)".
pub fn when(secs: i64) -> String {
    if secs <= 0 {
        return "-".into();
    }
    let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
    let stamp = humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC");
    let rel = match t.duration_since(now()) {
        Ok(d) => format!("in {}", short(d)),
        Err(e) => format!("{} ago", short(e.duration())),
    };
    format!("{stamp} ({rel})")
}

fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}
