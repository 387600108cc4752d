//! Who took what: every event of the bus becomes one line of `$SSOAGENT_STATE_DIR/audit.jsonl`
//! ([`record`] makes it, [`writer`] appends and rotates it). The task reads the bus, which is
//! bounded: if the disk cannot keep up, records are dropped and the count is logged, but a
//! credential request never waits on the audit log.

pub mod record;
pub mod writer;

use std::path::Path;

use tokio::sync::broadcast::{Receiver, error::RecvError};
use tracing::warn;

use self::{record::Record, writer::AuditFile};
use crate::{clock::SharedClock, events::Event};

/// The audit file's name in the state dir.
pub const FILE: &str = "audit.jsonl";

/// Starts the writer task on the bus.
pub fn spawn(mut events: Receiver<Event>, state_dir: &Path, max_size: u64, clock: SharedClock) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir);
    }
    let mut file = AuditFile::new(state_dir.join(FILE), max_size);
    tokio::spawn(async move {
        loop {
            let first = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    warn!(lost = n, "the audit log fell behind; records were lost");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            // Whatever else is waiting goes out in the same write.
            let mut batch = Record::of(&first, clock.now()).line();
            while batch.len() < 64 * 1024 {
                match events.try_recv() {
                    Ok(e) => batch.extend(Record::of(&e, clock.now()).line()),
                    Err(_) => break,
                }
            }
            let b = batch;
            file = tokio::task::spawn_blocking(move || {
                file.append(&b);
                file
            })
            .await
            .expect("the audit writer does not panic");
        }
    });
}
