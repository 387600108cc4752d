//! The emulator's mutable world: configuration, counters, faults, clients,
//! pending logins, tokens and issued AWS keys.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::util::{random_alnum, random_b64, random_b64url, random_upper};
use crate::{Account, Config, Fault, Op};

pub(crate) const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub(crate) const GRANT_AUTH_CODE: &str = "authorization_code";
pub(crate) const GRANT_REFRESH: &str = "refresh_token";

/// The user every login signs in as.
pub(crate) const USER: &str = "user@example.com";

/// A registered OIDC client.
pub(crate) struct Client {
    pub secret: String,
    /// `None` when registered without `grantTypes` (device code + refresh).
    pub grant_types: Option<Vec<String>>,
    pub redirect_uris: Vec<String>,
    #[allow(dead_code)]
    pub scopes: Vec<String>,
    #[allow(dead_code)]
    pub issuer_url: Option<String>,
    pub secret_expires_at: SystemTime,
}

impl Client {
    pub fn allows(&self, grant: &str) -> bool {
        match &self.grant_types {
            Some(g) => g.iter().any(|g| g == grant),
            // Registered without grantTypes: what the device flow needs.
            None => grant == GRANT_DEVICE_CODE || grant == GRANT_REFRESH,
        }
    }
}

pub(crate) struct DeviceAuth {
    pub client_id: String,
    pub user_code: String,
    pub expires_at: SystemTime,
    pub approved: bool,
    pub polls: u32,
    pub redeemed: bool,
}

/// A browser `/authorize` request waiting for approval.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct AuthorizeKey {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
}

pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: SystemTime,
}

pub(crate) struct AccessToken {
    /// The login (grant chain) this token belongs to.
    pub session: u64,
    pub expires_at: SystemTime,
    pub revoked: bool,
}

pub(crate) struct RefreshToken {
    pub client_id: String,
    pub session: u64,
    pub valid: bool,
}

/// Who an AWS access key id belongs to.
#[derive(Clone)]
pub(crate) struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    pub expires_at: SystemTime,
}

/// An issued AWS access key: whose it is and the session token that must
/// accompany it.
pub(crate) struct IssuedKey {
    pub identity: Identity,
    pub session_token: String,
    /// For the federation endpoint, which is handed the secret itself (federation.rs).
    pub secret_access_key: String,
}

pub(crate) struct IssuedTokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
}

pub(crate) struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires_at: SystemTime,
}

#[derive(Default)]
pub(crate) struct State {
    pub config: Config,
    pub calls: HashMap<Op, u64>,
    pub faults: HashMap<Op, VecDeque<Fault>>,
    pub clients: HashMap<String, Client>,
    pub devices: HashMap<String, DeviceAuth>,
    pub pending_authorize: HashMap<AuthorizeKey, bool>,
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub keys: HashMap<String, IssuedKey>,
    /// The last TOTP step accepted per MFA serial (codes are spent once used).
    pub mfa_used: HashMap<String, u64>,
    /// Console sign-ins of the federation endpoint (federation.rs).
    pub signins: Vec<crate::federation::Signin>,
    next_session: u64,
}

impl State {
    pub fn new(config: Config) -> State {
        State {
            config,
            ..State::default()
        }
    }

    /// Counts a call of `op` and takes the next fault injected for it.
    pub fn begin(&mut self, op: Op) -> Option<Fault> {
        *self.calls.entry(op).or_insert(0) += 1;
        let queue = self.faults.get_mut(&op)?;
        let fault = queue.pop_front();
        if queue.is_empty() {
            self.faults.remove(&op);
        }
        fault
    }

    pub fn inject(&mut self, op: Op, fault: Fault, count: u32) {
        let queue = self.faults.entry(op).or_default();
        queue.extend(std::iter::repeat_n(fault, count as usize));
        if queue.is_empty() {
            self.faults.remove(&op);
        }
    }

