//! `ending` events: a session's window (or its unrefreshable token) ends within 30 and within
//! 5 minutes. Each threshold is announced once per session and end time; a window that opens
//! with less than 5 minutes left gets only the 5-minute one.

use std::{collections::HashSet, sync::Mutex, time::SystemTime};

use crate::events::Event;

/// Minutes before the end at which `ending` is published, largest first.
pub const THRESHOLDS: [u64; 2] = [30, 5];

#[derive(Default)]
pub struct Ending {
    /// (session, end in Unix seconds, threshold) already announced.
    sent: Mutex<HashSet<(String, u64, u64)>>,
}

impl Ending {
    /// The events due now for `ends` (session, end of its window).
    pub fn due(
        &self,
        ends: impl Iterator<Item = (String, SystemTime)>,
        now: SystemTime,
    ) -> Vec<Event> {
        let mut sent = self.sent.lock().unwrap();
        let mut out = Vec::new();
        for (session, until) in ends {
            let Ok(left) = until.duration_since(now) else {
                continue;
            };
            let end = until
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            // The smallest threshold the end is within; larger ones count as announced.
            let Some(&minutes) = THRESHOLDS.iter().rev().find(|m| left.as_secs() <= *m * 60) else {
                continue;
            };
            let mut fresh = false;
            for m in THRESHOLDS.iter().filter(|m| **m >= minutes) {
                fresh |= sent.insert((session.clone(), end, *m)) && *m == minutes;
            }
            if fresh {
                out.push(Event::Ending {
                    session,
                    until,
                    minutes,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_threshold_once() {
        let e = Ending::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let end = now + Duration::from_secs(20 * 60);
        let at = |t: SystemTime| e.due(std::iter::once(("work".to_string(), end)), t);
        assert!(matches!(&at(now)[..], [Event::Ending { minutes: 30, .. }]));
        assert!(at(now).is_empty());
        let late = now + Duration::from_secs(16 * 60);
        assert!(matches!(&at(late)[..], [Event::Ending { minutes: 5, .. }]));
        assert!(at(late).is_empty());
        assert!(at(end + Duration::from_secs(1)).is_empty());
        let far = SystemTime::UNIX_EPOCH;
        assert!(
            e.due(
                std::iter::once(("x".into(), now + Duration::from_secs(7200))),
                far.max(now)
            )
            .is_empty()
        );
    }
}
