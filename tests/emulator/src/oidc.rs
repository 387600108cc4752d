//! SSO-OIDC: RegisterClient, StartDeviceAuthorization, CreateToken
//! (rest-json, unsigned) and the browser endpoints `/authorize` (PKCE) and
//! `/device` (verification page).

use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Op;
use crate::faults;
use crate::server::AppState;
use crate::state::{
    AuthCode, AuthorizeKey, GRANT_AUTH_CODE, GRANT_DEVICE_CODE, GRANT_REFRESH, State as World,
};
use crate::util::{
    epoch_secs, html_escape, html_response, json_response, parse_form, random_b64url,
};

/// The modelled SSO-OIDC errors (PROTOCOL.md table), plus throttling.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OidcError {
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidClient,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidRequest,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InternalServer,
    Throttling,
}

impl OidcError {
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use OidcError::*;
        match self {
            AuthorizationPending => (
                StatusCode::BAD_REQUEST,
                "AuthorizationPendingException",
                "authorization_pending",
            ),
            ExpiredToken => (
                StatusCode::BAD_REQUEST,
                "ExpiredTokenException",
                "expired_token",
            ),
            InvalidGrant => (
                StatusCode::BAD_REQUEST,
                "InvalidGrantException",
                "invalid_grant",
            ),
            InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "InvalidClientException",
                "invalid_client",
            ),
            UnauthorizedClient => (
                StatusCode::BAD_REQUEST,
                "UnauthorizedClientException",
                "unauthorized_client",
            ),
            UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "UnsupportedGrantTypeException",
                "unsupported_grant_type",
            ),
            InvalidRequest => (
                StatusCode::BAD_REQUEST,
                "InvalidRequestException",
                "invalid_request",
            ),
            InvalidClientMetadata => (
                StatusCode::BAD_REQUEST,
                "InvalidClientMetadataException",
                "invalid_client_metadata",
            ),
            InvalidRedirectUri => (
                StatusCode::BAD_REQUEST,
                "InvalidRedirectUriException",
                "invalid_redirect_uri",
            ),
            InternalServer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "server_error",
            ),
            Throttling => (
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                "slow_down",
            ),
        }
    }
}

/// `{"error":"…","error_description":"…"}` with `x-amzn-ErrorType`, like the
/// live service (no `message` member).
pub(crate) fn error(kind: OidcError, description: &str) -> Response {
    let (status, exception, code) = kind.parts();
    let mut resp = json_response(
        status,
        &json!({"error": code, "error_description": description}),
    );
    resp.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(exception));
    resp
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Response> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        error(
            OidcError::InvalidRequest,
            &format!("Malformed request body: {e}"),
        )
    })
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, Response> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(error(
            OidcError::InvalidRequest,
            &format!("Missing required parameter: {name}"),
        )),
    }
}

fn authenticate(st: &World, id: &str, secret: &str, now: SystemTime) -> Result<(), Response> {
    match st.clients.get(id) {
        Some(c) if c.secret == secret && c.secret_expires_at > now => Ok(()),
        Some(c) if c.secret == secret => Err(error(
            OidcError::InvalidClient,
            "Client registration has expired",
        )),
        _ => Err(error(
            OidcError::InvalidClient,
            "Invalid client credentials",
        )),
    }
}

const KNOWN_GRANTS: [&str; 3] = [GRANT_DEVICE_CODE, GRANT_AUTH_CODE, GRANT_REFRESH];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterClientRequest {
    client_name: Option<String>,
    client_type: Option<String>,
    scopes: Option<Vec<String>>,
    redirect_uris: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    issuer_url: Option<String>,
}

