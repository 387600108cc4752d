//! Grants of the container-credentials endpoint: a 256-bit random token bound to one profile
//! and one grant. Only the token's SHA-256 is kept; a presented token is hashed and compared
//! with every live grant's hash in constant time (no early exit on the first differing byte,
//! no map lookup keyed by the secret).

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, SystemTime},
};

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{caller::Caller, clock::SharedClock};

/// How many ended grants are remembered, to say "revoked" or "expired" rather than "wrong".
const REMEMBERED: usize = 1024;

/// What a live grant is (never its token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantInfo {
    pub id: String,
    pub profile: String,
    pub created_at: SystemTime,
    /// `None`: until the holding stream ends.
    pub expires_at: Option<SystemTime>,
    pub held: bool,
    pub creator: Caller,
    pub requests: u64,
    pub last_used_at: Option<SystemTime>,
}

struct Grant {
    info: GrantInfo,
    hash: [u8; 32],
}

/// Why a request's token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header (401).
    Missing,
    /// A token no grant ever had (403).
    Wrong,
    /// A grant that was revoked (or whose exec ended) (403).
    Revoked,
    /// A grant whose ttl passed (403).
    Expired,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::Missing => 401,
            _ => 403,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => "no authorization token; set AWS_CONTAINER_AUTHORIZATION_TOKEN",
            Refusal::Wrong => "invalid authorization token",
            Refusal::Revoked => "this grant was revoked or its ssoagentctl exec ended",
            Refusal::Expired => "this grant has expired; ask for a new one: ssoagentctl ecs grant",
        }
    }
}

#[derive(Default)]
struct Table {
    live: HashMap<String, Grant>,
    /// Hashes of ended grants and why they ended, oldest first.
    ended: VecDeque<([u8; 32], Refusal)>,
}

pub struct Grants {
    clock: SharedClock,
    table: Mutex<Table>,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal in time independent of where the first difference is.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn random_id() -> String {
    let mut b = [0u8; 4];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl Grants {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            table: Mutex::default(),
        }
    }

    /// A new grant and its token (the only time the token is seen).
    pub fn create(
        &self,
        profile: &str,
        ttl: Option<Duration>,
        held: bool,
        creator: Caller,
    ) -> (GrantInfo, String) {
        let token = random_token();
        let now = self.clock.now();
        let mut t = self.table.lock().unwrap();
        let mut id = random_id();
        while t.live.contains_key(&id) {
            id = random_id();
        }
        let info = GrantInfo {
            id: id.clone(),
            profile: profile.to_string(),
            created_at: now,
            expires_at: ttl.map(|d| now + d),
            held,
            creator,
            requests: 0,
            last_used_at: None,
        };
        let hash = hash(&token);
        t.live.insert(
            id,
            Grant {
                info: info.clone(),
                hash,
            },
        );
        (info, token)
    }

    /// The grant a request's `Authorization` value names, counted as used; or why not.
    pub fn check(&self, token: Option<&str>) -> Result<GrantInfo, Refusal> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(Refusal::Missing);
        };
        let presented = hash(token);
        let now = self.clock.now();
        let mut t = self.table.lock().unwrap();
        self.end_expired(&mut t, now);
        // Every live grant is compared (no early exit), so timing says nothing of which.
        let mut found: Option<String> = None;
        for (id, g) in &t.live {
            if ct_eq(&g.hash, &presented) {
                found = Some(id.clone());
            }
        }
        if let Some(id) = found {
            let g = t.live.get_mut(&id).expect("found above");
            g.info.requests += 1;
            g.info.last_used_at = Some(now);
            return Ok(g.info.clone());
        }
        let ended = t.ended.iter().fold(None, |acc, (h, why)| {
            acc.or(ct_eq(h, &presented).then_some(*why))
        });
        Err(ended.unwrap_or(Refusal::Wrong))
    }

    /// Moves grants whose ttl passed to the ended list.
    fn end_expired(&self, t: &mut Table, now: SystemTime) {
        let gone: Vec<String> = t
            .live
            .values()
            .filter(|g| g.info.expires_at.is_some_and(|e| e <= now))
            .map(|g| g.info.id.clone())
            .collect();
        for id in gone {
            Self::end(t, &id, Refusal::Expired);
        }
    }

    fn end(t: &mut Table, id: &str, why: Refusal) -> bool {
        let Some(g) = t.live.remove(id) else {
            return false;
        };
        t.ended.push_back((g.hash, why));
        while t.ended.len() > REMEMBERED {
            t.ended.pop_front();
        }
        true
    }

    /// Ends one grant; whether it was live.
    pub fn revoke(&self, id: &str) -> bool {
        Self::end(&mut self.table.lock().unwrap(), id, Refusal::Revoked)
    }

    /// Ends every live grant; their ids.
    pub fn revoke_all(&self) -> Vec<String> {
        let mut t = self.table.lock().unwrap();
        let ids: Vec<String> = t.live.keys().cloned().collect();
        for id in &ids {
            Self::end(&mut t, id, Refusal::Revoked);
        }
        ids
    }

    /// The live grants, oldest first.
    pub fn list(&self) -> Vec<GrantInfo> {
        let now = self.clock.now();
        let mut t = self.table.lock().unwrap();
        self.end_expired(&mut t, now);
        let mut v: Vec<GrantInfo> = t.live.values().map(|g| g.info.clone()).collect();
        v.sort_by_key(|g| (g.created_at, g.id.clone()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn grants() -> (Grants, std::sync::Arc<ManualClock>) {
        let clock = ManualClock::at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        (Grants::new(clock.clone()), clock)
    }

    const ME: Caller = Caller {
        uid: 1000,
        pid: Some(42),
    };

    #[test]
    fn a_token_opens_its_own_grant_only() {
        let (g, _) = grants();
        let (a, ta) = g.create("dev", None, true, ME);
        let (b, tb) = g.create("prod", None, true, ME);
        assert_eq!(ta.len(), 43, "256 bits, base64url");
        assert_ne!(ta, tb);
        assert_eq!(g.check(Some(&ta)).unwrap().id, a.id);
        assert_eq!(g.check(Some(&tb)).unwrap().profile, "prod");
        assert_eq!(g.check(Some(&tb)).unwrap().id, b.id);
        assert_eq!(g.check(None), Err(Refusal::Missing));
        assert_eq!(g.check(Some("")), Err(Refusal::Missing));
        assert_eq!(g.check(Some(&ta[..42])), Err(Refusal::Wrong));
        assert_eq!(g.list()[0].requests + g.list()[1].requests, 3);
    }

    #[test]
    fn revoked_and_expired_grants_are_refused() {
        let (g, clock) = grants();
        let (a, ta) = g.create("dev", None, true, ME);
        let (_, tb) = g.create("dev", Some(Duration::from_secs(60)), false, ME);
        assert!(g.revoke(&a.id));
        assert!(!g.revoke(&a.id));
        assert_eq!(g.check(Some(&ta)), Err(Refusal::Revoked));
        assert!(g.check(Some(&tb)).is_ok());
        clock.advance(Duration::from_secs(61));
        assert_eq!(g.check(Some(&tb)), Err(Refusal::Expired));
        assert!(g.list().is_empty());
    }

    #[test]
    fn constant_time_compare_is_a_compare() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(ct_eq(&a, &b));
        b[31] ^= 1;
        assert!(!ct_eq(&a, &b));
    }
}
