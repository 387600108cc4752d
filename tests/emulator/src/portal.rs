//! The SSO portal: GetRoleCredentials, ListAccounts, ListAccountRoles and
//! Logout (rest-json, bearer token in `x-amz-sso_bearer_token`).

use std::collections::HashMap;
use std::time::SystemTime;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Op;
use crate::faults;
use crate::server::AppState;
use crate::state::{State as World, sso_identity};
use crate::util::{epoch_millis, json_response, parse_form};

pub(crate) const BEARER_HEADER: &str = "x-amz-sso_bearer_token";

/// `{"message": …, "__type": "com.amazonaws.switchboard.portal#<name>"}`
/// with `x-amzn-ErrorType: <name>`.
pub(crate) fn error(status: StatusCode, name: &'static str, message: &str) -> Response {
    let mut resp = json_response(
        status,
        &json!({
            "message": message,
            "__type": format!("com.amazonaws.switchboard.portal#{name}"),
        }),
    );
    resp.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(name));
    resp
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "UnauthorizedException",
        "Session token not found or invalid",
    )
}

fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, "ForbiddenException", "No access")
}

fn invalid_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "InvalidRequestException", message)
}

/// The login session of the request's bearer token, or the 401 answer.
fn authenticate(st: &World, headers: &HeaderMap, now: SystemTime) -> Result<u64, Response> {
    let token = headers
        .get(BEARER_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    st.valid_access_token(token, now)
        .map(|t| t.session)
        .ok_or_else(unauthorized)
}

fn query(raw: Option<&str>) -> Result<HashMap<String, String>, Response> {
    parse_form(raw).map_err(|e| invalid_request(&format!("Malformed query string: {e}")))
}

fn required<'a>(q: &'a HashMap<String, String>, name: &str) -> Result<&'a str, Response> {
    q.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid_request(&format!("Missing required parameter: {name}")))
}

const TOKEN_PREFIX: &str = "emulator-page-";

/// One page of `items` per the request's `next_token` and `max_result`.
fn paginate<T: Clone>(
    items: &[T],
    q: &HashMap<String, String>,
    page_size: usize,
) -> Result<(Vec<T>, Option<String>), Response> {
    let start = match q.get("next_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| invalid_request("Invalid next token"))?,
    };
    let mut limit = page_size.max(1);
    if let Some(m) = q.get("max_result") {
        match m.parse::<usize>() {
            Ok(m) if (1..=100).contains(&m) => limit = limit.min(m),
            _ => return Err(invalid_request("max_result must be between 1 and 100")),
        }
    }
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| format!("{TOKEN_PREFIX}{end}"));
    Ok((items[start..end].to_vec(), next))
}

/// `GET /federation/credentials?role_name=&account_id=`
pub(crate) async fn get_role_credentials(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(f) = shared.gate(Op::GetRoleCredentials).await {
        return faults::portal(f);
    }
    let now = SystemTime::now();
    let mut st = shared.lock();
    let run = |st: &mut World| -> Result<Response, Response> {
        authenticate(st, &headers, now)?;
        let q = query(raw.as_deref())?;
        let role = required(&q, "role_name")?;
        let account = required(&q, "account_id")?;
        let assigned = st
            .account(account)
            .is_some_and(|a| a.roles.iter().any(|r| r == role));
        if !assigned {
            return Err(forbidden());
        }
        let expires_at = now + st.config.role_credential_ttl;
        let keys = st.issue_keys(sso_identity(account, role, expires_at));
        Ok(json_response(
            StatusCode::OK,
            &json!({"roleCredentials": {
                "accessKeyId": keys.access_key_id,
                "secretAccessKey": keys.secret_access_key,
                "sessionToken": keys.session_token,
                "expiration": epoch_millis(keys.expires_at),
            }}),
        ))
    };
    run(&mut st).unwrap_or_else(|e| e)
}

/// `GET /assignment/accounts?next_token=&max_result=`
pub(crate) async fn list_accounts(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(f) = shared.gate(Op::ListAccounts).await {
        return faults::portal(f);
    }
    let now = SystemTime::now();
    let st = shared.lock();
    let run = || -> Result<Response, Response> {
        authenticate(&st, &headers, now)?;
        let q = query(raw.as_deref())?;
        let (page, next) = paginate(&st.config.accounts, &q, st.config.page_size)?;
        let list: Vec<_> = page
            .iter()
            .map(|a| {
                json!({
                    "accountId": a.id,
                    "accountName": a.name,
                    "emailAddress": a.email,
                })
            })
            .collect();
        let mut body = json!({"accountList": list});
        if let Some(n) = next {
            body["nextToken"] = json!(n);
        }
        Ok(json_response(StatusCode::OK, &body))
    };
    run().unwrap_or_else(|e| e)
}

/// `GET /assignment/roles?account_id=&next_token=&max_result=`
pub(crate) async fn list_account_roles(
    State(shared): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(f) = shared.gate(Op::ListAccountRoles).await {
        return faults::portal(f);
    }
    let now = SystemTime::now();
    let st = shared.lock();
    let run = || -> Result<Response, Response> {
        authenticate(&st, &headers, now)?;
        let q = query(raw.as_deref())?;
        let account_id = required(&q, "account_id")?;
        let account = st.account(account_id).ok_or_else(forbidden)?;
        let (page, next) = paginate(&account.roles, &q, st.config.page_size)?;
        let list: Vec<_> = page
            .iter()
            .map(|r| json!({"roleName": r, "accountId": account.id}))
            .collect();
        let mut body = json!({"roleList": list});
        if let Some(n) = next {
            body["nextToken"] = json!(n);
        }
        Ok(json_response(StatusCode::OK, &body))
    };
    run().unwrap_or_else(|e| e)
}

/// `POST /logout`: ends the login the bearer token belongs to (its access
/// tokens and refresh tokens).
pub(crate) async fn logout(State(shared): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(f) = shared.gate(Op::Logout).await {
        return faults::portal(f);
    }
    let now = SystemTime::now();
    let mut st = shared.lock();
    match authenticate(&st, &headers, now) {
        Ok(session) => {
            st.logout_session(session);
            StatusCode::OK.into_response()
        }
        Err(resp) => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pagination_walks_all_items() {
        let items = [1, 2, 3, 4, 5];
        let (p1, n1) = paginate(&items, &q(&[]), 2).unwrap();
        assert_eq!(p1, vec![1, 2]);
        let n1 = n1.unwrap();
        let (p2, n2) = paginate(&items, &q(&[("next_token", &n1)]), 2).unwrap();
        assert_eq!(p2, vec![3, 4]);
        let n2 = n2.unwrap();
        let (p3, n3) = paginate(&items, &q(&[("next_token", &n2)]), 2).unwrap();
        assert_eq!(p3, vec![5]);
        assert!(n3.is_none());
        let (p, n) = paginate(&items, &q(&[("max_result", "1")]), 2).unwrap();
        assert_eq!(p, vec![1]);
        assert!(n.is_some());
        let (p, n) = paginate(&items, &q(&[("max_result", "100")]), 10).unwrap();
        assert_eq!(p.len(), 5);
        assert!(n.is_none());
        assert!(paginate(&items, &q(&[("next_token", "garbage")]), 2).is_err());
        assert!(paginate(&items, &q(&[("max_result", "0")]), 2).is_err());
    }
}
