//! A single-flight expiring cache, generic over what it holds (role credentials today).
//!
//! - **Single flight**: callers that miss queue on one load per key; the first loads, the
//!   others are served what it loaded (even when AWS issued less than their minimum life:
//!   a herd never turns into N calls).
//! - **Stamps**: every entry carries the [`Stamp`] its load started under (owner, the owner's
//!   generation, the definition's fingerprint). A caller with another stamp never sees it, so
//!   bumping the generation (lock, logout, expiry) drops even results still in flight.
//! - **Refresh ahead**: [`Cache::due`] lists entries in use that are about to need a load, so
//!   a background task can load them before any request waits.
//!
//! Locks: a slot's `load` (async, held across the load) is taken before its `entry` and
//! `last_used` mutexes (sync, never held across an `.await`); the map's mutex is held only to
//! find or create a slot.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use crate::clock::SharedClock;

/// Something that stops being valid at a known time.
pub trait Expiring {
    fn expires_at(&self) -> SystemTime;
}

impl<T: Expiring> Expiring for Arc<T> {
    fn expires_at(&self) -> SystemTime {
        (**self).expires_at()
    }
}

/// Under what an entry was loaded; only an equal stamp is served it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Whose grant it was loaded under (the session's key).
    pub owner: String,
    /// The owner's generation when the load started.
    pub generation: u64,
    /// The definition it was loaded for (the config may change).
    pub fingerprint: String,
}

struct Entry<V> {
    value: V,
    /// Which load of its slot made it (1, 2, …): a caller that waited for a load knows it
    /// by a number greater than the one it saw before waiting.
    load: u64,
    /// How long the value was issued for, at load time.
    lifetime: Duration,
    stamp: Stamp,
}

struct Slot<V> {
    load: tokio::sync::Mutex<()>,
    entry: Mutex<Option<Entry<V>>>,
    last_used: Mutex<Option<SystemTime>>,
}

pub struct Cache<V> {
    clock: SharedClock,
    slots: Mutex<HashMap<String, Arc<Slot<V>>>>,
}

/// When a background load is worth it (see [`Cache::due`]).
pub struct AheadRule {
    /// Callers need at least this much life left.
    pub min_life: Duration,
    /// Load this long before an entry enters `min_life`.
    pub lead: Duration,
    /// Only entries served within this time.
    pub used_within: Duration,
}