    pub fn account(&self, id: &str) -> Option<&Account> {
        self.config.accounts.iter().find(|a| a.id == id)
    }

    pub fn register_client(
        &mut self,
        grant_types: Option<Vec<String>>,
        redirect_uris: Vec<String>,
        scopes: Vec<String>,
        issuer_url: Option<String>,
        now: SystemTime,
    ) -> (String, &Client) {
        let id = random_alnum(22);
        let client = Client {
            secret: format!("eyJ{}", random_b64url(96)),
            grant_types,
            redirect_uris,
            scopes,
            issuer_url,
            secret_expires_at: now + self.config.registration_ttl,
        };
        self.clients.insert(id.clone(), client);
        let client = &self.clients[&id];
        (id, client)
    }

    pub fn start_device(&mut self, client_id: &str, now: SystemTime) -> (String, String) {
        let device_code = random_b64url(48);
        let user_code = crate::util::user_code();
        self.devices.insert(
            device_code.clone(),
            DeviceAuth {
                client_id: client_id.to_string(),
                user_code: user_code.clone(),
                expires_at: now + self.config.device_code_ttl,
                approved: false,
                polls: 0,
                redeemed: false,
            },
        );
        (device_code, user_code)
    }

    pub fn new_session(&mut self) -> u64 {
        self.next_session += 1;
        self.next_session
    }

    /// Issues an access token (and a refresh token when the client and the
    /// configuration allow) for the login `session`.
    pub fn issue_tokens(&mut self, client_id: &str, session: u64, now: SystemTime) -> IssuedTokens {
        let ttl = self.config.access_token_ttl;
        let access_token = format!("aoa{}", random_alnum(120));
        self.access_tokens.insert(
            access_token.clone(),
            AccessToken {
                session,
                expires_at: now + ttl,
                revoked: false,
            },
        );
        let wants_refresh = self.config.issue_refresh_tokens
            && self
                .clients
                .get(client_id)
                .is_some_and(|c| c.allows(GRANT_REFRESH));
        let refresh_token = wants_refresh.then(|| {
            let rt = format!("aor{}", random_alnum(120));
            self.refresh_tokens.insert(
                rt.clone(),
                RefreshToken {
                    client_id: client_id.to_string(),
                    session,
                    valid: true,
                },
            );
            rt
        });
        IssuedTokens {
            access_token,
            expires_in: crate::util::secs_ceil(ttl),
            refresh_token,
        }
    }

    /// The valid access token `token`, if any.
    pub fn valid_access_token(&self, token: &str, now: SystemTime) -> Option<&AccessToken> {
        self.access_tokens
            .get(token)
            .filter(|t| !t.revoked && t.expires_at > now)
    }

    /// Ends the login `session`: its access and refresh tokens stop working.
    pub fn logout_session(&mut self, session: u64) {
        for t in self.access_tokens.values_mut() {
            if t.session == session {
                t.revoked = true;
            }
        }
        for t in self.refresh_tokens.values_mut() {
            if t.session == session {
                t.valid = false;
            }
        }
    }

    pub fn approve_pending(&mut self) -> usize {
        let now = SystemTime::now();
        let mut n = 0;
        for d in self.devices.values_mut() {
            if !d.approved && !d.redeemed && d.expires_at > now {
                d.approved = true;
                n += 1;
            }
        }
        for approved in self.pending_authorize.values_mut() {
            if !*approved {
                *approved = true;
                n += 1;
            }
        }
        n
    }

    pub fn pending_approvals(&self) -> usize {
        let now = SystemTime::now();
        self.devices
            .values()
            .filter(|d| !d.approved && !d.redeemed && d.expires_at > now)
            .count()
            + self.pending_authorize.values().filter(|a| !**a).count()
    }

    pub fn expire_access_tokens(&mut self) -> usize {
        let now = SystemTime::now();
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        let mut n = 0;
        for t in self.access_tokens.values_mut() {
            if t.expires_at > past {
                t.expires_at = past;
                n += 1;
            }
        }
        n
    }

