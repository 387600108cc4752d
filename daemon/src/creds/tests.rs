//! Role credentials on a manual clock: one fetch for a herd, the refresh window, a lock
//! during a fetch, chains, and the events a credential request publishes.

use std::{sync::Arc, time::Duration};

use tokio::sync::Semaphore;

use crate::{
    error::Error,
    events::Event,
    testing::{MIN, World, caller},
};

#[tokio::test]
async fn a_herd_makes_one_call_and_a_refresh_window_forces_the_next() {
    let w = Arc::new(World::new().await);
    w.store_token(8 * 60 * MIN, true);
    w.unlock(None).await;
    let gate = Arc::new(Semaphore::new(0));
    *w.aws.gate.lock().unwrap() = Some(gate.clone());
    let mut herd = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let w = w.clone();
        herd.spawn(async move {
            let dev = World::profile("dev", "111111111111");
            w.creds
                .get(caller(), &dev)
                .await
                .map(|c| c.access_key_id.clone())
        });
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(100);
    while let Some(r) = herd.join_next().await {
        assert_eq!(r.unwrap().unwrap(), "SSO-111111111111-1");
    }
    assert_eq!(w.aws.role_calls(), 1, "one GetRoleCredentials for the herd");
    let dev = World::profile("dev", "111111111111");
    w.clock.advance(44 * MIN);
    w.creds.get(caller(), &dev).await.unwrap();
    assert_eq!(
        w.aws.role_calls(),
        1,
        "16 min left: still served from memory"
    );
    w.clock.advance(2 * MIN);
    let c = w.creds.get(caller(), &dev).await.unwrap();
    assert_eq!(
        c.access_key_id, "SSO-111111111111-2",
        "inside the refresh window"
    );
}

#[tokio::test]
async fn a_lock_during_a_fetch_drops_its_result() {
    let w = Arc::new(World::new().await);
    w.store_token(8 * 60 * MIN, true);
    w.unlock(None).await;
    let gate = Arc::new(Semaphore::new(0));
    *w.aws.gate.lock().unwrap() = Some(gate.clone());
    let fetch = {
        let w = w.clone();
        tokio::spawn(async move {
            let dev = World::profile("dev", "111111111111");
            w.creds.get(caller(), &dev).await.map(|_| ())
        })
    };
    while w.aws.role_calls() == 0 {
        tokio::task::yield_now().await;
    }
    w.sessions.lock(caller(), &["work".into()]).await;
    gate.add_permits(10);
    let r = fetch.await.unwrap();
    assert!(matches!(r, Err(Error::NeedsUnlock(_))), "{r:?}");
    w.unlock(None).await;
    let dev = World::profile("dev", "111111111111");
    let c = w.creds.get(caller(), &dev).await.unwrap();
    assert_eq!(
        c.access_key_id, "SSO-111111111111-2",
        "fresh after the new unlock"
    );
}

#[tokio::test]
async fn chains_assume_each_hop_and_cache_every_profile() {
    let w = World::new().await;
    w.store_token(8 * 60 * MIN, true);
    w.unlock(None).await;
    let dev = World::profile("dev", "111111111111");
    let prod = World::hop(World::hop(dev.clone(), "deploy"), "prod");
    let c = w.creds.get(caller(), &prod).await.unwrap();
    assert!(
        c.access_key_id
            .starts_with("STS-arn:aws:iam::222222222222:role/prod")
    );
    w.creds.get(caller(), &prod).await.unwrap();
    w.creds.get(caller(), &dev).await.unwrap();
    assert_eq!(w.aws.role_calls(), 1);
    assert_eq!(
        w.aws.assume_calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one per hop"
    );
    assert!(w.creds.cached_expiry(&prod.parent().unwrap()).is_some());
}

#[tokio::test]
async fn short_lived_credentials_are_still_served_to_one_herd() {
    let w = Arc::new(World::new().await);
    w.store_token(8 * 60 * MIN, true);
    w.unlock(None).await;
    *w.aws.creds_life.lock().unwrap() = 5 * MIN;
    let dev = World::profile("dev", "111111111111");
    // Less than the refresh window: every request fetches (they are never cached as fresh)...
    w.creds.get(caller(), &dev).await.unwrap();
    w.creds.get(caller(), &dev).await.unwrap();
    assert_eq!(w.aws.role_calls(), 2);
    // ... but the callers queued behind one fetch share it.
    let gate = Arc::new(Semaphore::new(0));
    *w.aws.gate.lock().unwrap() = Some(gate.clone());
    let mut herd = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let w = w.clone();
        herd.spawn(async move {
            let dev = World::profile("dev", "111111111111");
            w.creds.get(caller(), &dev).await.map(|_| ())
        });
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(100);
    while let Some(r) = herd.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(w.aws.role_calls(), 3, "one fetch for the whole herd");
}

#[tokio::test]
async fn requests_publish_issued_and_locked_hits() {
    let w = World::new().await;
    let mut events = w.events.subscribe();
    let dev = World::profile("dev", "111111111111");
    let e = w.creds.get(caller(), &dev).await.unwrap_err().to_string();
    assert!(e.contains("ssoagentctl unlock work"), "{e}");
    let hit = Event::LockedHit {
        caller: caller(),
        profile: "dev".into(),
        session: "work".into(),
        who: None,
    };
    assert_eq!(events.try_recv().map(|e| (*e).clone()).unwrap(), hit);
    w.store_token(8 * 60 * MIN, true);
    w.unlock(Some(Duration::from_secs(600))).await;
    let c = w.creds.get(caller(), &dev).await.unwrap();
    assert!(matches!(
        events.try_recv().map(|e| (*e).clone()),
        Ok(Event::Unlocked { .. })
    ));
    let issued = Event::Issued {
        caller: caller(),
        profile: "dev".into(),
        session: "work".into(),
        who: None,
        access_key_id: c.access_key_id.clone(),
        expiration: c.expires_at,
        rule: None,
    };
    assert_eq!(events.try_recv().map(|e| (*e).clone()).unwrap(), issued);
}