impl<V: Clone + Expiring> Cache<V> {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            slots: Mutex::default(),
        }
    }

    fn slot(&self, key: &str) -> Arc<Slot<V>> {
        self.slots
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    load: tokio::sync::Mutex::new(()),
                    entry: Mutex::new(None),
                    last_used: Mutex::new(None),
                })
            })
            .clone()
    }

    /// The value under `stamp` with more than `min_life` left, or made by a load after
    /// `after` (one this caller waited for) and not yet expired.
    fn usable(
        &self,
        slot: &Slot<V>,
        stamp: &Stamp,
        min_life: Duration,
        after: Option<u64>,
    ) -> Option<V> {
        let now = self.clock.now();
        let e = slot.entry.lock().unwrap();
        let e = e.as_ref().filter(|e| e.stamp == *stamp)?;
        let expires = e.value.expires_at();
        let long_enough =
            expires > now + min_life || (after.is_some_and(|n| e.load > n) && expires > now);
        long_enough.then(|| e.value.clone())
    }

    /// The number of the latest load of a slot (0 before the first).
    fn loads(slot: &Slot<V>) -> u64 {
        slot.entry.lock().unwrap().as_ref().map_or(0, |e| e.load)
    }

    /// A cached value with more than `min_life` left, without loading.
    pub fn peek(&self, key: &str, stamp: &Stamp, min_life: Duration) -> Option<V> {
        let slot = self.slots.lock().unwrap().get(key)?.clone();
        self.usable(&slot, stamp, min_life, None)
    }

    /// The cached value, else the one `load` returns, loaded once however many callers wait.
    /// Marks the key as in use (for [`Cache::due`]).
    pub async fn get_or_load<E, Fut>(
        &self,
        key: &str,
        stamp: &Stamp,
        min_life: Duration,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        *slot.last_used.lock().unwrap() = Some(self.clock.now());
        if let Some(v) = self.usable(&slot, stamp, min_life, None) {
            return Ok(v);
        }
        let seen = Self::loads(&slot);
        let _loading = slot.load.lock().await;
        if let Some(v) = self.usable(&slot, stamp, min_life, Some(seen)) {
            return Ok(v);
        }
        self.load_into(&slot, stamp, load).await
    }

    /// Loads `key` now unless a load is already running (which does the job): for refresh
    /// ahead. `None` when skipped.
    pub async fn try_reload<E, Fut>(
        &self,
        key: &str,
        stamp: &Stamp,
        load: impl FnOnce() -> Fut,
    ) -> Option<Result<V, E>>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        let _loading = slot.load.try_lock().ok()?;
        Some(self.load_into(&slot, stamp, load).await)
    }

    /// Loads `key` now, after any load already running, whatever is cached: for a value only
    /// a human can make (role credentials assumed with an MFA code).
    pub async fn load_now<E, Fut>(
        &self,
        key: &str,
        stamp: &Stamp,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = self.slot(key);
        let _loading = slot.load.lock().await;
        self.load_into(&slot, stamp, load).await
    }

    async fn load_into<E, Fut>(
        &self,
        slot: &Slot<V>,
        stamp: &Stamp,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let v = load().await?;
        let now = self.clock.now();
        let mut entry = slot.entry.lock().unwrap();
        let n = entry.as_ref().map_or(0, |e| e.load) + 1;
        *entry = Some(Entry {
            value: v.clone(),
            load: n,
            lifetime: v.expires_at().duration_since(now).unwrap_or_default(),
            stamp: stamp.clone(),
        });
        Ok(v)
    }

    /// When the value cached for `key` expires, if its stamp is still `stamp`.
    pub fn expiry(&self, key: &str, stamp: &Stamp) -> Option<SystemTime> {
        let slot = self.slots.lock().unwrap().get(key)?.clone();
        let e = slot.entry.lock().unwrap();
        e.as_ref()
            .filter(|e| e.stamp == *stamp)
            .map(|e| e.value.expires_at())
    }

    /// Drops every entry of `owner` (their stamps are stale anyway: this frees them now).
    pub fn drop_owner(&self, owner: &str) {
        for slot in self.slots.lock().unwrap().values() {
            let mut e = slot.entry.lock().unwrap();
            if e.as_ref().is_some_and(|e| e.stamp.owner == owner) {
                *e = None;
            }
        }
    }

    /// Keys in use whose value is about to enter `min_life`. Values issued for less than
    /// `min_life` plus twice the lead are left to requests: they would be reloaded every tick.
    pub fn due(&self, rule: &AheadRule) -> Vec<String> {
        let now = self.clock.now();
        let slots = self.slots.lock().unwrap();
        slots
            .iter()
            .filter(|(_, slot)| {
                let in_use =
                    slot.last_used.lock().unwrap().is_some_and(|t| {
                        now.duration_since(t).unwrap_or_default() < rule.used_within
                    });
                let nearing = slot.entry.lock().unwrap().as_ref().is_some_and(|e| {
                    let exp = e.value.expires_at();
                    e.lifetime > rule.min_life + rule.lead * 2
                        && exp > now
                        && exp <= now + rule.min_life + rule.lead
                });
                in_use && nearing
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::{Clock, ManualClock};

    #[derive(Clone, Debug, PartialEq)]
    struct V(SystemTime, usize);

    impl Expiring for V {
        fn expires_at(&self) -> SystemTime {
            self.0
        }
    }

    const MIN: Duration = Duration::from_secs(60);

    fn stamp(generation: u64) -> Stamp {
        Stamp {
            owner: "work".into(),
            generation,
            fingerprint: "f".into(),
        }
    }

    #[tokio::test]
    async fn a_generation_bump_drops_what_was_loaded_before() {
        let clock = ManualClock::new();
        let cache = Cache::new(clock.clone());
        let now = clock.now();
        let loads = AtomicUsize::new(0);
        let load = || async {
            let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, ()>(V(now + 60 * MIN, n))
        };
        assert_eq!(
            cache.get_or_load("dev", &stamp(0), 15 * MIN, load).await,
            Ok(V(now + 60 * MIN, 1))
        );
        assert!(cache.peek("dev", &stamp(0), 15 * MIN).is_some());
        assert!(
            cache.peek("dev", &stamp(1), 15 * MIN).is_none(),
            "another generation"
        );
        assert_eq!(cache.expiry("dev", &stamp(1)), None);
        let v = cache
            .get_or_load("dev", &stamp(1), 15 * MIN, load)
            .await
            .unwrap();
        assert_eq!(v.1, 2);
        cache.drop_owner("work");
        assert!(cache.peek("dev", &stamp(1), 15 * MIN).is_none());
    }

    #[tokio::test]
    async fn refresh_ahead_lists_entries_in_use_nearing_the_window() {
        let clock = ManualClock::new();
        let cache = Cache::new(clock.clone());
        let rule = AheadRule {
            min_life: 15 * MIN,
            lead: MIN,
            used_within: 30 * MIN,
        };
        let t0 = clock.now();
        let long = || async { Ok::<_, ()>(V(t0 + 60 * MIN, 1)) };
        let short = || async { Ok::<_, ()>(V(t0 + 16 * MIN, 1)) };
        cache
            .get_or_load("long", &stamp(0), 15 * MIN, long)
            .await
            .unwrap();
        cache
            .get_or_load("short", &stamp(0), 15 * MIN, short)
            .await
            .unwrap();
        assert!(cache.due(&rule).is_empty());
        clock.advance(40 * MIN);
        cache
            .get_or_load("long", &stamp(0), 15 * MIN, long)
            .await
            .unwrap();
        clock.advance(4 * MIN);
        assert_eq!(
            cache.due(&rule),
            ["long"],
            "short-lived ones are left to requests"
        );
        let reloaded = cache
            .try_reload("long", &stamp(0), || async {
                Ok::<_, ()>(V(clock.now() + 60 * MIN, 2))
            })
            .await;
        assert_eq!(reloaded.unwrap().unwrap().1, 2);
        assert!(cache.due(&rule).is_empty());
        // Not used for 30 minutes: no longer refreshed ahead.
        clock.advance(45 * MIN);
        assert!(cache.due(&rule).is_empty());
    }
}