    pub fn revoke_refresh_tokens(&mut self) -> usize {
        let mut n = 0;
        for t in self.refresh_tokens.values_mut() {
            if t.valid {
                t.valid = false;
                n += 1;
            }
        }
        n
    }

    pub fn active_access_tokens(&self) -> usize {
        let now = SystemTime::now();
        self.access_tokens
            .values()
            .filter(|t| !t.revoked && t.expires_at > now)
            .count()
    }

    /// Issues temporary AWS keys for `identity` (valid until its `expires_at`).
    pub fn issue_keys(&mut self, identity: Identity) -> AwsKeys {
        let access_key_id = format!("ASIA{}", random_upper(16));
        let keys = AwsKeys {
            access_key_id: access_key_id.clone(),
            secret_access_key: random_b64(30),
            session_token: random_b64(180),
            expires_at: identity.expires_at,
        };
        self.keys.insert(
            access_key_id,
            IssuedKey {
                identity,
                session_token: keys.session_token.clone(),
                secret_access_key: keys.secret_access_key.clone(),
            },
        );
        keys
    }
}

/// The identity of role credentials from GetRoleCredentials, as
/// GetCallerIdentity reports it.
pub(crate) fn sso_identity(account: &str, role: &str, expires_at: SystemTime) -> Identity {
    let role_id = role_id(&format!("{account}/{role}"));
    Identity {
        account: account.to_string(),
        arn: format!(
            "arn:aws:sts::{account}:assumed-role/AWSReservedSSO_{role}_0123456789abcdef/{USER}"
        ),
        user_id: format!("{role_id}:{USER}"),
        expires_at,
    }
}

/// A stable `AROA…` role id for a role.
pub(crate) fn role_id(role: &str) -> String {
    let digest = Sha256::digest(role.as_bytes());
    let mut id = String::from("AROA");
    id.push_str(&hex::encode_upper(digest)[..17]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_queue_in_order() {
        let mut st = State::new(Config::default());
        st.inject(Op::CreateToken, Fault::ServerError, 1);
        st.inject(Op::CreateToken, Fault::Throttle, 2);
        assert_eq!(st.begin(Op::CreateToken), Some(Fault::ServerError));
        assert_eq!(st.begin(Op::CreateToken), Some(Fault::Throttle));
        assert_eq!(st.begin(Op::CreateToken), Some(Fault::Throttle));
        assert_eq!(st.begin(Op::CreateToken), None);
        assert_eq!(st.begin(Op::Logout), None);
        assert_eq!(st.calls[&Op::CreateToken], 4);
        assert_eq!(st.calls[&Op::Logout], 1);
    }

    #[test]
    fn role_id_is_stable() {
        assert_eq!(role_id("a"), role_id("a"));
        assert_ne!(role_id("a"), role_id("b"));
        assert_eq!(role_id("a").len(), 21);
    }

    #[test]
    fn logout_ends_whole_session() {
        let mut st = State::new(Config::default());
        let now = SystemTime::now();
        let (cid, _) = st.register_client(None, vec![], vec![], None, now);
        let s1 = st.new_session();
        let s2 = st.new_session();
        let a = st.issue_tokens(&cid, s1, now);
        let b = st.issue_tokens(&cid, s1, now);
        let c = st.issue_tokens(&cid, s2, now);
        assert_eq!(st.active_access_tokens(), 3);
        st.logout_session(s1);
        assert_eq!(st.active_access_tokens(), 1);
        assert!(st.valid_access_token(&a.access_token, now).is_none());
        assert!(st.valid_access_token(&b.access_token, now).is_none());
        assert!(st.valid_access_token(&c.access_token, now).is_some());
        let rt = a.refresh_token.unwrap();
        assert!(!st.refresh_tokens[&rt].valid);
    }
}
