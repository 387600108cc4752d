//! The session state machine on a manual clock: unlock, window end, token expiry, refresh
//! with rotation, and what the event bus sees.

use std::time::Duration;

use ssoagent_client::config::Presence;

use super::{MAX_WINDOW, State, UnlockAnswer, UnlockOptions, UnlockedBy};
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
        matches!(events.try_recv().map(|e| (*e).clone()), Ok(Event::RefreshFailed { session, .. }) if session == "work")
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
    assert_eq!(events.try_recv().map(|e| (*e).clone()).unwrap(), unlocked);
    assert_eq!(events.try_recv().map(|e| (*e).clone()).unwrap(), locked);
    // A second unlock after lock reuses the stored token (no login).
    assert_eq!(w.unlock(None).await.how, UnlockedBy::Stored);
}

fn confirmed() -> UnlockOptions {
    UnlockOptions {
        confirmed: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn with_presence_tty_a_reuse_needs_a_confirmation_from_a_terminal() {
    let w = World::new().await;
    let s = w.sessions.get("work");
    let mut events = w.events.subscribe();
    // Valid for 8 h and refreshable: reusable without a login.
    w.store_token(8 * 60 * MIN, true);
    let asked = match w.try_unlock(UnlockOptions::default()).await.unwrap() {
        UnlockAnswer::ConfirmationNeeded(c) => c,
        UnlockAnswer::Unlocked(_) => panic!("a robot unlocked without a human"),
    };
    assert_eq!(asked.session, "work");
    assert_eq!(asked.until, None, "refreshable: the SSO session's own life");
    assert!(
        asked.prompt.contains("Unlock session 'work'")
            && asked.prompt.contains("for every process of this user"),
        "{}",
        asked.prompt
    );
    assert_eq!(s.state(w.clock.now()), State::Locked, "nothing changed");
    assert!(
        events.try_recv().map(|e| (*e).clone()).is_err(),
        "no unlock published"
    );
    // "Confirmed" by a caller without a controlling terminal: not believed.
    w.terminal.store(false, std::sync::atomic::Ordering::SeqCst);
    let opts = UnlockOptions {
        window: Some(30 * MIN),
        ..confirmed()
    };
    match w.try_unlock(opts).await.unwrap() {
        UnlockAnswer::ConfirmationNeeded(c) => {
            assert_eq!(
                c.until,
                Some(w.clock.now() + 30 * MIN),
                "the window asked for"
            )
        }
        UnlockAnswer::Unlocked(_) => panic!("a confirmation without a terminal was believed"),
    }
    assert_eq!(s.state(w.clock.now()), State::Locked);
    // A human at a terminal.
    w.terminal.store(true, std::sync::atomic::Ordering::SeqCst);
    match w.try_unlock(confirmed()).await.unwrap() {
        UnlockAnswer::Unlocked(o) => assert_eq!(o.how, UnlockedBy::Stored),
        UnlockAnswer::ConfirmationNeeded(c) => panic!("asked again: {c:?}"),
    }
    assert_eq!(s.state(w.clock.now()), State::Unlocked);
}

#[tokio::test]
async fn an_unconfirmed_reuse_refreshes_nothing() {
    let w = World::new().await;
    // Expired but refreshable: a reuse would call CreateToken.
    w.store_token(MIN, true);
    w.clock.advance(2 * MIN);
    let a = w.try_unlock(UnlockOptions::default()).await.unwrap();
    assert!(matches!(a, UnlockAnswer::ConfirmationNeeded(_)));
    assert!(
        w.aws.refreshed_with.lock().unwrap().is_empty(),
        "no refresh before a human said yes"
    );
    assert_eq!(w.stored_refresh_token().as_deref(), Some("rt-0"));
    match w.try_unlock(confirmed()).await.unwrap() {
        UnlockAnswer::Unlocked(o) => assert_eq!(o.how, UnlockedBy::Refreshed),
        UnlockAnswer::ConfirmationNeeded(c) => panic!("asked again: {c:?}"),
    }
    assert_eq!(w.stored_refresh_token().as_deref(), Some("rt-1"));
}

#[tokio::test]
async fn with_presence_none_a_reuse_needs_no_confirmation() {
    let w = World::with_presence(Presence::None).await;
    w.terminal.store(false, std::sync::atomic::Ordering::SeqCst);
    w.store_token(8 * 60 * MIN, true);
    match w.try_unlock(UnlockOptions::default()).await.unwrap() {
        UnlockAnswer::Unlocked(o) => assert_eq!(o.how, UnlockedBy::Stored),
        UnlockAnswer::ConfirmationNeeded(c) => panic!("presence none asked: {c:?}"),
    }
}

#[tokio::test]
async fn an_unlock_window_beyond_an_sso_session_is_refused_not_a_panic() {
    let w = World::new().await;
    w.store_token(8 * 60 * MIN, true);
    for window in [
        Duration::from_secs(u64::MAX),
        MAX_WINDOW + Duration::from_secs(1),
    ] {
        let opts = UnlockOptions {
            window: Some(window),
            ..confirmed()
        };
        let e = w.try_unlock(opts).await.err().expect("refused");
        assert!(
            matches!(&e, Error::Config(m) if m.contains("longer than an SSO session can last")),
            "{e}"
        );
    }
    assert_eq!(w.sessions.get("work").state(w.clock.now()), State::Locked);
}

#[tokio::test]
async fn a_newer_unlock_supersedes_one_that_waits() {
    let w = std::sync::Arc::new(World::new().await);
    w.store_token(8 * 60 * MIN, true);
    let s = w.sessions.get("work");
    // Someone holds the session's unlock (a login nobody approves, say).
    let held = s.unlock.lock().await;
    let older = {
        let w = w.clone();
        tokio::spawn(async move { w.try_unlock(confirmed()).await.map(|_| ()) })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!older.is_finished(), "waits its turn");
    let newer = {
        let w = w.clone();
        tokio::spawn(async move { w.try_unlock(confirmed()).await.map(|_| ()) })
    };
    let r = tokio::time::timeout(Duration::from_secs(5), older)
        .await
        .expect("the older unlock gives up at once")
        .unwrap();
    assert!(
        matches!(&r, Err(Error::Cancelled(m)) if m.contains("newer unlock")),
        "{r:?}"
    );
    drop(held);
    newer.await.unwrap().expect("the newer unlock goes on");
    assert_eq!(s.state(w.clock.now()), State::Unlocked);
}

#[tokio::test]
async fn an_unlock_reusing_a_token_never_writes_back_a_spent_refresh_token() {
    let w = std::sync::Arc::new(World::new().await);
    w.store_token(60 * MIN, true);
    w.unlock(None).await;
    let s = w.sessions.get("work");
    // 9 minutes left: valid for a reuse, and due for the background refresh.
    w.clock.advance(51 * MIN);
    // A human unlocks again (say with --for) while the background refresh rotates rt-0.
    w.store.hold_saves_of("rt-0");
    let unlock = {
        let w = w.clone();
        tokio::spawn(async move { w.try_unlock(confirmed()).await.map(|_| ()) })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !unlock.is_finished() && w.store.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "unlock stuck");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), w.sessions.tick())
        .await
        .expect("the background refresh is not blocked by the unlock");
    assert_eq!(*w.aws.refreshed_with.lock().unwrap(), ["rt-0"]);
    w.store.release();
    unlock.await.unwrap().unwrap();
    assert_eq!(
        w.stored_refresh_token().as_deref(),
        Some("rt-1"),
        "the rotated refresh token stays saved"
    );
    assert_eq!(
        s.with(|st| st.token().and_then(|t| t.refresh_token.clone()))
            .map(|r| r.expose().to_string())
            .as_deref(),
        Some("rt-1"),
        "and in memory"
    );
    // The next refresh presents the live token, never the spent one.
    w.clock.advance(56 * MIN);
    w.sessions.tick().await;
    assert_eq!(*w.aws.refreshed_with.lock().unwrap(), ["rt-0", "rt-1"]);
    assert_eq!(s.state(w.clock.now()), State::Unlocked);
}
