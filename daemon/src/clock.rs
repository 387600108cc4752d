//! The one place the daemon reads wall time. Everything that compares a deadline (token
//! expiry, unlock windows, credential lifetimes, idle time) asks a [`Clock`], so the core can
//! be tested with a [`ManualClock`] and no sleeps.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// Wall time, as the core sees it.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The system clock as a shared handle.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to: for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    /// Starts at an arbitrary fixed time (2026-11-01T00:00:00Z).
    pub fn new() -> Arc<Self> {
        Self::at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_793_491_200))
    }

    pub fn at(t: SystemTime) -> Arc<Self> {
        Arc::new(Self(Mutex::new(t)))
    }

    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }

    pub fn set(&self, t: SystemTime) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// Seconds since the Unix epoch, on the wire and on disk.
pub mod unix_secs {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn to_secs(t: SystemTime) -> i64 {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        }
    }

    pub fn from_secs(s: i64) -> SystemTime {
        if s >= 0 {
            UNIX_EPOCH + Duration::from_secs(s as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
        }
    }

    /// Unix seconds, 0 for none (the wire format of optional times in the proto).
    pub fn or_zero(t: Option<SystemTime>) -> i64 {
        t.map(to_secs).unwrap_or(0)
    }

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(to_secs(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        Ok(from_secs(i64::deserialize(d)?))
    }

    /// The same for an optional time (`null` for none).
    pub mod option {
        use std::time::SystemTime;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&super::to_secs(*t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<SystemTime>, D::Error> {
            Ok(Option::<i64>::deserialize(d)?.map(super::from_secs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now(), t0 + Duration::from_secs(90));
    }
}
