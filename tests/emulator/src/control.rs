//! The control API under `/_emulator/` (for the binary and non-Rust tests).

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::server::AppState;
use crate::util::{json_response, parse_form};
use crate::{Config, Fault, Op};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/calls", get(calls))
        .route("/reset-calls", post(reset_calls))
        .route("/approve", post(approve))
        .route("/expire-access-tokens", post(expire_access_tokens))
        .route("/revoke-refresh-tokens", post(revoke_refresh_tokens))
        .route("/fault", post(fault))
        .route("/clear-faults", post(clear_faults))
        .route("/config", post(config))
        .route("/state", get(state))
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

fn bad(message: impl Into<String>) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": message.into()}))
}

async fn calls(State(shared): State<AppState>) -> Response {
    let st = shared.lock();
    let map: Map<String, Value> = Op::ALL
        .iter()
        .map(|op| {
            (
                op.to_string(),
                json!(st.calls.get(op).copied().unwrap_or(0)),
            )
        })
        .collect();
    ok(Value::Object(map))
}

async fn reset_calls(State(shared): State<AppState>) -> Response {
    shared.lock().calls.clear();
    ok(json!({}))
}

async fn approve(State(shared): State<AppState>) -> Response {
    let n = shared.lock().approve_pending();
    ok(json!({"approved": n}))
}

async fn expire_access_tokens(State(shared): State<AppState>) -> Response {
    let n = shared.lock().expire_access_tokens();
    ok(json!({"expired": n}))
}

async fn revoke_refresh_tokens(State(shared): State<AppState>) -> Response {
    let n = shared.lock().revoke_refresh_tokens();
    ok(json!({"revoked": n}))
}

async fn state(State(shared): State<AppState>) -> Response {
    let st = shared.lock();
    ok(json!({
        "activeAccessTokens": st.active_access_tokens(),
        "pendingApprovals": st.pending_approvals(),
    }))
}

/// Parses a fault description as the control API and the binary take it:
/// kind `server_error` | `throttle` | `drop` | `delay` (with `delay_ms`).
pub(crate) fn parse_fault(kind: &str, delay_ms: Option<&str>) -> Result<Fault, String> {
    match kind {
        "server_error" | "server-error" | "500" => Ok(Fault::ServerError),
        "throttle" | "throttling" | "429" => Ok(Fault::Throttle),
        "drop" | "drop_connection" | "drop-connection" => Ok(Fault::DropConnection),
        "delay" => {
            let ms = delay_ms
                .ok_or("kind=delay needs delay_ms")?
                .parse::<u64>()
                .map_err(|e| format!("bad delay_ms: {e}"))?;
            Ok(Fault::Delay(Duration::from_millis(ms)))
        }
        other => Err(format!(
            "unknown fault kind {other:?} (server_error, throttle, drop, delay)"
        )),
    }
}

fn parse_query(raw: Option<String>) -> Result<HashMap<String, String>, Response> {
    parse_form(raw.as_deref()).map_err(|e| bad(format!("malformed query: {e}")))
}

async fn fault(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = match parse_query(raw) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    let op: Op = match q.get("op").map(|s| s.parse()) {
        Some(Ok(op)) => op,
        Some(Err(e)) => return bad(e.to_string()),
        None => return bad("missing op"),
    };
    let fault = match parse_fault(
        q.get("kind").map(String::as_str).unwrap_or(""),
        q.get("delay_ms").map(String::as_str),
    ) {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    let count = match q.get("count").map(|c| c.parse::<u32>()) {
        None => 1,
        Some(Ok(c)) => c,
        Some(Err(e)) => return bad(format!("bad count: {e}")),
    };
    shared.lock().inject(op, fault, count);
    ok(json!({"op": op.to_string(), "count": count}))
}

async fn clear_faults(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = match parse_query(raw) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    let mut st = shared.lock();
    match q.get("op").map(|s| s.parse::<Op>()) {
        None => st.faults.clear(),
        Some(Ok(op)) => {
            st.faults.remove(&op);
        }
        Some(Err(e)) => return bad(e.to_string()),
    }
    ok(json!({}))
}

fn parse_duration(v: &str) -> Result<Duration, String> {
    humantime::parse_duration(v).map_err(|e| format!("bad duration {v:?}: {e}"))
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("bad boolean {v:?}")),
    }
}

/// Applies `key=value` knob settings to `config` (all or nothing).
pub(crate) fn apply_settings(
    config: &mut Config,
    q: &HashMap<String, String>,
) -> Result<(), String> {
    let mut c = config.clone();
    for (k, v) in q {
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("bad {k}: {e}"));
        match k.as_str() {
            "access_token_ttl" => c.access_token_ttl = parse_duration(v)?,
            "role_credential_ttl" => c.role_credential_ttl = parse_duration(v)?,
            "registration_ttl" => c.registration_ttl = parse_duration(v)?,
            "device_code_ttl" => c.device_code_ttl = parse_duration(v)?,
            "device_poll_interval" => c.device_poll_interval = num(v)?,
            "issue_refresh_tokens" => c.issue_refresh_tokens = parse_bool(v)?,
            "auto_approve" => c.auto_approve = parse_bool(v)?,
            "approve_after_polls" => {
                c.approve_after_polls = u32::try_from(num(v)?).map_err(|e| e.to_string())?
            }
            "page_size" => {
                c.page_size = usize::try_from(num(v)?).map_err(|e| e.to_string())?.max(1)
            }
            "verification_uri_complete" => {
                c.verification_uri_complete = Some(v.clone()).filter(|v| !v.is_empty())
            }
            "mfa_roles" => {
                c.mfa_roles = v
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            other => return Err(format!("unknown setting {other:?}")),
        }
    }
    *config = c;
    Ok(())
}

async fn config(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let q = match parse_query(raw) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    let mut st = shared.lock();
    match apply_settings(&mut st.config, &q) {
        Ok(()) => ok(json!({})),
        Err(e) => bad(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_kinds() {
        assert_eq!(parse_fault("server_error", None), Ok(Fault::ServerError));
        assert_eq!(parse_fault("throttle", None), Ok(Fault::Throttle));
        assert_eq!(parse_fault("drop", None), Ok(Fault::DropConnection));
        assert_eq!(
            parse_fault("delay", Some("250")),
            Ok(Fault::Delay(Duration::from_millis(250)))
        );
        assert!(parse_fault("delay", None).is_err());
        assert!(parse_fault("nope", None).is_err());
    }

    #[test]
    fn settings() {
        let mut c = Config::default();
        let q: HashMap<String, String> = [("access_token_ttl", "10m"), ("auto_approve", "false")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        apply_settings(&mut c, &q).unwrap();
        assert_eq!(c.access_token_ttl, Duration::from_secs(600));
        assert!(!c.auto_approve);
        let bad: HashMap<String, String> = [("auto_approve", "true"), ("bogus", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(apply_settings(&mut c, &bad).is_err());
        assert!(!c.auto_approve, "all or nothing");
    }
}
