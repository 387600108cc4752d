//! Role hops with `mfa_serial`: assumed only with a code a human typed (`ssoagentctl unlock
//! --profile P`, [`Creds::unlock_mfa`]), then served from the cache for their whole life. The
//! daemon never assumes such a hop on its own: when its credentials are gone (expired, or
//! dropped by `lock`, which starts a new generation), requests get exit 3 naming the command.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use tracing::info;

use super::{Creds, MIN_LIFE_WHEN_AWS_FAILS};
use crate::{
    aws::RoleCredentials,
    caller::Caller,
    error::{Error, Result},
    events::Event,
    profiles::Chain,
    session::Session,
};

/// The role hop an MFA code is for, and where it stands.
#[derive(Clone, Debug)]
pub struct MfaTarget {
    /// The profile that defines the hop (`mfa_serial`, `role_arn`).
    pub profile: String,
    pub mfa_serial: String,
    /// The session at the root of the chain, and whether it is issuing now.
    pub session: String,
    pub session_unlocked: bool,
    /// When the hop's MFA-backed credentials expire, if any are cached.
    pub expires_at: Option<SystemTime>,
}

/// What a robot hears when a hop's MFA-backed credentials are gone.
pub(super) fn needs_code(profile: &str) -> Error {
    let arg = if profile
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.@+=".contains(c))
    {
        profile.to_string()
    } else {
        format!("'{profile}'")
    };
    Error::NeedsUnlock(format!(
        "profile '{profile}' needs an MFA code; a human must run: ssoagentctl unlock --profile {arg}"
    ))
}

fn no_mfa(chain: &Chain) -> Error {
    Error::config(format!(
        "profile '{}' has no role hop with mfa_serial; it needs no MFA code",
        chain.name()
    ))
}

/// STS takes a TokenCode of six digits.
fn check_code(code: &str) -> Result<()> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::config(
            "an MFA code is the 6 digits the device shows",
        ))
    }
}

impl Creds {
    /// The MFA-backed credentials cached for `chain` (whose last hop has `mfa_serial`) with at
    /// least `min_life` left.
    pub(super) fn mfa_cached(
        &self,
        chain: &Chain,
        session: &Session,
        min_life: Duration,
    ) -> Option<Arc<RoleCredentials>> {
        self.cache
            .peek(chain.name(), &Self::stamp(chain, session), min_life)
    }

    /// Which hop a code goes to: the first MFA hop without credentials, else the last one.
    fn mfa_hop(&self, chain: &Chain, session: &Session) -> Option<usize> {
        let mfa: Vec<usize> = (0..chain.hops.len())
            .filter(|&i| chain.hops[i].mfa_serial.is_some())
            .collect();
        let missing = mfa.iter().copied().find(|&i| {
            self.mfa_cached(&chain.prefix(i), session, MIN_LIFE_WHEN_AWS_FAILS)
                .is_none()
        });
        missing.or(mfa.last().copied())
    }

    /// What an MFA unlock of `chain` would do; a config error when it has no MFA hop.
    pub fn mfa_target(&self, chain: &Chain) -> Result<MfaTarget> {
        let session = self.sessions.get(&chain.session().key);
        let i = self.mfa_hop(chain, &session).ok_or_else(|| no_mfa(chain))?;
        let hop = &chain.hops[i];
        Ok(MfaTarget {
            profile: hop.profile.clone(),
            mfa_serial: hop.mfa_serial.clone().unwrap_or_default(),
            session: session.key.clone(),
            session_unlocked: self.sessions.check_issuable(&session).is_ok(),
            expires_at: self
                .mfa_cached(&chain.prefix(i), &session, MIN_LIFE_WHEN_AWS_FAILS)
                .map(|c| c.expires_at),
        })
    }

    /// Assumes the MFA hop of `chain` ([`MfaTarget`]) with a code a human typed and caches
    /// the credentials for their life. The session must be unlocked (the hop's source
    /// credentials come from it). Published as [`Event::Mfa`], also when it fails.
    pub async fn unlock_mfa(
        &self,
        caller: Caller,
        chain: &Chain,
        code: &str,
    ) -> Result<(MfaTarget, Arc<RoleCredentials>)> {
        check_code(code)?;
        let target = self.mfa_target(chain)?;
        let r = self.assume_mfa(chain, &target, code).await;
        self.events.publish(Event::Mfa {
            caller,
            profile: target.profile.clone(),
            session: target.session.clone(),
            mfa_serial: target.mfa_serial.clone(),
            error: r.as_ref().err().map(ToString::to_string),
        });
        let creds = r?;
        info!(profile = %target.profile, mfa_serial = %target.mfa_serial, "assumed role with an MFA code");
        let target = MfaTarget {
            expires_at: Some(creds.expires_at),
            session_unlocked: true,
            ..target
        };
        Ok((target, creds))
    }

    async fn assume_mfa(
        &self,
        chain: &Chain,
        target: &MfaTarget,
        code: &str,
    ) -> Result<Arc<RoleCredentials>> {
        let session = self.sessions.get(&target.session);
        self.sessions.check_issuable(&session)?;
        let i = chain
            .hops
            .iter()
            .position(|h| h.profile == target.profile)
            .ok_or_else(|| no_mfa(chain))?;
        let sub = chain.prefix(i);
        let stamp = Self::stamp(&sub, &session);
        let parent = sub.parent().ok_or_else(|| no_mfa(chain))?;
        let source = self.of(&parent).await?;
        let hop = &sub.hops[i];
        let creds = self
            .cache
            .load_now(sub.name(), &stamp, || self.assume(hop, &source, Some(code)))
            .await?;
        // Locked (or the window ended) meanwhile: what was assumed is not served.
        if session.generation() != stamp.generation {
            self.sessions.check_issuable(&session)?;
            return Err(Error::locked(&session.key));
        }
        self.sessions.check_issuable(&session)?;
        Ok(creds)
    }
}
