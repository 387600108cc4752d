//! A generic OpenID Connect identity provider (the shape of Okta, Entra ID, Auth0 or a
//! Cognito user pool), at `{emulator}/idp`: discovery, a JWKS with an RSA and an EC key, an
//! authorize endpoint that approves at once and redirects, a token endpoint (authorization
//! code + PKCE S256, refresh with rotation, device code) and device authorization (RFC 8628).
//! Knobs ([`IdpConfig`]) make it misbehave the ways real tokens can be wrong; counters count
//! each operation and grant type.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::idp_keys::{Keys, SigningKey};
use crate::server::AppState;
use crate::util::{epoch_secs, json_response, parse_form, random_b64url, user_code};

/// The path of the issuer under the emulator's URL.
pub const ISSUER_PATH: &str = "/idp";
/// Who logs in.
pub const SUBJECT: &str = "00u-emulated-user";
pub const EMAIL: &str = "dev.user@example.com";

/// How the IdP behaves; every field is a knob (also `POST /_emulator/idp/config?...`).
#[derive(Clone, Debug)]
pub struct IdpConfig {
    pub id_token_ttl: Duration,
    /// Issue refresh tokens (when `offline_access` was asked for).
    pub issue_refresh_tokens: bool,
    /// Sign with ES256 (the EC key) instead of RS256.
    pub es256: bool,
    /// Sign with a key that is not in the JWKS.
    pub unknown_key: bool,
    /// A signature that does not verify (right kid, other key).
    pub bad_signature: bool,
    pub wrong_audience: bool,
    pub wrong_issuer: bool,
    pub wrong_nonce: bool,
    /// Tokens that expired an hour ago.
    pub expired: bool,
    /// Leave `device_authorization_endpoint` out of discovery.
    pub no_device_flow: bool,
    pub device_interval: u64,
    /// Device logins are approved after this many polls.
    pub device_approve_after_polls: u32,
    /// Answer the first device poll with `slow_down`.
    pub device_slow_down: bool,
    /// STS and Cognito call every token expired (as after a refresh that failed).
    pub sts_says_expired: bool,
}

impl Default for IdpConfig {
    fn default() -> Self {
        IdpConfig {
            id_token_ttl: Duration::from_secs(3600),
            issue_refresh_tokens: true,
            es256: false,
            unknown_key: false,
            bad_signature: false,
            wrong_audience: false,
            wrong_issuer: false,
            wrong_nonce: false,
            expired: false,
            no_device_flow: false,
            device_interval: 1,
            device_approve_after_polls: 1,
            device_slow_down: false,
            sts_says_expired: false,
        }
    }
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    offline: bool,
}

struct Device {
    client_id: String,
    polls: u32,
    offline: bool,
    done: bool,
}

#[derive(Default)]
pub(crate) struct IdpState {
    pub config: IdpConfig,
    pub calls: HashMap<String, u64>,
    codes: HashMap<String, Code>,
    /// refresh token → client id (spent tokens are removed: rotation).
    refresh: HashMap<String, String>,
    devices: HashMap<String, Device>,
    /// id_tokens issued, to tell a test which is current.
    pub issued: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Idp {
    state: Mutex<IdpState>,
    keys: OnceLock<Keys>,
}

impl IdpState {
    pub fn revoke_refresh(&mut self) {
        self.refresh.clear();
    }
}

impl Idp {
    pub fn lock(&self) -> MutexGuard<'_, IdpState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn keys(&self) -> &Keys {
        self.keys.get_or_init(Keys::generate)
    }

    pub fn count(&self, what: &str) {
        *self.lock().calls.entry(what.to_string()).or_default() += 1;
    }
}

pub(crate) fn issuer(base_url: &str) -> String {
    format!("{base_url}{ISSUER_PATH}")
}

fn oauth_error(code: &str, description: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": code, "error_description": description}),
    )
}

pub(crate) async fn discovery(State(shared): State<AppState>) -> Response {
    shared.idp.count("Discovery");
    let iss = issuer(&shared.base_url);
    let mut doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/keys"),
        "device_authorization_endpoint": format!("{iss}/device_authorization"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
    });
    if shared.idp.lock().config.no_device_flow {
        doc.as_object_mut()
            .unwrap()
            .remove("device_authorization_endpoint");
    }
    json_response(StatusCode::OK, &doc)
}

