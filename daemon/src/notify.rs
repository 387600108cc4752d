//! Desktop notifications (`notify = "auto" | "on" | "off"`) over the session bus's
//! `org.freedesktop.Notifications`: a request waiting for approval (with the command), a robot
//! that found its session locked (at most once per session per 10 minutes) and a window about
//! to end. One thread owns the D-Bus connection; the bus task hands it work without waiting,
//! so a slow or absent notification service never slows anything else.

use std::{
    collections::HashMap,
    sync::{Arc, mpsc},
    time::{Duration, SystemTime},
};

use ssoagent_client::policy_config::Notify;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tracing::{debug, warn};

use crate::{
    caller::Caller,
    clock::SharedClock,
    events::{Event, Who},
    process,
};

/// `locked_hit` is shown at most this often per session.
pub const LOCKED_HIT_EVERY: Duration = Duration::from_secs(10 * 60);
const SERVICE: &str = "org.freedesktop.Notifications";

/// One notification: summary and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub summary: String,
    pub body: String,
}

/// Starts the notifier (nothing for `off`).
pub fn spawn(mut events: Receiver<Arc<Event>>, mode: Notify, clock: SharedClock) {
    if mode == Notify::Off {
        return;
    }
    let (tx, rx) = mpsc::sync_channel::<Note>(32);
    std::thread::Builder::new()
        .name("notify".into())
        .spawn(move || sender(rx, mode))
        .expect("spawn the notification thread");
    tokio::spawn(async move {
        let mut last_hit: HashMap<String, SystemTime> = HashMap::new();
        loop {
            let e = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            if let Some(n) = note(&e, clock.now(), &mut last_hit) {
                // Full: the service is slow; this one is dropped rather than queued forever.
                let _ = tx.try_send(n);
            }
        }
    });
}

/// What an event shows, if anything.
pub fn note(
    e: &Event,
    now: SystemTime,
    last_hit: &mut HashMap<String, SystemTime>,
) -> Option<Note> {
    match e {
        Event::Pending {
            id,
            profile,
            who,
            caller,
            ..
        } => Some(Note {
            summary: format!("ssoagent: {} wants profile {profile}", robot(caller, who)),
            body: format!(
                "It waits for a human's approval; run: {}",
                crate::policy::approve_command(id)
            ),
        }),
        Event::LockedHit {
            caller,
            profile,
            session,
            who,
        } => {
            if last_hit
                .get(session)
                .is_some_and(|t| now < *t + LOCKED_HIT_EVERY)
            {
                return None;
            }
            last_hit.insert(session.clone(), now);
            Some(Note {
                summary: format!("ssoagent: session {session} is locked"),
                body: format!(
                    "a robot ({}) wanted profile {profile}; session {session} is locked; unlock with: {}",
                    robot(caller, who),
                    crate::error::unlock_command(session)
                ),
            })
        }
        Event::Ending {
            session,
            until,
            minutes,
        } => Some(Note {
            summary: format!("ssoagent: session {session} ends within {minutes} minutes"),
            body: format!(
                "at {}; robots are refused from then on until a human unlocks again",
                humantime::format_rfc3339_seconds(*until)
            ),
        }),
        _ => None,
    }
}

/// "claude, pid 4242": the tool behind the shim (its parent), else the caller itself.
fn robot(caller: &Caller, who: &Who) -> String {
    let resolved = who
        .clone()
        .unwrap_or_else(|| process::resolve(caller).into());
    let p = &resolved.process;
    let shown = if p.basename().starts_with("ssoagent") {
        resolved.ancestors.first().unwrap_or(p)
    } else {
        p
    };
    let name = if shown.exe.is_empty() {
        "exited".to_string()
    } else {
        crate::error::one_line(shown.basename())
    };
    format!("{name}, pid {}", shown.pid)
}

/// The thread that talks to the bus; connects on first use and again after a failure.
fn sender(rx: mpsc::Receiver<Note>, mode: Notify) {
    let mut conn: Option<zbus::blocking::Connection> = None;
    let mut warned = false;
    for n in rx {
        if conn.is_none() {
            conn = zbus::blocking::Connection::session().ok();
        }
        let Some(c) = &conn else {
            if mode == Notify::On && !warned {
                warn!("notify = \"on\" but there is no session bus; notifications are not shown");
                warned = true;
            }
            continue;
        };
        if mode == Notify::Auto && !has_service(c) {
            debug!("no notification service on the session bus");
            continue;
        }
        if let Err(e) = send(c, &n) {
            if mode == Notify::On && !warned {
                warn!(error = %e, "cannot show a desktop notification");
                warned = true;
            }
            conn = None;
        }
    }
}

fn has_service(c: &zbus::blocking::Connection) -> bool {
    let Ok(dbus) = zbus::blocking::fdo::DBusProxy::new(c) else {
        return false;
    };
    let Ok(name) = zbus::names::BusName::try_from(SERVICE) else {
        return false;
    };
    dbus.name_has_owner(name).unwrap_or(false)
}

fn send(c: &zbus::blocking::Connection, n: &Note) -> zbus::Result<()> {
    let hints: HashMap<&str, zbus::zvariant::Value> = HashMap::new();
    let actions: Vec<&str> = Vec::new();
    c.call_method(
        Some(SERVICE),
        "/org/freedesktop/Notifications",
        Some(SERVICE),
        "Notify",
        &(
            "ssoagent",
            0u32,
            "dialog-password",
            n.summary.as_str(),
            n.body.as_str(),
            actions,
            hints,
            -1i32,
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_hits_show_once_per_session_per_ten_minutes() {
        let caller = Caller {
            uid: 0,
            pid: Some(i32::MAX),
        };
        let hit = |s: &str| Event::LockedHit {
            caller,
            profile: "prod".into(),
            session: s.into(),
            who: None,
        };
        let mut last = HashMap::new();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let n = note(&hit("work"), t, &mut last).unwrap();
        assert!(
            n.body
                .contains("wanted profile prod; session work is locked"),
            "{n:?}"
        );
        assert!(note(&hit("work"), t + Duration::from_secs(60), &mut last).is_none());
        assert!(note(&hit("other"), t, &mut last).is_some());
        assert!(note(&hit("work"), t + LOCKED_HIT_EVERY, &mut last).is_some());
    }
}
