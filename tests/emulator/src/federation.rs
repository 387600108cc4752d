//! The console federation endpoint (`signin.aws.amazon.com/federation`):
//!
//! * `GET /federation?Action=getSigninToken&Session=<{"sessionId","sessionKey","sessionToken"}>`
//!   checks the temporary credentials against the keys the emulator issued (all three must
//!   match, unexpired) and answers `{"SigninToken": …}`; anything else is 400, as AWS answers.
//! * `GET /federation?Action=login&Issuer=…&Destination=…&SigninToken=…` records the sign-in
//!   (a token works once) and answers a page naming the identity, instead of redirecting to
//!   the console (the tests have no network).
//!
//! Every session is recorded ([`Signin`], `Emulator::signins`) for tests to check.

use std::time::SystemTime;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::server::AppState;
use crate::util::{html_response, json_response, parse_form, random_b64url};

/// One console session as the federation endpoint saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signin {
    /// The access key id of the credentials federated (`sessionId`).
    pub access_key_id: String,
    /// The identity those credentials belong to.
    pub arn: String,
    pub account: String,
    /// The token handed out (tests check it never leaks).
    pub signin_token: String,
    /// Set by the `login` step.
    pub issuer: Option<String>,
    pub destination: Option<String>,
    pub logged_in: bool,
}

fn bad_request(message: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "message": message }))
}

pub(crate) async fn handle(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let Ok(q) = parse_form(raw.as_deref()) else {
        return bad_request("malformed query string");
    };
    match q.get("Action").map(String::as_str) {
        Some("getSigninToken") => signin_token(&shared, q.get("Session")),
        Some("login") => login(&shared, &q),
        _ => bad_request("unknown or missing Action"),
    }
}

fn signin_token(shared: &AppState, session: Option<&String>) -> Response {
    let Some(session) = session.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
    else {
        return bad_request("Session must be a JSON object");
    };
    let field = |k: &str| session.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let (id, key, token) = (
        field("sessionId"),
        field("sessionKey"),
        field("sessionToken"),
    );
    let mut st = shared.lock();
    let identity = match st.keys.get(id) {
        Some(k)
            if k.secret_access_key == key
                && k.session_token == token
                && k.identity.expires_at > SystemTime::now() =>
        {
            k.identity.clone()
        }
        _ => return bad_request("the session's credentials are invalid or expired"),
    };
    let signin_token = random_b64url(96);
    st.signins.push(Signin {
        access_key_id: id.to_string(),
        arn: identity.arn,
        account: identity.account,
        signin_token: signin_token.clone(),
        issuer: None,
        destination: None,
        logged_in: false,
    });
    json_response(StatusCode::OK, &json!({ "SigninToken": signin_token }))
}

fn login(shared: &AppState, q: &std::collections::HashMap<String, String>) -> Response {
    let token = q.get("SigninToken").map(String::as_str).unwrap_or("");
    let mut st = shared.lock();
    let Some(s) = st
        .signins
        .iter_mut()
        .find(|s| !token.is_empty() && s.signin_token == token && !s.logged_in)
    else {
        return bad_request("invalid or used SigninToken");
    };
    s.logged_in = true;
    s.issuer = q.get("Issuer").cloned();
    s.destination = q.get("Destination").cloned();
    let body = format!(
        "<p>Signed in as {} (the emulator does not redirect to the console).</p>",
        s.arn
    );
    html_response(StatusCode::OK, "Signed in", &body)
}