pub(crate) async fn jwks(State(shared): State<AppState>) -> Response {
    shared.idp.count("Jwks");
    json_response(StatusCode::OK, &shared.idp.keys().jwks())
}

/// `GET /idp/authorize`: approves at once and redirects with `code` and `state`.
pub(crate) async fn authorize(State(shared): State<AppState>, RawQuery(q): RawQuery) -> Response {
    shared.idp.count("Authorize");
    let Ok(q) = parse_form(q.as_deref()) else {
        return oauth_error("invalid_request", "bad query");
    };
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let redirect_uri = get("redirect_uri");
    if get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || !redirect_uri.starts_with("http://127.0.0.1:")
            && !redirect_uri.starts_with("http://localhost:")
            && !redirect_uri.starts_with("http://[::1]:")
    {
        return oauth_error(
            "invalid_request",
            "response_type=code, S256 PKCE and a loopback redirect_uri are required",
        );
    }
    let code = random_b64url(24);
    let scopes = get("scope");
    shared.idp.lock().codes.insert(
        code.clone(),
        Code {
            client_id: get("client_id"),
            redirect_uri: redirect_uri.clone(),
            challenge: get("code_challenge"),
            nonce: q.get("nonce").cloned(),
            offline: scopes.split(' ').any(|s| s == "offline_access"),
        },
    );
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let state: String = form_pct(&get("state"));
    let location = format!("{redirect_uri}{sep}code={code}&state={state}");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn form_pct(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap_or_default()[2..].to_string()
}

/// `POST /idp/device_authorization`.
pub(crate) async fn device_authorization(State(shared): State<AppState>, body: Bytes) -> Response {
    shared.idp.count("DeviceAuthorization");
    let form = parse_form(std::str::from_utf8(&body).ok()).unwrap_or_default();
    let device_code = random_b64url(32);
    let code = user_code();
    let mut st = shared.idp.lock();
    st.devices.insert(
        device_code.clone(),
        Device {
            client_id: form.get("client_id").cloned().unwrap_or_default(),
            polls: 0,
            offline: form
                .get("scope")
                .is_some_and(|s| s.split(' ').any(|s| s == "offline_access")),
            done: false,
        },
    );
    let iss = issuer(&shared.base_url);
    json_response(
        StatusCode::OK,
        &json!({
            "device_code": device_code,
            "user_code": code,
            "verification_uri": format!("{iss}/activate"),
            "verification_uri_complete": format!("{iss}/activate?user_code={code}"),
            "expires_in": 600,
            "interval": st.config.device_interval,
        }),
    )
}

/// `POST /idp/token`: authorization code (+ PKCE), refresh token (rotated), device code.
pub(crate) async fn token(State(shared): State<AppState>, body: Bytes) -> Response {
    let form = parse_form(std::str::from_utf8(&body).ok()).unwrap_or_default();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let grant = get("grant_type");
    shared.idp.count(&format!("Token:{grant}"));
    let granted = match grant.as_str() {
        "authorization_code" => redeem_code(&shared, &form),
        "refresh_token" => redeem_refresh(&shared, &get("refresh_token"), &get("client_id")),
        "urn:ietf:params:oauth:grant-type:device_code" => poll_device(&shared, &get("device_code")),
        _ => Err(oauth_error("unsupported_grant_type", "unknown grant_type")),
    };
    match granted {
        Ok((client_id, nonce, offline)) => issue(&shared, &client_id, nonce.as_deref(), offline),
        Err(resp) => resp,
    }
}

type Grant = Result<(String, Option<String>, bool), Response>;

fn redeem_code(shared: &AppState, form: &HashMap<String, String>) -> Grant {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let Some(c) = shared.idp.lock().codes.remove(&get("code")) else {
        return Err(oauth_error("invalid_grant", "unknown or spent code"));
    };
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(get("code_verifier").as_bytes()));
    if c.client_id != get("client_id") || c.redirect_uri != get("redirect_uri") {
        return Err(oauth_error(
            "invalid_grant",
            "client_id or redirect_uri mismatch",
        ));
    }
    if challenge != c.challenge {
        return Err(oauth_error("invalid_grant", "PKCE verification failed"));
    }
    Ok((c.client_id, c.nonce, c.offline))
}

