//! `watch [--json]`: events as they happen (the audit events plus `ending` and
//! `refresh_failed`), one line each, flushed; ends cleanly on Ctrl-C.

use std::io::Write;

use ssoagent_client::proto;

use super::log::human;
use crate::{daemon, display::escape_controls as esc, failure::Failure};

pub async fn run(json: bool, autostart: bool) -> Result<(), Failure> {
    let mut c = daemon::connect_or_start(autostart).await?;
    let mut stream = c.watch(proto::WatchRequest {}).await?.into_inner();
    loop {
        let msg = tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            m = stream.message() => m?,
        };
        let Some(m) = msg else {
            return Ok(());
        };
        let mut out = std::io::stdout().lock();
        if m.dropped > 0 {
            // On stderr: stdout stays one JSON object per line.
            eprintln!(
                "ssoagentctl: {} events were dropped (this watcher read too slowly)",
                m.dropped
            );
        }
        let line = if json {
            esc(&m.json)
        } else {
            match serde_json::from_str(&m.json) {
                Ok(v) => human(&v),
                Err(_) => esc(&m.json),
            }
        };
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            // The reader went away (a closed pipe): done.
            return Ok(());
        }
    }
}
