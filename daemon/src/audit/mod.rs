//! Who took what: every event of the bus becomes one line of `$SSOAGENT_STATE_DIR/audit.jsonl`
//! ([`record`] makes it, [`writer`] appends and rotates it). A thread reads the bus, which is
//! bounded: if the disk cannot keep up, records are dropped and the count is logged, but a
//! credential request never waits on the audit log.

pub mod record;
pub mod writer;

use std::{path::Path, sync::Arc};

use tokio::sync::broadcast::{
    Receiver,
    error::{RecvError, TryRecvError},
};
use tracing::warn;

use self::{record::Record, writer::AuditFile};
use crate::{clock::SharedClock, events::Event};

/// How long the writer gathers events after the first of a batch: the file lags the
/// requests by this much, and the bus's 4096 slots hold this long at 100k requests/s.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

/// Records are written in chunks of about this many bytes.
const BATCH: usize = 64 * 1024;

/// The audit file's name in the state dir.
pub const FILE: &str = "audit.jsonl";

/// Starts the writer thread on the bus.
pub fn spawn(events: Receiver<Arc<Event>>, state_dir: &Path, max_size: u64, clock: SharedClock) {
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

/// The writer thread: waits for an event, then gathers for [`GATHER`] before it makes the
/// records and writes them (in chunks of [`BATCH`]). While it gathers it is not waiting on
/// the bus, so a busy daemon's requests publish without waking it: a few wake-ups and
/// writes a second rather than one per request. (Callers that may be gone by then were
/// resolved when their event was published: see `Events::publish`.)
fn write_all(mut events: Receiver<Arc<Event>>, mut file: AuditFile, clock: SharedClock) {
    loop {
        let first = match events.blocking_recv() {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                warn!(lost = n, "the audit log fell behind; records were lost");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        std::thread::sleep(GATHER);
        let mut batch = Vec::with_capacity(BATCH + 4096);
        Record::of(&first, clock.now()).write_line(&mut batch);
        loop {
            match events.try_recv() {
                Ok(e) => Record::of(&e, clock.now()).write_line(&mut batch),
                Err(TryRecvError::Lagged(n)) => {
                    warn!(lost = n, "the audit log fell behind; records were lost");
                }
                Err(_) => break,
            }
            if batch.len() >= BATCH {
                file.append(&batch);
                batch.clear();
            }
        }
        file.append(&batch);
    }
}
