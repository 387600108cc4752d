//! Who took what: every event of the bus becomes one line of `$SSOAGENT_STATE_DIR/audit.jsonl`
//! ([`record`] makes it, [`writer`] appends and rotates it). A thread reads the bus, which is
//! bounded: if the disk cannot keep up, records are dropped and the count is logged, but a
//! credential request never waits on the audit log.

pub mod record;
pub mod writer;

use std::path::Path;

use tokio::sync::broadcast::{Receiver, error::RecvError};
use tracing::warn;

use self::{record::Record, writer::AuditFile};
use crate::{clock::SharedClock, events::Event};

/// How long the writer gathers records after the first of a batch before it writes them: the
/// file lags the requests by this much.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

/// Records are written in chunks of about this many bytes.
const BATCH: usize = 64 * 1024;

/// The audit file's name in the state dir.
pub const FILE: &str = "audit.jsonl";

/// Starts the writer thread on the bus.
pub fn spawn(events: Receiver<Event>, state_dir: &Path, max_size: u64, clock: SharedClock) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir);
    }
    let file = AuditFile::new(state_dir.join(FILE), max_size);
    // A thread of its own, not a task: a slow or hung disk never holds a runtime worker,
    // and a record costs no hand-off to the blocking pool and back.
    let spawned = std::thread::Builder::new()
        .name("audit".into())
        .spawn(move || write_all(events, file, clock));
    if let Err(e) = spawned {
        warn!(error = %e, "cannot start the audit writer; nothing will be recorded");
    }
}

/// The writer thread: each event becomes its record at once (a caller not yet resolved, such
/// as the `ssoagentctl` of a lock, is read while it still runs), and records are written
/// together: for [`GATHER`] after the first of a batch, or sooner once [`BATCH`] bytes wait.
/// One write per batch rather than per request keeps a busy daemon's disk cost small.
fn write_all(mut events: Receiver<Event>, mut file: AuditFile, clock: SharedClock) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return warn!(error = %e, "cannot start the audit writer; nothing will be recorded"),
    };
    rt.block_on(async {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let first = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    warn!(lost = n, "the audit log fell behind; records were lost");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            batch.extend(Record::of(&first, clock.now()).line());
            let until = tokio::time::Instant::now() + GATHER;
            let closed = loop {
                match tokio::time::timeout_at(until, events.recv()).await {
                    Ok(Ok(e)) => batch.extend(Record::of(&e, clock.now()).line()),
                    Ok(Err(RecvError::Lagged(n))) => {
                        warn!(lost = n, "the audit log fell behind; records were lost");
                    }
                    Ok(Err(RecvError::Closed)) => break true,
                    Err(_) => break false,
                }
                if batch.len() >= BATCH {
                    break false;
                }
            };
            file.append(&batch);
            batch.clear();
            if closed {
                return;
            }
        }
    });
}
