//! The session state machine on a manual clock: unlock, window end, token expiry, refresh
//! with rotation, and what the event bus sees.

use std::time::Duration;

use super::{State, UnlockedBy};
use crate::{
    aws::AwsError,
    clock::Clock,
    error::Error,
    events::Event,
    testing::{MIN, World, caller},
};

#[tokio::test]
async fn unlock_reuses_a_stored_token_and_the_window_ends_on_time() {
    let w = World::new().await;
    let s = w.sessions.get("work");
    assert_eq!(s.state(w.clock.now()), State::Locked);
    w.store_token(8 * 60 * MIN, true);
    let out = w.unlock(Some(30 * MIN)).await;
    assert_eq!(out.how, UnlockedBy::Stored);
    assert_eq!(out.unlocked_until, Some(w.clock.now() + 30 * MIN));
    assert!(w.sessions.check_issuable(&s).is_ok());
    w.clock.advance(30 * MIN);
    let e = w.sessions.check_issuable(&s).unwrap_err();
    assert!(
        matches!(&e, Error::NeedsUnlock(m) if m.contains("is locked")),
        "{e}"
    );
    let generation = s.generation();
    w.sessions.tick().await;
    assert!(s.with(|st| st.window.is_none()), "tick closes the window");
    assert_eq!(s.generation(), generation + 1, "what was issued is revoked");
}

#[tokio::test]
async fn a_token_that_cannot_be_refreshed_ends_the_session() {
    let w = World::new().await;
    w.store_token(20 * MIN, false);
    let out = w.unlock(None).await;
    assert_eq!(out.unlocked_until, Some(w.clock.now() + 20 * MIN));
    let s = w.sessions.get("work");
    w.clock.advance(16 * MIN);
    // Inside the refresh buffer but still valid: used as it is.
    let (token, _) = w.sessions.access_token(&s).await.unwrap();
    assert_eq!(token.expose(), "at-0");
    w.clock.advance(4 * MIN);
    assert_eq!(s.state(w.clock.now()), State::Expired);
    let e = w.sessions.check_issuable(&s).unwrap_err().to_string();
    assert!(
        e.contains("has expired") && e.contains("ssoagentctl unlock work"),
        "{e}"
    );
}

#[tokio::test]
async fn refresh_rotates_and_saves_before_use() {
    let w = World::new().await;
    w.store_token(60 * MIN, true);
    w.unlock(None).await;
    let s = w.sessions.get("work");
    w.clock.advance(56 * MIN);
    let (token, region) = w.sessions.access_token(&s).await.unwrap();
    assert_eq!((token.expose(), region.as_str()), ("at-1", "eu-west-1"));
    assert_eq!(w.stored_refresh_token().as_deref(), Some("rt-1"), "saved");
    // The next refresh presents the rotated token, never the spent one.
    w.clock.advance(56 * MIN);
    w.sessions.tick().await;
    assert_eq!(*w.aws.refreshed_with.lock().unwrap(), ["rt-0", "rt-1"]);
    assert_eq!(w.stored_refresh_token().as_deref(), Some("rt-2"));
    assert_eq!(s.state(w.clock.now()), State::Unlocked);
}

#[tokio::test]
async fn a_spent_refresh_token_expires_the_session_and_a_failed_one_keeps_the_token() {
    let w = World::new().await;
    w.store_token(60 * MIN, true);
    w.unlock(None).await;
    let s = w.sessions.get("work");
    let mut events = w.events.subscribe();
    *w.aws.refresh_error.lock().unwrap() =
        Some(|| AwsError::Failed("CreateToken failed: 500".into()));
    w.clock.advance(56 * MIN);
    let (token, _) = w.sessions.access_token(&s).await.unwrap();
    assert_eq!(
        token.expose(),
        "at-0",
        "a failed refresh keeps what is still valid"
    );
    assert!(
        matches!(events.try_recv(), Ok(Event::RefreshFailed { session, .. }) if session == "work")
    );
    assert_eq!(
        w.stored_refresh_token().as_deref(),
        Some("rt-0"),
        "nothing lost"
    );
    *w.aws.refresh_error.lock().unwrap() = Some(|| AwsError::InvalidGrant("spent".into()));
    let e = w.sessions.access_token(&s).await.unwrap_err().to_string();
    assert!(e.contains("has expired"), "{e}");
    assert_eq!(s.state(w.clock.now()), State::Expired);
}

#[tokio::test]
async fn lock_and_logout_are_published() {
    let w = World::new().await;
    let mut events = w.events.subscribe();
    w.store_token(60 * MIN, true);
    w.unlock(Some(Duration::from_secs(3600))).await;
    w.sessions.lock(caller(), &["work".into()]).await;
    assert_eq!(w.sessions.get("work").state(w.clock.now()), State::Locked);
    let unlocked = Event::Unlocked {
        caller: caller(),
        session: "work".into(),
    };
    let locked = Event::Locked {
        caller: caller(),
        session: "work".into(),
    };
    assert_eq!(events.try_recv().unwrap(), unlocked);
    assert_eq!(events.try_recv().unwrap(), locked);
    // A second unlock after lock reuses the stored token (no login).
    assert_eq!(w.unlock(None).await.how, UnlockedBy::Stored);
}
