//! Times the keyring store against the Secret Service in DBUS_SESSION_BUS_ADDRESS (start a
//! private one with tests/secret-service.sh): open (probe), save and load of a session of
//! realistic size (split into chunks), and delete. Prints medians over 50 rounds.
//!
//!   eval "$(tests/secret-service.sh "$(mktemp -d)")"; export DBUS_SESSION_BUS_ADDRESS
//!   cargo run --release -p ssoagentd --example keyring_bench

use std::time::{Duration, Instant};

use ssoagentd::{
    clock::{Clock, SystemClock},
    store::{KeyringStore, RegisteredFlow, Registration, StoredSession, Token, TokenStore},
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let t = Instant::now();
    let store = KeyringStore::open().expect("a Secret Service (see the header of this file)");
    let open = t.elapsed();
    // Real SSO tokens and client secrets are ~1–2 KB each: about 4 KB of JSON, 3 chunks.
    let s = StoredSession {
        session: "bench".into(),
        start_url: "https://d-1234567890.awsapps.com/start".into(),
        region: "us-east-1".into(),
        token: Some(Token {
            access_token: "a".repeat(1200).as_str().into(),
            expires_at: SystemClock.now(),
            refresh_token: Some("r".repeat(1200).as_str().into()),
        }),
        registration: Some(Registration {
            client_id: "c".repeat(60),
            client_secret: "s".repeat(1500).as_str().into(),
            expires_at: SystemClock.now(),
            flow: RegisteredFlow::Pkce,
            scopes: vec!["sso:account:access".into()],
        }),
    };
    let (mut saves, mut loads) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let t = Instant::now();
        store.save(&s).unwrap();
        saves.push(t.elapsed());
        let t = Instant::now();
        assert!(store.load("bench").unwrap().is_some());
        loads.push(t.elapsed());
    }
    let t = Instant::now();
    store.delete("bench").unwrap();
    let delete = t.elapsed();
    let json = serde_json::to_string(&s).unwrap().len();
    println!("keyring store against the Secret Service ({json} bytes of JSON per session):");
    println!("  open (with a write probe): {open:?}");
    println!("  save, median of 50:        {:?}", median(saves));
    println!("  load, median of 50:        {:?}", median(loads));
    println!("  delete:                    {delete:?}");
}
