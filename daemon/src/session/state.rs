//! One session's state, as pure functions of the time: what it holds (tokens), whether a
//! human's unlock is open (the window), and whether its token is dead. No I/O, no locks.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::{clock::unix_secs, secret::Secret, store::StoredSession};

/// Refresh the SSO access token when less than this is left (the AWS SDK for Rust uses 5 min).
pub const TOKEN_REFRESH_BUFFER: Duration = Duration::from_secs(5 * 60);

/// What a session is, as status shows it and as requests are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No valid unlock: a human must run `ssoagentctl unlock`.
    Locked,
    /// Issuing until the window's end.
    Unlocked,
    /// The token is gone and cannot be refreshed: a human must log in again.
    Expired,
}

/// A human's unlock: until a deadline, or (`until: None`) the session's own life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[serde(default, with = "unix_secs::option")]
    pub until: Option<SystemTime>,
}

impl Window {
    pub fn passed(&self, now: SystemTime) -> bool {
        self.until.is_some_and(|u| u <= now)
    }
}

#[derive(Clone, Debug, Default)]
pub struct SessionState {
    /// Tokens and registration, in memory while the daemon knows them.
    pub stored: Option<StoredSession>,
    /// `Some` while unlocked.
    pub window: Option<Window>,
    /// The token is dead (rejected, or expired and not refreshable): a human must log in.
    pub token_dead: bool,
}

impl SessionState {
    pub fn token(&self) -> Option<&crate::store::Token> {
        self.stored.as_ref()?.token.as_ref()
    }

    pub fn refreshable(&self, now: SystemTime) -> bool {
        self.stored.as_ref().is_some_and(|s| s.refreshable(now))
    }

    /// The background refresh's turn: a live, refreshable token within twice the request-driven
    /// buffer of its end (so requests rarely find it due themselves).
    pub fn background_refresh_due(&self, now: SystemTime) -> bool {
        self.window.is_some()
            && !self.token_dead
            && self.refreshable(now)
            && self
                .token()
                .is_some_and(|t| t.expires_at <= now + TOKEN_REFRESH_BUFFER * 2)
    }

    /// The end of the window: its deadline, or the token's end when it cannot be refreshed.
    pub fn effective_until(&self, now: SystemTime) -> Option<SystemTime> {
        let w = self.window?;
        let token_end = (!self.refreshable(now))
            .then(|| self.token().map(|t| t.expires_at))
            .flatten();
        match (w.until, token_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn state(&self, now: SystemTime) -> State {
        match self.window {
            None => State::Locked,
            Some(w) if w.passed(now) => State::Locked,
            Some(_) if self.token_dead || self.token().is_none() => State::Expired,
            Some(_) if self.effective_until(now).is_some_and(|u| u <= now) => State::Expired,
            Some(_) => State::Unlocked,
        }
    }

    /// The access token and SSO region when the token has more than the refresh buffer left.
    pub fn usable_token(&self, now: SystemTime) -> Option<(Secret, String)> {
        let stored = self.stored.as_ref()?;
        let t = stored.token.as_ref()?;
        (!self.token_dead && t.expires_at > now + TOKEN_REFRESH_BUFFER)
            .then(|| (t.access_token.clone(), stored.region.clone()))
    }

    /// A human unlocked with these tokens.
    pub fn open(&mut self, stored: StoredSession, until: Option<SystemTime>) {
        self.stored = Some(stored);
        self.window = Some(Window { until });
        self.token_dead = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::{Clock, ManualClock},
        store::{RegisteredFlow, Registration, Token},
    };

    const MIN: Duration = Duration::from_secs(60);

    fn stored(now: SystemTime, token_life: Duration, refreshable: bool) -> StoredSession {
        StoredSession {
            session: "work".into(),
            start_url: "https://d-1.awsapps.com/start".into(),
            region: "eu-west-1".into(),
            token: Some(Token {
                access_token: "at".into(),
                expires_at: now + token_life,
                refresh_token: refreshable.then(|| "rt".into()),
            }),
            registration: refreshable.then(|| Registration {
                client_id: "c".into(),
                client_secret: "s".into(),
                expires_at: now + 90 * 24 * 60 * MIN,
                flow: RegisteredFlow::Pkce,
                scopes: vec![],
            }),
        }
    }

    #[test]
    fn unlock_opens_until_the_window_ends_then_locks() {
        let clock = ManualClock::new();
        let mut st = SessionState::default();
        assert_eq!(st.state(clock.now()), State::Locked);
        st.open(
            stored(clock.now(), 60 * MIN, true),
            Some(clock.now() + 30 * MIN),
        );
        assert_eq!(st.state(clock.now()), State::Unlocked);
        assert_eq!(
            st.effective_until(clock.now()),
            Some(clock.now() + 30 * MIN)
        );
        clock.advance(30 * MIN);
        assert_eq!(
            st.state(clock.now()),
            State::Locked,
            "the window is the human's grant"
        );
    }

    #[test]
    fn without_a_refresh_token_the_window_ends_with_the_token() {
        let clock = ManualClock::new();
        let mut st = SessionState::default();
        st.open(stored(clock.now(), 10 * MIN, false), None);
        assert_eq!(
            st.effective_until(clock.now()),
            Some(clock.now() + 10 * MIN)
        );
        assert!(st.usable_token(clock.now()).is_some());
        clock.advance(6 * MIN);
        assert!(
            st.usable_token(clock.now()).is_none(),
            "inside the refresh buffer"
        );
        assert_eq!(st.state(clock.now()), State::Unlocked);
        clock.advance(4 * MIN);
        assert_eq!(st.state(clock.now()), State::Expired);
    }

    #[test]
    fn a_refreshable_token_keeps_the_session_open_and_is_refreshed_ahead() {
        let clock = ManualClock::new();
        let mut st = SessionState::default();
        st.open(stored(clock.now(), 60 * MIN, true), None);
        assert_eq!(st.effective_until(clock.now()), None);
        assert!(!st.background_refresh_due(clock.now()));
        clock.advance(51 * MIN);
        assert!(st.background_refresh_due(clock.now()));
        clock.advance(60 * MIN);
        assert_eq!(
            st.state(clock.now()),
            State::Unlocked,
            "refreshable: still open"
        );
        st.token_dead = true;
        assert_eq!(st.state(clock.now()), State::Expired);
        assert!(!st.background_refresh_due(clock.now()));
        st.window = None;
        assert_eq!(st.state(clock.now()), State::Locked);
    }

    #[test]
    fn windows_persist_as_unix_seconds() {
        let w = Window {
            until: Some(unix_secs::from_secs(2_000_000_000)),
        };
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#"{"until":2000000000}"#);
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), w);
        assert_eq!(serde_json::from_str::<Window>("{}").unwrap().until, None);
    }
}
