//! The IdP's knobs and counters: the Rust API on [`Emulator`] and the control API under
//! `/_emulator/idp/`:
//!
//! * `GET  /_emulator/idp/calls` → `{"Discovery": n, "Token:refresh_token": n,
//!   "AssumeRoleWithWebIdentity": n, "GetId": n, ...}` (only what was called)
//! * `POST /_emulator/idp/reset-calls`
//! * `POST /_emulator/idp/revoke-refresh-tokens`
//! * `POST /_emulator/idp/config?id_token_ttl=10m&issue_refresh_tokens=false&es256=true&...`
//!   (every [`IdpConfig`] field)

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::Emulator;
use crate::idp::{IdpConfig, issuer};
use crate::server::AppState;
use crate::util::{json_response, parse_form};

impl Emulator {
    /// The emulated IdP's issuer URL (`{url}/idp`).
    pub fn issuer(&self) -> String {
        issuer(&self.shared.base_url)
    }

    /// How often the IdP (or STS web identity, Cognito) saw `what`: `Discovery`, `Jwks`,
    /// `Authorize`, `DeviceAuthorization`, `Token:<grant_type>`, `AssumeRoleWithWebIdentity`,
    /// `GetId`, `GetCredentialsForIdentity`.
    pub fn idp_calls(&self, what: &str) -> u64 {
        self.shared.idp.lock().calls.get(what).copied().unwrap_or(0)
    }

    /// Changes the IdP's knobs.
    pub fn idp_config(&self, f: impl FnOnce(&mut IdpConfig)) {
        f(&mut self.shared.idp.lock().config);
    }

    /// The id_tokens issued so far (newest last).
    pub fn idp_issued(&self) -> Vec<String> {
        self.shared.idp.lock().issued.clone()
    }

    /// A fresh id_token for `audience`, signed as the knobs say (for tests that call STS or
    /// Cognito themselves, e.g. with boto3).
    pub fn idp_mint(&self, audience: &str) -> String {
        crate::idp::mint(&self.shared, audience)
    }

    /// Every refresh token issued so far stops working.
    pub fn idp_revoke_refresh_tokens(&self) {
        self.shared.idp.lock().revoke_refresh();
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/calls", get(calls))
        .route("/reset-calls", post(reset_calls))
        .route("/revoke-refresh-tokens", post(revoke))
        .route("/config", post(config))
}

async fn calls(State(shared): State<AppState>) -> Response {
    let map: Map<String, Value> = shared
        .idp
        .lock()
        .calls
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json_response(StatusCode::OK, &Value::Object(map))
}

async fn reset_calls(State(shared): State<AppState>) -> Response {
    shared.idp.lock().calls.clear();
    json_response(StatusCode::OK, &json!({}))
}

async fn revoke(State(shared): State<AppState>) -> Response {
    shared.idp.lock().revoke_refresh();
    json_response(StatusCode::OK, &json!({}))
}

async fn config(State(shared): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let form = match parse_form(q.as_deref()) {
        Ok(f) => f,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
    };
    let mut st = shared.idp.lock();
    for (k, v) in &form {
        if let Err(e) = set(&mut st.config, k, v) {
            return json_response(StatusCode::BAD_REQUEST, &json!({"error": e}));
        }
    }
    json_response(StatusCode::OK, &json!({}))
}

fn set(c: &mut IdpConfig, k: &str, v: &str) -> Result<(), String> {
    let b = || {
        v.parse::<bool>()
            .map_err(|_| format!("{k}: not true/false: {v}"))
    };
    match k {
        "id_token_ttl" => {
            c.id_token_ttl = humantime::parse_duration(v).map_err(|e| format!("{k}: {e}"))?
        }
        "issue_refresh_tokens" => c.issue_refresh_tokens = b()?,
        "es256" => c.es256 = b()?,
        "unknown_key" => c.unknown_key = b()?,
        "bad_signature" => c.bad_signature = b()?,
        "wrong_audience" => c.wrong_audience = b()?,
        "wrong_issuer" => c.wrong_issuer = b()?,
        "wrong_nonce" => c.wrong_nonce = b()?,
        "expired" => c.expired = b()?,
        "no_device_flow" => c.no_device_flow = b()?,
        "device_slow_down" => c.device_slow_down = b()?,
        "sts_says_expired" => c.sts_says_expired = b()?,
        "device_interval" => c.device_interval = v.parse().map_err(|_| format!("{k}: {v}"))?,
        "device_approve_after_polls" => {
            c.device_approve_after_polls = v.parse().map_err(|_| format!("{k}: {v}"))?
        }
        _ => return Err(format!("unknown IdP knob {k}")),
    }
    Ok(())
}