pub(crate) async fn register_client(State(shared): State<AppState>, body: Bytes) -> Response {
    if let Some(f) = shared.gate(Op::RegisterClient).await {
        return faults::oidc(f);
    }
    let req: RegisterClientRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Err(resp) = required(&req.client_name, "clientName") {
        return resp;
    }
    match req.client_type.as_deref() {
        Some("public") => {}
        None => {
            return error(
                OidcError::InvalidRequest,
                "Missing required parameter: clientType",
            );
        }
        Some(other) => {
            return error(
                OidcError::InvalidClientMetadata,
                &format!("Invalid client type: {other}"),
            );
        }
    }
    if let Some(bad) = req
        .grant_types
        .iter()
        .flatten()
        .find(|g| !KNOWN_GRANTS.contains(&g.as_str()))
    {
        return error(
            OidcError::InvalidClientMetadata,
            &format!("Unsupported grant type: {bad}"),
        );
    }
    let redirect_uris = req.redirect_uris.unwrap_or_default();
    if let Some(bad) = redirect_uris.iter().find(|u| !is_valid_redirect_uri(u)) {
        return error(
            OidcError::InvalidRedirectUri,
            &format!("Invalid redirect URI: {bad}"),
        );
    }
    let wants_auth_code = req
        .grant_types
        .iter()
        .flatten()
        .any(|g| g == GRANT_AUTH_CODE);
    if wants_auth_code && redirect_uris.is_empty() {
        return error(
            OidcError::InvalidRedirectUri,
            "redirectUris are required for the authorization_code grant",
        );
    }
    let now = SystemTime::now();
    let mut st = shared.lock();
    let (client_id, client) = st.register_client(
        req.grant_types,
        redirect_uris,
        req.scopes.unwrap_or_default(),
        req.issuer_url,
        now,
    );
    json_response(
        StatusCode::OK,
        &json!({
            "clientId": client_id,
            "clientSecret": client.secret,
            "clientIdIssuedAt": epoch_secs(now),
            "clientSecretExpiresAt": epoch_secs(client.secret_expires_at),
        }),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartDeviceAuthorizationRequest {
    client_id: Option<String>,
    client_secret: Option<String>,
    start_url: Option<String>,
}

pub(crate) async fn start_device_authorization(
    State(shared): State<AppState>,
    body: Bytes,
) -> Response {
    if let Some(f) = shared.gate(Op::StartDeviceAuthorization).await {
        return faults::oidc(f);
    }
    let req: StartDeviceAuthorizationRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (client_id, client_secret, _start_url) = match (
        required(&req.client_id, "clientId"),
        required(&req.client_secret, "clientSecret"),
        required(&req.start_url, "startUrl"),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
    };
    let now = SystemTime::now();
    let mut st = shared.lock();
    if let Err(resp) = authenticate(&st, client_id, client_secret, now) {
        return resp;
    }
    if !st.clients[client_id].allows(GRANT_DEVICE_CODE) {
        return error(
            OidcError::UnauthorizedClient,
            "Client is not registered for the device_code grant",
        );
    }
    let (device_code, user_code) = st.start_device(client_id, now);
    let base = &shared.base_url;
    let (uri, complete) = match &st.config.verification_uri_complete {
        Some(url) => (url.clone(), url.clone()),
        None => (
            format!("{base}/device"),
            format!("{base}/device?user_code={user_code}"),
        ),
    };
    json_response(
        StatusCode::OK,
        &json!({
            "deviceCode": device_code,
            "userCode": user_code,
            "verificationUri": uri,
            "verificationUriComplete": complete,
            "expiresIn": crate::util::secs_ceil(st.config.device_code_ttl),
            "interval": st.config.device_poll_interval,
        }),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTokenRequest {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    device_code: Option<String>,
    code: Option<String>,
    refresh_token: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
}

pub(crate) async fn create_token(State(shared): State<AppState>, body: Bytes) -> Response {
    if let Some(f) = shared.gate(Op::CreateToken).await {
        return faults::oidc(f);
    }
    let req: CreateTokenRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let (client_id, client_secret, grant_type) = match (
        required(&req.client_id, "clientId"),
        required(&req.client_secret, "clientSecret"),
        required(&req.grant_type, "grantType"),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
    };
    let now = SystemTime::now();
    let mut st = shared.lock();
    if let Err(resp) = authenticate(&st, client_id, client_secret, now) {
        return resp;
    }
    if !KNOWN_GRANTS.contains(&grant_type) {
        return error(
            OidcError::UnsupportedGrantType,
            &format!("Unsupported grant type: {grant_type}"),
        );
    }
    if !st.clients[client_id].allows(grant_type) {
        return error(
            OidcError::UnauthorizedClient,
            &format!("Client is not registered for the {grant_type} grant"),
        );
    }
    let session = match grant_type {
        GRANT_DEVICE_CODE => device_grant(&mut st, client_id, &req, now),
        GRANT_AUTH_CODE => auth_code_grant(&mut st, client_id, &req, now),
        _ => refresh_grant(&mut st, client_id, &req),
    };
    let session = match session {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let tokens = st.issue_tokens(client_id, session, now);
    let mut body = json!({
        "accessToken": tokens.access_token,
        "tokenType": "Bearer",
        "expiresIn": tokens.expires_in,
    });
    if let Some(rt) = tokens.refresh_token {
        body["refreshToken"] = json!(rt);
    }
    json_response(StatusCode::OK, &body)
}

/// Device-code grant: returns the new login's session id.
fn device_grant(
    st: &mut World,
    client_id: &str,
    req: &CreateTokenRequest,
    now: SystemTime,
) -> Result<u64, Response> {
    let device_code = required(&req.device_code, "deviceCode")?;
    let auto_approve = st.config.auto_approve;
    let approve_after = st.config.approve_after_polls;
    let Some(dev) = st.devices.get_mut(device_code) else {
        return Err(error(
            OidcError::InvalidGrant,
            "Invalid device code provided",
        ));
    };
    if dev.client_id != client_id {
        return Err(error(
            OidcError::InvalidGrant,
            "Device code was issued to another client",
        ));
    }
    if dev.redeemed {
        return Err(error(
            OidcError::InvalidGrant,
            "Device code has already been used",
        ));
    }
    if dev.expires_at <= now {
        return Err(error(OidcError::ExpiredToken, "Device code has expired"));
    }
    if !dev.approved && auto_approve {
        dev.polls = dev.polls.saturating_add(1);
        if dev.polls > approve_after {
            dev.approved = true;
        }
    }
    if !dev.approved {
        return Err(error(
            OidcError::AuthorizationPending,
            "Authorization is still pending",
        ));
    }
    dev.redeemed = true;
    Ok(st.new_session())
}

/// base64url-nopad(sha256(verifier)), the S256 PKCE challenge.
pub(crate) fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn auth_code_grant(
    st: &mut World,
    client_id: &str,
    req: &CreateTokenRequest,
    now: SystemTime,
) -> Result<u64, Response> {
    let code = required(&req.code, "code")?;
    let invalid = |why: &str| error(OidcError::InvalidGrant, why);
    let Some(stored) = st.codes.get(code) else {
        return Err(invalid("Invalid authorization code"));
    };
    if stored.expires_at <= now {
        st.codes.remove(code);
        return Err(invalid("Authorization code has expired"));
    }
    if stored.client_id != client_id {
        return Err(invalid("Authorization code was issued to another client"));
    }
    if req.redirect_uri.as_deref() != Some(stored.redirect_uri.as_str()) {
        return Err(invalid(
            "redirectUri does not match the authorization request",
        ));
    }
    match req.code_verifier.as_deref() {
        Some(v) if s256(v) == stored.code_challenge => {}
        Some(_) => return Err(invalid("Code verifier does not match the code challenge")),
        None => return Err(invalid("Missing code verifier")),
    }
    st.codes.remove(code);
    Ok(st.new_session())
}

fn refresh_grant(
    st: &mut World,
    client_id: &str,
    req: &CreateTokenRequest,
) -> Result<u64, Response> {
    let token = required(&req.refresh_token, "refreshToken")?;
    match st.refresh_tokens.get_mut(token) {
        Some(rt) if rt.valid && rt.client_id == client_id => {
            // Rotation: a refresh token is good for one refresh.
            rt.valid = false;
            Ok(rt.session)
        }
        Some(rt) if rt.valid => Err(error(
            OidcError::InvalidGrant,
            "Refresh token was issued to another client",
        )),
        _ => Err(error(
            OidcError::InvalidGrant,
            "Invalid refresh token provided",
        )),
    }
}

/// `http://127.0.0.1:1234/x` → `http://127.0.0.1/x` (also `localhost`,
/// `[::1]`); `None` for anything that is not a loopback http URI.
fn loopback_without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(host_end);
    let host = match authority.rsplit_once(':') {
        Some((h, port))
            if !h.is_empty() && !h.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            h
        }
        _ => authority,
    };
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return None;
    }
    Some(format!("http://{host}{path}"))
}

fn is_valid_redirect_uri(uri: &str) -> bool {
    loopback_without_port(uri).is_some() || uri.starts_with("https://")
}

/// Whether `requested` is one of `registered`: exact match, or for loopback
/// URIs a match with the port ignored (RFC 8252 §7.3).
fn redirect_matches(registered: &[String], requested: &str) -> bool {
    let requested_np = loopback_without_port(requested);
    registered.iter().any(|r| {
        r == requested || (requested_np.is_some() && loopback_without_port(r) == requested_np)
    })
}

fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

fn redirect(location: &str) -> Response {
    let mut resp = (StatusCode::FOUND, format!("Redirecting to {location}\n")).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn redirect_error(
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    redirect(&with_query(redirect_uri, &params))
}

/// `GET /authorize`: the browser step of the authorization-code (PKCE) flow.
pub(crate) async fn authorize(
    State(shared): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(f) = shared.gate(Op::Authorize).await {
        return faults::html(f);
    }
    let bad_request = |msg: &str| {
        html_response(
            StatusCode::BAD_REQUEST,
            "Invalid authorization request",
            &format!("<p>{}</p>", html_escape(msg)),
        )
    };
    let q = match parse_form(query.as_deref()) {
        Ok(q) => q,
        Err(e) => return bad_request(&format!("malformed query: {e}")),
    };
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let now = SystemTime::now();
    let mut st = shared.lock();

    // Errors before the redirect URI is trusted are shown, not redirected.
    let Some(client_id) = get("client_id") else {
        return bad_request("missing client_id");
    };
    let Some(client) = st.clients.get(client_id) else {
        return bad_request("unknown client_id");
    };
    if client.secret_expires_at <= now {
        return bad_request("client registration has expired");
    }
    let Some(redirect_uri) = get("redirect_uri") else {
        return bad_request("missing redirect_uri");
    };
    if !redirect_matches(&client.redirect_uris, redirect_uri) {
        return bad_request("redirect_uri is not registered for this client");
    }
    let state = get("state");
    if get("response_type") != Some("code") {
        return redirect_error(
            redirect_uri,
            state,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    if !client.allows(GRANT_AUTH_CODE) {
        return redirect_error(
            redirect_uri,
            state,
            "unauthorized_client",
            "client is not registered for the authorization_code grant",
        );
    }
    if get("code_challenge_method") != Some("S256") {
        return redirect_error(
            redirect_uri,
            state,
            "invalid_request",
            "code_challenge_method must be S256",
        );
    }
    let challenge = match get("code_challenge") {
        Some(c)
            if c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            c
        }
        _ => {
            return redirect_error(
                redirect_uri,
                state,
                "invalid_request",
                "code_challenge must be a base64url SHA-256 digest",
            );
        }
    };

    let key = AuthorizeKey {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        state: state.map(str::to_string),
        code_challenge: challenge.to_string(),
    };
    let approved = st.config.auto_approve || st.pending_authorize.get(&key) == Some(&true);
    if !approved {
        st.pending_authorize.entry(key).or_insert(false);
        let mut resp = html_response(
            StatusCode::OK,
            "Approval pending",
            "<p>This sign-in request is waiting for approval \
             (Emulator::approve_pending or POST /_emulator/approve). \
             This page reloads itself.</p>",
        );
        resp.headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static("1"));
        return resp;
    }
    st.pending_authorize.remove(&key);
    let code = random_b64url(32);
    st.codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            code_challenge: challenge.to_string(),
            expires_at: now + Duration::from_secs(600),
        },
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = state {
        params.push(("state", s));
    }
    redirect(&with_query(redirect_uri, &params))
}

/// `GET /device`: the verification page of the device flow. Informational
/// only: approval follows the configuration, not visits.
pub(crate) async fn device_page(
    State(shared): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = parse_form(query.as_deref()).unwrap_or_default();
    let st = shared.lock();
    let now = SystemTime::now();
    let body = match q.get("user_code") {
        None => "<p>Enter the code shown by your application.</p>".to_string(),
        Some(code) => {
            let status = match st.devices.values().find(|d| &d.user_code == code) {
                None => "unknown code",
                Some(d) if d.redeemed => "signed in",
                Some(d) if d.expires_at <= now => "expired",
                Some(d) if d.approved => "approved",
                Some(_) if st.config.auto_approve => "will be approved automatically",
                Some(_) => "pending approval",
            };
            format!("<p>Code <code>{}</code>: {status}.</p>", html_escape(code))
        }
    };
    html_response(StatusCode::OK, "Authorize request", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_example() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn loopback_port_is_ignored() {
        let reg = vec!["http://127.0.0.1/oauth/callback".to_string()];
        assert!(redirect_matches(
            &reg,
            "http://127.0.0.1:54321/oauth/callback"
        ));
        assert!(redirect_matches(&reg, "http://127.0.0.1/oauth/callback"));
        assert!(!redirect_matches(&reg, "http://127.0.0.1:54321/other"));
        assert!(!redirect_matches(
            &reg,
            "http://evil.example:54321/oauth/callback"
        ));
        assert!(!redirect_matches(
            &reg,
            "https://127.0.0.1:54321/oauth/callback"
        ));
        assert_eq!(
            loopback_without_port("http://[::1]:8080/cb?x=1").as_deref(),
            Some("http://[::1]/cb?x=1")
        );
    }

    #[test]
    fn query_appending() {
        assert_eq!(
            with_query(
                "http://127.0.0.1:1/cb",
                &[("code", "a"), ("state", "x y&z")]
            ),
            "http://127.0.0.1:1/cb?code=a&state=x+y%26z"
        );
        assert_eq!(
            with_query("http://h/cb?a=1", &[("b", "2")]),
            "http://h/cb?a=1&b=2"
        );
    }
}