fn redeem_refresh(shared: &AppState, rt: &str, client_id: &str) -> Grant {
    let mut st = shared.idp.lock();
    match st.refresh.remove(rt) {
        Some(c) if c == client_id => Ok((c, None, true)),
        _ => Err(oauth_error(
            "invalid_grant",
            "the refresh token is invalid or spent",
        )),
    }
}

fn poll_device(shared: &AppState, device_code: &str) -> Grant {
    let mut st = shared.idp.lock();
    let (slow, after) = (
        st.config.device_slow_down,
        st.config.device_approve_after_polls,
    );
    let Some(d) = st.devices.get_mut(device_code) else {
        return Err(oauth_error("invalid_grant", "unknown device code"));
    };
    d.polls += 1;
    if d.done {
        return Err(oauth_error("invalid_grant", "device code already redeemed"));
    }
    if slow && d.polls == 1 {
        return Err(oauth_error("slow_down", "poll less often"));
    }
    if d.polls < after + u32::from(slow) {
        return Err(oauth_error("authorization_pending", "not yet approved"));
    }
    d.done = true;
    Ok((d.client_id.clone(), None, d.offline))
}

/// A signed id_token for `client_id`, as the knobs say.
pub(crate) fn mint(shared: &AppState, client_id: &str) -> String {
    let cfg = shared.idp.lock().config.clone();
    id_token(shared, &cfg, client_id, None)
}

/// Signs an id_token (as the knobs say) and answers the token response.
fn issue(shared: &AppState, client_id: &str, nonce: Option<&str>, offline: bool) -> Response {
    let cfg = shared.idp.lock().config.clone();
    let id_token = id_token(shared, &cfg, client_id, nonce);
    let ttl = cfg.id_token_ttl.as_secs();
    let mut st = shared.idp.lock();
    st.issued.push(id_token.clone());
    let mut body = json!({
        "token_type": "Bearer", "expires_in": ttl, "scope": "openid email",
        "access_token": random_b64url(32), "id_token": id_token,
    });
    if offline && cfg.issue_refresh_tokens {
        let rt = random_b64url(32);
        st.refresh.insert(rt.clone(), client_id.to_string());
        body["refresh_token"] = Value::from(rt);
    }
    json_response(StatusCode::OK, &body)
}

fn id_token(shared: &AppState, cfg: &IdpConfig, client_id: &str, nonce: Option<&str>) -> String {
    let keys = shared.idp.keys();
    let now = epoch_secs(SystemTime::now());
    let ttl = cfg.id_token_ttl.as_secs();
    let exp = if cfg.expired { now - 3600 } else { now + ttl };
    let iss = match cfg.wrong_issuer {
        true => "https://evil.example.com".to_string(),
        false => issuer(&shared.base_url),
    };
    let aud = if cfg.wrong_audience {
        "someone-else"
    } else {
        client_id
    };
    let mut claims = json!({
        "iss": iss, "sub": SUBJECT, "aud": aud, "email": EMAIL, "email_verified": true,
        "iat": if cfg.expired { now - 7200 } else { now }, "exp": exp, "auth_time": now,
        "https://aws.amazon.com/tags": {"principal_tags": {"team": ["platform"]}},
    });
    if let Some(n) = nonce {
        claims["nonce"] = Value::from(if cfg.wrong_nonce { "not-your-nonce" } else { n });
    }
    let key = match (cfg.unknown_key, cfg.bad_signature, cfg.es256) {
        (true, _, _) => SigningKey::Rogue,
        (_, true, _) => SigningKey::Mislabelled,
        (_, _, true) => SigningKey::Ec,
        _ => SigningKey::Rsa,
    };
    keys.sign(key, &claims)
}

/// Verifies a token the IdP issued: signature (published keys), issuer and expiry. What STS
/// AssumeRoleWithWebIdentity and Cognito check before they trust it.
pub(crate) fn check_token(shared: &AppState, token: &str) -> Result<Value, (&'static str, String)> {
    let claims = shared
        .idp
        .keys()
        .verify(token)
        .map_err(|e| ("InvalidIdentityToken", e))?;
    if claims["iss"].as_str() != Some(&issuer(&shared.base_url)) {
        return Err((
            "InvalidIdentityToken",
            "the token's issuer is not a known provider".into(),
        ));
    }
    if claims["exp"].as_u64().unwrap_or(0) <= epoch_secs(SystemTime::now()) {
        return Err(("ExpiredTokenException", "Token expired".into()));
    }
    Ok(claims)
}