#[tokio::test]
async fn max_lifetime_caps_the_expiration_handed_out_and_published() {
    let w = World::new().await;
    w.store_token(8 * 60 * MIN, true);
    w.unlock(Some(Duration::from_secs(8 * 3600))).await;
    let dev = World::profile("dev", "111111111111");
    let full = w.creds.get(caller(), &dev).await.unwrap();
    assert!(full.expires_at > crate::clock::Clock::now(&*w.clock) + 30 * MIN);
    let mut events = w.events.subscribe();
    let req = super::Request {
        max_lifetime: Some(15 * MIN),
        ..caller().into()
    };
    let capped = w.creds.get(req, &dev).await.unwrap();
    assert_eq!(
        capped.expires_at,
        crate::clock::Clock::now(&*w.clock) + 15 * MIN
    );
    assert_eq!(capped.access_key_id, full.access_key_id, "the same keys");
    assert!(
        matches!(events.try_recv().map(|e| (*e).clone()), Ok(Event::Issued { expiration, .. }) if expiration == capped.expires_at)
    );
}

#[tokio::test]
async fn a_window_that_ends_during_a_fetch_issues_nothing() {
    let w = Arc::new(World::new().await);
    w.store_token(8 * 60 * MIN, true);
    w.unlock(Some(30 * MIN)).await;
    let gate = Arc::new(Semaphore::new(0));
    *w.aws.gate.lock().unwrap() = Some(gate.clone());
    let fetch = {
        let w = w.clone();
        tokio::spawn(async move {
            let dev = World::profile("dev", "111111111111");
            w.creds.get(caller(), &dev).await.map(|_| ())
        })
    };
    while w.aws.role_calls() == 0 {
        tokio::task::yield_now().await;
    }
    // The deadline passes while GetRoleCredentials is in flight; housekeeping has not run.
    w.clock.advance(31 * MIN);
    gate.add_permits(10);
    let r = fetch.await.unwrap();
    assert!(
        matches!(&r, Err(Error::NeedsUnlock(m)) if m.contains("is locked")),
        "{r:?}"
    );
    let mut events = w.events.subscribe();
    let dev = World::profile("dev", "111111111111");
    let r = w.creds.get(caller(), &dev).await;
    assert!(
        matches!(r, Err(Error::NeedsUnlock(_))),
        "nothing cached is served either"
    );
    assert!(
        matches!(
            events.try_recv().map(|e| (*e).clone()),
            Ok(Event::LockedHit { .. })
        ),
        "a locked hit, never an issue"
    );
}

#[tokio::test]
async fn an_mfa_hop_is_assumed_only_with_a_code_and_served_for_its_life() {
    let w = World::new().await;
    w.store_token(8 * 60 * MIN, true);
    w.unlock(None).await;
    let mut deploy = World::hop(World::profile("dev", "111111111111"), "deploy");
    deploy.hops[0].mfa_serial = Some("arn:aws:iam::1:mfa/me".into());
    let prod = World::hop(deploy.clone(), "prod");
    let calls = || w.aws.assume_calls.load(std::sync::atomic::Ordering::SeqCst);
    let mut hits = w.events.subscribe();
    for chain in [&deploy, &prod] {
        let r = w.creds.get(caller(), chain).await;
        assert!(
            matches!(&r, Err(Error::NeedsUnlock(m)) if m.contains("profile 'deploy' needs an MFA code; a human must run: ssoagentctl unlock --profile deploy")),
            "{r:?}"
        );
    }
    assert_eq!(calls(), 0, "never assumed without a code");
    assert!(
        hits.try_recv().is_err(),
        "an unlocked session is not a locked hit"
    );
    let t = w.creds.mfa_target(&prod).unwrap();
    assert_eq!((t.profile.as_str(), t.expires_at), ("deploy", None));
    let bad = w.creds.unlock_mfa(caller(), &prod, "12345").await;
    assert!(matches!(bad, Err(Error::Config(_))), "{bad:?}");
    let mut events = w.events.subscribe();
    let (t, c) = w.creds.unlock_mfa(caller(), &prod, "123456").await.unwrap();
    assert!(c.access_key_id.starts_with("STS-MFA-"), "{c:?}");
    assert_eq!(t.expires_at, Some(c.expires_at));
    assert!(
        matches!(events.try_recv().map(|e| (*e).clone()), Ok(Event::Mfa { profile, error: None, .. }) if profile == "deploy")
    );
    // Served for its whole life, even inside the refresh window; then a human must act again.
    w.clock.advance(58 * MIN);
    assert_eq!(
        w.creds.get(caller(), &deploy).await.unwrap().access_key_id,
        c.access_key_id
    );
    w.creds.get(caller(), &prod).await.unwrap();
    assert_eq!(calls(), 2, "one MFA AssumeRole, one for prod");
    w.clock.advance(2 * MIN);
    assert!(matches!(
        w.creds.get(caller(), &deploy).await,
        Err(Error::NeedsUnlock(_))
    ));
    // A lock drops them.
    w.creds
        .unlock_mfa(caller(), &deploy, "654321")
        .await
        .unwrap();
    w.sessions.lock(caller(), &["work".into()]).await;
    w.creds.drop_session("work");
    w.unlock(None).await;
    assert!(
        matches!(w.creds.get(caller(), &deploy).await, Err(Error::NeedsUnlock(m)) if m.contains("MFA"))
    );
}
