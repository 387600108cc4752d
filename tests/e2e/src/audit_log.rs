//! Reading the daemon's audit log (`audit.jsonl` in the World's state dir) from tests; the
//! writer is a thread of its own that gathers records for a moment, so tests wait for the
//! record they expect.

use std::{fs, time::Duration};

use serde_json::Value;

use crate::{World, wait_until};

/// The audit records written so far.
pub fn records(w: &World) -> Vec<Value> {
    let text = fs::read_to_string(w.state_dir().join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Waits until a record matching `pred` was written; returns it.
#[track_caller]
pub fn wait_record(w: &World, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let mut found = None;
    wait_until(Duration::from_secs(10), what, || {
        found = records(w).into_iter().find(|r| pred(r));
        found.is_some()
    });
    found.unwrap()
}
